/* submit.c: what a user does to the job table: submit a prompt file, have
 * one rejected while it is written, rename a job, forget one.  How a
 * submission is made crash-safe is told at the top of jobs-journal.c. */
#include "jobs-private.h"
#include "vf-error.h"

#include <string.h>

/* ----- submission ----- */

void
vf_jobs_reject (VfJobs *jobs, const char *prompt_file, const GError *reason)
{
  g_autofree char *name = NULL;

  g_return_if_fail (jobs != NULL);
  if (!vf_prompt_name (prompt_file, &name) || !vf_prompt_name_check (prompt_file, NULL))
    return;
  vf_jobs_reject_locally (jobs, name, prompt_file, NULL, 0, reason);
}

gboolean
vf_jobs_is_submitted (VfJobs *jobs, const char *prompt_file)
{
  g_autofree char *name = NULL;
  gboolean submitted = FALSE;
  Job *job;

  if (!vf_prompt_name (prompt_file, &name))
    return FALSE;
  g_mutex_lock (&jobs->lock);
  job = g_hash_table_lookup (jobs->table, name);
  if (job && vf_job_phase_blocks_submit (job->phase) && strcmp (job->prompt_file, prompt_file) == 0)
    submitted = TRUE;
  g_mutex_unlock (&jobs->lock);
  return submitted;
}

/* The id of the video a remix: or extend: names (`key`), by job name or
 * id: a job here must be completed; an id of the API's form (video_...,
 * a gateway's task_...) not known here goes as it is, for the API to judge. */
static char *
source_id (VfJobs *jobs, const char *key, const char *source, GError **error)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&jobs->lock);
  Job *job = g_hash_table_lookup (jobs->table, source);

  if (!job)
    job = vf_jobs_by_id_locked (jobs, source);
  if (!job)
    {
      if ((g_str_has_prefix (source, "video_") || g_str_has_prefix (source, "task_"))
          && vf_id_check (source, NULL))
        return g_strdup (source);
      vf_set_error (error, VF_ERROR_INVALID, "%s: there is no job %s", key, source);
      return NULL;
    }
  if (job->phase != VF_JOB_LIVE || !job->task || job->task->state != VF_STATE_COMPLETED)
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s: job %s is %s, not completed", key, job->name,
                    vf_job_state_word (job));
      return NULL;
    }
  return g_strdup (job->id);
}

/* Takes the inputs out of `body`, leaving their descriptions and the ids of
 * remix:/extend: sources in it.  NULL (and *error) when nothing may be sent. */
static VfInputs *
take_inputs (VfJobs *jobs, json_t *body, VfProtocol protocol, GError **error)
{
  g_autoptr (VfInputs) inputs
      = vf_inputs_take (body, protocol, jobs->open_input, jobs->open_input_data, error);
  const char *keys[] = { "remix", "extend" };

  if (!inputs)
    return NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      const char *source = i == 0 ? inputs->remix : inputs->extend;
      g_autofree char *id = NULL;

      if (!source)
        continue;
      id = source_id (jobs, keys[i], source, error);
      if (!id)
        return NULL;
      json_object_set_new (body, keys[i], json_pack ("{s:s, s:s}", "source", source, "id", id));
    }
  return g_steal_pointer (&inputs);
}

/* The create's outcome, journaled and synced. */
static void
journal_outcome (VfJobs *jobs, Job *job, VfTask *task, const GError *error)
{
  VfTxn txn;
  int status;

  vf_txn_begin (&txn, jobs);
  job->changed_us = g_get_real_time ();
  if (task)
    {
      job->phase = VF_JOB_LIVE;
      job->id = g_strdup (task->id);
      job->protocol = task->protocol;
      job->poll.last_ok_us = g_get_monotonic_time ();
      job->poll.next_us
          = job->poll.last_ok_us + MAX (vf_jobs_poll_us (jobs), task->poll_after_ms * 1000);
      vf_job_set_task (job, task);
      vf_txn_event (&txn, job, "submitted", NULL);
      vf_txn_record (&txn, vf_job_record (job, "created"), TRUE);
      vf_jobs_wake_poller_locked (jobs);
    }
  else if (((status = vf_error_http_status (error)) >= 400 && status <= 499)
           || !vf_error_maybe_sent (error))
    {
      job->phase = VF_JOB_REJECTED;
      job->reason = vf_refusal_reason (error);
      vf_txn_event (&txn, job, "rejected", NULL);
      vf_txn_record (&txn, vf_job_record (job, "rejected"), TRUE);
    }
  else
    {
      job->phase = VF_JOB_UNKNOWN;
      job->reason = vf_one_line (error->message);
      vf_txn_event (&txn, job, "unknown", NULL);
      vf_txn_record (&txn, vf_job_record (job, "lost"), TRUE);
      vf_jobs_wake_poller_locked (jobs);
    }
  vf_txn_note (&txn, job->name, VF_CHANGE_STATUS | VF_CHANGE_CONTENT);
  vf_job_unref_locked (job);
  vf_txn_commit (&txn, NULL);
}

gboolean
vf_jobs_submit (VfJobs *jobs, const char *prompt_file, const char *data, gsize len, GError **error)
{
  g_autofree char *name = NULL;
  g_autoptr (json_t) body = NULL;
  g_autoptr (GError) local = NULL;
  VfPromptDefaults defaults = { jobs->model, jobs->seconds, jobs->size, jobs->images != NULL };
  VfCreateRequest request = { 0 };
  g_autoptr (VfInputs) inputs = NULL;
  VfProtocol protocol;
  VfTask *task;
  Job *job;
  Job *old;

  g_return_val_if_fail (jobs != NULL && prompt_file != NULL, FALSE);

  if (!vf_prompt_name (prompt_file, &name))
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s is not a prompt file name", prompt_file);
      return FALSE;
    }
  /* A name that is not UTF-8 fails below, when its intent cannot be
   * journaled, and its job says so; one with a control character would
   * forge a line of `status` or `events`: it never enters the table. */
  if (g_utf8_validate (prompt_file, -1, NULL) && !vf_prompt_name_check (prompt_file, error))
    return FALSE;

  g_mutex_lock (&jobs->lock);
  old = g_hash_table_lookup (jobs->table, name);
  if (old && vf_job_phase_blocks_submit (old->phase))
    {
      vf_set_conflict (error, old);
      g_mutex_unlock (&jobs->lock);
      return FALSE;
    }
  g_mutex_unlock (&jobs->lock);

  body = vf_prompt_parse (data, len, g_str_has_suffix (prompt_file, ".json"), &defaults, &local);
  if (!body)
    {
      vf_jobs_reject_locally (jobs, name, prompt_file, data, len, local);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  if (jobs->images)
    return vf_jobs_submit_picture (jobs, name, prompt_file, data, len, body, error);
  protocol = vf_client_protocol_for_model (jobs->client,
                                           json_string_value (json_object_get (body, "model")));
  {
    json_t *shaped = vf_protocol_create_body (protocol, body);

    json_decref (body);
    body = shaped;
  }
  inputs = take_inputs (jobs, body, protocol, &local);
  if (!inputs)
    {
      vf_jobs_reject_locally (jobs, name, prompt_file, data, len, local);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }

  /* The intent, then the mark, on disk before anything is sent. */
  job = vf_jobs_journal_intent (jobs, name, prompt_file, data, len, protocol, body, NULL, error);
  if (!job || !vf_jobs_journal_sending (jobs, job, error))
    return FALSE;

  request.body = body;
  request.files = (const VfCreateFile *)inputs->files->data;
  request.n_files = inputs->files->len;
  task = vf_client_create (jobs->client, &request, &local);

  /* The outcome, on disk before the caller hears it. */
  journal_outcome (jobs, job, task, local);
  if (local)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return TRUE;
}

/* ----- rename, forget ----- */

static gboolean
job_name_ok (const char *name)
{
  return name && *name && !strchr (name, '/') && strcmp (name, ".") != 0 && strcmp (name, "..") != 0
         && vf_prompt_name_check (name, NULL);
}

gboolean
vf_jobs_rename (VfJobs *jobs, const char *from, const char *to, GError **error)
{
  g_autoptr (GError) local = NULL;
  VfTxn txn;
  Job *job;
  gpointer key;

  g_return_val_if_fail (jobs != NULL && from != NULL && to != NULL, FALSE);
  if (!job_name_ok (to))
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s is not a job name", to);
      return FALSE;
    }

  vf_txn_begin (&txn, jobs);
  job = g_hash_table_lookup (jobs->table, from);
  if (!job)
    vf_set_error (&local, VF_ERROR_NOT_FOUND, "no job %s", from);
  else if (strcmp (from, to) == 0)
    job = NULL; /* nothing to do: rename(2) of a name onto itself */
  else if (g_hash_table_contains (jobs->table, to))
    vf_set_error (&local, VF_ERROR_CONFLICT, "job %s exists already", to);
  else if (job->phase == VF_JOB_SUBMITTING)
    vf_set_conflict (&local, job);
  if (!job || local)
    {
      vf_txn_commit (&txn, NULL);
      if (!local)
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }

  g_hash_table_steal_extended (jobs->table, from, &key, NULL);
  g_free (key);
  vf_job_set_name (job, to);
  g_hash_table_insert (jobs->table, g_strdup (to), job);
  vf_txn_table_changed (&txn);
  vf_txn_event (&txn, job, "renamed", json_pack ("{s:s}", "from", from));
  vf_txn_note (&txn, from, VF_CHANGE_JOBS);
  vf_txn_note (&txn, to, VF_CHANGE_JOBS);
  vf_txn_record (&txn, json_pack ("{s:s, s:s, s:s}", "op", "rename", "from", from, "to", to), TRUE);
  vf_txn_commit (&txn, NULL);
  return TRUE;
}

gboolean
vf_jobs_forget (VfJobs *jobs, const char *name, GError **error)
{
  g_autofree char *id = NULL;
  g_autofree char *pictures_dir = NULL;
  VfProtocol protocol;
  VfTxn txn;
  Job *job;

  g_return_val_if_fail (jobs != NULL && name != NULL, FALSE);

  g_mutex_lock (&jobs->lock);
  job = g_hash_table_lookup (jobs->table, name);
  if (!job || job->phase == VF_JOB_SUBMITTING)
    {
      if (job)
        vf_set_conflict (error, job);
      else
        vf_set_error (error, VF_ERROR_NOT_FOUND, "no job %s", name);
      g_mutex_unlock (&jobs->lock);
      return FALSE;
    }
  vf_job_ref_locked (job);
  if (job->picture)
    pictures_dir = g_strdup (job->pictures_dir);
  else
    id = g_strdup (job->phase == VF_JOB_LIVE ? job->id : NULL);
  protocol = job->protocol;
  g_mutex_unlock (&jobs->lock);

  if (jobs->delete_remote && id)
    {
      g_autoptr (GError) local = NULL;

      if (!vf_client_delete (jobs->client, protocol, id, &local)
          && !g_error_matches (local, VF_ERROR, VF_ERROR_NOT_FOUND))
        {
          g_mutex_lock (&jobs->lock);
          vf_job_unref_locked (job);
          g_mutex_unlock (&jobs->lock);
          g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                      "cannot delete %s on the API: ", id);
          return FALSE;
        }
    }

  vf_txn_begin (&txn, jobs);
  if (!job->removed)
    {
      g_autofree char *key = g_strdup (job->name);

      vf_txn_event (&txn, job, "forgotten", NULL);
      vf_txn_note (&txn, key, VF_CHANGE_JOBS);
      vf_txn_record (&txn, json_pack ("{s:s, s:s}", "op", "forget", "name", key), TRUE);
      g_hash_table_remove (jobs->table, key);
      vf_txn_table_changed (&txn);
      if (id && jobs->delete_remote)
        g_hash_table_remove (jobs->videos, id);
      if (id && vf_jobs_by_id_locked (jobs, id))
        g_clear_pointer (&id, g_free); /* another name still shows these bytes */
    }
  vf_job_unref_locked (job);
  vf_txn_commit (&txn, NULL);
  if (id)
    vf_cache_drop (jobs->cache, id);
  vf_jobs_pictures_remove (pictures_dir);
  return TRUE;
}
