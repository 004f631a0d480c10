/* cache-private.h: what the files of the content cache share.
 *
 * The cache is one engine in sibling files, each one topic, listed from
 * the bottom up: each calls only the files before it (tools/check-layers
 * checks it; cache-entry.c queues streams that the pools hand to
 * cache-fetch.c through a pointer):
 *
 *   cache-entry.c  entries and streams: references, lookup, the pool queue
 *   cache-disk.c   the sparse part file and the range map on disk
 *   cache-evict.c  unloading idle entries, evicting to fit cache_max
 *   cache-flush.c  the flusher thread: saving maps, putting files in place
 *   cache-fetch.c  downloads: planning requests, writing what arrives
 *   cache-read.c   how a read waits for its bytes
 *   cache.c        the public API (vf-cache.h, cache-testing.h)
 *
 * Locks, in the order they are taken:
 *
 *   Entry.save_lock  serialises the writing of one entry's map; taken
 *                    before cache->lock, never while holding it.
 *   VfCache.lock     guards every field below (of the cache, its entries
 *                    and their streams) except the bytes themselves:
 *                    pwrite() and pread() run with no lock held, on ranges
 *                    that the lock says nobody else is writing.  No disk
 *                    sync and no network exchange happens under it.
 *
 * Entry.whole is also read without the lock (atomically): once set, the
 * file is under its plain name and its descriptor does not change until
 * the entry is unloaded, which readers prevent.
 *
 * Ownership: the table holds a reference to each entry; so does every
 * stream queued in a pool, every reader and every open file (a stream
 * holds no reference to its entry: whoever holds the stream holds the
 * entry).  An entry holds a reference to each of its streams.  Functions
 * named *_locked want cache->lock held.
 */
#pragma once

#include "vf-cache.h"
#include "vf-error.h"
#include "vf-fdio.h"
#include "vf-rangeset.h"

G_BEGIN_DECLS

#define MIB (G_GINT64_CONSTANT (1024) * 1024)
#define SAVE_EVERY (32 * MIB)
#define WRITE_BATCH (256 * 1024) /* bytes of an answer written at once */
#define WRITE_DIRECT (64 * 1024) /* a piece this big is written as it is, not copied */
#define SKIP_LIMIT MIB
#define MAX_IDLE_STREAMS 8
#define MAX_LOADED 64 /* entries with an open file; idle ones beyond are unloaded */
#define MAP_MAGIC "videofs-ranges 1"

typedef struct vf_cache_entry Entry;

typedef enum
{
  STREAM_IDLE,
  STREAM_QUEUED,
  STREAM_RUNNING,
  STREAM_FAILED,
} StreamState;

/* A download: a cursor that issues one request after another. */
typedef struct
{
  int ref;
  Entry *entry; /* not a reference: whoever holds the stream holds the entry */
  StreamState state;
  gboolean in_pool;   /* a job for it waits in a pool's queue */
  gboolean prefetch;  /* fetch every gap, not only what readers want */
  gboolean whole;     /* everything from byte 0: the server ignores Range */
  gint64 pos;         /* the next byte it fetches */
  gint64 chunk_start; /* its current or last request is [chunk_start, req_end) */
  gint64 req_end;
  gint64 chunk; /* size of its next request */
  gint64 want;  /* the furthest byte readers asked of it */
  gint64 rate;  /* bytes per second of its last request, once known */
  gint64 wait;  /* µs from sending its last request to the answer's first bytes */
  int waiters;  /* readers blocked on it */
  int tries;    /* failed tries since the last progress */
  int prio;     /* in a pool's queue, 0 before 1 */
  guint64 seq;
  GError *error; /* when FAILED */
  GCancellable *cancellable;
} Stream;

struct vf_cache_entry
{
  int ref;
  VfCache *cache;
  char *key;
  char *id;
  VfVariant variant;
  char *dir_path;
  char *whole_path;
  char *part_path;
  char *map_path;
  char *tmp_path;
  VfTask *task;
  gboolean loaded;
  gboolean whole_on_disk; /* before loading: the plain name exists */
  gint64 total;
  char *etag;
  int fd;           /* -1 unloaded, or after a reset that could make no file */
  GError *fd_error; /* why a loaded entry has no file; its readers fail with it */
  GArray *old_fds;  /* files left by a reset, closed with the entry */
  VfRangeSet *present;
  int whole; /* atomic: all bytes present and the file under its plain name */
  gboolean no_ranges;
  gboolean dropped;
  guint gen; /* bumped when the bytes are discarded: older writes no longer count */
  guint64 disk_bytes;
  gint64 last_used; /* unix µs */
  int opens;
  int readers;
  int saving;
  GPtrArray *streams; /* Stream*, references; failed ones leave */
  GCond cond;         /* with cache->lock: bytes arrived, a stream stopped */
  gint64 wake_at;     /* broadcast when a run of present bytes reaches this */
  guint64 unsaved;
  gboolean flush_queued; /* in the flusher's queue, with a reference */
  gboolean completed;    /* every byte arrived, and it was reported */
  GMutex save_lock;      /* before cache->lock: one map written at a time */
};

struct vf_cache
{
  VfClient *client;
  char *dir;
  VfCacheConfig config;
  GMutex lock;         /* after any save_lock; guards all below */
  GCond closing_cond;  /* the cache closes or an entry goes: back-offs end */
  GHashTable *entries; /* key -> Entry*, a reference */
  GThreadPool *pool;
  GThreadPool *prefetch_pool;
  gboolean closing;
  guint64 usage;
  guint64 seq;
  guint loaded; /* entries with an open file */
  GThread *flusher;
  GCond flush_cond;
  GQueue flush_queue; /* Entry*, references: maps to save, files to finish */
  gboolean flushing;  /* the flusher works on one */
  GCond flushed_cond; /* broadcast when the queue is empty and it rests */
  gboolean flusher_stop;
};

/* cache-entry.c */
Entry *cache_entry_new (VfCache *cache, const char *id, VfVariant variant);
void cache_entry_unref_locked (Entry *e);
Entry *cache_entry_get_locked (VfCache *cache, const char *id, VfVariant variant, GError **error);
Entry *cache_entry_lookup_locked (VfCache *cache, const char *id, VfVariant variant);
void cache_entry_set_task_locked (Entry *e, const VfTask *task);
void cache_entry_set_disk_bytes_locked (Entry *e, guint64 bytes);
void cache_entry_broadcast_locked (Entry *e);
Stream *cache_stream_new_locked (VfCache *cache, Entry *e, gint64 pos, gint64 chunk,
                                 gboolean prefetch);
void cache_stream_unref_locked (Stream *s);
gboolean cache_stream_active (const Stream *s);
void cache_entry_prune_idle_locked (Entry *e);
void cache_kick_locked (VfCache *cache, Stream *s, int prio);
/* The size of a followed stream's next request: double its last, or more
 * when the link's round trip would cost too much of it (cache-fetch.c). */
gint64 cache_next_chunk_locked (VfCache *cache, Stream *s);
gint cache_pool_order (gconstpointer a, gconstpointer b, gpointer user_data);
Stream *cache_owner_locked (VfCache *cache, Entry *e, const Stream *self, gint64 g);

/* cache-disk.c */
gboolean cache_set_disk_error (GError **error, int errsv, const char *what, const char *path);
gboolean cache_etag_storable (const char *etag);
char *cache_map_text_locked (Entry *e);
void cache_entry_unlink_files (Entry *e);
gboolean cache_entry_load_locked (VfCache *cache, Entry *e, gint64 total, GError **error);
gboolean cache_entry_reset_locked (Entry *e, const char *etag, const char *why, GError **error);
void cache_scan_dir (VfCache *cache);

/* cache-evict.c */
void cache_entry_remove_locked (VfCache *cache, Entry *e, GPtrArray *to_cancel);
void cache_trim_loaded_locked (VfCache *cache);
void cache_evict_locked (VfCache *cache);

/* cache-flush.c */
void cache_flush_queue_locked (VfCache *cache, Entry *e);
gboolean cache_note_complete_locked (VfCache *cache, Entry *e);
void cache_entry_save (VfCache *cache, Entry *e);
void cache_flusher_stop (VfCache *cache);

/* cache-fetch.c */
void cache_pool_run (gpointer data, gpointer user_data);

/* cache-read.c */
gssize cache_entry_read_fd (VfCache *cache, Entry *e, gsize len, gint64 offset, int *fd_out,
                            GCancellable *cancellable, GError **error);

G_END_DECLS
