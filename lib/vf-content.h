/* vf-content.h: one checked GET of a task's content, below the protocols.
 *
 * The bytes of a video, thumbnail or sprite sheet are fetched from the URL
 * a protocol gives (vf_client_content() in vf-client.h finds it); the answer
 * is checked before any byte reaches the sink: a JSON (or text) body, a
 * Content-Range other than the one asked for, or an If-Range mismatch fail
 * with VF_ERROR_PROTOCOL; after the body, a short or long body fails the
 * same way (the sink has then seen a prefix: callers must treat the bytes
 * as unconfirmed until TRUE is returned).
 *
 * Ownership: a VfContentInfo's strings belong to it (vf_content_info_clear()
 * frees them, and every call here clears it first); the endpoint and URL
 * are borrowed.  Thread-safe as VfHttp is.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

struct vf_endpoint; /* call-private.h, which users of the client need not see */

typedef struct
{
  int status;         /* 200 or 206 */
  gint64 total_size;  /* whole size of the content, from Content-Range or Content-Length; -1 */
  gint64 start;       /* first byte this answer carries */
  gint64 length;      /* bytes this answer carries (Content-Length), -1 if unknown */
  gboolean ranges;    /* the server honours Range (206 seen, or Accept-Ranges: bytes) */
  char *etag;         /* or NULL */
  char *content_type; /* or NULL */
  guint8 head[16];    /* the content's first bytes, when this answer starts at 0 */
  gsize head_len;
} VfContentInfo;

void vf_content_info_clear (VfContentInfo *info);

/* Called once per chunk, in order, starting at info->start. */
typedef gboolean (*VfContentSink) (const void *data, gsize len, gpointer user_data, GError **error);

/* GET bytes [offset, offset + length) of the content at url (length -1: to
 * the end; offset 0 and length -1: no Range header), with the bearer when
 * `bearer`.  Not retried: the caller resumes from what it has.  info may be
 * NULL. */
gboolean vf_content_get (const struct vf_endpoint *endpoint, const char *url, gboolean bearer,
                         gint64 offset, gint64 length, const char *if_range, VfContentSink sink,
                         gpointer user_data, VfContentInfo *info, GCancellable *cancellable,
                         GError **error);

/* The size, ETag and first bytes (info->head) of the content at url,
 * without the rest (a Range request of sizeof info->head bytes, retried
 * like a read). */
gboolean vf_content_probe (const struct vf_endpoint *endpoint, const char *url, gboolean bearer,
                           VfContentInfo *info, GError **error);

/* Whether a content call failed because the API no longer has the content
 * (the one definition of expiry): VF_ERROR_EXPIRED, which a pre-signed URL
 * answering 403 gives, or VF_ERROR_NOT_FOUND that came with an HTTP status
 * (404 or 410 from the content URL: OpenAI's expired content, a storage
 * host's missing key).  A NOT_FOUND with no HTTP status is no answer of the
 * API's (a variant the protocol does not have, a task with no video_url
 * yet, a cache entry removed): not gone.  Neither is any other error. */
gboolean vf_content_error_is_gone (const GError *error);

/* Whether a content call was refused with 400, as a gateway's proxy is
 * until the gateway has seen the job finish: not a failure, but content
 * that is not there yet. */
gboolean vf_content_error_is_not_ready (const GError *error);

G_END_DECLS
