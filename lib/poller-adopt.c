/* poller-adopt.c: the poller's adoption of `unknown` jobs (a create whose
 * answer was lost) by finding them in the API's list.  Paced: while
 * listings find nothing, each protocol's next one waits twice as long, from
 * the poll interval up to ADOPT_WAIT_MAX_US; a new unknown job (poller.c
 * sees it) or an adoption starts it over. */
#include "poller-private.h"
#include "vf-error.h"

#include <string.h>

#define ADOPT_PAGES 10
#define ADOPT_AFTER_S (10 * 60) /* a create may sit in a queue */
#define ADOPT_WAIT_MAX_US (120 * G_USEC_PER_SEC)

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
  g_autofree char *prompt = vf_job_prompt_of_body (job->body);
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

/* With the table lock held: `unknown` job matched `task` in the listing. */
static void
adopt_job_locked (VfTxn *txn, Job *job, const VfTask *task)
{
  job->phase = VF_JOB_LIVE;
  job->id = g_strdup (task->id);
  job->protocol = task->protocol;
  vf_job_set_task (job, vf_task_copy (task));
  g_clear_pointer (&job->reason, g_free);
  job->changed_us = g_get_real_time ();
  job->poll.last_ok_us = g_get_monotonic_time ();
  job->poll.next_us = job->poll.last_ok_us;
  vf_txn_event (txn, job, "adopted", NULL);
  vf_txn_record (txn, vf_job_record (job, "adopted"), TRUE);
  vf_txn_note (txn, job->name, VF_CHANGE_STATUS | VF_CHANGE_CONTENT);
  g_debug ("adopted %s as job %s", task->id, job->name);
}

/* With the table lock held: when `protocol` is listed for adoption next.
 * A listing that found nothing waits twice as long as the last one. */
static void
schedule_adoption_locked (VfPoller *poller, VfProtocol protocol, gboolean found, gint64 poll_us)
{
  gint64 wait = poller->adopt_wait_us[protocol];

  if (found || wait == 0)
    wait = poll_us;
  else
    wait = MIN (2 * wait, MAX (ADOPT_WAIT_MAX_US, poll_us));
  poller->adopt_wait_us[protocol] = wait;
  poller->next_adopt_us[protocol] = g_get_monotonic_time () + wait;
}

void
vf_poller_adopt (VfJobs *jobs, VfProtocol protocol, GError **rate_limited)
{
  g_autoptr (GPtrArray) unknown = g_ptr_array_new ();
  g_autoptr (GHashTable) claimed = g_hash_table_new (g_str_hash, g_str_equal);
  VfListing listing = { 0 };
  guint adopted = 0;
  gint64 oldest_intent_s = G_MAXINT64;
  gint64 now_s = g_get_real_time () / G_USEC_PER_SEC;
  GHashTableIter iter;
  gpointer value;
  VfTxn txn;

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

  vf_listing_fetch (jobs, protocol, ADOPT_PAGES, oldest_intent_s - ADOPT_BEFORE_S, NULL, &listing);

  vf_txn_begin (&txn, jobs);
  if (listing.error)
    {
      g_debug ("listing for adoption: %s", listing.error->message);
      if (vf_error_means_no_list (listing.error))
        {
          jobs->no_list[protocol] = TRUE;
          vf_txn_note (&txn, NULL, VF_CHANGE_STATUS);
        }
      else if (g_error_matches (listing.error, VF_ERROR, VF_ERROR_RATE_LIMITED) && rate_limited)
        *rate_limited = g_error_copy (listing.error);
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
          adopt_job_locked (&txn, job, best);
          g_hash_table_add (claimed, job->id);
          adopted++;
        }
      else if (listing.complete && now_s > intent_s + ADOPT_AFTER_S + ADOPT_BEFORE_S)
        {
          /* The whole window was listed and nothing came of the request. */
          job->phase = VF_JOB_REJECTED;
          g_free (job->reason);
          job->reason = g_strdup ("not_found: the request was sent but no answer came, and no "
                                  "job with this prompt appeared in the API's list");
          job->changed_us = g_get_real_time ();
          vf_txn_event (&txn, job, "rejected", NULL);
          vf_txn_record (&txn, vf_job_record (job, "rejected"), TRUE);
          vf_txn_note (&txn, job->name, VF_CHANGE_STATUS);
        }
    }
  schedule_adoption_locked (jobs->poller, protocol, adopted > 0, vf_jobs_poll_us (jobs));
  vf_txn_commit (&txn, NULL);
  vf_listing_clear (&listing);
}
