/* cache-evict.c: what leaves the cache.  Idle entries beyond MAX_LOADED
 * close their files; beyond cache_max, idle files leave the disk. */
#include "cache-private.h"

#include <glib/gstdio.h>
#include <unistd.h>

/* Removes an entry from the cache and the disk. */
void
cache_entry_remove_locked (VfCache *cache, Entry *e, GPtrArray *to_cancel)
{
  e->dropped = TRUE;
  g_atomic_int_set (&e->whole, 0);
  cache_entry_unlink_files (e);
  g_rmdir (e->dir_path); /* fails while other variants are there */
  cache_entry_set_disk_bytes_locked (e, 0);
  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *s = e->streams->pdata[i];

      if (to_cancel && s->state == STREAM_RUNNING)
        g_ptr_array_add (to_cancel, g_object_ref (s->cancellable));
    }
  cache_entry_broadcast_locked (e);
  g_cond_broadcast (&cache->closing_cond);
  g_hash_table_remove (cache->entries, e->key);
  cache_entry_unref_locked (e); /* the table's */
}

static gboolean
entry_idle (const Entry *e)
{
  if (e->opens > 0 || e->readers > 0 || e->saving > 0 || e->flush_queued || e->dropped)
    return FALSE;
  for (guint i = 0; i < e->streams->len; i++)
    {
      const Stream *s = e->streams->pdata[i];

      if (cache_stream_active (s) || s->in_pool)
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
  if (e->fd >= 0)
    close (e->fd);
  e->fd = -1;
  g_clear_error (&e->fd_error);
  for (guint i = 0; i < e->old_fds->len; i++)
    close (g_array_index (e->old_fds, int, i));
  g_array_set_size (e->old_fds, 0);
  vf_range_set_clear (e->present);
  g_clear_pointer (&e->etag, g_free);
  e->completed = FALSE;
  for (guint i = 0; i < e->streams->len; i++)
    cache_stream_unref_locked (e->streams->pdata[i]);
  g_ptr_array_set_size (e->streams, 0);
  e->loaded = FALSE;
  cache->loaded--;
}

/* Keeps the number of open files bounded: least recently used idle
 * entries are unloaded. */
void
cache_trim_loaded_locked (VfCache *cache)
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
void
cache_evict_locked (VfCache *cache)
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
      cache_entry_remove_locked (cache, victim, NULL);
    }
}
