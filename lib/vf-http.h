/* vf-http.h: HTTP over libcurl for lib/.
 *
 * One VfHttp per process; it keeps a connection cache shared by all
 * threads (a CURLSH with locks), so requests reuse connections.  Every
 * request has a connect time-out and a low-speed time-out, so none can hang
 * forever.  Redirects are followed (at most 5, http and https only) and the
 * bearer token is sent only to the host of the original URL.  http:// is
 * refused unless the host is a loopback address.
 *
 * vf_http_perform() returns TRUE for any HTTP status: turning a status into
 * an error is the caller's business.  It fails only on transport errors,
 * with VF_ERROR_NETWORK / VF_ERROR_TIMEOUT / VF_ERROR_TOO_LARGE and the
 * maybe-sent flag set correctly.  (http.c; the URL rules: http-url.c.)
 *
 * Ownership: requests are borrowed for the call; a response's headers,
 * body and URL belong to it until vf_http_response_clear(); returned
 * strings belong to the caller.  A VfHttp is shared by threads and freed by
 * its owner once no request runs.
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

G_BEGIN_DECLS

typedef struct vf_http VfHttp;

typedef struct
{
  long connect_timeout_s; /* default 10 */
  long low_speed_time_s;  /* default 30: below low_speed_limit for that long is a time-out */
  long low_speed_limit;   /* bytes/s, default 1 */
  long total_timeout_s;   /* 0: none (downloads); buffered calls use 120 */
  gsize max_body;         /* cap for buffered bodies, default 1 MiB */
  const char *user_agent; /* default "videofs/VERSION" */
} VfHttpConfig;

void vf_http_config_init (VfHttpConfig *config);

VfHttp *vf_http_new (const VfHttpConfig *config);
void vf_http_free (VfHttp *http);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfHttp, vf_http_free)

/* One multipart form field: a value, or a file (when path or data is set;
 * data goes with the file name `filename`). */
typedef struct
{
  const char *name;
  const char *value;
  const char *path;
  const char *content_type;
  GBytes *data;
  const char *filename;
} VfHttpPart;

typedef struct _VfHttpResponse VfHttpResponse;

/* Streaming callbacks: on_headers once the status and headers are known
 * (return FALSE with *error set to abort), on_data for every chunk of a 2xx
 * body (likewise).  Without on_data the body is buffered up to max_body.
 * Both are called only for a 2xx answer (redirects are followed first);
 * other answers come back in the response with their body buffered. */
typedef gboolean (*VfHttpHeadersFunc) (const VfHttpResponse *response, gpointer user_data,
                                       GError **error);
typedef gboolean (*VfHttpDataFunc) (const void *data, gsize len, gpointer user_data,
                                    GError **error);

typedef struct
{
  const char *method; /* "GET", "POST", "DELETE", "HEAD" */
  const char *url;
  const char *bearer;       /* token or NULL; sent only to the URL's own host */
  const char *token_header; /* the bearer as "NAME: TOKEN" (Google's x-goog-api-key) rather
                             * than Authorization: Bearer; NULL: the latter */
  const char *content_type; /* of body */
  const char *body;
  gsize body_len;
  const VfHttpPart *parts; /* multipart/form-data instead of body */
  gsize n_parts;
  const char *const *extra_headers; /* "Name: value", NULL-terminated, or NULL */
  VfHttpHeadersFunc on_headers;
  VfHttpDataFunc on_data;
  gpointer user_data;
  gsize max_body;        /* 0: the config's */
  long low_speed_time_s; /* 0: the config's (an answer that is minutes in the making sets more) */
  GCancellable *cancellable;
} VfHttpRequest;

struct _VfHttpResponse
{
  int status;
  GHashTable *headers; /* lower-case name -> last value */
  GByteArray *body;    /* buffered body (non-2xx bodies are always buffered, capped) */
  char *effective_url;
};

void vf_http_response_clear (VfHttpResponse *response);
const char *vf_http_response_header (const VfHttpResponse *response, const char *name);

/* `response` must be zeroed or cleared; it is filled even when FALSE is
 * returned after an answer began (clear it either way). */
gboolean vf_http_perform (VfHttp *http, const VfHttpRequest *request, VfHttpResponse *response,
                          GError **error);

/* Whether a URL may be used: https anywhere, http only to loopback. */
gboolean vf_http_url_allowed (const char *url, GError **error);

/* The URL as error messages show it: no user, password, query or fragment
 * (a pre-signed URL carries its signature in the query). */
char *vf_http_url_for_message (const char *url);

/* scheme://host:port, lower case, with the default port made explicit; NULL
 * for a URL that does not parse.  The bearer goes only to the origin of the
 * URL it was given for. */
char *vf_http_url_origin (const char *url);

G_END_DECLS
