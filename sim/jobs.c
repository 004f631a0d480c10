/* jobs.c: the job store and its clock.
 *
 * A job's state is never stored: it is computed from the moment it was
 * created (queued for --queue, then in progress for --duration), unless a
 * control call finished it early or a delete cancelled it.  One mutex guards
 * the store; callers get copies (views), never pointers into it.  Deleted
 * jobs stay in the store as tombstones so that a list cursor naming one
 * still has a place, and so that no id is ever handed out twice.
 */
#include "sim.h"

struct job
{
  char *id; /* may hold a NUL byte: the key is the part before it */
  gsize id_len;
  enum sim_api api;
  char *prompt;
  char *model;
  char *seconds;
  char *size;
  char *remixed_from;
  char *ratio;
  char *resolution;
  gint64 duration;
  gboolean return_last_frame;
  gint64 seed;
  gboolean fails;
  gint64 created_mono; /* microseconds */
  gint64 created_wall;
  gint64 finish_mono;    /* when it completes (or fails) */
  gint64 cancelled_mono; /* 0: not cancelled */
  gboolean expired;
  gint64 expired_wall;
  gboolean deleted;
};

static GMutex jobs_lock;
static GHashTable *jobs_by_id; /* key part of id -> struct job*, tombstones too */
static GPtrArray *jobs_order;  /* struct job*, oldest first, owns them */

static void
job_free (struct job *job)
{
  g_free (job->id);
  g_free (job->prompt);
  g_free (job->model);
  g_free (job->seconds);
  g_free (job->size);
  g_free (job->remixed_from);
  g_free (job->ratio);
  g_free (job->resolution);
  g_free (job);
}

void
sim_job_view_free (struct sim_job_view *view)
{
  if (!view)
    return;
  g_free (view->id);
  g_free (view->prompt);
  g_free (view->model);
  g_free (view->seconds);
  g_free (view->size);
  g_free (view->remixed_from);
  g_free (view->ratio);
  g_free (view->resolution);
  g_free (view);
}

void
sim_jobs_init (void)
{
  jobs_by_id = g_hash_table_new (g_str_hash, g_str_equal);
  jobs_order = g_ptr_array_new_with_free_func ((GDestroyNotify)job_free);
}

void
sim_jobs_shutdown (void)
{
  g_clear_pointer (&jobs_by_id, g_hash_table_unref);
  g_clear_pointer (&jobs_order, g_ptr_array_unref);
}

static gint64
wall_at (const struct job *job, gint64 mono)
{
  return job->created_wall + (mono - job->created_mono);
}

static struct sim_job_view *
view_of (const struct job *job, gint64 now)
{
  struct sim_job_view *view = g_new0 (struct sim_job_view, 1);
  gint64 start = job->created_mono + sim.queue_us;

  view->id = g_memdup2 (job->id, job->id_len + 1);
  view->id_len = job->id_len;
  view->api = job->api;
  view->prompt = g_strdup (job->prompt);
  view->model = g_strdup (job->model);
  view->seconds = g_strdup (job->seconds);
  view->size = g_strdup (job->size);
  view->remixed_from = g_strdup (job->remixed_from);
  view->ratio = g_strdup (job->ratio);
  view->resolution = g_strdup (job->resolution);
  view->duration = job->duration;
  view->return_last_frame = job->return_last_frame;
  view->seed = job->seed;
  view->created_ms = job->created_wall / 1000;
  view->expired = job->expired;
  view->next_change_ms = -1;

  if (job->cancelled_mono)
    {
      view->state = SIM_STATE_CANCELLED;
      view->updated_ms = wall_at (job, job->cancelled_mono) / 1000;
    }
  else if (now >= job->finish_mono)
    {
      view->state = job->fails ? SIM_STATE_FAILED : SIM_STATE_COMPLETED;
      view->progress = 100;
      view->updated_ms = wall_at (job, job->finish_mono) / 1000;
      if (!job->fails)
        {
          view->completed_ms = view->updated_ms;
          view->expires_ms
              = job->expired ? job->expired_wall / 1000 : view->completed_ms + 3600 * 1000;
        }
    }
  else if (now < start)
    {
      view->state = SIM_STATE_QUEUED;
      view->updated_ms = view->created_ms;
      view->next_change_ms = (MIN (start, job->finish_mono) - now + 999) / 1000;
    }
  else
    {
      gint64 span = job->finish_mono - start;

      view->state = SIM_STATE_IN_PROGRESS;
      view->progress = span > 0 ? (int)CLAMP ((now - start) * 100 / span, 0, 99) : 99;
      view->updated_ms = wall_at (job, start) / 1000;
      view->next_change_ms = (job->finish_mono - now + 999) / 1000;
    }
  return view;
}

static char *
random_chars (const char *alphabet, int n)
{
  gsize len = strlen (alphabet);
  GString *s = g_string_sized_new (n);

  for (int i = 0; i < n; i++)
    g_string_append_c (s, alphabet[g_random_int_range (0, (gint32)len)]);
  return g_string_free (s, FALSE);
}

static char *
base_id (enum sim_api api)
{
  if (api == SIM_API_ARK)
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
      g_autofree char *stamp = g_date_time_format (now, "%Y%m%d%H%M%S");
      g_autofree char *tail = random_chars ("abcdefghijklmnopqrstuvwxyz0123456789", 5);
      return g_strdup_printf ("cgt-%s-%s", stamp, tail);
    }
  if (sim.tokenhot)
    return g_strdup_printf ("sora-2-%06d", g_random_int_range (100000, 1000000));
  if (sim.newapi)
    {
      g_autofree char *tail = random_chars ("abcdefghijklmnopqrstuvwxyz"
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                                            32);
      return g_strdup_printf ("task_%s", tail);
    }
  {
    g_autofree char *hex = random_chars ("0123456789abcdef", 48);
    return g_strdup_printf ("video_%s", hex);
  }
}

/* A new unique id; the store lock is held. */
static char *
new_id (enum sim_api api, enum sim_hostile_kind hostile, gsize *len)
{
  for (;;)
    {
      g_autofree char *base = base_id (api);
      char *id = NULL;

      switch (hostile)
        {
        case SIM_HOSTILE_SLASH:
          id = g_strconcat (base, "/evil", NULL);
          break;
        case SIM_HOSTILE_DOTDOT:
          if (!g_hash_table_contains (jobs_by_id, ".."))
            id = g_strdup ("..");
          else if (!g_hash_table_contains (jobs_by_id, "."))
            id = g_strdup (".");
          else
            id = g_strconcat (base, "/..", NULL);
          break;
        case SIM_HOSTILE_LONG:
          {
            GString *s = g_string_new (base);
            while (s->len < 320)
              g_string_append_c (s, 'x');
            id = g_string_free (s, FALSE);
          }
          break;
        case SIM_HOSTILE_NUL:
          if (g_hash_table_contains (jobs_by_id, base))
            continue;
          *len = strlen (base) + 4;
          id = g_malloc (*len + 1);
          memcpy (id, base, strlen (base));
          memcpy (id + strlen (base), "\0nul", 5);
          return id;
        case SIM_HOSTILE_NONE:
        default:
          id = g_strdup (base);
          break;
        }
      if (g_hash_table_contains (jobs_by_id, id))
        {
          g_free (id);
          continue;
        }
      *len = strlen (id);
      return id;
    }
}

struct sim_job_view *
sim_jobs_create (const struct sim_job_spec *spec)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&jobs_lock);
  struct job *job = g_new0 (struct job, 1);
  gint64 now = g_get_monotonic_time ();

  job->api = spec->api;
  job->id = new_id (spec->api, spec->hostile, &job->id_len);
  job->prompt = g_strdup (spec->prompt);
  job->model = g_strdup (spec->model);
  job->seconds = g_strdup (spec->seconds);
  job->size = g_strdup (spec->size);
  job->remixed_from = g_strdup (spec->remixed_from);
  job->ratio = g_strdup (spec->ratio);
  job->resolution = g_strdup (spec->resolution);
  job->duration = spec->duration;
  job->return_last_frame = spec->return_last_frame;
  job->seed = g_str_hash (job->id) & 0x7fffffff;
  job->fails = spec->prompt && sim.fail_marker && *sim.fail_marker
               && strstr (spec->prompt, sim.fail_marker);
  job->created_mono = now;
  job->created_wall = g_get_real_time ();
  job->finish_mono = now + sim.queue_us + sim.duration_us;
  g_hash_table_insert (jobs_by_id, job->id, job);
  g_ptr_array_add (jobs_order, job);
  return view_of (job, now);
}

static struct job *
lookup (enum sim_api api, const char *id)
{
  struct job *job = g_hash_table_lookup (jobs_by_id, id);

  if (!job || job->deleted || job->api != api)
    return NULL;
  return job;
}

struct sim_job_view *
sim_jobs_get (enum sim_api api, const char *id)
{
  return sim_jobs_get_at (api, id, g_get_monotonic_time ());
}

struct sim_job_view *
sim_jobs_get_at (enum sim_api api, const char *id, gint64 mono)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&jobs_lock);
  struct job *job = lookup (api, id);

  return job ? view_of (job, mono) : NULL;
}

GPtrArray *
sim_jobs_list (enum sim_api api, gboolean ascending, const char *after, gboolean *after_found)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&jobs_lock);
  GPtrArray *views = g_ptr_array_new_with_free_func ((GDestroyNotify)sim_job_view_free);
  gint64 now = g_get_monotonic_time ();
  guint n = jobs_order->len;
  gboolean started = after == NULL;

  if (after_found)
    *after_found = after == NULL;
  for (guint k = 0; k < n; k++)
    {
      struct job *job = g_ptr_array_index (jobs_order, ascending ? k : n - 1 - k);

      if (job->api != api)
        continue;
      if (!started)
        {
          if (g_str_equal (job->id, after))
            {
              started = TRUE;
              if (after_found)
                *after_found = TRUE;
            }
          continue;
        }
      if (!job->deleted)
        g_ptr_array_add (views, view_of (job, now));
    }
  return views;
}

enum sim_delete_result
sim_jobs_delete (enum sim_api api, const char *id)
{
  enum sim_delete_result result = SIM_DELETE_DELETED;
  g_autofree char *forget = NULL;

  g_mutex_lock (&jobs_lock);
  {
    struct job *job = lookup (api, id);
    gint64 now = g_get_monotonic_time ();

    if (!job)
      result = SIM_DELETE_NOT_FOUND;
    else if (api == SIM_API_ARK && !job->cancelled_mono && now < job->finish_mono)
      {
        if (now < job->created_mono + sim.queue_us)
          {
            job->cancelled_mono = now;
            result = SIM_DELETE_CANCELLED;
          }
        else
          result = SIM_DELETE_BUSY;
      }
    else
      {
        job->deleted = TRUE;
        forget = g_strdup (job->id);
      }
  }
  g_mutex_unlock (&jobs_lock);
  if (forget)
    sim_content_forget (forget);
  return result;
}

gboolean
sim_jobs_complete_now (const char *id)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&jobs_lock);
  struct job *job = g_hash_table_lookup (jobs_by_id, id);
  gint64 now = g_get_monotonic_time ();

  if (!job || job->deleted)
    return FALSE;
  if (!job->cancelled_mono && now < job->finish_mono)
    job->finish_mono = now;
  return TRUE;
}

gboolean
sim_jobs_expire_now (const char *id)
{
  g_autofree char *forget = NULL;

  g_mutex_lock (&jobs_lock);
  {
    struct job *job = g_hash_table_lookup (jobs_by_id, id);

    if (job && !job->deleted)
      {
        job->expired = TRUE;
        job->expired_wall = g_get_real_time ();
        forget = g_strdup (job->id);
      }
  }
  g_mutex_unlock (&jobs_lock);
  if (!forget)
    return FALSE;
  sim_content_forget (forget);
  return TRUE;
}

guint
sim_jobs_count (void)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&jobs_lock);
  guint n = 0;

  for (guint i = 0; i < jobs_order->len; i++)
    if (!((struct job *)g_ptr_array_index (jobs_order, i))->deleted)
      n++;
  return n;
}

GPtrArray *
sim_jobs_finished (void)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&jobs_lock);
  GPtrArray *views = g_ptr_array_new_with_free_func ((GDestroyNotify)sim_job_view_free);
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < jobs_order->len; i++)
    {
      struct job *job = g_ptr_array_index (jobs_order, i);

      if (!job->deleted && !job->expired && !job->cancelled_mono && !job->fails
          && now >= job->finish_mono)
        g_ptr_array_add (views, view_of (job, now));
    }
  return views;
}
