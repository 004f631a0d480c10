/* poller.c: the one thread that talks to the API in the background.
 *
 * It owns every status request: each unfinished job is due at
 * max(poll, openai-poll-after-ms) after its last answer, a 429 pushes every
 * request back (the server's hint, else an exponential wait), and finished
 * jobs are not asked again.  Where the API lists, jobs due together are
 * refreshed from list pages, newest first, until every one of them was
 * seen and never past the oldest of them (a page of 100 answers for up to
 * 100 jobs; only their answers are kept); a job the pages did
 * not have is retrieved on its own next.  Readers of `status` only read the table.
 * Besides polling it adopts `unknown` jobs (a create whose answer was lost;
 * poller-adopt.c), refreshes the account listing behind videos/ while
 * someone looks at it (videos.c), and learns content sizes.
 * One piece of work at a time, in that order of priority.
 *
 * Its own state (the thread, the account-wide back-off, the adoption
 * schedule) is in struct vf_poller (poller-private.h) and guarded by the
 * table lock; what it keeps of each job is Job.poll.
 */
#include "poller-private.h"
#include "vf-error.h"

#include <malloc.h>
#include <string.h>

typedef enum
{
  WORK_NONE,
  WORK_EXPIRY,
  WORK_POLL,
  WORK_BATCH,
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

static gboolean
job_wants_poll (const Job *job)
{
  if (job->phase != VF_JOB_LIVE || !job->id || job->poll.not_found >= NOT_FOUND_LIMIT)
    return FALSE;
  if (!job->task)
    return TRUE;
  if (job->task->state == VF_STATE_FAILED)
    return FALSE;
  return job->task->state != VF_STATE_COMPLETED || !job->probed;
}

/* Whether `job` goes in a batch refresh from list pages now: it would be
 * due within the next poll interval (so that after one batch every job of
 * the protocol is due at the same time, and one listing a poll serves them
 * all), and the last pages did not miss it. */
static gboolean
job_batches (const VfJobs *jobs, const Job *job, gint64 now)
{
  return job_wants_poll (job) && !job->poll.batch_missed && !jobs->no_list[job->protocol]
         && job->poll.next_us <= now + vf_jobs_poll_us (jobs);
}

static void
rate_limited_locked (VfJobs *jobs, const GError *error)
{
  VfPoller *poller = jobs->poller;
  gint64 hint = vf_error_retry_after_ms (error);
  gint64 wait;

  if (hint >= 0)
    wait = MIN (hint * 1000, MAX_BACKOFF_US);
  else
    {
      int n = MIN (poller->n_rate_limited, 8);

      wait = MIN (vf_jobs_poll_us (jobs) << n, MAX_BACKOFF_US);
    }
  poller->n_rate_limited++;
  poller->backoff_until_us = MAX (poller->backoff_until_us, g_get_monotonic_time () + wait);
  g_debug ("rate limited: waiting %" G_GINT64_FORMAT " ms", wait / 1000);
}

static void
rate_limited (VfJobs *jobs, const GError *error)
{
  if (!g_error_matches (error, VF_ERROR, VF_ERROR_RATE_LIMITED))
    return;
  g_mutex_lock (&jobs->lock);
  rate_limited_locked (jobs, error);
  g_mutex_unlock (&jobs->lock);
}

/* Picks the most urgent piece of work; else sets *wake to when some is due. */
static void
pick_work_locked (VfJobs *jobs, gint64 now, Work *work, gint64 *wake)
{
  VfPoller *poller = jobs->poller;
  gint64 real_us = g_get_real_time ();
  gint64 now_s = real_us / G_USEC_PER_SEC;
  gint64 mono_minus_real = now - real_us; /* once, not per job: 10,000 jobs */
  gboolean backoff = now < poller->backoff_until_us;
  gboolean unknown[VF_N_PROTOCOLS] = { FALSE };
  gint64 newest[VF_N_PROTOCOLS] = { 0 };
  guint batchable[VF_N_PROTOCOLS] = { 0 };
  Job *due = NULL;
  gint64 budget[VF_N_PROTOCOLS]; /* monotonic time background traffic may go */
  GHashTableIter iter;
  gpointer value;

  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    budget[p] = now + vf_client_budget_wait_us (jobs->client, p);

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->phase == VF_JOB_UNKNOWN)
        {
          unknown[job->protocol] = TRUE;
          newest[job->protocol] = MAX (newest[job->protocol], job->intent_us);
        }
      if (job->phase == VF_JOB_LIVE && job->task && job->task->state == VF_STATE_COMPLETED
          && job->probed && !job->expired && !job->poll.expiry_checked && job->task->expires_at > 0)
        {
          if (now_s >= job->task->expires_at)
            {
              work->kind = WORK_EXPIRY;
              work->job = vf_job_ref_locked (job);
              return;
            }
          *wake = MIN (*wake, job->task->expires_at * G_USEC_PER_SEC + mono_minus_real);
        }
      /* a job whose API has no budget left for us waits for its reset */
      if (job_wants_poll (job) && budget[job->protocol] > now)
        *wake = MIN (*wake, budget[job->protocol]);
      else if (job_wants_poll (job) && (!due || job->poll.next_us < due->poll.next_us))
        due = job;
      if (job_batches (jobs, job, now))
        batchable[job->protocol]++;
    }

  /* A job that became unknown since the last look: list again now. */
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    if (unknown[p] && newest[p] > poller->newest_unknown_us[p])
      {
        poller->newest_unknown_us[p] = newest[p];
        poller->adopt_wait_us[p] = 0;
        poller->next_adopt_us[p] = MIN (poller->next_adopt_us[p], now);
      }

  if (backoff)
    {
      *wake = MIN (*wake, poller->backoff_until_us);
      return;
    }
  if (due && due->poll.next_us <= now && job_batches (jobs, due, now)
      && batchable[due->protocol] >= BATCH_MIN)
    {
      work->kind = WORK_BATCH;
      work->protocol = due->protocol;
      return;
    }
  if (due && due->poll.next_us <= now)
    {
      work->kind = WORK_POLL;
      work->job = vf_job_ref_locked (due);
      return;
    }
  if (due)
    *wake = MIN (*wake, due->poll.next_us);

  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    if (unknown[p] && !jobs->no_list[p])
      {
        if (budget[p] > now)
          *wake = MIN (*wake, budget[p]);
        else if (poller->next_adopt_us[p] <= now)
          {
            work->kind = WORK_ADOPT;
            work->protocol = p;
            return;
          }
        *wake = MIN (*wake, poller->next_adopt_us[p]);
      }

  /* the listing and the probes behind videos/ ask every API */
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    if (budget[p] > now)
      {
        *wake = MIN (*wake, budget[p]);
        return;
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

/* ----- polling ----- */

/* With the table lock held: a retrieve of `job` answered `task` (stolen). */
static void
poll_answered_locked (VfTxn *txn, Job *job, VfTask *task, gboolean probe,
                      const gint64 sizes[VF_N_VARIANTS], gboolean expired, gint64 now,
                      VfTask **prefetch, gint64 *prefetch_size)
{
  VfJobs *jobs = txn->jobs;
  guint what = 0;
  gint64 after = MAX (vf_jobs_poll_us (jobs), task->poll_after_ms * 1000);
  const char *old_word = vf_job_state_word (job);
  int old_progress = job->task ? job->task->progress : -1;
  g_autofree char *text = vf_json_pretty (task->raw);
  gboolean raw_same = job->status_json && text && strcmp (job->status_json, text) == 0;
  gboolean moved;

  jobs->poller->n_rate_limited = 0;
  job->poll.last_ok_us = now;
  job->poll.not_found = 0;
  job->poll.batch_missed = FALSE;
  job->poll.next_us = now + after;
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
      memcpy (job->content_size, sizes, sizeof job->content_size);
      job->probed = TRUE;
      job->expired = expired;
      job->poll.expiry_checked = FALSE;
      if (!expired && jobs->prefetch && sizes[VF_VARIANT_VIDEO] >= 0)
        {
          *prefetch = vf_task_copy (task);
          *prefetch_size = sizes[VF_VARIANT_VIDEO];
        }
    }

  vf_job_set_task_text (job, task, g_steal_pointer (&text));
  moved = strcmp (old_word, vf_job_state_word (job)) != 0 || old_progress != task->progress;
  if (!raw_same || moved)
    {
      job->changed_us = g_get_real_time ();
      what |= VF_CHANGE_STATUS;
    }
  if (moved)
    {
      const char *event = "state";

      if (task->state == VF_STATE_COMPLETED)
        event = "completed";
      else if (task->state == VF_STATE_FAILED)
        event = "failed";
      vf_txn_event (txn, job, event, NULL);
      if (task->state == VF_STATE_COMPLETED)
        what |= VF_CHANGE_CONTENT;
    }
  if (expired)
    vf_txn_event (txn, job, "expired", NULL);
  if (what || moved || expired)
    {
      vf_txn_note (txn, job->name, what);
      vf_txn_record (txn, vf_job_record (job, "task"), FALSE);
    }
}

/* With the table lock held: a retrieve of `job` failed. */
static void
poll_failed_locked (VfTxn *txn, Job *job, const char *id, const GError *error, gint64 now)
{
  VfJobs *jobs = txn->jobs;
  gint64 silent_s = (now - job->poll.last_ok_us) / G_USEC_PER_SEC;

  job->poll.next_us = now + vf_jobs_poll_us (jobs);
  if (g_error_matches (error, VF_ERROR, VF_ERROR_RATE_LIMITED))
    rate_limited_locked (jobs, error);
  g_free (job->poll_error);
  if (g_error_matches (error, VF_ERROR, VF_ERROR_NOT_FOUND))
    {
      job->poll.not_found++;
      job->poll_error = g_strdup_printf ("the API does not know job %s (%s)", id, error->message);
      if (job->poll.not_found == NOT_FOUND_LIMIT)
        {
          job->changed_us = g_get_real_time ();
          vf_txn_note (txn, job->name, VF_CHANGE_STATUS);
        }
    }
  else
    job->poll_error = g_strdup (error->message);
  if (now - job->poll.last_ok_us > 3 * vf_jobs_poll_us (jobs)
      && MAX (silent_s, 1) != job->no_answer_s)
    {
      job->no_answer_s = MAX (silent_s, 1);
      job->changed_us = g_get_real_time ();
      vf_txn_note (txn, job->name, VF_CHANGE_STATUS);
    }
}

static void
poll_job (VfJobs *jobs, Job *job)
{
  g_autofree char *id = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) prefetch = NULL;
  gint64 prefetch_size = -1;
  gint64 sizes[VF_N_VARIANTS];
  gboolean expired = FALSE, probe = FALSE, waiting = FALSE;
  VfProtocol protocol;
  VfTxn txn;
  gint64 now;

  for (int v = 0; v < VF_N_VARIANTS; v++)
    sizes[v] = -1;
  g_mutex_lock (&jobs->lock);
  id = g_strdup (job->id);
  protocol = job->protocol;
  probe = !job->probed;
  g_mutex_unlock (&jobs->lock);

  task = vf_client_retrieve (jobs->client, protocol, id, &error);
  if (task && task->state == VF_STATE_COMPLETED && probe
      && !vf_jobs_probe_task (jobs, task, sizes, &expired, &error))
    {
      /* a gateway's content before its copy saw the end: no error, asked again */
      waiting = vf_content_error_is_not_ready (error);
      g_clear_pointer (&task, vf_task_free);
    }

  now = g_get_monotonic_time ();
  vf_txn_begin (&txn, jobs);
  if (job->removed || job->phase != VF_JOB_LIVE || g_strcmp0 (job->id, id) != 0)
    ;
  else if (waiting)
    job->poll.next_us = now + vf_jobs_poll_us (jobs);
  else if (task)
    poll_answered_locked (&txn, job, g_steal_pointer (&task), probe, sizes, expired, now, &prefetch,
                          &prefetch_size);
  else
    poll_failed_locked (&txn, job, id, error, now);
  vf_txn_commit (&txn, NULL);
  if (prefetch)
    vf_jobs_prefetch (jobs, prefetch, prefetch_size);
}

/* One listing for the jobs of `protocol` due now or soon. */
static void
poll_batch (VfJobs *jobs, VfProtocol protocol)
{
  g_autoptr (GPtrArray) batch = g_ptr_array_new ();
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) prefetches = g_ptr_array_new_with_free_func ((GDestroyNotify)vf_task_free);
  g_autoptr (GArray) prefetch_sizes = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GHashTable) by_id = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) wanted = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree gboolean *probe = NULL;
  g_autofree guint *at = NULL;
  g_autofree VfTask **answers = NULL;
  g_autofree gint64 *sizes = NULL; /* VF_N_VARIANTS for each job */
  g_autofree gboolean *expired = NULL;
  VfListing listing = { 0 };
  gint64 now = g_get_monotonic_time ();
  gint64 oldest_s = G_MAXINT64;
  guint known = 0;
  GHashTableIter iter;
  gpointer value;
  VfTxn txn;
  int pages;

  g_mutex_lock (&jobs->lock);
  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      /* every job of ours with an id may stand between the newest and the
       * oldest of the batch in the list */
      if (job->protocol == protocol && job->id)
        known++;
      if (job->protocol != protocol || !job_batches (jobs, job, now))
        continue;
      g_ptr_array_add (batch, vf_job_ref_locked (job));
      g_ptr_array_add (ids, g_strdup (job->id));
      oldest_s = MIN (oldest_s, job->task && job->task->created_at > 0
                                    ? job->task->created_at
                                    : job->intent_us / G_USEC_PER_SEC - ADOPT_BEFORE_S);
    }
  probe = g_new0 (gboolean, batch->len);
  for (guint i = 0; i < batch->len; i++)
    probe[i] = !((Job *)batch->pdata[i])->probed;
  g_mutex_unlock (&jobs->lock);

  pages = MIN (BATCH_PAGES_MAX, (int)(known / BATCH_PAGE) + 2);
  for (guint i = 0; i < ids->len; i++)
    g_hash_table_add (wanted, ids->pdata[i]);
  vf_listing_fetch (jobs, protocol, pages, oldest_s, wanted, &listing);
  for (guint i = 0; i < listing.tasks->len; i++)
    {
      VfTask *task = listing.tasks->pdata[i];
      if (task->id)
        g_hash_table_insert (by_id, task->id, GUINT_TO_POINTER (i + 1));
    }

  /* where each job's answer is in the listing (+1), found before any is
   * taken: by_id's keys are the listing's */
  at = g_new0 (guint, batch->len);
  for (guint i = 0; i < batch->len; i++)
    at[i] = GPOINTER_TO_UINT (g_hash_table_lookup (by_id, ids->pdata[i]));
  g_hash_table_remove_all (by_id);

  /* sizes of what completed: before the table says `completed` */
  answers = g_new0 (VfTask *, batch->len);
  sizes = g_new (gint64, batch->len * VF_N_VARIANTS);
  expired = g_new0 (gboolean, batch->len);
  for (guint i = 0; i < batch->len; i++)
    {
      for (int v = 0; v < VF_N_VARIANTS; v++)
        sizes[i * VF_N_VARIANTS + v] = -1;
      if (!at[i] || !listing.tasks->pdata[at[i] - 1])
        continue;
      /* taken, not copied: the listing holds every answer of the batch */
      answers[i] = g_steal_pointer (&listing.tasks->pdata[at[i] - 1]);
      if (answers[i]->state == VF_STATE_COMPLETED && probe[i]
          && !vf_jobs_probe_task (jobs, answers[i], &sizes[i * VF_N_VARIANTS], &expired[i], NULL))
        g_clear_pointer (&answers[i], vf_task_free);
    }

  now = g_get_monotonic_time ();
  vf_txn_begin (&txn, jobs);
  if (listing.error)
    {
      g_debug ("listing for status: %s", listing.error->message);
      if (vf_error_means_no_list (listing.error))
        jobs->no_list[protocol] = TRUE;
      else if (g_error_matches (listing.error, VF_ERROR, VF_ERROR_RATE_LIMITED))
        rate_limited_locked (jobs, listing.error);
    }
  for (guint i = 0; i < batch->len; i++)
    {
      Job *job = batch->pdata[i];
      VfTask *prefetch = NULL;
      gint64 prefetch_size = -1;

      if (job->removed || job->phase != VF_JOB_LIVE || g_strcmp0 (job->id, ids->pdata[i]) != 0)
        g_clear_pointer (&answers[i], vf_task_free);
      else if (!answers[i])
        job->poll.batch_missed = TRUE;
      else
        {
          poll_answered_locked (&txn, job, g_steal_pointer (&answers[i]), probe[i],
                                &sizes[i * VF_N_VARIANTS], expired[i], now, &prefetch,
                                &prefetch_size);
          if (prefetch)
            {
              g_ptr_array_add (prefetches, prefetch);
              g_array_append_val (prefetch_sizes, prefetch_size);
            }
        }
      vf_job_unref_locked (job);
    }
  vf_txn_commit (&txn, NULL);
  vf_listing_clear (&listing);
  for (guint i = 0; i < prefetches->len; i++)
    vf_jobs_prefetch (jobs, prefetches->pdata[i], g_array_index (prefetch_sizes, gint64, i));
  /* thousands of answers came and went: give their memory back, or the
   * heap keeps it for good */
  if (batch->len >= TRIM_BATCH)
    malloc_trim (0);
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
      job->poll.expiry_checked = TRUE;
      g_mutex_unlock (&jobs->lock);
    }
  else
    vf_jobs_mark_expired (jobs, id, TRUE);
}

/* ----- the thread ----- */

static void
do_work (VfJobs *jobs, const Work *work)
{
  g_autoptr (GError) limited = NULL;

  switch (work->kind)
    {
    case WORK_EXPIRY:
      check_expiry (jobs, work->job);
      break;
    case WORK_POLL:
      poll_job (jobs, work->job);
      break;
    case WORK_BATCH:
      poll_batch (jobs, work->protocol);
      break;
    case WORK_ADOPT:
      vf_poller_adopt (jobs, work->protocol, &limited);
      break;
    case WORK_LIST:
      vf_videos_refresh (jobs, &limited);
      break;
    case WORK_PROBE:
      vf_videos_probe (jobs, work->id, &limited);
      break;
    case WORK_NONE:
    default:
      break;
    }
  if (limited)
    rate_limited (jobs, limited);
}

static gpointer
poller_main (gpointer data)
{
  VfJobs *jobs = data;

  g_mutex_lock (&jobs->lock);
  while (!jobs->poller->stopping)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 wake = now + 60 * G_USEC_PER_SEC;
      Work work = { WORK_NONE, NULL, VF_PROTO_OPENAI, NULL };

      pick_work_locked (jobs, now, &work, &wake);
      if (work.kind == WORK_NONE)
        {
          g_cond_wait_until (&jobs->work_cond, &jobs->lock, wake);
          continue;
        }
      g_mutex_unlock (&jobs->lock);
      do_work (jobs, &work);
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
  VfPoller *poller = g_new0 (VfPoller, 1);

  g_mutex_lock (&jobs->lock);
  jobs->poller = poller;
  g_mutex_unlock (&jobs->lock);
  poller->thread = g_thread_new ("videofs-poller", poller_main, jobs);
}

void
vf_poller_stop (VfJobs *jobs)
{
  VfPoller *poller = jobs->poller;

  if (!poller)
    return;
  g_mutex_lock (&jobs->lock);
  poller->stopping = TRUE;
  g_cond_broadcast (&jobs->work_cond);
  g_mutex_unlock (&jobs->lock);
  g_thread_join (poller->thread);
  g_mutex_lock (&jobs->lock);
  jobs->poller = NULL;
  g_mutex_unlock (&jobs->lock);
  g_free (poller);
}
