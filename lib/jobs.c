/* jobs.c: the job table's life (open, start, close) and the snapshots the
 * FUSE side reads.  jobs-private.h maps the other files of the table. */
#include "jobs-private.h"
#include "vf-fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* How long closing waits for pictures' answers before it gives them up. */
#define PICTURES_GRACE_S 10

void
vf_jobs_config_init (VfJobsConfig *config)
{
  memset (config, 0, sizeof *config);
  vf_prompt_defaults_init (&config->defaults);
  config->poll_s = 5;
  config->prefetch = TRUE;
  config->events_max = VF_JOBS_EVENTS_DEFAULT;
  config->image_wait_s = 2;
}

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
      for (VfVariant v = 0; v < VF_N_VARIANTS; v++)
        {
          g_autofree char *file = g_strdup_printf (".%s.part", vf_variant_name (v));
          g_autofree char *path = g_build_filename (cache_dir, name, file, NULL);

          g_unlink (path);
        }
    }
}

/* A picture's directory whose request was refused or never sent (a crash
 * between its intent and its mark) holds nothing anyone will read. */
static void
remove_unused_pictures (VfJobs *jobs)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, jobs->table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Job *job = value;

      if (job->picture && job->phase == VF_JOB_REJECTED)
        vf_jobs_pictures_remove (job->pictures_dir);
    }
}

static gboolean
make_dirs (VfJobs *jobs, GError **error)
{
  const char *dirs[] = { jobs->state_dir, jobs->cache_dir };

  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    if (g_mkdir_with_parents (dirs[i], 0700) < 0)
      {
        return vf_set_io_error (error, errno, "Cannot create", dirs[i]);
      }
  return TRUE;
}

VfJobs *
vf_jobs_open (const VfJobsConfig *config, GError **error)
{
  g_autoptr (VfJobs) jobs = NULL;
  VfCacheConfig cache_config;

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
  jobs->open_input = config->open_input;
  jobs->open_input_data = config->open_input_data;
  jobs->images = config->images;
  jobs->events_to = config->events_to;
  jobs->image_wait_s = MAX (config->image_wait_s, 0);
  jobs->pictures_cancel = g_cancellable_new ();
  g_mutex_init (&jobs->journal_lock);
  g_mutex_init (&jobs->lock);
  g_cond_init (&jobs->work_cond);
  g_cond_init (&jobs->pictures_cond);
  jobs->table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, vf_job_drop);
  jobs->videos = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, vf_video_free);
  g_queue_init (&jobs->probe_queue);
  vf_events_init (jobs, config->events_max);
  jobs->table_changed_us = jobs->events.changed_us;

  if (!make_dirs (jobs, error))
    return NULL;
  jobs->lock_fd = vf_dir_lock (jobs->state_dir, error);
  if (jobs->lock_fd < 0)
    return NULL;
  if (!vf_jobs_journal_open (jobs, error))
    return NULL;
  /* Replay and compaction of thousands of jobs leave freed memory behind
   * in the heap: give it back before the mount runs for days. */
  malloc_trim (0);

  remove_old_partials (jobs->cache_dir);
  if (jobs->images)
    remove_unused_pictures (jobs);
  vf_cache_config_init (&cache_config);
  cache_config.cache_max = config->cache_max;
  cache_config.done = vf_jobs_content_done;
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
        g_message ("cannot update the lock in %s: %s", jobs->state_dir, error->message);
    }
  /* pictures are answered at once: nothing to poll */
  if (!jobs->poller && !jobs->images)
    vf_poller_start (jobs);
}

void
vf_jobs_close (VfJobs *jobs)
{
  if (!jobs)
    return;
  /* a picture's answer is worth a little wait: it cannot be had later */
  vf_jobs_pictures_drain (jobs, PICTURES_GRACE_S);
  vf_poller_stop (jobs);
  /* Not g_clear_pointer(): downloads that end meanwhile report to
   * vf_jobs_content_done(), which looks at the cache. */
  if (jobs->cache)
    vf_cache_free (jobs->cache);
  jobs->cache = NULL;
  if (jobs->journal)
    {
      g_autoptr (GError) error = NULL;

      g_mutex_lock (&jobs->journal_lock);
      if (!vf_jobs_journal_compact (jobs, &error))
        g_message ("cannot compact the journal in %s: %s", jobs->state_dir, error->message);
      g_mutex_unlock (&jobs->journal_lock);
      vf_journal_close (jobs->journal);
    }
  if (jobs->lock_fd >= 0)
    close (jobs->lock_fd);
  g_hash_table_unref (jobs->table);
  g_clear_pointer (&jobs->status_text, g_bytes_unref);
  g_hash_table_unref (jobs->videos);
  g_queue_clear_full (&jobs->probe_queue, g_free);
  vf_events_clear (jobs);
  g_cond_clear (&jobs->work_cond);
  g_cond_clear (&jobs->pictures_cond);
  g_clear_object (&jobs->pictures_cancel);
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

int
vf_jobs_open_picture (VfJobs *jobs, const char *name, const char *file)
{
  g_autofree char *path = NULL;
  Job *job;
  int fd;

  g_mutex_lock (&jobs->lock);
  job = g_hash_table_lookup (jobs->table, name);
  if (job && job->picture && job->phase == VF_JOB_LIVE && job->pictures && job->pictures_dir)
    {
      size_t i;
      json_t *pic;

      json_array_foreach (job->pictures, i, pic)
      {
        if (!path && g_strcmp0 (json_string_value (json_object_get (pic, "file")), file) == 0)
          path = g_build_filename (job->pictures_dir, file, NULL);
      }
    }
  g_mutex_unlock (&jobs->lock);
  if (!path)
    return -ENOENT;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

GPtrArray *
vf_jobs_names (VfJobs *jobs)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) list = NULL;

  g_mutex_lock (&jobs->lock);
  list = vf_jobs_sorted_locked (jobs);
  for (guint i = 0; i < list->len; i++)
    g_ptr_array_add (names, g_strdup (((Job *)list->pdata[i])->name));
  g_mutex_unlock (&jobs->lock);
  return names;
}

static void
job_entry_clear (gpointer data)
{
  g_free (((VfJobEntry *)data)->name);
}

GArray *
vf_jobs_entries (VfJobs *jobs)
{
  GArray *entries;
  g_autoptr (GPtrArray) list = NULL;

  g_mutex_lock (&jobs->lock);
  list = vf_jobs_sorted_locked (jobs);
  entries = g_array_sized_new (FALSE, FALSE, sizeof (VfJobEntry), list->len);
  g_array_set_clear_func (entries, job_entry_clear);
  for (guint i = 0; i < list->len; i++)
    {
      const Job *job = list->pdata[i];
      VfJobEntry e = { g_strdup (job->name), job->created };

      g_array_append_val (entries, e);
    }
  g_mutex_unlock (&jobs->lock);
  return entries;
}

VfJobInfo *
vf_jobs_get (VfJobs *jobs, const char *name)
{
  VfJobInfo *info = NULL;
  Job *job;

  g_mutex_lock (&jobs->lock);
  job = g_hash_table_lookup (jobs->table, name);
  if (job)
    info = vf_job_info_locked (jobs, job);
  g_mutex_unlock (&jobs->lock);
  return info;
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
