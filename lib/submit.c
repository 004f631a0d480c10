/* submit.c: submission, local rejects, rename and forget: the changes a
 * user makes to the job table.  How a submission is made crash-safe is told
 * at the top of jobs.c. */
#include "jobs-private.h"
#include "vf-error.h"

#include <string.h>

/* ----- submission ----- */

static gboolean
phase_blocks_submit (VfJobPhase phase)
{
  return phase != VF_JOB_REJECTED;
}

static void
set_conflict (GError **error, const Job *job)
{
  vf_set_error (error, VF_ERROR_CONFLICT, "job %s exists already (%s)", job->name,
                vf_job_state_word (job));
}

/* With both locks held: puts `job` in the table in place of any old one. */
static void
table_put_locked (VfJobs *jobs, Job *job, GArray *notes)
{
  g_hash_table_replace (jobs->table, g_strdup (job->name), job);
  jobs->table_changed_us = g_get_real_time ();
  vf_notes_add (notes, job->name, VF_CHANGE_JOBS | VF_CHANGE_STATUS | VF_CHANGE_CONTENT);
}

static GBytes *
prompt_bytes (const char *data, gsize len)
{
  return g_bytes_new (data, len);
}

static void
reject_locally (VfJobs *jobs, const char *name, const char *prompt_file, const char *data,
                gsize len, const GError *reason)
{
  GArray *notes = vf_notes_new ();
  json_t *record = NULL;
  Job *old;

  g_mutex_lock (&jobs->journal_lock);
  g_mutex_lock (&jobs->lock);
  old = g_hash_table_lookup (jobs->table, name);
  if (!old || !phase_blocks_submit (old->phase))
    {
      g_autofree char *why = vf_one_line (reason ? reason->message : "refused");
      Job *job = vf_job_new (name, prompt_file);

      job->phase = VF_JOB_REJECTED;
      job->reason = g_strdup_printf ("invalid_prompt: %s", why);
      if (data)
        job->prompt_data = prompt_bytes (data, len);
      table_put_locked (jobs, job, notes);
      vf_jobs_event_locked (jobs, job, "rejected", NULL);
      vf_notes_add (notes, NULL, VF_CHANGE_EVENTS);
      record = vf_job_record_locked (job, "job");
    }
  g_mutex_unlock (&jobs->lock);
  vf_jobs_journal_append (jobs, record, FALSE);
  g_mutex_unlock (&jobs->journal_lock);
  vf_notes_flush (jobs, notes);
}

void
vf_jobs_reject (VfJobs *jobs, const char *prompt_file, const GError *reason)
{
  g_autofree char *name = NULL;

  g_return_if_fail (jobs != NULL);
  if (!vf_prompt_name (prompt_file, &name))
    return;
  reject_locally (jobs, name, prompt_file, NULL, 0, reason);
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
  if (job && phase_blocks_submit (job->phase) && strcmp (job->prompt_file, prompt_file) == 0)
    submitted = TRUE;
  g_mutex_unlock (&jobs->lock);
  return submitted;
}

char *
vf_task_prompt_of_body (const json_t *body)
{
  const json_t *content = json_object_get (body, "content");
  const json_t *item;
  size_t i;

  if (!json_is_array (content))
    return g_strdup (json_string_value (json_object_get (body, "prompt")));
  json_array_foreach (content, i, item)
  {
    if (g_strcmp0 (json_string_value (json_object_get (item, "type")), "text") == 0
        && json_is_string (json_object_get (item, "text")))
      return g_strdup (json_string_value (json_object_get (item, "text")));
  }
  return NULL;
}

/* "CODE: MESSAGE" for an API refusal or a request that never left. */
static char *
refusal_reason (const GError *error)
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

gboolean
vf_jobs_submit (VfJobs *jobs, const char *prompt_file, const char *data, gsize len, GError **error)
{
  g_autofree char *name = NULL;
  g_autoptr (json_t) body = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (VfTask) task = NULL;
  VfPromptDefaults defaults = { jobs->model, jobs->seconds, jobs->size };
  VfCreateRequest request = { 0 };
  VfProtocol protocol;
  GArray *notes;
  json_t *record;
  Job *job;
  Job *old;
  int status;

  g_return_val_if_fail (jobs != NULL && prompt_file != NULL, FALSE);

  if (!vf_prompt_name (prompt_file, &name))
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s is not a prompt file name", prompt_file);
      return FALSE;
    }

  g_mutex_lock (&jobs->lock);
  old = g_hash_table_lookup (jobs->table, name);
  if (old && phase_blocks_submit (old->phase))
    {
      set_conflict (error, old);
      g_mutex_unlock (&jobs->lock);
      return FALSE;
    }
  g_mutex_unlock (&jobs->lock);

  body = vf_prompt_parse (data, len, g_str_has_suffix (prompt_file, ".json"), &defaults, &local);
  if (!body)
    {
      reject_locally (jobs, name, prompt_file, data, len, local);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  protocol = vf_client_protocol_for_model (jobs->client,
                                           json_string_value (json_object_get (body, "model")));
  if (protocol == VF_PROTO_ARK)
    {
      json_t *ark = vf_prompt_to_ark (body);

      json_decref (body);
      body = ark;
    }

  /* The intent, on disk before anything is sent. */
  notes = vf_notes_new ();
  g_mutex_lock (&jobs->journal_lock);
  g_mutex_lock (&jobs->lock);
  old = g_hash_table_lookup (jobs->table, name);
  if (old && phase_blocks_submit (old->phase))
    {
      set_conflict (error, old);
      g_mutex_unlock (&jobs->lock);
      g_mutex_unlock (&jobs->journal_lock);
      vf_notes_flush (jobs, notes);
      return FALSE;
    }
  job = vf_job_new (name, prompt_file);
  job->phase = VF_JOB_SUBMITTING;
  job->protocol = protocol;
  job->body = json_incref (body);
  job->prompt_data = prompt_bytes (data, len);
  table_put_locked (jobs, job, notes);
  vf_job_ref_locked (job);
  record = vf_job_record_locked (job, "intent");
  g_mutex_unlock (&jobs->lock);
  if (!vf_jobs_journal_try_append (jobs, record, TRUE, &local))
    {
      json_decref (record);
      g_mutex_lock (&jobs->lock);
      job->phase = VF_JOB_REJECTED;
      job->reason = g_strdup_printf ("journal_error: %s; nothing was sent", local->message);
      job->changed_us = g_get_real_time ();
      vf_jobs_event_locked (jobs, job, "rejected", NULL);
      vf_notes_add (notes, NULL, VF_CHANGE_EVENTS);
      vf_job_unref_locked (job);
      g_mutex_unlock (&jobs->lock);
      g_mutex_unlock (&jobs->journal_lock);
      vf_notes_flush (jobs, notes);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  json_decref (record);
  g_mutex_unlock (&jobs->journal_lock);
  vf_notes_flush (jobs, notes);

  request.body = body;
  task = vf_client_create (jobs->client, &request, &local);

  /* The outcome, on disk before the caller hears it. */
  notes = vf_notes_new ();
  g_mutex_lock (&jobs->journal_lock);
  g_mutex_lock (&jobs->lock);
  job->changed_us = g_get_real_time ();
  if (task)
    {
      job->phase = VF_JOB_LIVE;
      job->id = g_strdup (task->id);
      job->protocol = task->protocol;
      job->last_ok_us = g_get_monotonic_time ();
      job->next_poll_us
          = job->last_ok_us + MAX (vf_jobs_poll_us (jobs), task->poll_after_ms * 1000);
      job->task = g_steal_pointer (&task);
      vf_jobs_event_locked (jobs, job, "submitted", NULL);
      record = vf_job_record_locked (job, "created");
      vf_poller_wake_locked (jobs);
    }
  else if (((status = vf_error_http_status (local)) >= 400 && status <= 499)
           || !vf_error_maybe_sent (local))
    {
      job->phase = VF_JOB_REJECTED;
      job->reason = refusal_reason (local);
      vf_jobs_event_locked (jobs, job, "rejected", NULL);
      record = vf_job_record_locked (job, "rejected");
    }
  else
    {
      job->phase = VF_JOB_UNKNOWN;
      job->reason = vf_one_line (local->message);
      vf_jobs_event_locked (jobs, job, "unknown", NULL);
      record = vf_job_record_locked (job, "lost");
      vf_poller_wake_locked (jobs);
    }
  vf_notes_add (notes, job->name, VF_CHANGE_STATUS | VF_CHANGE_CONTENT);
  vf_notes_add (notes, NULL, VF_CHANGE_EVENTS);
  g_mutex_unlock (&jobs->lock);
  vf_jobs_journal_append (jobs, record, TRUE);
  g_mutex_unlock (&jobs->journal_lock);
  vf_job_unref (jobs, job);
  vf_notes_flush (jobs, notes);

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
         && g_utf8_validate (name, -1, NULL);
}

gboolean
vf_jobs_rename (VfJobs *jobs, const char *from, const char *to, GError **error)
{
  GArray *notes;
  json_t *record;
  Job *job;
  gpointer key;

  g_return_val_if_fail (jobs != NULL && from != NULL && to != NULL, FALSE);
  if (!job_name_ok (to))
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s is not a job name", to);
      return FALSE;
    }

  notes = vf_notes_new ();
  g_mutex_lock (&jobs->journal_lock);
  g_mutex_lock (&jobs->lock);
  job = g_hash_table_lookup (jobs->table, from);
  if (!job)
    vf_set_error (error, VF_ERROR_NOT_FOUND, "no job %s", from);
  else if (strcmp (from, to) == 0)
    job = NULL;
  else if (g_hash_table_contains (jobs->table, to))
    {
      vf_set_error (error, VF_ERROR_CONFLICT, "job %s exists already", to);
      job = NULL;
    }
  else if (job->phase == VF_JOB_SUBMITTING)
    {
      set_conflict (error, job);
      job = NULL;
    }
  if (!job)
    {
      gboolean same = error && !*error;

      g_mutex_unlock (&jobs->lock);
      g_mutex_unlock (&jobs->journal_lock);
      vf_notes_flush (jobs, notes);
      return same;
    }

  g_hash_table_steal_extended (jobs->table, from, &key, NULL);
  g_free (key);
  vf_job_set_name (job, to);
  g_hash_table_insert (jobs->table, g_strdup (to), job);
  jobs->table_changed_us = g_get_real_time ();
  vf_jobs_event_locked (jobs, job, "renamed", json_pack ("{s:s}", "from", from));
  vf_notes_add (notes, from, VF_CHANGE_JOBS);
  vf_notes_add (notes, to, VF_CHANGE_JOBS);
  vf_notes_add (notes, NULL, VF_CHANGE_EVENTS);
  record = json_pack ("{s:s, s:s, s:s}", "op", "rename", "from", from, "to", to);
  g_mutex_unlock (&jobs->lock);
  vf_jobs_journal_append (jobs, record, TRUE);
  g_mutex_unlock (&jobs->journal_lock);
  vf_notes_flush (jobs, notes);
  return TRUE;
}

gboolean
vf_jobs_forget (VfJobs *jobs, const char *name, GError **error)
{
  g_autofree char *id = NULL;
  VfProtocol protocol;
  GArray *notes;
  json_t *record = NULL;
  Job *job;

  g_return_val_if_fail (jobs != NULL && name != NULL, FALSE);

  g_mutex_lock (&jobs->lock);
  job = g_hash_table_lookup (jobs->table, name);
  if (!job || job->phase == VF_JOB_SUBMITTING)
    {
      if (job)
        set_conflict (error, job);
      else
        vf_set_error (error, VF_ERROR_NOT_FOUND, "no job %s", name);
      g_mutex_unlock (&jobs->lock);
      return FALSE;
    }
  vf_job_ref_locked (job);
  id = g_strdup (job->phase == VF_JOB_LIVE ? job->id : NULL);
  protocol = job->protocol;
  g_mutex_unlock (&jobs->lock);

  if (jobs->delete_remote && id)
    {
      g_autoptr (GError) local = NULL;

      if (!vf_client_delete (jobs->client, protocol, id, &local)
          && !g_error_matches (local, VF_ERROR, VF_ERROR_NOT_FOUND))
        {
          vf_job_unref (jobs, job);
          g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                      "cannot delete %s on the API: ", id);
          return FALSE;
        }
    }

  notes = vf_notes_new ();
  g_mutex_lock (&jobs->journal_lock);
  g_mutex_lock (&jobs->lock);
  if (!job->removed)
    {
      char *key = g_strdup (job->name);

      vf_jobs_event_locked (jobs, job, "forgotten", NULL);
      vf_notes_add (notes, key, VF_CHANGE_JOBS);
      vf_notes_add (notes, NULL, VF_CHANGE_EVENTS);
      record = json_pack ("{s:s, s:s}", "op", "forget", "name", key);
      g_hash_table_remove (jobs->table, key);
      g_free (key);
      jobs->table_changed_us = g_get_real_time ();
      if (id && jobs->delete_remote)
        g_hash_table_remove (jobs->videos, id);
      if (id && vf_jobs_by_id_locked (jobs, id))
        g_clear_pointer (&id, g_free); /* another name still shows these bytes */
    }
  vf_job_unref_locked (job);
  g_mutex_unlock (&jobs->lock);
  vf_jobs_journal_append (jobs, record, TRUE);
  g_mutex_unlock (&jobs->journal_lock);
  if (id)
    vf_cache_drop (jobs->cache, id);
  vf_notes_flush (jobs, notes);
  return TRUE;
}
