/* jobs-text.c: what a job's files say.  The `status` line, the `error`
 * file, status.json and request.json of jobs/NAME/ and videos/ID/, and the
 * root `status` table.  One text per failure: jobs/ and videos/ show a
 * failed task the same way, and API text reaches a file as one line.
 */
#include "jobs-private.h"

#include <string.h>

char *
vf_one_line (const char *text)
{
  char *line = g_strdup (text ? text : "");

  for (char *p = line; *p; p++)
    if ((guchar)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  return g_strstrip (line);
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

/* A job shows `completed` only once the sizes of its content are known, so
 * that video.mp4 is there whenever its status says so: a job adopted from
 * the API's list comes with the task as listed, finished or not, and is
 * probed by its next poll. */
static gboolean
completion_unprobed (const Job *job)
{
  return job->phase == VF_JOB_LIVE && job->task && job->task->state == VF_STATE_COMPLETED
         && !job->probed;
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
      return completion_unprobed (job) ? "in_progress" : task_state_word (job->task);
    }
}

char *
vf_task_failure_text (const VfTask *task)
{
  g_autofree char *code = vf_one_line (task->error_code ? task->error_code : "failed");
  g_autofree char *message
      = vf_one_line (task->error_message ? task->error_message : "the API gave no reason");

  return g_strdup_printf ("%s: %s", code, message);
}

static gboolean
task_finished (const VfTask *task)
{
  return task && (task->state == VF_STATE_COMPLETED || task->state == VF_STATE_FAILED);
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
          g_autofree char *failure = vf_task_failure_text (task);

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
      return g_strdup (job->picture && job->sending ? "in_progress\n" : "submitting\n");
    case VF_JOB_REJECTED:
      return g_strdup_printf ("rejected %s\n", job->reason);
    case VF_JOB_UNKNOWN:
      if (job->picture)
        return g_strdup ("unknown (the API may have made and billed it)\n");
      return g_strdup ("unknown (the request was sent but no answer came; looking for it)\n");
    case VF_JOB_LIVE:
    default:
      if (completion_unprobed (job) && job->no_answer_s > 0)
        return g_strdup_printf ("in_progress 100%% (no answer for %" G_GINT64_FORMAT "s)\n",
                                job->no_answer_s);
      if (completion_unprobed (job))
        return g_strdup ("in_progress 100%\n");
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
      if (job->picture)
        g_string_append (text, "the API may have made and billed it, and cannot be asked about "
                               "it: it is never sent again on its own (save the prompt under "
                               "a new name to send it again)\n");
      else if (jobs->no_list[job->protocol])
        g_string_append (text, "the API cannot list its jobs, so it cannot be found\n");
      else
        g_string_append (text, "looking for it in the API's list of jobs\n");
      break;
    case VF_JOB_LIVE:
      if (job->task && job->task->state == VF_STATE_FAILED)
        {
          g_autofree char *failure = vf_task_failure_text (job->task);

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
  else if (job->poll_error && job->poll.not_found > 0)
    g_string_append_printf (text, "%s\n", job->poll_error);
  if (text->len == 0)
    return NULL;
  return g_string_free (g_steal_pointer (&text), FALSE);
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
  for (gsize i = 0; i < info->n_pictures; i++)
    g_free (info->pictures[i].file);
  g_free (info->pictures);
  g_free (info->revised_prompt);
  g_free (info);
}

VfJobInfo *
vf_job_info_locked (VfJobs *jobs, const Job *job)
{
  VfJobInfo *info = g_new0 (VfJobInfo, 1);

  info->name = g_strdup (job->name);
  info->prompt_file = g_strdup (job->prompt_file);
  info->phase = job->phase;
  info->protocol = job->protocol;
  info->state = job->task ? job->task->state : VF_STATE_UNKNOWN;
  info->id = g_strdup (job->id);
  info->status = job_status_text (job);
  info->status_json = g_strdup (job->status_json);
  info->request_json = vf_json_pretty (job->body);
  info->error = job_error_text (jobs, job);
  info->created = job->created;
  info->changed_us = job->changed_us;
  for (int v = 0; v < VF_N_VARIANTS; v++)
    info->content_size[v]
        = job->phase == VF_JOB_LIVE && job->probed && info->state == VF_STATE_COMPLETED
              ? job->content_size[v]
              : -1;
  info->expired = job->expired;
  info->picture = job->picture;
  if (job->pictures && info->state == VF_STATE_COMPLETED)
    {
      info->n_pictures = json_array_size (job->pictures);
      info->pictures = g_new0 (VfJobPicture, info->n_pictures);
      for (gsize i = 0; i < info->n_pictures; i++)
        {
          json_t *pic = json_array_get (job->pictures, i);

          info->pictures[i].file = g_strdup (json_string_value (json_object_get (pic, "file")));
          info->pictures[i].size = json_integer_value (json_object_get (pic, "size"));
        }
    }
  info->revised_prompt = g_strdup (job->revised_prompt);
  return info;
}

VfJobInfo *
vf_video_info_locked (VfJobs *jobs, const char *id, const Video *video)
{
  const VfTask *task = video->task;
  VfJobInfo *info = g_new0 (VfJobInfo, 1);

  info->name = g_strdup (id);
  info->phase = VF_JOB_LIVE;
  info->protocol = task->protocol;
  info->state = task->state;
  info->id = g_strdup (id);
  info->status = vf_task_status_text (task, video->expired, 0);
  info->status_json = vf_json_pretty (task->raw);
  if (task->state == VF_STATE_FAILED)
    {
      g_autofree char *failure = vf_task_failure_text (task);

      info->error = g_strconcat (failure, "\n", NULL);
    }
  info->created = task->created_at;
  info->changed_us
      = jobs->videos_refreshed_us > 0
            ? g_get_real_time () - (g_get_monotonic_time () - jobs->videos_refreshed_us)
            : g_get_real_time ();
  for (int v = 0; v < VF_N_VARIANTS; v++)
    info->content_size[v] = video->probed ? video->content_size[v] : -1;
  info->expired = video->expired;
  return info;
}

/* ----- the root status table ----- */

enum
{
  COL_NAME,
  COL_STATE,
  COL_PROGRESS,
  COL_ID,
  N_COLS
};

/* The newest change of the table or of any job in it. */
static gint64
latest_change_locked (VfJobs *jobs)
{
  GHashTableIter iter;
  gpointer value;
  gint64 latest = jobs->table_changed_us;

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    latest = MAX (latest, ((Job *)value)->changed_us);
  return latest;
}

GBytes *
vf_jobs_status_table (VfJobs *jobs, gint64 *changed_us)
{
  g_autoptr (GPtrArray) list = NULL;
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify)g_strfreev);
  GString *text = g_string_new (NULL);
  gsize width[N_COLS] = { 0 };
  gint64 latest;
  guint n_jobs;
  GBytes *made;

  g_mutex_lock (&jobs->lock);
  latest = latest_change_locked (jobs);
  /* a table of 10,000 jobs takes milliseconds to make, and stat, open and
   * read each ask for it: it is made again only when a job changed */
  if (jobs->status_text && jobs->status_text_us == latest
      && jobs->status_text_jobs == g_hash_table_size (jobs->table))
    {
      GBytes *same = g_bytes_ref (jobs->status_text);
      g_mutex_unlock (&jobs->lock);
      g_string_free (text, TRUE);
      if (changed_us)
        *changed_us = latest;
      return same;
    }
  g_ptr_array_add (rows, g_strsplit ("NAME STATE PROGRESS ID", " ", N_COLS));
  list = vf_jobs_sorted_locked (jobs);
  for (guint i = 0; i < list->len; i++)
    {
      Job *job = list->pdata[i];
      char **row = g_new0 (char *, N_COLS + 1);
      const char *state = vf_job_state_word (job);

      if (job->phase == VF_JOB_LIVE && job->task && job->task->state == VF_STATE_COMPLETED
          && job->expired)
        state = "expired";
      row[COL_NAME] = g_strdup (job->name);
      row[COL_STATE] = g_strdup (state);
      row[COL_PROGRESS] = job->phase == VF_JOB_LIVE && job->task && job->task->progress >= 0
                              ? g_strdup_printf ("%d%%", job->task->progress)
                              : g_strdup ("-");
      row[COL_ID] = g_strdup (job->id ? job->id : "-");
      g_ptr_array_add (rows, row);
    }
  n_jobs = g_hash_table_size (jobs->table);
  g_mutex_unlock (&jobs->lock);

  for (guint i = 0; i < rows->len; i++)
    for (int c = 0; c < COL_ID; c++)
      width[c] = MAX (width[c], (gsize)g_utf8_strlen (((char **)rows->pdata[i])[c], -1));
  for (guint i = 0; i < rows->len; i++)
    {
      char **row = rows->pdata[i];

      for (int c = 0; c < COL_ID; c++)
        {
          g_string_append (text, row[c]);
          for (gsize pad = (gsize)g_utf8_strlen (row[c], -1); pad < width[c] + 2; pad++)
            g_string_append_c (text, ' ');
        }
      g_string_append (text, row[COL_ID]);
      g_string_append_c (text, '\n');
    }
  if (changed_us)
    *changed_us = latest;
  made = g_string_free_to_bytes (text);
  g_mutex_lock (&jobs->lock);
  g_clear_pointer (&jobs->status_text, g_bytes_unref);
  jobs->status_text = g_bytes_ref (made);
  jobs->status_text_us = latest;
  jobs->status_text_jobs = n_jobs;
  g_mutex_unlock (&jobs->lock);
  return made;
}

gint64
vf_jobs_status_changed_us (VfJobs *jobs)
{
  gint64 latest;

  g_mutex_lock (&jobs->lock);
  latest = latest_change_locked (jobs);
  g_mutex_unlock (&jobs->lock);
  return latest;
}
