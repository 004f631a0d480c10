/* cache.c: the streaming content cache (see vf-cache.h).
 *
 * Everything below is guarded by the cache's one lock, `cache->lock`,
 * except the bytes themselves: pwrite() and pread() run with no lock held,
 * on ranges that the lock says nobody else is writing.  Map files are
 * written under the entry's `save_lock` (taken before the cache's lock),
 * renamed and removed under the cache's lock.
 *
 * Maps are saved by one flusher thread, not by the downloads: a save
 * takes a snapshot of the ranges present, fdatasyncs the file, then
 * writes a map of that snapshot, so the map lags the file but never
 * claims a byte that a power loss could zero, and the downloads never
 * wait for the disk.  Readers see the bytes as soon as they are written,
 * the last ones too: the same thread later syncs a complete file and
 * renames it into place.
 */
#include "vf-cache.h"
#include "vf-error.h"
#include "vf-rangeset.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
  int fd;
  GArray *old_fds; /* files left by a reset, closed with the entry */
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
  GCond cond;
  gint64 wake_at; /* broadcast when a run of present bytes reaches this */
  guint64 unsaved;
  gboolean flush_queued; /* in the flusher's queue, with a reference */
  gboolean completed;    /* every byte arrived, and it was reported */
  GMutex save_lock;
};

struct vf_cache
{
  VfClient *client;
  char *dir;
  VfCacheConfig config;
  GMutex lock;
  GCond closing_cond;
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

void
vf_cache_config_init (VfCacheConfig *config)
{
  memset (config, 0, sizeof *config);
  config->threads = 4;
  config->prefetch_threads = 2;
  config->max_tries = 5;
  vf_retry_policy_init (&config->retry);
  config->retry.base_ms = 200;
  config->retry.max_ms = 3000;
  config->retry.max_hint_ms = 10000;
  config->first_chunk = MIB;
  config->max_chunk = 64 * MIB;
  config->join_distance = 4 * MIB;
  config->sync_data = TRUE;
}

/* ----- small helpers ----- */

static void
set_errno_error (GError **error, int errsv, const char *what, const char *path)
{
  VfErrorCode code = errsv == ENOSPC || errsv == EDQUOT ? VF_ERROR_NO_SPACE : VF_ERROR_FAILED;

  vf_set_error (error, code, "%s %s: %s", what, path, g_strerror (errsv));
}

static int
pwrite_all (int fd, const char *p, gsize len, gint64 offset)
{
  while (len > 0)
    {
      ssize_t n = pwrite (fd, p, len, offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno;
      if (n == 0)
        return EIO;
      p += n;
      len -= n;
      offset += n;
    }
  return 0;
}

static int
pread_all (int fd, char *p, gsize len, gint64 offset)
{
  while (len > 0)
    {
      ssize_t n = pread (fd, p, len, offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno;
      if (n == 0)
        return EIO; /* the file is shorter than its map says */
      p += n;
      len -= n;
      offset += n;
    }
  return 0;
}

static gint64
now_us (void)
{
  return g_get_real_time ();
}

static gboolean
etag_storable (const char *etag)
{
  if (!etag || !*etag || strlen (etag) > 512)
    return FALSE;
  for (const char *p = etag; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return FALSE;
  return TRUE;
}

/* ----- entries and streams ----- */

static Entry *
entry_new (VfCache *cache, const char *id, VfVariant variant)
{
  Entry *e = g_new0 (Entry, 1);
  const char *name = vf_variant_name (variant);

  e->ref = 1;
  e->cache = cache;
  e->id = g_strdup (id);
  e->variant = variant;
  e->key = g_strdup_printf ("%s/%s", id, name);
  e->dir_path = g_build_filename (cache->dir, id, NULL);
  e->whole_path = g_build_filename (e->dir_path, name, NULL);
  e->part_path = g_strdup_printf ("%s.part", e->whole_path);
  e->map_path = g_strdup_printf ("%s.ranges", e->whole_path);
  e->tmp_path = g_strdup_printf ("%s.ranges.tmp", e->whole_path);
  e->total = -1;
  e->fd = -1;
  e->old_fds = g_array_new (FALSE, FALSE, sizeof (int));
  e->present = vf_range_set_new ();
  e->streams = g_ptr_array_new ();
  e->wake_at = G_MAXINT64;
  g_cond_init (&e->cond);
  g_mutex_init (&e->save_lock);
  return e;
}

static void
stream_unref_locked (Stream *s)
{
  if (--s->ref > 0)
    return;
  g_clear_error (&s->error);
  g_object_unref (s->cancellable);
  g_free (s);
}

static void
entry_unref_locked (Entry *e)
{
  if (--e->ref > 0)
    return;
  if (e->loaded)
    e->cache->loaded--;
  for (guint i = 0; i < e->streams->len; i++)
    stream_unref_locked (e->streams->pdata[i]);
  g_ptr_array_unref (e->streams);
  if (e->fd >= 0)
    close (e->fd);
  for (guint i = 0; i < e->old_fds->len; i++)
    close (g_array_index (e->old_fds, int, i));
  g_array_unref (e->old_fds);
  vf_range_set_free (e->present);
  vf_task_free (e->task);
  g_free (e->etag);
  g_free (e->key);
  g_free (e->id);
  g_free (e->dir_path);
  g_free (e->whole_path);
  g_free (e->part_path);
  g_free (e->map_path);
  g_free (e->tmp_path);
  g_cond_clear (&e->cond);
  g_mutex_clear (&e->save_lock);
  g_free (e);
}

static void
entry_broadcast_locked (Entry *e)
{
  g_cond_broadcast (&e->cond);
  e->wake_at = G_MAXINT64;
}

static Stream *
stream_new_locked (VfCache *cache, Entry *e, gint64 pos, gint64 chunk, gboolean prefetch)
{
  Stream *s = g_new0 (Stream, 1);

  s->ref = 1; /* the entry's */
  s->entry = e;
  s->state = STREAM_IDLE;
  s->prefetch = prefetch;
  s->whole = e->no_ranges;
  s->pos = pos;
  s->chunk_start = -1;
  s->req_end = -1;
  s->chunk = CLAMP (chunk, cache->config.first_chunk, cache->config.max_chunk);
  s->want = pos;
  s->cancellable = g_cancellable_new ();
  g_ptr_array_add (e->streams, s);
  return s;
}

static gboolean
stream_active (const Stream *s)
{
  return s->state == STREAM_QUEUED || s->state == STREAM_RUNNING;
}

/* Idle streams are kept as cursors that remember how far a sequence got
 * (and how big its requests have grown); too many are pruned. */
static void
entry_prune_idle_locked (Entry *e)
{
  guint idle = 0;

  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *s = e->streams->pdata[i];

      if (s->state == STREAM_IDLE && !s->in_pool && s->waiters == 0)
        idle++;
    }
  for (guint i = 0; i < e->streams->len && idle > MAX_IDLE_STREAMS;)
    {
      Stream *s = e->streams->pdata[i];

      if (s->state == STREAM_IDLE && !s->in_pool && s->waiters == 0)
        {
          g_ptr_array_remove_index (e->streams, i);
          stream_unref_locked (s);
          idle--;
        }
      else
        i++;
    }
}

static void
kick_locked (VfCache *cache, Stream *s, int prio)
{
  s->state = STREAM_QUEUED;
  if (s->in_pool)
    return;
  s->in_pool = TRUE;
  s->prio = prio;
  s->seq = cache->seq++;
  s->ref++;
  s->entry->ref++;
  g_thread_pool_push (s->prefetch ? cache->prefetch_pool : cache->pool, s, NULL);
}

static gint
pool_order (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const Stream *x = a;
  const Stream *y = b;

  if (x->prio != y->prio)
    return x->prio < y->prio ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The stream that will fetch byte g: one active within reach below it (or
 * the whole-file stream of a server that ignores Range).  Queued
 * prefetches do not count: they pick their place when they start. */
static Stream *
owner_locked (VfCache *cache, Entry *e, const Stream *self, gint64 g)
{
  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *s = e->streams->pdata[i];

      if (s == self || !stream_active (s) || (s->prefetch && s->state == STREAM_QUEUED))
        continue;
      if (s->whole)
        return s;
      if (s->pos <= g && g - s->pos <= cache->config.join_distance)
        return s;
    }
  return NULL;
}

/* ----- the map on disk ----- */

static char *
map_text_locked (Entry *e)
{
  GString *text = g_string_new (MAP_MAGIC "\n");
  gint64 start, end;

  g_string_append_printf (text, "total %" G_GINT64_FORMAT "\n", e->total);
  if (e->etag)
    g_string_append_printf (text, "etag %s\n", e->etag);
  for (guint i = 0; vf_range_set_nth (e->present, i, &start, &end); i++)
    g_string_append_printf (text, "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n", start, end);
  return g_string_free (text, FALSE);
}

static gboolean
parse_int64 (const char *text, gint64 *value)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXINT64, &v, NULL))
    return FALSE;
  *value = (gint64)v;
  return TRUE;
}

/* Reads a map; FALSE if it is missing, malformed or of another size. */
static gboolean
map_load (const char *path, gint64 total, VfRangeSet *present, char **etag)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  gboolean have_total = FALSE;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  lines = g_strsplit (text, "\n", -1);
  if (!lines[0] || strcmp (lines[0], MAP_MAGIC) != 0)
    return FALSE;
  for (guint i = 1; lines[i]; i++)
    {
      const char *line = lines[i];
      g_auto (GStrv) words = NULL;
      gint64 a, b;

      if (!*line)
        continue;
      if (g_str_has_prefix (line, "total "))
        {
          if (!parse_int64 (line + 6, &a) || a != total)
            return FALSE;
          have_total = TRUE;
          continue;
        }
      if (g_str_has_prefix (line, "etag "))
        {
          if (!etag_storable (line + 5))
            return FALSE;
          g_free (*etag);
          *etag = g_strdup (line + 5);
          continue;
        }
      words = g_strsplit (line, " ", -1);
      if (g_strv_length (words) != 2 || !parse_int64 (words[0], &a) || !parse_int64 (words[1], &b)
          || a >= b || b > total)
        return FALSE;
      vf_range_set_add (present, a, b);
    }
  return have_total;
}

static void
entry_unlink_files (Entry *e)
{
  g_unlink (e->whole_path);
  g_unlink (e->part_path);
  g_unlink (e->map_path);
  g_unlink (e->tmp_path);
}

static void
entry_set_disk_bytes_locked (Entry *e, guint64 bytes)
{
  e->cache->usage -= MIN (e->disk_bytes, e->cache->usage);
  e->disk_bytes = bytes;
  e->cache->usage += bytes;
}

/* A fresh, empty part file of `total` bytes. */
static gboolean
entry_create_part_locked (Entry *e, GError **error)
{
  int fd;

  entry_unlink_files (e);
  fd = open (e->part_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      set_errno_error (error, errno, "Cannot create", e->part_path);
      return FALSE;
    }
  if (ftruncate (fd, e->total) < 0)
    {
      int errsv = errno;

      close (fd);
      g_unlink (e->part_path);
      set_errno_error (error, errsv, "Cannot size", e->part_path);
      return FALSE;
    }
  if (e->fd >= 0)
    g_array_append_val (e->old_fds, e->fd); /* downloads in flight may still write to it */
  e->fd = fd;
  return TRUE;
}

/* Forgets every byte: the content changed, or its size did.  Downloads in
 * flight stop at their next chunk, and whatever they still write goes to
 * the old, unlinked file. */
static void
entry_reset_locked (Entry *e, const char *etag, const char *why)
{
  g_autoptr (GError) error = NULL;

  g_message ("%s: %s; fetching it again", e->key, why);
  e->gen++;
  vf_range_set_clear (e->present);
  g_atomic_int_set (&e->whole, 0);
  entry_set_disk_bytes_locked (e, 0);
  g_free (e->etag);
  e->etag = etag_storable (etag) ? g_strdup (etag) : NULL;
  e->no_ranges = FALSE;
  e->unsaved = 0;
  e->completed = FALSE;
  if (!entry_create_part_locked (e, &error))
    g_message ("%s", error->message);
  entry_broadcast_locked (e);
}

static gboolean
entry_load_locked (VfCache *cache, Entry *e, gint64 total, GError **error)
{
  struct stat st;

  if (e->dropped)
    {
      vf_set_error (error, VF_ERROR_NOT_FOUND, "%s was removed", e->key);
      return FALSE;
    }
  if (total < 0)
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s: unknown size", e->key);
      return FALSE;
    }
  if (e->loaded && e->total == total)
    return TRUE;
  if (e->loaded)
    {
      /* The API announced another size: what we have is of older content. */
      e->total = total;
      entry_reset_locked (e, NULL, "the announced size changed");
      return e->fd >= 0;
    }

  if (g_mkdir_with_parents (e->dir_path, 0700) < 0)
    {
      set_errno_error (error, errno, "Cannot create", e->dir_path);
      return FALSE;
    }
  e->total = total;
  if (stat (e->whole_path, &st) == 0 && S_ISREG (st.st_mode) && st.st_size == total)
    {
      e->fd = open (e->whole_path, O_RDWR | O_CLOEXEC);
      if (e->fd < 0)
        {
          set_errno_error (error, errno, "Cannot open", e->whole_path);
          return FALSE;
        }
      g_unlink (e->part_path);
      g_unlink (e->map_path);
      vf_range_set_add (e->present, 0, total);
      g_atomic_int_set (&e->whole, 1);
    }
  else
    {
      int fd = -1;

      if (map_load (e->map_path, total, e->present, &e->etag))
        fd = open (e->part_path, O_RDWR | O_CLOEXEC);
      if (fd >= 0 && (fstat (fd, &st) < 0 || st.st_size != total))
        {
          close (fd);
          fd = -1;
        }
      if (fd >= 0)
        {
          e->fd = fd;
          g_unlink (e->whole_path);
        }
      else
        {
          vf_range_set_clear (e->present);
          g_clear_pointer (&e->etag, g_free);
          if (!entry_create_part_locked (e, error))
            return FALSE;
        }
      if (total == 0 || vf_range_set_contains (e->present, 0, total))
        {
          if (g_rename (e->part_path, e->whole_path) < 0)
            {
              set_errno_error (error, errno, "Cannot rename", e->part_path);
              return FALSE;
            }
          g_unlink (e->map_path);
          g_atomic_int_set (&e->whole, 1);
        }
    }
  e->loaded = TRUE;
  cache->loaded++;
  entry_set_disk_bytes_locked (e, vf_range_set_size (e->present));
  return TRUE;
}

/* Writes the map of what is present.  No lock held; the caller holds a
 * reference to the entry. */
static void
entry_save (VfCache *cache, Entry *e)
{
  g_autofree char *text = NULL;
  gboolean ok = FALSE;
  guint gen;
  int fd;
  int out;

  g_mutex_lock (&e->save_lock);
  g_mutex_lock (&cache->lock);
  if (!e->loaded || e->dropped || g_atomic_int_get (&e->whole))
    {
      g_mutex_unlock (&cache->lock);
      g_mutex_unlock (&e->save_lock);
      return;
    }
  text = map_text_locked (e);
  gen = e->gen;
  fd = e->fd;
  e->unsaved = 0;
  e->saving++;
  g_mutex_unlock (&cache->lock);

  /* The map must never promise bytes that a crash could lose. */
  if (cache->config.sync_data)
    fdatasync (fd);
  out = open (e->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out >= 0)
    {
      ok = pwrite_all (out, text, strlen (text), 0) == 0;
      ok = close (out) == 0 && ok;
    }

  g_mutex_lock (&cache->lock);
  if (ok && !e->dropped && e->gen == gen && !g_atomic_int_get (&e->whole))
    ok = g_rename (e->tmp_path, e->map_path) == 0;
  else
    ok = FALSE;
  if (!ok)
    g_unlink (e->tmp_path);
  e->saving--;
  g_mutex_unlock (&cache->lock);
  g_mutex_unlock (&e->save_lock);
}

static void evict_locked (VfCache *cache);
static gboolean entry_finish (VfCache *cache, Entry *e);
static gpointer flusher_run (gpointer data);

/* Asks the flusher to save the entry's map, or to put a complete file in
 * place. */
static void
flush_queue_locked (VfCache *cache, Entry *e)
{
  if (e->flush_queued || cache->flusher_stop)
    return;
  e->flush_queued = TRUE;
  e->ref++;
  g_queue_push_tail (&cache->flush_queue, e);
  /* Started on first use, not in vf_cache_new(): videofs opens the cache
   * before fuse_daemonize() forks, and a thread does not survive a fork. */
  if (!cache->flusher)
    cache->flusher = g_thread_new ("vf-cache-flush", flusher_run, cache);
  g_cond_signal (&cache->flush_cond);
}

/* Hands a complete file to the flusher.  TRUE the first time it is seen
 * complete (the time to report it done). */
static gboolean
note_complete_locked (VfCache *cache, Entry *e)
{
  if (!e->loaded || e->dropped || g_atomic_int_get (&e->whole)
      || !vf_range_set_contains (e->present, 0, e->total))
    return FALSE;
  flush_queue_locked (cache, e);
  if (e->completed)
    return FALSE;
  e->completed = TRUE;
  return TRUE;
}

static gpointer
flusher_run (gpointer data)
{
  VfCache *cache = data;
  gboolean complete;

  g_mutex_lock (&cache->lock);
  for (;;)
    {
      Entry *e = g_queue_pop_head (&cache->flush_queue);

      if (!e)
        {
          cache->flushing = FALSE;
          g_cond_broadcast (&cache->flushed_cond);
          if (cache->flusher_stop)
            break;
          g_cond_wait (&cache->flush_cond, &cache->lock);
          continue;
        }
      cache->flushing = TRUE;
      e->flush_queued = FALSE;
      e->saving++; /* neither unloaded nor evicted meanwhile */
      complete = e->loaded && vf_range_set_contains (e->present, 0, e->total);
      g_mutex_unlock (&cache->lock);
      if (complete)
        entry_finish (cache, e);
      else
        entry_save (cache, e);
      g_mutex_lock (&cache->lock);
      e->saving--;
      entry_unref_locked (e);
    }
  g_mutex_unlock (&cache->lock);
  return NULL;
}

/* Once every byte is present: renames the file into place, makes room for
 * it, and wakes the readers.  TRUE if this call did it.  Run by the
 * flusher: it waits for the disk. */
static gboolean
entry_finish (VfCache *cache, Entry *e)
{
  gboolean done = FALSE;
  guint gen;
  int fd;

  g_mutex_lock (&e->save_lock);
  g_mutex_lock (&cache->lock);
  if (!e->loaded || e->dropped || g_atomic_int_get (&e->whole)
      || !vf_range_set_contains (e->present, 0, e->total))
    {
      entry_broadcast_locked (e);
      g_mutex_unlock (&cache->lock);
      g_mutex_unlock (&e->save_lock);
      return FALSE;
    }
  gen = e->gen;
  fd = e->fd;
  e->saving++;
  g_mutex_unlock (&cache->lock);

  if (cache->config.sync_data)
    fdatasync (fd);

  g_mutex_lock (&cache->lock);
  if (!e->dropped && e->gen == gen)
    {
      if (g_rename (e->part_path, e->whole_path) == 0)
        {
          g_unlink (e->map_path);
          g_atomic_int_set (&e->whole, 1);
          e->unsaved = 0;
          done = TRUE;
        }
      else
        g_message ("Cannot rename %s: %s", e->part_path, g_strerror (errno));
    }
  e->saving--;
  evict_locked (cache);
  entry_broadcast_locked (e);
  g_mutex_unlock (&cache->lock);
  g_mutex_unlock (&e->save_lock);
  return done;
}

/* Removes an entry from the cache and the disk. */
static void
entry_remove_locked (VfCache *cache, Entry *e, GPtrArray *to_cancel)
{
  e->dropped = TRUE;
  g_atomic_int_set (&e->whole, 0);
  entry_unlink_files (e);
  g_rmdir (e->dir_path); /* fails while other variants are there */
  entry_set_disk_bytes_locked (e, 0);
  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *s = e->streams->pdata[i];

      if (to_cancel && s->state == STREAM_RUNNING)
        g_ptr_array_add (to_cancel, g_object_ref (s->cancellable));
    }
  entry_broadcast_locked (e);
  g_cond_broadcast (&cache->closing_cond);
  g_hash_table_remove (cache->entries, e->key);
  entry_unref_locked (e); /* the table's */
}

static gboolean
entry_idle (const Entry *e)
{
  if (e->opens > 0 || e->readers > 0 || e->saving > 0 || e->flush_queued || e->dropped)
    return FALSE;
  for (guint i = 0; i < e->streams->len; i++)
    {
      const Stream *s = e->streams->pdata[i];

      if (stream_active (s) || s->in_pool)
        return FALSE;
    }
  return TRUE;
}

/* Closes the file of an idle entry; its map is on disk and is read again
 * when the entry is next used. */
static void
entry_unload_locked (VfCache *cache, Entry *e)
{
  e->whole_on_disk = g_atomic_int_get (&e->whole);
  g_atomic_int_set (&e->whole, 0);
  close (e->fd);
  e->fd = -1;
  for (guint i = 0; i < e->old_fds->len; i++)
    close (g_array_index (e->old_fds, int, i));
  g_array_set_size (e->old_fds, 0);
  vf_range_set_clear (e->present);
  g_clear_pointer (&e->etag, g_free);
  e->completed = FALSE;
  for (guint i = 0; i < e->streams->len; i++)
    stream_unref_locked (e->streams->pdata[i]);
  g_ptr_array_set_size (e->streams, 0);
  e->loaded = FALSE;
  cache->loaded--;
}

/* Keeps the number of open files bounded: least recently used idle
 * entries are unloaded. */
static void
trim_loaded_locked (VfCache *cache)
{
  GHashTableIter iter;
  gpointer value;

  while (cache->loaded > MAX_LOADED)
    {
      Entry *victim = NULL;

      g_hash_table_iter_init (&iter, cache->entries);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          Entry *e = value;

          if (e->loaded && entry_idle (e) && e->unsaved == 0
              && (!victim || e->last_used < victim->last_used))
            victim = e;
        }
      if (!victim)
        break;
      entry_unload_locked (cache, victim);
    }
}

/* Least recently used idle entries go until the cache fits: whole files
 * first, then partial ones.  Open files and files being fetched stay. */
static void
evict_locked (VfCache *cache)
{
  GHashTableIter iter;
  gpointer value;

  if (cache->config.cache_max == 0)
    return;
  while (cache->usage > cache->config.cache_max)
    {
      Entry *victim = NULL;
      gboolean victim_whole = FALSE;

      g_hash_table_iter_init (&iter, cache->entries);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          Entry *e = value;
          gboolean whole = e->loaded ? g_atomic_int_get (&e->whole) : e->whole_on_disk;

          if (!entry_idle (e) || e->disk_bytes == 0)
            continue;
          if (!victim || (whole && !victim_whole)
              || (whole == victim_whole && e->last_used < victim->last_used))
            {
              victim = e;
              victim_whole = whole;
            }
        }
      if (!victim)
        break;
      g_debug ("evicting %s (%" G_GUINT64_FORMAT " bytes)", victim->key, victim->disk_bytes);
      entry_remove_locked (cache, victim, NULL);
    }
}

/* The entry of (id, variant), made if needed; borrowed from the table. */
static Entry *
entry_get_locked (VfCache *cache, const char *id, VfVariant variant, GError **error)
{
  g_autofree char *key = NULL;
  Entry *e;

  if (!vf_id_check (id, error))
    return NULL;
  key = g_strdup_printf ("%s/%s", id, vf_variant_name (variant));
  e = g_hash_table_lookup (cache->entries, key);
  if (!e)
    {
      e = entry_new (cache, id, variant);
      g_hash_table_insert (cache->entries, e->key, e);
    }
  return e;
}

static void
entry_set_task_locked (Entry *e, const VfTask *task)
{
  if (!e->task || g_strcmp0 (e->task->video_url, task->video_url) != 0
      || e->task->protocol != task->protocol)
    {
      vf_task_free (e->task);
      e->task = vf_task_copy (task);
    }
}

/* ----- downloading ----- */

typedef struct
{
  VfCache *cache;
  Stream *s;
  Entry *e;
  VfTask *task;
  gint64 offset;
  gint64 length;
  char *if_range;
  gboolean ranged;
  int fd;
  guint gen;
  gboolean first;
  gint64 cursor;       /* where the next byte of the answer goes */
  gint64 limit;        /* where the answer ends */
  gint64 written;      /* bytes it added to the cache */
  gboolean superseded; /* stopped on purpose: others fetch the rest */
  gboolean final;      /* failed in a way no retry mends */
  gboolean finished;   /* it completed the file */
  VfContentInfo info;
  gint64 started; /* monotonic µs when the request was sent */
  char *batch;    /* bytes that arrived and are not written yet */
  gsize batch_len;
  gsize batched; /* bytes of the answer written through the batch */
} Fetch;

static void
fetch_clear (Fetch *f)
{
  vf_task_free (f->task);
  g_free (f->if_range);
  g_free (f->batch);
  vf_content_info_clear (&f->info);
}

/* Chooses the stream's next request.  FALSE: nothing for it to do. */
static gboolean
plan_locked (VfCache *cache, Stream *s, Fetch *f)
{
  Entry *e = s->entry;
  gint64 g;
  gint64 end;
  gboolean wrapped = FALSE;

  if (!e->task || vf_range_set_contains (e->present, 0, e->total))
    return FALSE;
  if (e->no_ranges || s->whole)
    {
      for (guint i = 0; i < e->streams->len; i++)
        {
          Stream *u = e->streams->pdata[i];

          if (u != s && u->whole && u->state == STREAM_RUNNING)
            return FALSE;
        }
      s->whole = TRUE;
      s->pos = 0;
      s->chunk_start = 0;
      s->req_end = e->total;
      f->offset = 0;
      f->length = -1;
      f->ranged = FALSE;
    }
  else
    {
      g = vf_range_set_next_gap (e->present, s->pos, e->total);
      for (;;)
        {
          Stream *u;

          if (g >= e->total)
            {
              if (!s->prefetch || wrapped)
                return FALSE;
              wrapped = TRUE;
              g = vf_range_set_next_gap (e->present, 0, e->total);
              continue;
            }
          u = owner_locked (cache, e, s, g);
          if (!u)
            break;
          if (!s->prefetch)
            return FALSE;
          /* A prefetch leaves the neighbourhood of other downloads to them. */
          g = vf_range_set_next_gap (
              e->present, MAX (u->req_end, u->pos + cache->config.join_distance + 1), e->total);
        }
      if (!s->prefetch && s->chunk_start >= 0 && g > s->pos + cache->config.join_distance)
        return FALSE;
      end = vf_range_set_next_present (e->present, g, e->total);
      for (guint i = 0; i < e->streams->len; i++)
        {
          Stream *u = e->streams->pdata[i];

          if (u != s && stream_active (u) && !(u->prefetch && u->state == STREAM_QUEUED)
              && u->pos > g)
            end = MIN (end, u->pos);
        }
      end = MIN (end, g + (s->prefetch ? cache->config.max_chunk : s->chunk));
      s->pos = g;
      s->chunk_start = g;
      s->req_end = end;
      f->offset = g;
      f->length = end - g;
      f->ranged = TRUE;
    }
  f->task = vf_task_copy (e->task);
  f->if_range = f->ranged ? g_strdup (e->etag) : NULL;
  f->fd = e->fd;
  f->gen = e->gen;
  f->first = TRUE;
  f->started = g_get_monotonic_time ();
  f->cursor = f->offset;
  f->limit = f->length >= 0 ? f->offset + f->length : e->total;
  return TRUE;
}

static gboolean
stop_error (Fetch *f, GError **error)
{
  f->superseded = TRUE;
  vf_set_error (error, VF_ERROR_FAILED, "download superseded");
  return FALSE;
}

/* The answer's headers, once known (at its first byte). */
static gboolean
fetch_check_answer_locked (Fetch *f, GError **error)
{
  Entry *e = f->e;
  Stream *s = f->s;
  const VfContentInfo *info = &f->info;

  if (info->total_size >= 0 && info->total_size != e->total)
    {
      f->final = TRUE;
      vf_set_error (error, VF_ERROR_PROTOCOL,
                    "%s: the server has %" G_GINT64_FORMAT " bytes, %" G_GINT64_FORMAT
                    " were announced",
                    e->key, info->total_size, e->total);
      return FALSE;
    }
  if (info->etag && f->gen == e->gen)
    {
      if (!e->etag && etag_storable (info->etag))
        e->etag = g_strdup (info->etag);
      else if (e->etag && strcmp (e->etag, info->etag) != 0)
        {
          entry_reset_locked (e, info->etag, "the content changed");
          vf_set_error (error, VF_ERROR_PROTOCOL, "%s: the content changed", e->key);
          return FALSE;
        }
    }
  if (info->status == 200)
    {
      f->cursor = 0;
      f->limit = e->total;
      if (f->ranged && !e->no_ranges)
        {
          g_message ("%s: the server ignores Range; fetching it whole", e->key);
          e->no_ranges = TRUE;
        }
      s->whole = TRUE;
      s->pos = 0;
      s->chunk_start = 0;
      s->req_end = e->total;
      entry_broadcast_locked (e);
      for (guint i = 0; i < e->streams->len; i++)
        {
          Stream *u = e->streams->pdata[i];

          if (u != s && u->whole && u->state == STREAM_RUNNING)
            return stop_error (f, error);
        }
    }
  return TRUE;
}

/* Whether another download has this stream's next bytes in hand; queued
 * ones that start inside what it is fetching are absorbed. */
static gboolean
fetch_superseded_locked (Fetch *f, gsize len)
{
  Entry *e = f->e;
  Stream *s = f->s;
  gint64 c = f->cursor;

  if (s->whole)
    return FALSE;
  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *u = e->streams->pdata[i];

      if (u == s || u->whole)
        continue;
      if (u->state == STREAM_RUNNING && u->chunk_start > s->chunk_start && u->chunk_start <= c
          && c < u->req_end)
        return TRUE;
      if (u->state == STREAM_QUEUED && !u->prefetch && u->pos >= s->chunk_start
          && u->pos < c + (gint64)len && u->pos < f->limit)
        {
          u->state = STREAM_IDLE;
          s->want = MAX (s->want, u->want);
          entry_broadcast_locked (e);
        }
    }
  return vf_range_set_contains (e->present, c, c + len)
         && vf_range_set_run_end (e->present, c) - c >= SKIP_LIMIT;
}

static gboolean
fetch_commit (Fetch *f, const void *data, gsize len, GError **error)
{
  VfCache *cache = f->cache;
  Entry *e = f->e;
  const char *bytes = data;
  gint64 start, end, pos;
  gint64 elapsed;
  gboolean wake = FALSE;

  g_mutex_lock (&cache->lock);
  if (f->first)
    {
      f->first = FALSE;
      if (!fetch_check_answer_locked (f, error))
        goto fail;
    }
  if (cache->closing || e->dropped || f->gen != e->gen || fetch_superseded_locked (f, len))
    {
      stop_error (f, error);
      goto fail;
    }
  start = f->cursor;
  end = start + (gint64)len;
  if (end > f->limit)
    {
      vf_set_error (error, VF_ERROR_PROTOCOL, "%s: more bytes than asked for", e->key);
      goto fail;
    }
  for (pos = start; pos < end;)
    {
      gint64 g = vf_range_set_next_gap (e->present, pos, end);
      gint64 ge;
      int errsv;

      if (g >= end)
        break;
      ge = vf_range_set_next_present (e->present, g, end);
      g_mutex_unlock (&cache->lock);
      errsv = pwrite_all (f->fd, bytes + (g - start), ge - g, g);
      g_mutex_lock (&cache->lock);
      if (errsv)
        {
          f->final = TRUE;
          set_errno_error (error, errsv, "Cannot write", e->part_path);
          goto fail;
        }
      if (e->dropped || f->gen != e->gen)
        {
          stop_error (f, error);
          goto fail;
        }
      /* Recorded only now that the bytes are written. */
      vf_range_set_add (e->present, g, ge);
      entry_set_disk_bytes_locked (e, e->disk_bytes + (ge - g));
      e->unsaved += ge - g;
      f->written += ge - g;
      wake = wake || vf_range_set_run_end (e->present, g) >= e->wake_at;
      pos = ge;
    }
  f->cursor = end;
  f->s->pos = end;
  elapsed = g_get_monotonic_time () - f->started;
  if (elapsed >= 10000)
    f->s->rate = (end - f->offset) * G_USEC_PER_SEC / elapsed;
  if (note_complete_locked (cache, e))
    f->finished = TRUE;
  else if (e->unsaved >= SAVE_EVERY)
    flush_queue_locked (cache, e);
  if (wake)
    entry_broadcast_locked (e);
  g_mutex_unlock (&cache->lock);
  return TRUE;

fail:
  g_mutex_unlock (&cache->lock);
  return FALSE;
}

/* The answer arrives in pieces of any size: small ones are written (and
 * shown to the readers) a batch at a time, big ones as they are, with no
 * copy.  The first piece goes at once, and batches grow with the answer,
 * so that its first bytes are not held back. */
static gboolean
fetch_sink (const void *data, gsize len, gpointer user_data, GError **error)
{
  Fetch *f = user_data;
  const char *p = data;

  if (f->first)
    {
      f->batched += len;
      return fetch_commit (f, p, len, error);
    }
  while (len > 0)
    {
      gsize size = CLAMP (f->batched, 1, WRITE_BATCH);
      gsize n;

      if (f->batch_len == 0 && len >= MIN (size, WRITE_DIRECT))
        {
          f->batched += len;
          return fetch_commit (f, p, len, error);
        }
      if (!f->batch)
        f->batch = g_malloc (WRITE_BATCH);
      n = MIN (len, size - f->batch_len);
      memcpy (f->batch + f->batch_len, p, n);
      f->batch_len += n;
      p += n;
      len -= n;
      if (f->batch_len == size)
        {
          f->batch_len = 0;
          f->batched += size;
          if (!fetch_commit (f, f->batch, size, error))
            return FALSE;
        }
    }
  return TRUE;
}

static gboolean
error_is_final (const GError *error)
{
  if (error->domain != VF_ERROR)
    return TRUE;
  if (vf_error_should_retry (error) == 0)
    return TRUE;
  switch (error->code)
    {
    case VF_ERROR_PROTOCOL:
    case VF_ERROR_SERVER:
    case VF_ERROR_NETWORK:
    case VF_ERROR_TIMEOUT:
    case VF_ERROR_RATE_LIMITED:
    case VF_ERROR_CONFLICT:
      return FALSE;
    default:
      return TRUE;
    }
}

/* Waits before a retry; FALSE when the cache closes or the entry goes. */
static gboolean
backoff_locked (VfCache *cache, Entry *e, gint64 ms)
{
  gint64 deadline = g_get_monotonic_time () + ms * 1000;

  while (!cache->closing && !e->dropped)
    if (!g_cond_wait_until (&cache->closing_cond, &cache->lock, deadline))
      break;
  return !cache->closing && !e->dropped;
}

static void
stream_fail_locked (Stream *s, GError *error)
{
  Entry *e = s->entry;

  s->state = STREAM_FAILED;
  s->error = error;
  if (g_ptr_array_remove (e->streams, s))
    stream_unref_locked (s);
  entry_broadcast_locked (e);
}

/* Runs requests for one stream until it has nothing more to do, fails, or
 * should make room for others in the pool (then it queues itself again).
 * Returns the error to report, if it failed. */
static GError *
run_stream_locked (VfCache *cache, Stream *s, gboolean *finished)
{
  Entry *e = s->entry;

  s->state = STREAM_RUNNING;
  for (;;)
    {
      Fetch f = { 0 };
      g_autoptr (GError) error = NULL;
      gboolean ok;
      gboolean progress;
      gboolean stopped;

      f.cache = cache;
      f.s = s;
      f.e = e;
      if (cache->closing || e->dropped || !plan_locked (cache, s, &f))
        {
          fetch_clear (&f);
          s->state = STREAM_IDLE;
          entry_broadcast_locked (e);
          return NULL;
        }
      g_debug ("%s: GET %" G_GINT64_FORMAT "+%" G_GINT64_FORMAT, e->key, f.offset, f.length);
      g_mutex_unlock (&cache->lock);
      ok = vf_client_content (cache->client, f.task, e->variant, f.offset, f.length, f.if_range,
                              fetch_sink, &f, &f.info, s->cancellable, &error);
      /* What arrived counts, even from an answer cut short. */
      if (f.batch_len > 0)
        {
          g_autoptr (GError) batch_error = NULL;
          gsize n = f.batch_len;

          f.batch_len = 0;
          if (!fetch_commit (&f, f.batch, n, &batch_error) && ok)
            {
              ok = FALSE;
              g_propagate_error (&error, g_steal_pointer (&batch_error));
            }
        }
      g_mutex_lock (&cache->lock);

      progress = f.written > 0;
      if (f.finished)
        *finished = TRUE;
      stopped = f.superseded || cache->closing || e->dropped || f.gen != e->gen
                || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      if (!ok && !stopped)
        {
          gint64 delay;

          if (progress)
            s->tries = 0;
          s->tries++;
          /* An answer refused before its body may still say the content
           * changed. */
          if (f.info.etag && e->etag && f.gen == e->gen && strcmp (f.info.etag, e->etag) != 0)
            entry_reset_locked (e, f.info.etag, "the content changed");
          if (f.final || error_is_final (error) || s->tries >= cache->config.max_tries)
            {
              g_info ("%s: giving up at byte %" G_GINT64_FORMAT ": %s", e->key, s->pos,
                      error->message);
              fetch_clear (&f);
              stream_fail_locked (s, g_error_copy (error));
              return g_steal_pointer (&error);
            }
          g_debug ("%s: try %d failed: %s", e->key, s->tries, error->message);
          delay = progress ? 0 : vf_retry_delay_ms (&cache->config.retry, error, s->tries - 1);
          fetch_clear (&f);
          if (delay > 0 && !backoff_locked (cache, e, delay))
            continue;
          s->chunk_start = -1; /* a retry picks up where it stopped, however far */
          continue;
        }
      fetch_clear (&f);
      if (ok)
        s->tries = 0;

      /* A request ended (done, or stopped because others have the rest). */
      if (note_complete_locked (cache, e))
        *finished = TRUE;
      if (e->unsaved > 0)
        flush_queue_locked (cache, e);
      evict_locked (cache);
      entry_broadcast_locked (e);

      if (cache->closing || e->dropped || g_atomic_int_get (&e->whole) || s->whole
          || (stopped && !f.superseded))
        {
          s->state = STREAM_IDLE;
          return NULL;
        }
      if (s->prefetch || s->want > s->chunk_start + (s->req_end - s->chunk_start) / 2
          || (s->waiters > 0 && s->want > s->pos))
        {
          /* Readers follow it: the next request is bigger, and goes to the
           * back of the queue so that other files get their turn. */
          s->chunk = MIN (s->chunk * 2, cache->config.max_chunk);
          kick_locked (cache, s, s->waiters > 0 ? 0 : 1);
          return NULL;
        }
      s->state = STREAM_IDLE;
      entry_prune_idle_locked (e);
      return NULL;
    }
}

static void
pool_run (gpointer data, gpointer user_data)
{
  Stream *s = data;
  Entry *e = s->entry;
  VfCache *cache = user_data;
  GError *error = NULL;
  gboolean finished = FALSE;
  VfCacheDoneFunc done = cache->config.done;

  g_mutex_lock (&cache->lock);
  s->in_pool = FALSE;
  if (s->state == STREAM_QUEUED)
    {
      if (cache->closing || e->dropped)
        s->state = STREAM_IDLE;
      else
        error = run_stream_locked (cache, s, &finished);
    }
  g_mutex_unlock (&cache->lock);

  if (done && finished)
    done (e->id, e->variant, NULL, cache->config.user_data);
  if (done && error)
    done (e->id, e->variant, error, cache->config.user_data);
  g_clear_error (&error);

  g_mutex_lock (&cache->lock);
  stream_unref_locked (s);
  entry_unref_locked (e);
  g_mutex_unlock (&cache->lock);
}

/* ----- reading ----- */

static void
on_read_cancelled (GCancellable *cancellable, gpointer data)
{
  Entry *e = data;

  g_mutex_lock (&e->cache->lock);
  entry_broadcast_locked (e);
  g_mutex_unlock (&e->cache->lock);
}

/* How far ahead of a stream a read joins it rather than start its own: the
 * join distance, or what it fetches in a quarter of a second when it is
 * running faster, so that the kernel's read-ahead, which asks far ahead
 * when read_ahead_kb is large, does not split a fast download. */
static gint64
join_reach (VfCache *cache, const Stream *s)
{
  if (s->state != STREAM_RUNNING && s->state != STREAM_QUEUED)
    return cache->config.join_distance;
  return MAX (cache->config.join_distance, s->rate / 4);
}

/* The stream a reader of byte g should wait for, or NULL. */
static Stream *
find_joinable_locked (VfCache *cache, Entry *e, gint64 g)
{
  Stream *best = NULL;

  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *s = e->streams->pdata[i];

      if (e->no_ranges)
        {
          if (s->whole && stream_active (s))
            return s;
          continue;
        }
      if (s->whole || (s->prefetch && s->state == STREAM_QUEUED))
        continue;
      if (s->pos > g || g - s->pos > join_reach (cache, s))
        continue;
      if (!best || (stream_active (s) && !stream_active (best))
          || (stream_active (s) == stream_active (best) && s->pos > best->pos))
        best = s;
    }
  return best;
}

/* Makes sure some stream will fetch every missing byte of [offset, end),
 * and waits on them (a reference each, in `mine`). */
static void
claim_gaps_locked (VfCache *cache, Entry *e, gint64 offset, gint64 end, GPtrArray *mine)
{
  gint64 p = offset;

  while (p < end)
    {
      gint64 g = vf_range_set_next_gap (e->present, p, end);
      gint64 ge;
      Stream *s;

      if (g >= end)
        break;
      ge = vf_range_set_next_present (e->present, g, end);
      s = find_joinable_locked (cache, e, g);
      if (!s)
        {
          entry_prune_idle_locked (e);
          s = stream_new_locked (cache, e, g, ge - g, FALSE);
        }
      if (s->state == STREAM_IDLE)
        {
          if (!s->whole && g > s->pos)
            s->pos = g;
          if (s->chunk_start >= 0)
            s->chunk = MIN (s->chunk * 2, cache->config.max_chunk);
          kick_locked (cache, s, 0);
        }
      s->want = MAX (s->want, ge);
      s->waiters++;
      s->ref++;
      g_ptr_array_add (mine, s);
      p = ge;
    }
}

static void
release_mine_locked (GPtrArray *mine)
{
  for (guint i = 0; i < mine->len; i++)
    {
      Stream *s = mine->pdata[i];

      s->waiters--;
      stream_unref_locked (s);
    }
  g_ptr_array_set_size (mine, 0);
}

/* A read served from the cache tells the downloads near it how far their
 * reader got: one that stopped is started again once the reader is past
 * the middle of its last request (read-ahead, as the kernel does it). */
static void
note_read_locked (VfCache *cache, Entry *e, gint64 offset, gint64 end)
{
  if (cache->closing)
    return;
  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *s = e->streams->pdata[i];
      gint64 g;

      if (s->whole || s->chunk_start < 0 || offset < s->chunk_start
          || offset > s->req_end + cache->config.join_distance)
        continue;
      s->want = MAX (s->want, end);
      if (s->state != STREAM_IDLE || end <= s->chunk_start + (s->req_end - s->chunk_start) / 2)
        continue;
      g = vf_range_set_next_gap (e->present, s->pos, e->total);
      if (g >= e->total || g > s->pos + cache->config.join_distance
          || owner_locked (cache, e, s, g))
        continue;
      s->pos = g;
      s->chunk = MIN (s->chunk * 2, cache->config.max_chunk);
      kick_locked (cache, s, 1);
    }
}

/* Hands out `len` present bytes at `offset` of `fd`: copied into buf, or
 * as a descriptor of their own in *fd_out. */
static gssize
read_out (int fd, void *buf, int *fd_out, gsize len, gint64 offset, const char *path,
          GError **error)
{
  int errsv;

  if (fd_out)
    {
      *fd_out = fcntl (fd, F_DUPFD_CLOEXEC, 0);
      if (*fd_out < 0)
        {
          set_errno_error (error, errno, "Cannot duplicate the descriptor of", path);
          return -1;
        }
      return len;
    }
  errsv = pread_all (fd, buf, len, offset);
  if (errsv)
    {
      set_errno_error (error, errsv, "Cannot read", path);
      return -1;
    }
  return len;
}

/*
 * How a read waits for a download.
 *
 * A read needs [offset, end).  Under the lock it looks at the entry's range
 * set: if every byte is present it notes how far it got (which may start
 * the read-ahead of the stream it follows) and preads outside the lock.
 * Otherwise it walks the gaps of its range and, for each, finds the stream
 * that will fetch that byte: an active stream at most join_distance below
 * it (the stream reaches it soon, sooner than a new request would), else an
 * idle one there, which it starts again; else it makes a new stream at the
 * gap.  It raises each stream's `want` to the end of its gap, so the stream
 * keeps going past its current request when needed, counts itself a
 * waiter, and sleeps on the entry's condition.
 *
 * Writers wake it: a download broadcasts when the run of present bytes it
 * extends reaches the smallest end any waiter needs (`wake_at`), and
 * whenever a stream stops, fails or finishes a request.  Woken readers
 * forget their streams and look again from the start, so a stream that
 * went idle, was absorbed by another or lost its bytes to a reset is
 * simply replaced.  A reader leaves with the error of a stream it waited
 * on that failed, or at once when its GCancellable fires (a handler
 * broadcasts the condition); the download goes on for the others.
 */
static gssize
entry_read (VfCache *cache, Entry *e, void *buf, int *fd_out, gsize len, gint64 offset,
            GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) mine = NULL;
  gulong handler = 0;
  gboolean connected = FALSE;
  gssize result = -1;
  gint64 end = offset;
  int fd = -1;

  if (offset < 0)
    {
      vf_set_error (error, VF_ERROR_INVALID, "negative offset");
      return -1;
    }
  if (g_atomic_int_get (&e->whole))
    {
      if (offset >= e->total)
        return 0;
      end = MIN (offset + (gint64)MIN (len, G_MAXSSIZE), e->total);
      return read_out (e->fd, buf, fd_out, end - offset, offset, e->whole_path, error);
    }

  mine = g_ptr_array_new ();
  g_mutex_lock (&cache->lock);
  for (;;)
    {
      if (e->dropped)
        {
          vf_set_error (error, VF_ERROR_NOT_FOUND, "%s was removed", e->key);
          break;
        }
      if (offset >= e->total)
        {
          result = 0;
          break;
        }
      end = MIN (offset + (gint64)MIN (len, G_MAXSSIZE), e->total);
      if (vf_range_set_contains (e->present, offset, end))
        {
          note_read_locked (cache, e, offset, end);
          fd = e->fd;
          result = end - offset;
          break;
        }
      for (guint i = 0; i < mine->len && result < 0; i++)
        {
          Stream *s = mine->pdata[i];

          if (s->state == STREAM_FAILED)
            {
              g_propagate_error (error, g_error_copy (s->error));
              goto out;
            }
        }
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        break;
      if (cache->closing)
        {
          vf_set_error (error, VF_ERROR_FAILED, "the cache is closing");
          break;
        }
      if (cancellable && !connected)
        {
          g_mutex_unlock (&cache->lock);
          handler = g_cancellable_connect (cancellable, G_CALLBACK (on_read_cancelled), e, NULL);
          connected = TRUE;
          g_mutex_lock (&cache->lock);
          continue;
        }
      release_mine_locked (mine);
      claim_gaps_locked (cache, e, offset, end, mine);
      e->wake_at = MIN (e->wake_at, end);
      g_cond_wait (&e->cond, &cache->lock);
    }
out:
  release_mine_locked (mine);
  g_mutex_unlock (&cache->lock);
  if (connected)
    g_cancellable_disconnect (cancellable, handler);

  if (result > 0)
    return read_out (fd, buf, fd_out, result, offset, e->part_path, error);
  return result;
}

/* ----- the public face ----- */

static gboolean
check_task (const VfTask *task, GError **error)
{
  if (!task || !task->id)
    {
      vf_set_error (error, VF_ERROR_INVALID, "no task");
      return FALSE;
    }
  return TRUE;
}

/* A loaded entry with a reference for the caller, or NULL. */
static Entry *
entry_acquire_locked (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total,
                      GError **error)
{
  Entry *e;

  if (!check_task (task, error))
    return NULL;
  e = entry_get_locked (cache, task->id, variant, error);
  if (!e || !entry_load_locked (cache, e, total, error))
    return NULL;
  entry_set_task_locked (e, task);
  e->last_used = now_us ();
  e->ref++;
  e->readers++; /* not unloaded by the trim */
  trim_loaded_locked (cache);
  e->readers--;
  return e;
}

static gssize
cache_read (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total, void *buf,
            int *fd_out, gsize len, gint64 offset, GCancellable *cancellable, GError **error)
{
  Entry *e;
  gssize n;

  g_mutex_lock (&cache->lock);
  e = entry_acquire_locked (cache, task, variant, total, error);
  if (e)
    e->readers++;
  g_mutex_unlock (&cache->lock);
  if (!e)
    return -1;

  n = entry_read (cache, e, buf, fd_out, len, offset, cancellable, error);

  g_mutex_lock (&cache->lock);
  e->readers--;
  entry_unref_locked (e);
  g_mutex_unlock (&cache->lock);
  return n;
}

gssize
vf_cache_read (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total, void *buf,
               gsize len, gint64 offset, GCancellable *cancellable, GError **error)
{
  return cache_read (cache, task, variant, total, buf, NULL, len, offset, cancellable, error);
}

gssize
vf_cache_read_fd (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total, gsize len,
                  gint64 offset, int *fd_out, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (fd_out != NULL, -1);

  *fd_out = -1;
  return cache_read (cache, task, variant, total, NULL, fd_out, len, offset, cancellable, error);
}

VfCacheEntry *
vf_cache_open (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total, GError **error)
{
  Entry *e;

  g_mutex_lock (&cache->lock);
  e = entry_acquire_locked (cache, task, variant, total, error);
  if (e)
    e->opens++;
  g_mutex_unlock (&cache->lock);
  return e;
}

gssize
vf_cache_entry_read (VfCacheEntry *entry, void *buf, gsize len, gint64 offset,
                     GCancellable *cancellable, GError **error)
{
  return entry_read (entry->cache, entry, buf, NULL, len, offset, cancellable, error);
}

void
vf_cache_entry_set_task (VfCacheEntry *entry, const VfTask *task)
{
  g_mutex_lock (&entry->cache->lock);
  if (task && task->id)
    entry_set_task_locked (entry, task);
  g_mutex_unlock (&entry->cache->lock);
}

gboolean
vf_cache_entry_is_whole (VfCacheEntry *entry)
{
  return g_atomic_int_get (&entry->whole);
}

void
vf_cache_close (VfCacheEntry *entry)
{
  VfCache *cache;

  if (!entry)
    return;
  cache = entry->cache;
  g_mutex_lock (&cache->lock);
  entry->opens--;
  entry->last_used = now_us ();
  entry_unref_locked (entry);
  evict_locked (cache);
  g_mutex_unlock (&cache->lock);
}

gboolean
vf_cache_is_whole (VfCache *cache, const char *id, VfVariant variant, gint64 total)
{
  g_autofree char *key = g_strdup_printf ("%s/%s", id, vf_variant_name (variant));
  gboolean whole = FALSE;
  Entry *e;

  g_mutex_lock (&cache->lock);
  e = g_hash_table_lookup (cache->entries, key);
  if (e && entry_load_locked (cache, e, total, NULL))
    whole = g_atomic_int_get (&e->whole);
  g_mutex_unlock (&cache->lock);
  return whole;
}

guint64
vf_cache_cached_bytes (VfCache *cache, const char *id, VfVariant variant)
{
  g_autofree char *key = g_strdup_printf ("%s/%s", id, vf_variant_name (variant));
  guint64 bytes = 0;
  Entry *e;

  g_mutex_lock (&cache->lock);
  e = g_hash_table_lookup (cache->entries, key);
  if (e)
    bytes = e->disk_bytes;
  g_mutex_unlock (&cache->lock);
  return bytes;
}

void
vf_cache_flush (VfCache *cache)
{
  g_return_if_fail (cache != NULL);

  g_mutex_lock (&cache->lock);
  while (cache->flushing || !g_queue_is_empty (&cache->flush_queue))
    g_cond_wait (&cache->flushed_cond, &cache->lock);
  g_mutex_unlock (&cache->lock);
}

guint64
vf_cache_usage (VfCache *cache)
{
  guint64 usage;

  g_mutex_lock (&cache->lock);
  usage = cache->usage;
  g_mutex_unlock (&cache->lock);
  return usage;
}

void
vf_cache_prefetch (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total)
{
  g_autoptr (GError) error = NULL;
  Entry *e;

  g_mutex_lock (&cache->lock);
  e = entry_acquire_locked (cache, task, variant, total, &error);
  if (!e)
    g_debug ("no prefetch: %s", error->message);
  if (e && !cache->closing && !g_atomic_int_get (&e->whole))
    {
      Stream *s = NULL;

      for (guint i = 0; i < e->streams->len && !s; i++)
        {
          Stream *u = e->streams->pdata[i];

          if (u->prefetch)
            s = u;
        }
      if (!s)
        s = stream_new_locked (cache, e, vf_range_set_next_gap (e->present, 0, e->total),
                               cache->config.max_chunk, TRUE);
      if (s->state == STREAM_IDLE)
        kick_locked (cache, s, 1);
    }
  if (e)
    entry_unref_locked (e);
  g_mutex_unlock (&cache->lock);
}

static void
cancel_all (GPtrArray *to_cancel)
{
  for (guint i = 0; i < to_cancel->len; i++)
    g_cancellable_cancel (to_cancel->pdata[i]);
}

void
vf_cache_drop (VfCache *cache, const char *id)
{
  g_autoptr (GPtrArray) to_cancel = g_ptr_array_new_with_free_func (g_object_unref);

  g_mutex_lock (&cache->lock);
  for (VfVariant v = VF_VARIANT_VIDEO; v <= VF_VARIANT_SPRITESHEET; v++)
    {
      g_autofree char *key = g_strdup_printf ("%s/%s", id, vf_variant_name (v));
      Entry *e = g_hash_table_lookup (cache->entries, key);

      if (e)
        entry_remove_locked (cache, e, to_cancel);
    }
  g_mutex_unlock (&cache->lock);
  /* Outside the lock: a cancellation runs handlers. */
  cancel_all (to_cancel);
}

/* Takes stock of what an earlier run left; maps are read when an entry is
 * first used. */
static void
scan_dir (VfCache *cache)
{
  g_autoptr (GDir) dir = g_dir_open (cache->dir, 0, NULL);
  const char *name;

  if (!dir)
    return;
  while ((name = g_dir_read_name (dir)))
    {
      g_autofree char *sub = g_build_filename (cache->dir, name, NULL);

      if (!vf_id_check (name, NULL) || !g_file_test (sub, G_FILE_TEST_IS_DIR))
        continue;
      for (VfVariant v = VF_VARIANT_VIDEO; v <= VF_VARIANT_SPRITESHEET; v++)
        {
          Entry *e = entry_new (cache, name, v);
          struct stat st;
          gboolean found = FALSE;

          g_unlink (e->tmp_path);
          if (stat (e->whole_path, &st) == 0 && S_ISREG (st.st_mode))
            {
              found = TRUE;
              e->whole_on_disk = TRUE;
            }
          else if (stat (e->part_path, &st) == 0 && S_ISREG (st.st_mode))
            found = TRUE;
          if (!found)
            {
              entry_unref_locked (e);
              continue;
            }
          e->last_used = (gint64)st.st_mtime * G_USEC_PER_SEC;
          entry_set_disk_bytes_locked (e, MIN ((guint64)st.st_blocks * 512, (guint64)st.st_size));
          g_hash_table_insert (cache->entries, e->key, e);
        }
    }
}

VfCache *
vf_cache_new (VfClient *client, const char *dir, const VfCacheConfig *config, GError **error)
{
  VfCache *cache;
  VfCacheConfig defaults;

  if (!config)
    {
      vf_cache_config_init (&defaults);
      config = &defaults;
    }
  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      set_errno_error (error, errno, "Cannot create", dir);
      return NULL;
    }
  cache = g_new0 (VfCache, 1);
  cache->client = client;
  cache->dir = g_strdup (dir);
  cache->config = *config;
  cache->config.threads = MAX (cache->config.threads, 1);
  cache->config.prefetch_threads = MAX (cache->config.prefetch_threads, 1);
  cache->config.max_tries = MAX (cache->config.max_tries, 1);
  cache->config.first_chunk = MAX (cache->config.first_chunk, 4096);
  cache->config.max_chunk = MAX (cache->config.max_chunk, cache->config.first_chunk);
  cache->config.join_distance = MAX (cache->config.join_distance, 0);
  g_mutex_init (&cache->lock);
  g_cond_init (&cache->closing_cond);
  cache->entries = g_hash_table_new (g_str_hash, g_str_equal);
  cache->pool = g_thread_pool_new (pool_run, cache, cache->config.threads, FALSE, NULL);
  cache->prefetch_pool
      = g_thread_pool_new (pool_run, cache, cache->config.prefetch_threads, FALSE, NULL);
  g_thread_pool_set_sort_function (cache->pool, pool_order, NULL);
  g_thread_pool_set_sort_function (cache->prefetch_pool, pool_order, NULL);
  g_cond_init (&cache->flush_cond);
  g_cond_init (&cache->flushed_cond);
  g_queue_init (&cache->flush_queue);

  g_mutex_lock (&cache->lock);
  scan_dir (cache);
  evict_locked (cache);
  g_mutex_unlock (&cache->lock);
  return cache;
}

void
vf_cache_free (VfCache *cache)
{
  g_autoptr (GPtrArray) to_cancel = NULL;
  g_autoptr (GPtrArray) entries = NULL;
  GHashTableIter iter;
  gpointer value;

  if (!cache)
    return;
  to_cancel = g_ptr_array_new_with_free_func (g_object_unref);
  entries = g_ptr_array_new ();

  g_mutex_lock (&cache->lock);
  cache->closing = TRUE;
  g_hash_table_iter_init (&iter, cache->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Entry *e = value;

      for (guint i = 0; i < e->streams->len; i++)
        {
          Stream *s = e->streams->pdata[i];

          if (s->state == STREAM_RUNNING)
            g_ptr_array_add (to_cancel, g_object_ref (s->cancellable));
        }
      entry_broadcast_locked (e);
    }
  g_cond_broadcast (&cache->closing_cond);
  g_mutex_unlock (&cache->lock);

  cancel_all (to_cancel);
  /* Queued jobs run and return at once; running ones stop. */
  g_thread_pool_free (cache->pool, FALSE, TRUE);
  g_thread_pool_free (cache->prefetch_pool, FALSE, TRUE);
  /* The flusher saves what it was asked to, then the rest is saved here. */
  g_mutex_lock (&cache->lock);
  cache->flusher_stop = TRUE; /* no flusher starts after this */
  g_cond_signal (&cache->flush_cond);
  g_mutex_unlock (&cache->lock);
  if (cache->flusher)
    g_thread_join (cache->flusher);

  /* Keep what arrived. */
  g_mutex_lock (&cache->lock);
  g_hash_table_iter_init (&iter, cache->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Entry *e = value;

      e->ref++;
      g_ptr_array_add (entries, e);
    }
  g_mutex_unlock (&cache->lock);
  for (guint i = 0; i < entries->len; i++)
    {
      Entry *e = entries->pdata[i];

      if (e->unsaved > 0)
        entry_save (cache, e);
    }

  g_mutex_lock (&cache->lock);
  for (guint i = 0; i < entries->len; i++)
    entry_unref_locked (entries->pdata[i]);
  g_hash_table_iter_init (&iter, cache->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      g_hash_table_iter_steal (&iter);
      entry_unref_locked (value);
    }
  g_mutex_unlock (&cache->lock);

  g_hash_table_unref (cache->entries);
  g_cond_clear (&cache->flush_cond);
  g_cond_clear (&cache->flushed_cond);
  g_cond_clear (&cache->closing_cond);
  g_mutex_clear (&cache->lock);
  g_free (cache->dir);
  g_free (cache);
}
