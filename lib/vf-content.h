/* vf-content.h: the content cache behind video.mp4 and its siblings.
 *
 * Bytes of a completed task live in CACHE_DIR/ID/VARIANT ("video",
 * "thumbnail", "spritesheet").  A file there is always whole and checked:
 * a download goes to a hidden temporary file, is checked against the size
 * the API announced when the job completed, and only then renamed into
 * place, so a reader never sees a byte the API did not send.
 *
 * One download per (id, variant) at a time, shared by every reader that
 * waits for it; downloads run on a small pool of threads, so a reader that
 * is interrupted does not stop the download others wait for.
 *
 * Thread-safe.  Tasks passed in are borrowed (copied where kept).
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "vf-client.h"

G_BEGIN_DECLS

typedef struct vf_content VfContent;

/* Called on a pool thread, with no lock held, after each download of
 * (id, variant) ended: `error` is NULL on success. */
typedef void (*VfContentDoneFunc) (const char *id, VfVariant variant, const GError *error,
                                   gpointer user_data);

/* `cache_max`: 0 for no cap; else the oldest whole files are removed once
 * the cache holds more. */
VfContent *vf_content_new (VfClient *client, const char *cache_dir, guint64 cache_max,
                           VfContentDoneFunc done, gpointer user_data);
/* Cancels downloads in flight and waits for the pool. */
void vf_content_free (VfContent *content);

/* Whether all `total` bytes of (id, variant) are in the cache. */
gboolean vf_content_is_cached (VfContent *content, const char *id, VfVariant variant, gint64 total);

/* Reads from the cache, first downloading the whole of (task, variant) if
 * it is not there.  `total` is the size the API announced; a download of
 * any other size is refused (VF_ERROR_PROTOCOL).  404 is VF_ERROR_NOT_FOUND.
 * Returns the bytes read (0 at or past the end) or -1. */
gssize vf_content_read (VfContent *content, const VfTask *task, VfVariant variant, gint64 total,
                        void *buf, gsize len, gint64 offset, GCancellable *cancellable,
                        GError **error);

/* Starts a background download unless (task, variant) is cached or on its
 * way.  At most two prefetches run at once. */
void vf_content_prefetch (VfContent *content, const VfTask *task, VfVariant variant, gint64 total);

/* Drops every cached byte of `id` (cancelling its downloads). */
void vf_content_drop (VfContent *content, const char *id);

G_END_DECLS
