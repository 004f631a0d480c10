/* jobs-events.c: the `events` log: one JSON object a line for each change
 * of a job (submitted, state, completed, failed, renamed, ...).
 *
 * The log keeps the most recent lines only.  Once its text passes `max`
 * bytes the oldest whole lines go, down to at most max/2, so the memmove
 * costs one byte per byte appended.  Offsets are absolute: `base` is the
 * offset of the first byte kept, base + len the log's total length.
 *
 * What a reader sees starts at a visible origin.  The first reader to open
 * moves it to `base`, so a fresh `cat` starts at the oldest line kept;
 * while any reader is open it stays put, so a `tail -f` holding the file
 * sees it only grow, across any number of trims.  Bytes below `base` that
 * such a reader has not read yet read as spaces ending in '\n' (one blank
 * line where the dropped lines were).  Readers ask for the bytes they read
 * or only for the size, so no read copies more than it asked for under the
 * table lock.
 */
#include "jobs-private.h"
#include "jobs-testing.h"

#include <string.h>

void
vf_events_init (VfJobs *jobs, guint64 max)
{
  memset (&jobs->events, 0, sizeof jobs->events);
  jobs->events.max = MAX (max, VF_JOBS_EVENTS_MIN);
  jobs->events.changed_us = g_get_real_time ();
}

void
vf_events_clear (VfJobs *jobs)
{
  g_clear_pointer (&jobs->events.text, g_free);
}

/* Drops the oldest whole lines down to max/2 bytes, or to the last line
 * when that alone is longer. */
static void
trim_locked (VfEventLog *log)
{
  gsize target, cut;
  const char *nl;

  if (log->len <= log->max)
    return;
  target = log->len - log->max / 2;
  /* the first line starting at or after target: after a '\n' at target-1 or later */
  nl = memchr (log->text + target - 1, '\n', log->len - target);
  if (nl)
    cut = nl + 1 - log->text;
  else
    for (cut = target - 1; cut > 0 && log->text[cut - 1] != '\n'; cut--)
      ;
  memmove (log->text, log->text + cut, log->len - cut);
  log->len -= cut;
  log->base += cut;
}

static void
append_locked (VfJobs *jobs, const char *line, gsize n, gint64 now)
{
  VfEventLog *log = &jobs->events;
  gsize need = log->len + n + 1;

  if (need > log->alloc)
    {
      /* grow to max and no further: trimming keeps len below it */
      gsize alloc = MIN (MAX (log->alloc * 2, 4096), log->max);

      log->alloc = MAX (alloc, need);
      log->text = g_realloc (log->text, log->alloc);
    }
  memcpy (log->text + log->len, line, n);
  log->text[log->len + n] = '\n';
  log->len += n + 1;
  log->changed_us = now;
  trim_locked (log);
}

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
  append_locked (jobs, line, strlen (line), now);
}

static guint64
origin_locked (const VfEventLog *log)
{
  return log->readers > 0 ? log->origin : log->base;
}

guint64
vf_jobs_events_open (VfJobs *jobs)
{
  g_autoptr (GMutexLocker) locker = NULL;

  g_return_val_if_fail (jobs != NULL, 0);

  locker = g_mutex_locker_new (&jobs->lock);
  if (jobs->events.readers++ == 0)
    jobs->events.origin = jobs->events.base;
  return jobs->events.origin;
}

void
vf_jobs_events_close (VfJobs *jobs)
{
  g_autoptr (GMutexLocker) locker = NULL;

  g_return_if_fail (jobs != NULL);

  locker = g_mutex_locker_new (&jobs->lock);
  g_return_if_fail (jobs->events.readers > 0);
  jobs->events.readers--;
}

GBytes *
vf_jobs_events_read (VfJobs *jobs, guint64 offset, gsize len, guint64 *size, gint64 *changed_us)
{
  g_autoptr (GMutexLocker) locker = NULL;
  const VfEventLog *log;
  guint64 origin, visible, start, end;
  char *buf;
  gsize n, filler = 0;

  g_return_val_if_fail (jobs != NULL, NULL);

  locker = g_mutex_locker_new (&jobs->lock);
  log = &jobs->events;
  origin = origin_locked (log);
  visible = log->base + log->len - origin;
  if (size)
    *size = visible;
  if (changed_us)
    *changed_us = log->changed_us;
  if (offset >= visible || len == 0)
    return g_bytes_new (NULL, 0);

  n = (gsize)MIN ((guint64)len, visible - offset);
  buf = g_malloc (n);
  start = origin + offset;
  end = start + n;
  if (start < log->base)
    {
      filler = (gsize)(MIN (end, log->base) - start);
      memset (buf, ' ', filler);
      if (end >= log->base)
        buf[filler - 1] = '\n';
    }
  if (end > log->base)
    memcpy (buf + filler, log->text + (start + filler - log->base), n - filler);
  return g_bytes_new_take (buf, n);
}

guint64
vf_jobs_events_size (VfJobs *jobs, gint64 *changed_us)
{
  g_autoptr (GMutexLocker) locker = NULL;

  g_return_val_if_fail (jobs != NULL, 0);

  locker = g_mutex_locker_new (&jobs->lock);
  if (changed_us)
    *changed_us = jobs->events.changed_us;
  return jobs->events.base + jobs->events.len - origin_locked (&jobs->events);
}

/* ----- jobs-testing.h ----- */

void
vf_jobs_testing_append_event (VfJobs *jobs, const char *line)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&jobs->lock);

  append_locked (jobs, line, strlen (line), g_get_real_time ());
}

gsize
vf_jobs_testing_events_retained (VfJobs *jobs, guint64 *base, gsize *alloc)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&jobs->lock);

  if (base)
    *base = jobs->events.base;
  if (alloc)
    *alloc = jobs->events.alloc;
  return jobs->events.len;
}
