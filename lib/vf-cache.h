/* vf-cache.h: the streaming content cache.
 *
 * One entry per (task id, variant).  While it is incomplete its bytes live
 * in a sparse file CACHE_DIR/ID/VARIANT.part, with the byte ranges present
 * recorded in CACHE_DIR/ID/VARIANT.ranges (with the total size and the
 * ETag); a range is recorded only after its bytes were written (and, with
 * sync_data, synced), and the map is replaced atomically every few tens of
 * MiB by a thread of its own, so a half-fetched file resumes after a
 * restart.  Once whole, the same thread syncs the file, renames it to
 * CACHE_DIR/ID/VARIANT and removes the map: a file under its plain name is
 * always whole.  Readers and the done callback do not wait for that.
 *
 * A read waits only for its own bytes.  Downloads are Range requests
 * started where readers need bytes, small at first and growing while they
 * are read in sequence; readers near a download share it, so each byte is
 * fetched and written once.  They run on a small pool of threads.  A
 * response with a wrong Content-Range or an error body contributes no byte;
 * a cut one keeps what arrived and resumes from there.
 *
 * Thread-safe: one lock inside guards it all, and no call holds it across
 * the network or a disk sync.  Tasks passed in are borrowed (copied where
 * kept); strings and descriptors returned are the caller's.  Every read
 * must have returned before vf_cache_free().  cache-testing.h adds what
 * only the tests use.
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "vf-client.h"
#include "vf-retry.h"

G_BEGIN_DECLS

typedef struct vf_cache VfCache;

/* Called on a pool thread with no lock held: with error NULL when every
 * byte of (id, variant) arrived, else when a download gave up. */
typedef void (*VfCacheDoneFunc) (const char *id, VfVariant variant, const GError *error,
                                 gpointer user_data);

typedef struct
{
  guint64 cache_max;    /* 0: no cap; else least recently used idle files go first */
  int threads;          /* downloads for readers at once; default 4 */
  int prefetch_threads; /* prefetches at once; default 2 */
  int max_tries;        /* tries per range without progress; default 5 */
  VfRetryPolicy retry;  /* back-off between tries (base 200 ms, max 3 s) */
  gint64 first_chunk;   /* bytes of a download's first request; default 1 MiB */
  gint64 max_chunk;     /* requests double up to this; default 64 MiB */
  gint64 join_distance; /* a read this far ahead of a download waits for it; default 4 MiB */
  gboolean sync_data;   /* fdatasync the data before recording it; default TRUE */
  VfCacheDoneFunc done;
  gpointer user_data;
} VfCacheConfig;

void vf_cache_config_init (VfCacheConfig *config);

/* Creates `dir` if needed and takes stock of what it holds.  The client is
 * borrowed and must outlive the cache. */
VfCache *vf_cache_new (VfClient *client, const char *dir, const VfCacheConfig *config,
                       GError **error);
/* Stops downloads (keeping what arrived) and waits for the pool. */
void vf_cache_free (VfCache *cache);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfCache, vf_cache_free)

/* Waits until the `len` bytes at `offset` of (task, variant) are there
 * (fewer only at the end) and returns how many (0 at or past the end), and
 * when that is more than 0 a new descriptor in *fd_out (the caller's to
 * close) to pread() or splice them from; the bytes there stay as they are
 * while it is open.
 *
 * `total` is the size the API announced; a cached entry of another size is
 * discarded, and a download of another size is refused (VF_ERROR_PROTOCOL).
 * -1 on failure: 404 is VF_ERROR_NOT_FOUND, a full disk VF_ERROR_NO_SPACE,
 * a download that kept failing VF_ERROR_PROTOCOL / NETWORK / SERVER /
 * TIMEOUT, another failure of the cache's disk a G_IO_ERROR, a cancelled
 * wait G_IO_ERROR_CANCELLED (the download goes on). */
gssize vf_cache_read_fd (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total,
                         gsize len, gint64 offset, int *fd_out, GCancellable *cancellable,
                         GError **error);

/* Whether all `total` bytes of (id, variant) are cached. */
gboolean vf_cache_is_whole (VfCache *cache, const char *id, VfVariant variant, gint64 total);
/* Bytes of (id, variant) present in the cache (0 when unknown). */
/* An O_RDONLY fd of the whole file of (id, variant), of size `total`, for
 * reading with no copy through the cache; -1 when it is not whole (yet).
 * The caller closes it.  Takes no lock and never waits on the network. */
int vf_cache_open_whole (VfCache *cache, const char *id, VfVariant variant, gint64 total);
guint64 vf_cache_cached_bytes (VfCache *cache, const char *id, VfVariant variant);

/* Starts fetching all of (task, variant) in the background unless it is
 * whole or a prefetch of it runs already. */
void vf_cache_prefetch (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total);

/* Forgets every cached byte of `id`: downloads stop, waiting reads fail
 * with VF_ERROR_NOT_FOUND, files are removed. */
void vf_cache_drop (VfCache *cache, const char *id);

G_END_DECLS
