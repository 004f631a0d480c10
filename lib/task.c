/* task.c: API JSON (tasks, error bodies) into the task model; id checks.
 * List pages are in task-page.c. */
#include "vf-task.h"
#include "vf-error.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define VF_ID_MAX 200
#define VF_ID_SHOWN_MAX 64
#define VF_ERROR_MESSAGE_MAX 300
#define VF_ERROR_CODE_MAX 64
/* Error bodies are cut to this before any work is done on their text. */
#define VF_ERROR_BODY_WORK_MAX 4096
#define VF_ERROR_BODY_JSON_MAX (1024 * 1024)

VfTask *
vf_task_new (void)
{
  VfTask *task = g_new0 (VfTask, 1);

  task->protocol = VF_PROTO_OPENAI;
  task->state = VF_STATE_UNKNOWN;
  task->progress = -1;
  task->poll_after_ms = -1;
  return task;
}

VfTask *
vf_task_copy (const VfTask *task)
{
  VfTask *copy;

  if (!task)
    return NULL;
  copy = vf_task_new ();
  copy->id = g_strdup (task->id);
  copy->protocol = task->protocol;
  copy->state = task->state;
  copy->state_word = g_strdup (task->state_word);
  copy->progress = task->progress;
  copy->model = g_strdup (task->model);
  copy->prompt = g_strdup (task->prompt);
  copy->seconds = g_strdup (task->seconds);
  copy->size = g_strdup (task->size);
  copy->remixed_from = g_strdup (task->remixed_from);
  copy->created_at = task->created_at;
  copy->completed_at = task->completed_at;
  copy->expires_at = task->expires_at;
  copy->error_code = g_strdup (task->error_code);
  copy->error_message = g_strdup (task->error_message);
  copy->video_url = g_strdup (task->video_url);
  copy->last_frame_url = g_strdup (task->last_frame_url);
  copy->poll_after_ms = task->poll_after_ms;
  /* A deep copy, so that copies handed to other threads share nothing. */
  copy->raw = task->raw ? json_deep_copy (task->raw) : NULL;
  return copy;
}

void
vf_task_free (VfTask *task)
{
  if (!task)
    return;
  g_free (task->id);
  g_free (task->state_word);
  g_free (task->model);
  g_free (task->prompt);
  g_free (task->seconds);
  g_free (task->size);
  g_free (task->remixed_from);
  g_free (task->error_code);
  g_free (task->error_message);
  g_free (task->video_url);
  g_free (task->last_frame_url);
  if (task->raw)
    json_decref (task->raw);
  g_free (task);
}

VfState
vf_state_from_openai (const char *word)
{
  if (!word)
    return VF_STATE_UNKNOWN;
  /* OpenAI's words, and those of new-api gateways (NOT_START, SUBMITTED,
   * SUCCESS, FAILURE) */
  if (g_ascii_strcasecmp (word, "queued") == 0 || g_ascii_strcasecmp (word, "pending") == 0
      || g_ascii_strcasecmp (word, "not_start") == 0 || g_ascii_strcasecmp (word, "submitted") == 0)
    return VF_STATE_QUEUED;
  if (g_ascii_strcasecmp (word, "in_progress") == 0 || g_ascii_strcasecmp (word, "processing") == 0)
    return VF_STATE_IN_PROGRESS;
  if (g_ascii_strcasecmp (word, "completed") == 0 || g_ascii_strcasecmp (word, "success") == 0)
    return VF_STATE_COMPLETED;
  if (g_ascii_strcasecmp (word, "failed") == 0 || g_ascii_strcasecmp (word, "failure") == 0)
    return VF_STATE_FAILED;
  return VF_STATE_UNKNOWN;
}

VfState
vf_state_from_ark (const char *word)
{
  if (!word)
    return VF_STATE_UNKNOWN;
  if (g_ascii_strcasecmp (word, "queued") == 0)
    return VF_STATE_QUEUED;
  if (g_ascii_strcasecmp (word, "running") == 0)
    return VF_STATE_IN_PROGRESS;
  if (g_ascii_strcasecmp (word, "succeeded") == 0)
    return VF_STATE_COMPLETED;
  if (g_ascii_strcasecmp (word, "failed") == 0 || g_ascii_strcasecmp (word, "cancelled") == 0
      || g_ascii_strcasecmp (word, "expired") == 0)
    return VF_STATE_FAILED;
  return VF_STATE_UNKNOWN;
}

const char *
vf_state_name (VfState state)
{
  switch (state)
    {
    case VF_STATE_QUEUED:
      return "queued";
    case VF_STATE_IN_PROGRESS:
      return "in_progress";
    case VF_STATE_COMPLETED:
      return "completed";
    case VF_STATE_FAILED:
      return "failed";
    case VF_STATE_UNKNOWN:
    default:
      return "unknown";
    }
}

/* Seconds from a number that may be seconds or milliseconds. */
static gint64
seconds_from_integer (gint64 value)
{
  if (value <= 0)
    return 0;
  return value > 100000000000LL ? value / 1000 : value;
}

static gint64
seconds_from_double (double value)
{
  /* Also keeps the cast below defined. */
  if (!(value > 0 && value < 1e18))
    return 0;
  if (value > 1e11)
    value /= 1000;
  return (gint64)value;
}

static gint64
seconds_from_string (const char *text)
{
  g_autofree char *trimmed = g_strstrip (g_strdup (text));
  char *end = NULL;
  double value;

  if (!*trimmed)
    return 0;
  if (g_ascii_isdigit (trimmed[0]))
    {
      gint64 whole;

      errno = 0;
      whole = g_ascii_strtoll (trimmed, &end, 10);
      if (errno == 0 && *end == '\0')
        return seconds_from_integer (whole);
      errno = 0;
      value = g_ascii_strtod (trimmed, &end);
      if (errno == 0 && *end == '\0')
        return seconds_from_double (value);
    }

  /* Some proxies send dates; GLib reads ISO 8601 with a time zone. */
  {
    g_autoptr (GDateTime) date = g_date_time_new_from_iso8601 (trimmed, NULL);

    if (date)
      return MAX (g_date_time_to_unix (date), 0);
  }
  return 0;
}

gint64
vf_time_to_seconds (const json_t *value)
{
  if (!value)
    return 0;
  if (json_is_integer (value))
    return seconds_from_integer (json_integer_value (value));
  if (json_is_real (value))
    return seconds_from_double (json_real_value (value));
  if (json_is_string (value))
    return seconds_from_string (json_string_value (value));
  return 0;
}

/* At most VF_ID_SHOWN_MAX printable ASCII characters, for messages and logs:
 * the id may be anything the server sent. */
static char *
id_for_message (const char *id)
{
  GString *shown = g_string_new (NULL);
  gsize cut = 0;
  const guchar *p;

  for (p = (const guchar *)id; *p; p++)
    {
      if (*p >= 0x20 && *p < 0x7f && *p != '\\' && *p != '"')
        g_string_append_c (shown, (char)*p);
      else
        g_string_append_printf (shown, "\\x%02x", *p);
      if (shown->len <= VF_ID_SHOWN_MAX - 3)
        cut = shown->len;
      if (shown->len > VF_ID_SHOWN_MAX)
        {
          g_string_truncate (shown, cut);
          g_string_append (shown, "...");
          break;
        }
    }
  return g_string_free (shown, FALSE);
}

static gboolean
has_control_char (const char *text)
{
  const char *p;

  for (p = text; *p; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return TRUE;
  return FALSE;
}

gboolean
vf_id_check (const char *id, GError **error)
{
  const char *why = NULL;
  g_autofree char *shown = NULL;

  if (!id || !*id)
    {
      vf_set_error (error, VF_ERROR_BAD_ID, "unfit task id \"\": empty");
      return FALSE;
    }
  if (strlen (id) > VF_ID_MAX)
    why = "longer than 200 bytes";
  else if (!g_utf8_validate (id, -1, NULL))
    why = "not valid UTF-8";
  else if (strchr (id, '/'))
    why = "contains '/'";
  else if (strcmp (id, ".") == 0 || strcmp (id, "..") == 0)
    why = "a special directory name";
  else if (has_control_char (id))
    why = "contains control characters";
  if (!why)
    return TRUE;

  shown = id_for_message (id);
  vf_set_error (error, VF_ERROR_BAD_ID, "unfit task id \"%s\": %s", shown, why);
  return FALSE;
}

/* A member that is a non-empty string, or NULL. */
static const char *
get_string (const json_t *object, const char *key)
{
  const char *value = json_string_value (json_object_get (object, key));

  return value && *value ? value : NULL;
}

/* A string, or a number written as one; NULL for anything else. */
static char *
dup_scalar (const json_t *value)
{
  if (json_is_string (value))
    return *json_string_value (value) ? g_strdup (json_string_value (value)) : NULL;
  if (json_is_integer (value))
    return g_strdup_printf ("%" JSON_INTEGER_FORMAT, json_integer_value (value));
  if (json_is_real (value))
    {
      double real = json_real_value (value);
      char buffer[G_ASCII_DTOSTR_BUF_SIZE];

      if (real == floor (real) && fabs (real) < 1e15)
        return g_strdup_printf ("%" G_GINT64_FORMAT, (gint64)real);
      return g_strdup (g_ascii_dtostr (buffer, sizeof buffer, real));
    }
  return NULL;
}

static int
progress_from_json (const json_t *value)
{
  double progress;

  if (json_is_integer (value))
    progress = (double)json_integer_value (value);
  else if (json_is_real (value))
    progress = json_real_value (value);
  else if (json_is_string (value))
    {
      char *end = NULL;
      const char *text = json_string_value (value);

      progress = g_ascii_strtod (text, &end);
      /* gateways write "50%" */
      if (end != text && *end == '%')
        end++;
      if (end == text || *end != '\0')
        return -1;
    }
  else
    return -1;
  /* Negative (or NaN from a string): no progress given. */
  if (!(progress >= 0))
    return -1;
  return progress > 100 ? 100 : (int)progress;
}

static void
read_error_object (VfTask *task, const json_t *object)
{
  const json_t *error = json_object_get (object, "error");

  if (!json_is_object (error))
    return;
  task->error_code = dup_scalar (json_object_get (error, "code"));
  task->error_message = g_strdup (get_string (error, "message"));
}

/* The common part: the object, its id, and the raw reference. */
static VfTask *
task_begin (json_t *object, VfProtocol protocol, GError **error)
{
  json_t *id_value;
  const char *id;
  VfTask *task;

  if (!json_is_object (object))
    {
      vf_set_error (error, VF_ERROR_PROTOCOL, "task is not a JSON object");
      return NULL;
    }
  id_value = json_object_get (object, "id");
  id = json_string_value (id_value);
  if (!id)
    {
      vf_set_error (error, VF_ERROR_PROTOCOL, "task has no id");
      return NULL;
    }
  /* An id with an embedded NUL would read as a shorter, different id. */
  if (strlen (id) != json_string_length (id_value))
    {
      vf_set_error (error, VF_ERROR_BAD_ID, "task id contains a NUL byte");
      return NULL;
    }
  if (!vf_id_check (id, error))
    return NULL;

  task = vf_task_new ();
  task->id = g_strdup (id);
  task->protocol = protocol;
  task->raw = json_incref (object);
  return task;
}

VfTask *
vf_task_from_openai (json_t *object, GError **error)
{
  VfTask *task = task_begin (object, VF_PROTO_OPENAI, error);

  if (!task)
    return NULL;
  task->state_word = g_strdup (json_string_value (json_object_get (object, "status")));
  task->state = vf_state_from_openai (task->state_word);
  task->progress = progress_from_json (json_object_get (object, "progress"));
  task->model = g_strdup (get_string (object, "model"));
  task->prompt = g_strdup (get_string (object, "prompt"));
  task->seconds = dup_scalar (json_object_get (object, "seconds"));
  task->size = g_strdup (get_string (object, "size"));
  task->remixed_from = g_strdup (get_string (object, "remixed_from_video_id"));
  task->created_at = vf_time_to_seconds (json_object_get (object, "created_at"));
  /* Gateways fill completed_at in while the job still runs. */
  if (task->state == VF_STATE_COMPLETED)
    task->completed_at = vf_time_to_seconds (json_object_get (object, "completed_at"));
  task->expires_at = vf_time_to_seconds (json_object_get (object, "expires_at"));
  read_error_object (task, object);
  return task;
}

VfTask *
vf_task_from_newapi (json_t *object, GError **error)
{
  VfTask *task = vf_task_from_openai (object, error);

  if (!task)
    return NULL;
  task->protocol = VF_PROTO_NEWAPI;
  task->video_url = g_strdup (get_string (json_object_get (object, "metadata"), "url"));
  return task;
}

/* The text of the first text item of an Ark request's content list. */
static const char *
ark_prompt (const json_t *object)
{
  const json_t *content = json_object_get (object, "content");
  const json_t *item;
  size_t i;

  if (!json_is_array (content))
    return NULL;
  json_array_foreach (content, i, item)
  {
    const char *type = json_string_value (json_object_get (item, "type"));

    if (g_strcmp0 (type, "text") == 0 && get_string (item, "text"))
      return get_string (item, "text");
  }
  return NULL;
}

VfTask *
vf_task_from_ark (json_t *object, GError **error)
{
  VfTask *task = task_begin (object, VF_PROTO_ARK, error);
  const json_t *content;
  const json_t *progress;
  gint64 updated_at;

  if (!task)
    return NULL;
  task->state_word = g_strdup (json_string_value (json_object_get (object, "status")));
  task->state = vf_state_from_ark (task->state_word);
  task->model = g_strdup (get_string (object, "model"));
  task->prompt = g_strdup (ark_prompt (object));
  task->seconds = dup_scalar (json_object_get (object, "duration"));
  task->created_at = vf_time_to_seconds (json_object_get (object, "created_at"));
  task->expires_at = vf_time_to_seconds (json_object_get (object, "expires_at"));
  updated_at = vf_time_to_seconds (json_object_get (object, "updated_at"));
  if (task->state == VF_STATE_COMPLETED)
    task->completed_at = updated_at;

  content = json_object_get (object, "content");
  if (json_is_object (content))
    {
      task->video_url = g_strdup (get_string (content, "video_url"));
      task->last_frame_url = g_strdup (get_string (content, "last_frame_url"));
    }

  read_error_object (task, object);
  /* Both end as failures; the word says why when the server did not. */
  if (!task->error_code && task->state_word
      && (g_ascii_strcasecmp (task->state_word, "cancelled") == 0
          || g_ascii_strcasecmp (task->state_word, "expired") == 0))
    task->error_code = g_ascii_strdown (task->state_word, -1);

  /* Ark reports no progress; a reseller that does wins. */
  progress = json_object_get (object, "progress");
  if (json_is_number (progress) || json_is_string (progress))
    task->progress = progress_from_json (progress);
  else if (task->state == VF_STATE_QUEUED)
    task->progress = 0;
  else if (task->state == VF_STATE_COMPLETED)
    task->progress = 100;
  else
    task->progress = -1;
  return task;
}

/* Error bodies.  The text that ends up in a message is one line, short, and
 * never holds a credential: servers do echo request headers back. */

static const char *
status_phrase (int http_status)
{
  switch (http_status)
    {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return NULL;
    }
}

static GRegex *
redaction_regex (void)
{
  static GRegex *regex;

  if (g_once_init_enter (&regex))
    {
      /* "Bearer TOKEN", and keys of the sk-... kind, wherever they appear. */
      GRegex *compiled = g_regex_new ("\\b(bearer)\\s+[^\\s\"',;]+|\\b(sk)-[A-Za-z0-9_*\\-]+",
                                      G_REGEX_CASELESS | G_REGEX_OPTIMIZE, 0, NULL);

      g_assert (compiled);
      g_once_init_leave (&regex, compiled);
    }
  return regex;
}

static gboolean
redact_one (const GMatchInfo *info, GString *result, gpointer user_data)
{
  g_autofree char *bearer = g_match_info_fetch (info, 1);

  if (bearer && *bearer)
    g_string_append_printf (result, "%s [redacted]", bearer);
  else
    g_string_append (result, "sk-[redacted]");
  return FALSE;
}

/* Cuts at a character boundary so that the result is at most max bytes. */
static void
truncate_utf8 (GString *text, gsize max)
{
  const char *end;

  if (text->len <= max)
    return;
  end = g_utf8_find_prev_char (text->str, text->str + max - 2);
  g_string_truncate (text, end ? (gsize)(end - text->str) : 0);
  g_string_append (text, "...");
}

/* One line of at most `max` bytes, valid UTF-8, with credentials masked. */
static char *
clean_text (const char *text, gsize len, gsize max)
{
  g_autofree char *nul_free = NULL;
  g_autofree char *valid = NULL;
  g_autofree char *redacted = NULL;
  GString *line;
  const char *p;
  gboolean space = TRUE;

  if (len > VF_ERROR_BODY_WORK_MAX)
    len = VF_ERROR_BODY_WORK_MAX;
  /* NUL bytes are spaces here, not the end of the text. */
  nul_free = g_malloc (len + 1);
  for (gsize i = 0; i < len; i++)
    nul_free[i] = text[i] ? text[i] : ' ';
  nul_free[len] = '\0';
  valid = g_utf8_make_valid (nul_free, (gssize)len);

  /* Whitespace and control characters (NUL included) become single spaces. */
  line = g_string_sized_new (len);
  for (p = valid; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c) || g_unichar_iscntrl (c))
        {
          if (!space)
            g_string_append_c (line, ' ');
          space = TRUE;
          continue;
        }
      g_string_append_unichar (line, c);
      space = FALSE;
    }
  while (line->len > 0 && line->str[line->len - 1] == ' ')
    g_string_truncate (line, line->len - 1);

  redacted = g_regex_replace_eval (redaction_regex (), line->str, (gssize)line->len, 0, 0,
                                   redact_one, NULL, NULL);
  g_string_free (line, TRUE);
  line = g_string_new (redacted ? redacted : "");
  truncate_utf8 (line, max);
  return g_string_free (line, FALSE);
}

/* The title of an HTML error page (proxies send those), or NULL. */
static char *
html_title (const char *body, gsize len)
{
  g_autofree char *head = g_ascii_strdown (body, (gssize)MIN (len, VF_ERROR_BODY_WORK_MAX));
  const char *start = strstr (head, "<title>");
  const char *end;

  if (!start)
    return NULL;
  start += strlen ("<title>");
  end = strstr (start, "</title>");
  if (!end)
    return NULL;
  /* Same offsets in the original: strdown changes only ASCII letters. */
  return clean_text (body + (start - head), (gsize)(end - start), VF_ERROR_MESSAGE_MAX);
}

/* The message of an error object, under the names servers use for it. */
static const json_t *
first_string (const json_t *holder, const json_t *inner)
{
  static const char *const keys[] = { "message", "msg", "detail" };

  if (json_is_string (inner) && json_string_length (inner) > 0)
    return inner;
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      const json_t *value = json_object_get (holder, keys[i]);

      if (json_is_string (value) && json_string_length (value) > 0)
        return value;
    }
  return NULL;
}

static gboolean
looks_like_html (const char *body, gsize len)
{
  gsize i = 0;

  while (i < len && g_ascii_isspace (body[i]))
    i++;
  return i < len && body[i] == '<';
}

GError *
vf_error_from_body (int http_status, const char *body, gsize len, const char *request_id)
{
  g_autoptr (json_t) root = NULL;
  g_autofree char *message = NULL;
  g_autofree char *code = NULL;
  g_autofree char *type = NULL;
  g_autofree char *text = NULL;
  const char *tag;
  gboolean understood = FALSE;
  GError *error;

  if (!body)
    len = 0;
  if (len > 0 && len <= VF_ERROR_BODY_JSON_MAX)
    root = json_loadb (body, len, JSON_ALLOW_NUL, NULL);

  if (json_is_object (root))
    {
      json_t *inner = json_object_get (root, "error");
      const json_t *holder = json_is_object (inner) ? inner : root;
      const json_t *found = first_string (holder, inner);
      g_autofree char *raw_code = dup_scalar (json_object_get (holder, "code"));
      g_autofree char *raw_type = dup_scalar (json_object_get (holder, "type"));

      if (found)
        message = clean_text (json_string_value (found), json_string_length (found),
                              VF_ERROR_MESSAGE_MAX);
      if (raw_code)
        code = clean_text (raw_code, strlen (raw_code), VF_ERROR_CODE_MAX);
      if (raw_type)
        type = clean_text (raw_type, strlen (raw_type), VF_ERROR_CODE_MAX);
      understood = found || raw_code;
    }
  if (!understood && len > 0)
    {
      if (looks_like_html (body, len))
        message = html_title (body, len);
      if (!message)
        message = clean_text (body, len, VF_ERROR_MESSAGE_MAX);
    }
  if (code && !*code)
    g_clear_pointer (&code, g_free);
  tag = code ? code : (type && *type ? type : NULL);
  if (message && !*message)
    g_clear_pointer (&message, g_free);

  if (message && tag)
    text = g_strdup_printf ("%s (%s)", message, tag);
  else if (message)
    text = g_strdup (message);
  else if (tag)
    text = g_strdup (tag);
  else if (status_phrase (http_status))
    text = g_strdup (status_phrase (http_status));

  if (text)
    {
      GString *line = g_string_new (text);

      truncate_utf8 (line, VF_ERROR_MESSAGE_MAX);
      g_free (text);
      text = g_string_free (line, FALSE);
      error = g_error_new (VF_ERROR, vf_error_code_for_status (http_status), "HTTP %d: %s",
                           http_status, text);
    }
  else
    error = g_error_new (VF_ERROR, vf_error_code_for_status (http_status), "HTTP %d", http_status);
  vf_error_set_http (error, http_status, code, message, request_id);
  return error;
}
