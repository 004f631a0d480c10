/* request.c: what a handler reads of its request beyond its route and
 * id: query arguments, the body as JSON, and how much of an answer the
 * peer has acknowledged.  server.c fills the request; this only reads it.
 */
#include "sim.h"

#include <netinet/in.h>
#include <linux/tcp.h>
#include <sys/socket.h>

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

guint64
sim_bytes_acked (struct MHD_Connection *conn)
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
