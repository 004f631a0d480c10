/* poller.c: the one thread that talks to the API in the background.
 *
 * It owns every status request: each unfinished job is due at
 * max(poll, openai-poll-after-ms) after its last answer, a 429 pushes every
 * request back (the server's hint, else an exponential wait), and finished
 * jobs are not asked again.  Readers of `status` only read the table.
 * Besides polling it adopts `unknown` jobs (a create whose answer was lost)
 * by finding them in the API's list, refreshes the account listing behind
 * videos/ while someone looks at it, and learns content sizes.  One piece
 * of work at a time, in that order of priority.
 */
#include "jobs-private.h"
#include "vf-error.h"

#include <string.h>

#define LIST_LIMIT 100
#define ADOPT_PAGES 10
#define VIDEO_PAGES 50
#define ADOPT_BEFORE_S 60       /* server clocks may run behind ours */
#define ADOPT_AFTER_S (10 * 60) /* a create may sit in a queue */
#define MAX_BACKOFF_US (300 * G_USEC_PER_SEC)
#define NOT_FOUND_LIMIT 3

typedef enum
{
  WORK_NONE,
  WORK_EXPIRY,
  WORK_POLL,
  WORK_ADOPT,
  WORK_LIST,
  WORK_PROBE,
} WorkKind;

typedef struct
{
  WorkKind kind;
  Job *job; /* a reference, for EXPIRY and POLL */
  VfProtocol protocol;
  char *id; /* for PROBE */
} Work;

void
vf_video_free (gpointer data)
{
  Video *video = data;

  vf_task_free (video->task);
  g_free (video);
}

void
vf_poller_wake_locked (VfJobs *jobs)
{
  g_cond_broadcast (&jobs->cond);
}

static gboolean
job_wants_poll (const Job *job)
{
  if (job->phase != VF_JOB_LIVE || !job->id || job->not_found >= NOT_FOUND_LIMIT)
    return FALSE;
  if (!job->task)
    return TRUE;
  if (job->task->state == VF_STATE_FAILED)
    return FALSE;
  return job->task->state != VF_STATE_COMPLETED || !job->probed;
}

static gint64
mono_of_unix_s (gint64 unix_s)
{
  return g_get_monotonic_time () + (unix_s * G_USEC_PER_SEC - g_get_real_time ());
}

static void
rate_limited_locked (VfJobs *jobs, const GError *error)
{
  gint64 hint = vf_error_retry_after_ms (error);
  gint64 wait;

  if (hint >= 0)
    wait = MIN (hint * 1000, MAX_BACKOFF_US);
  else
    {
      int n = MIN (jobs->n_rate_limited, 8);

      wait = MIN (vf_jobs_poll_us (jobs) << n, MAX_BACKOFF_US);
    }
  jobs->n_rate_limited++;
  jobs->backoff_until_us = MAX (jobs->backoff_until_us, g_get_monotonic_time () + wait);
  g_debug ("rate limited: waiting %" G_GINT64_FORMAT " ms", wait / 1000);
}

/* Picks the most urgent piece of work; else sets *wake to when some is due. */
static void
pick_work_locked (VfJobs *jobs, gint64 now, Work *work, gint64 *wake)
{
  gint64 now_s = g_get_real_time () / G_USEC_PER_SEC;
  gboolean backoff = now < jobs->backoff_until_us;
  gboolean unknown[2] = { FALSE, FALSE };
  Job *due = NULL;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->phase == VF_JOB_UNKNOWN)
        unknown[job->protocol] = TRUE;
      if (job->phase == VF_JOB_LIVE && job->task && job->task->state == VF_STATE_COMPLETED
          && job->probed && !job->expired && !job->expiry_checked && job->task->expires_at > 0)
        {
          if (now_s >= job->task->expires_at)
            {
              work->kind = WORK_EXPIRY;
              work->job = vf_job_ref_locked (job);
              return;
            }
          *wake = MIN (*wake, mono_of_unix_s (job->task->expires_at));
        }
      if (job_wants_poll (job) && (!due || job->next_poll_us < due->next_poll_us))
        due = job;
    }

  if (backoff)
    {
      *wake = MIN (*wake, jobs->backoff_until_us);
      return;
    }
  if (due && due->next_poll_us <= now)
    {
      work->kind = WORK_POLL;
      work->job = vf_job_ref_locked (due);
      return;
    }
  if (due)
    *wake = MIN (*wake, due->next_poll_us);

  for (int p = VF_PROTO_OPENAI; p <= VF_PROTO_ARK; p++)
    if (unknown[p] && !jobs->no_list[p])
      {
        if (jobs->next_adopt_us <= now)
          {
            work->kind = WORK_ADOPT;
            work->protocol = p;
            return;
          }
        *wake = MIN (*wake, jobs->next_adopt_us);
      }

  if (jobs->videos_wanted)
    {
      gint64 at = jobs->videos_listed ? jobs->videos_refreshed_us + vf_jobs_poll_us (jobs) : 0;

      if (at <= now)
        {
          work->kind = WORK_LIST;
          return;
        }
      *wake = MIN (*wake, at);
    }

  if (!g_queue_is_empty (&jobs->probe_queue))
    {
      work->kind = WORK_PROBE;
      work->id = g_queue_pop_head (&jobs->probe_queue);
    }
}

/* ----- content sizes ----- */

/* Learns the size of each variant a completed task offers.  A 404 means the
 * variant is absent (for the video: the content expired).  Fails, so that
 * the caller tries again later, when the video's size cannot be learnt. */
static gboolean
probe_task (VfJobs *jobs, const VfTask *task, gint64 sizes[3], gboolean *expired, GError **error)
{
  int n = task->protocol == VF_PROTO_ARK ? 1 : 3;

  *expired = FALSE;
  for (int v = 0; v < 3; v++)
    sizes[v] = -1;
  for (int v = 0; v < n; v++)
    {
      VfContentInfo info = { 0 };
      g_autoptr (GError) local = NULL;

      if (vf_client_content_probe (jobs->client, task, v, &info, &local))
        {
          sizes[v] = info.total_size;
          vf_content_info_clear (&info);
          continue;
        }
      vf_content_info_clear (&info);
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

/* ----- polling ----- */

static void
poll_job (VfJobs *jobs, Job *job)
{
  g_autofree char *id = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) prefetch = NULL;
  gint64 prefetch_size = -1;
  gint64 sizes[3] = { -1, -1, -1 };
  gboolean expired = FALSE;
  gboolean probe = FALSE;
  VfProtocol protocol;
  json_t *record = NULL;
  GArray *notes;
  gint64 now;

  g_mutex_lock (&jobs->lock);
  id = g_strdup (job->id);
  protocol = job->protocol;
  probe = !job->probed;
  g_mutex_unlock (&jobs->lock);

  task = vf_client_retrieve (jobs->client, protocol, id, &error);
  if (task && task->state == VF_STATE_COMPLETED && probe
      && !probe_task (jobs, task, sizes, &expired, &error))
    g_clear_pointer (&task, vf_task_free);

  notes = vf_notes_new ();
  now = g_get_monotonic_time ();
  g_mutex_lock (&jobs->journal_lock);
  g_mutex_lock (&jobs->lock);
  if (job->removed || job->phase != VF_JOB_LIVE || g_strcmp0 (job->id, id) != 0)
    ;
  else if (task)
    {
      guint what = 0;
      gint64 after = MAX (vf_jobs_poll_us (jobs), task->poll_after_ms * 1000);

      jobs->n_rate_limited = 0;
      job->last_ok_us = now;
      job->not_found = 0;
      job->next_poll_us = now + after;
      if (job->poll_error)
        {
          g_clear_pointer (&job->poll_error, g_free);
          if (job->no_answer_s > 0)
            {
              job->no_answer_s = 0;
              job->changed_us = g_get_real_time ();
              what |= VF_CHANGE_STATUS;
            }
        }
      if (task->state == VF_STATE_COMPLETED && probe)
        {
          memcpy (job->content_size, sizes, sizeof sizes);
          job->probed = TRUE;
          job->expired = expired;
          job->expiry_checked = FALSE;
        }
      if (task->state == VF_STATE_COMPLETED && job->probed && !job->expired && jobs->prefetch
          && job->content_size[VF_VARIANT_VIDEO] >= 0 && probe)
        {
          prefetch = vf_task_copy (task);
          prefetch_size = job->content_size[VF_VARIANT_VIDEO];
        }
      what |= vf_job_update_task_locked (jobs, job, g_steal_pointer (&task));
      if (expired)
        {
          vf_jobs_event_locked (jobs, job, "expired", NULL);
          what |= VF_CHANGE_EVENTS;
        }
      if (what)
        {
          vf_notes_add (notes, job->name, what);
          record = vf_job_record_locked (job, "task");
        }
      if (what & VF_CHANGE_EVENTS)
        vf_notes_add (notes, NULL, VF_CHANGE_EVENTS);
    }
  else
    {
      gint64 silent_s = (now - job->last_ok_us) / G_USEC_PER_SEC;

      job->next_poll_us = now + vf_jobs_poll_us (jobs);
      if (g_error_matches (error, VF_ERROR, VF_ERROR_RATE_LIMITED))
        rate_limited_locked (jobs, error);
      if (g_error_matches (error, VF_ERROR, VF_ERROR_NOT_FOUND))
        {
          job->not_found++;
          g_free (job->poll_error);
          job->poll_error
              = g_strdup_printf ("the API does not know job %s (%s)", id, error->message);
          if (job->not_found == NOT_FOUND_LIMIT)
            {
              job->changed_us = g_get_real_time ();
              vf_notes_add (notes, job->name, VF_CHANGE_STATUS);
            }
        }
      else
        {
          g_free (job->poll_error);
          job->poll_error = g_strdup (error->message);
        }
      if (now - job->last_ok_us > 3 * vf_jobs_poll_us (jobs)
          && MAX (silent_s, 1) != job->no_answer_s)
        {
          job->no_answer_s = MAX (silent_s, 1);
          job->changed_us = g_get_real_time ();
          vf_notes_add (notes, job->name, VF_CHANGE_STATUS);
        }
    }
  g_mutex_unlock (&jobs->lock);
  vf_jobs_journal_append (jobs, record, FALSE);
  g_mutex_unlock (&jobs->journal_lock);
  vf_notes_flush (jobs, notes);
  if (prefetch)
    vf_jobs_prefetch (jobs, prefetch, prefetch_size);
}

static void
check_expiry (VfJobs *jobs, Job *job)
{
  g_autofree char *id = NULL;
  gint64 size;

  g_mutex_lock (&jobs->lock);
  id = g_strdup (job->id);
  size = job->content_size[VF_VARIANT_VIDEO];
  g_mutex_unlock (&jobs->lock);

  if (vf_jobs_content_cached (jobs, id, VF_VARIANT_VIDEO, size))
    {
      g_mutex_lock (&jobs->lock);
      job->expiry_checked = TRUE;
      g_mutex_unlock (&jobs->lock);
    }
  else
    vf_jobs_mark_expired (jobs, id, TRUE);
}

/* ----- listing ----- */

typedef struct
{
  GPtrArray *tasks; /* of VfTask*, owned */
  gboolean complete;
  GError *error;
} Listing;

static void
listing_clear (Listing *listing)
{
  g_clear_pointer (&listing->tasks, g_ptr_array_unref);
  g_clear_error (&listing->error);
}

static gboolean
error_means_no_list (const GError *error)
{
  int status = vf_error_http_status (error);

  return status == 404 || status == 405 || status == 501;
}

/* Lists tasks newest first, at most `max_pages`, stopping at a task created
 * before `stop_before_s` (0: never). */
static void
list_tasks (VfJobs *jobs, VfProtocol protocol, int max_pages, gint64 stop_before_s,
            Listing *listing)
{
  g_autofree char *cursor = NULL;

  listing->tasks = g_ptr_array_new_with_free_func ((GDestroyNotify)vf_task_free);
  listing->complete = FALSE;
  for (int page_num = 1; page_num <= max_pages; page_num++)
    {
      g_autoptr (VfTaskPage) page = NULL;
      gint64 oldest = G_MAXINT64;
      guint n;

      page = vf_client_list (jobs->client, protocol, cursor, LIST_LIMIT, &listing->error);
      if (!page)
        return;
      n = page->tasks->len;
      for (guint i = 0; i < n; i++)
        {
          VfTask *task = page->tasks->pdata[i];

          if (task->created_at > 0)
            oldest = MIN (oldest, task->created_at);
          g_ptr_array_add (listing->tasks, task);
        }
      g_ptr_array_set_free_func (page->tasks, NULL);
      g_ptr_array_set_size (page->tasks, 0);
      g_ptr_array_set_free_func (page->tasks, (GDestroyNotify)vf_task_free);

      if (n == 0 || !page->has_more || (stop_before_s > 0 && oldest < stop_before_s))
        {
          listing->complete = TRUE;
          return;
        }
      if (protocol == VF_PROTO_ARK && page->total >= 0
          && (gint64)listing->tasks->len >= page->total)
        {
          listing->complete = TRUE;
          return;
        }
      g_free (cursor);
      if (protocol == VF_PROTO_ARK)
        cursor = g_strdup_printf ("%d", page_num + 1);
      else if (page->next_cursor)
        cursor = g_strdup (page->next_cursor);
      else
        cursor = g_strdup (((VfTask *)listing->tasks->pdata[listing->tasks->len - 1])->id);
    }
}

/* ----- adoption ----- */

static gint
compare_jobs_by_intent (gconstpointer a, gconstpointer b)
{
  const Job *ja = *(Job *const *)a;
  const Job *jb = *(Job *const *)b;

  return (ja->intent_us > jb->intent_us) - (ja->intent_us < jb->intent_us);
}

static gboolean
task_matches (const VfTask *task, const Job *job)
{
  g_autofree char *prompt = vf_task_prompt_of_body (job->body);
  const char *model = json_string_value (json_object_get (job->body, "model"));
  gint64 intent_s = job->intent_us / G_USEC_PER_SEC;

  if (!prompt || g_strcmp0 (prompt, task->prompt) != 0)
    return FALSE;
  if (model && task->model && strcmp (model, task->model) != 0)
    return FALSE;
  if (task->created_at > 0
      && (task->created_at < intent_s - ADOPT_BEFORE_S
          || task->created_at > intent_s + ADOPT_AFTER_S))
    return FALSE;
  return TRUE;
}

static void
adopt (VfJobs *jobs, VfProtocol protocol)
{
  g_autoptr (GPtrArray) records = g_ptr_array_new_with_free_func ((GDestroyNotify)json_decref);
  g_autoptr (GPtrArray) unknown = g_ptr_array_new ();
  g_autoptr (GHashTable) claimed = g_hash_table_new (g_str_hash, g_str_equal);
  Listing listing = { 0 };
  gint64 oldest_intent_s = G_MAXINT64;
  gint64 now_s = g_get_real_time () / G_USEC_PER_SEC;
  GHashTableIter iter;
  gpointer value;
  GArray *notes;

  g_mutex_lock (&jobs->lock);
  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->phase == VF_JOB_UNKNOWN && job->protocol == protocol)
        oldest_intent_s = MIN (oldest_intent_s, job->intent_us / G_USEC_PER_SEC);
    }
  g_mutex_unlock (&jobs->lock);
  if (oldest_intent_s == G_MAXINT64)
    return;

  list_tasks (jobs, protocol, ADOPT_PAGES, oldest_intent_s - ADOPT_BEFORE_S, &listing);

  notes = vf_notes_new ();
  g_mutex_lock (&jobs->journal_lock);
  g_mutex_lock (&jobs->lock);
  jobs->next_adopt_us = g_get_monotonic_time () + vf_jobs_poll_us (jobs);
  if (listing.error)
    {
      g_debug ("listing for adoption: %s", listing.error->message);
      if (error_means_no_list (listing.error))
        {
          jobs->no_list[protocol] = TRUE;
          vf_notes_add (notes, NULL, VF_CHANGE_STATUS);
        }
      else if (g_error_matches (listing.error, VF_ERROR, VF_ERROR_RATE_LIMITED))
        rate_limited_locked (jobs, listing.error);
    }

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->id)
        g_hash_table_add (claimed, job->id);
      if (job->phase == VF_JOB_UNKNOWN && job->protocol == protocol)
        g_ptr_array_add (unknown, job);
    }
  g_ptr_array_sort (unknown, compare_jobs_by_intent);

  for (guint j = 0; j < unknown->len; j++)
    {
      Job *job = unknown->pdata[j];
      VfTask *best = NULL;
      gint64 intent_s = job->intent_us / G_USEC_PER_SEC;

      /* The list is newest first: the last match is the earliest. */
      for (guint i = 0; i < listing.tasks->len; i++)
        {
          VfTask *task = listing.tasks->pdata[i];

          if (!g_hash_table_contains (claimed, task->id) && task_matches (task, job))
            best = task;
        }
      if (best)
        {
          job->phase = VF_JOB_LIVE;
          job->id = g_strdup (best->id);
          job->protocol = best->protocol;
          vf_task_free (job->task);
          job->task = vf_task_copy (best);
          g_clear_pointer (&job->reason, g_free);
          job->changed_us = g_get_real_time ();
          job->last_ok_us = g_get_monotonic_time ();
          job->next_poll_us = job->last_ok_us;
          g_hash_table_add (claimed, job->id);
          vf_jobs_event_locked (jobs, job, "adopted", NULL);
          g_ptr_array_add (records, vf_job_record_locked (job, "adopted"));
          vf_notes_add (notes, job->name, VF_CHANGE_STATUS | VF_CHANGE_CONTENT);
          vf_notes_add (notes, NULL, VF_CHANGE_EVENTS);
          g_debug ("adopted %s as job %s", best->id, job->name);
        }
      else if (listing.complete && now_s > intent_s + ADOPT_AFTER_S + ADOPT_BEFORE_S)
        {
          /* The whole window was listed and nothing came of the request. */
          job->phase = VF_JOB_REJECTED;
          g_free (job->reason);
          job->reason = g_strdup ("not_found: the request was sent but no answer came, and no "
                                  "job with this prompt appeared in the API's list");
          job->changed_us = g_get_real_time ();
          vf_jobs_event_locked (jobs, job, "rejected", NULL);
          g_ptr_array_add (records, vf_job_record_locked (job, "rejected"));
          vf_notes_add (notes, job->name, VF_CHANGE_STATUS);
          vf_notes_add (notes, NULL, VF_CHANGE_EVENTS);
        }
    }
  g_mutex_unlock (&jobs->lock);
  for (guint i = 0; i < records->len; i++)
    vf_jobs_journal_append (jobs, json_incref (records->pdata[i]), i + 1 == records->len);
  g_mutex_unlock (&jobs->journal_lock);
  vf_notes_flush (jobs, notes);
  listing_clear (&listing);
}

/* ----- videos/ ----- */

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

static void
list_videos (VfJobs *jobs)
{
  Listing listings[2] = { { 0 }, { 0 } };
  gboolean wanted[2];
  GArray *notes;

  g_mutex_lock (&jobs->lock);
  wanted[VF_PROTO_OPENAI] = !jobs->no_list[VF_PROTO_OPENAI];
  /* Ark is listed only for an account that uses it here. */
  wanted[VF_PROTO_ARK] = !jobs->no_list[VF_PROTO_ARK] && any_job_of (jobs, VF_PROTO_ARK);
  g_mutex_unlock (&jobs->lock);

  for (int p = 0; p < 2; p++)
    if (wanted[p])
      list_tasks (jobs, p, VIDEO_PAGES, 0, &listings[p]);

  notes = vf_notes_new ();
  g_mutex_lock (&jobs->lock);
  jobs->videos_wanted = FALSE;
  jobs->videos_listed = TRUE;
  jobs->videos_refreshed_us = g_get_monotonic_time ();
  for (int p = 0; p < 2; p++)
    {
      GHashTableIter iter;
      gpointer value;
      g_autoptr (GHashTable) seen = NULL;

      if (!wanted[p])
        continue;
      if (listings[p].error)
        {
          g_debug ("listing videos: %s", listings[p].error->message);
          if (error_means_no_list (listings[p].error))
            jobs->no_list[p] = TRUE;
          else if (g_error_matches (listings[p].error, VF_ERROR, VF_ERROR_RATE_LIMITED))
            rate_limited_locked (jobs, listings[p].error);
          if (!listings[p].complete && listings[p].tasks->len == 0)
            continue;
        }
      seen = g_hash_table_new (g_str_hash, g_str_equal);
      for (guint i = 0; i < listings[p].tasks->len; i++)
        {
          VfTask *task = listings[p].tasks->pdata[i];
          Video *video = g_hash_table_lookup (jobs->videos, task->id);

          g_hash_table_add (seen, task->id);
          if (!video)
            {
              video = g_new0 (Video, 1);
              for (int v = 0; v < 3; v++)
                video->content_size[v] = -1;
              g_hash_table_insert (jobs->videos, g_strdup (task->id), video);
            }
          else if (video->task && task->state == VF_STATE_COMPLETED
                   && video->task->state != VF_STATE_COMPLETED)
            video->probed = FALSE;
          vf_task_free (video->task);
          video->task = g_ptr_array_index (listings[p].tasks, i);
          listings[p].tasks->pdata[i] = NULL;
        }
      /* Only a whole listing says what is gone. */
      if (!listings[p].error)
        {
          g_hash_table_iter_init (&iter, jobs->videos);
          while (g_hash_table_iter_next (&iter, NULL, &value))
            {
              Video *video = value;

              if (video->task->protocol == (VfProtocol)p
                  && !g_hash_table_contains (seen, video->task->id))
                g_hash_table_iter_remove (&iter);
            }
        }
    }
  g_mutex_unlock (&jobs->lock);
  vf_notes_add (notes, NULL, VF_CHANGE_JOBS);
  vf_notes_flush (jobs, notes);
  for (int p = 0; p < 2; p++)
    listing_clear (&listings[p]);
}

static void
probe_video (VfJobs *jobs, const char *id)
{
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GError) error = NULL;
  gint64 sizes[3];
  gboolean expired = FALSE;
  GArray *notes;
  Video *video;

  g_mutex_lock (&jobs->lock);
  video = g_hash_table_lookup (jobs->videos, id);
  if (video && !video->probed)
    task = vf_task_copy (video->task);
  g_mutex_unlock (&jobs->lock);
  if (!task)
    return;

  if (!probe_task (jobs, task, sizes, &expired, &error))
    {
      g_debug ("sizes of %s: %s", id, error->message);
      g_mutex_lock (&jobs->lock);
      video = g_hash_table_lookup (jobs->videos, id);
      if (video)
        video->probe_wanted = FALSE; /* asked again on the next look */
      if (g_error_matches (error, VF_ERROR, VF_ERROR_RATE_LIMITED))
        rate_limited_locked (jobs, error);
      g_mutex_unlock (&jobs->lock);
      return;
    }
  notes = vf_notes_new ();
  g_mutex_lock (&jobs->lock);
  video = g_hash_table_lookup (jobs->videos, id);
  if (video)
    {
      memcpy (video->content_size, sizes, sizeof sizes);
      video->probed = TRUE;
      video->expired = expired;
      vf_notes_add (notes, NULL, VF_CHANGE_CONTENT);
    }
  g_mutex_unlock (&jobs->lock);
  vf_notes_flush (jobs, notes);
}

/* ----- the thread ----- */

static gpointer
poller_main (gpointer data)
{
  VfJobs *jobs = data;

  g_mutex_lock (&jobs->lock);
  while (!jobs->stopping)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 wake = now + 60 * G_USEC_PER_SEC;
      Work work = { WORK_NONE, NULL, VF_PROTO_OPENAI, NULL };

      pick_work_locked (jobs, now, &work, &wake);
      if (work.kind == WORK_NONE)
        {
          g_cond_wait_until (&jobs->cond, &jobs->lock, wake);
          continue;
        }
      g_mutex_unlock (&jobs->lock);
      switch (work.kind)
        {
        case WORK_EXPIRY:
          check_expiry (jobs, work.job);
          break;
        case WORK_POLL:
          poll_job (jobs, work.job);
          break;
        case WORK_ADOPT:
          adopt (jobs, work.protocol);
          break;
        case WORK_LIST:
          list_videos (jobs);
          break;
        case WORK_PROBE:
          probe_video (jobs, work.id);
          break;
        case WORK_NONE:
        default:
          break;
        }
      g_free (work.id);
      g_mutex_lock (&jobs->lock);
      if (work.job)
        vf_job_unref_locked (work.job);
    }
  g_mutex_unlock (&jobs->lock);
  return NULL;
}

void
vf_poller_start (VfJobs *jobs)
{
  jobs->stopping = FALSE;
  jobs->poller = g_thread_new ("videofs-poller", poller_main, jobs);
}

void
vf_poller_stop (VfJobs *jobs)
{
  g_mutex_lock (&jobs->lock);
  jobs->stopping = TRUE;
  g_cond_broadcast (&jobs->cond);
  g_mutex_unlock (&jobs->lock);
  g_thread_join (jobs->poller);
  jobs->poller = NULL;
}

/* ----- snapshots of videos/ ----- */

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

GPtrArray *
vf_jobs_video_ids (VfJobs *jobs)
{
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer key, value;
  gint64 now = g_get_monotonic_time ();

  g_mutex_lock (&jobs->lock);
  if (!jobs->videos_listed || now >= jobs->videos_refreshed_us + vf_jobs_poll_us (jobs))
    {
      jobs->videos_wanted = TRUE;
      vf_poller_wake_locked (jobs);
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

static char *
pretty_task (const VfTask *task)
{
  g_autofree char *text = task->raw ? json_dumps (task->raw, JSON_INDENT (2)) : NULL;

  return text ? g_strconcat (text, "\n", NULL) : NULL;
}

VfJobInfo *
vf_jobs_get_video (VfJobs *jobs, const char *id)
{
  VfJobInfo *info = NULL;
  GHashTableIter iter;
  gpointer value;
  Video *video;

  g_return_val_if_fail (jobs != NULL && id != NULL, NULL);

  g_mutex_lock (&jobs->lock);
  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->phase == VF_JOB_LIVE && g_strcmp0 (job->id, id) == 0)
        {
          info = vf_jobs_job_info_locked (jobs, job);
          g_free (info->name);
          info->name = g_strdup (id);
          g_clear_pointer (&info->prompt_file, g_free);
          g_clear_pointer (&info->request_json, g_free);
          break;
        }
    }
  video = info ? NULL : g_hash_table_lookup (jobs->videos, id);
  if (video)
    {
      const VfTask *task = video->task;

      info = g_new0 (VfJobInfo, 1);
      info->name = g_strdup (id);
      info->phase = VF_JOB_LIVE;
      info->protocol = task->protocol;
      info->state = task->state;
      info->id = g_strdup (id);
      info->status = vf_task_status_text (task, video->expired, 0);
      info->status_json = pretty_task (task);
      if (task->state == VF_STATE_FAILED)
        info->error = g_strdup_printf ("%s: %s\n", task->error_code ? task->error_code : "failed",
                                       task->error_message ? task->error_message
                                                           : "the API gave no reason");
      info->created = task->created_at;
      info->changed_us
          = jobs->videos_refreshed_us > 0
                ? g_get_real_time () - (g_get_monotonic_time () - jobs->videos_refreshed_us)
                : g_get_real_time ();
      for (int v = 0; v < 3; v++)
        info->content_size[v] = video->probed ? video->content_size[v] : -1;
      info->expired = video->expired;
      if (task->state == VF_STATE_COMPLETED && !video->probed && !video->probe_wanted)
        {
          video->probe_wanted = TRUE;
          g_queue_push_tail (&jobs->probe_queue, g_strdup (id));
          vf_poller_wake_locked (jobs);
        }
    }
  g_mutex_unlock (&jobs->lock);
  return info;
}
