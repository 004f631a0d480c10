/* reply.c: the answers videofs-sim gives in JSON: objects, the error bodies
 * of both APIs, the 404, 405, 401 and 413 of the route table, and those of
 * the 429 and 5xx faults.  Every answer goes out through
 * sim_reply_response(), which adds x-request-id.  Content bytes are
 * serve.c's.
 */
#include "sim.h"

char *
sim_dump (json_t *value, gsize *len)
{
  char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);

  if (!text)
    text = strdup ("{}");
  *len = strlen (text);
  return text;
}

char *
sim_dump_padded (json_t *object, guint64 bytes, gsize *len)
{
  char *text = sim_dump (object, len);
  gsize extra
      = json_object_size (object) ? strlen (",\"_padding\":\"\"") : strlen ("\"_padding\":\"\"");

  if (*len + extra < bytes)
    {
      g_autofree char *pad = g_strnfill (bytes - *len - extra, ' ');
      free (text);
      json_object_set_new (object, "_padding", json_string (pad));
      text = sim_dump (object, len);
    }
  return text;
}

enum MHD_Result
sim_reply_response (struct sim_request *req, unsigned int status, struct MHD_Response *response)
{
  enum MHD_Result ret;

  MHD_add_response_header (response, "x-request-id", req->request_id);
  if (req->route
      && (req->route->api == SIM_ROUTE_OPENAI || req->route->api == SIM_ROUTE_ARK
          || req->route->api == SIM_ROUTE_GEMINI))
    sim_ratelimit_headers (response);
  if (req->fd_body_len)
    req->acked_at_start = sim_bytes_acked (req->conn);
  ret = MHD_queue_response (req->conn, status, response);
  MHD_destroy_response (response);
  return ret;
}

/* A response owning `text`, typed application/json. */
static struct MHD_Response *
json_response (char *text, gsize len)
{
  struct MHD_Response *r = MHD_create_response_from_buffer (len, text, MHD_RESPMEM_MUST_FREE);

  MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  return r;
}

enum MHD_Result
sim_reply_json_with (struct sim_request *req, unsigned int status, json_t *body, const char *header,
                     const char *value)
{
  gsize len = 0;
  char *text = sim_dump (body, &len);
  struct MHD_Response *r = json_response (text, len);

  json_decref (body);
  if (header)
    MHD_add_response_header (r, header, value);
  return sim_reply_response (req, status, r);
}

enum MHD_Result
sim_reply_json (struct sim_request *req, unsigned int status, json_t *body)
{
  return sim_reply_json_with (req, status, body, NULL, NULL);
}

enum MHD_Result
sim_reply_object (struct sim_request *req, json_t *object, gint64 poll_after_ms)
{
  struct sim_fault_hit hit;
  struct MHD_Response *r;
  gsize len = 0;
  char *text;

  if (sim_faults_take (SIM_FAULT_OVERSIZE_JSON, req->call, &hit))
    text = sim_dump_padded (object, hit.number, &len);
  else
    text = sim_dump (object, &len);
  json_decref (object);
  r = json_response (text, len);
  if (poll_after_ms >= 0)
    {
      g_autofree char *s = g_strdup_printf ("%" G_GINT64_FORMAT, poll_after_ms);
      MHD_add_response_header (r, "openai-poll-after-ms", s);
    }
  return sim_reply_response (req, MHD_HTTP_OK, r);
}

/* --- error bodies --- */

static json_t *
openai_error_body (const char *type, const char *param, const char *code, const char *message)
{
  json_t *error = json_object ();

  json_object_set_new (error, "message", json_string (message));
  json_object_set_new (error, "type", type ? json_string (type) : json_null ());
  json_object_set_new (error, "param", param ? json_string (param) : json_null ());
  json_object_set_new (error, "code", code ? json_string (code) : json_null ());
  return json_pack ("{s:o}", "error", error);
}

static json_t *
ark_error_body (struct sim_request *req, const char *code, const char *type, const char *param,
                const char *message)
{
  g_autofree char *full = g_strdup_printf ("%s Request id: %s", message, req->request_id);

  return json_pack ("{s:{s:s, s:s, s:s, s:s}}", "error", "code", code, "message", full, "param",
                    param ? param : "", "type", type);
}

/* A message made from a caller's format; one that is not UTF-8 (a hostile
 * id in it) cannot go into JSON and is replaced. */
static char *
message_vprintf (const char *format, va_list ap)
{
  char *message = g_strdup_vprintf (format, ap);

  if (!g_utf8_validate (message, -1, NULL))
    {
      g_free (message);
      message = g_strdup ("Invalid request.");
    }
  return message;
}

enum MHD_Result
sim_reply_openai_error (struct sim_request *req, unsigned int status, const char *type,
                        const char *param, const char *code, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = message_vprintf (format, ap);
  va_end (ap);
  return sim_reply_json (req, status, openai_error_body (type, param, code, message));
}

enum MHD_Result
sim_reply_ark_error (struct sim_request *req, unsigned int status, const char *code,
                     const char *type, const char *param, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = message_vprintf (format, ap);
  va_end (ap);
  return sim_reply_json (req, status, ark_error_body (req, code, type, param, message));
}

/* --- the route table's answers --- */

enum MHD_Result
sim_reply_gemini_error (struct sim_request *req, unsigned int status, const char *status_word,
                        const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  return sim_reply_json (req, status,
                         json_pack ("{s:{s:i, s:s, s:s}}", "error", "code", (int)status, "message",
                                    message, "status", status_word));
}

static gboolean
is_ark (struct sim_request *req)
{
  return req->route->api == SIM_ROUTE_ARK;
}

enum MHD_Result
sim_reply_not_found (struct sim_request *req)
{
  if (is_ark (req))
    return sim_reply_ark_error (req, MHD_HTTP_NOT_FOUND, "NotFound", "NotFound", NULL,
                                "The requested resource %s %s was not found.", req->method,
                                req->url);
  return sim_reply_openai_error (req, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL, NULL,
                                 "Invalid URL (%s %s)", req->method, req->url);
}

enum MHD_Result
sim_reply_bad_method (struct sim_request *req)
{
  if (is_ark (req))
    return sim_reply_ark_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed",
                                "MethodNotAllowed", NULL, "Method %s is not allowed on %s.",
                                req->method, req->url);
  return sim_reply_openai_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", NULL,
                                 "method_not_allowed", "Method not allowed (%s %s)", req->method,
                                 req->url);
}

enum MHD_Result
sim_reply_unauthorized (struct sim_request *req)
{
  if (req->route->api == SIM_ROUTE_GEMINI)
    return sim_reply_gemini_error (req, MHD_HTTP_UNAUTHORIZED, "UNAUTHENTICATED",
                                   "Request had invalid authentication credentials.");
  if (is_ark (req))
    return sim_reply_ark_error (req, MHD_HTTP_UNAUTHORIZED, "AuthenticationError", "Unauthorized",
                                NULL, "The API key in the request is missing or invalid.");
  return sim_reply_openai_error (req, MHD_HTTP_UNAUTHORIZED, "invalid_request_error", NULL,
                                 "invalid_api_key",
                                 "Incorrect API key provided: ********. You can find your API "
                                 "key at https://platform.openai.com/account/api-keys.");
}

enum MHD_Result
sim_reply_too_large (struct sim_request *req)
{
  if (is_ark (req))
    return sim_reply_ark_error (req, MHD_HTTP_CONTENT_TOO_LARGE, "InvalidParameter", "BadRequest",
                                NULL, "The request body is too large.");
  return sim_reply_openai_error (req, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", NULL,
                                 NULL, "The request body is too large.");
}

/* --- the 429 and 5xx faults --- */

enum MHD_Result
sim_reply_fault (struct sim_request *req, gboolean rate_limit, const struct sim_fault_hit *hit,
                 const struct sim_fault_hit *should_retry)
{
  /* Pre-signed downloads fail the way Ark's object store does. */
  gboolean ark = is_ark (req) || req->call == SIM_CALL_FILE;
  unsigned int status = rate_limit ? MHD_HTTP_TOO_MANY_REQUESTS : (unsigned int)hit->status;
  struct MHD_Response *r;
  json_t *body;
  gsize len = 0;
  char *text;

  if (rate_limit && ark)
    body = ark_error_body (req, "RateLimitExceeded.EndpointRPMExceeded", "TooManyRequests", NULL,
                           "The request has exceeded the rate limit.");
  else if (rate_limit)
    body = openai_error_body ("requests", NULL, "rate_limit_exceeded",
                              "Rate limit reached for requests. Please try again later.");
  else if (ark)
    body = ark_error_body (req, "InternalServiceError", "InternalServerError", NULL,
                           "The service encountered an unexpected internal error.");
  else
    body = openai_error_body (
        "server_error", NULL, NULL,
        "The server had an error while processing your request. Sorry about that!");

  text = sim_dump (body, &len);
  json_decref (body);
  r = json_response (text, len);
  if (rate_limit)
    {
      gint64 seconds = hit->retry_after >= 0      ? hit->retry_after
                       : hit->retry_after_ms >= 0 ? (hit->retry_after_ms + 999) / 1000
                                                  : 1;
      g_autofree char *s = g_strdup_printf ("%" G_GINT64_FORMAT, seconds);

      MHD_add_response_header (r, MHD_HTTP_HEADER_RETRY_AFTER, s);
      if (hit->retry_after_ms >= 0)
        {
          g_autofree char *ms = g_strdup_printf ("%" G_GINT64_FORMAT, hit->retry_after_ms);
          MHD_add_response_header (r, "retry-after-ms", ms);
        }
    }
  if (should_retry)
    MHD_add_response_header (r, "x-should-retry", should_retry->value ? "true" : "false");
  return sim_reply_response (req, status, r);
}
