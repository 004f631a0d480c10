/* http.c: HTTP over libcurl.
 *
 * Connections: libcurl does not support one connection cache shared by
 * threads running at the same time, so each easy handle keeps its own and
 * idle handles wait in a pool; a thread takes one for a request and gives it
 * back, and the next request (from any thread) reuses its connections.  The
 * DNS cache and TLS sessions are shared by all handles (a CURLSH with locks).
 *
 * Redirects are followed here, not by libcurl, so that every hop is checked
 * like the first URL (http only to loopback) and the token goes only to the
 * scheme, host and port of the original URL, whatever the libcurl version.
 * The URL rules themselves are in http-url.c.
 */
#include "vf-http.h"

#include <curl/curl.h>
#include <string.h>

#include "vf-error.h"

#define MAX_REDIRECTS 5
#define POOL_MAX 16
#define BUFFERED_TIMEOUT_S 120

#define HAVE_PREREQ (LIBCURL_VERSION_NUM >= 0x075000)        /* 7.80.0 */
#define HAVE_PROTOCOLS_STR (LIBCURL_VERSION_NUM >= 0x075500) /* 7.85.0 */

struct vf_http
{
  VfHttpConfig config;
  char *user_agent;
  gboolean debug;
  CURLSH *share;
  GMutex share_locks[CURL_LOCK_DATA_LAST];
  GMutex pool_lock;
  GPtrArray *pool; /* idle CURL handles */
};

void
vf_http_config_init (VfHttpConfig *config)
{
  memset (config, 0, sizeof *config);
  config->connect_timeout_s = 10;
  config->low_speed_time_s = 30;
  config->low_speed_limit = 1;
  config->total_timeout_s = 0;
  config->max_body = 1024 * 1024;
  config->user_agent = NULL;
}

static gpointer
global_init (gpointer data)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
  return NULL;
}

static void
share_lock (CURL *handle, curl_lock_data data, curl_lock_access access, void *user_data)
{
  VfHttp *http = user_data;

  g_mutex_lock (&http->share_locks[data]);
}

static void
share_unlock (CURL *handle, curl_lock_data data, void *user_data)
{
  VfHttp *http = user_data;

  g_mutex_unlock (&http->share_locks[data]);
}

VfHttp *
vf_http_new (const VfHttpConfig *config)
{
  static GOnce once = G_ONCE_INIT;
  VfHttp *http = g_new0 (VfHttp, 1);

  g_once (&once, global_init, NULL);

  if (config)
    http->config = *config;
  else
    vf_http_config_init (&http->config);
  if (http->config.max_body == 0)
    http->config.max_body = 1024 * 1024;
  if (http->config.connect_timeout_s <= 0)
    http->config.connect_timeout_s = 10;
  http->user_agent = http->config.user_agent ? g_strdup (http->config.user_agent)
                                             : g_strdup ("videofs/" PACKAGE_VERSION);
  http->config.user_agent = http->user_agent;
  http->debug = g_getenv ("VIDEOFS_HTTP_DEBUG") != NULL;

  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    g_mutex_init (&http->share_locks[i]);
  g_mutex_init (&http->pool_lock);
  http->pool = g_ptr_array_new ();

  http->share = curl_share_init ();
  curl_share_setopt (http->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt (http->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt (http->share, CURLSHOPT_USERDATA, http);
  curl_share_setopt (http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt (http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

  return http;
}

void
vf_http_free (VfHttp *http)
{
  if (!http)
    return;
  for (guint i = 0; i < http->pool->len; i++)
    curl_easy_cleanup (g_ptr_array_index (http->pool, i));
  g_ptr_array_unref (http->pool);
  curl_share_cleanup (http->share);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    g_mutex_clear (&http->share_locks[i]);
  g_mutex_clear (&http->pool_lock);
  g_free (http->user_agent);
  g_free (http);
}

static CURL *
pool_take (VfHttp *http)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&http->pool_lock);

  if (http->pool->len > 0)
    return g_ptr_array_steal_index_fast (http->pool, http->pool->len - 1);
  return curl_easy_init ();
}

static void
pool_give (VfHttp *http, CURL *curl)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&http->pool_lock);

  /* Reset drops the options (and with them pointers into the finished
   * request) but keeps the handle's live connections. */
  curl_easy_reset (curl);
  if (http->pool->len < POOL_MAX)
    g_ptr_array_add (http->pool, curl);
  else
    curl_easy_cleanup (curl);
}

/* ----- responses ----- */

void
vf_http_response_clear (VfHttpResponse *response)
{
  g_clear_pointer (&response->headers, g_hash_table_unref);
  g_clear_pointer (&response->body, g_byte_array_unref);
  g_clear_pointer (&response->effective_url, g_free);
  response->status = 0;
}

const char *
vf_http_response_header (const VfHttpResponse *response, const char *name)
{
  g_autofree char *key = NULL;

  if (!response->headers)
    return NULL;
  key = g_ascii_strdown (name, -1);
  return g_hash_table_lookup (response->headers, key);
}

/* ----- one exchange ----- */

typedef struct
{
  VfHttp *http;
  const VfHttpRequest *request;
  VfHttpResponse *response;
  const char *bearer;
  gsize max_body;
  int status;            /* of the answer being received */
  gboolean headers_done; /* the final answer's headers are complete */
  gboolean redirect;     /* it is a redirect this module follows */
  gboolean deliver;      /* its body goes to on_data */
  gboolean truncated;    /* an error body cut at max_body */
  gboolean redirect_cut; /* a redirect body abandoned */
  gboolean sending;      /* the request was about to go out */
  gsize discarded;
  GError *error; /* from a callback */
} Transfer;

static gboolean
is_redirect_status (int status)
{
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static size_t
header_cb (char *buffer, size_t size, size_t nitems, void *user_data)
{
  Transfer *t = user_data;
  VfHttpResponse *response = t->response;
  size_t n = size * nitems;
  g_autofree char *line = g_strndup (buffer, n);
  char *colon;

  g_strchomp (line);

  if (g_str_has_prefix (line, "HTTP/"))
    {
      const char *p = strchr (line, ' ');
      char digits[4] = "";
      guint64 status = 0;

      if (p)
        {
          g_strlcpy (digits, p + 1, sizeof digits);
          g_ascii_string_to_unsigned (digits, 10, 100, 999, &status, NULL);
        }
      t->status = (int)status;
      t->headers_done = FALSE;
      t->redirect = FALSE;
      t->deliver = FALSE;
      g_hash_table_remove_all (response->headers);
      return n;
    }

  if (t->headers_done)
    return n; /* trailers */

  if (*line == '\0')
    {
      if (t->status >= 100 && t->status < 200)
        return n; /* 100 Continue and friends: the real answer follows */
      t->headers_done = TRUE;
      response->status = t->status;
      if (is_redirect_status (t->status) && g_hash_table_contains (response->headers, "location"))
        {
          t->redirect = TRUE;
          return n;
        }
      if (t->status >= 200 && t->status < 300)
        {
          if (t->request->on_headers
              && !t->request->on_headers (response, t->request->user_data, &t->error))
            {
              if (!t->error)
                vf_set_error (&t->error, VF_ERROR_PROTOCOL, "answer refused");
              return 0;
            }
          t->deliver = t->request->on_data != NULL;
        }
      return n;
    }

  colon = strchr (line, ':');
  if (colon && colon != line)
    {
      char *name = g_ascii_strdown (line, colon - line);
      char *value = g_strstrip (g_strdup (colon + 1));

      g_hash_table_replace (response->headers, name, value);
    }
  return n;
}

static size_t
write_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
  Transfer *t = user_data;
  GByteArray *body = t->response->body;
  size_t n = size * nmemb;

  if (t->redirect)
    {
      t->discarded += n;
      if (t->discarded > t->max_body)
        {
          t->redirect_cut = TRUE;
          return 0;
        }
      return n;
    }

  if (t->deliver)
    {
      if (!t->request->on_data (data, n, t->request->user_data, &t->error))
        {
          if (!t->error)
            vf_set_error (&t->error, VF_ERROR_FAILED, "download stopped");
          return 0;
        }
      return n;
    }

  if (body->len + n > t->max_body)
    {
      if (t->status >= 200 && t->status < 300)
        {
          g_autofree char *shown = vf_http_url_for_message (t->response->effective_url);

          vf_set_error (&t->error, VF_ERROR_TOO_LARGE,
                        "%s %s: the answer is larger than %" G_GSIZE_FORMAT " bytes",
                        t->request->method ? t->request->method : "GET", shown, t->max_body);
          return 0;
        }
      /* An error answer: its start says enough. */
      g_byte_array_append (body, (const guint8 *)data, t->max_body - body->len);
      t->truncated = TRUE;
      return 0;
    }

  g_byte_array_append (body, (const guint8 *)data, n);
  return n;
}

static int
xferinfo_cb (void *user_data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
             curl_off_t ulnow)
{
  Transfer *t = user_data;

  return t->request->cancellable && g_cancellable_is_cancelled (t->request->cancellable);
}

#if HAVE_PREREQ
static int
prereq_cb (void *user_data, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
           int conn_local_port)
{
  Transfer *t = user_data;

  t->sending = TRUE;
  return CURL_PREREQFUNC_OK;
}
#endif

/* VIDEOFS_HTTP_DEBUG: the exchange in the debug log, with anything that
 * could hold the token taken out. */
static int
debug_cb (CURL *curl, curl_infotype type, char *data, size_t size, void *user_data)
{
  Transfer *t = user_data;
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  const char *tag;

  switch (type)
    {
    case CURLINFO_TEXT:
      tag = "*";
      break;
    case CURLINFO_HEADER_IN:
      tag = "<";
      break;
    case CURLINFO_HEADER_OUT:
      tag = ">";
      break;
    default:
      return 0;
    }
  text = g_strndup (data, size);
  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      g_autofree char *lower = NULL;

      g_strchomp (*l);
      if (!**l)
        continue;
      lower = g_ascii_strdown (*l, -1);
      if (strstr (lower, "authorization") || (t->bearer && *t->bearer && strstr (*l, t->bearer)))
        g_debug ("%s [a line with credentials, not shown]", tag);
      else
        g_debug ("%s %s", tag, *l);
    }
  return 0;
}

static VfErrorCode
code_for_curl (CURLcode res)
{
  switch (res)
    {
    case CURLE_OPERATION_TIMEDOUT:
      return VF_ERROR_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
      return VF_ERROR_TOO_LARGE;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return VF_ERROR_INVALID;
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
      return VF_ERROR_PROTOCOL;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_READ_ERROR:
      return VF_ERROR_FAILED;
    default:
      /* resolve, connect, send, receive, TLS, cut connections */
      return VF_ERROR_NETWORK;
    }
}

/* Whether the request may have reached the server. */
static gboolean
maybe_sent (CURL *curl, CURLcode res, const Transfer *t)
{
  switch (res)
    {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return FALSE;
    default:
      break;
    }
#if HAVE_PREREQ
  /* libcurl calls prereq just before it sends a request: without that call
   * nothing left, whatever went wrong (connect time-out, TLS failure). */
  return t->sending;
#else
  if (res == CURLE_OPERATION_TIMEDOUT)
    {
      curl_off_t connect_us = 0;

      curl_easy_getinfo (curl, CURLINFO_CONNECT_TIME_T, &connect_us);
      return connect_us > 0;
    }
  return TRUE;
#endif
}

static void
set_error_from_curl (GError **error, CURLcode res, const char *detail, const char *method,
                     const char *url, gboolean sent)
{
  g_autofree char *shown = vf_http_url_for_message (url);
  GError *e;

  if (detail && *detail)
    e = g_error_new (VF_ERROR, code_for_curl (res), "%s %s: %s (%s)", method, shown,
                     curl_easy_strerror (res), detail);
  else
    e = g_error_new (VF_ERROR, code_for_curl (res), "%s %s: %s", method, shown,
                     curl_easy_strerror (res));
  vf_error_set_maybe_sent (e, sent);
  g_propagate_error (error, e);
}

static curl_mime *
build_mime (CURL *curl, const VfHttpRequest *request)
{
  curl_mime *mime = curl_mime_init (curl);

  for (gsize i = 0; i < request->n_parts; i++)
    {
      const VfHttpPart *part = &request->parts[i];
      curl_mimepart *p = curl_mime_addpart (mime);

      curl_mime_name (p, part->name);
      if (part->path)
        curl_mime_filedata (p, part->path);
      else if (part->data)
        {
          gsize len;
          const char *data = g_bytes_get_data (part->data, &len);

          curl_mime_data (p, data ? data : "", len);
          curl_mime_filename (p, part->filename ? part->filename : "file");
        }
      else
        curl_mime_data (p, part->value ? part->value : "", CURL_ZERO_TERMINATED);
      if (part->content_type)
        curl_mime_type (p, part->content_type);
    }
  return mime;
}

/* One request to one URL.  On a redirect to follow, *redirect_url is set. */
static gboolean
perform_once (VfHttp *http, const VfHttpRequest *request, const char *method, gboolean with_body,
              const char *url, const char *bearer, int hop, VfHttpResponse *response,
              char **redirect_url, GError **error)
{
  CURL *curl = pool_take (http);
  Transfer t = { 0 };
  struct curl_slist *headers = NULL;
  curl_mime *mime = NULL;
  char errbuf[CURL_ERROR_SIZE] = "";
  long total_timeout;
  CURLcode res;
  gboolean ok = FALSE;

  if (!curl)
    {
      vf_set_error (error, VF_ERROR_FAILED, "cannot make a libcurl handle");
      return FALSE;
    }

  vf_http_response_clear (response);
  response->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  response->body = g_byte_array_new ();
  response->effective_url = g_strdup (url);

  t.http = http;
  t.request = request;
  t.response = response;
  t.bearer = bearer;
  t.max_body = request->max_body ? request->max_body : http->config.max_body;

  total_timeout = http->config.total_timeout_s > 0 ? http->config.total_timeout_s
                  : request->on_data               ? 0
                                                   : BUFFERED_TIMEOUT_S;

  curl_easy_setopt (curl, CURLOPT_SHARE, http->share);
  /* Large reads from the socket: the 16 KiB default halves download speed. */
  if (request->on_data)
    curl_easy_setopt (curl, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
#if HAVE_PROTOCOLS_STR
  curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt (curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt (curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt (curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, http->config.connect_timeout_s);
  curl_easy_setopt (curl, CURLOPT_LOW_SPEED_TIME,
                    request->low_speed_time_s > 0 ? request->low_speed_time_s
                                                  : http->config.low_speed_time_s);
  curl_easy_setopt (curl, CURLOPT_LOW_SPEED_LIMIT, http->config.low_speed_limit);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, total_timeout);
  curl_easy_setopt (curl, CURLOPT_USERAGENT, http->user_agent);
  curl_easy_setopt (curl, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt (curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
  curl_easy_setopt (curl, CURLOPT_XFERINFODATA, &t);
#if HAVE_PREREQ
  curl_easy_setopt (curl, CURLOPT_PREREQFUNCTION, prereq_cb);
  curl_easy_setopt (curl, CURLOPT_PREREQDATA, &t);
#endif
  if (http->debug)
    {
      curl_easy_setopt (curl, CURLOPT_VERBOSE, 1L);
      curl_easy_setopt (curl, CURLOPT_DEBUGFUNCTION, debug_cb);
      curl_easy_setopt (curl, CURLOPT_DEBUGDATA, &t);
    }

  /* libcurl's own Bearer support, never a hand-made header; it is given
   * only for hops to the original host. */
  curl_easy_setopt (curl, CURLOPT_UNRESTRICTED_AUTH, 0L);
  if (bearer && request->token_header)
    {
      g_autofree char *line = g_strdup_printf ("%s: %s", request->token_header, bearer);

      headers = curl_slist_append (headers, line);
      explicit_bzero (line, strlen (line));
    }
  else if (bearer)
    {
      curl_easy_setopt (curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
      curl_easy_setopt (curl, CURLOPT_XOAUTH2_BEARER, bearer);
    }

  if (g_ascii_strcasecmp (method, "GET") == 0)
    curl_easy_setopt (curl, CURLOPT_HTTPGET, 1L);
  else if (g_ascii_strcasecmp (method, "HEAD") == 0)
    curl_easy_setopt (curl, CURLOPT_NOBODY, 1L);
  else if (g_ascii_strcasecmp (method, "POST") == 0)
    {
      if (with_body && request->parts)
        {
          mime = build_mime (curl, request);
          curl_easy_setopt (curl, CURLOPT_MIMEPOST, mime);
        }
      else
        {
          curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE,
                            (curl_off_t)(with_body && request->body ? request->body_len : 0));
          curl_easy_setopt (curl, CURLOPT_POSTFIELDS,
                            with_body && request->body ? request->body : "");
        }
      /* libcurl silently sends a request again when a reused connection
       * turns out dead before any answer; for a POST that could be a second
       * job, so a POST always gets a connection of its own. */
      curl_easy_setopt (curl, CURLOPT_FRESH_CONNECT, 1L);
    }
  else
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);

  headers = curl_slist_append (headers, "Expect:");
  if (with_body && request->body && request->content_type && !request->parts)
    {
      g_autofree char *line = g_strdup_printf ("Content-Type: %s", request->content_type);

      headers = curl_slist_append (headers, line);
    }
  for (const char *const *h = request->extra_headers; h && *h; h++)
    headers = curl_slist_append (headers, *h);
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);

  res = curl_easy_perform (curl);

  if (t.error)
    {
      /* A callback refused the answer: the request had been sent. */
      vf_error_set_maybe_sent (t.error, TRUE);
      g_propagate_error (error, g_steal_pointer (&t.error));
    }
  else if (res == CURLE_ABORTED_BY_CALLBACK && request->cancellable
           && g_cancellable_is_cancelled (request->cancellable))
    g_cancellable_set_error_if_cancelled (request->cancellable, error);
  else if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && (t.truncated || t.redirect_cut)))
    set_error_from_curl (error, res, errbuf, method, url, hop > 0 || maybe_sent (curl, res, &t));
  else
    {
      long status = 0;

      curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
      response->status = (int)status;
      if (t.redirect && is_redirect_status (response->status))
        {
          char *target = NULL;

          curl_easy_getinfo (curl, CURLINFO_REDIRECT_URL, &target);
          if (target)
            *redirect_url = g_strdup (target);
        }
      ok = TRUE;
    }

  curl_slist_free_all (headers);
  pool_give (http, curl);
  if (mime)
    curl_mime_free (mime);
  return ok;
}

gboolean
vf_http_perform (VfHttp *http, const VfHttpRequest *request, VfHttpResponse *response,
                 GError **error)
{
  g_autofree char *url = g_strdup (request->url);
  g_autofree char *origin = NULL;
  const char *method = request->method ? request->method : "GET";
  gboolean with_body = TRUE;

  vf_http_response_clear (response);

  if (!vf_http_url_allowed (url, error))
    {
      vf_error_set_maybe_sent (error ? *error : NULL, FALSE);
      return FALSE;
    }
  if (g_cancellable_set_error_if_cancelled (request->cancellable, error))
    return FALSE;
  origin = vf_http_url_origin (url);

  for (int hop = 0;; hop++)
    {
      g_autofree char *target = NULL;
      g_autofree char *here = vf_http_url_origin (url);
      const char *bearer = NULL;

      if (request->bearer && here && origin && strcmp (here, origin) == 0)
        bearer = request->bearer;

      if (!perform_once (http, request, method, with_body, url, bearer, hop, response, &target,
                         error))
        return FALSE;
      if (!target)
        return TRUE;

      if (hop == MAX_REDIRECTS)
        {
          g_autofree char *shown = vf_http_url_for_message (request->url);
          GError *e = g_error_new (VF_ERROR, VF_ERROR_PROTOCOL, "%s %s: more than %d redirects",
                                   method, shown, MAX_REDIRECTS);

          g_propagate_error (error, e);
          return FALSE;
        }
      if (!vf_http_url_allowed (target, error))
        {
          g_prefix_error (error, "redirected to a refused URL: ");
          return FALSE;
        }
      g_debug ("following a %d redirect", response->status);
      /* 303 means "GET the answer there"; 301 and 302 keep a POST a POST,
       * so a create sent to /videos reaches /videos/ intact. */
      if (response->status == 303 && g_ascii_strcasecmp (method, "HEAD") != 0)
        {
          method = "GET";
          with_body = FALSE;
        }
      g_free (url);
      url = g_steal_pointer (&target);
    }
}
