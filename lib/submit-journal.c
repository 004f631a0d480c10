/* submit-journal.c: a submission's records, shared by videos (submit.c)
 * and pictures (submit-image.c): the intent, the mark that the request is
 * being sent, and refusals of what was never sent.  How a submission is
 * made crash-safe is told at the top of jobs-journal.c. */
#include "jobs-private.h"
#include "vf-error.h"

#include <string.h>

gboolean
vf_job_phase_blocks_submit (VfJobPhase phase)
{
  return phase != VF_JOB_REJECTED;
}

void
vf_set_conflict (GError **error, const Job *job)
{
  vf_set_error (error, VF_ERROR_CONFLICT, "job %s exists already (%s)", job->name,
                vf_job_state_word (job));
}

/* With the table lock held: puts `job` in the table in place of any old one. */
void
vf_jobs_put_locked (VfTxn *txn, Job *job)
{
  g_hash_table_replace (txn->jobs->table, g_strdup (job->name), job);
  vf_txn_table_changed (txn);
  vf_txn_note (txn, job->name, VF_CHANGE_JOBS | VF_CHANGE_STATUS | VF_CHANGE_CONTENT);
}

void
vf_jobs_reject_locally (VfJobs *jobs, const char *name, const char *prompt_file, const char *data,
                        gsize len, const GError *reason)
{
  VfTxn txn;
  Job *old;

  vf_txn_begin (&txn, jobs);
  old = g_hash_table_lookup (jobs->table, name);
  if (!old || !vf_job_phase_blocks_submit (old->phase))
    {
      g_autofree char *why = vf_one_line (reason ? reason->message : "refused");
      Job *job = vf_job_new (name, prompt_file);

      job->phase = VF_JOB_REJECTED;
      job->reason = g_strdup_printf ("invalid_prompt: %s", why);
      if (data)
        job->prompt_data = g_bytes_new (data, len);
      vf_jobs_put_locked (&txn, job);
      vf_txn_event (&txn, job, "rejected", NULL);
      vf_txn_record (&txn, vf_job_record (job, "job"), FALSE);
    }
  vf_txn_commit (&txn, NULL);
}

/* "CODE: MESSAGE" for an API refusal or a request that never left. */
char *
vf_refusal_reason (const GError *error)
{
  const char *code = vf_error_api_code (error);
  const char *message = vf_error_api_message (error);
  int status = vf_error_http_status (error);
  g_autofree char *fallback = NULL;
  g_autofree char *code_line = NULL;
  g_autofree char *message_line = NULL;

  if (!code)
    code = fallback = status > 0 ? g_strdup_printf ("http_%d", status) : g_strdup ("network_error");
  code_line = vf_one_line (code);
  message_line = vf_one_line (message ? message : error->message);
  return g_strdup_printf ("%s: %s", code_line, message_line);
}

/* With the journal unwritable: nothing was sent, so the job is refused and
 * says why.  Drops the caller's reference. */
static void
refuse_unsent (VfJobs *jobs, Job *job, GError *local, GError **error)
{
  VfTxn txn;

  vf_txn_begin_unjournaled (&txn, jobs);
  job->phase = VF_JOB_REJECTED;
  job->sending = FALSE;
  job->reason = g_strdup_printf ("journal_error: %s; nothing was sent", local->message);
  job->changed_us = g_get_real_time ();
  vf_txn_event (&txn, job, "rejected", NULL);
  vf_txn_note (&txn, job->name, VF_CHANGE_STATUS);
  vf_job_unref_locked (job);
  vf_txn_commit (&txn, NULL);
  g_propagate_error (error, local);
}

/* The job for a submission, as `submitting`, with its intent journaled and
 * synced; NULL (and *error) when nothing may be sent.  Returns a reference. */
Job *
vf_jobs_journal_intent (VfJobs *jobs, const char *name, const char *prompt_file, const char *data,
                        gsize len, VfProtocol protocol, json_t *body, const char *pictures_dir,
                        GError **error)
{
  g_autoptr (GError) local = NULL;
  VfTxn txn;
  Job *job;
  Job *old;

  vf_txn_begin (&txn, jobs);
  old = g_hash_table_lookup (jobs->table, name);
  if (old && vf_job_phase_blocks_submit (old->phase))
    {
      vf_set_conflict (error, old);
      vf_txn_commit (&txn, NULL);
      return NULL;
    }
  job = vf_job_new (name, prompt_file);
  job->phase = VF_JOB_SUBMITTING;
  job->protocol = protocol;
  job->body = json_incref (body);
  job->prompt_data = g_bytes_new (data, len);
  job->picture = pictures_dir != NULL;
  job->pictures_dir = g_strdup (pictures_dir);
  vf_jobs_put_locked (&txn, job);
  vf_job_ref_locked (job);
  vf_txn_record (&txn, vf_job_record (job, "intent"), TRUE);
  vf_txn_urgent (&txn);
  if (vf_txn_commit (&txn, &local))
    return job;
  refuse_unsent (jobs, job, g_steal_pointer (&local), error);
  return NULL;
}

/* The mark that the create is being sent, journaled and synced: from here
 * on the job may exist on the API.  FALSE (the job refused, the reference
 * dropped) when the mark cannot be written: nothing is sent then. */
gboolean
vf_jobs_journal_sending (VfJobs *jobs, Job *job, GError **error)
{
  g_autoptr (GError) local = NULL;
  VfTxn txn;

  vf_txn_begin (&txn, jobs);
  job->sending = TRUE;
  vf_txn_record (&txn, vf_job_sending_record (job), TRUE);
  vf_txn_urgent (&txn);
  if (vf_txn_commit (&txn, &local))
    return TRUE;
  refuse_unsent (jobs, job, g_steal_pointer (&local), error);
  return FALSE;
}
