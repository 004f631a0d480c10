/* job.c: one job: its lifetime, its journal record, and the table's
 * lookups.
 *
 * Every journal record but `task`, `rename` and `forget` is a whole job, so
 * replay is "last record wins"; `task` records (not fsynced) only refresh
 * the cached answer and what was learnt of the content.
 */
#include "jobs-private.h"

#include <string.h>

Job *
vf_job_new (const char *name, const char *prompt_file)
{
  Job *job = g_new0 (Job, 1);

  job->ref = 1;
  job->name = g_strdup (name);
  job->prompt_file = g_strdup (prompt_file);
  job->protocol = VF_PROTO_OPENAI;
  for (int v = 0; v < VF_N_VARIANTS; v++)
    job->content_size[v] = -1;
  job->created = g_get_real_time () / G_USEC_PER_SEC;
  job->intent_us = g_get_real_time ();
  job->changed_us = job->intent_us;
  job->poll.last_ok_us = g_get_monotonic_time ();
  return job;
}

Job *
vf_job_ref_locked (Job *job)
{
  job->ref++;
  return job;
}

void
vf_job_unref_locked (Job *job)
{
  if (--job->ref > 0)
    return;
  g_free (job->name);
  g_free (job->prompt_file);
  g_clear_pointer (&job->prompt_data, g_bytes_unref);
  g_free (job->id);
  g_clear_pointer (&job->body, json_decref);
  vf_task_free (job->task);
  g_free (job->status_json);
  g_free (job->reason);
  g_free (job->content_error);
  g_free (job->poll_error);
  g_free (job->pictures_dir);
  g_clear_pointer (&job->pictures, json_decref);
  g_free (job->revised_prompt);
  g_free (job);
}

void
vf_job_drop (gpointer data)
{
  Job *job = data;

  job->removed = TRUE;
  vf_job_unref_locked (job);
}

void
vf_job_set_name (Job *job, const char *name)
{
  char *prompt_file = vf_prompt_file_rename (job->prompt_file, name);

  g_free (job->name);
  job->name = g_strdup (name);
  g_free (job->prompt_file);
  job->prompt_file = prompt_file;
}

char *
vf_json_pretty (const json_t *json)
{
  g_autofree char *text = NULL;

  if (!json)
    return NULL;
  text = json_dumps (json, JSON_INDENT (2));
  if (!text)
    return NULL;
  return g_strconcat (text, "\n", NULL);
}

void
vf_job_set_task_text (Job *job, VfTask *task, char *status_json)
{
  vf_task_free (job->task);
  g_free (job->status_json);
  job->task = task;
  job->status_json = status_json;
  if (task)
    g_clear_pointer (&task->raw, json_decref);
}

void
vf_job_set_task (Job *job, VfTask *task)
{
  vf_job_set_task_text (job, task, task ? vf_json_pretty (task->raw) : NULL);
}

gboolean
vf_job_task_finished (const Job *job)
{
  return job->task
         && (job->task->state == VF_STATE_COMPLETED || job->task->state == VF_STATE_FAILED);
}

char *
vf_job_prompt_of_body (const json_t *body)
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

/* ----- records ----- */

/* "intent": nothing was sent yet; "submitting": the create may have left
 * (older journals wrote it for every intent: it loads as unknown). */
static const char *
phase_name (const Job *job)
{
  switch (job->phase)
    {
    case VF_JOB_SUBMITTING:
      return job->sending ? "submitting" : "intent";
    case VF_JOB_REJECTED:
      return "rejected";
    case VF_JOB_UNKNOWN:
      return "unknown";
    case VF_JOB_LIVE:
    default:
      return "live";
    }
}

static VfJobPhase
phase_from_name (const char *name)
{
  if (g_strcmp0 (name, "live") == 0)
    return VF_JOB_LIVE;
  if (g_strcmp0 (name, "rejected") == 0)
    return VF_JOB_REJECTED;
  if (g_strcmp0 (name, "intent") == 0)
    return VF_JOB_SUBMITTING;
  /* "submitting" too: a create that may have left, with no outcome. */
  return VF_JOB_UNKNOWN;
}

static json_t *
sizes_json (const Job *job)
{
  json_t *sizes = json_array ();

  for (int v = 0; v < VF_N_VARIANTS; v++)
    json_array_append_new (sizes, json_integer (job->content_size[v]));
  return sizes;
}

/* Sets key to value (stolen); a NULL value (text that is not UTF-8) makes
 * the record not whole. */
static void
put (json_t *record, const char *key, json_t *value, gboolean *whole)
{
  if (!value || json_object_set_new (record, key, value) < 0)
    *whole = FALSE;
}

VfTask *
vf_picture_task (const Job *job, const char *code, const char *message)
{
  VfTask *task = vf_task_new ();

  task->id = g_strdup (job->id);
  task->protocol = job->protocol;
  task->model = g_strdup (json_string_value (json_object_get (job->body, "model")));
  task->created_at = job->created;
  task->progress = 100;
  task->state = code ? VF_STATE_FAILED : VF_STATE_COMPLETED;
  task->error_code = g_strdup (code);
  task->error_message = g_strdup (message);
  task->completed_at = job->changed_us / G_USEC_PER_SEC;
  task->state_word = g_strdup (vf_state_name (task->state));
  return task;
}

static void
picture_record (const Job *job, json_t *record, gboolean *whole)
{
  put (record, "picture", json_true (), whole);
  put (record, "pictures_dir", json_string (job->pictures_dir), whole);
  if (job->pictures)
    put (record, "pictures", json_incref (job->pictures), whole);
  if (job->revised_prompt)
    put (record, "revised_prompt", json_string (job->revised_prompt), whole);
  if (job->task && job->task->state == VF_STATE_FAILED)
    put (record, "failure",
         json_pack ("{s:s?, s:s?}", "code", job->task->error_code, "message",
                    job->task->error_message),
         whole);
}

static void
picture_from_record (Job *job, json_t *record)
{
  json_t *pictures = json_object_get (record, "pictures");
  json_t *failure = json_object_get (record, "failure");
  json_t *raw = json_object_get (record, "task");

  job->pictures_dir = g_strdup (json_string_value (json_object_get (record, "pictures_dir")));
  if (json_is_array (pictures))
    job->pictures = json_incref (pictures);
  job->revised_prompt = g_strdup (json_string_value (json_object_get (record, "revised_prompt")));
  if (job->phase == VF_JOB_LIVE && job->pictures_dir)
    vf_job_set_task_text (
        job,
        vf_picture_task (job, json_string_value (json_object_get (failure, "code")),
                         json_string_value (json_object_get (failure, "message"))),
        json_is_object (raw) ? vf_json_pretty (raw) : NULL);
  else if (job->phase == VF_JOB_LIVE)
    job->phase = VF_JOB_UNKNOWN;
  job->probed = TRUE;
}

json_t *
vf_job_record (const Job *job, const char *op)
{
  g_autoptr (json_t) record = json_object ();
  gboolean whole = TRUE;

  put (record, "op", json_string (op), &whole);
  put (record, "name", json_string (job->name), &whole);
  if (strcmp (op, "task") != 0)
    {
      put (record, "prompt_file", json_string (job->prompt_file), &whole);
      /* Kept when it is text: a prompt refused for its bytes is not.  An
       * empty GBytes has no data pointer, and zero bytes are still kept. */
      if (job->prompt_data)
        {
          gsize len;
          const char *data = g_bytes_get_data (job->prompt_data, &len);
          json_t *text = json_stringn (data ? data : "", len);

          if (text)
            json_object_set_new (record, "prompt_data", text);
        }
      put (record, "phase", json_string (phase_name (job)), &whole);
      put (record, "protocol", json_string (vf_protocol_name (job->protocol)), &whole);
      if (job->id)
        put (record, "id", json_string (job->id), &whole);
      if (job->body)
        put (record, "body", json_incref (job->body), &whole);
      if (job->reason)
        put (record, "reason", json_string (job->reason), &whole);
      put (record, "created", json_integer (job->created), &whole);
      put (record, "intent_us", json_integer (job->intent_us), &whole);
      if (job->picture)
        picture_record (job, record, &whole);
    }
  if (job->status_json)
    put (record, "task", json_loads (job->status_json, JSON_ALLOW_NUL, NULL), &whole);
  put (record, "changed_us", json_integer (job->changed_us), &whole);
  put (record, "sizes", sizes_json (job), &whole);
  put (record, "probed", json_boolean (job->probed), &whole);
  put (record, "expired", json_boolean (job->expired), &whole);
  if (!whole)
    return NULL;
  return g_steal_pointer (&record);
}

json_t *
vf_job_sending_record (const Job *job)
{
  return json_pack ("{s:s, s:s, s:I}", "op", "sending", "name", job->name, "intent_us",
                    (json_int_t)job->intent_us);
}

static gint64
record_int (json_t *record, const char *key, gint64 fallback)
{
  json_t *value = json_object_get (record, key);

  return json_is_integer (value) ? json_integer_value (value) : fallback;
}

void
vf_job_apply_task_record (Job *job, json_t *record)
{
  json_t *raw = json_object_get (record, "task");
  json_t *sizes = json_object_get (record, "sizes");

  if (json_is_object (raw) && !job->picture)
    {
      VfTask *task = vf_protocol_task_from_json (job->protocol, raw, NULL);
      if (task)
        vf_job_set_task (job, task);
    }
  for (int v = 0; v < VF_N_VARIANTS; v++)
    {
      json_t *size = json_array_get (sizes, v);

      job->content_size[v] = json_is_integer (size) ? json_integer_value (size) : -1;
    }
  job->probed = json_is_true (json_object_get (record, "probed"));
  job->expired = json_is_true (json_object_get (record, "expired"));
  job->changed_us = record_int (record, "changed_us", job->changed_us);
}

Job *
vf_job_from_record (json_t *record)
{
  const char *name = json_string_value (json_object_get (record, "name"));
  const char *prompt_file = json_string_value (json_object_get (record, "prompt_file"));
  json_t *data = json_object_get (record, "prompt_data");
  json_t *body = json_object_get (record, "body");
  Job *job;

  if (!name || !prompt_file)
    return NULL;
  job = vf_job_new (name, prompt_file);
  if (json_is_string (data))
    job->prompt_data = g_bytes_new (json_string_value (data), json_string_length (data));
  job->phase = phase_from_name (json_string_value (json_object_get (record, "phase")));
  vf_protocol_from_name (json_string_value (json_object_get (record, "protocol")), &job->protocol);
  job->id = g_strdup (json_string_value (json_object_get (record, "id")));
  if (json_is_object (body))
    job->body = json_incref (body);
  job->reason = g_strdup (json_string_value (json_object_get (record, "reason")));
  job->created = record_int (record, "created", job->created);
  job->intent_us = record_int (record, "intent_us", job->intent_us);
  job->picture = json_is_true (json_object_get (record, "picture"));
  vf_job_apply_task_record (job, record);
  if (job->picture)
    picture_from_record (job, record);
  if (job->phase == VF_JOB_LIVE && !job->id)
    job->phase = VF_JOB_UNKNOWN;
  if (job->phase == VF_JOB_REJECTED && !job->reason)
    job->reason = g_strdup ("rejected: no reason was kept");
  return job;
}

/* ----- lookups ----- */

static gint
compare_jobs_by_name (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(Job *const *)a)->name, (*(Job *const *)b)->name);
}

GPtrArray *
vf_jobs_sorted_locked (VfJobs *jobs)
{
  GPtrArray *list = g_ptr_array_sized_new (g_hash_table_size (jobs->table));
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, value);
  g_ptr_array_sort (list, compare_jobs_by_name);
  return list;
}

Job *
vf_jobs_by_id_locked (VfJobs *jobs, const char *id)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->phase == VF_JOB_LIVE && g_strcmp0 (job->id, id) == 0)
        return job;
    }
  return NULL;
}
