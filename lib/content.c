/* content.c: the content cache (whole files, checked before they are kept).
 *
 * How a read waits for a download: the first reader of an uncached
 * (id, variant) puts an entry in `entries` and pushes it to a thread pool;
 * later readers find the entry and wait on the one condition variable until
 * it is done.  The pool thread writes to CACHE_DIR/ID/.VARIANT.part, resumes
 * with Range + If-Range after a cut (at most three tries in all), checks the
 * size against the one announced at completion, renames the file into place,
 * then wakes everyone.  Readers then pread() the final file.  Waits are
 * sliced so a cancelled reader leaves promptly while the download goes on.
 */
#include "vf-content.h"
#include "vf-error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FETCH_THREADS 4
#define PREFETCH_THREADS 2
#define MAX_TRIES 3
#define WAIT_SLICE_US (100 * 1000)

typedef struct
{
  int ref; /* under the cache's lock */
  char *key;
  char *id;
  VfVariant variant;
  VfTask *task;
  gint64 total;
  gboolean prefetch;
  gboolean started;
  gboolean done;
  GError *error;
  GCancellable *cancellable;
} Entry;

struct vf_content
{
  VfClient *client;
  char *dir;
  guint64 cache_max;
  VfContentDoneFunc done;
  gpointer user_data;

  GMutex lock;
  GCond cond;
  GHashTable *entries; /* key -> Entry*, downloads queued or running */
  GThreadPool *fetch_pool;
  GThreadPool *prefetch_pool;
  gboolean closing;
};

static char *
entry_key (const char *id, VfVariant variant)
{
  return g_strdup_printf ("%s/%s", id, vf_variant_name (variant));
}

static char *
final_path (VfContent *content, const char *id, VfVariant variant)
{
  return g_build_filename (content->dir, id, vf_variant_name (variant), NULL);
}

/* Call with the lock held. */
static void
entry_unref_locked (Entry *entry)
{
  if (--entry->ref > 0)
    return;
  g_free (entry->key);
  g_free (entry->id);
  vf_task_free (entry->task);
  g_clear_error (&entry->error);
  g_object_unref (entry->cancellable);
  g_free (entry);
}

static void
entry_unref (VfContent *content, Entry *entry)
{
  g_mutex_lock (&content->lock);
  entry_unref_locked (entry);
  g_mutex_unlock (&content->lock);
}

static void
set_errno_error (GError **error, int errsv, const char *what, const char *path)
{
  VfErrorCode code = errsv == ENOSPC || errsv == EDQUOT ? VF_ERROR_NO_SPACE : VF_ERROR_FAILED;

  vf_set_error (error, code, "%s %s: %s", what, path, g_strerror (errsv));
}

static int
pwrite_all (int fd, const void *data, gsize len, gint64 offset)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = pwrite (fd, p, len, offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno;
      p += n;
      len -= n;
      offset += n;
    }
  return 0;
}

/* -1: not cached (or not whole); else the bytes read. */
static gssize
read_cached (VfContent *content, const char *id, VfVariant variant, gint64 total, void *buf,
             gsize len, gint64 offset, GError **error)
{
  g_autofree char *path = final_path (content, id, variant);
  struct stat st;
  gsize done = 0;
  int fd;

  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (fstat (fd, &st) < 0 || (total >= 0 && st.st_size != total))
    {
      close (fd);
      return -1;
    }
  while (done < len)
    {
      ssize_t n = pread (fd, (char *)buf + done, len - done, offset + done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;

          close (fd);
          set_errno_error (error, errsv, "Cannot read", path);
          return -2;
        }
      if (n == 0)
        break;
      done += n;
    }
  close (fd);
  return done;
}

gboolean
vf_content_is_cached (VfContent *content, const char *id, VfVariant variant, gint64 total)
{
  g_autofree char *path = final_path (content, id, variant);
  struct stat st;

  if (stat (path, &st) < 0 || !S_ISREG (st.st_mode))
    return FALSE;
  return total < 0 || st.st_size == total;
}

/* ----- downloading ----- */

typedef struct
{
  int fd;
  gint64 asked; /* the offset asked for */
  gint64 pos;   /* where the next byte goes */
  gint64 total;
  gboolean first;
  const VfContentInfo *info;
  const char *path;
} Sink;

static gboolean
sink_write (const void *data, gsize len, gpointer user_data, GError **error)
{
  Sink *sink = user_data;
  int errsv;

  if (sink->first)
    {
      gint64 start = sink->info->status ? sink->info->start : sink->asked;

      sink->first = FALSE;
      /* A server that ignores Range sends it all again from byte 0. */
      if (start != sink->asked && start != 0)
        {
          vf_set_error (error, VF_ERROR_PROTOCOL,
                        "the content answer starts at byte %" G_GINT64_FORMAT
                        ", not at %" G_GINT64_FORMAT,
                        start, sink->asked);
          return FALSE;
        }
      sink->pos = start;
    }
  if (sink->total >= 0 && sink->pos + (gint64)len > sink->total)
    {
      vf_set_error (error, VF_ERROR_PROTOCOL,
                    "the API sent more than the %" G_GINT64_FORMAT " bytes it announced",
                    sink->total);
      return FALSE;
    }
  errsv = pwrite_all (sink->fd, data, len, sink->pos);
  if (errsv)
    {
      set_errno_error (error, errsv, "Cannot write", sink->path);
      return FALSE;
    }
  sink->pos += len;
  return TRUE;
}

static gboolean
is_final_error (const GError *error)
{
  if (error->domain != VF_ERROR)
    return TRUE;
  switch (error->code)
    {
    case VF_ERROR_NOT_FOUND:
    case VF_ERROR_AUTH:
    case VF_ERROR_INVALID:
    case VF_ERROR_NO_SPACE:
    case VF_ERROR_EXPIRED:
    case VF_ERROR_FAILED:
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
download (VfContent *content, Entry *entry, GError **error)
{
  g_autofree char *dir = g_build_filename (content->dir, entry->id, NULL);
  g_autofree char *part = NULL;
  g_autofree char *final = final_path (content, entry->id, entry->variant);
  g_autofree char *etag = NULL;
  gint64 have = 0;
  int fd;

  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      set_errno_error (error, errno, "Cannot create", dir);
      return FALSE;
    }
  part = g_strdup_printf ("%s/.%s.part", dir, vf_variant_name (entry->variant));
  fd = open (part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      set_errno_error (error, errno, "Cannot create", part);
      return FALSE;
    }

  for (int attempt = 0;; attempt++)
    {
      VfContentInfo info = { 0 };
      g_autoptr (GError) local = NULL;
      Sink sink = { fd, have, have, entry->total, TRUE, &info, part };
      gboolean ok;

      info.total_size = -1;
      info.start = 0;
      info.length = -1;
      ok = vf_client_content (content->client, entry->task, entry->variant, have, -1,
                              have > 0 ? etag : NULL, sink_write, &sink, &info, entry->cancellable,
                              &local);
      if (ok && sink.first)
        sink.pos = MAX (info.start, 0); /* an empty body */
      if (ok && entry->total >= 0 && sink.pos != entry->total)
        vf_set_error (&local, VF_ERROR_PROTOCOL,
                      "the API sent %" G_GINT64_FORMAT
                      " bytes of content; it had announced %" G_GINT64_FORMAT,
                      sink.pos, entry->total);
      else if (ok)
        {
          vf_content_info_clear (&info);
          break;
        }

      if (is_final_error (local) || attempt + 1 >= MAX_TRIES
          || g_cancellable_is_cancelled (entry->cancellable))
        {
          vf_content_info_clear (&info);
          close (fd);
          g_unlink (part);
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      g_debug ("content of %s: try %d failed (%s); trying again", entry->key, attempt + 1,
               local->message);
      /* Resume only where the server can prove the bytes are the same ones. */
      if (info.ranges && info.etag && sink.pos > 0 && (!etag || g_strcmp0 (etag, info.etag) == 0))
        {
          have = sink.pos;
          if (!etag)
            etag = g_strdup (info.etag);
        }
      else
        {
          have = 0;
          g_clear_pointer (&etag, g_free);
        }
      vf_content_info_clear (&info);
      g_usleep (100 * 1000 * (attempt + 1));
    }

  if (close (fd) < 0)
    {
      set_errno_error (error, errno, "Cannot write", part);
      g_unlink (part);
      return FALSE;
    }
  if (g_rename (part, final) < 0)
    {
      set_errno_error (error, errno, "Cannot rename", part);
      g_unlink (part);
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  char *path;
  gint64 size;
  gint64 mtime;
} CacheFile;

static void
cache_file_free (gpointer data)
{
  CacheFile *file = data;

  g_free (file->path);
  g_free (file);
}

static gint
cache_file_older (gconstpointer a, gconstpointer b)
{
  const CacheFile *fa = *(CacheFile *const *)a;
  const CacheFile *fb = *(CacheFile *const *)b;

  return (fa->mtime > fb->mtime) - (fa->mtime < fb->mtime);
}

/* Oldest whole files out until the cache fits, never `keep`. */
static void
evict (VfContent *content, const char *keep)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (cache_file_free);
  g_autoptr (GDir) top = g_dir_open (content->dir, 0, NULL);
  const char *id;
  guint64 sum = 0;

  if (!top)
    return;
  while ((id = g_dir_read_name (top)))
    {
      g_autofree char *sub = g_build_filename (content->dir, id, NULL);
      g_autoptr (GDir) dir = g_dir_open (sub, 0, NULL);
      const char *name;

      if (!dir)
        continue;
      while ((name = g_dir_read_name (dir)))
        {
          CacheFile *file;
          struct stat st;
          g_autofree char *path = NULL;

          if (name[0] == '.')
            continue;
          path = g_build_filename (sub, name, NULL);
          if (stat (path, &st) < 0 || !S_ISREG (st.st_mode))
            continue;
          sum += st.st_size;
          file = g_new0 (CacheFile, 1);
          file->path = g_steal_pointer (&path);
          file->size = st.st_size;
          file->mtime = st.st_mtime;
          g_ptr_array_add (files, file);
        }
    }
  g_ptr_array_sort (files, cache_file_older);
  for (guint i = 0; i < files->len && sum > content->cache_max; i++)
    {
      CacheFile *file = files->pdata[i];

      if (g_strcmp0 (file->path, keep) == 0)
        continue;
      if (g_unlink (file->path) == 0)
        sum -= file->size;
    }
}

static void
download_func (gpointer data, gpointer user_data)
{
  VfContent *content = user_data;
  Entry *entry = data;
  GError *error = NULL;
  gboolean closing;

  g_mutex_lock (&content->lock);
  entry->started = TRUE;
  closing = content->closing;
  g_mutex_unlock (&content->lock);

  if (closing || g_cancellable_set_error_if_cancelled (entry->cancellable, &error))
    {
      if (!error)
        g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "The cache is closing");
    }
  else if (download (content, entry, &error) && content->cache_max > 0)
    {
      g_autofree char *path = final_path (content, entry->id, entry->variant);

      evict (content, path);
    }

  /* Before the readers wake, so that what they see next agrees. */
  if (content->done && !closing)
    content->done (entry->id, entry->variant, error, content->user_data);

  g_mutex_lock (&content->lock);
  entry->done = TRUE;
  entry->error = error;
  if (g_hash_table_lookup (content->entries, entry->key) == entry)
    {
      g_hash_table_remove (content->entries, entry->key);
      entry_unref_locked (entry); /* the table's reference */
    }
  g_cond_broadcast (&content->cond);
  g_mutex_unlock (&content->lock);
  entry_unref (content, entry);
}

/* Call with the lock held.  The entry stays valid while the lock is held. */
static Entry *
entry_start_locked (VfContent *content, const VfTask *task, VfVariant variant, gint64 total,
                    gboolean prefetch)
{
  g_autofree char *key = entry_key (task->id, variant);
  Entry *entry = g_hash_table_lookup (content->entries, key);

  if (entry)
    return entry;
  entry = g_new0 (Entry, 1);
  entry->ref = 2; /* the table's and the pool's */
  entry->key = g_steal_pointer (&key);
  entry->id = g_strdup (task->id);
  entry->variant = variant;
  entry->task = vf_task_copy (task);
  entry->total = total;
  entry->prefetch = prefetch;
  entry->cancellable = g_cancellable_new ();
  g_hash_table_insert (content->entries, entry->key, entry);
  g_thread_pool_push (prefetch ? content->prefetch_pool : content->fetch_pool, entry, NULL);
  return entry;
}

gssize
vf_content_read (VfContent *content, const VfTask *task, VfVariant variant, gint64 total, void *buf,
                 gsize len, gint64 offset, GCancellable *cancellable, GError **error)
{
  Entry *entry;
  gssize n;

  g_return_val_if_fail (task != NULL && task->id != NULL, -1);

  if (offset < 0)
    {
      vf_set_error (error, VF_ERROR_INVALID, "negative offset");
      return -1;
    }
  if (len == 0 || (total >= 0 && offset >= total))
    return 0;

  for (int round = 0; round < 3; round++)
    {
      n = read_cached (content, task->id, variant, total, buf, len, offset, error);
      if (n >= 0)
        return n;
      if (n == -2)
        return -1;

      g_mutex_lock (&content->lock);
      if (content->closing)
        {
          g_mutex_unlock (&content->lock);
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "The cache is closing");
          return -1;
        }
      entry = entry_start_locked (content, task, variant, total, FALSE);
      entry->ref++;
      if (entry->prefetch && !entry->started)
        g_thread_pool_move_to_front (content->prefetch_pool, entry);
      while (!entry->done && !g_cancellable_is_cancelled (cancellable))
        g_cond_wait_until (&content->cond, &content->lock, g_get_monotonic_time () + WAIT_SLICE_US);
      if (!entry->done)
        {
          entry_unref_locked (entry);
          g_mutex_unlock (&content->lock);
          g_cancellable_set_error_if_cancelled (cancellable, error);
          return -1;
        }
      if (entry->error)
        {
          if (error)
            *error = g_error_copy (entry->error);
          entry_unref_locked (entry);
          g_mutex_unlock (&content->lock);
          return -1;
        }
      entry_unref_locked (entry);
      g_mutex_unlock (&content->lock);
    }
  /* Fetched three times and gone each time: the cache cap is below the file. */
  vf_set_error (error, VF_ERROR_NO_SPACE, "the content does not fit in the cache (cache_max)");
  return -1;
}

void
vf_content_prefetch (VfContent *content, const VfTask *task, VfVariant variant, gint64 total)
{
  g_return_if_fail (task != NULL && task->id != NULL);

  if (vf_content_is_cached (content, task->id, variant, total))
    return;
  g_mutex_lock (&content->lock);
  if (!content->closing)
    entry_start_locked (content, task, variant, total, TRUE);
  g_mutex_unlock (&content->lock);
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir)
    while ((name = g_dir_read_name (dir)))
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        g_unlink (child);
      }
  g_rmdir (path);
}

void
vf_content_drop (VfContent *content, const char *id)
{
  g_autofree char *dir = NULL;
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (id != NULL);

  g_mutex_lock (&content->lock);
  g_hash_table_iter_init (&iter, content->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Entry *entry = value;

      if (strcmp (entry->id, id) == 0)
        g_cancellable_cancel (entry->cancellable);
    }
  g_mutex_unlock (&content->lock);

  dir = g_build_filename (content->dir, id, NULL);
  remove_tree (dir);
}

VfContent *
vf_content_new (VfClient *client, const char *cache_dir, guint64 cache_max, VfContentDoneFunc done,
                gpointer user_data)
{
  VfContent *content = g_new0 (VfContent, 1);

  content->client = client;
  content->dir = g_strdup (cache_dir);
  content->cache_max = cache_max;
  content->done = done;
  content->user_data = user_data;
  g_mutex_init (&content->lock);
  g_cond_init (&content->cond);
  content->entries = g_hash_table_new (g_str_hash, g_str_equal);
  content->fetch_pool = g_thread_pool_new (download_func, content, FETCH_THREADS, FALSE, NULL);
  content->prefetch_pool
      = g_thread_pool_new (download_func, content, PREFETCH_THREADS, FALSE, NULL);
  return content;
}

void
vf_content_free (VfContent *content)
{
  GHashTableIter iter;
  gpointer value;

  if (!content)
    return;
  g_mutex_lock (&content->lock);
  content->closing = TRUE;
  g_hash_table_iter_init (&iter, content->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_cancellable_cancel (((Entry *)value)->cancellable);
  g_mutex_unlock (&content->lock);

  /* Queued entries still run, see `closing` and drop their references. */
  g_thread_pool_free (content->fetch_pool, FALSE, TRUE);
  g_thread_pool_free (content->prefetch_pool, FALSE, TRUE);

  g_mutex_lock (&content->lock);
  g_hash_table_iter_init (&iter, content->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      g_hash_table_iter_remove (&iter);
      entry_unref_locked (value);
    }
  g_mutex_unlock (&content->lock);

  g_hash_table_unref (content->entries);
  g_cond_clear (&content->cond);
  g_mutex_clear (&content->lock);
  g_free (content->dir);
  g_free (content);
}
