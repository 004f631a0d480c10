/* jobs.c: the job table, its journal, submission, and the snapshots the
 * FUSE side reads.
 *
 * How a submission is made crash-safe: the job enters the table as
 * `submitting` and its whole record (prompt, body, time) is appended to the
 * journal and fsynced before the create is sent.  The create is sent once
 * and never retried by this code.  Its outcome is journaled and fsynced
 * before vf_jobs_submit() returns: `created` with the id, `rejected` when the
 * API refused (a 4xx answer, or a request that provably never left), `lost`
 * when the request may have reached the API but no answer came.  A journal
 * that ends with an intent and no outcome loads as `unknown`, like a lost
 * answer: the poller then looks for the job in the API's list and adopts
 * it, and nothing is ever sent again on its own.
 *
 * Every journal record but `task`, `rename` and `forget` is a whole job, so
 * replay is "last record wins"; `task` records (not fsynced) only refresh
 * the cached answer.  The journal is compacted to one record per job at open
 * and whenever it grows past COMPACT_SIZE.
 */
#include "jobs-private.h"
#include "vf-error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMPACT_SIZE (512 * 1024)

void
vf_jobs_config_init (VfJobsConfig *config)
{
  memset (config, 0, sizeof *config);
  config->defaults.model = "sora-2";
  config->defaults.seconds = "4";
  config->defaults.size = "720x1280";
  config->poll_s = 5;
  config->prefetch = TRUE;
}

gint64
vf_jobs_poll_us (VfJobs *jobs)
{
  return (gint64)(jobs->poll_s * G_USEC_PER_SEC);
}

/* API text may hold anything: the files show one line of it. */
char *
vf_one_line (const char *text)
{
  char *line = g_strdup (text ? text : "");

  for (char *p = line; *p; p++)
    if ((guchar)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  return g_strstrip (line);
}

/* ----- jobs ----- */

Job *
vf_job_new (const char *name, const char *prompt_file)
{
  Job *job = g_new0 (Job, 1);

  job->ref = 1;
  job->name = g_strdup (name);
  job->prompt_file = g_strdup (prompt_file);
  job->protocol = VF_PROTO_OPENAI;
  for (int i = 0; i < 3; i++)
    job->content_size[i] = -1;
  job->created = g_get_real_time () / G_USEC_PER_SEC;
  job->intent_us = g_get_real_time ();
  job->changed_us = job->intent_us;
  job->last_ok_us = g_get_monotonic_time ();
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
  g_free (job->reason);
  g_free (job->content_error);
  g_free (job->poll_error);
  g_free (job);
}

void
vf_job_unref (VfJobs *jobs, Job *job)
{
  g_mutex_lock (&jobs->lock);
  vf_job_unref_locked (job);
  g_mutex_unlock (&jobs->lock);
}

static void
job_drop (gpointer data)
{
  Job *job = data;

  job->removed = TRUE;
  vf_job_unref_locked (job);
}

static gboolean
task_finished (const VfTask *task)
{
  return task && (task->state == VF_STATE_COMPLETED || task->state == VF_STATE_FAILED);
}

static const char *
task_state_word (const VfTask *task)
{
  if (!task)
    return "queued";
  switch (task->state)
    {
    case VF_STATE_QUEUED:
      return "queued";
    case VF_STATE_COMPLETED:
      return "completed";
    case VF_STATE_FAILED:
      return "failed";
    case VF_STATE_IN_PROGRESS:
    case VF_STATE_UNKNOWN:
    default:
      return "in_progress";
    }
}

const char *
vf_job_state_word (const Job *job)
{
  switch (job->phase)
    {
    case VF_JOB_SUBMITTING:
      return "submitting";
    case VF_JOB_REJECTED:
      return "rejected";
    case VF_JOB_UNKNOWN:
      return "unknown";
    case VF_JOB_LIVE:
    default:
      return task_state_word (job->task);
    }
}

static char *
task_failure (const VfTask *task)
{
  g_autofree char *code = vf_one_line (task->error_code ? task->error_code : "failed");
  g_autofree char *message
      = vf_one_line (task->error_message ? task->error_message : "the API gave no reason");

  return g_strdup_printf ("%s: %s", code, message);
}

char *
vf_task_status_text (const VfTask *task, gboolean expired, gint64 no_answer_s)
{
  GString *text = g_string_new (task_state_word (task));

  if (task)
    switch (task->state)
      {
      case VF_STATE_IN_PROGRESS:
        if (task->progress >= 0)
          g_string_append_printf (text, " %d%%", task->progress);
        break;
      case VF_STATE_UNKNOWN:
        {
          g_autofree char *word = vf_one_line (task->state_word);

          if (task->progress >= 0)
            g_string_append_printf (text, " %d%%", task->progress);
          g_string_append_printf (text, " (%s)", word);
          break;
        }
      case VF_STATE_COMPLETED:
        if (expired)
          g_string_append (text, " (expired)");
        break;
      case VF_STATE_FAILED:
        {
          g_autofree char *failure = task_failure (task);

          g_string_append_printf (text, " %s", failure);
          break;
        }
      case VF_STATE_QUEUED:
      default:
        break;
      }
  if (no_answer_s > 0 && !task_finished (task))
    g_string_append_printf (text, " (no answer for %" G_GINT64_FORMAT "s)", no_answer_s);
  g_string_append_c (text, '\n');
  return g_string_free (text, FALSE);
}

static char *
job_status_text (const Job *job)
{
  switch (job->phase)
    {
    case VF_JOB_SUBMITTING:
      return g_strdup ("submitting\n");
    case VF_JOB_REJECTED:
      return g_strdup_printf ("rejected %s\n", job->reason);
    case VF_JOB_UNKNOWN:
      return g_strdup ("unknown (the request was sent but no answer came; looking for it)\n");
    case VF_JOB_LIVE:
    default:
      return vf_task_status_text (job->task, job->expired, job->no_answer_s);
    }
}

static char *
job_error_text (VfJobs *jobs, const Job *job)
{
  g_autoptr (GString) text = g_string_new (NULL);

  switch (job->phase)
    {
    case VF_JOB_REJECTED:
      g_string_append_printf (text, "%s\n", job->reason);
      break;
    case VF_JOB_UNKNOWN:
      g_string_append_printf (text, "the request was sent but no answer came (%s); ",
                              job->reason ? job->reason : "videofs stopped before it came");
      if (jobs->no_list[job->protocol])
        g_string_append (text, "the API cannot list its jobs, so it cannot be found\n");
      else
        g_string_append (text, "looking for it in the API's list of jobs\n");
      break;
    case VF_JOB_LIVE:
      if (job->task && job->task->state == VF_STATE_FAILED)
        {
          g_autofree char *failure = task_failure (job->task);

          g_string_append_printf (text, "%s\n", failure);
        }
      break;
    case VF_JOB_SUBMITTING:
    default:
      break;
    }
  if (job->content_error)
    g_string_append_printf (text, "%s\n", job->content_error);
  if (job->poll_error && job->no_answer_s > 0)
    g_string_append_printf (text, "no answer from the API for %" G_GINT64_FORMAT "s: %s\n",
                            job->no_answer_s, job->poll_error);
  else if (job->poll_error && job->not_found > 0)
    g_string_append_printf (text, "%s\n", job->poll_error);
  if (text->len == 0)
    return NULL;
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* ----- events and notifications ----- */

void
vf_jobs_event_locked (VfJobs *jobs, Job *job, const char *event, json_t *extra)
{
  g_autoptr (json_t) object = json_object ();
  g_autofree char *line = NULL;
  gint64 now = g_get_real_time ();

  json_object_set_new (object, "time", json_real ((double)(now / 1000) / 1000.0));
  json_object_set_new (object, "job", json_string (job->name));
  json_object_set_new (object, "id", job->id ? json_string (job->id) : json_null ());
  json_object_set_new (object, "event", json_string (event));
  json_object_set_new (object, "state", json_string (vf_job_state_word (job)));
  if (job->phase == VF_JOB_LIVE && job->task && job->task->progress >= 0)
    json_object_set_new (object, "progress", json_integer (job->task->progress));
  else
    json_object_set_new (object, "progress", json_null ());
  if (extra)
    {
      json_object_update (object, extra);
      json_decref (extra);
    }
  line = json_dumps (object, JSON_COMPACT | JSON_REAL_PRECISION (13));
  if (!line)
    return;
  g_string_append (jobs->events, line);
  g_string_append_c (jobs->events, '\n');
  jobs->events_changed_us = now;
}

GArray *
vf_notes_new (void)
{
  return g_array_new (FALSE, FALSE, sizeof (Note));
}

void
vf_notes_add (GArray *notes, const char *name, guint what)
{
  Note note;

  for (guint i = 0; i < notes->len; i++)
    {
      Note *old = &g_array_index (notes, Note, i);

      if (g_strcmp0 (old->name, name) == 0)
        {
          old->what |= what;
          return;
        }
    }
  note.name = g_strdup (name);
  note.what = what;
  g_array_append_val (notes, note);
}

/* Call with no lock held. */
void
vf_notes_flush (VfJobs *jobs, GArray *notes)
{
  for (guint i = 0; i < notes->len; i++)
    {
      Note *note = &g_array_index (notes, Note, i);

      if (jobs->changed && note->what)
        jobs->changed (note->name, note->what, jobs->user_data);
      g_free (note->name);
    }
  g_array_unref (notes);
}

/* Replaces the job's answer; returns what changed (VfChange bits). */
guint
vf_job_update_task_locked (VfJobs *jobs, Job *job, VfTask *task)
{
  const char *old_word = vf_job_state_word (job);
  int old_progress = job->task ? job->task->progress : -1;
  gboolean raw_same
      = job->task && job->task->raw && task->raw && json_equal (job->task->raw, task->raw);
  const char *new_word;
  guint what = 0;

  vf_task_free (job->task);
  job->task = task;
  new_word = vf_job_state_word (job);
  if (!raw_same || strcmp (old_word, new_word) != 0 || old_progress != task->progress)
    {
      job->changed_us = g_get_real_time ();
      what |= VF_CHANGE_STATUS;
    }
  if (strcmp (old_word, new_word) != 0 || old_progress != task->progress)
    {
      const char *event = "state";

      if (task->state == VF_STATE_COMPLETED)
        event = "completed";
      else if (task->state == VF_STATE_FAILED)
        event = "failed";
      vf_jobs_event_locked (jobs, job, event, NULL);
      what |= VF_CHANGE_EVENTS;
      if (task->state == VF_STATE_COMPLETED)
        what |= VF_CHANGE_CONTENT;
    }
  return what;
}

/* ----- the journal ----- */

static const char *
phase_name (VfJobPhase phase)
{
  switch (phase)
    {
    case VF_JOB_SUBMITTING:
      return "submitting";
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
  /* "submitting" too: an intent with no outcome after a restart. */
  return VF_JOB_UNKNOWN;
}

static json_t *
sizes_json (const Job *job)
{
  return json_pack ("[III]", (json_int_t)job->content_size[0], (json_int_t)job->content_size[1],
                    (json_int_t)job->content_size[2]);
}

json_t *
vf_job_record_locked (Job *job, const char *op)
{
  json_t *record = json_object ();

  json_object_set_new (record, "op", json_string (op));
  json_object_set_new (record, "name", json_string (job->name));
  if (strcmp (op, "task") != 0)
    {
      json_object_set_new (record, "prompt_file", json_string (job->prompt_file));
      if (job->prompt_data)
        {
          gsize len;
          const char *data = g_bytes_get_data (job->prompt_data, &len);
          json_t *text = json_stringn (data, len);

          if (text)
            json_object_set_new (record, "prompt_data", text);
        }
      json_object_set_new (record, "phase", json_string (phase_name (job->phase)));
      json_object_set_new (record, "protocol",
                           json_string (job->protocol == VF_PROTO_ARK ? "ark" : "openai"));
      if (job->id)
        json_object_set_new (record, "id", json_string (job->id));
      if (job->body)
        json_object_set (record, "body", job->body);
      if (job->reason)
        json_object_set_new (record, "reason", json_string (job->reason));
      json_object_set_new (record, "created", json_integer (job->created));
      json_object_set_new (record, "intent_us", json_integer (job->intent_us));
    }
  if (job->task && job->task->raw)
    json_object_set (record, "task", job->task->raw);
  json_object_set_new (record, "changed_us", json_integer (job->changed_us));
  json_object_set_new (record, "sizes", sizes_json (job));
  json_object_set_new (record, "probed", json_boolean (job->probed));
  json_object_set_new (record, "expired", json_boolean (job->expired));
  return record;
}

static gint64
record_int (json_t *record, const char *key, gint64 fallback)
{
  json_t *value = json_object_get (record, key);

  return json_is_integer (value) ? json_integer_value (value) : fallback;
}

static void
record_apply_task (Job *job, json_t *record)
{
  json_t *raw = json_object_get (record, "task");
  json_t *sizes = json_object_get (record, "sizes");

  if (json_is_object (raw))
    {
      VfTask *task = job->protocol == VF_PROTO_ARK ? vf_task_from_ark (raw, NULL)
                                                   : vf_task_from_openai (raw, NULL);
      if (task)
        {
          vf_task_free (job->task);
          job->task = task;
        }
    }
  for (int i = 0; i < 3; i++)
    {
      json_t *size = json_array_get (sizes, i);

      job->content_size[i] = json_is_integer (size) ? json_integer_value (size) : -1;
    }
  job->probed = json_is_true (json_object_get (record, "probed"));
  job->expired = json_is_true (json_object_get (record, "expired"));
  job->changed_us = record_int (record, "changed_us", job->changed_us);
}

static Job *
job_from_record (json_t *record)
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
  job->protocol = g_strcmp0 (json_string_value (json_object_get (record, "protocol")), "ark") == 0
                      ? VF_PROTO_ARK
                      : VF_PROTO_OPENAI;
  job->id = g_strdup (json_string_value (json_object_get (record, "id")));
  if (json_is_object (body))
    job->body = json_incref (body);
  job->reason = g_strdup (json_string_value (json_object_get (record, "reason")));
  job->created = record_int (record, "created", job->created);
  job->intent_us = record_int (record, "intent_us", job->intent_us);
  record_apply_task (job, record);
  if (job->phase == VF_JOB_LIVE && !job->id)
    job->phase = VF_JOB_UNKNOWN;
  if (job->phase == VF_JOB_REJECTED && !job->reason)
    job->reason = g_strdup ("rejected: no reason was kept");
  return job;
}

/* The prompt file follows the job: jobs/B.txt after mv jobs/A jobs/B. */
void
vf_job_set_name (Job *job, const char *name)
{
  const char *dot = strrchr (job->prompt_file, '.');
  char *prompt_file = g_strconcat (name, dot ? dot : ".txt", NULL);

  g_free (job->name);
  job->name = g_strdup (name);
  g_free (job->prompt_file);
  job->prompt_file = prompt_file;
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
  else if (strcmp (op, "forget") == 0)
    {
      if (name)
        g_hash_table_remove (jobs->table, name);
    }
  else if (strcmp (op, "task") == 0)
    {
      Job *job = name ? g_hash_table_lookup (jobs->table, name) : NULL;

      if (job)
        record_apply_task (job, record);
    }
  else
    {
      Job *job = job_from_record (record);

      if (job)
        g_hash_table_replace (jobs->table, g_strdup (job->name), job);
    }
}

static gint
compare_jobs_by_name (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(Job *const *)a)->name, (*(Job *const *)b)->name);
}

/* Jobs in name order.  Call with the table lock held; the array holds no
 * references. */
static GPtrArray *
jobs_sorted_locked (VfJobs *jobs)
{
  GPtrArray *list = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, value);
  g_ptr_array_sort (list, compare_jobs_by_name);
  return list;
}

/* With journal_lock held. */
static gboolean
compact (VfJobs *jobs, GError **error)
{
  g_autoptr (GPtrArray) records = g_ptr_array_new_with_free_func ((GDestroyNotify)json_decref);
  g_autoptr (GPtrArray) list = NULL;

  g_mutex_lock (&jobs->lock);
  list = jobs_sorted_locked (jobs);
  for (guint i = 0; i < list->len; i++)
    g_ptr_array_add (records, vf_job_record_locked (list->pdata[i], "job"));
  g_mutex_unlock (&jobs->lock);
  return vf_journal_rewrite (jobs->journal, records, error);
}

gboolean
vf_jobs_journal_try_append (VfJobs *jobs, json_t *record, gboolean sync, GError **error)
{
  if (!vf_journal_append (jobs->journal, record, sync, error))
    return FALSE;
  if (vf_journal_size (jobs->journal) > COMPACT_SIZE)
    {
      g_autoptr (GError) local = NULL;

      if (!compact (jobs, &local))
        g_warning ("cannot compact the journal in %s: %s", jobs->state_dir, local->message);
    }
  return TRUE;
}

void
vf_jobs_journal_append (VfJobs *jobs, json_t *record, gboolean sync)
{
  g_autoptr (GError) error = NULL;

  if (!record)
    return;
  if (!vf_jobs_journal_try_append (jobs, record, sync, &error))
    g_warning ("cannot write the journal in %s: %s", jobs->state_dir, error->message);
  json_decref (record);
}

/* ----- open, start, close ----- */

static void content_done (const char *id, VfVariant variant, const GError *error,
                          gpointer user_data);

/* Earlier versions downloaded to CACHE_DIR/ID/.VARIANT.part; such a file
 * is never read again. */
static void
remove_old_partials (const char *cache_dir)
{
  g_autoptr (GDir) dir = g_dir_open (cache_dir, 0, NULL);
  const char *name;

  if (!dir)
    return;
  while ((name = g_dir_read_name (dir)))
    {
      if (name[0] == '.')
        continue;
      for (VfVariant v = VF_VARIANT_VIDEO; v <= VF_VARIANT_SPRITESHEET; v++)
        {
          g_autofree char *file = g_strdup_printf (".%s.part", vf_variant_name (v));
          g_autofree char *path = g_build_filename (cache_dir, name, file, NULL);

          g_unlink (path);
        }
    }
}

VfJobs *
vf_jobs_open (const VfJobsConfig *config, GError **error)
{
  g_autoptr (VfJobs) jobs = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GError) local = NULL;
  VfCacheConfig cache_config;
  GHashTableIter iter;
  gpointer value;
  gsize dropped = 0;

  g_return_val_if_fail (config != NULL && config->client != NULL, NULL);
  g_return_val_if_fail (config->state_dir != NULL && config->cache_dir != NULL, NULL);

  jobs = g_new0 (VfJobs, 1);
  jobs->lock_fd = -1;
  jobs->client = config->client;
  jobs->state_dir = g_strdup (config->state_dir);
  jobs->cache_dir = g_strdup (config->cache_dir);
  jobs->model = g_strdup (config->defaults.model);
  jobs->seconds = g_strdup (config->defaults.seconds);
  jobs->size = g_strdup (config->defaults.size);
  jobs->poll_s = config->poll_s > 0 ? config->poll_s : 5;
  jobs->prefetch = config->prefetch;
  jobs->delete_remote = config->delete_remote;
  jobs->changed = config->changed;
  jobs->user_data = config->user_data;
  g_mutex_init (&jobs->journal_lock);
  g_mutex_init (&jobs->lock);
  g_cond_init (&jobs->cond);
  jobs->table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, job_drop);
  jobs->videos = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, vf_video_free);
  g_queue_init (&jobs->probe_queue);
  jobs->events = g_string_new (NULL);
  jobs->events_changed_us = g_get_real_time ();
  jobs->table_changed_us = jobs->events_changed_us;

  if (g_mkdir_with_parents (jobs->state_dir, 0700) < 0
      || g_mkdir_with_parents (jobs->cache_dir, 0700) < 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "Cannot create %s: %s",
                   g_file_test (jobs->state_dir, G_FILE_TEST_IS_DIR) ? jobs->cache_dir
                                                                     : jobs->state_dir,
                   g_strerror (errsv));
      return NULL;
    }
  jobs->lock_fd = vf_dir_lock (jobs->state_dir, error);
  if (jobs->lock_fd < 0)
    return NULL;

  path = g_build_filename (jobs->state_dir, "journal", NULL);
  jobs->journal = vf_journal_open (path, replay_record, jobs, &dropped, error);
  if (!jobs->journal)
    return NULL;
  if (dropped > 0)
    g_info ("%s: dropped %" G_GSIZE_FORMAT " bytes of a record cut short", path, dropped);

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->phase == VF_JOB_UNKNOWN && !job->reason)
        job->reason = g_strdup ("videofs stopped before the answer came");
    }
  if (!compact (jobs, &local))
    g_warning ("cannot compact the journal %s: %s", path, local->message);

  remove_old_partials (jobs->cache_dir);
  vf_cache_config_init (&cache_config);
  cache_config.cache_max = config->cache_max;
  cache_config.done = content_done;
  cache_config.user_data = jobs;
  jobs->cache = vf_cache_new (jobs->client, jobs->cache_dir, &cache_config, error);
  if (!jobs->cache)
    return NULL;
  return g_steal_pointer (&jobs);
}

void
vf_jobs_start (VfJobs *jobs)
{
  g_return_if_fail (jobs != NULL);
  /* Called after going to the background: the lock must name this process. */
  if (jobs->lock_fd >= 0)
    {
      g_autoptr (GError) error = NULL;

      if (!vf_dir_lock_update_pid (jobs->lock_fd, &error))
        g_warning ("cannot update the lock in %s: %s", jobs->state_dir, error->message);
    }
  if (!jobs->poller)
    vf_poller_start (jobs);
}

void
vf_jobs_close (VfJobs *jobs)
{
  if (!jobs)
    return;
  if (jobs->poller)
    vf_poller_stop (jobs);
  /* Not g_clear_pointer(): downloads that end meanwhile report to
   * content_done(), which looks at the cache. */
  if (jobs->cache)
    vf_cache_free (jobs->cache);
  jobs->cache = NULL;
  if (jobs->journal)
    {
      g_autoptr (GError) error = NULL;

      g_mutex_lock (&jobs->journal_lock);
      if (!compact (jobs, &error))
        g_warning ("cannot compact the journal in %s: %s", jobs->state_dir, error->message);
      g_mutex_unlock (&jobs->journal_lock);
      vf_journal_close (jobs->journal);
    }
  if (jobs->lock_fd >= 0)
    close (jobs->lock_fd);
  g_hash_table_unref (jobs->table);
  g_hash_table_unref (jobs->videos);
  g_queue_clear_full (&jobs->probe_queue, g_free);
  g_string_free (jobs->events, TRUE);
  g_cond_clear (&jobs->cond);
  g_mutex_clear (&jobs->lock);
  g_mutex_clear (&jobs->journal_lock);
  g_free (jobs->state_dir);
  g_free (jobs->cache_dir);
  g_free (jobs->model);
  g_free (jobs->seconds);
  g_free (jobs->size);
  g_free (jobs);
}

/* ----- snapshots ----- */

void
vf_job_info_free (VfJobInfo *info)
{
  if (!info)
    return;
  g_free (info->name);
  g_free (info->prompt_file);
  g_free (info->id);
  g_free (info->status);
  g_free (info->status_json);
  g_free (info->request_json);
  g_free (info->error);
  g_free (info);
}

static char *
pretty (const json_t *json)
{
  g_autofree char *text = NULL;

  if (!json)
    return NULL;
  text = json_dumps (json, JSON_INDENT (2));
  if (!text)
    return NULL;
  return g_strconcat (text, "\n", NULL);
}

/* With the table lock held. */
static VfJobInfo *
job_info_locked (VfJobs *jobs, Job *job)
{
  VfJobInfo *info = g_new0 (VfJobInfo, 1);

  info->name = g_strdup (job->name);
  info->prompt_file = g_strdup (job->prompt_file);
  info->phase = job->phase;
  info->protocol = job->protocol;
  info->state = job->task ? job->task->state : VF_STATE_UNKNOWN;
  info->id = g_strdup (job->id);
  info->status = job_status_text (job);
  info->status_json = job->task ? pretty (job->task->raw) : NULL;
  info->request_json = pretty (job->body);
  info->error = job_error_text (jobs, job);
  info->created = job->created;
  info->changed_us = job->changed_us;
  for (int i = 0; i < 3; i++)
    info->content_size[i]
        = job->phase == VF_JOB_LIVE && job->probed && info->state == VF_STATE_COMPLETED
              ? job->content_size[i]
              : -1;
  info->expired = job->expired;
  return info;
}

VfJobInfo *
vf_jobs_job_info_locked (VfJobs *jobs, Job *job)
{
  return job_info_locked (jobs, job);
}

GPtrArray *
vf_jobs_names (VfJobs *jobs)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) list = NULL;

  g_mutex_lock (&jobs->lock);
  list = jobs_sorted_locked (jobs);
  for (guint i = 0; i < list->len; i++)
    g_ptr_array_add (names, g_strdup (((Job *)list->pdata[i])->name));
  g_mutex_unlock (&jobs->lock);
  return names;
}

VfJobInfo *
vf_jobs_get (VfJobs *jobs, const char *name)
{
  VfJobInfo *info = NULL;
  Job *job;

  g_mutex_lock (&jobs->lock);
  job = g_hash_table_lookup (jobs->table, name);
  if (job)
    info = job_info_locked (jobs, job);
  g_mutex_unlock (&jobs->lock);
  return info;
}

GBytes *
vf_jobs_status_table (VfJobs *jobs, gint64 *changed_us)
{
  g_autoptr (GPtrArray) list = NULL;
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify)g_strfreev);
  GString *text = g_string_new (NULL);
  gsize width[3] = { 4, 5, 8 };
  gint64 latest;

  g_ptr_array_add (rows, g_strsplit ("NAME STATE PROGRESS ID", " ", 4));
  g_mutex_lock (&jobs->lock);
  latest = jobs->table_changed_us;
  list = jobs_sorted_locked (jobs);
  for (guint i = 0; i < list->len; i++)
    {
      Job *job = list->pdata[i];
      char **row = g_new0 (char *, 5);
      const char *state = vf_job_state_word (job);

      if (job->phase == VF_JOB_LIVE && job->task && job->task->state == VF_STATE_COMPLETED
          && job->expired)
        state = "expired";
      row[0] = g_strdup (job->name);
      row[1] = g_strdup (state);
      row[2] = job->phase == VF_JOB_LIVE && job->task && job->task->progress >= 0
                   ? g_strdup_printf ("%d%%", job->task->progress)
                   : g_strdup ("-");
      row[3] = g_strdup (job->id ? job->id : "-");
      g_ptr_array_add (rows, row);
      latest = MAX (latest, job->changed_us);
    }
  g_mutex_unlock (&jobs->lock);

  for (guint i = 0; i < rows->len; i++)
    for (int c = 0; c < 3; c++)
      width[c] = MAX (width[c], (gsize)g_utf8_strlen (((char **)rows->pdata[i])[c], -1));
  for (guint i = 0; i < rows->len; i++)
    {
      char **row = rows->pdata[i];

      for (int c = 0; c < 3; c++)
        {
          g_string_append (text, row[c]);
          for (gsize pad = (gsize)g_utf8_strlen (row[c], -1); pad < width[c] + 2; pad++)
            g_string_append_c (text, ' ');
        }
      g_string_append (text, row[3]);
      g_string_append_c (text, '\n');
    }
  if (changed_us)
    *changed_us = latest;
  return g_string_free_to_bytes (text);
}

GBytes *
vf_jobs_events (VfJobs *jobs, gint64 *changed_us)
{
  GBytes *bytes;

  g_mutex_lock (&jobs->lock);
  bytes = g_bytes_new (jobs->events->str, jobs->events->len);
  if (changed_us)
    *changed_us = jobs->events_changed_us;
  g_mutex_unlock (&jobs->lock);
  return bytes;
}

GBytes *
vf_jobs_get_prompt (VfJobs *jobs, const char *prompt_file)
{
  g_autofree char *name = NULL;
  GBytes *data = NULL;
  Job *job;

  if (!vf_prompt_name (prompt_file, &name))
    return NULL;
  g_mutex_lock (&jobs->lock);
  job = g_hash_table_lookup (jobs->table, name);
  if (job && job->prompt_data && strcmp (job->prompt_file, prompt_file) == 0)
    data = g_bytes_ref (job->prompt_data);
  g_mutex_unlock (&jobs->lock);
  return data;
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

/* ----- content ----- */

/* With both locks held: marks every job showing `id` as expired (or not). */
static json_t *
mark_expired_locked (VfJobs *jobs, const char *id, gboolean expired, GArray *notes)
{
  GHashTableIter iter;
  gpointer value;
  json_t *record = NULL;
  Video *video = g_hash_table_lookup (jobs->videos, id);

  if (video && video->expired != expired)
    {
      video->expired = expired;
      vf_notes_add (notes, NULL, VF_CHANGE_STATUS);
    }
  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->phase != VF_JOB_LIVE || g_strcmp0 (job->id, id) != 0 || job->expired == expired)
        continue;
      job->expired = expired;
      job->expiry_checked = TRUE;
      job->changed_us = g_get_real_time ();
      if (expired)
        {
          vf_jobs_event_locked (jobs, job, "expired", NULL);
          vf_notes_add (notes, NULL, VF_CHANGE_EVENTS);
        }
      vf_notes_add (notes, job->name, VF_CHANGE_STATUS);
      if (record)
        json_decref (record);
      record = vf_job_record_locked (job, "task");
    }
  return record;
}

void
vf_jobs_mark_expired (VfJobs *jobs, const char *id, gboolean expired)
{
  GArray *notes = vf_notes_new ();
  json_t *record;

  g_mutex_lock (&jobs->journal_lock);
  g_mutex_lock (&jobs->lock);
  record = mark_expired_locked (jobs, id, expired, notes);
  g_mutex_unlock (&jobs->lock);
  vf_jobs_journal_append (jobs, record, FALSE);
  g_mutex_unlock (&jobs->journal_lock);
  vf_notes_flush (jobs, notes);
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
static gboolean
content_complete (VfJobs *jobs, const char *id, VfVariant variant, gint64 total)
{
  return total >= 0
         && (vf_cache_cached_bytes (jobs->cache, id, variant) >= (guint64)total
             || vf_cache_is_whole (jobs->cache, id, variant, total));
}

static void
content_done (const char *id, VfVariant variant, const GError *error, gpointer user_data)
{
  VfJobs *jobs = user_data;
  GArray *notes;
  GHashTableIter iter;
  gpointer value;
  g_autofree char *message = NULL;
  gint64 total = -1;

  if (error && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error
      && (g_error_matches (error, VF_ERROR, VF_ERROR_NOT_FOUND)
          || g_error_matches (error, VF_ERROR, VF_ERROR_EXPIRED)))
    {
      vf_jobs_mark_expired (jobs, id, TRUE);
      return;
    }
  /* A failure reported after another download completed the file is old
   * news.  Looked at again once the error is set, so that whichever of the
   * two reports comes last, a complete file shows no error. */
  if (error && content_complete (jobs, id, variant, content_size_of (jobs, id, variant)))
    return;
  if (error)
    message = g_strdup_printf ("could not fetch %s: %s", vf_variant_file_name (variant),
                               error->message);

  notes = vf_notes_new ();
  g_mutex_lock (&jobs->lock);
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
      vf_notes_add (notes, job->name, VF_CHANGE_STATUS);
    }
  g_mutex_unlock (&jobs->lock);
  vf_notes_flush (jobs, notes);
  if (!error && variant == VF_VARIANT_VIDEO)
    vf_jobs_mark_expired (jobs, id, FALSE);
  if (error && content_complete (jobs, id, variant, total))
    content_done (id, variant, NULL, jobs);
}

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

/* The API answered that it no longer has the bytes.  A NOT_FOUND with no
 * HTTP status is no answer of the API's: a forget dropped the bytes, say. */
static gboolean
content_gone (const GError *error)
{
  return g_error_matches (error, VF_ERROR, VF_ERROR_EXPIRED)
         || (g_error_matches (error, VF_ERROR, VF_ERROR_NOT_FOUND)
             && vf_error_http_status (error) > 0);
}

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

static gssize
jobs_read (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant, void *buf, int *fd_out,
           gsize len, gint64 offset, GCancellable *cancellable, GError **error)
{
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GError) local = NULL;
  const VfTask *source;
  gint64 total;
  gboolean expired;
  gboolean content_error;
  gssize n;

  g_return_val_if_fail (jobs != NULL && key != NULL, -1);
  g_return_val_if_fail (variant <= VF_VARIANT_SPRITESHEET, -1);

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
  if (!content_complete (jobs, task->id, variant, total))
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
  if (fd_out)
    n = vf_cache_read_fd (jobs->cache, task, variant, total, len, offset, fd_out, cancellable,
                          &local);
  else
    n = vf_cache_read (jobs->cache, task, variant, total, buf, len, offset, cancellable, &local);
  /* The cache reports a download's end on its own thread, possibly after
   * this read returned; the job shows it before the reader sees it. */
  if (n >= 0)
    {
      if (content_error && content_complete (jobs, task->id, variant, total))
        content_done (task->id, variant, NULL, jobs);
      return n;
    }
  if (content_gone (local))
    {
      vf_jobs_mark_expired (jobs, task->id, TRUE);
      vf_set_error (error, VF_ERROR_EXPIRED, "the API no longer has the content of %s", task->id);
      return -1;
    }
  if (is_fetch_error (local))
    content_done (task->id, variant, local, jobs);
  g_propagate_error (error, g_steal_pointer (&local));
  return -1;
}

gssize
vf_jobs_read (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant, void *buf,
              gsize len, gint64 offset, GCancellable *cancellable, GError **error)
{
  return jobs_read (jobs, key, by_id, variant, buf, NULL, len, offset, cancellable, error);
}

gssize
vf_jobs_read_fd (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant, gsize len,
                 gint64 offset, int *fd_out, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (fd_out != NULL, -1);

  *fd_out = -1;
  return jobs_read (jobs, key, by_id, variant, NULL, fd_out, len, offset, cancellable, error);
}

gboolean
vf_jobs_content_is_whole (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant)
{
  g_autofree char *id = NULL;
  const VfTask *source;
  gint64 total;
  gboolean expired;
  gboolean content_error;

  g_return_val_if_fail (jobs != NULL && key != NULL, FALSE);
  g_return_val_if_fail (variant <= VF_VARIANT_SPRITESHEET, FALSE);

  g_mutex_lock (&jobs->lock);
  source = content_source_locked (jobs, key, by_id, variant, &total, &expired, &content_error);
  if (source && total >= 0)
    id = g_strdup (source->id);
  g_mutex_unlock (&jobs->lock);
  return id && content_complete (jobs, id, variant, total);
}

int
vf_jobs_content_open_fd (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant)
{
  g_autofree char *id = NULL;
  g_autofree char *path = NULL;
  const VfTask *source;
  gint64 total;
  gboolean expired;
  gboolean content_error;
  struct stat st;
  int fd;

  g_return_val_if_fail (jobs != NULL && key != NULL, -1);
  g_return_val_if_fail (variant <= VF_VARIANT_SPRITESHEET, -1);

  g_mutex_lock (&jobs->lock);
  source = content_source_locked (jobs, key, by_id, variant, &total, &expired, &content_error);
  if (source && total >= 0)
    id = g_strdup (source->id);
  g_mutex_unlock (&jobs->lock);
  if (!id)
    return -1;
  /* The cache's layout: a file under its plain name is whole. */
  path = g_build_filename (jobs->cache_dir, id, vf_variant_name (variant), NULL);
  do
    fd = open (path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return -1;
  if (fstat (fd, &st) < 0 || st.st_size != total)
    {
      close (fd);
      return -1;
    }
  return fd;
}

void
vf_jobs_prefetch (VfJobs *jobs, const VfTask *task, gint64 total)
{
  vf_cache_prefetch (jobs->cache, task, VF_VARIANT_VIDEO, total);
}

gboolean
vf_jobs_content_cached (VfJobs *jobs, const char *id, VfVariant variant, gint64 total)
{
  return content_complete (jobs, id, variant, total);
}
