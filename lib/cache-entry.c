/* cache-entry.c: entries and streams as objects: references, the table,
 * the pools' queue order, and which stream fetches a byte. */
#include "cache-private.h"

#include <unistd.h>

Entry *
cache_entry_new (VfCache *cache, const char *id, VfVariant variant)
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

void
cache_stream_unref_locked (Stream *s)
{
  if (--s->ref > 0)
    return;
  g_clear_error (&s->error);
  g_object_unref (s->cancellable);
  g_free (s);
}

void
cache_entry_unref_locked (Entry *e)
{
  if (--e->ref > 0)
    return;
  if (e->loaded)
    e->cache->loaded--;
  for (guint i = 0; i < e->streams->len; i++)
    cache_stream_unref_locked (e->streams->pdata[i]);
  g_ptr_array_unref (e->streams);
  if (e->fd >= 0)
    close (e->fd);
  for (guint i = 0; i < e->old_fds->len; i++)
    close (g_array_index (e->old_fds, int, i));
  g_array_unref (e->old_fds);
  g_clear_error (&e->fd_error);
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

void
cache_entry_broadcast_locked (Entry *e)
{
  g_cond_broadcast (&e->cond);
  e->wake_at = G_MAXINT64;
}

Stream *
cache_stream_new_locked (VfCache *cache, Entry *e, gint64 pos, gint64 chunk, gboolean prefetch)
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

gboolean
cache_stream_active (const Stream *s)
{
  return s->state == STREAM_QUEUED || s->state == STREAM_RUNNING;
}

/* Idle streams are kept as cursors that remember how far a sequence got
 * (and how big its requests have grown); too many are pruned. */
void
cache_entry_prune_idle_locked (Entry *e)
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
          cache_stream_unref_locked (s);
          idle--;
        }
      else
        i++;
    }
}

void
cache_kick_locked (VfCache *cache, Stream *s, int prio)
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

gint
cache_pool_order (gconstpointer a, gconstpointer b, gpointer user_data)
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
Stream *
cache_owner_locked (VfCache *cache, Entry *e, const Stream *self, gint64 g)
{
  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *s = e->streams->pdata[i];

      if (s == self || !cache_stream_active (s) || (s->prefetch && s->state == STREAM_QUEUED))
        continue;
      if (s->whole)
        return s;
      if (s->pos <= g && g - s->pos <= cache->config.join_distance)
        return s;
    }
  return NULL;
}

/* The entry of (id, variant), made if needed; borrowed from the table. */
Entry *
cache_entry_get_locked (VfCache *cache, const char *id, VfVariant variant, GError **error)
{
  g_autofree char *key = NULL;
  Entry *e;

  if (!vf_id_check (id, error))
    return NULL;
  key = g_strdup_printf ("%s/%s", id, vf_variant_name (variant));
  e = g_hash_table_lookup (cache->entries, key);
  if (!e)
    {
      e = cache_entry_new (cache, id, variant);
      g_hash_table_insert (cache->entries, e->key, e);
    }
  return e;
}

/* The entry of (id, variant) if the table has one; borrowed. */
Entry *
cache_entry_lookup_locked (VfCache *cache, const char *id, VfVariant variant)
{
  g_autofree char *key = g_strdup_printf ("%s/%s", id, vf_variant_name (variant));

  return g_hash_table_lookup (cache->entries, key);
}
void
cache_entry_set_task_locked (Entry *e, const VfTask *task)
{
  if (!e->task || g_strcmp0 (e->task->video_url, task->video_url) != 0
      || e->task->protocol != task->protocol)
    {
      vf_task_free (e->task);
      e->task = vf_task_copy (task);
    }
}

void
cache_entry_set_disk_bytes_locked (Entry *e, guint64 bytes)
{
  e->cache->usage -= MIN (e->disk_bytes, e->cache->usage);
  e->disk_bytes = bytes;
  e->cache->usage += bytes;
}
