/* cache-testing.h: the content cache's entry points that only the tests
 * use, on top of vf-cache.h.
 *
 * A VfCacheEntry pins its file (no eviction, no unloading) until
 * vf_cache_close(); every entry must be closed before vf_cache_free().
 * Reads through it copy into the caller's buffer, as vf_cache_read() does.
 * Thread-safe, as the rest of the cache.
 */
#pragma once

#include "vf-cache.h"

G_BEGIN_DECLS

typedef struct vf_cache_entry VfCacheEntry;

/* (task, variant) loaded and pinned, as an open file would hold it. */
VfCacheEntry *vf_cache_open (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total,
                             GError **error);
gssize vf_cache_entry_read (VfCacheEntry *entry, void *buf, gsize len, gint64 offset,
                            GCancellable *cancellable, GError **error);
gboolean vf_cache_entry_is_whole (VfCacheEntry *entry);
void vf_cache_close (VfCacheEntry *entry);

/* vf_cache_read_fd(), copied into buf by one whole pread() of the
 * descriptor. */
gssize vf_cache_read (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total,
                      void *buf, gsize len, gint64 offset, GCancellable *cancellable,
                      GError **error);

/* Bytes of all entries on disk. */
guint64 vf_cache_usage (VfCache *cache);
/* Waits until the files that became complete are in place under their
 * plain names, and the maps asked for are saved (readers get the last
 * bytes of a file before that). */
void vf_cache_flush (VfCache *cache);

G_END_DECLS
