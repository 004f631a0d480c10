/* cache-flush.c: the flusher thread.
 *
 * Maps are saved by one flusher thread, not by the downloads: a save
 * takes a snapshot of the ranges present, fdatasyncs the file, then
 * writes a map of that snapshot, so the map lags the file but never
 * claims a byte that a power loss could zero, and the downloads never
 * wait for the disk.  Readers see the bytes as soon as they are written,
 * the last ones too: the same thread later syncs a complete file and
 * renames it into place.
 */
#include "cache-private.h"
#include "cache-testing.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static gpointer flusher_run (gpointer data);

/* Writes the map of what is present.  No lock held; the caller holds a
 * reference to the entry. */
void
cache_entry_save (VfCache *cache, Entry *e)
{
  g_autofree char *text = NULL;
  gboolean ok = FALSE;
  guint gen;
  int fd;
  int out;

  g_mutex_lock (&e->save_lock);
  g_mutex_lock (&cache->lock);
  if (!e->loaded || e->dropped || g_atomic_int_get (&e->whole) || e->fd < 0)
    {
      g_mutex_unlock (&cache->lock);
      g_mutex_unlock (&e->save_lock);
      return;
    }
  text = cache_map_text_locked (e);
  gen = e->gen;
  fd = e->fd;
  e->unsaved = 0;
  e->saving++;
  g_mutex_unlock (&cache->lock);

  /* The map must never promise bytes that a crash could lose. */
  if (cache->config.sync_data)
    vf_fdatasync_noeintr (fd);
  out = vf_open_noeintr (e->tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (out >= 0)
    {
      ok = vf_pwrite_all (out, text, strlen (text), 0) == 0;
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

/* Asks the flusher to save the entry's map, or to put a complete file in
 * place. */
void
cache_flush_queue_locked (VfCache *cache, Entry *e)
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
gboolean
cache_note_complete_locked (VfCache *cache, Entry *e)
{
  if (!e->loaded || e->dropped || g_atomic_int_get (&e->whole) || e->fd < 0
      || !vf_range_set_contains (e->present, 0, e->total))
    return FALSE;
  cache_flush_queue_locked (cache, e);
  if (e->completed)
    return FALSE;
  e->completed = TRUE;
  return TRUE;
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
  if (!e->loaded || e->dropped || g_atomic_int_get (&e->whole) || e->fd < 0
      || !vf_range_set_contains (e->present, 0, e->total))
    {
      cache_entry_broadcast_locked (e);
      g_mutex_unlock (&cache->lock);
      g_mutex_unlock (&e->save_lock);
      return FALSE;
    }
  gen = e->gen;
  fd = e->fd;
  e->saving++;
  g_mutex_unlock (&cache->lock);

  if (cache->config.sync_data)
    vf_fdatasync_noeintr (fd);

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
  cache_evict_locked (cache);
  cache_entry_broadcast_locked (e);
  g_mutex_unlock (&cache->lock);
  g_mutex_unlock (&e->save_lock);
  return done;
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
        cache_entry_save (cache, e);
      g_mutex_lock (&cache->lock);
      e->saving--;
      cache_entry_unref_locked (e);
    }
  g_mutex_unlock (&cache->lock);
  return NULL;
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

/* Lets the flusher finish what it was asked to, and waits for it. */
void
cache_flusher_stop (VfCache *cache)
{
  g_mutex_lock (&cache->lock);
  cache->flusher_stop = TRUE; /* no flusher starts after this */
  g_cond_signal (&cache->flush_cond);
  g_mutex_unlock (&cache->lock);
  if (cache->flusher)
    g_thread_join (cache->flusher);
}
