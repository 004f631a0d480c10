/* responder.c: a tiny HTTP server on 127.0.0.1 for redirect tests. */
#include "responder.h"

#include <string.h>

struct _Responder
{
  ResponderMode mode;
  char *target;
  GSocket *listener;
  int port;
  GCancellable *cancellable;
  GThread *thread;
  GMutex lock;
  GPtrArray *requests;
};

static void
request_free (gpointer data)
{
  ResponderRequest *r = data;

  g_free (r->method);
  g_free (r->path);
  g_free (r->authorization);
  g_free (r);
}

/* Reads the head of a request and skips its body. */
static char *
read_head (GSocket *socket, GCancellable *cancellable)
{
  GString *head = g_string_new (NULL);
  char buf[4096];
  char *end;
  gsize content_length = 0;
  gsize have;

  while (!strstr (head->str, "\r\n\r\n"))
    {
      gssize n = g_socket_receive (socket, buf, sizeof buf, cancellable, NULL);

      if (n <= 0)
        {
          g_string_free (head, TRUE);
          return NULL;
        }
      g_string_append_len (head, buf, n);
    }
  end = strstr (head->str, "\r\n\r\n") + 4;
  have = head->len - (end - head->str);
  {
    g_autofree char *lower = g_ascii_strdown (head->str, end - head->str);
    const char *cl = strstr (lower, "\r\ncontent-length:");

    if (cl)
      content_length = g_ascii_strtoull (cl + strlen ("\r\ncontent-length:"), NULL, 10);
  }
  while (have < content_length)
    {
      gssize n = g_socket_receive (socket, buf, MIN (sizeof buf, content_length - have),
                                   cancellable, NULL);

      if (n <= 0)
        break;
      have += n;
    }
  g_string_truncate (head, end - head->str);
  return g_string_free (head, FALSE);
}

static ResponderRequest *
parse_head (const char *head)
{
  ResponderRequest *r = g_new0 (ResponderRequest, 1);
  g_auto (GStrv) lines = g_strsplit (head, "\r\n", -1);
  g_auto (GStrv) first = g_strsplit (lines[0], " ", 3);

  r->method = g_strdup (first[0]);
  r->path = g_strdup (first[1] ? first[1] : "");
  for (char **l = lines + 1; *l; l++)
    if (g_ascii_strncasecmp (*l, "authorization:", 14) == 0)
      r->authorization = g_strdup (g_strstrip (*l + 14));
  return r;
}

static char *
answer_for (Responder *responder, const ResponderRequest *r)
{
  const char *video = "{\"id\": \"video_redirected\", \"object\": \"video\", \"status\": "
                      "\"queued\", \"progress\": 0}";

  switch (responder->mode)
    {
    case RESPONDER_TO_OTHER:
      return g_strdup_printf ("HTTP/1.1 307 Temporary Redirect\r\nLocation: %s%s\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n",
                              responder->target, r->path);
    case RESPONDER_SAME_ORIGIN:
      if (g_str_has_prefix (r->path, "/v1/"))
        return g_strdup_printf ("HTTP/1.1 307 Temporary Redirect\r\nLocation: /v2/%s\r\n"
                                "Content-Length: 0\r\nConnection: close\r\n\r\n",
                                r->path + 4);
      return g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                              strlen (video), video);
    case RESPONDER_LOOP:
      return g_strdup_printf ("HTTP/1.1 302 Found\r\nLocation: %sx\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n",
                              r->path);
    case RESPONDER_TO_TARGET:
    default:
      return g_strdup_printf ("HTTP/1.1 302 Found\r\nLocation: %s\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n",
                              responder->target);
    }
}

static gpointer
serve (gpointer data)
{
  Responder *responder = data;

  for (;;)
    {
      g_autoptr (GSocket) socket
          = g_socket_accept (responder->listener, responder->cancellable, NULL);
      g_autofree char *head = NULL;
      g_autofree char *answer = NULL;
      ResponderRequest *r;

      if (!socket)
        break;
      head = read_head (socket, responder->cancellable);
      if (!head)
        continue;
      r = parse_head (head);
      answer = answer_for (responder, r);
      g_mutex_lock (&responder->lock);
      g_ptr_array_add (responder->requests, r);
      g_mutex_unlock (&responder->lock);
      g_socket_send_with_blocking (socket, answer, strlen (answer), TRUE, responder->cancellable,
                                   NULL);
      g_socket_shutdown (socket, FALSE, TRUE, NULL);
      g_socket_close (socket, NULL);
    }
  return NULL;
}

Responder *
responder_start (ResponderMode mode, const char *target)
{
  Responder *responder = g_new0 (Responder, 1);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;

  responder->mode = mode;
  responder->target = g_strdup (target);
  responder->cancellable = g_cancellable_new ();
  responder->requests = g_ptr_array_new_with_free_func (request_free);
  g_mutex_init (&responder->lock);

  responder->listener
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (responder->listener, address, TRUE, &error);
  g_assert_no_error (error);
  g_socket_listen (responder->listener, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (responder->listener, &error);
  g_assert_no_error (error);
  responder->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  responder->thread = g_thread_new ("responder", serve, responder);
  return responder;
}

int
responder_port (Responder *responder)
{
  return responder->port;
}

GPtrArray *
responder_requests (Responder *responder)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func (request_free);

  g_mutex_lock (&responder->lock);
  for (guint i = 0; i < responder->requests->len; i++)
    {
      const ResponderRequest *r = g_ptr_array_index (responder->requests, i);
      ResponderRequest *c = g_new0 (ResponderRequest, 1);

      c->method = g_strdup (r->method);
      c->path = g_strdup (r->path);
      c->authorization = g_strdup (r->authorization);
      g_ptr_array_add (copy, c);
    }
  g_mutex_unlock (&responder->lock);
  return copy;
}

void
responder_stop (Responder *responder)
{
  g_cancellable_cancel (responder->cancellable);
  g_thread_join (responder->thread);
  g_socket_close (responder->listener, NULL);
  g_object_unref (responder->listener);
  g_object_unref (responder->cancellable);
  g_ptr_array_unref (responder->requests);
  g_mutex_clear (&responder->lock);
  g_free (responder->target);
  g_free (responder);
}
