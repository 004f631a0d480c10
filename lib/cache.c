/* cache.c: the content cache's public face (vf-cache.h, cache-testing.h):
 * making and freeing the cache, acquiring loaded entries for readers, and
 * the calls production and the tests make.  The engine is in the sibling
 * files; cache-private.h maps them and states the locks. */
#include "cache-private.h"
#include "cache-testing.h"
#include "vf-fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

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

static gint64
now_us (void)
{
  return g_get_real_time ();
}

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
  e = cache_entry_get_locked (cache, task->id, variant, error);
  if (!e || !cache_entry_load_locked (cache, e, total, error))
    return NULL;
  cache_entry_set_task_locked (e, task);
  e->last_used = now_us ();
  e->ref++;
  e->readers++; /* not unloaded by the trim */
  cache_trim_loaded_locked (cache);
  e->readers--;
  return e;
}

gssize
vf_cache_read_fd (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total, gsize len,
                  gint64 offset, int *fd_out, GCancellable *cancellable, GError **error)
{
  Entry *e;
  gssize n;

  g_return_val_if_fail (fd_out != NULL, -1);

  *fd_out = -1;
  g_mutex_lock (&cache->lock);
  e = entry_acquire_locked (cache, task, variant, total, error);
  if (e)
    e->readers++;
  g_mutex_unlock (&cache->lock);
  if (!e)
    return -1;

  n = cache_entry_read_fd (cache, e, len, offset, fd_out, cancellable, error);

  g_mutex_lock (&cache->lock);
  e->readers--;
  cache_entry_unref_locked (e);
  g_mutex_unlock (&cache->lock);
  return n;
}

/* The `n` bytes at `offset` of a descriptor handed out, copied into buf;
 * closes the descriptor. */
static gssize
copy_out (gssize n, int fd, void *buf, gint64 offset, const char *path, GError **error)
{
  int errsv;

  if (n <= 0)
    return n;
  errsv = vf_pread_all (fd, buf, n, offset);
  close (fd);
  if (errsv)
    {
      cache_set_disk_error (error, errsv, "Cannot read", path);
      return -1;
    }
  return n;
}

gssize
vf_cache_read (VfCache *cache, const VfTask *task, VfVariant variant, gint64 total, void *buf,
               gsize len, gint64 offset, GCancellable *cancellable, GError **error)
{
  g_autofree char *path = NULL;
  int fd = -1;
  gssize n;

  n = vf_cache_read_fd (cache, task, variant, total, len, offset, &fd, cancellable, error);
  if (n > 0)
    path = g_build_filename (cache->dir, task->id, vf_variant_name (variant), NULL);
  return copy_out (n, fd, buf, offset, path, error);
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
  int fd = -1;
  gssize n;

  n = cache_entry_read_fd (entry->cache, entry, len, offset, &fd, cancellable, error);
  return copy_out (n, fd, buf, offset, entry->whole_path, error);
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
  cache_entry_unref_locked (entry);
  cache_evict_locked (cache);
  g_mutex_unlock (&cache->lock);
}

gboolean
vf_cache_is_whole (VfCache *cache, const char *id, VfVariant variant, gint64 total)
{
  gboolean whole = FALSE;
  Entry *e;

  g_mutex_lock (&cache->lock);
  e = cache_entry_lookup_locked (cache, id, variant);
  if (e && cache_entry_load_locked (cache, e, total, NULL))
    whole = g_atomic_int_get (&e->whole);
  g_mutex_unlock (&cache->lock);
  return whole;
}

int
vf_cache_open_whole (VfCache *cache, const char *id, VfVariant variant, gint64 total)
{
  /* The layout: a file under its plain name is whole. */
  g_autofree char *path = g_build_filename (cache->dir, id, vf_variant_name (variant), NULL);
  struct stat st;
  int fd;

  if (total < 0)
    return -1;
  fd = vf_open_noeintr (path, O_RDONLY, 0);
  if (fd < 0)
    return -1;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size != total)
    {
      close (fd);
      return -1;
    }
  return fd;
}

guint64
vf_cache_cached_bytes (VfCache *cache, const char *id, VfVariant variant)
{
  guint64 bytes = 0;
  Entry *e;

  g_mutex_lock (&cache->lock);
  e = cache_entry_lookup_locked (cache, id, variant);
  if (e)
    bytes = e->disk_bytes;
  g_mutex_unlock (&cache->lock);
  return bytes;
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
        s = cache_stream_new_locked (cache, e, vf_range_set_next_gap (e->present, 0, e->total),
                                     cache->config.max_chunk, TRUE);
      if (s->state == STREAM_IDLE)
        cache_kick_locked (cache, s, 1);
    }
  if (e)
    cache_entry_unref_locked (e);
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
  for (VfVariant v = 0; v < VF_N_VARIANTS; v++)
    {
      Entry *e = cache_entry_lookup_locked (cache, id, v);

      if (e)
        cache_entry_remove_locked (cache, e, to_cancel);
    }
  g_mutex_unlock (&cache->lock);
  /* Outside the lock: a cancellation runs handlers. */
  cancel_all (to_cancel);
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
      cache_set_disk_error (error, errno, "Cannot create", dir);
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
  cache->pool = g_thread_pool_new (cache_pool_run, cache, cache->config.threads, FALSE, NULL);
  cache->prefetch_pool
      = g_thread_pool_new (cache_pool_run, cache, cache->config.prefetch_threads, FALSE, NULL);
  g_thread_pool_set_sort_function (cache->pool, cache_pool_order, NULL);
  g_thread_pool_set_sort_function (cache->prefetch_pool, cache_pool_order, NULL);
  g_cond_init (&cache->flush_cond);
  g_cond_init (&cache->flushed_cond);
  g_queue_init (&cache->flush_queue);

  g_mutex_lock (&cache->lock);
  cache_scan_dir (cache);
  cache_evict_locked (cache);
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
      cache_entry_broadcast_locked (e);
    }
  g_cond_broadcast (&cache->closing_cond);
  g_mutex_unlock (&cache->lock);

  cancel_all (to_cancel);
  /* Queued jobs run and return at once; running ones stop. */
  g_thread_pool_free (cache->pool, FALSE, TRUE);
  g_thread_pool_free (cache->prefetch_pool, FALSE, TRUE);
  /* The flusher saves what it was asked to, then the rest is saved here. */
  cache_flusher_stop (cache);

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
        cache_entry_save (cache, e);
    }

  g_mutex_lock (&cache->lock);
  for (guint i = 0; i < entries->len; i++)
    cache_entry_unref_locked (entries->pdata[i]);
  g_hash_table_iter_init (&iter, cache->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      g_hash_table_iter_steal (&iter);
      cache_entry_unref_locked (value);
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
