/* image-wire.c: what the image protocols share below them: a request's
 * pieces (VfImageCall), an answer's pictures (VfImageFound), and the
 * streaming reader that decodes the base64 pictures of a JSON answer into
 * files as the bytes arrive, keeping only the rest of the JSON. */
#include "image-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "vf-fdio.h"

void
vf_image_call_clear (VfImageCall *call)
{
  g_clear_pointer (&call->url, g_free);
  g_clear_pointer (&call->body, json_decref);
  g_clear_pointer (&call->parts, g_array_unref);
  g_clear_pointer (&call->owned, g_ptr_array_unref);
}

static void
call_parts (VfImageCall *call)
{
  if (!call->parts)
    call->parts = g_array_new (FALSE, TRUE, sizeof (VfHttpPart));
  if (!call->owned)
    call->owned = g_ptr_array_new_with_free_func (g_free);
}

void
vf_image_call_add_field (VfImageCall *call, const char *name, const char *value)
{
  VfHttpPart part = { 0 };
  char *n = g_strdup (name), *v = g_strdup (value);

  call_parts (call);
  g_ptr_array_add (call->owned, n);
  g_ptr_array_add (call->owned, v);
  part.name = n;
  part.value = v;
  g_array_append_val (call->parts, part);
}

void
vf_image_call_add_file (VfImageCall *call, const char *name, const VfImageFile *file)
{
  VfHttpPart part = { 0 };
  char *n = g_strdup (name);

  call_parts (call);
  g_ptr_array_add (call->owned, n);
  part.name = n;
  part.data = file->bytes;
  part.filename = file->filename ? file->filename : "image";
  part.content_type = file->content_type;
  g_array_append_val (call->parts, part);
}

static void
ref_clear (gpointer data)
{
  g_free (((VfImageRef *)data)->url);
}

void
vf_image_found_init (VfImageFound *found)
{
  memset (found, 0, sizeof *found);
  found->refs = g_array_new (FALSE, TRUE, sizeof (VfImageRef));
  g_array_set_clear_func (found->refs, ref_clear);
}

void
vf_image_found_clear (VfImageFound *found)
{
  g_clear_pointer (&found->refs, g_array_unref);
  g_clear_pointer (&found->revised_prompt, g_free);
  g_clear_pointer (&found->text, g_free);
}

int
vf_image_taken_index (const char *value)
{
  guint64 n;

  if (!value || value[0] != '@' || !g_ascii_string_to_unsigned (value + 1, 10, 0, 4096, &n, NULL))
    return -1;
  return (int)n;
}

/* data[] of OpenAI's and Ark's answers: b64_json (taken) or url. */
gboolean
vf_image_parse_data_items (json_t *answer, VfImageFound *found, GError **error)
{
  json_t *data = json_object_get (answer, "data"), *item;
  size_t i;

  json_array_foreach (data, i, item)
  {
    VfImageRef ref = { -1, NULL };
    const char *b64 = json_string_value (json_object_get (item, "b64_json"));
    const char *url = json_string_value (json_object_get (item, "url"));
    const char *revised = json_string_value (json_object_get (item, "revised_prompt"));

    if (b64)
      ref.taken = vf_image_taken_index (b64);
    else if (url)
      ref.url = g_strdup (url);
    if (ref.taken < 0 && !ref.url)
      continue;
    g_array_append_val (found->refs, ref);
    if (revised && !found->revised_prompt)
      found->revised_prompt = g_strdup (revised);
  }
  if (!found->refs->len)
    {
      vf_set_error (error, VF_ERROR_PROTOCOL,
                    "the answer holds no picture (no data[] item with "
                    "b64_json or url)");
      return FALSE;
    }
  return TRUE;
}

int
vf_image_part_open (const char *dir, char **path, GError **error)
{
  g_autofree char *tmpl = g_build_filename (dir, ".picture-XXXXXX", NULL);
  int fd = g_mkstemp_full (tmpl, O_WRONLY | O_CLOEXEC, 0644);

  if (fd < 0)
    {
      vf_set_io_error (error, errno, "cannot make a picture's file in", dir);
      return -1;
    }
  *path = g_steal_pointer (&tmpl);
  return fd;
}

/* ----- the streaming reader ----- */

enum
{
  OUTSIDE,   /* between tokens, or in a number or literal */
  IN_STRING, /* a string that is kept */
  IN_ESCAPE,
  IN_PICTURE, /* a string whose base64 goes to a file */
  IN_PICTURE_ESCAPE,
};

#define KEY_MAX 32

typedef struct
{
  char *path;
  int fd; /* -1 once closed */
  gint64 size;
} Taken;

struct vf_image_stream
{
  const char *const *keys;
  char *dir;
  gsize max_rest;
  GString *rest;
  int state;
  char last_token;       /* the last character outside strings that was not white space */
  char cur[KEY_MAX + 1]; /* the kept string being read, if short */
  gsize cur_len;
  gboolean cur_long;
  char last_string[KEY_MAX + 1]; /* the last kept string, if short: a key before a ':' */
  GArray *taken;                 /* of Taken */
  /* the base64 decoder of the current picture */
  int b64_state;
  guint b64_save;
  guint8 out[3 * 16384];
  gsize out_len;
};

VfImageStream *
vf_image_stream_new (const char *const *keys, const char *dir, gsize max_rest)
{
  VfImageStream *s = g_new0 (VfImageStream, 1);

  s->keys = keys;
  s->dir = g_strdup (dir);
  s->max_rest = max_rest;
  s->rest = g_string_new (NULL);
  s->taken = g_array_new (FALSE, TRUE, sizeof (Taken));
  return s;
}

static gboolean
rest_append (VfImageStream *s, const char *data, gsize len, GError **error)
{
  if (s->rest->len + len > s->max_rest)
    {
      vf_set_error (error, VF_ERROR_TOO_LARGE,
                    "the answer is over %" G_GSIZE_FORMAT " bytes without its pictures",
                    s->max_rest);
      return FALSE;
    }
  g_string_append_len (s->rest, data, (gssize)len);
  return TRUE;
}

static Taken *
current (VfImageStream *s)
{
  return &g_array_index (s->taken, Taken, s->taken->len - 1);
}

static gboolean
flush_out (VfImageStream *s, GError **error)
{
  Taken *t = current (s);
  int e = s->out_len ? vf_pwrite_all (t->fd, s->out, s->out_len, t->size) : 0;

  if (e)
    {
      return vf_set_io_error (error, e, "cannot write", t->path);
    }
  t->size += s->out_len;
  s->out_len = 0;
  return TRUE;
}

/* Base64 text of the current picture, in pieces of at most 16 KiB. */
static gboolean
decode (VfImageStream *s, const char *data, gsize len, GError **error)
{
  while (len)
    {
      gsize n = MIN (len, 16384);

      if (s->out_len + (n / 4) * 3 + 3 > sizeof s->out && !flush_out (s, error))
        return FALSE;
      s->out_len
          += g_base64_decode_step (data, n, s->out + s->out_len, &s->b64_state, &s->b64_save);
      data += n;
      len -= n;
    }
  return TRUE;
}

static gboolean
picture_begin (VfImageStream *s, GError **error)
{
  Taken t = { NULL, -1, 0 };
  g_autofree char *marker = NULL;

  t.fd = vf_image_part_open (s->dir, &t.path, error);
  if (t.fd < 0)
    return FALSE;
  g_array_append_val (s->taken, t);
  s->b64_state = 0;
  s->b64_save = 0;
  s->out_len = 0;
  marker = g_strdup_printf ("\"@%u", s->taken->len - 1);
  return rest_append (s, marker, strlen (marker), error);
}

static gboolean
picture_end (VfImageStream *s, GError **error)
{
  Taken *t = current (s);

  if (!flush_out (s, error))
    return FALSE;
  if (vf_fsync_noeintr (t->fd) != 0 && errno != EINVAL)
    return vf_set_io_error (error, errno, "cannot sync", t->path);
  close (t->fd);
  t->fd = -1;
  return rest_append (s, "\"", 1, error);
}

static gboolean
is_key (VfImageStream *s)
{
  return s->last_token == ':' && g_strv_contains (s->keys, s->last_string);
}

gboolean
vf_image_stream_feed (VfImageStream *s, const void *data, gsize len, GError **error)
{
  const char *p = data, *end = p + len;

  while (p < end)
    {
      const char *run;
      char c;

      switch (s->state)
        {
        case IN_PICTURE:
          run = p;
          while (p < end && *p != '"' && *p != '\\')
            p++;
          if (!decode (s, run, p - run, error))
            return FALSE;
          if (p == end)
            break;
          if (*p++ == '\\')
            s->state = IN_PICTURE_ESCAPE;
          else
            {
              s->state = OUTSIDE;
              s->last_token = '"';
              if (!picture_end (s, error))
                return FALSE;
            }
          break;
        case IN_PICTURE_ESCAPE:
          c = *p++;
          s->state = IN_PICTURE;
          if (c == '/' && !decode (s, "/", 1, error))
            return FALSE;
          if (c != '/' && c != 'n' && c != 'r')
            {
              vf_set_error (error, VF_ERROR_PROTOCOL, "a picture's base64 holds \\%c", c);
              return FALSE;
            }
          break;
        case IN_STRING:
        case IN_ESCAPE:
          run = p;
          while (p < end)
            {
              c = *p++;
              if (s->state == IN_ESCAPE)
                s->state = IN_STRING;
              else if (c == '\\')
                s->state = IN_ESCAPE;
              else if (c == '"')
                {
                  s->state = OUTSIDE;
                  s->last_token = '"';
                  memcpy (s->last_string, s->cur, s->cur_len + 1);
                  if (s->cur_long)
                    s->last_string[0] = '\0';
                  break;
                }
              if (s->state == IN_STRING && !s->cur_long)
                {
                  if (s->cur_len < KEY_MAX)
                    s->cur[s->cur_len++] = c, s->cur[s->cur_len] = '\0';
                  else
                    s->cur_long = TRUE;
                }
            }
          if (!rest_append (s, run, p - run, error))
            return FALSE;
          break;
        default:
          c = *p++;
          if (c == '"')
            {
              /* the string before a ':' is the key of what follows */
              if (is_key (s))
                {
                  s->state = IN_PICTURE;
                  if (!picture_begin (s, error))
                    return FALSE;
                  break;
                }
              s->state = IN_STRING;
              s->cur_len = 0;
              s->cur[0] = '\0';
              s->cur_long = FALSE;
            }
          else if (!g_ascii_isspace (c))
            s->last_token = c;
          if (!rest_append (s, &c, 1, error))
            return FALSE;
          break;
        }
    }
  return TRUE;
}

json_t *
vf_image_stream_finish (VfImageStream *s, GError **error)
{
  json_error_t jerr;
  json_t *root;

  if (s->state != OUTSIDE)
    {
      vf_set_error (error, VF_ERROR_PROTOCOL, "the answer ends inside a string");
      return NULL;
    }
  root = json_loadb (s->rest->str, s->rest->len, 0, &jerr);
  if (!root)
    {
      g_autofree char *why = g_utf8_make_valid (jerr.text, -1);

      vf_set_error (error, VF_ERROR_PROTOCOL, "the answer is not JSON: %s (line %d)", why,
                    jerr.line);
    }
  return root;
}

guint
vf_image_stream_n_taken (VfImageStream *s)
{
  return s->taken->len;
}

char *
vf_image_stream_take_path (VfImageStream *s, int index)
{
  Taken *t;

  if (index < 0 || (guint)index >= s->taken->len)
    return NULL;
  t = &g_array_index (s->taken, Taken, index);
  if (t->fd >= 0)
    return NULL;
  return g_steal_pointer (&t->path);
}

void
vf_image_stream_free (VfImageStream *s)
{
  if (!s)
    return;
  for (guint i = 0; i < s->taken->len; i++)
    {
      Taken *t = &g_array_index (s->taken, Taken, i);

      if (t->fd >= 0)
        close (t->fd);
      if (t->path)
        g_unlink (t->path);
      g_free (t->path);
    }
  g_array_unref (s->taken);
  g_string_free (s->rest, TRUE);
  g_free (s->dir);
  g_free (s);
}
