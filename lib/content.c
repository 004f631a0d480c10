/* content.c: one checked GET of content; the size probe; what "gone" means. */
#include "vf-content.h"
#include "call-private.h"

#include <string.h>

#include "vf-error.h"
#include "vf-task.h"

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
  info->head_len = 0;
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
  const VfEndpoint *endpoint;
  const char *url;
  gboolean bearer;
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

  if (st->info->start == 0 && st->info->head_len < sizeof st->info->head)
    {
      gsize n = MIN (len, sizeof st->info->head - st->info->head_len);

      memcpy (st->info->head + st->info->head_len, data, n);
      st->info->head_len += n;
    }
  if (st->probe)
    {
      st->received += len;
      /* A whole answer to a probe: its first bytes are all it wants. */
      if (st->info->status == 200 && st->info->head_len == sizeof st->info->head)
        {
          st->stopped = TRUE;
          return FALSE;
        }
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

/* One GET of content; *response holds the answer afterwards. */
static gboolean
content_exchange (ContentState *st, GCancellable *cancellable, VfHttpResponse *response,
                  GError **error)
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
  request.bearer = st->bearer ? st->endpoint->token : NULL;
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

  ok = vf_http_perform (st->endpoint->http, &request, response, &local);

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
      GError *e = vf_call_error_from_response (st->endpoint, "GET", st->url, response);

      /* An expired pre-signed URL is refused rather than not found. */
      if (!st->bearer && response->status == 403)
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
vf_content_get (const VfEndpoint *endpoint, const char *url, gboolean bearer, gint64 offset,
                gint64 length, const char *if_range, VfContentSink sink, gpointer user_data,
                VfContentInfo *info, GCancellable *cancellable, GError **error)
{
  ContentState st = { 0 };
  VfHttpResponse response = { 0 };
  VfContentInfo local_info = { 0 };
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
  st.endpoint = endpoint;
  st.url = url;
  st.bearer = bearer;
  st.offset = offset;
  st.length = length;
  st.if_range = if_range;
  st.ranged = offset > 0 || length >= 0;
  st.sink = sink;
  st.user_data = user_data;
  st.info = info;
  st.error_bytes = g_byte_array_new ();

  ok = content_exchange (&st, cancellable, &response, error);

  g_byte_array_unref (st.error_bytes);
  vf_http_response_clear (&response);
  content_info_reset (&local_info);
  return ok;
}

static gboolean
probe_attempt (gpointer data, GError **error)
{
  ContentState *st = data;
  VfHttpResponse response = { 0 };
  gboolean ok;

  ok = content_exchange (st, NULL, &response, error);
  if (!ok && response.status == 416)
    {
      /* the first bytes of an empty file */
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
vf_content_probe (const VfEndpoint *endpoint, const char *url, gboolean bearer, VfContentInfo *info,
                  GError **error)
{
  ContentState st = { 0 };
  gboolean ok;

  content_info_reset (info);
  st.endpoint = endpoint;
  st.url = url;
  st.bearer = bearer;
  st.offset = 0;
  st.length = sizeof info->head;
  st.ranged = TRUE;
  st.probe = TRUE;
  st.info = info;
  st.error_bytes = g_byte_array_new ();

  ok = vf_call_with_retries (endpoint->retry, TRUE, probe_attempt, &st, error);
  g_byte_array_unref (st.error_bytes);
  return ok;
}

gboolean
vf_content_error_is_gone (const GError *error)
{
  return g_error_matches (error, VF_ERROR, VF_ERROR_EXPIRED)
         || (g_error_matches (error, VF_ERROR, VF_ERROR_NOT_FOUND)
             && vf_error_http_status (error) > 0);
}

gboolean
vf_content_error_is_not_ready (const GError *error)
{
  return vf_error_http_status (error) == 400;
}
