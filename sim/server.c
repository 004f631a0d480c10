/* server.c: the HTTP side of videofs-sim: libmicrohttpd with one thread per
 * connection (so that a held answer never stalls the others), routing,
 * bearer checks, the 429/5xx faults and the helpers every answer uses.
 *
 * A request is routed once, on its first callback, so that it is counted in
 * the stats as soon as it arrives; its body is gathered (JSON as raw bytes,
 * forms through MHD's post processor) and it is answered on the last
 * callback.
 */
#include "sim.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <sys/socket.h>

#define BODY_CAP (1024 * 1024)        /* JSON bodies and form fields */
#define UPLOAD_CAP (64 * 1024 * 1024) /* a form's files, counted, not kept */

enum route
{
  ROUTE_NOT_FOUND,
  ROUTE_BAD_METHOD,
  ROUTE_CREATE,
  ROUTE_LIST,
  ROUTE_RETRIEVE,
  ROUTE_DELETE,
  ROUTE_CONTENT,
  ROUTE_REMIX,
  ROUTE_ARK_CREATE,
  ROUTE_ARK_LIST,
  ROUTE_ARK_RETRIEVE,
  ROUTE_ARK_DELETE,
  ROUTE_FILES_INDEX,
  ROUTE_FILE,
  ROUTE_CONTROL,
};

enum family
{
  FAMILY_OPENAI,
  FAMILY_ARK,
  FAMILY_PLAIN, /* /files, /_sim and the rest: no bearer */
};

#define OPENAI_PREFIX "/v1/"
#define VIDEOS "/v1/videos"
#define ARK_PREFIX "/api/v3/"
#define TASKS "/api/v3/contents/generations/tasks"

/* --- small helpers --- */

gboolean
sim_sleep_ms (gint64 ms)
{
  gint64 until = g_get_monotonic_time () + ms * 1000;

  while (!g_atomic_int_get (&sim.stopping))
    {
      gint64 left = until - g_get_monotonic_time ();
      if (left <= 0)
        return TRUE;
      g_usleep (MIN (left, 20000));
    }
  return FALSE;
}

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

static char *
sig_for (const char *id)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);

  g_checksum_update (sum, (const guchar *)sim.sig_key, (gssize)strlen (sim.sig_key));
  g_checksum_update (sum, (const guchar *)id, (gssize)strlen (id));
  return g_strndup (g_checksum_get_string (sum), 32);
}

char *
sim_presigned_url (const char *id, gsize id_len, const char *ext)
{
  g_autofree char *escaped = g_uri_escape_string (id, NULL, FALSE);
  g_autofree char *sig = sig_for (id);

  return g_strdup_printf ("http://127.0.0.1:%u/files/%s.%s?sig=%s", sim.port, escaped, ext, sig);
}

gboolean
sim_sig_ok (const char *id, const char *sig)
{
  g_autofree char *want = sig_for (id);

  return g_str_equal (want, sig);
}

const char *
sim_request_arg (struct sim_request *req, const char *key)
{
  return MHD_lookup_connection_value (req->conn, MHD_GET_ARGUMENT_KIND, key);
}

json_t *
sim_request_json (struct sim_request *req, json_error_t *error)
{
  if (!req->body || req->body->len == 0)
    {
      g_strlcpy (error->text, "empty body", sizeof error->text);
      return NULL;
    }
  return json_loadb ((const char *)req->body->data, req->body->len, JSON_REJECT_DUPLICATES, error);
}

/* --- answers --- */

static guint64
bytes_acked (struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *info
      = MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  struct tcp_info ti;
  socklen_t len = sizeof ti;

  memset (&ti, 0, sizeof ti);
  if (!info || getsockopt (info->connect_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
    return 0;
  return ti.tcpi_bytes_acked;
}

enum MHD_Result
sim_reply_response (struct sim_request *req, unsigned int status, struct MHD_Response *response)
{
  enum MHD_Result ret;

  MHD_add_response_header (response, "x-request-id", req->request_id);
  if (req->fd_body_len)
    req->acked_at_start = bytes_acked (req->conn);
  ret = MHD_queue_response (req->conn, status, response);
  MHD_destroy_response (response);
  return ret;
}

enum MHD_Result
sim_reply_json_with (struct sim_request *req, unsigned int status, json_t *body, const char *header,
                     const char *value)
{
  gsize len = 0;
  char *text = sim_dump (body, &len);
  struct MHD_Response *r = MHD_create_response_from_buffer (len, text, MHD_RESPMEM_MUST_FREE);

  json_decref (body);
  MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  if (header)
    MHD_add_response_header (r, header, value);
  return sim_reply_response (req, status, r);
}

enum MHD_Result
sim_reply_json (struct sim_request *req, unsigned int status, json_t *body)
{
  return sim_reply_json_with (req, status, body, NULL, NULL);
}

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

enum MHD_Result
sim_reply_openai_error (struct sim_request *req, unsigned int status, const char *type,
                        const char *param, const char *code, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (!g_utf8_validate (message, -1, NULL))
    {
      g_free (message);
      message = g_strdup ("Invalid request.");
    }
  return sim_reply_json (req, status, openai_error_body (type, param, code, message));
}

static json_t *
ark_error_body (struct sim_request *req, const char *code, const char *type, const char *param,
                const char *message)
{
  g_autofree char *full = g_strdup_printf ("%s Request id: %s", message, req->request_id);

  return json_pack ("{s:{s:s, s:s, s:s, s:s}}", "error", "code", code, "message", full, "param",
                    param ? param : "", "type", type);
}

enum MHD_Result
sim_reply_ark_error (struct sim_request *req, unsigned int status, const char *code,
                     const char *type, const char *param, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (!g_utf8_validate (message, -1, NULL))
    {
      g_free (message);
      message = g_strdup ("Invalid request.");
    }
  return sim_reply_json (req, status, ark_error_body (req, code, type, param, message));
}

/* --- create-time faults --- */

gboolean
sim_create_faults (struct sim_request *req)
{
  struct sim_fault_hit hit;

  if (sim_faults_take (SIM_FAULT_DROP_CREATE, req->call, &hit))
    return FALSE;
  if (sim_faults_take (SIM_FAULT_HANG_CREATE, req->call, &hit))
    {
      guint generation = sim_faults_generation ();
      gint64 t0 = g_get_monotonic_time ();

      while (!g_atomic_int_get (&sim.stopping))
        {
          if (hit.seconds_ms >= 0 && g_get_monotonic_time () - t0 >= hit.seconds_ms * 1000)
            break;
          if (sim_faults_generation () != generation)
            break;
          g_usleep (20000);
        }
      if (g_atomic_int_get (&sim.stopping))
        return FALSE;
    }
  return TRUE;
}

/* --- routing --- */

static gboolean
is (const char *method, const char *want)
{
  return g_str_equal (method, want);
}

static enum family
family_of (const char *url)
{
  if (g_str_has_prefix (url, OPENAI_PREFIX))
    return FAMILY_OPENAI;
  if (g_str_has_prefix (url, ARK_PREFIX))
    return FAMILY_ARK;
  return FAMILY_PLAIN;
}

/* An id taken from the end of a path, minus `suffix`; NULL if none. */
static char *
id_before (const char *rest, const char *suffix)
{
  gsize n = strlen (rest), s = strlen (suffix);

  if (n <= s || !g_str_has_suffix (rest, suffix))
    return NULL;
  return g_strndup (rest, n - s);
}

static void
route (struct sim_request *req)
{
  const char *url = req->url;
  const char *m = req->method;
  gboolean get = is (m, "GET") || is (m, "HEAD");
  enum route r = ROUTE_NOT_FOUND;
  char *id = NULL;

  if (g_str_has_prefix (url, "/_sim/"))
    r = ROUTE_CONTROL;
  else if (g_str_equal (url, "/files") || g_str_equal (url, "/files/"))
    r = get ? ROUTE_FILES_INDEX : ROUTE_BAD_METHOD;
  else if (g_str_has_prefix (url, "/files/") && url[7])
    {
      r = get ? ROUTE_FILE : ROUTE_BAD_METHOD;
      id = g_strdup (url + 7);
    }
  else if (g_str_equal (url, VIDEOS) || g_str_equal (url, VIDEOS "/"))
    r = is (m, "POST") ? ROUTE_CREATE : get ? ROUTE_LIST : ROUTE_BAD_METHOD;
  else if (g_str_has_prefix (url, VIDEOS "/"))
    {
      const char *rest = url + strlen (VIDEOS "/");

      if ((id = id_before (rest, "/content")))
        r = get ? ROUTE_CONTENT : ROUTE_BAD_METHOD;
      else if ((id = id_before (rest, "/remix")))
        r = is (m, "POST") ? ROUTE_REMIX : ROUTE_BAD_METHOD;
      else
        {
          id = g_strdup (rest);
          r = get ? ROUTE_RETRIEVE : is (m, "DELETE") ? ROUTE_DELETE : ROUTE_BAD_METHOD;
        }
    }
  else if (g_str_equal (url, TASKS) || g_str_equal (url, TASKS "/"))
    r = is (m, "POST") ? ROUTE_ARK_CREATE : get ? ROUTE_ARK_LIST : ROUTE_BAD_METHOD;
  else if (g_str_has_prefix (url, TASKS "/"))
    {
      id = g_strdup (url + strlen (TASKS "/"));
      r = get ? ROUTE_ARK_RETRIEVE : is (m, "DELETE") ? ROUTE_ARK_DELETE : ROUTE_BAD_METHOD;
    }

  req->route = r;
  req->id = id;
  switch (r)
    {
    case ROUTE_CREATE:
      req->call = SIM_CALL_CREATE;
      break;
    case ROUTE_LIST:
      req->call = SIM_CALL_LIST;
      break;
    case ROUTE_RETRIEVE:
      req->call = SIM_CALL_RETRIEVE;
      break;
    case ROUTE_DELETE:
      req->call = SIM_CALL_DELETE;
      break;
    case ROUTE_CONTENT:
      req->call = SIM_CALL_CONTENT;
      break;
    case ROUTE_REMIX:
      req->call = SIM_CALL_REMIX;
      break;
    case ROUTE_ARK_CREATE:
      req->call = SIM_CALL_ARK_CREATE;
      break;
    case ROUTE_ARK_LIST:
      req->call = SIM_CALL_ARK_LIST;
      break;
    case ROUTE_ARK_RETRIEVE:
      req->call = SIM_CALL_ARK_RETRIEVE;
      break;
    case ROUTE_ARK_DELETE:
      req->call = SIM_CALL_ARK_DELETE;
      break;
    case ROUTE_FILE:
      req->call = SIM_CALL_FILE;
      break;
    case ROUTE_CONTROL:
      req->call = g_str_has_prefix (url, "/_sim/truth/") ? SIM_CALL_NONE : SIM_CALL_CONTROL;
      break;
    case ROUTE_FILES_INDEX:
    case ROUTE_NOT_FOUND:
    case ROUTE_BAD_METHOD:
    default:
      req->call = SIM_CALL_OTHER;
      break;
    }
}

/* --- bodies --- */

static enum MHD_Result
post_field (void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
            const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
            size_t size)
{
  struct sim_request *req = cls;
  GString *value;

  if (!key)
    return MHD_YES;
  value = g_hash_table_lookup (req->form, key);
  if (!value)
    {
      value = g_string_new (NULL);
      g_hash_table_insert (req->form, g_strdup (key), value);
    }
  if (filename)
    {
      /* a file: only its size matters */
      req->form_has_file = TRUE;
      if (!req->form_error && !g_str_equal (key, "input_reference"))
        req->form_error = g_strdup (key);
      if (off + size > UPLOAD_CAP)
        req->body_too_large = TRUE;
      return MHD_YES;
    }
  if (value->len + size > BODY_CAP)
    {
      req->body_too_large = TRUE;
      return MHD_YES;
    }
  g_string_append_len (value, data, (gssize)size);
  return MHD_YES;
}

static void
string_free (gpointer s)
{
  g_string_free (s, TRUE);
}

static void
start_body (struct sim_request *req)
{
  const char *type
      = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

  if (type
      && (g_ascii_strncasecmp (type, "multipart/form-data", 19) == 0
          || g_ascii_strncasecmp (type, "application/x-www-form-urlencoded", 33) == 0))
    {
      req->form = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, string_free);
      req->post = MHD_create_post_processor (req->conn, 16 * 1024, post_field, req);
      if (!req->post)
        req->form_error = g_strdup ("multipart");
    }
}

static void
take_body (struct sim_request *req, const char *data, size_t size)
{
  if (req->form)
    {
      if (req->post && !req->form_error && MHD_post_process (req->post, data, size) != MHD_YES)
        req->form_error = g_strdup ("multipart");
      return;
    }
  if (!req->body)
    req->body = g_byte_array_new ();
  if (req->body->len + size > BODY_CAP)
    {
      req->body_too_large = TRUE;
      return;
    }
  g_byte_array_append (req->body, (const guint8 *)data, (guint)size);
}

static void
request_free (struct sim_request *req)
{
  if (req->post)
    MHD_destroy_post_processor (req->post);
  if (req->body)
    g_byte_array_unref (req->body);
  if (req->form)
    g_hash_table_unref (req->form);
  g_free (req->form_error);
  g_free (req->id);
  g_free (req);
}

/* --- dispatch --- */

static gboolean
bearer_ok (struct sim_request *req)
{
  const char *auth;

  if (!sim.token)
    return TRUE;
  auth = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  return auth && g_ascii_strncasecmp (auth, "Bearer ", 7) == 0 && g_str_equal (auth + 7, sim.token);
}

static enum MHD_Result
reply_unauthorized (struct sim_request *req, enum family family)
{
  sim_stats_unauthorized ();
  if (family == FAMILY_ARK)
    return sim_reply_ark_error (req, MHD_HTTP_UNAUTHORIZED, "AuthenticationError", "Unauthorized",
                                NULL, "The API key in the request is missing or invalid.");
  return sim_reply_openai_error (req, MHD_HTTP_UNAUTHORIZED, "invalid_request_error", NULL,
                                 "invalid_api_key",
                                 "Incorrect API key provided: ********. You can find your API "
                                 "key at https://platform.openai.com/account/api-keys.");
}

/* The 429 and 5xx faults; TRUE when one answered. */
static gboolean
error_faults (struct sim_request *req, enum family family, enum MHD_Result *ret)
{
  struct sim_fault_hit hit, retry;
  gboolean have_retry;
  unsigned int status;
  json_t *body;
  gsize len = 0;
  char *text;
  struct MHD_Response *r;

  if (sim_faults_take (SIM_FAULT_429, req->call, &hit))
    {
      status = MHD_HTTP_TOO_MANY_REQUESTS;
      if (family == FAMILY_ARK || req->call == SIM_CALL_FILE)
        body = ark_error_body (req, "RateLimitExceeded.EndpointRPMExceeded", "TooManyRequests",
                               NULL, "The request has exceeded the rate limit.");
      else
        body = openai_error_body ("requests", NULL, "rate_limit_exceeded",
                                  "Rate limit reached for requests. Please try again later.");
    }
  else if (sim_faults_take (SIM_FAULT_5XX, req->call, &hit))
    {
      status = (unsigned int)hit.status;
      if (family == FAMILY_ARK || req->call == SIM_CALL_FILE)
        body = ark_error_body (req, "InternalServiceError", "InternalServerError", NULL,
                               "The service encountered an unexpected internal error.");
      else
        body = openai_error_body (
            "server_error", NULL, NULL,
            "The server had an error while processing your request. Sorry about that!");
    }
  else
    return FALSE;

  have_retry = sim_faults_take (SIM_FAULT_SHOULD_RETRY, req->call, &retry);
  text = sim_dump (body, &len);
  json_decref (body);
  r = MHD_create_response_from_buffer (len, text, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  if (status == MHD_HTTP_TOO_MANY_REQUESTS)
    {
      gint64 seconds = hit.retry_after >= 0      ? hit.retry_after
                       : hit.retry_after_ms >= 0 ? (hit.retry_after_ms + 999) / 1000
                                                 : 1;
      g_autofree char *s = g_strdup_printf ("%" G_GINT64_FORMAT, seconds);

      MHD_add_response_header (r, MHD_HTTP_HEADER_RETRY_AFTER, s);
      if (hit.retry_after_ms >= 0)
        {
          g_autofree char *ms = g_strdup_printf ("%" G_GINT64_FORMAT, hit.retry_after_ms);
          MHD_add_response_header (r, "retry-after-ms", ms);
        }
    }
  if (have_retry)
    MHD_add_response_header (r, "x-should-retry", retry.value ? "true" : "false");
  *ret = sim_reply_response (req, status, r);
  return TRUE;
}

static enum MHD_Result
reply_not_found (struct sim_request *req, enum family family)
{
  if (family == FAMILY_ARK)
    return sim_reply_ark_error (req, MHD_HTTP_NOT_FOUND, "NotFound", "NotFound", NULL,
                                "The requested resource %s %s was not found.", req->method,
                                req->url);
  return sim_reply_openai_error (req, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL, NULL,
                                 "Invalid URL (%s %s)", req->method, req->url);
}

static enum MHD_Result
reply_bad_method (struct sim_request *req, enum family family)
{
  if (family == FAMILY_ARK)
    return sim_reply_ark_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed",
                                "MethodNotAllowed", NULL, "Method %s is not allowed on %s.",
                                req->method, req->url);
  return sim_reply_openai_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", NULL,
                                 "method_not_allowed", "Method not allowed (%s %s)", req->method,
                                 req->url);
}

static enum MHD_Result
dispatch (struct sim_request *req)
{
  enum family family = family_of (req->url);
  enum MHD_Result ret;

  if (req->post)
    {
      if (MHD_destroy_post_processor (req->post) != MHD_YES && !req->form_error)
        req->form_error = g_strdup ("multipart");
      req->post = NULL;
    }

  if (req->route == ROUTE_CONTROL)
    return sim_control (req);
  if (family != FAMILY_PLAIN && !bearer_ok (req))
    return reply_unauthorized (req, family);
  if (req->body_too_large)
    {
      if (family == FAMILY_ARK)
        return sim_reply_ark_error (req, MHD_HTTP_CONTENT_TOO_LARGE, "InvalidParameter",
                                    "BadRequest", NULL, "The request body is too large.");
      return sim_reply_openai_error (req, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", NULL,
                                     NULL, "The request body is too large.");
    }
  if (req->route == ROUTE_NOT_FOUND)
    return reply_not_found (req, family);
  if (req->route == ROUTE_BAD_METHOD)
    return reply_bad_method (req, family);
  if (req->route == ROUTE_FILE
      && MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION))
    sim_stats_bearer_on_presigned ();
  if (error_faults (req, family, &ret))
    return ret;

  switch ((enum route)req->route)
    {
    case ROUTE_CREATE:
      return sim_openai_create (req);
    case ROUTE_LIST:
      return sim_openai_list (req);
    case ROUTE_RETRIEVE:
      return sim_openai_retrieve (req);
    case ROUTE_DELETE:
      return sim_openai_delete (req);
    case ROUTE_CONTENT:
      return sim_openai_content (req);
    case ROUTE_REMIX:
      return sim_openai_remix (req);
    case ROUTE_ARK_CREATE:
      return sim_ark_create (req);
    case ROUTE_ARK_LIST:
      return sim_ark_list (req);
    case ROUTE_ARK_RETRIEVE:
      return sim_ark_retrieve (req);
    case ROUTE_ARK_DELETE:
      return sim_ark_delete (req);
    case ROUTE_FILES_INDEX:
      return sim_files_index (req);
    case ROUTE_FILE:
      return sim_files_get (req);
    case ROUTE_NOT_FOUND:
    case ROUTE_BAD_METHOD:
    case ROUTE_CONTROL:
    default:
      return reply_not_found (req, family);
    }
}

static enum MHD_Result
handle (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
        const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
  struct sim_request *req = *con_cls;

  if (!req)
    {
      g_autofree char *hex = NULL;

      req = g_new0 (struct sim_request, 1);
      req->conn = conn;
      req->url = url;
      req->method = method;
      req->is_head = g_str_equal (method, "HEAD");
      hex = g_strdup_printf ("%08x%08x%08x%08x", g_random_int (), g_random_int (), g_random_int (),
                             g_random_int ());
      g_snprintf (req->request_id, sizeof req->request_id, "req_%s", hex);
      route (req);
      sim_stats_count (req->call);
      if (!is (method, "GET") && !is (method, "HEAD") && req->route != ROUTE_CONTROL)
        start_body (req);
      *con_cls = req;
      return MHD_YES;
    }
  if (*upload_data_size)
    {
      take_body (req, upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }
  return dispatch (req);
}

static void
completed (void *cls, struct MHD_Connection *conn, void **con_cls,
           enum MHD_RequestTerminationCode toe)
{
  struct sim_request *req = *con_cls;

  if (!req)
    return;
  if (req->fd_body_len)
    {
      /* A sendfile answer: all of it, or what the peer acknowledged. */
      if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        sim_stats_add_content_bytes (req->fd_body_len);
      else
        {
          guint64 acked = bytes_acked (conn);
          guint64 sent = acked > req->acked_at_start ? acked - req->acked_at_start : 0;
          sim_stats_add_content_bytes (MIN (sent, req->fd_body_len));
        }
    }
  request_free (req);
  *con_cls = NULL;
}

static void
log_mhd (void *cls, const char *format, va_list ap)
{
  g_autofree char *message = g_strdup_vprintf (format, ap);

  g_debug ("microhttpd: %s", g_strchomp (message));
}

struct MHD_Daemon *
sim_server_start (guint16 port, GError **error)
{
  struct sockaddr_in addr;
  struct MHD_Daemon *daemon;
  const union MHD_DaemonInfo *info;

  memset (&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons (port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  daemon = MHD_start_daemon (MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD
                                 | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
                             port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)300,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
                             MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_EXTERNAL_LOGGER,
                             log_mhd, NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 256, MHD_OPTION_END);
  if (!daemon)
    {
      g_set_error (error, SIM_ERROR, 0, "cannot listen on 127.0.0.1:%u", port);
      return NULL;
    }
  info = MHD_get_daemon_info (daemon, MHD_DAEMON_INFO_BIND_PORT);
  sim.port = info ? info->port : port;
  return daemon;
}

void
sim_server_stop (struct MHD_Daemon *daemon)
{
  g_atomic_int_set (&sim.stopping, 1);
  MHD_stop_daemon (daemon);
}

/* Answers an object, padded by oversize_json, with an optional poll hint. */
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
  r = MHD_create_response_from_buffer (len, text, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  if (poll_after_ms >= 0)
    {
      g_autofree char *s = g_strdup_printf ("%" G_GINT64_FORMAT, poll_after_ms);
      MHD_add_response_header (r, "openai-poll-after-ms", s);
    }
  return sim_reply_response (req, MHD_HTTP_OK, r);
}
