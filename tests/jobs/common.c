/* common.c: fixtures of the job-table tests. */
#include "common.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

double
time_scale (void)
{
  const char *scale = g_getenv ("VF_TEST_TIME_SCALE");

  if (scale)
    return g_ascii_strtod (scale, NULL);
  return RUNNING_ON_VALGRIND ? 10 : 1;
}

VfClient *
test_client_new (Sim *sim, int retries)
{
  VfClientConfig config;
  g_autoptr (GError) error = NULL;
  VfClient *client;

  vf_client_config_init (&config);
  config.endpoint = sim->base;
  config.ark_endpoint = sim->ark_base;
  config.token = "sk-test-token";
  config.retry.max_retries = retries;
  config.retry.base_ms = 50;
  config.retry.max_ms = 200;
  client = vf_client_new (&config, &error);
  g_assert_no_error (error);
  return client;
}

static void
on_changed (const char *name, guint what, gpointer user_data)
{
  Fixture *f = user_data;

  g_mutex_lock (&f->lock);
  f->n_changes++;
  if (what & VF_CHANGE_EVENTS)
    f->n_events++;
  g_mutex_unlock (&f->lock);
}

void
fixture_config (Fixture *f, VfJobsConfig *config, double poll_s)
{
  vf_jobs_config_init (config);
  config->client = f->client;
  config->state_dir = f->state_dir;
  config->cache_dir = f->cache_dir;
  config->poll_s = poll_s;
  config->prefetch = FALSE;
  config->changed = on_changed;
  config->user_data = f;
}

static volatile GPid running_sim;

/* A failed assertion aborts: take the simulator along. */
static void
on_abort (int sig)
{
  if (running_sim > 0)
    kill (running_sim, SIGKILL);
  signal (sig, SIG_DFL);
  raise (sig);
}

void
fixture_setup (Fixture *f, const char *const *args)
{
  g_autoptr (GError) error = NULL;

  memset (f, 0, sizeof *f);
  g_mutex_init (&f->lock);
  f->sim = sim_start (args);
  running_sim = f->sim->pid;
  signal (SIGABRT, on_abort);
  f->client = test_client_new (f->sim, 0);
  f->dir = g_dir_make_tmp ("videofs-jobs-XXXXXX", &error);
  g_assert_no_error (error);
  f->state_dir = g_build_filename (f->dir, "state", NULL);
  f->cache_dir = g_build_filename (f->dir, "cache", NULL);
}

void
fixture_open (Fixture *f, double poll_s, gboolean prefetch, gboolean start)
{
  VfJobsConfig config;
  g_autoptr (GError) error = NULL;

  fixture_config (f, &config, poll_s);
  config.prefetch = prefetch;
  f->jobs = vf_jobs_open (&config, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->jobs);
  if (start)
    vf_jobs_start (f->jobs);
}

void
fixture_teardown (Fixture *f)
{
  g_clear_pointer (&f->jobs, vf_jobs_close);
  g_clear_pointer (&f->client, vf_client_free);
  running_sim = 0;
  sim_stop (f->sim);
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->state_dir);
  g_free (f->cache_dir);
  g_mutex_clear (&f->lock);
}

gboolean
wait_for (gboolean (*cond) (Fixture *f, gconstpointer data), Fixture *f, gconstpointer data,
          double timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)(timeout_s * time_scale () * G_USEC_PER_SEC);

  while (!cond (f, data))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (10 * 1000);
    }
  return TRUE;
}

gboolean
phase_is_live (Fixture *f, gconstpointer data)
{
  g_autoptr (VfJobInfo) info = vf_jobs_get (f->jobs, data);

  return info && info->phase == VF_JOB_LIVE;
}

typedef struct
{
  const char *name;
  const char *prefix;
} StatusWait;

static gboolean
status_is (Fixture *f, gconstpointer data)
{
  const StatusWait *w = data;
  g_autoptr (VfJobInfo) info = vf_jobs_get (f->jobs, w->name);

  return info && g_str_has_prefix (info->status, w->prefix);
}

void
wait_status (Fixture *f, const char *name, const char *prefix, double timeout_s)
{
  StatusWait w = { name, prefix };

  if (!wait_for (status_is, f, &w, timeout_s))
    {
      g_autoptr (VfJobInfo) info = vf_jobs_get (f->jobs, name);

      g_error ("job %s: status \"%s\", waited for \"%s\"", name, info ? info->status : "(none)",
               prefix);
    }
}

void
submit_ok (Fixture *f, const char *prompt_file, const char *text)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (vf_jobs_submit (f->jobs, prompt_file, text, strlen (text), &error));
  g_assert_no_error (error);
}

gssize
read_copy (Fixture *f, const char *key, gboolean by_id, VfVariant variant, void *buf, gsize len,
           gint64 offset, GCancellable *cancellable, GError **error)
{
  int fd = -1;
  gssize n = vf_jobs_read_fd (f->jobs, key, by_id, variant, len, offset, &fd, cancellable, error);

  if (n > 0)
    {
      g_assert_cmpint (pread (fd, buf, n, offset), ==, n);
      close (fd);
    }
  return n;
}
