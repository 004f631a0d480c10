/* test-crash.c: kill -9 at random moments never loses a job nor sends one
 * twice.
 *
 * jobs-driver submits N prompts against a simulator whose creates are held
 * for a while after the job is made, so most kills land between the
 * request and its answer.  After many kills and restarts, the table opened
 * here must hold every job the simulator made, under its own name, the
 * simulator must have made each prompt at most once, and no job that says
 * it was never sent may have been made. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define N_PROMPTS 12
#define ROUNDS 16

static void
run_driver (Fixture *f, double kill_after_s)
{
  g_autofree char *exe = g_strdup (g_getenv ("VIDEOFS_JOBS_DRIVER"));
  g_autofree char *n = g_strdup_printf ("%d", N_PROMPTS);
  const char *argv[] = { exe, f->state_dir, f->cache_dir, f->sim->base, f->sim->ark_base, n, NULL };
  g_autoptr (GError) error = NULL;
  GPid pid;
  int status = 0;

  g_assert_nonnull (exe);
  g_spawn_async (NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                 NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  if (kill_after_s > 0)
    {
      g_usleep ((gulong)(kill_after_s * G_USEC_PER_SEC));
      kill (pid, SIGKILL);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  if (kill_after_s <= 0 || !WIFSIGNALED (status))
    {
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    }
}

/* All the simulator's jobs: id -> prompt. */
static GHashTable *
sim_jobs (Fixture *f)
{
  GHashTable *jobs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *cursor = NULL;

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (VfTaskPage) page
          = vf_client_list (f->client, VF_PROTO_OPENAI, cursor, 100, &error);

      g_assert_no_error (error);
      for (guint i = 0; i < page->tasks->len; i++)
        {
          VfTask *task = page->tasks->pdata[i];

          g_hash_table_insert (jobs, g_strdup (task->id), g_strdup (task->prompt));
        }
      if (!page->has_more || page->tasks->len == 0)
        break;
      g_free (cursor);
      cursor = g_strdup (((VfTask *)page->tasks->pdata[page->tasks->len - 1])->id);
    }
  return jobs;
}

/* "crash prompt 3" for p03 */
static char *
prompt_of (const char *name)
{
  return g_strdup_printf ("crash prompt %d", (int)g_ascii_strtoll (name + 1, NULL, 10));
}

static gboolean
made_prompt (GHashTable *made, const char *prompt)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, made);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (g_strcmp0 (value, prompt) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
none_unknown_that_exists (Fixture *f, gconstpointer data)
{
  GHashTable *made = (GHashTable *)data;
  g_autoptr (GPtrArray) names = vf_jobs_names (f->jobs);

  for (guint i = 0; i < names->len; i++)
    {
      g_autoptr (VfJobInfo) info = vf_jobs_get (f->jobs, names->pdata[i]);
      g_autofree char *prompt = NULL;

      if (info->phase != VF_JOB_UNKNOWN && info->phase != VF_JOB_SUBMITTING)
        continue;
      prompt = prompt_of (info->name);
      if (made_prompt (made, prompt))
        return FALSE;
    }
  return TRUE;
}

static void
test_kill_anywhere (void)
{
  Fixture fx, *f = &fx;
  const char *const args[]
      = { "--fault", "hang_create:seconds=0.3", "--queue", "1", "--duration", "300", NULL };
  g_autoptr (GHashTable) made = NULL;
  g_autoptr (GHashTable) prompts = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) names = NULL;
  GHashTableIter iter;
  gpointer key, value;
  guint live = 0;
  guint n_unknown = 0;
  guint n_unsent = 0;

  fixture_setup (f, args);
  for (int round = 0; round < ROUNDS; round++)
    {
      g_autoptr (GPtrArray) seen = NULL;
      g_autoptr (GHashTable) made_now = NULL;

      run_driver (f, g_test_rand_double_range (0.05, 0.8));
      /* Whatever the kill left loads, and nothing is submitting any more. */
      fixture_open (f, 0.2, FALSE, FALSE);
      made_now = sim_jobs (f);
      seen = vf_jobs_names (f->jobs);
      for (guint i = 0; i < seen->len; i++)
        {
          g_autoptr (VfJobInfo) info = vf_jobs_get (f->jobs, seen->pdata[i]);

          g_assert_cmpint (info->phase, !=, VF_JOB_SUBMITTING);
          if (info->phase == VF_JOB_UNKNOWN)
            n_unknown++;
          /* What says it was never sent was never sent. */
          if (g_str_has_prefix (info->status, "rejected not_sent: "))
            {
              g_autofree char *prompt = prompt_of (info->name);

              g_assert_false (made_prompt (made_now, prompt));
              n_unsent++;
            }
        }
      g_clear_pointer (&f->jobs, vf_jobs_close);
    }
  g_test_message ("%u jobs were found unknown after a kill, %u never sent", n_unknown, n_unsent);
  g_assert_cmpuint (n_unknown, >, 0);
  /* A last run that is left to finish: every prompt has a job then. */
  run_driver (f, 0);

  made = sim_jobs (f);
  g_test_message ("the simulator made %u jobs", g_hash_table_size (made));
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, g_hash_table_size (made));
  /* No prompt was made twice. */
  g_hash_table_iter_init (&iter, made);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_assert_true (g_str_has_prefix (value, "crash prompt "));
      if (!g_hash_table_add (prompts, value))
        g_error ("prompt \"%s\" was created twice", (char *)value);
    }

  fixture_open (f, 0.2, FALSE, TRUE);
  g_assert_true (wait_for (none_unknown_that_exists, f, made, 30));
  names = vf_jobs_names (f->jobs);
  g_assert_cmpuint (names->len, ==, N_PROMPTS);
  for (guint i = 0; i < names->len; i++)
    {
      g_autoptr (VfJobInfo) info = vf_jobs_get (f->jobs, names->pdata[i]);
      g_autofree char *expected = g_strdup_printf ("p%02u", i);
      g_autofree char *prompt = g_strdup_printf ("crash prompt %u", i);

      g_assert_cmpstr (info->name, ==, expected);
      if (info->phase == VF_JOB_LIVE)
        {
          /* Under its own name, with its own prompt, once. */
          g_assert_cmpstr (g_hash_table_lookup (made, info->id), ==, prompt);
          g_assert_true (g_hash_table_add (ids, info->id));
          live++;
        }
      else
        {
          /* Killed after the mark that it was being sent, before the request
           * left: nothing to find, and never sent again. */
          g_assert_cmpint (info->phase, ==, VF_JOB_UNKNOWN);
          g_assert_false (g_hash_table_contains (prompts, prompt));
        }
    }
  /* Every job the simulator made is one of ours. */
  g_assert_cmpuint (live, ==, g_hash_table_size (made));
  g_test_message ("%u live jobs, %u lost before sending", live, N_PROMPTS - live);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, g_hash_table_size (made));
  fixture_teardown (f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/jobs/crash/kill-anywhere", test_kill_anywhere);
  return g_test_run ();
}
