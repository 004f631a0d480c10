/* videos.c: the account's listing behind videos/.
 *
 * videos/ shows every task the API lists, plus the jobs known here.  The
 * listing is refreshed by the poller at most every `poll` seconds, and only
 * while someone looks (vf_jobs_video_ids() asks for it); readers are served
 * the last listing and never wait.  Sizes of an entry's files are learnt
 * when its directory is first looked at.  This file also fetches the pages
 * of a listing for the poller's adoption of `unknown` jobs.
 */
#include "jobs-private.h"
#include "vf-error.h"

#include <string.h>

#define LIST_LIMIT 100
#define VIDEO_PAGES 50

void
vf_video_free (gpointer data)
{
  Video *video = data;

  vf_task_free (video->task);
  g_free (video);
}

/* ----- listings ----- */

void
vf_listing_clear (VfListing *listing)
{
  g_clear_pointer (&listing->tasks, g_ptr_array_unref);
  g_clear_error (&listing->error);
}

void
vf_listing_fetch (VfJobs *jobs, VfProtocol protocol, int max_pages, gint64 stop_before_s,
                  GHashTable *wanted, VfListing *listing)
{
  g_autofree char *cursor = NULL;
  guint found = 0;
  gint64 seen = 0;

  listing->tasks = g_ptr_array_new_with_free_func ((GDestroyNotify)vf_task_free);
  listing->complete = FALSE;
  for (int page_num = 1; page_num <= max_pages; page_num++)
    {
      g_autoptr (VfTaskPage) page = NULL;
      g_autofree char *last_id = NULL;
      gint64 oldest = G_MAXINT64;
      guint n;

      page = vf_client_list (jobs->client, protocol, cursor, LIST_LIMIT, &listing->error);
      if (!page)
        return;
      n = page->tasks->len;
      seen += n;
      for (guint i = 0; i < n; i++)
        {
          VfTask *task = g_steal_pointer (&page->tasks->pdata[i]);

          if (task->created_at > 0)
            oldest = MIN (oldest, task->created_at);
          if (i == n - 1)
            last_id = g_strdup (task->id);
          /* only what was asked for is kept: pages of thousands of
           * tasks are not held at once */
          if (wanted && !(task->id && g_hash_table_contains (wanted, task->id)))
            {
              vf_task_free (task);
              continue;
            }
          if (wanted)
            found++;
          g_ptr_array_add (listing->tasks, task);
        }

      if (n == 0 || !page->has_more || (stop_before_s > 0 && oldest < stop_before_s)
          || (wanted && found >= g_hash_table_size (wanted)))
        {
          listing->complete = TRUE;
          return;
        }
      /* A page that counts the whole listing (Ark's) says when it ends. */
      if (page->total >= 0 && seen >= page->total)
        {
          listing->complete = TRUE;
          return;
        }
      g_free (cursor);
      cursor = g_strdup (page->next_cursor ? page->next_cursor : last_id);
    }
}

/* ----- the poller's work ----- */

static gboolean
any_job_of (VfJobs *jobs, VfProtocol protocol)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Job *)value)->protocol == protocol && ((Job *)value)->id)
      return TRUE;
  return FALSE;
}

/* With the table lock held: the listing of one protocol into jobs->videos. */
static void
merge_listing_locked (VfJobs *jobs, VfProtocol protocol, VfListing *listing)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer value;

  for (guint i = 0; i < listing->tasks->len; i++)
    {
      VfTask *task = listing->tasks->pdata[i];
      Video *video = g_hash_table_lookup (jobs->videos, task->id);

      g_hash_table_add (seen, task->id);
      if (!video)
        {
          video = g_new0 (Video, 1);
          for (int v = 0; v < VF_N_VARIANTS; v++)
            video->content_size[v] = -1;
          g_hash_table_insert (jobs->videos, g_strdup (task->id), video);
        }
      else if (video->task && task->state == VF_STATE_COMPLETED
               && video->task->state != VF_STATE_COMPLETED)
        video->probed = FALSE;
      vf_task_free (video->task);
      video->task = task;
      listing->tasks->pdata[i] = NULL;
    }
  /* Only a whole listing says what is gone. */
  if (listing->error)
    return;
  g_hash_table_iter_init (&iter, jobs->videos);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Video *video = value;

      if (video->task->protocol == protocol && !g_hash_table_contains (seen, video->task->id))
        g_hash_table_iter_remove (&iter);
    }
}

void
vf_videos_refresh (VfJobs *jobs, GError **rate_limited)
{
  VfListing listings[VF_N_PROTOCOLS] = { { 0 } };
  gboolean wanted[VF_N_PROTOCOLS];
  VfTxn txn;

  g_mutex_lock (&jobs->lock);
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    wanted[p] = !jobs->no_list[p];
  /* Ark and the gateway's Seedance are listed only for an account that
   * uses them here. */
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    wanted[p] = wanted[p] && (p == VF_PROTO_OPENAI || any_job_of (jobs, p));
  g_mutex_unlock (&jobs->lock);

  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    if (wanted[p])
      vf_listing_fetch (jobs, p, VIDEO_PAGES, 0, NULL, &listings[p]);

  vf_txn_begin_unjournaled (&txn, jobs);
  jobs->videos_wanted = FALSE;
  jobs->videos_listed = TRUE;
  jobs->videos_refreshed_us = g_get_monotonic_time ();
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    {
      const GError *error = listings[p].error;

      if (!wanted[p])
        continue;
      if (error)
        {
          g_debug ("listing videos: %s", error->message);
          if (vf_error_means_no_list (error))
            jobs->no_list[p] = TRUE;
          else if (g_error_matches (error, VF_ERROR, VF_ERROR_RATE_LIMITED) && rate_limited
                   && !*rate_limited)
            *rate_limited = g_error_copy (error);
          if (!listings[p].complete && listings[p].tasks->len == 0)
            continue;
        }
      merge_listing_locked (jobs, p, &listings[p]);
    }
  vf_txn_note (&txn, NULL, VF_CHANGE_JOBS);
  vf_txn_commit (&txn, NULL);
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    vf_listing_clear (&listings[p]);
}

void
vf_videos_probe (VfJobs *jobs, const char *id, GError **rate_limited)
{
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GError) error = NULL;
  gint64 sizes[VF_N_VARIANTS];
  gboolean expired = FALSE;
  Video *video;
  VfTxn txn;

  g_mutex_lock (&jobs->lock);
  video = g_hash_table_lookup (jobs->videos, id);
  if (video && !video->probed)
    task = vf_task_copy (video->task);
  g_mutex_unlock (&jobs->lock);
  if (!task)
    return;

  if (!vf_jobs_probe_task (jobs, task, sizes, &expired, &error))
    {
      g_debug ("sizes of %s: %s", id, error->message);
      g_mutex_lock (&jobs->lock);
      video = g_hash_table_lookup (jobs->videos, id);
      if (video)
        video->probe_wanted = FALSE; /* asked again on the next look */
      g_mutex_unlock (&jobs->lock);
      if (g_error_matches (error, VF_ERROR, VF_ERROR_RATE_LIMITED) && rate_limited)
        g_propagate_error (rate_limited, g_steal_pointer (&error));
      return;
    }
  vf_txn_begin_unjournaled (&txn, jobs);
  video = g_hash_table_lookup (jobs->videos, id);
  if (video)
    {
      memcpy (video->content_size, sizes, sizeof sizes);
      video->probed = TRUE;
      video->expired = expired;
      vf_txn_note (&txn, NULL, VF_CHANGE_CONTENT);
    }
  vf_txn_commit (&txn, NULL);
}

/* ----- snapshots ----- */

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static GPtrArray *
video_ids (VfJobs *jobs, gboolean refresh)
{
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer key, value;
  gint64 now = g_get_monotonic_time ();

  g_mutex_lock (&jobs->lock);
  if (refresh
      && (!jobs->videos_listed || now >= jobs->videos_refreshed_us + vf_jobs_poll_us (jobs)))
    {
      jobs->videos_wanted = TRUE;
      vf_jobs_wake_poller_locked (jobs);
    }
  g_hash_table_iter_init (&iter, jobs->videos);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (g_hash_table_add (seen, key))
      g_ptr_array_add (ids, g_strdup (key));
  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->phase == VF_JOB_LIVE && job->id && g_hash_table_add (seen, job->id))
        g_ptr_array_add (ids, g_strdup (job->id));
    }
  g_mutex_unlock (&jobs->lock);
  g_ptr_array_sort (ids, compare_strings);
  return ids;
}

GPtrArray *
vf_jobs_video_ids (VfJobs *jobs)
{
  return video_ids (jobs, TRUE);
}

GPtrArray *
vf_jobs_video_ids_known (VfJobs *jobs)
{
  return video_ids (jobs, FALSE);
}

static VfJobInfo *
get_video (VfJobs *jobs, const char *id, gboolean probe)
{
  VfJobInfo *info = NULL;
  Video *video;
  Job *job;

  g_return_val_if_fail (jobs != NULL && id != NULL, NULL);

  g_mutex_lock (&jobs->lock);
  job = vf_jobs_by_id_locked (jobs, id);
  if (job)
    {
      info = vf_job_info_locked (jobs, job);
      g_free (info->name);
      info->name = g_strdup (id);
      g_clear_pointer (&info->prompt_file, g_free);
      g_clear_pointer (&info->request_json, g_free);
    }
  video = info ? NULL : g_hash_table_lookup (jobs->videos, id);
  if (video)
    {
      info = vf_video_info_locked (jobs, id, video);
      if (probe && video->task->state == VF_STATE_COMPLETED && !video->probed
          && !video->probe_wanted)
        {
          video->probe_wanted = TRUE;
          g_queue_push_tail (&jobs->probe_queue, g_strdup (id));
          vf_jobs_wake_poller_locked (jobs);
        }
    }
  g_mutex_unlock (&jobs->lock);
  return info;
}

VfJobInfo *
vf_jobs_get_video (VfJobs *jobs, const char *id)
{
  return get_video (jobs, id, TRUE);
}

VfJobInfo *
vf_jobs_peek_video (VfJobs *jobs, const char *id)
{
  return get_video (jobs, id, FALSE);
}
