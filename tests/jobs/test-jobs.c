/* test-jobs.c: the job table against videofs-sim: submission, polling,
 * rejects, back-off, adoption, content, rename/forget, reopening. */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "common.h"

#define VIDEO_BYTES 200000

static const char *const fast_args[]
    = { "--queue", "0.2", "--duration", "0.6", "--video-bytes", "200000", NULL };

static VfJobInfo *
get_job (Fixture *f, const char *name)
{
  VfJobInfo *info = vf_jobs_get (f->jobs, name);

  g_assert_nonnull (info);
  return info;
}

/* Reads a whole content file through vf_jobs_read_fd in `chunk` pieces. */
static GBytes *
read_all (Fixture *f, const char *key, gboolean by_id, VfVariant variant, gsize chunk,
          GError **error)
{
  GByteArray *data = g_byte_array_new ();
  g_autofree guint8 *buf = g_malloc (chunk);

  for (;;)
    {
      gssize n = read_copy (f, key, by_id, variant, buf, chunk, data->len, NULL, error);

      if (n < 0)
        {
          g_byte_array_unref (data);
          return NULL;
        }
      if (n == 0)
        break;
      g_byte_array_append (data, buf, n);
    }
  return g_byte_array_free_to_bytes (data);
}

static void
assert_truth (Fixture *f, GBytes *bytes, const char *id, const char *variant)
{
  g_autoptr (GBytes) truth = sim_truth (f->sim, id, variant);

  g_assert_nonnull (bytes);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, g_bytes_get_size (truth));
  g_assert_true (g_bytes_equal (bytes, truth));
}

static GPtrArray *
events_of (Fixture *f)
{
  g_autoptr (GBytes) bytes = vf_jobs_events_read (f->jobs, 0, G_MAXSIZE, NULL, NULL);
  g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  GPtrArray *events = g_ptr_array_new_with_free_func ((GDestroyNotify)json_decref);

  g_assert_true (text[0] == '\0' || g_str_has_suffix (text, "\n"));
  for (int i = 0; lines[i] && lines[i][0]; i++)
    {
      json_error_t jerror;
      json_t *event = json_loads (lines[i], 0, &jerror);

      g_assert_nonnull (event);
      g_assert_true (json_is_number (json_object_get (event, "time")));
      g_assert_true (json_is_string (json_object_get (event, "event")));
      g_ptr_array_add (events, event);
    }
  return events;
}

static const char *
event_word (GPtrArray *events, guint i)
{
  return json_string_value (json_object_get (events->pdata[i], "event"));
}

static gint64
file_size (const char *path)
{
  GStatBuf st;

  return g_stat (path, &st) == 0 ? (gint64)st.st_size : -1;
}

/* The cache renames a file into place just after its last byte arrived,
 * so a reader of that byte may be back a moment before. */
static gboolean
video_in_place (Fixture *f, gconstpointer path)
{
  return file_size (path) == VIDEO_BYTES;
}

/* ----- submission to download ----- */

static void
test_submit_to_download (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) done = NULL;
  g_autoptr (GBytes) video = NULL;
  g_autoptr (GBytes) again = NULL;
  g_autoptr (GBytes) thumb = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autofree char *cached = NULL;
  gint64 t0, elapsed_ms, retrieves;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);

  t0 = g_get_monotonic_time ();
  submit_ok (f, "cat.txt", "a cat on a mat\n");
  info = get_job (f, "cat");
  g_assert_cmpint (info->phase, ==, VF_JOB_LIVE);
  g_assert_nonnull (info->id);
  g_assert_cmpstr (info->prompt_file, ==, "cat.txt");
  g_assert_cmpstr (info->status, ==, "queued\n");
  g_assert_nonnull (info->status_json);
  g_assert_nonnull (strstr (info->request_json, "\"prompt\": \"a cat on a mat\""));
  g_assert_null (info->error);
  g_assert_cmpint (info->content_size[VF_VARIANT_VIDEO], ==, -1);
  g_assert_true (vf_jobs_is_submitted (f->jobs, "cat.txt"));
  g_assert_false (vf_jobs_is_submitted (f->jobs, "cat.json"));
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 0);

  /* A second save of a submitted prompt sends nothing. */
  g_assert_false (vf_jobs_submit (f->jobs, "cat.txt", "again", 5, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_CONFLICT);
  g_assert_cmpint (vf_error_to_errno (error), ==, EBUSY);
  g_clear_error (&error);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);

  vf_jobs_start (f->jobs);
  wait_status (f, "cat", "completed", 20);
  elapsed_ms = (g_get_monotonic_time () - t0) / 1000;
  done = get_job (f, "cat");
  g_assert_cmpstr (done->status, ==, "completed\n");
  g_assert_cmpint (done->state, ==, VF_STATE_COMPLETED);
  g_assert_cmpint (done->content_size[VF_VARIANT_VIDEO], ==, VIDEO_BYTES);
  g_assert_cmpint (done->content_size[VF_VARIANT_THUMBNAIL], >, 0);
  g_assert_cmpint (done->content_size[VF_VARIANT_SPRITESHEET], >, 0);
  g_assert_false (done->expired);

  /* One create; retrieves at most one per poll interval; one probe per variant. */
  retrieves = sim_requests (f->sim, "retrieve");
  g_test_message ("completed after %" G_GINT64_FORMAT " ms with %" G_GINT64_FORMAT " retrieves",
                  elapsed_ms, retrieves);
  g_assert_cmpint (retrieves, >=, 1);
  g_assert_cmpint (retrieves, <=, elapsed_ms / 100 + 1);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 3);

  /* Finished: no more polling. */
  g_usleep (500 * 1000 * time_scale ());
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, retrieves);

  g_assert_false (vf_jobs_content_is_whole (f->jobs, "cat", FALSE, VF_VARIANT_VIDEO));
  video = read_all (f, "cat", FALSE, VF_VARIANT_VIDEO, 65536, &error);
  g_assert_no_error (error);
  assert_truth (f, video, done->id, "video");
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 4);
  g_assert_true (vf_jobs_content_is_whole (f->jobs, "cat", FALSE, VF_VARIANT_VIDEO));
  g_assert_true (vf_jobs_content_is_whole (f->jobs, done->id, TRUE, VF_VARIANT_VIDEO));
  g_assert_false (vf_jobs_content_is_whole (f->jobs, "cat", FALSE, VF_VARIANT_THUMBNAIL));
  g_assert_false (vf_jobs_content_is_whole (f->jobs, "dog", FALSE, VF_VARIANT_VIDEO));
  cached = g_build_filename (f->cache_dir, done->id, "video", NULL);
  g_assert_true (wait_for (video_in_place, f, cached, 10));

  /* The second read, by id this time, comes from the cache. */
  again = read_all (f, done->id, TRUE, VF_VARIANT_VIDEO, 100000, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (video, again));
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 4);

  thumb = read_all (f, "cat", FALSE, VF_VARIANT_THUMBNAIL, 4096, &error);
  g_assert_no_error (error);
  assert_truth (f, thumb, done->id, "thumbnail");
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 5);

  events = events_of (f);
  g_assert_cmpuint (events->len, >=, 2);
  g_assert_cmpstr (event_word (events, 0), ==, "submitted");
  g_assert_cmpstr (event_word (events, events->len - 1), ==, "completed");
  for (guint i = 0; i < events->len; i++)
    {
      g_assert_cmpstr (json_string_value (json_object_get (events->pdata[i], "job")), ==, "cat");
      g_assert_cmpstr (json_string_value (json_object_get (events->pdata[i], "id")), ==, done->id);
    }
  g_assert_cmpuint (f->n_events, >=, events->len);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  fixture_teardown (f);
}

static gboolean
content_count_is (Fixture *f, gconstpointer data)
{
  return sim_requests (f->sim, "content") == GPOINTER_TO_INT (data);
}

static void
test_prefetch (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (GBytes) video = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *cached = NULL;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, TRUE, TRUE);
  submit_ok (f, "dog.txt", "a dog");
  wait_status (f, "dog", "completed", 20);
  info = get_job (f, "dog");
  /* Three probes, then one download of the video in the background. */
  g_assert_true (wait_for (content_count_is, f, GINT_TO_POINTER (4), 10));
  cached = g_build_filename (f->cache_dir, info->id, "video", NULL);
  g_assert_true (wait_for (video_in_place, f, cached, 10));
  video = read_all (f, "dog", FALSE, VF_VARIANT_VIDEO, 131072, &error);
  g_assert_no_error (error);
  assert_truth (f, video, info->id, "video");
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 4);
  fixture_teardown (f);
}

/* ----- rejects ----- */

static void
test_local_reject (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) big = NULL;
  g_autoptr (GBytes) kept = NULL;
  g_autoptr (GPtrArray) events = NULL;
  const char *bad = "---\nseconds: four\n---\na bird\n";

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);

  g_assert_false (vf_jobs_submit (f->jobs, "bird.txt", bad, strlen (bad), &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpint (vf_error_to_errno (error), ==, EINVAL);
  g_clear_error (&error);
  info = get_job (f, "bird");
  g_assert_cmpint (info->phase, ==, VF_JOB_REJECTED);
  g_assert_true (g_str_has_prefix (info->status, "rejected invalid_prompt: "));
  g_assert_true (g_str_has_suffix (info->status, "\n"));
  g_assert_nonnull (info->error);
  g_assert_nonnull (strstr (info->error, "four"));
  g_assert_null (info->id);
  g_assert_null (info->request_json);
  g_assert_false (vf_jobs_is_submitted (f->jobs, "bird.txt"));
  kept = vf_jobs_get_prompt (f->jobs, "bird.txt");
  g_assert_cmpmem (g_bytes_get_data (kept, NULL), g_bytes_get_size (kept), bad, strlen (bad));

  g_assert_false (vf_jobs_submit (f->jobs, "j.json", "{\"prompt\": ", 11, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);

  vf_set_error (&error, VF_ERROR_TOO_LARGE, "the prompt is over 32 KiB");
  vf_jobs_reject (f->jobs, "big.txt", error);
  g_clear_error (&error);
  big = get_job (f, "big");
  g_assert_cmpstr (big->status, ==, "rejected invalid_prompt: the prompt is over 32 KiB\n");
  g_assert_cmpstr (big->error, ==, "invalid_prompt: the prompt is over 32 KiB\n");

  /* Nothing went out. */
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 0);
  g_assert_cmpint (sim_requests (f->sim, "ark_create"), ==, 0);

  /* A fixed prompt under the same name goes. */
  submit_ok (f, "bird.txt", "a bird");
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  events = events_of (f);
  g_assert_cmpuint (events->len, ==, 4);
  g_assert_cmpstr (event_word (events, 0), ==, "rejected");
  g_assert_cmpstr (event_word (events, 3), ==, "submitted");
  fixture_teardown (f);
}

static void
test_api_reject (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) fixed = NULL;
  const char *text = "a fox #reject";

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);

  g_assert_false (vf_jobs_submit (f->jobs, "fox.txt", text, strlen (text), &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpint (vf_error_to_errno (error), ==, EINVAL);
  g_clear_error (&error);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  info = get_job (f, "fox");
  g_assert_cmpint (info->phase, ==, VF_JOB_REJECTED);
  g_assert_true (g_str_has_prefix (info->status, "rejected moderation_blocked: "));
  g_assert_true (g_str_has_prefix (info->error, "moderation_blocked: "));
  g_assert_nonnull (info->request_json);
  g_assert_false (vf_jobs_is_submitted (f->jobs, "fox.txt"));

  /* The user fixes the prompt and saves again. */
  submit_ok (f, "fox.txt", "a fox");
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 2);
  fixed = get_job (f, "fox");
  g_assert_cmpint (fixed->phase, ==, VF_JOB_LIVE);
  g_assert_nonnull (fixed->id);
  g_assert_null (fixed->error);
  wait_status (f, "fox", "completed", 20);
  fixture_teardown (f);
}

static void
test_failed (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (GError) error = NULL;
  char buf[16];

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, TRUE, TRUE);
  submit_ok (f, "owl.txt", "an owl #fail");
  wait_status (f, "owl", "failed", 20);
  info = get_job (f, "owl");
  g_assert_true (g_str_has_prefix (info->status, "failed moderation_blocked: "));
  g_assert_true (g_str_has_prefix (info->error, "moderation_blocked: "));
  g_assert_cmpint (info->content_size[VF_VARIANT_VIDEO], ==, -1);
  g_assert_cmpint (read_copy (f, "owl", FALSE, VF_VARIANT_VIDEO, buf, sizeof buf, 0, NULL, &error),
                   ==, -1);
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 0);
  fixture_teardown (f);
}

/* ----- back-off and silence ----- */

static gboolean
retrieves_above (Fixture *f, gconstpointer data)
{
  return sim_requests (f->sim, "retrieve") > GPOINTER_TO_INT (data);
}

static void
test_rate_limit_backoff (void)
{
  Fixture fx, *f = &fx;
  const char *const args[] = { "--queue", "0.2", "--duration", "60", NULL };
  gint64 before, after;

  fixture_setup (f, args);
  fixture_open (f, 0.1, FALSE, TRUE);
  submit_ok (f, "slow.txt", "a slow one");
  wait_status (f, "slow", "in_progress", 20);

  before = sim_requests (f->sim, "retrieve");
  sim_fault (f->sim, "429:retry_after=2,count=1,call=retrieve");
  /* The next poll meets the 429; then nothing for the two seconds asked
   * (at most one answered poll was on its way when the fault came). */
  g_usleep (1500 * 1000);
  after = sim_requests (f->sim, "retrieve");
  g_assert_cmpint (after, >=, before + 1);
  g_assert_cmpint (after, <=, before + 2);
  /* Then polling goes on. */
  g_assert_true (wait_for (retrieves_above, f, GINT_TO_POINTER ((int)after), 10));
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  fixture_teardown (f);
}

static void
test_no_answer (void)
{
  Fixture fx, *f = &fx;
  const char *const args[] = { "--queue", "0.2", "--duration", "60", NULL };
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) back = NULL;

  fixture_setup (f, args);
  fixture_open (f, 0.1, FALSE, TRUE);
  submit_ok (f, "mute.txt", "a quiet one");
  wait_status (f, "mute", "in_progress", 20);
  sim_fault (f->sim, "5xx:status=503,call=retrieve");
  wait_status (f, "mute", "in_progress", 5);
  {
    gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC * time_scale ();

    for (;;)
      {
        g_autoptr (VfJobInfo) now = get_job (f, "mute");

        if (strstr (now->status, "(no answer for "))
          break;
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_usleep (20000);
      }
  }
  info = get_job (f, "mute");
  g_assert_true (g_str_has_prefix (info->status, "in_progress "));
  g_assert_true (g_str_has_suffix (info->status, "s)\n"));
  g_assert_nonnull (info->error);
  g_assert_true (g_str_has_prefix (info->error, "no answer from the API for "));

  sim_clear_faults (f->sim);
  {
    gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC * time_scale ();

    for (;;)
      {
        g_autoptr (VfJobInfo) now = get_job (f, "mute");

        if (!strstr (now->status, "no answer"))
          break;
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_usleep (20000);
      }
  }
  back = get_job (f, "mute");
  g_assert_null (back->error);
  fixture_teardown (f);
}

/* ----- lost answers ----- */

static void
test_lost_answer_adopted (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) adopted = NULL;
  g_autoptr (VfJobInfo) other = NULL;
  g_autoptr (GPtrArray) events = NULL;
  const char *text = "a lost cat";

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  /* Same prompt, made before: must not be taken for the lost one. */
  submit_ok (f, "first.txt", text);
  other = get_job (f, "first");

  sim_fault (f->sim, "drop_create:count=1");
  g_assert_false (vf_jobs_submit (f->jobs, "lost.txt", text, strlen (text), &error));
  g_assert_nonnull (error);
  g_assert_cmpint (vf_error_to_errno (error), ==, EIO);
  g_clear_error (&error);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 2);
  info = get_job (f, "lost");
  g_assert_cmpint (info->phase, ==, VF_JOB_UNKNOWN);
  g_assert_cmpstr (info->status, ==,
                   "unknown (the request was sent but no answer came; looking for it)\n");
  g_assert_nonnull (info->error);
  g_assert_true (vf_jobs_is_submitted (f->jobs, "lost.txt"));

  /* Never sent again on its own, nor by a second save. */
  g_assert_false (vf_jobs_submit (f->jobs, "lost.txt", text, strlen (text), &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_CONFLICT);
  g_clear_error (&error);

  vf_jobs_start (f->jobs);
  g_assert_true (wait_for (phase_is_live, f, "lost", 20));
  adopted = get_job (f, "lost");
  g_assert_nonnull (adopted->id);
  g_assert_cmpstr (adopted->id, !=, other->id);
  g_assert_cmpint (sim_requests (f->sim, "list"), >=, 1);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 2);
  g_assert_cmpint (sim_counter (f->sim, "jobs"), ==, 2);
  wait_status (f, "lost", "completed", 20);
  events = events_of (f);
  {
    gboolean seen_unknown = FALSE, seen_adopted = FALSE;

    for (guint i = 0; i < events->len; i++)
      {
        if (g_strcmp0 (event_word (events, i), "unknown") == 0)
          seen_unknown = TRUE;
        if (g_strcmp0 (event_word (events, i), "adopted") == 0)
          seen_adopted = TRUE;
      }
    g_assert_true (seen_unknown && seen_adopted);
  }
  fixture_teardown (f);
}

static gboolean
content_asked (Fixture *f, gconstpointer data)
{
  return sim_requests (f->sim, "content") >= 1;
}

/* A job adopted after the API finished it shows `completed` only once the
 * sizes of its content are known, as a polled one does: whenever its status
 * says `completed`, video.mp4 is there. */
static void
test_adopted_finished_waits_for_sizes (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) done = NULL;
  g_autoptr (GBytes) table = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autofree char *list = NULL;
  g_autofree char *row = NULL;
  const char *text = "a lost cat, found finished";
  json_t *page;
  long status;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  sim_fault (f->sim, "drop_create:count=1");
  g_assert_false (vf_jobs_submit (f->jobs, "lost.txt", text, strlen (text), &error));
  g_clear_error (&error);
  list = sim_control (f->sim, "GET", "/v1/videos?limit=1", NULL, &status, NULL);
  g_assert_cmpint (status, ==, 200);
  page = json_loads (list, 0, NULL);
  g_assert_nonnull (page);
  sim_complete (f->sim, json_string_value (json_object_get (
                            json_array_get (json_object_get (page, "data"), 0), "id")));
  json_decref (page);
  /* The size probes fail until the faults are cleared. */
  sim_fault (f->sim, "5xx:call=content");
  sim_reset_stats (f->sim);

  vf_jobs_start (f->jobs);
  g_assert_true (wait_for (phase_is_live, f, "lost", 20));
  g_assert_true (wait_for (content_asked, f, NULL, 20));
  info = get_job (f, "lost");
  g_assert_cmpint (info->content_size[VF_VARIANT_VIDEO], ==, -1);
  g_assert_true (g_str_has_prefix (info->status, "in_progress 100%"));
  table = vf_jobs_status_table (f->jobs, NULL);
  row = g_strndup (g_bytes_get_data (table, NULL), g_bytes_get_size (table));
  g_assert_nonnull (strstr (row, "\nlost  in_progress  100%"));

  sim_clear_faults (f->sim);
  wait_status (f, "lost", "completed", 20);
  done = get_job (f, "lost");
  g_assert_cmpint (done->content_size[VF_VARIANT_VIDEO], ==, VIDEO_BYTES);
  events = events_of (f);
  g_assert_cmpstr (event_word (events, events->len - 2), ==, "adopted");
  g_assert_cmpstr (event_word (events, events->len - 1), ==, "completed");
  fixture_teardown (f);
}

/* ----- content ----- */

static void
complete_job (Fixture *f, const char *name, const char *text, VfJobInfo **info)
{
  g_autofree char *prompt_file = g_strconcat (name, ".txt", NULL);

  submit_ok (f, prompt_file, text);
  wait_status (f, name, "completed", 20);
  *info = get_job (f, name);
}

static void
test_expired (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) after = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) events = NULL;
  char buf[100];

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);
  submit_ok (f, "old.txt", "an old video");
  wait_status (f, "old", "completed", 20);
  info = get_job (f, "old");
  sim_expire (f->sim, info->id);
  g_assert_cmpint (read_copy (f, "old", FALSE, VF_VARIANT_VIDEO, buf, sizeof buf, 0, NULL, &error),
                   ==, -1);
  g_assert_error (error, VF_ERROR, VF_ERROR_EXPIRED);
  g_assert_cmpint (vf_error_to_errno (error), ==, ENOENT);
  after = get_job (f, "old");
  g_assert_cmpstr (after->status, ==, "completed (expired)\n");
  g_assert_true (after->expired);
  events = events_of (f);
  g_assert_cmpstr (event_word (events, events->len - 1), ==, "expired");
  fixture_teardown (f);
}

static void
test_bad_content_refused (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) after = NULL;
  g_autoptr (VfJobInfo) fixed = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) video = NULL;
  g_autofree char *map = NULL;
  g_autofree char *cached = NULL;
  char buf[100];

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);
  submit_ok (f, "bad.txt", "a bad download");
  wait_status (f, "bad", "completed", 20);
  info = get_job (f, "bad");

  sim_fault (f->sim, "json_content");
  g_assert_cmpint (read_copy (f, "bad", FALSE, VF_VARIANT_VIDEO, buf, sizeof buf, 0, NULL, &error),
                   ==, -1);
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_assert_cmpint (vf_error_to_errno (error), ==, EIO);
  g_clear_error (&error);
  after = get_job (f, "bad");
  g_assert_nonnull (after->error);
  g_assert_true (g_str_has_prefix (after->error, "could not fetch video.mp4: "));
  cached = g_build_filename (f->cache_dir, info->id, "video", NULL);
  g_assert_false (g_file_test (cached, G_FILE_TEST_EXISTS));
  /* No byte of the error body was recorded as content. */
  map = g_build_filename (f->cache_dir, info->id, "video.ranges", NULL);
  g_assert_false (g_file_test (map, G_FILE_TEST_EXISTS));

  sim_clear_faults (f->sim);
  video = read_all (f, "bad", FALSE, VF_VARIANT_VIDEO, 65536, &error);
  g_assert_no_error (error);
  assert_truth (f, video, info->id, "video");
  fixed = get_job (f, "bad");
  g_assert_null (fixed->error);
  fixture_teardown (f);
}

static void
test_cut_resumed (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) video = NULL;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);
  submit_ok (f, "cut.txt", "a cut download");
  wait_status (f, "cut", "completed", 20);
  info = get_job (f, "cut");
  sim_reset_stats (f->sim);
  sim_fault (f->sim, "cut:after=50000,count=1");
  video = read_all (f, "cut", FALSE, VF_VARIANT_VIDEO, 65536, &error);
  g_assert_no_error (error);
  /* The cut one, then the rest from byte 50000. */
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 2);
  g_assert_cmpint (sim_counter (f->sim, "content_bytes"), ==, VIDEO_BYTES);
  assert_truth (f, video, info->id, "video");
  fixture_teardown (f);
}

typedef struct
{
  Fixture *f;
  GBytes *bytes;
} Reader;

static gpointer
reader_main (gpointer data)
{
  Reader *reader = data;
  g_autoptr (GError) error = NULL;

  reader->bytes = read_all (reader->f, "two", FALSE, VF_VARIANT_VIDEO, 32768, &error);
  g_assert_no_error (error);
  return NULL;
}

static void
test_readers_share_download (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (VfJobInfo) info = NULL;
  Reader readers[4];
  GThread *threads[4];

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);
  submit_ok (f, "two.txt", "two readers");
  wait_status (f, "two", "completed", 20);
  info = get_job (f, "two");
  sim_reset_stats (f->sim);
  sim_fault (f->sim, "slow:rate=400000");
  for (int i = 0; i < 4; i++)
    {
      readers[i].f = f;
      readers[i].bytes = NULL;
      threads[i] = g_thread_new ("reader", reader_main, &readers[i]);
    }
  for (int i = 0; i < 4; i++)
    {
      g_thread_join (threads[i]);
      assert_truth (f, readers[i].bytes, info->id, "video");
      g_bytes_unref (readers[i].bytes);
    }
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 1);
  fixture_teardown (f);
}

static void
test_cancelled_read (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GBytes) video = NULL;
  char buf[100];
  gint64 t0;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);
  submit_ok (f, "slow.txt", "a slow download");
  wait_status (f, "slow", "completed", 20);
  info = get_job (f, "slow");
  sim_fault (f->sim, "slow:rate=100000");
  g_cancellable_cancel (cancellable);
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (
      read_copy (f, "slow", FALSE, VF_VARIANT_VIDEO, buf, sizeof buf, 0, cancellable, &error), ==,
      -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (vf_error_to_errno (error), ==, EINTR);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, G_USEC_PER_SEC * time_scale ());
  g_clear_error (&error);
  /* The download went on for the next reader. */
  video = read_all (f, "slow", FALSE, VF_VARIANT_VIDEO, 65536, &error);
  g_assert_no_error (error);
  assert_truth (f, video, info->id, "video");
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 4);
  fixture_teardown (f);
}

/* ----- rename, forget ----- */

static void
test_rename_forget (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) renamed = NULL;
  g_autoptr (GPtrArray) names = NULL;
  g_autoptr (GBytes) video = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autofree char *cache = NULL;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);
  submit_ok (f, "a.txt", "job a");
  submit_ok (f, "b.txt", "job b");
  wait_status (f, "a", "completed", 20);
  info = get_job (f, "a");

  g_assert_false (vf_jobs_rename (f->jobs, "a", "b", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_CONFLICT);
  g_clear_error (&error);
  g_assert_false (vf_jobs_rename (f->jobs, "nope", "c", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (vf_jobs_rename (f->jobs, "a", "c", &error));
  g_assert_no_error (error);
  g_assert_null (vf_jobs_get (f->jobs, "a"));
  renamed = get_job (f, "c");
  g_assert_cmpstr (renamed->id, ==, info->id);
  g_assert_cmpstr (renamed->prompt_file, ==, "c.txt");
  g_assert_true (vf_jobs_is_submitted (f->jobs, "c.txt"));
  g_assert_false (vf_jobs_is_submitted (f->jobs, "a.txt"));
  names = vf_jobs_names (f->jobs);
  g_assert_cmpuint (names->len, ==, 2);
  g_assert_cmpstr (names->pdata[0], ==, "b");
  g_assert_cmpstr (names->pdata[1], ==, "c");

  video = read_all (f, "c", FALSE, VF_VARIANT_VIDEO, 65536, &error);
  g_assert_no_error (error);
  cache = g_build_filename (f->cache_dir, info->id, NULL);
  g_assert_true (g_file_test (cache, G_FILE_TEST_IS_DIR));

  g_assert_true (vf_jobs_forget (f->jobs, "c", &error));
  g_assert_no_error (error);
  g_assert_null (vf_jobs_get (f->jobs, "c"));
  g_assert_false (g_file_test (cache, G_FILE_TEST_EXISTS));
  g_assert_false (vf_jobs_forget (f->jobs, "c", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* Not deleted on the API without delete_remote. */
  g_assert_cmpint (sim_requests (f->sim, "delete"), ==, 0);
  events = events_of (f);
  {
    guint renamed_at = 0, forgotten_at = 0;

    /* b may complete meanwhile: look for these two among the rest. */
    for (guint i = 0; i < events->len; i++)
      {
        const char *job = json_string_value (json_object_get (events->pdata[i], "job"));

        if (g_strcmp0 (event_word (events, i), "renamed") == 0)
          {
            g_assert_cmpstr (job, ==, "c");
            g_assert_cmpstr (json_string_value (json_object_get (events->pdata[i], "from")), ==,
                             "a");
            renamed_at = i;
          }
        if (g_strcmp0 (event_word (events, i), "forgotten") == 0)
          {
            g_assert_cmpstr (job, ==, "c");
            forgotten_at = i;
          }
      }
    g_assert_cmpuint (renamed_at, >, 0);
    g_assert_cmpuint (forgotten_at, >, renamed_at);
  }
  g_clear_pointer (&f->jobs, vf_jobs_close);

  /* A reopened table remembers the rename and the forget. */
  fixture_open (f, 0.1, FALSE, FALSE);
  g_clear_pointer (&names, g_ptr_array_unref);
  names = vf_jobs_names (f->jobs);
  g_assert_cmpuint (names->len, ==, 1);
  g_assert_cmpstr (names->pdata[0], ==, "b");
  fixture_teardown (f);
}

static void
test_forget_delete_remote (void)
{
  Fixture fx, *f = &fx;
  VfJobsConfig config;
  g_autoptr (GError) error = NULL;

  fixture_setup (f, fast_args);
  fixture_config (f, &config, 0.1);
  config.delete_remote = TRUE;
  f->jobs = vf_jobs_open (&config, &error);
  g_assert_no_error (error);
  submit_ok (f, "gone.txt", "deleted remotely");
  g_assert_true (vf_jobs_forget (f->jobs, "gone", &error));
  g_assert_no_error (error);
  g_assert_cmpint (sim_requests (f->sim, "delete"), ==, 1);
  g_assert_null (vf_jobs_get (f->jobs, "gone"));
  fixture_teardown (f);
}

/* ----- reopening ----- */

static void
test_reopen_restores (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) before = g_ptr_array_new_with_free_func ((GDestroyNotify)vf_job_info_free);
  g_autoptr (GPtrArray) names = NULL;
  g_autoptr (GBytes) video = NULL;
  g_autoptr (GBytes) again = NULL;
  g_autofree char *old_part = NULL;
  const char *const order[] = { "api", "done", "local", "running" };
  const char *const args[]
      = { "--queue", "0.2", "--duration", "0.6", "--video-bytes", "200000", NULL };
  gint64 content;

  fixture_setup (f, args);
  fixture_open (f, 0.1, FALSE, TRUE);
  submit_ok (f, "done.txt", "finished before the remount");
  wait_status (f, "done", "completed", 20);
  video = read_all (f, "done", FALSE, VF_VARIANT_VIDEO, 65536, &error);
  g_assert_no_error (error);
  g_clear_pointer (&f->jobs, vf_jobs_close);

  /* Without the poller, so nothing changes between the looks. */
  fixture_open (f, 0.1, FALSE, FALSE);
  g_assert_false (vf_jobs_submit (f->jobs, "local.txt", "---\nsize: big\n---\nx", 20, &error));
  g_clear_error (&error);
  g_assert_false (vf_jobs_submit (f->jobs, "api.txt", "#reject", 7, &error));
  g_clear_error (&error);
  submit_ok (f, "running.txt", "still running at the remount");
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    g_ptr_array_add (before, get_job (f, order[i]));
  g_clear_pointer (&f->jobs, vf_jobs_close);

  /* A download of an earlier version, left half done: removed at open. */
  old_part = g_build_filename (f->cache_dir, ((VfJobInfo *)before->pdata[1])->id, ".thumbnail.part",
                               NULL);
  g_assert_true (g_file_set_contents (old_part, "stale", 5, &error));
  content = sim_requests (f->sim, "content");
  fixture_open (f, 0.1, FALSE, FALSE);
  g_assert_false (g_file_test (old_part, G_FILE_TEST_EXISTS));
  names = vf_jobs_names (f->jobs);
  g_assert_cmpuint (names->len, ==, G_N_ELEMENTS (order));
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    {
      g_autoptr (VfJobInfo) info = get_job (f, order[i]);
      VfJobInfo *old = before->pdata[i];

      g_assert_cmpstr (names->pdata[i], ==, order[i]);
      g_assert_cmpint (info->phase, ==, old->phase);
      g_assert_cmpstr (info->id, ==, old->id);
      g_assert_cmpstr (info->status, ==, old->status);
      g_assert_cmpstr (info->status_json, ==, old->status_json);
      g_assert_cmpstr (info->request_json, ==, old->request_json);
      g_assert_cmpstr (info->error, ==, old->error);
      g_assert_cmpstr (info->prompt_file, ==, old->prompt_file);
      g_assert_cmpint (info->created, ==, old->created);
      g_assert_cmpint (info->changed_us, ==, old->changed_us);
      for (int v = 0; v < 3; v++)
        g_assert_cmpint (info->content_size[v], ==, old->content_size[v]);
    }
  g_assert_true (vf_jobs_is_submitted (f->jobs, "done.txt"));
  g_assert_false (vf_jobs_is_submitted (f->jobs, "local.txt"));
  /* Served from the cache with no request. */
  again = read_all (f, "done", FALSE, VF_VARIANT_VIDEO, 65536, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (video, again));
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, content);
  /* And the unfinished one is polled to its end. */
  vf_jobs_start (f->jobs);
  wait_status (f, "running", "completed", 20);
  fixture_teardown (f);
}

static void
test_state_dir_busy (void)
{
  Fixture fx, *f = &fx;
  VfJobsConfig config;
  g_autoptr (GError) error = NULL;
  VfJobs *second;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  fixture_config (f, &config, 0.1);
  second = vf_jobs_open (&config, &error);
  g_assert_null (second);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_assert_cmpint (vf_error_to_errno (error), ==, EBUSY);
  fixture_teardown (f);
}

/* Every prefix of a journal loads: a crash can cut the file anywhere. */
static void
test_torn_journal (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *whole = NULL;
  gsize len;
  guint last = 0;
  guint n_cut, n_unsent = 0;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  for (int i = 0; i < 5; i++)
    {
      g_autofree char *file = g_strdup_printf ("t%d.txt", i);
      g_autofree char *text = g_strdup_printf ("torn %d", i);

      submit_ok (f, file, text);
    }
  g_assert_true (vf_jobs_rename (f->jobs, "t0", "u0", &error));
  g_assert_true (vf_jobs_forget (f->jobs, "t1", &error));
  /* Not compacted: the records as they were appended. */
  path = g_build_filename (f->state_dir, "journal", NULL);
  g_assert_true (g_file_get_contents (path, &whole, &len, &error));
  g_clear_pointer (&f->jobs, vf_jobs_close);

  for (gsize cut = 0;; cut = MIN (len, cut + MAX (1, len / 97)))
    {
      g_autoptr (GPtrArray) names = NULL;
      VfJobsConfig config;

      g_assert_true (g_file_set_contents (path, whole, cut, &error));
      fixture_config (f, &config, 0.1);
      f->jobs = vf_jobs_open (&config, &error);
      g_assert_no_error (error);
      names = vf_jobs_names (f->jobs);
      g_assert_cmpuint (names->len, <=, 5);
      n_cut = 0;
      for (guint i = 0; i < names->len; i++)
        {
          g_autoptr (VfJobInfo) info = get_job (f, names->pdata[i]);

          if (info->phase == VF_JOB_LIVE)
            continue;
          /* Only the save the cut went through: an intent with its mark
           * and its answer cut away is unknown, never lost; one cut from
           * its mark was never sent, and says so. */
          n_cut++;
          if (info->phase != VF_JOB_UNKNOWN)
            {
              g_assert_cmpint (info->phase, ==, VF_JOB_REJECTED);
              g_assert_true (g_str_has_prefix (info->status, "rejected not_sent: "));
              n_unsent++;
            }
        }
      g_assert_cmpuint (n_cut, <=, 1);
      last = names->len;
      g_clear_pointer (&f->jobs, vf_jobs_close);
      if (cut == len)
        break;
    }
  g_assert_cmpuint (last, ==, 4);
  g_assert_cmpuint (n_unsent, >, 0);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 5);
  fixture_teardown (f);
}

/* ----- videos/ and Ark ----- */

static gboolean
videos_count_is (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) ids = vf_jobs_video_ids (f->jobs);

  return ids->len == GPOINTER_TO_UINT (data) && sim_requests (f->sim, "list") > 0;
}

static gboolean
video_probed (Fixture *f, gconstpointer data)
{
  g_autoptr (VfJobInfo) info = vf_jobs_get_video (f->jobs, data);

  return info && info->content_size[VF_VARIANT_VIDEO] >= 0;
}

static void
test_videos (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (VfJobInfo) mine = NULL;
  g_autoptr (VfJobInfo) theirs = NULL;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (GPtrArray) ids = NULL;
  g_autoptr (GBytes) video = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfClient) other = NULL;
  g_autoptr (VfTask) task = NULL;
  VfCreateRequest request = { 0 };
  g_autoptr (json_t) body = json_pack ("{s:s, s:s}", "prompt", "made elsewhere", "model", "sora-2");

  fixture_setup (f, fast_args);
  /* A job made by another program on the same account. */
  other = test_client_new (f->sim, 0);
  request.body = body;
  task = vf_client_create (other, &request, &error);
  g_assert_no_error (error);
  sim_complete (f->sim, task->id);

  fixture_open (f, 0.1, FALSE, TRUE);
  complete_job (f, "mine", "made here", &mine);
  g_assert_true (wait_for (videos_count_is, f, GUINT_TO_POINTER (2), 10));
  ids = vf_jobs_video_ids (f->jobs);
  g_assert_true (g_strcmp0 (ids->pdata[0], task->id) == 0
                 || g_strcmp0 (ids->pdata[1], task->id) == 0);
  info = vf_jobs_get_video (f->jobs, mine->id);
  g_assert_cmpstr (info->name, ==, mine->id);
  g_assert_null (info->request_json);
  g_assert_null (info->prompt_file);
  g_assert_cmpstr (info->status, ==, "completed\n");
  g_assert_null (vf_jobs_get_video (f->jobs, "video_nope"));

  g_assert_true (wait_for (video_probed, f, task->id, 10));
  theirs = vf_jobs_get_video (f->jobs, task->id);
  g_assert_cmpstr (theirs->status, ==, "completed\n");
  g_assert_nonnull (theirs->status_json);
  g_assert_cmpint (theirs->content_size[VF_VARIANT_VIDEO], ==, VIDEO_BYTES);
  video = read_all (f, task->id, TRUE, VF_VARIANT_VIDEO, 65536, &error);
  g_assert_no_error (error);
  assert_truth (f, video, task->id, "video");
  fixture_teardown (f);
}

static void
test_ark (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (GBytes) video = NULL;
  g_autoptr (GError) error = NULL;
  const char *text = "---\nmodel: doubao-seedance-1-0-pro-250528\nseconds: 5\nsize: 1280x720\n---\n"
                     "a river at dawn\n";
  char buf[10];

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);
  submit_ok (f, "river.txt", text);
  g_assert_cmpint (sim_requests (f->sim, "ark_create"), ==, 1);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 0);
  info = get_job (f, "river");
  g_assert_cmpint (info->protocol, ==, VF_PROTO_ARK);
  g_assert_true (g_str_has_prefix (info->id, "cgt-"));
  g_assert_nonnull (strstr (info->request_json, "a river at dawn --duration 5 --ratio 16:9"));
  g_clear_pointer (&info, vf_job_info_free);
  wait_status (f, "river", "completed", 20);
  info = get_job (f, "river");
  g_assert_cmpint (info->content_size[VF_VARIANT_VIDEO], ==, VIDEO_BYTES);
  g_assert_cmpint (info->content_size[VF_VARIANT_THUMBNAIL], ==, -1);
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 0);
  video = read_all (f, "river", FALSE, VF_VARIANT_VIDEO, 65536, &error);
  g_assert_no_error (error);
  assert_truth (f, video, info->id, "video");
  g_assert_cmpint (sim_requests (f->sim, "file"), ==, 2);
  g_assert_cmpint (sim_counter (f->sim, "bearer_on_presigned"), ==, 0);
  g_assert_cmpint (
      read_copy (f, "river", FALSE, VF_VARIANT_THUMBNAIL, buf, sizeof buf, 0, NULL, &error), ==,
      -1);
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  fixture_teardown (f);
}

static void
test_status_table (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GBytes) table = NULL;
  g_autoptr (VfJobInfo) a = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  gint64 changed = 0;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  submit_ok (f, "alpha.txt", "alpha");
  g_assert_false (vf_jobs_submit (f->jobs, "b.txt", "#reject", 7, &error));
  a = get_job (f, "alpha");
  table = vf_jobs_status_table (f->jobs, &changed);
  expected = g_strdup_printf ("NAME   STATE     PROGRESS  ID\n"
                              "alpha  queued    0%%        %s\n"
                              "b      rejected  -         -\n",
                              a->id);
  g_assert_cmpstr (g_bytes_get_data (table, NULL), ==, expected);
  g_assert_cmpuint (g_bytes_get_size (table), ==, strlen (expected));
  g_assert_cmpint (changed, >=, a->changed_us);
  fixture_teardown (f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/jobs/submit-to-download", test_submit_to_download);
  g_test_add_func ("/jobs/prefetch", test_prefetch);
  g_test_add_func ("/jobs/local-reject", test_local_reject);
  g_test_add_func ("/jobs/api-reject", test_api_reject);
  g_test_add_func ("/jobs/failed", test_failed);
  g_test_add_func ("/jobs/rate-limit-backoff", test_rate_limit_backoff);
  g_test_add_func ("/jobs/no-answer", test_no_answer);
  g_test_add_func ("/jobs/lost-answer-adopted", test_lost_answer_adopted);
  g_test_add_func ("/jobs/adopted-finished-waits-for-sizes", test_adopted_finished_waits_for_sizes);
  g_test_add_func ("/jobs/expired", test_expired);
  g_test_add_func ("/jobs/bad-content-refused", test_bad_content_refused);
  g_test_add_func ("/jobs/cut-resumed", test_cut_resumed);
  g_test_add_func ("/jobs/readers-share-download", test_readers_share_download);
  g_test_add_func ("/jobs/cancelled-read", test_cancelled_read);
  g_test_add_func ("/jobs/rename-forget", test_rename_forget);
  g_test_add_func ("/jobs/forget-delete-remote", test_forget_delete_remote);
  g_test_add_func ("/jobs/reopen-restores", test_reopen_restores);
  g_test_add_func ("/jobs/state-dir-busy", test_state_dir_busy);
  g_test_add_func ("/jobs/torn-journal", test_torn_journal);
  g_test_add_func ("/jobs/videos", test_videos);
  g_test_add_func ("/jobs/ark", test_ark);
  g_test_add_func ("/jobs/status-table", test_status_table);
  return g_test_run ();
}
