/* client.c: configuration, routing, the retried JSON exchange, content. */
#include "vf-client.h"

#include <string.h>

#include "vf-error.h"
#include "vf-proto.h"

void
vf_client_config_init (VfClientConfig *config)
{
  memset (config, 0, sizeof *config);
  config->endpoint = "https://api.openai.com/v1";
  config->ark_endpoint = "https://ark.cn-beijing.volces.com/api/v3";
  config->token = NULL;
  config->routes = NULL;
  vf_http_config_init (&config->http);
  vf_retry_policy_init (&config->retry);
}

static void
route_clear (gpointer data)
{
  VfRoute *route = data;

  g_free (route->glob);
}

static char *
endpoint_dup (const char *url)
{
  char *copy = g_strdup (url);
  gsize len = strlen (copy);

  while (len > 0 && copy[len - 1] == '/')
    copy[--len] = '\0';
  return copy;
}

static gboolean
parse_route (const char *spec, VfRoute *route, GError **error)
{
  const char *eq = strrchr (spec, '=');
  const char *name;

  if (!eq || eq == spec)
    {
      vf_set_error (error, VF_ERROR_INVALID, "bad route \"%s\": want MODEL-GLOB=openai|ark", spec);
      return FALSE;
    }
  name = eq + 1;
  if (g_ascii_strcasecmp (name, "openai") == 0)
    route->protocol = VF_PROTO_OPENAI;
  else if (g_ascii_strcasecmp (name, "ark") == 0)
    route->protocol = VF_PROTO_ARK;
  else
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "bad route \"%s\": the protocol is openai or ark, not \"%s\"", spec, name);
      return FALSE;
    }
  route->glob = g_strndup (spec, eq - spec);
  return TRUE;
}

VfClient *
vf_client_new (const VfClientConfig *config, GError **error)
{
  g_autoptr (VfClient) client = g_new0 (VfClient, 1);

  client->routes = g_array_new (FALSE, TRUE, sizeof (VfRoute));
  g_array_set_clear_func (client->routes, route_clear);

  if (!config->endpoint || !vf_http_url_allowed (config->endpoint, error))
    {
      if (!config->endpoint)
        vf_set_error (error, VF_ERROR_INVALID, "no endpoint");
      else
        g_prefix_error (error, "endpoint: ");
      return NULL;
    }
  if (config->ark_endpoint && !vf_http_url_allowed (config->ark_endpoint, error))
    {
      g_prefix_error (error, "ark_endpoint: ");
      return NULL;
    }
  if (config->token)
    for (const char *p = config->token; *p; p++)
      if ((guchar)*p < 0x20 || *p == 0x7f)
        {
          /* It would end up in a header line: refuse, without showing it. */
          vf_set_error (error, VF_ERROR_INVALID, "the token holds a control character");
          return NULL;
        }

  for (const char *const *r = config->routes; r && *r; r++)
    {
      VfRoute route = { 0 };

      if (!parse_route (*r, &route, error))
        return NULL;
      g_array_append_val (client->routes, route);
    }

  client->endpoint = endpoint_dup (config->endpoint);
  client->ark_endpoint = config->ark_endpoint ? endpoint_dup (config->ark_endpoint) : NULL;
  client->token = config->token && *config->token ? g_strdup (config->token) : NULL;
  client->retry = config->retry;
  client->http = vf_http_new (&config->http);
  return g_steal_pointer (&client);
}

void
vf_client_free (VfClient *client)
{
  if (!client)
    return;
  g_free (client->endpoint);
  g_free (client->ark_endpoint);
  if (client->token)
    {
      memset (client->token, 0, strlen (client->token));
      g_free (client->token);
    }
  if (client->routes)
    g_array_unref (client->routes);
  if (client->http)
    vf_http_free (client->http);
  g_free (client);
}

VfProtocol
vf_client_protocol_for_model (VfClient *client, const char *model)
{
  if (!model)
    return VF_PROTO_OPENAI;
  for (guint i = 0; i < client->routes->len; i++)
    {
      const VfRoute *route = &g_array_index (client->routes, VfRoute, i);

      if (g_pattern_match_simple (route->glob, model))
        return route->protocol;
    }
  if (g_pattern_match_simple ("doubao-seedance-*", model))
    return VF_PROTO_ARK;
  return VF_PROTO_OPENAI;
}

char *
vf_client_escape (const char *text)
{
  return g_uri_escape_string (text, NULL, FALSE);
}

/* ----- errors ----- */

static int
parse_should_retry (const char *value)
{
  if (!value)
    return -1;
  if (g_ascii_strcasecmp (value, "true") == 0)
    return 1;
  if (g_ascii_strcasecmp (value, "false") == 0)
    return 0;
  return -1;
}

/* Servers echo credentials back; the token never goes into a message. */
static char *
redact (const char *text, const char *token)
{
  GString *s;

  if (!text || !token || !*token || !strstr (text, token))
    return NULL;
  s = g_string_new (text);
  g_string_replace (s, token, "[token]", 0);
  return g_string_free (s, FALSE);
}

GError *
vf_client_error_from_response (VfClient *client, const char *method, const char *url,
                               const VfHttpResponse *response)
{
  const char *body = response->body ? (const char *)response->body->data : NULL;
  gsize len = response->body ? response->body->len : 0;
  g_autofree char *shown = vf_http_url_for_message (url);
  g_autofree char *message = NULL;
  g_autofree char *api_message = NULL;
  GError *e;
  gint64 hint;

  e = vf_error_from_body (response->status, body, len,
                          vf_http_response_header (response, "x-request-id"));
  vf_error_set_maybe_sent (e, TRUE);
  hint = vf_retry_parse_hint (vf_http_response_header (response, "retry-after-ms"),
                              vf_http_response_header (response, "retry-after"),
                              vf_retry_now_ms (&client->retry));
  vf_error_set_retry_hints (
      e, hint, parse_should_retry (vf_http_response_header (response, "x-should-retry")));

  message = redact (e->message, client->token);
  if (message)
    {
      g_free (e->message);
      e->message = g_steal_pointer (&message);
    }
  api_message = redact (vf_error_api_message (e), client->token);
  if (api_message)
    {
      g_autofree char *code = g_strdup (vf_error_api_code (e));
      g_autofree char *rid = g_strdup (vf_error_request_id (e));

      vf_error_set_http (e, response->status, code, api_message, rid);
    }

  g_prefix_error (&e, "%s %s: ", method, shown);
  return e;
}

/* ----- retries ----- */

typedef gboolean (*AttemptFunc) (VfClient *client, gpointer data, GError **error);

static gboolean
with_retries (VfClient *client, gboolean idempotent, AttemptFunc attempt_func, gpointer data,
              GError **error)
{
  for (int attempt = 0;; attempt++)
    {
      g_autoptr (GError) local = NULL;
      gint64 delay;

      if (attempt_func (client, data, &local))
        return TRUE;
      if (!vf_retry_should (&client->retry, local, idempotent, attempt))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      delay = vf_retry_delay_ms (&client->retry, local, attempt);
      g_info ("%s; trying again in %" G_GINT64_FORMAT " ms", local->message, delay);
      vf_retry_sleep (&client->retry, delay);
    }
}

/* A NUL inside an id would cut it short wherever it is read as a C string,
 * making it look like another, fit id; turned into a control character it
 * fails vf_id_check () as it should.  (Other strings are merely cut.) */
static void
defuse_nul_ids (json_t *json)
{
  const char *key;
  json_t *value;
  size_t i;

  if (json_is_array (json))
    json_array_foreach (json, i, value) defuse_nul_ids (value);
  if (!json_is_object (json))
    return;
  json_object_foreach (json, key, value)
  {
    if (strcmp (key, "id") == 0 && json_is_string (value)
        && strlen (json_string_value (value)) != json_string_length (value))
      {
        gsize len = json_string_length (value);
        g_autofree char *copy = g_memdup2 (json_string_value (value), len);

        for (gsize j = 0; j < len; j++)
          if (copy[j] == '\0')
            copy[j] = '\x01';
        json_string_setn_nocheck (value, copy, len);
      }
    else
      defuse_nul_ids (value);
  }
}

typedef struct
{
  const VfCall *call;
  char *body_text;
  VfHttpResponse *response;
  json_t *answer;
} CallState;

static const char *const json_headers[] = { "Accept: application/json", NULL };

static gboolean
call_attempt (VfClient *client, gpointer data, GError **error)
{
  CallState *st = data;
  const VfCall *call = st->call;
  VfHttpRequest request = { 0 };
  json_error_t jerr;
  json_t *answer;

  request.method = call->method;
  request.url = call->url;
  request.bearer = client->token;
  request.extra_headers = json_headers;
  if (call->parts)
    {
      request.parts = call->parts;
      request.n_parts = call->n_parts;
    }
  else if (st->body_text)
    {
      request.body = st->body_text;
      request.body_len = strlen (st->body_text);
      request.content_type = "application/json";
    }

  vf_http_response_clear (st->response);
  if (!vf_http_perform (client->http, &request, st->response, error))
    return FALSE;

  if (st->response->status < 200 || st->response->status > 299)
    {
      g_propagate_error (
          error, vf_client_error_from_response (client, call->method, call->url, st->response));
      return FALSE;
    }

  if (st->response->body->len == 0)
    answer = json_object ();
  else
    answer = json_loadb ((const char *)st->response->body->data, st->response->body->len,
                         JSON_ALLOW_NUL, &jerr);
  if (answer)
    defuse_nul_ids (answer);
  if (!answer)
    {
      g_autofree char *shown = vf_http_url_for_message (call->url);
      GError *e
          = g_error_new (VF_ERROR, VF_ERROR_PROTOCOL, "%s %s: the answer is not JSON: %s (line %d)",
                         call->method, shown, jerr.text, jerr.line);

      vf_error_set_http (e, st->response->status, NULL, NULL,
                         vf_http_response_header (st->response, "x-request-id"));
      g_propagate_error (error, e);
      return FALSE;
    }
  st->answer = answer;
  return TRUE;
}

json_t *
vf_client_call_json (VfClient *client, const VfCall *call, VfHttpResponse *response, GError **error)
{
  CallState st = { 0 };
  gboolean ok;

  st.call = call;
  st.response = response;
  if (call->body && !call->parts)
    st.body_text = json_dumps (call->body, JSON_COMPACT | JSON_ENCODE_ANY);
  ok = with_retries (client, call->idempotent, call_attempt, &st, error);
  free (st.body_text);
  return ok ? st.answer : NULL;
}

/* ----- calls ----- */

VfTask *
vf_client_create (VfClient *client, const VfCreateRequest *request, GError **error)
{
  const char *model;

  if (!json_is_object (request->body))
    {
      vf_set_error (error, VF_ERROR_INVALID, "the request body is not a JSON object");
      return NULL;
    }
  model = json_string_value (json_object_get (request->body, "model"));
  switch (vf_client_protocol_for_model (client, model))
    {
    case VF_PROTO_ARK:
      return vf_ark_create (client, request, error);
    case VF_PROTO_OPENAI:
    default:
      return vf_openai_create (client, request, error);
    }
}

VfTask *
vf_client_retrieve (VfClient *client, VfProtocol protocol, const char *id, GError **error)
{
  if (!vf_id_check (id, error))
    return NULL;
  return protocol == VF_PROTO_ARK ? vf_ark_retrieve (client, id, error)
                                  : vf_openai_retrieve (client, id, error);
}

VfTaskPage *
vf_client_list (VfClient *client, VfProtocol protocol, const char *cursor, int limit,
                GError **error)
{
  return protocol == VF_PROTO_ARK ? vf_ark_list (client, cursor, limit, error)
                                  : vf_openai_list (client, cursor, limit, error);
}

gboolean
vf_client_delete (VfClient *client, VfProtocol protocol, const char *id, GError **error)
{
  if (!vf_id_check (id, error))
    return FALSE;
  return protocol == VF_PROTO_ARK ? vf_ark_delete (client, id, error)
                                  : vf_openai_delete (client, id, error);
}

VfTask *
vf_client_remix (VfClient *client, const char *id, const char *prompt, GError **error)
{
  if (!vf_id_check (id, error))
    return NULL;
  if (!prompt || !*prompt)
    {
      vf_set_error (error, VF_ERROR_INVALID, "a remix needs a prompt");
      return NULL;
    }
  return vf_openai_remix (client, id, prompt, error);
}

/* ----- content ----- */

const char *
vf_variant_name (VfVariant variant)
{
  switch (variant)
    {
    case VF_VARIANT_THUMBNAIL:
      return "thumbnail";
    case VF_VARIANT_SPRITESHEET:
      return "spritesheet";
    case VF_VARIANT_VIDEO:
    default:
      return "video";
    }
}

const char *
vf_variant_file_name (VfVariant variant)
{
  switch (variant)
    {
    case VF_VARIANT_THUMBNAIL:
      return "thumbnail.webp";
    case VF_VARIANT_SPRITESHEET:
      return "spritesheet.jpg";
    case VF_VARIANT_VIDEO:
    default:
      return "video.mp4";
    }
}

static void
content_info_reset (VfContentInfo *info)
{
  g_clear_pointer (&info->etag, g_free);
  g_clear_pointer (&info->content_type, g_free);
  info->status = 0;
  info->total_size = -1;
  info->start = 0;
  info->length = -1;
  info->ranges = FALSE;
}

void
vf_content_info_clear (VfContentInfo *info)
{
  content_info_reset (info);
}

/* An error answer's start is enough for its message. */
#define ERROR_BODY_MAX (64 * 1024)

typedef struct
{
  VfClient *client;
  const char *url;
  gint64 offset;
  gint64 length;
  const char *if_range;
  gboolean ranged; /* a Range header was sent */
  gboolean probe;  /* only the headers are wanted */
  VfContentSink sink;
  gpointer user_data;
  VfContentInfo *info;

  gboolean headers_ok; /* the answer passed the checks; bytes may flow */
  gboolean error_body; /* a 2xx answer that is an error message, not content */
  gboolean stopped;    /* the probe has what it wants */
  GByteArray *error_bytes;
  gint64 received;
} ContentState;

static gboolean content_error (GError **error, const ContentState *st, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static gboolean
content_error (GError **error, const ContentState *st, const char *format, ...)
{
  g_autofree char *shown = vf_http_url_for_message (st->url);
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  vf_set_error (error, VF_ERROR_PROTOCOL, "GET %s: %s", shown, text);
  return FALSE;
}

static gboolean
parse_int64 (const char *text, gint64 *value)
{
  guint64 v;

  if (!text || !g_ascii_string_to_unsigned (text, 10, 0, G_MAXINT64, &v, NULL))
    return FALSE;
  *value = (gint64)v;
  return TRUE;
}

/* "bytes START-END/TOTAL" (TOTAL may be "*": -1) or "bytes STAR/TOTAL". */
static gboolean
parse_content_range (const char *value, gint64 *start, gint64 *end, gint64 *total)
{
  g_autofree char *copy = NULL;
  char *slash;
  char *dash;

  if (!value || g_ascii_strncasecmp (value, "bytes ", 6) != 0)
    return FALSE;
  copy = g_strstrip (g_strdup (value + 6));
  slash = strchr (copy, '/');
  if (!slash)
    return FALSE;
  *slash = '\0';
  if (strcmp (slash + 1, "*") == 0)
    *total = -1;
  else if (!parse_int64 (slash + 1, total))
    return FALSE;
  if (strcmp (copy, "*") == 0)
    {
      *start = *end = -1;
      return TRUE;
    }
  dash = strchr (copy, '-');
  if (!dash)
    return FALSE;
  *dash = '\0';
  return parse_int64 (copy, start) && parse_int64 (dash + 1, end) && *start <= *end
         && (*total < 0 || *end < *total);
}

static gboolean
is_error_type (const char *content_type)
{
  g_autofree char *lower = NULL;

  if (!content_type)
    return FALSE;
  lower = g_ascii_strdown (content_type, -1);
  return g_str_has_prefix (lower, "application/json") || g_str_has_prefix (lower, "text/")
         || g_str_has_prefix (lower, "application/problem") || strstr (lower, "+json")
         || g_str_has_prefix (lower, "application/xml");
}

static gboolean
content_on_headers (const VfHttpResponse *response, gpointer user_data, GError **error)
{
  ContentState *st = user_data;
  VfContentInfo *info = st->info;
  const char *content_type = vf_http_response_header (response, "content-type");
  const char *etag = vf_http_response_header (response, "etag");
  const char *accept_ranges = vf_http_response_header (response, "accept-ranges");
  gint64 content_length = -1;

  content_info_reset (info);
  info->status = response->status;
  info->etag = g_strdup (etag);
  info->content_type = g_strdup (content_type);
  info->ranges = accept_ranges && g_ascii_strcasecmp (accept_ranges, "bytes") == 0;

  if (is_error_type (content_type))
    {
      /* Keep the body for its message; no byte reaches the sink. */
      st->error_body = TRUE;
      return TRUE;
    }
  if (content_type && g_ascii_strncasecmp (content_type, "multipart/", 10) == 0)
    return content_error (error, st, "a %s answer, asked for one range", content_type);

  if (vf_http_response_header (response, "content-length")
      && !parse_int64 (vf_http_response_header (response, "content-length"), &content_length))
    return content_error (error, st, "bad Content-Length \"%s\"",
                          vf_http_response_header (response, "content-length"));

  if (response->status == 206)
    {
      const char *range = vf_http_response_header (response, "content-range");
      gint64 start, end, total;

      if (!parse_content_range (range, &start, &end, &total) || start < 0)
        return content_error (error, st, "a 206 answer with a bad Content-Range \"%s\"",
                              range ? range : "");
      if (start != st->offset)
        return content_error (error, st,
                              "asked for bytes from %" G_GINT64_FORMAT
                              ", the answer starts at %" G_GINT64_FORMAT,
                              st->offset, start);
      if (st->length >= 0 && end > st->offset + st->length - 1)
        return content_error (error, st,
                              "asked for bytes up to %" G_GINT64_FORMAT
                              ", the answer goes to %" G_GINT64_FORMAT,
                              st->offset + st->length - 1, end);
      /* A shorter range than asked is fine only at the end of the file. */
      if (total >= 0 && end != total - 1 && (st->length < 0 || end != st->offset + st->length - 1))
        return content_error (error, st, "the answer's range %s ends early", range);
      if (total < 0 && st->length < 0)
        return content_error (error, st, "the answer's range %s has no total", range);
      if (content_length >= 0 && content_length != end - start + 1)
        return content_error (error, st, "Content-Range %s but Content-Length %" G_GINT64_FORMAT,
                              range, content_length);
      if (st->if_range && etag && strcmp (etag, st->if_range) != 0)
        return content_error (error, st, "the content changed (ETag %s, had %s)", etag,
                              st->if_range);
      info->start = start;
      info->length = end - start + 1;
      info->total_size = total;
      info->ranges = TRUE;
    }
  else if (response->status == 200)
    {
      /* With If-Range, a whole answer means the content changed; without,
       * the server ignores Range and the caller gets the whole from 0. */
      if (st->ranged && st->if_range && g_strcmp0 (etag, st->if_range) != 0)
        return content_error (error, st, "the content changed (ETag %s, had %s)",
                              etag ? etag : "none", st->if_range);
      info->start = 0;
      info->length = content_length;
      info->total_size = content_length;
    }
  else
    return content_error (error, st, "unexpected status %d for content", response->status);

  st->headers_ok = TRUE;
  if (st->probe && response->status == 200)
    {
      /* The whole content is coming: the headers said all a probe wants. */
      st->stopped = TRUE;
      return FALSE;
    }
  return TRUE;
}

static gboolean
content_on_data (const void *data, gsize len, gpointer user_data, GError **error)
{
  ContentState *st = user_data;

  /* No video, picture or sprite sheet starts with '{': a JSON error body
   * sent with a content type that hides it. */
  if (!st->error_body && st->received == 0 && st->info->start == 0 && len > 0
      && ((const char *)data)[0] == '{')
    st->error_body = TRUE;

  if (st->error_body)
    {
      gsize room = ERROR_BODY_MAX - MIN (st->error_bytes->len, ERROR_BODY_MAX);

      g_byte_array_append (st->error_bytes, data, MIN (len, room));
      if (len > room)
        {
          st->stopped = TRUE;
          return FALSE;
        }
      return TRUE;
    }

  if (st->probe)
    {
      st->received += len;
      return TRUE;
    }
  if (!st->sink (data, len, st->user_data, error))
    return FALSE;
  st->received += len;
  return TRUE;
}

/* A 2xx answer whose body is an error message: VF_ERROR_PROTOCOL with the
 * API's words. */
static GError *
error_body_error (ContentState *st, const VfHttpResponse *response)
{
  g_autofree char *shown = vf_http_url_for_message (st->url);
  g_autoptr (GError) inner = vf_error_from_body (
      response->status, (const char *)st->error_bytes->data, st->error_bytes->len,
      vf_http_response_header (response, "x-request-id"));
  const char *api_message = vf_error_api_message (inner);
  GError *e;

  e = g_error_new (VF_ERROR, VF_ERROR_PROTOCOL,
                   "GET %s: an error message came instead of content: %s", shown,
                   api_message ? api_message : inner->message);
  vf_error_set_http (e, response->status, vf_error_api_code (inner), api_message,
                     vf_error_request_id (inner));
  return e;
}

static gboolean
content_url (VfClient *client, const VfTask *task, VfVariant variant, char **url, gboolean *bearer,
             GError **error)
{
  if (!task || !task->id)
    {
      vf_set_error (error, VF_ERROR_INVALID, "no task");
      return FALSE;
    }
  if (task->protocol == VF_PROTO_ARK)
    {
      *url = vf_ark_content_url (client, task, variant, error);
      *bearer = FALSE;
    }
  else
    {
      *url = vf_openai_content_url (client, task, variant, error);
      *bearer = TRUE;
    }
  return *url != NULL;
}

/* One GET of content; *response holds the answer afterwards. */
static gboolean
content_exchange (VfClient *client, ContentState *st, gboolean bearer, GCancellable *cancellable,
                  VfHttpResponse *response, GError **error)
{
  VfHttpRequest request = { 0 };
  g_autofree char *range_line = NULL;
  g_autofree char *if_range_line = NULL;
  const char *headers[3] = { NULL, NULL, NULL };
  g_autoptr (GError) local = NULL;
  gboolean ok;
  int n = 0;

  if (st->ranged)
    {
      if (st->length >= 0)
        range_line = g_strdup_printf ("Range: bytes=%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT,
                                      st->offset, st->offset + st->length - 1);
      else
        range_line = g_strdup_printf ("Range: bytes=%" G_GINT64_FORMAT "-", st->offset);
      headers[n++] = range_line;
      if (st->if_range)
        {
          if_range_line = g_strdup_printf ("If-Range: %s", st->if_range);
          headers[n++] = if_range_line;
        }
    }

  request.method = "GET";
  request.url = st->url;
  request.bearer = bearer ? client->token : NULL;
  request.extra_headers = headers;
  request.on_headers = content_on_headers;
  request.on_data = content_on_data;
  request.user_data = st;
  request.cancellable = cancellable;

  st->headers_ok = FALSE;
  st->error_body = FALSE;
  st->stopped = FALSE;
  st->received = 0;
  g_byte_array_set_size (st->error_bytes, 0);

  ok = vf_http_perform (client->http, &request, response, &local);

  if (st->error_body)
    {
      g_propagate_error (error, error_body_error (st, response));
      return FALSE;
    }
  if (!ok)
    {
      if (st->stopped)
        return TRUE;
      /* A connection that ends inside the body is a body of the wrong
       * length, whatever the transport made of it. */
      if (st->headers_ok && g_error_matches (local, VF_ERROR, VF_ERROR_NETWORK))
        {
          GError *e = g_error_new (VF_ERROR, VF_ERROR_PROTOCOL,
                                   "%s; the body ended after %" G_GINT64_FORMAT
                                   " of %" G_GINT64_FORMAT " bytes",
                                   local->message, st->received, st->info->length);

          g_propagate_error (error, e);
          return FALSE;
        }
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }

  if (response->status < 200 || response->status > 299)
    {
      GError *e = vf_client_error_from_response (client, "GET", st->url, response);

      /* An expired pre-signed URL is refused rather than not found. */
      if (!bearer && response->status == 403)
        e->code = VF_ERROR_EXPIRED;
      g_propagate_error (error, e);
      return FALSE;
    }
  if (!st->probe && st->info->length >= 0 && st->received != st->info->length)
    return content_error (
        error, st, "the body has %" G_GINT64_FORMAT " bytes, Content-Length said %" G_GINT64_FORMAT,
        st->received, st->info->length);
  return TRUE;
}

gboolean
vf_client_content (VfClient *client, const VfTask *task, VfVariant variant, gint64 offset,
                   gint64 length, const char *if_range, VfContentSink sink, gpointer user_data,
                   VfContentInfo *info, GCancellable *cancellable, GError **error)
{
  ContentState st = { 0 };
  VfHttpResponse response = { 0 };
  VfContentInfo local_info = { 0 };
  g_autofree char *url = NULL;
  gboolean bearer;
  gboolean ok;

  if (!info)
    info = &local_info;
  content_info_reset (info);
  if (offset < 0 || length == 0 || length < -1)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "bad range: offset %" G_GINT64_FORMAT ", length %" G_GINT64_FORMAT, offset,
                    length);
      return FALSE;
    }
  if (!content_url (client, task, variant, &url, &bearer, error))
    return FALSE;

  st.client = client;
  st.url = url;
  st.offset = offset;
  st.length = length;
  st.if_range = if_range;
  st.ranged = offset > 0 || length >= 0;
  st.sink = sink;
  st.user_data = user_data;
  st.info = info;
  st.error_bytes = g_byte_array_new ();

  ok = content_exchange (client, &st, bearer, cancellable, &response, error);

  g_byte_array_unref (st.error_bytes);
  vf_http_response_clear (&response);
  content_info_reset (&local_info);
  return ok;
}

typedef struct
{
  ContentState *st;
  gboolean bearer;
} ProbeState;

static gboolean
probe_attempt (VfClient *client, gpointer data, GError **error)
{
  ProbeState *ps = data;
  ContentState *st = ps->st;
  VfHttpResponse response = { 0 };
  gboolean ok;

  ok = content_exchange (client, st, ps->bearer, NULL, &response, error);
  if (!ok && response.status == 416)
    {
      /* bytes=0-0 of an empty file */
      gint64 start, end, total;
      const char *range = vf_http_response_header (&response, "content-range");

      if (range && parse_content_range (range, &start, &end, &total) && total == 0)
        {
          g_clear_error (error);
          content_info_reset (st->info);
          st->info->status = 416;
          st->info->total_size = 0;
          st->info->length = 0;
          st->info->ranges = TRUE;
          ok = TRUE;
        }
    }
  vf_http_response_clear (&response);
  return ok;
}

gboolean
vf_client_content_probe (VfClient *client, const VfTask *task, VfVariant variant,
                         VfContentInfo *info, GError **error)
{
  ContentState st = { 0 };
  ProbeState ps = { 0 };
  g_autofree char *url = NULL;
  gboolean bearer;
  gboolean ok;

  content_info_reset (info);
  if (!content_url (client, task, variant, &url, &bearer, error))
    return FALSE;

  st.client = client;
  st.url = url;
  st.offset = 0;
  st.length = 1;
  st.ranged = TRUE;
  st.probe = TRUE;
  st.info = info;
  st.error_bytes = g_byte_array_new ();
  ps.st = &st;
  ps.bearer = bearer;

  ok = with_retries (client, TRUE, probe_attempt, &ps, error);
  g_byte_array_unref (st.error_bytes);
  return ok;
}
