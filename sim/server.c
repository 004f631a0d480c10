/* server.c: the HTTP side of videofs-sim: libmicrohttpd with one thread per
 * connection (so that a held answer never stalls the others), and the life
 * of a request in it.
 *
 * A request is routed once, on its first callback, so that it is counted in
 * the stats as soon as it arrives; its body is gathered (JSON as raw bytes,
 * forms through MHD's post processor) and it is answered on the last
 * callback, by routes.c, after --latency's round trip (two on a
 * connection's first answer, its set-up).  When it completes, a sendfile
 * answer's bytes are counted and the request is freed.
 */
#include "shape.h"
#include "sim.h"

#include <netinet/in.h>
#include <sys/socket.h>

#define BODY_CAP (1024 * 1024)        /* JSON bodies and form fields */
#define UPLOAD_CAP (64 * 1024 * 1024) /* a form's files, counted, not kept */

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
      struct sim_file *file
          = req->files->len ? g_ptr_array_index (req->files, req->files->len - 1) : NULL;

      req->form_has_file = TRUE;
      if (!req->form_error && !g_str_equal (key, "input_reference")
          && req->call != SIM_CALL_IMAGE_EDIT)
        req->form_error = g_strdup (key);
      if (off + size > UPLOAD_CAP)
        {
          req->body_too_large = TRUE;
          return MHD_YES;
        }
      if (!file || off == 0 || !g_str_equal (file->field, key))
        {
          file = g_new0 (struct sim_file, 1);
          file->field = g_strdup (key);
          file->filename = g_strdup (filename);
          file->content_type = g_strdup (content_type);
          file->data = g_byte_array_new ();
          g_ptr_array_add (req->files, file);
        }
      g_byte_array_append (file->data, (const guint8 *)data, (guint)size);
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
file_free (gpointer p)
{
  struct sim_file *file = p;

  g_free (file->field);
  g_free (file->filename);
  g_free (file->content_type);
  g_byte_array_unref (file->data);
  g_free (file);
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
      req->files = g_ptr_array_new_with_free_func (file_free);
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
  if (req->files)
    g_ptr_array_unref (req->files);
  g_free (req->form_error);
  g_free (req->id);
  g_free (req);
}

/* What a connection keeps across its requests (its socket context). */
struct conn_state
{
  gboolean answered;
};

static void
notify_connection (void *cls, struct MHD_Connection *conn, void **socket_context,
                   enum MHD_ConnectionNotificationCode code)
{
  if (code == MHD_CONNECTION_NOTIFY_STARTED)
    *socket_context = g_new0 (struct conn_state, 1);
  else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
    g_clear_pointer (socket_context, g_free);
}

static void
round_trip (struct sim_request *req)
{
  const union MHD_ConnectionInfo *info;
  struct conn_state *state;

  if (req->route->api == SIM_ROUTE_CONTROL)
    return;
  info = MHD_get_connection_info (req->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  state = info ? info->socket_context : NULL;
  sim_shape_round_trip (state && !state->answered);
  if (state)
    state->answered = TRUE;
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
      req->route = sim_route_find (method, url, &req->id);
      req->call = req->route->call;
      sim_stats_count (req->call);
      if (!g_str_equal (method, "GET") && !req->is_head && req->route->api != SIM_ROUTE_CONTROL)
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
  if (req->post)
    {
      if (MHD_destroy_post_processor (req->post) != MHD_YES && !req->form_error)
        req->form_error = g_strdup ("multipart");
      req->post = NULL;
    }
  round_trip (req);
  return sim_route_answer (req);
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
          guint64 acked = sim_bytes_acked (conn);
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
  daemon = MHD_start_daemon (
      MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
          | MHD_USE_ERROR_LOG,
      port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED,
      completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, NULL,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)300, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)256 * 1024, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_EXTERNAL_LOGGER, log_mhd,
      NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 256, MHD_OPTION_END);
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
