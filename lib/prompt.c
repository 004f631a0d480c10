/* prompt.c: prompt files, from the bytes a user writes to a request body. */
#include "vf-prompt.h"

#include <string.h>

#include "vf-error.h"
#include "vf-task.h" /* g_autoptr (json_t) */

#define SEEDANCE_PREFIX "doubao-seedance-"
#define SECONDS_MAX 60
#define SIZE_SIDE_MAX 100000

typedef enum
{
  SCAN_OK,
  SCAN_NUL,
  SCAN_BAD,
  SCAN_INCOMPLETE,
} ScanResult;

/* Checks UTF-8 as Unicode's table 3-7 has it (no overlong forms, no
 * surrogates, nothing above U+10FFFF) and refuses NUL.  *where gets the
 * offset of the NUL, of the first byte of the bad or incomplete sequence,
 * or len. */
static ScanResult
scan_utf8 (const guint8 *p, gsize len, gsize *where)
{
  gsize i = 0;

  while (i < len)
    {
      guint8 c = p[i];
      guint8 lo = 0x80, hi = 0xbf;
      guint need;

      if (c == 0)
        {
          *where = i;
          return SCAN_NUL;
        }
      if (c < 0x80)
        {
          i++;
          continue;
        }
      if (c >= 0xc2 && c <= 0xdf)
        need = 1;
      else if (c >= 0xe0 && c <= 0xef)
        {
          need = 2;
          if (c == 0xe0)
            lo = 0xa0;
          else if (c == 0xed)
            hi = 0x9f;
        }
      else if (c >= 0xf0 && c <= 0xf4)
        {
          need = 3;
          if (c == 0xf0)
            lo = 0x90;
          else if (c == 0xf4)
            hi = 0x8f;
        }
      else
        {
          *where = i;
          return SCAN_BAD;
        }
      for (guint k = 1; k <= need; k++)
        {
          guint8 b;

          if (i + k >= len)
            {
              *where = i;
              return SCAN_INCOMPLETE;
            }
          b = p[i + k];
          if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
            {
              *where = i;
              return SCAN_BAD;
            }
        }
      i += need + 1;
    }
  *where = len;
  return SCAN_OK;
}

static void
set_too_large (GError **error)
{
  vf_set_error (error, VF_ERROR_TOO_LARGE, "prompt is larger than %d KiB", VF_PROMPT_MAX / 1024);
}

gboolean
vf_prompt_name (const char *name, char **stem)
{
  gsize len, suffix;

  if (!name || name[0] == '.' || strchr (name, '/'))
    return FALSE;
  len = strlen (name);
  if (g_str_has_suffix (name, ".txt"))
    suffix = 4;
  else if (g_str_has_suffix (name, ".json"))
    suffix = 5;
  else
    return FALSE;
  if (len <= suffix)
    return FALSE;
  if (stem)
    *stem = g_strndup (name, len - suffix);
  return TRUE;
}

gboolean
vf_prompt_name_check (const char *name, GError **error)
{
  const guint8 *p = (const guint8 *)name;
  gsize len = strlen (name), where;

  if (scan_utf8 (p, len, &where) != SCAN_OK)
    {
      vf_set_error (error, VF_ERROR_INVALID, "the name is not UTF-8 (byte %" G_GSIZE_FORMAT ")",
                    where);
      return FALSE;
    }
  /* C0, DEL and C1 (U+0080 to U+009F, 0xc2 0x80 to 0xc2 0x9f in UTF-8) */
  for (gsize i = 0; i < len; i++)
    if (p[i] < 0x20 || p[i] == 0x7f || (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f))
      {
        vf_set_error (error, VF_ERROR_INVALID,
                      "the name holds a control character (byte %" G_GSIZE_FORMAT ")", i);
        return FALSE;
      }
  return TRUE;
}

void
vf_prompt_check_init (VfPromptCheck *check)
{
  memset (check, 0, sizeof *check);
}

gboolean
vf_prompt_check_write (VfPromptCheck *check, gint64 offset, const void *data, gsize len,
                       GError **error)
{
  g_autofree guint8 *joined = NULL;
  const guint8 *p = data;
  guint n_pending;
  gint64 base = offset;
  gsize n = len;
  gsize where;

  g_return_val_if_fail (check != NULL, FALSE);
  g_return_val_if_fail (offset >= 0, FALSE);

  if (len > VF_PROMPT_MAX || offset > VF_PROMPT_MAX - (gint64)len)
    {
      set_too_large (error);
      return FALSE;
    }

  n_pending = offset == check->next_offset ? check->n_pending : 0;
  if (n_pending)
    {
      joined = g_malloc (n_pending + len);
      memcpy (joined, check->pending, n_pending);
      if (len)
        memcpy (joined + n_pending, data, len);
      p = joined;
      n = n_pending + len;
      base = offset - n_pending;
    }

  /* On failure the state stays as it was: the write did not happen. */
  switch (scan_utf8 (p, n, &where))
    {
    case SCAN_NUL:
      vf_set_error (error, VF_ERROR_INVALID,
                    "prompt contains a NUL byte at offset %" G_GINT64_FORMAT, base + (gint64)where);
      return FALSE;
    case SCAN_BAD:
      vf_set_error (error, VF_ERROR_INVALID, "invalid UTF-8 at offset %" G_GINT64_FORMAT,
                    base + (gint64)where);
      return FALSE;
    case SCAN_INCOMPLETE:
      check->n_pending = n - where;
      memmove (check->pending, p + where, check->n_pending);
      break;
    case SCAN_OK:
      check->n_pending = 0;
      break;
    }
  check->next_offset = offset + len;
  return TRUE;
}

/* "8" or "08" -> "8"; NULL unless a whole number from 1 to 60. */
static char *
seconds_from_string (const char *s)
{
  guint64 v;
  gsize n = strlen (s);

  if (n == 0 || n > 9)
    return NULL;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isdigit (s[i]))
      return NULL;
  v = g_ascii_strtoull (s, NULL, 10);
  if (v < 1 || v > SECONDS_MAX)
    return NULL;
  return g_strdup_printf ("%u", (guint)v);
}

static char *
seconds_from_json (json_t *v)
{
  if (json_is_string (v))
    return seconds_from_string (json_string_value (v));
  if (json_is_integer (v))
    {
      json_int_t i = json_integer_value (v);
      if (i >= 1 && i <= SECONDS_MAX)
        return g_strdup_printf ("%d", (int)i);
    }
  if (json_is_real (v))
    {
      double d = json_real_value (v);
      if (d >= 1 && d <= SECONDS_MAX && d == (int)d)
        return g_strdup_printf ("%d", (int)d);
    }
  return NULL;
}

static gboolean
parse_side (const char *s, gsize n, guint *out)
{
  guint v = 0;

  if (n == 0 || n > 6)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
      v = v * 10 + (s[i] - '0');
    }
  if (v < 1 || v > SIZE_SIDE_MAX)
    return FALSE;
  *out = v;
  return TRUE;
}

gboolean
vf_prompt_parse_size (const char *s, guint *w, guint *h)
{
  const char *x;

  if (!s)
    return FALSE;
  x = strchr (s, 'x');
  return x && parse_side (s, x - s, w) && parse_side (x + 1, strlen (x + 1), h);
}

void
vf_prompt_defaults_init (VfPromptDefaults *defaults)
{
  defaults->model = VF_PROMPT_DEFAULT_MODEL;
  defaults->seconds = VF_PROMPT_DEFAULT_SECONDS;
  defaults->size = VF_PROMPT_DEFAULT_SIZE;
  defaults->picture = FALSE;
}

gboolean
vf_prompt_defaults_check (const VfPromptDefaults *defaults, GError **error)
{
  g_autofree char *seconds = NULL;
  guint w, h;

  if (defaults->model && !*defaults->model)
    {
      vf_set_error (error, VF_ERROR_INVALID, "model=: want a model name");
      return FALSE;
    }
  if (defaults->seconds)
    seconds = seconds_from_string (defaults->seconds);
  if (defaults->seconds && !seconds)
    {
      vf_set_error (error, VF_ERROR_INVALID, "seconds=%s: want a whole number from 1 to %d",
                    defaults->seconds, SECONDS_MAX);
      return FALSE;
    }
  if (defaults->size && !vf_prompt_parse_size (defaults->size, &w, &h))
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "size=%s: want WIDTHxHEIGHT with sides from 1 to %d, like 1280x720",
                    defaults->size, SIZE_SIDE_MAX);
      return FALSE;
    }
  return TRUE;
}

char *
vf_prompt_file_rename (const char *prompt_file, const char *name)
{
  const char *ext = prompt_file ? strrchr (prompt_file, '.') : NULL;

  return g_strconcat (name, ext ? ext : ".txt", NULL);
}

static char *
describe (json_t *v)
{
  char *s = json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY);
  return s ? s : g_strdup ("?");
}

static void
set_bad_seconds (GError **error, const char *where, const char *value)
{
  vf_set_error (error, VF_ERROR_INVALID, "%sseconds must be a whole number from 1 to %d, not %s",
                where, SECONDS_MAX, value);
}

static void
set_bad_size (GError **error, const char *where, const char *value)
{
  vf_set_error (error, VF_ERROR_INVALID, "%ssize must be WIDTHxHEIGHT, like 1280x720, not %s",
                where, value);
}

static gboolean
is_blank (const char *p, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isspace (p[i]))
      return FALSE;
  return TRUE;
}

static gboolean
is_fence (const char *p, gsize n)
{
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
    n--;
  return n == 3 && memcmp (p, "---", 3) == 0;
}

static gboolean
is_integer_text (const char *s)
{
  gsize i = s[0] == '-' ? 1 : 0;
  gsize digits = strlen (s + i);

  if (digits == 0 || digits > 18)
    return FALSE;
  for (; s[i]; i++)
    if (!g_ascii_isdigit (s[i]))
      return FALSE;
  return TRUE;
}

/* A front-matter value: quoted -> string as is; integers and true/false
 * typed; everything else a string. */
static json_t *
front_matter_value (const char *value, gboolean *empty)
{
  gsize n = strlen (value);

  *empty = FALSE;
  if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0])
    return json_stringn (value + 1, n - 2);
  if (n == 0)
    {
      *empty = TRUE;
      return NULL;
    }
  if (strcmp (value, "true") == 0)
    return json_true ();
  if (strcmp (value, "false") == 0)
    return json_false ();
  if (is_integer_text (value))
    return json_integer (g_ascii_strtoll (value, NULL, 10));
  return json_string (value);
}

static gboolean
is_seedance (const char *model)
{
  return model && g_str_has_prefix (model, SEEDANCE_PREFIX);
}

/* The sizes picture APIs take besides WxH. */
static const char *const picture_sizes[] = { "auto", "1K", "2K", "4K", NULL };

static json_t *
parse_front_matter_line (json_t *fm, const char *line_start, gsize line_len, int lineno,
                         gboolean picture, GError **error)
{
  g_autofree char *line = g_strndup (line_start, line_len);
  g_autofree char *key = NULL;
  g_autofree char *where = NULL;
  g_autofree char *value = NULL;
  g_autoptr (json_t) v = NULL;
  const char *colon;
  const char *text;
  gboolean empty;

  g_strstrip (line);
  if (!*line)
    return fm;
  colon = strchr (line, ':');
  if (!colon)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "front matter line %d has no ':' (lines there are key: value)", lineno);
      return NULL;
    }
  key = g_strstrip (g_strndup (line, colon - line));
  value = g_strstrip (g_strdup (colon + 1));
  where = g_strdup_printf ("front matter line %d: ", lineno);
  if (!*key)
    {
      vf_set_error (error, VF_ERROR_INVALID, "front matter line %d has an empty key", lineno);
      return NULL;
    }
  if (json_object_get (fm, key))
    {
      vf_set_error (error, VF_ERROR_INVALID, "front matter line %d repeats the key \"%s\"", lineno,
                    key);
      return NULL;
    }
  if (strcmp (key, "prompt") == 0 || strcmp (key, "content") == 0)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "%s\"%s\" cannot be set here: the prompt is the text after the front matter",
                    where, key);
      return NULL;
    }

  v = front_matter_value (value, &empty);
  if (empty)
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s\"%s\" has no value", where, key);
      return NULL;
    }

  /* These three are strings whatever they look like. */
  text = json_is_string (v) ? json_string_value (v) : value;
  if (strcmp (key, "seconds") == 0)
    {
      g_autofree char *s = seconds_from_string (text);
      if (!s)
        {
          set_bad_seconds (error, where, value);
          return NULL;
        }
      json_decref (v);
      v = json_string (s);
    }
  else if (strcmp (key, "size") == 0 && picture && g_strv_contains (picture_sizes, text))
    {
      /* a picture API's own word for a size: kept as written */
    }
  else if (strcmp (key, "size") == 0)
    {
      guint w, h;
      if (!vf_prompt_parse_size (text, &w, &h))
        {
          set_bad_size (error, where, value);
          return NULL;
        }
      json_decref (v);
      v = json_sprintf ("%ux%u", w, h);
    }
  else if (strcmp (key, "model") == 0)
    {
      if (!*text)
        {
          vf_set_error (error, VF_ERROR_INVALID, "%smodel must be a non-empty name", where);
          return NULL;
        }
      if (!json_is_string (v))
        {
          json_decref (v);
          v = json_string (value);
        }
    }
  json_object_set_new (fm, key, g_steal_pointer (&v));
  return fm;
}

static json_t *
parse_txt (const char *text, gsize len, const VfPromptDefaults *defaults, GError **error)
{
  g_autoptr (json_t) fm = json_object ();
  g_autofree char *prompt = NULL;
  const char *p = text, *end = text + len;
  const char *nl = memchr (p, '\n', len);
  json_t *body;
  const char *model;
  const char *key;
  json_t *value;

  if (is_fence (p, (nl ? nl : end) - p))
    {
      gboolean closed = FALSE;
      int lineno = 1;

      p = nl ? nl + 1 : end;
      while (p < end)
        {
          const char *line_end;

          nl = memchr (p, '\n', end - p);
          line_end = nl ? nl : end;
          lineno++;
          if (is_fence (p, line_end - p))
            {
              closed = TRUE;
              p = nl ? nl + 1 : end;
              break;
            }
          if (!parse_front_matter_line (fm, p, line_end - p, lineno, defaults->picture, error))
            return NULL;
          p = nl ? nl + 1 : end;
        }
      if (!closed)
        {
          vf_set_error (error, VF_ERROR_INVALID,
                        "front matter is not closed (a line \"---\" must end it)");
          return NULL;
        }
    }

  /* Leading blank lines and trailing white space are not part of the prompt. */
  while (p < end)
    {
      const char *line_end;

      nl = memchr (p, '\n', end - p);
      line_end = nl ? nl : end;
      if (!is_blank (p, line_end - p))
        break;
      p = nl ? nl + 1 : end;
    }
  prompt = g_strchomp (g_strndup (p, end - p));
  if (!*prompt)
    {
      vf_set_error (error, VF_ERROR_INVALID, "the prompt is empty");
      return NULL;
    }

  body = json_object ();
  model = json_string_value (json_object_get (fm, "model"));
  if (!model)
    model = defaults->model;
  json_object_set_new (body, "model", json_string (model));
  json_object_set_new (body, "prompt", json_string (prompt));
  value = json_object_get (fm, "seconds");
  if (value)
    json_object_set (body, "seconds", value);
  else if (!is_seedance (model) && !defaults->picture)
    json_object_set_new (body, "seconds", json_string (defaults->seconds));
  value = json_object_get (fm, "size");
  if (value)
    json_object_set (body, "size", value);
  else if (!is_seedance (model) && !defaults->picture)
    json_object_set_new (body, "size", json_string (defaults->size));
  json_object_foreach (fm, key, value)
  {
    if (strcmp (key, "model") != 0 && strcmp (key, "seconds") != 0 && strcmp (key, "size") != 0)
      json_object_set (body, key, value);
  }
  return body;
}

static gboolean
has_text_item (json_t *content)
{
  size_t i;
  json_t *item;

  if (!json_is_array (content))
    return FALSE;
  json_array_foreach (content, i, item)
  {
    json_t *type = json_object_get (item, "type");
    if (json_is_string (type) && strcmp (json_string_value (type), "text") == 0
        && json_is_string (json_object_get (item, "text")))
      return TRUE;
  }
  return FALSE;
}

static json_t *
parse_json (const char *text, gsize len, const VfPromptDefaults *defaults, GError **error)
{
  g_autoptr (json_t) body = NULL;
  json_error_t jerr;
  json_t *model, *seconds, *size, *prompt, *content;
  const char *model_name;

  body = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!body)
    {
      /* jansson's words quote the bytes it read, which may stop inside a
       * character: the reason must stay UTF-8 to be journaled. */
      g_autofree char *why = g_utf8_make_valid (jerr.text, -1);

      vf_set_error (error, VF_ERROR_INVALID, "invalid JSON at line %d, column %d: %s", jerr.line,
                    jerr.column, why);
      return NULL;
    }
  if (!json_is_object (body))
    {
      vf_set_error (error, VF_ERROR_INVALID, "the request body must be a JSON object");
      return NULL;
    }

  content = json_object_get (body, "content");
  prompt = json_object_get (body, "prompt");
  if (content)
    {
      if (!has_text_item (content))
        {
          vf_set_error (error, VF_ERROR_INVALID,
                        "\"content\" must be an array with a {\"type\": \"text\"} item");
          return NULL;
        }
    }
  else if (!json_is_string (prompt))
    {
      vf_set_error (error, VF_ERROR_INVALID, "the request body needs a \"prompt\" string");
      return NULL;
    }
  else if (is_blank (json_string_value (prompt), json_string_length (prompt)))
    {
      vf_set_error (error, VF_ERROR_INVALID, "the prompt is empty");
      return NULL;
    }

  model = json_object_get (body, "model");
  if (model && (!json_is_string (model) || json_string_length (model) == 0))
    {
      vf_set_error (error, VF_ERROR_INVALID, "\"model\" must be a non-empty string");
      return NULL;
    }
  seconds = json_object_get (body, "seconds");
  if (seconds)
    {
      g_autofree char *s = seconds_from_json (seconds);
      if (!s)
        {
          g_autofree char *d = describe (seconds);
          set_bad_seconds (error, "", d);
          return NULL;
        }
      json_object_set_new (body, "seconds", json_string (s));
    }
  size = json_object_get (body, "size");
  if (size)
    {
      guint w, h;
      gboolean word = defaults->picture && json_is_string (size)
                      && g_strv_contains (picture_sizes, json_string_value (size));
      if (!word && !vf_prompt_parse_size (json_string_value (size), &w, &h))
        {
          g_autofree char *d = describe (size);
          set_bad_size (error, "", d);
          return NULL;
        }
    }

  if (!model)
    json_object_set_new (body, "model", json_string (defaults->model));
  model_name = json_string_value (json_object_get (body, "model"));
  if (!content && !is_seedance (model_name) && !defaults->picture)
    {
      if (!seconds)
        json_object_set_new (body, "seconds", json_string (defaults->seconds));
      if (!size)
        json_object_set_new (body, "size", json_string (defaults->size));
    }
  return g_steal_pointer (&body);
}

json_t *
vf_prompt_parse (const char *data, gsize len, gboolean is_json, const VfPromptDefaults *defaults,
                 GError **error)
{
  VfPromptDefaults d;
  gsize where;

  g_return_val_if_fail (data != NULL || len == 0, NULL);

  vf_prompt_defaults_init (&d);
  if (defaults)
    {
      if (defaults->model)
        d.model = defaults->model;
      if (defaults->seconds)
        d.seconds = defaults->seconds;
      if (defaults->size)
        d.size = defaults->size;
      d.picture = defaults->picture;
    }

  if (len > VF_PROMPT_MAX)
    {
      set_too_large (error);
      return NULL;
    }
  switch (scan_utf8 ((const guint8 *)data, len, &where))
    {
    case SCAN_NUL:
      vf_set_error (error, VF_ERROR_INVALID,
                    "prompt contains a NUL byte at offset %" G_GSIZE_FORMAT, where);
      return NULL;
    case SCAN_BAD:
    case SCAN_INCOMPLETE:
      vf_set_error (error, VF_ERROR_INVALID, "invalid UTF-8 at offset %" G_GSIZE_FORMAT, where);
      return NULL;
    case SCAN_OK:
      break;
    }

  /* Editors on some systems start UTF-8 files with a byte-order mark. */
  if (len >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    {
      data += 3;
      len -= 3;
    }

  return is_json ? parse_json (data, len, &d, error) : parse_txt (data, len, &d, error);
}

guint
vf_prompt_gcd (guint a, guint b)
{
  while (b)
    {
      guint t = a % b;
      a = b;
      b = t;
    }
  return a;
}

json_t *
vf_prompt_to_ark (json_t *body)
{
  g_autoptr (GString) text = NULL;
  json_t *ark, *item, *seconds, *model, *value;
  const char *key;
  guint w, h;

  g_return_val_if_fail (json_is_object (body), NULL);

  if (json_object_get (body, "content"))
    return json_deep_copy (body);

  text = g_string_new (json_string_value (json_object_get (body, "prompt")));
  seconds = json_object_get (body, "seconds");
  if (json_is_string (seconds))
    g_string_append_printf (text, " --duration %s", json_string_value (seconds));
  else if (json_is_integer (seconds))
    g_string_append_printf (text, " --duration %" JSON_INTEGER_FORMAT,
                            json_integer_value (seconds));
  if (vf_prompt_parse_size (json_string_value (json_object_get (body, "size")), &w, &h))
    {
      guint g = vf_prompt_gcd (w, h);
      guint side = MIN (w, h);

      g_string_append_printf (text, " --ratio %u:%u", w / g, h / g);
      if (side == 480 || side == 720 || side == 1080)
        g_string_append_printf (text, " --resolution %up", side);
    }

  ark = json_object ();
  model = json_object_get (body, "model");
  if (model)
    json_object_set_new (ark, "model", json_deep_copy (model));
  item = json_pack ("{s:s, s:s%}", "type", "text", "text", text->str, text->len);
  json_object_set_new (ark, "content", json_pack ("[o]", item));
  json_object_foreach (body, key, value)
  {
    if (strcmp (key, "model") != 0 && strcmp (key, "prompt") != 0 && strcmp (key, "seconds") != 0
        && strcmp (key, "size") != 0)
      json_object_set_new (ark, key, json_deep_copy (value));
  }
  return ark;
}
