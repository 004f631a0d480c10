/* jobs-content.c: the content files of jobs and of videos/ entries: their
 * sizes, their bytes (through the content cache), what a download's outcome
 * does to the job (an `error` line, or `expired`), and expiry.
 *
 * The one definition of expiry is vf_content_error_is_gone(): the API
 * answered that it no longer has the bytes.  A NOT_FOUND with no HTTP
 * status is no answer of the API's (a forget dropped the bytes, the cache
 * is closing) and changes nothing.
 */
#include "jobs-private.h"
#include "vf-content.h"
#include "vf-error.h"

#include <string.h>
#include <unistd.h>

/* A download failure, as the `error` file shows it; not a cancelled wait,
 * a closing cache or a local refusal. */
static gboolean
is_fetch_error (const GError *error)
{
  if (error->domain != VF_ERROR)
    return FALSE;
  return vf_error_http_status (error) > 0
         || (error->code != VF_ERROR_FAILED && error->code != VF_ERROR_INVALID
             && error->code != VF_ERROR_NOT_FOUND);
}

/* ----- expiry ----- */

void
vf_jobs_mark_expired (VfJobs *jobs, const char *id, gboolean expired)
{
  VfTxn txn;
  GHashTableIter iter;
  gpointer value;
  Video *video;

  vf_txn_begin (&txn, jobs);
  video = g_hash_table_lookup (jobs->videos, id);
  if (video && video->expired != expired)
    {
      video->expired = expired;
      vf_txn_note (&txn, NULL, VF_CHANGE_STATUS);
    }
  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->phase != VF_JOB_LIVE || g_strcmp0 (job->id, id) != 0 || job->expired == expired)
        continue;
      job->expired = expired;
      job->poll.expiry_checked = TRUE;
      job->changed_us = g_get_real_time ();
      if (expired)
        vf_txn_event (&txn, job, "expired", NULL);
      vf_txn_note (&txn, job->name, VF_CHANGE_STATUS);
      vf_txn_record (&txn, vf_job_record (job, "task"), FALSE);
    }
  vf_txn_commit (&txn, NULL);
}

/* ----- sizes ----- */

gboolean
vf_jobs_probe_task (VfJobs *jobs, const VfTask *task, gint64 sizes[VF_N_VARIANTS],
                    gboolean *expired, GError **error)
{
  const VfVariant *variants;
  gsize n_variants;

  *expired = FALSE;
  for (int v = 0; v < VF_N_VARIANTS; v++)
    sizes[v] = -1;
  variants = vf_protocol_variants (task->protocol, &n_variants);
  for (gsize i = 0; i < n_variants; i++)
    {
      VfVariant v = variants[i];
      VfContentInfo info = { 0 };
      g_autoptr (GError) local = NULL;

      if (vf_client_content_probe (jobs->client, task, v, &info, &local))
        {
          sizes[v] = info.total_size;
          vf_content_info_clear (&info);
          continue;
        }
      vf_content_info_clear (&info);
      /* A 404 means the variant is absent (for the video: gone); so does a
       * task that names no URL for it. */
      if (g_error_matches (local, VF_ERROR, VF_ERROR_NOT_FOUND)
          || g_error_matches (local, VF_ERROR, VF_ERROR_EXPIRED))
        {
          if (v == VF_VARIANT_VIDEO)
            *expired = TRUE;
          continue;
        }
      if (v == VF_VARIANT_VIDEO || g_error_matches (local, VF_ERROR, VF_ERROR_RATE_LIMITED))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      g_debug ("%s of %s: %s", vf_variant_name (v), task->id, local->message);
    }
  return TRUE;
}

/* The size of (id, variant) as a job showing `id` announced it, or -1. */
static gint64
content_size_of (VfJobs *jobs, const char *id, VfVariant variant)
{
  Job *job;
  gint64 total = -1;

  g_mutex_lock (&jobs->lock);
  job = vf_jobs_by_id_locked (jobs, id);
  if (job)
    total = job->content_size[variant];
  g_mutex_unlock (&jobs->lock);
  return total;
}

/* Every byte of (id, variant) is in the cache, though perhaps not yet
 * under its final name: the cache renames the file just after. */
gboolean
vf_jobs_content_cached (VfJobs *jobs, const char *id, VfVariant variant, gint64 total)
{
  return total >= 0
         && (vf_cache_cached_bytes (jobs->cache, id, variant) >= (guint64)total
             || vf_cache_is_whole (jobs->cache, id, variant, total));
}

void
vf_jobs_prefetch (VfJobs *jobs, const VfTask *task, gint64 total)
{
  vf_cache_prefetch (jobs->cache, task, VF_VARIANT_VIDEO, total);
}

/* ----- a download's outcome ----- */

void
vf_jobs_content_done (const char *id, VfVariant variant, const GError *error, gpointer user_data)
{
  VfJobs *jobs = user_data;
  GHashTableIter iter;
  gpointer value;
  g_autofree char *message = NULL;
  gint64 total = -1;
  VfTxn txn;

  if (error && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error && vf_content_error_is_gone (error))
    {
      vf_jobs_mark_expired (jobs, id, TRUE);
      return;
    }
  /* A failure reported after another download completed the file is old
   * news.  Looked at again once the error is set, so that whichever of the
   * two reports comes last, a complete file shows no error. */
  if (error && vf_jobs_content_cached (jobs, id, variant, content_size_of (jobs, id, variant)))
    return;
  if (error && g_error_matches (error, VF_ERROR, VF_ERROR_NOT_FOUND))
    return;
  if (error)
    message = g_strdup_printf ("could not fetch %s: %s", vf_variant_file_name (variant),
                               error->message);

  vf_txn_begin_unjournaled (&txn, jobs);
  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;
      g_autofree char *line = message ? vf_one_line (message) : NULL;

      if (job->phase != VF_JOB_LIVE || g_strcmp0 (job->id, id) != 0)
        continue;
      total = job->content_size[variant];
      if (g_strcmp0 (job->content_error, line) == 0)
        continue;
      g_free (job->content_error);
      job->content_error = g_steal_pointer (&line);
      job->changed_us = g_get_real_time ();
      vf_txn_note (&txn, job->name, VF_CHANGE_STATUS);
    }
  vf_txn_commit (&txn, NULL);
  if (!error && variant == VF_VARIANT_VIDEO)
    vf_jobs_mark_expired (jobs, id, FALSE);
  if (error && vf_jobs_content_cached (jobs, id, variant, total))
    vf_jobs_content_done (id, variant, NULL, jobs);
}

/* ----- reads ----- */

/* With the lock held: the task behind a content file (borrowed), its size
 * (-1 while unknown), whether it expired and whether its job shows a
 * content error.  NULL when there is no such completed job or video. */
static const VfTask *
content_source_locked (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant,
                       gint64 *total, gboolean *expired, gboolean *content_error)
{
  Job *job = by_id ? vf_jobs_by_id_locked (jobs, key) : g_hash_table_lookup (jobs->table, key);

  *total = -1;
  *expired = FALSE;
  *content_error = FALSE;
  if (job && job->phase == VF_JOB_LIVE && job->task && job->task->state == VF_STATE_COMPLETED
      && job->probed)
    {
      *total = job->content_size[variant];
      *expired = job->expired;
      *content_error = job->content_error != NULL;
      return job->task;
    }
  if (!job && by_id)
    {
      Video *video = g_hash_table_lookup (jobs->videos, key);

      if (video && video->probed && video->task->state == VF_STATE_COMPLETED)
        {
          *total = video->content_size[variant];
          *expired = video->expired;
          return video->task;
        }
    }
  return NULL;
}

/* The id and size of a content file whose size is known; NULL if none. */
static char *
content_id (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant, gint64 *total)
{
  const VfTask *source;
  gboolean expired;
  gboolean content_error;
  char *id = NULL;

  g_mutex_lock (&jobs->lock);
  source = content_source_locked (jobs, key, by_id, variant, total, &expired, &content_error);
  if (source && *total >= 0)
    id = g_strdup (source->id);
  g_mutex_unlock (&jobs->lock);
  return id;
}

gssize
vf_jobs_read_fd (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant, gsize len,
                 gint64 offset, int *fd_out, GCancellable *cancellable, GError **error)
{
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GError) local = NULL;
  const VfTask *source;
  gint64 total;
  gboolean expired;
  gboolean content_error;
  gssize n;

  g_return_val_if_fail (jobs != NULL && key != NULL && fd_out != NULL, -1);
  g_return_val_if_fail (variant < VF_N_VARIANTS, -1);

  *fd_out = -1;
  g_mutex_lock (&jobs->lock);
  source = content_source_locked (jobs, key, by_id, variant, &total, &expired, &content_error);
  if (source && total >= 0)
    task = vf_task_copy (source);
  g_mutex_unlock (&jobs->lock);

  if (!task)
    {
      vf_set_error (error, VF_ERROR_NOT_FOUND, "%s has no %s", key, vf_variant_file_name (variant));
      return -1;
    }
  if (!vf_jobs_content_cached (jobs, task->id, variant, total))
    {
      if (!expired && task->expires_at > 0
          && g_get_real_time () / G_USEC_PER_SEC >= task->expires_at)
        {
          vf_jobs_mark_expired (jobs, task->id, TRUE);
          expired = TRUE;
        }
      if (expired)
        {
          vf_set_error (error, VF_ERROR_EXPIRED, "the API no longer has the content of %s",
                        task->id);
          return -1;
        }
    }
  n = vf_cache_read_fd (jobs->cache, task, variant, total, len, offset, fd_out, cancellable,
                        &local);
  /* The cache reports a download's end on its own thread, possibly after
   * this read returned; the job shows it before the reader sees it. */
  if (n >= 0)
    {
      if (content_error && vf_jobs_content_cached (jobs, task->id, variant, total))
        vf_jobs_content_done (task->id, variant, NULL, jobs);
      return n;
    }
  if (vf_content_error_is_gone (local))
    {
      vf_jobs_mark_expired (jobs, task->id, TRUE);
      vf_set_error (error, VF_ERROR_EXPIRED, "the API no longer has the content of %s", task->id);
      return -1;
    }
  if (is_fetch_error (local))
    vf_jobs_content_done (task->id, variant, local, jobs);
  g_propagate_error (error, g_steal_pointer (&local));
  return -1;
}

gboolean
vf_jobs_content_is_whole (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant)
{
  g_autofree char *id = NULL;
  gint64 total;

  g_return_val_if_fail (jobs != NULL && key != NULL, FALSE);
  g_return_val_if_fail (variant < VF_N_VARIANTS, FALSE);

  id = content_id (jobs, key, by_id, variant, &total);
  return id && vf_jobs_content_cached (jobs, id, variant, total);
}

int
vf_jobs_content_open_fd (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant)
{
  g_autofree char *id = NULL;
  gint64 total;

  g_return_val_if_fail (jobs != NULL && key != NULL, -1);
  g_return_val_if_fail (variant < VF_N_VARIANTS, -1);

  id = content_id (jobs, key, by_id, variant, &total);
  if (!id)
    return -1;
  return vf_cache_open_whole (jobs->cache, id, variant, total);
}
