/* jobs-events.c: the `events` log: one JSON object a line for each change
 * of a job (submitted, state, completed, failed, renamed, ...).  Readers
 * ask for the bytes they read, or only for the size and the time of the
 * last line, so no read copies the whole log under the table lock.
 */
#include "jobs-private.h"

void
vf_events_add_locked (VfJobs *jobs, const Job *job, const char *event, json_t *extra)
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

GBytes *
vf_jobs_events_read (VfJobs *jobs, guint64 offset, gsize len, guint64 *size, gint64 *changed_us)
{
  GBytes *bytes;

  g_return_val_if_fail (jobs != NULL, NULL);

  g_mutex_lock (&jobs->lock);
  if (offset >= jobs->events->len)
    bytes = g_bytes_new (NULL, 0);
  else
    bytes = g_bytes_new (jobs->events->str + offset, MIN (len, jobs->events->len - offset));
  if (size)
    *size = jobs->events->len;
  if (changed_us)
    *changed_us = jobs->events_changed_us;
  g_mutex_unlock (&jobs->lock);
  return bytes;
}

guint64
vf_jobs_events_size (VfJobs *jobs, gint64 *changed_us)
{
  guint64 size;

  g_return_val_if_fail (jobs != NULL, 0);

  g_mutex_lock (&jobs->lock);
  size = jobs->events->len;
  if (changed_us)
    *changed_us = jobs->events_changed_us;
  g_mutex_unlock (&jobs->lock);
  return size;
}
