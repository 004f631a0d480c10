/* test-pictures.c: a table of pictures (images/) against the simulator:
 * submission with the pictures synced before `completed`, the exact bytes,
 * refusals, lost answers never sent again, a submission that returns before
 * its answer, and closing with a request in flight. */
#include "common.h"
#include "images-common.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static const char *const args[] = { NULL };

/* The table borrows it: freed after the table, in teardown. */
static VfImages *images;

static void
teardown (Fixture *f, gconstpointer data)
{
  fixture_teardown (f);
  g_clear_pointer (&images, vf_images_free);
}

static void
open_pictures (Fixture *f, VfImages *table_images, double wait_s)
{
  VfJobsConfig config;
  g_autoptr (GError) error = NULL;

  fixture_config (f, &config, 1);
  config.images = table_images;
  config.image_wait_s = wait_s;
  config.defaults.model = "gpt-image-1";
  config.defaults.picture = TRUE;
  f->jobs = vf_jobs_open (&config, &error);
  g_assert_no_error (error);
  vf_jobs_start (f->jobs);
}

static gboolean
submit (Fixture *f, const char *prompt_file, const char *text, GError **error)
{
  return vf_jobs_submit (f->jobs, prompt_file, text, strlen (text), error);
}

static char *
status_of (Fixture *f, const char *name)
{
  g_autoptr (VfJobInfo) info = vf_jobs_get (f->jobs, name);

  g_assert_nonnull (info);
  return g_strdup (info->status);
}

/* The picture directories in the cache dir. */
static guint
picture_dirs (Fixture *f)
{
  g_autoptr (GDir) d = g_dir_open (f->cache_dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (d && (name = g_dir_read_name (d)))
    n += name[0] == 'p';
  return n;
}

static GBytes *
picture_bytes (Fixture *f, const char *name, const char *file)
{
  int fd = vf_jobs_open_picture (f->jobs, name, file);
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  guint8 buf[65536];
  ssize_t n;

  g_assert_cmpint (fd, >=, 0);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_byte_array_append (bytes, buf, (guint)n);
  close (fd);
  return g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
}

static void
assert_pictures (Fixture *f, const char *name, guint n)
{
  g_autoptr (VfJobInfo) info = vf_jobs_get (f->jobs, name);

  g_assert_nonnull (info);
  g_assert_cmpstr (info->status, ==, "completed\n");
  g_assert_cmpuint (info->n_pictures, ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *file
          = i == 0 ? g_strdup ("image.png") : g_strdup_printf ("image-%u.png", i + 1);
      g_autoptr (GBytes) truth = images_test_truth (f->sim, info->id, i + 1);
      g_autoptr (GBytes) got = picture_bytes (f, name, file);

      g_assert_cmpstr (info->pictures[i].file, ==, file);
      g_assert_cmpint (info->pictures[i].size, ==, (gint64)g_bytes_get_size (truth));
      g_assert_true (g_bytes_equal (got, truth));
    }
  g_assert_cmpint (vf_jobs_open_picture (f->jobs, name, "image-9.png"), ==, -ENOENT);
}

static void
test_completed (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fixture_setup (f, args);
  images = images_test_client (f->sim, "sk-test-token", NULL, 0);
  open_pictures (f, images, 2);
  g_assert_true (submit (f, "fox.txt", "---\nn: 2\nsize: 32x24\n---\na fox", &error));
  g_assert_no_error (error);
  assert_pictures (f, "fox", 2);
  g_assert_cmpint (sim_requests (f->sim, "image_generate"), ==, 1);
  g_assert_true (vf_jobs_is_submitted (f->jobs, "fox.txt"));

  /* after a remount: the same pictures, nothing sent */
  g_clear_pointer (&f->jobs, vf_jobs_close);
  open_pictures (f, images, 2);
  assert_pictures (f, "fox", 2);
  g_assert_true (vf_jobs_forget (f->jobs, "fox", &error));
  g_assert_cmpuint (picture_dirs (f), ==, 0);
  g_assert_cmpint (sim_requests (f->sim, "image_generate"), ==, 1);
}

static void
test_refused (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;

  fixture_setup (f, args);
  images = images_test_client (f->sim, "sk-test-token", NULL, 0);
  open_pictures (f, images, 2);
  g_assert_false (submit (f, "fox.txt", "#reject a fox", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  status = status_of (f, "fox");
  g_assert_true (g_str_has_prefix (status, "rejected moderation_blocked: "));
  g_assert_cmpuint (picture_dirs (f), ==, 0);
  g_assert_false (vf_jobs_is_submitted (f->jobs, "fox.txt"));
  g_clear_error (&error);
  g_assert_true (submit (f, "fox.txt", "a fox", &error));
  assert_pictures (f, "fox", 1);
  g_assert_cmpint (sim_requests (f->sim, "image_generate"), ==, 2);
}

static void
test_lost (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;
  g_autoptr (VfJobInfo) info = NULL;

  fixture_setup (f, args);
  images = images_test_client (f->sim, "sk-test-token", NULL, 0);
  open_pictures (f, images, 2);
  sim_fault (f->sim, "drop_create:call=image_generate");
  g_assert_false (submit (f, "fox.txt", "a fox", &error));
  g_assert_true (vf_error_maybe_sent (error));
  sim_clear_faults (f->sim);
  status = status_of (f, "fox");
  g_assert_cmpstr (status, ==, "unknown (the API may have made and billed it)\n");
  info = vf_jobs_get (f->jobs, "fox");
  g_assert_nonnull (strstr (info->error, "never sent again on its own"));
  g_clear_error (&error);
  g_assert_false (submit (f, "fox.txt", "a fox", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_CONFLICT);

  g_clear_pointer (&f->jobs, vf_jobs_close);
  open_pictures (f, images, 2);
  g_free (status);
  status = status_of (f, "fox");
  g_assert_cmpstr (status, ==, "unknown (the API may have made and billed it)\n");
  g_assert_cmpint (sim_requests (f->sim, "image_generate"), ==, 1);
}

/* A URL answer that expired before it was fetched: made (and billed), so
 * the submission succeeds; the job is failed, nothing kept, never sent
 * again. */
static void
test_expired (Fixture *f, gconstpointer data)
{
  const char *const ttl[] = { "--image-url-ttl", "0", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;

  fixture_setup (f, ttl);
  images = images_test_client (f->sim, "sk-test-token", NULL, 0);
  open_pictures (f, images, 2);
  g_assert_true (submit (f, "old.txt", "---\nmodel: dall-e-2\nsize: 64x64\n---\na tram", &error));
  g_assert_no_error (error);
  status = status_of (f, "old");
  g_assert_true (g_str_has_prefix (status, "failed expired: "));
  g_assert_cmpuint (picture_dirs (f), ==, 0);
  g_assert_true (vf_jobs_is_submitted (f->jobs, "old.txt"));
  g_assert_cmpint (sim_requests (f->sim, "image_generate"), ==, 1);
}

/* With image_wait_s 0 the submission returns at once, in_progress. */
static void
test_no_wait (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;
  gint64 t;

  fixture_setup (f, args);
  images = images_test_client (f->sim, "sk-test-token", NULL, 0);
  open_pictures (f, images, 0);
  sim_fault (f->sim, "hang_create:seconds=2,call=image_generate");
  t = g_get_monotonic_time ();
  g_assert_true (submit (f, "fox.txt", "a fox", &error));
  g_assert_cmpint (g_get_monotonic_time () - t, <, 1500 * 1000 * time_scale ());
  status = status_of (f, "fox");
  g_assert_cmpstr (status, ==, "in_progress\n");
  wait_status (f, "fox", "completed", 20);
  assert_pictures (f, "fox", 1);
}

/* Closing with a request in flight waits a while, then gives the answer up:
 * unknown, never sent again. */
static void
test_close_in_flight (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;

  fixture_setup (f, args);
  images = images_test_client (f->sim, "sk-test-token", NULL, 0);
  open_pictures (f, images, 0);
  sim_fault (f->sim, "hang_create:call=image_generate");
  g_assert_true (submit (f, "fox.txt", "a fox", &error));
  g_clear_pointer (&f->jobs, vf_jobs_close);
  sim_clear_faults (f->sim);
  open_pictures (f, images, 0);
  status = status_of (f, "fox");
  g_assert_cmpstr (status, ==, "unknown (the API may have made and billed it)\n");
  g_assert_cmpint (sim_requests (f->sim, "image_generate"), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!g_getenv ("VIDEOFS_SIM"))
    {
      g_test_skip ("VIDEOFS_SIM is not set");
      return 77;
    }
#define ADD(path, func) g_test_add (path, Fixture, NULL, NULL, func, teardown)
  ADD ("/pictures/completed", test_completed);
  ADD ("/pictures/refused", test_refused);
  ADD ("/pictures/lost", test_lost);
  ADD ("/pictures/expired", test_expired);
  ADD ("/pictures/no-wait", test_no_wait);
  ADD ("/pictures/close-in-flight", test_close_in_flight);
  return g_test_run ();
}
