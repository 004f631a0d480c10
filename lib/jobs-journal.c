/* jobs-journal.c: the job table's journal, STATE_DIR/journal.
 *
 * How a submission is made crash-safe: the job enters the table as
 * `submitting` and its whole record (prompt, body, time) is appended to the
 * journal as an `intent` and fsynced.  Then a `sending` mark is appended and
 * fsynced, and only then is the create handed to the network: the create
 * is sent once and never retried by this code.  Its outcome is journaled
 * and fsynced before vf_jobs_submit() returns: `created` with the id,
 * `rejected` when the API refused (a 4xx answer, or a request that provably
 * never left), `lost` when the request may have reached the API but no
 * answer came.
 *
 * After a kill, an intent with no mark after it was never sent: the job
 * loads as rejected `not_sent`, its prompt file writable again, and is sent
 * only when the user saves it again.  An intent with its mark and no
 * outcome loads as `unknown`, like a lost answer: the poller then looks for
 * the job in the API's list and adopts it, and nothing is ever sent again
 * on its own.  (The mark costs one fsync per create; without it every
 * intent a kill left would have to count as sent.)
 *
 * Replay is "last record wins" (job.c says what each record holds).  The
 * journal is compacted to one record per job at open, at close, and when it
 * has grown to twice its size after the last compaction (and at least
 * COMPACT_SIZE): so the cost of compaction stays proportional to the
 * records appended, however many jobs the table holds.  Never between an
 * intent and its create: that record is urgent.
 */
#include "jobs-private.h"

#include <string.h>

#define COMPACT_SIZE (512 * 1024)
#define NOT_SENT                                                                                   \
  "not_sent: videofs stopped before the request was sent; save the prompt file again to send it"

/* The intent's mark: its create was handed to the network. */
static void
replay_sending (VfJobs *jobs, json_t *record)
{
  const char *name = json_string_value (json_object_get (record, "name"));
  json_t *intent_us = json_object_get (record, "intent_us");
  Job *job = name ? g_hash_table_lookup (jobs->table, name) : NULL;

  if (job && job->phase == VF_JOB_SUBMITTING && json_is_integer (intent_us)
      && json_integer_value (intent_us) == job->intent_us)
    job->phase = VF_JOB_UNKNOWN;
}

static void
replay_rename (VfJobs *jobs, json_t *record)
{
  const char *from = json_string_value (json_object_get (record, "from"));
  const char *to = json_string_value (json_object_get (record, "to"));
  gpointer key, value;

  if (!from || !to || g_hash_table_contains (jobs->table, to)
      || !g_hash_table_steal_extended (jobs->table, from, &key, &value))
    return;
  g_free (key);
  vf_job_set_name (value, to);
  g_hash_table_insert (jobs->table, g_strdup (to), value);
}

static void
replay_record (json_t *record, gpointer user_data)
{
  VfJobs *jobs = user_data;
  const char *op = json_string_value (json_object_get (record, "op"));
  const char *name = json_string_value (json_object_get (record, "name"));

  if (!op)
    return;
  if (strcmp (op, "rename") == 0)
    replay_rename (jobs, record);
  else if (strcmp (op, "sending") == 0)
    replay_sending (jobs, record);
  else if (strcmp (op, "forget") == 0)
    {
      if (name)
        g_hash_table_remove (jobs->table, name);
    }
  else if (strcmp (op, "task") == 0)
    {
      Job *job = name ? g_hash_table_lookup (jobs->table, name) : NULL;

      if (job)
        vf_job_apply_task_record (job, record);
    }
  else
    {
      Job *job = vf_job_from_record (record);

      if (job)
        g_hash_table_replace (jobs->table, g_strdup (job->name), job);
    }
}

gboolean
vf_jobs_journal_open (VfJobs *jobs, GError **error)
{
  g_autofree char *path = g_build_filename (jobs->state_dir, "journal", NULL);
  g_autoptr (GError) local = NULL;
  GHashTableIter iter;
  gpointer value;
  gsize dropped = 0;

  jobs->journal = vf_journal_open (path, replay_record, jobs, &dropped, error);
  if (!jobs->journal)
    return FALSE;
  if (dropped > 0)
    g_info ("%s: dropped %" G_GSIZE_FORMAT " bytes of a record cut short", path, dropped);

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->phase == VF_JOB_SUBMITTING)
        {
          job->phase = VF_JOB_REJECTED;
          g_free (job->reason);
          job->reason = g_strdup (NOT_SENT);
        }
      if (job->phase == VF_JOB_UNKNOWN && !job->reason)
        job->reason = g_strdup ("videofs stopped while it was being sent, before an answer came");
    }
  g_mutex_lock (&jobs->journal_lock);
  if (!vf_jobs_journal_compact (jobs, &local))
    g_message ("cannot compact the journal %s: %s", path, local->message);
  g_mutex_unlock (&jobs->journal_lock);
  return TRUE;
}

gboolean
vf_jobs_journal_compact (VfJobs *jobs, GError **error)
{
  g_autoptr (GPtrArray) records = g_ptr_array_new_with_free_func ((GDestroyNotify)json_decref);
  g_autoptr (GPtrArray) list = NULL;

  g_mutex_lock (&jobs->lock);
  list = vf_jobs_sorted_locked (jobs);
  for (guint i = 0; i < list->len; i++)
    {
      json_t *record = vf_job_record (list->pdata[i], "job");

      /* A job that cannot be recorded whole was never journaled (its save
       * failed before anything was sent): it lives in memory only. */
      if (record)
        g_ptr_array_add (records, record);
    }
  g_mutex_unlock (&jobs->lock);
  if (!vf_journal_rewrite (jobs->journal, records, error))
    return FALSE;
  jobs->journal_compacted = vf_journal_size (jobs->journal);
  return TRUE;
}

gboolean
vf_jobs_journal_append (VfJobs *jobs, json_t *record, gboolean sync, gboolean urgent,
                        GError **error)
{
  if (!vf_journal_append (jobs->journal, record, sync, error))
    return FALSE;
  if (!urgent && vf_journal_size (jobs->journal) > MAX (COMPACT_SIZE, 2 * jobs->journal_compacted))
    {
      g_autoptr (GError) local = NULL;

      if (!vf_jobs_journal_compact (jobs, &local))
        g_message ("cannot compact the journal in %s: %s", jobs->state_dir, local->message);
    }
  return TRUE;
}
