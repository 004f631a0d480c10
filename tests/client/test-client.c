/* test-client.c: both protocols, the retry rules and the content checks,
 * against videofs-sim, with the simulator's own request counts as the
 * witness. */
#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "responder.h"
#include "sim.h"
#include "vf-client.h"
#include "vf-error.h"

#define TOKEN "sk-test-4f1c2a9e7b3d5e60"
#define VIDEO_BYTES 300000
#define VIDEO_BYTES_TEXT "300000"

static const char *const sim_args[]
    = { "--token", TOKEN, "--video-bytes", VIDEO_BYTES_TEXT, "--duration", "3600", NULL };

typedef struct
{
  Sim *sim;
  VfClient *client;
  gint sleeps;      /* atomic */
  gint64 slept_ms;  /* sum of the waits */
  gint64 last_wait; /* the last wait */
  GMutex lock;
} Fixture;

static double
zero_random (gpointer user_data)
{
  return 0.0;
}

/* The tests do not wait for real: they record what the client would have
 * waited. */
static void
record_sleep (gint64 ms, gpointer user_data)
{
  Fixture *f = user_data;

  g_mutex_lock (&f->lock);
  f->sleeps++;
  f->slept_ms += ms;
  f->last_wait = ms;
  g_mutex_unlock (&f->lock);
}

typedef void (*TweakFunc) (VfClientConfig *config);

static VfClient *
client_new (Fixture *f, const char *endpoint, const char *token, TweakFunc tweak)
{
  VfClientConfig config;
  g_autoptr (GError) error = NULL;
  VfClient *client;

  vf_client_config_init (&config);
  config.endpoint = endpoint;
  config.ark_endpoint = f->sim ? f->sim->ark_base : NULL;
  config.token = token;
  config.retry.random = zero_random;
  config.retry.sleep_ms = record_sleep;
  config.retry.user_data = f;
  config.http.connect_timeout_s = 5;
  config.http.low_speed_time_s = 10;
  if (tweak)
    tweak (&config);
  client = vf_client_new (&config, &error);
  g_assert_no_error (error);
  return client;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_mutex_init (&f->lock);
  f->sim = sim_start (sim_args);
  f->client = client_new (f, f->sim->base, TOKEN, NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->client, vf_client_free);
  sim_stop (f->sim);
  g_mutex_clear (&f->lock);
}

static VfTask *
create_openai (VfClient *client, const char *prompt, GError **error)
{
  g_autoptr (json_t) body = json_pack ("{s:s, s:s, s:s, s:s}", "prompt", prompt, "model", "sora-2",
                                       "seconds", "4", "size", "720x1280");
  VfCreateRequest request = { .body = body };

  return vf_client_create (client, &request, error);
}

static VfTask *
create_ark (VfClient *client, const char *prompt, GError **error)
{
  g_autoptr (json_t) body
      = json_pack ("{s:s, s:[{s:s, s:s}]}", "model", "doubao-seedance-1-0-pro-250528", "content",
                   "type", "text", "text", prompt);
  VfCreateRequest request = { .body = body };

  return vf_client_create (client, &request, error);
}

/* A created, completed OpenAI job. */
static VfTask *
completed_openai (Fixture *f, const char *prompt)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = create_openai (f->client, prompt, &error);
  VfTask *done;

  g_assert_no_error (error);
  sim_complete (f->sim, task->id);
  done = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (done->state, ==, VF_STATE_COMPLETED);
  return done;
}

typedef struct
{
  GByteArray *bytes;
  int calls;
} Collect;

static gboolean
collect_sink (const void *data, gsize len, gpointer user_data, GError **error)
{
  Collect *c = user_data;

  g_byte_array_append (c->bytes, data, len);
  c->calls++;
  return TRUE;
}

static void
collect_init (Collect *c)
{
  c->bytes = g_byte_array_new ();
  c->calls = 0;
}

static void
collect_clear (Collect *c)
{
  g_byte_array_unref (c->bytes);
}

static void
assert_bytes (const GByteArray *got, GBytes *truth, gsize offset, gsize length)
{
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (truth, &size);

  g_assert_cmpuint (offset + length, <=, size);
  g_assert_cmpuint (got->len, ==, length);
  g_assert_true (memcmp (got->data, data + offset, length) == 0);
}

static void
assert_no_token (const GError *error)
{
  g_assert_nonnull (error);
  g_assert_null (strstr (error->message, TOKEN));
  g_assert_null (strstr (error->message, "4f1c2a9e7b3d5e60"));
  if (vf_error_api_message (error))
    g_assert_null (strstr (vf_error_api_message (error), TOKEN));
}

/* ----- OpenAI ----- */

static void
test_openai_create_retrieve (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (VfTask) again = NULL;
  g_autoptr (VfTask) done = NULL;

  task = create_openai (f->client, "a red kite over a beach", &error);
  g_assert_no_error (error);
  g_assert_nonnull (task->id);
  g_assert_cmpint (task->protocol, ==, VF_PROTO_OPENAI);
  g_assert_true (task->state == VF_STATE_QUEUED || task->state == VF_STATE_IN_PROGRESS);
  g_assert_cmpstr (task->model, ==, "sora-2");
  g_assert_cmpstr (task->prompt, ==, "a red kite over a beach");
  g_assert_cmpstr (task->seconds, ==, "4");
  g_assert_cmpstr (task->size, ==, "720x1280");
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);

  again = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again->id, ==, task->id);
  g_assert_cmpint (again->poll_after_ms, >=, 0);

  sim_complete (f->sim, task->id);
  done = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (done->state, ==, VF_STATE_COMPLETED);
  g_assert_cmpint (done->progress, ==, 100);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 2);
  g_assert_cmpint (f->sleeps, ==, 0);
}

static void
test_openai_create_multipart (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autofree char *dir = g_dir_make_tmp ("videofs-test-XXXXXX", &error);
  g_autofree char *image = NULL;
  g_autofree char *missing = NULL;
  static const guint8 png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0 };
  g_autoptr (json_t) body = json_pack ("{s:s, s:s, s:s, s:s}", "prompt", "the picture, moving",
                                       "model", "sora-2", "seconds", "8", "size", "1280x720");
  VfCreateRequest request = { .body = body };

  g_assert_no_error (error);
  image = g_build_filename (dir, "still.png", NULL);
  missing = g_build_filename (dir, "missing.png", NULL);
  g_file_set_contents (image, (const char *)png, sizeof png, &error);
  g_assert_no_error (error);

  /* a missing image sends nothing */
  request.image_path = missing;
  task = vf_client_create (f->client, &request, &error);
  g_assert_null (task);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 0);

  request.image_path = image;
  task = vf_client_create (f->client, &request, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (task->prompt, ==, "the picture, moving");
  g_assert_cmpstr (task->seconds, ==, "8");
  g_assert_cmpstr (task->size, ==, "1280x720");
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);

  g_unlink (image);
  g_rmdir (dir);
}

static void
test_openai_list (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) made = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *cursor = NULL;
  int pages = 0;

  for (int i = 0; i < 3; i++)
    {
      g_autofree char *prompt = g_strdup_printf ("list me %d", i);
      g_autoptr (VfTask) task = create_openai (f->client, prompt, &error);

      g_assert_no_error (error);
      g_hash_table_add (made, g_strdup (task->id));
    }

  for (;;)
    {
      g_autoptr (VfTaskPage) page = vf_client_list (f->client, VF_PROTO_OPENAI, cursor, 1, &error);

      g_assert_no_error (error);
      pages++;
      g_assert_cmpuint (page->tasks->len, ==, 1);
      for (guint i = 0; i < page->tasks->len; i++)
        {
          VfTask *task = g_ptr_array_index (page->tasks, i);

          g_assert_true (g_hash_table_contains (made, task->id));
          g_assert_false (g_hash_table_contains (seen, task->id));
          g_hash_table_add (seen, g_strdup (task->id));
        }
      if (!page->has_more)
        break;
      g_assert_nonnull (page->next_cursor);
      g_free (cursor);
      cursor = g_strdup (page->next_cursor);
      g_assert_cmpint (pages, <, 10);
    }
  g_assert_cmpint (pages, ==, 3);
  g_assert_cmpuint (g_hash_table_size (seen), ==, 3);
  g_assert_cmpint (sim_requests (f->sim, "list"), ==, 3);
}

static void
test_openai_delete (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = create_openai (f->client, "short-lived", &error);
  g_autoptr (VfTask) gone = NULL;

  g_assert_no_error (error);
  g_assert_true (vf_client_delete (f->client, VF_PROTO_OPENAI, task->id, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sim_requests (f->sim, "delete"), ==, 1);

  gone = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_null (gone);
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_assert_cmpint (vf_error_to_errno (error), ==, ENOENT);
  g_assert_cmpint (vf_error_http_status (error), ==, 404);
  g_clear_error (&error);

  g_assert_false (vf_client_delete (f->client, VF_PROTO_OPENAI, task->id, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  /* 404 is final: no retries */
  g_assert_cmpint (sim_requests (f->sim, "delete"), ==, 2);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 1);
  g_assert_cmpint (f->sleeps, ==, 0);
}

static void
test_openai_remix (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) done = completed_openai (f, "original take");
  g_autoptr (VfTask) remix = NULL;
  g_autoptr (VfTask) none = NULL;

  remix = vf_client_remix (f->client, VF_PROTO_OPENAI, done->id, "the same, at night", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (remix->remixed_from, ==, done->id);
  g_assert_cmpstr (remix->prompt, ==, "the same, at night");
  g_assert_cmpstr (remix->id, !=, done->id);
  g_assert_cmpint (sim_requests (f->sim, "remix"), ==, 1);

  none = vf_client_remix (f->client, VF_PROTO_OPENAI, "video_does_not_exist", "x", &error);
  g_assert_null (none);
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_assert_cmpint (sim_requests (f->sim, "remix"), ==, 2);
}

static void
test_openai_content (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = completed_openai (f, "content please");
  g_autoptr (GBytes) truth = sim_truth (f->sim, task->id, "video");
  g_autofree char *etag = NULL;
  VfContentInfo info = { 0 };
  Collect c;

  g_assert_cmpuint (g_bytes_get_size (truth), ==, VIDEO_BYTES);

  /* whole */
  collect_init (&c);
  g_assert_true (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                    &c, &info, NULL, &error));
  g_assert_no_error (error);
  assert_bytes (c.bytes, truth, 0, VIDEO_BYTES);
  g_assert_cmpint (info.status, ==, 200);
  g_assert_cmpint (info.total_size, ==, VIDEO_BYTES);
  g_assert_cmpint (info.start, ==, 0);
  g_assert_cmpint (info.length, ==, VIDEO_BYTES);
  g_assert_true (info.ranges);
  g_assert_nonnull (info.etag);
  etag = g_strdup (info.etag);
  collect_clear (&c);
  vf_content_info_clear (&info);

  /* a range in the middle */
  collect_init (&c);
  g_assert_true (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 1000, 5000, NULL,
                                    collect_sink, &c, &info, NULL, &error));
  g_assert_no_error (error);
  assert_bytes (c.bytes, truth, 1000, 5000);
  g_assert_cmpint (info.status, ==, 206);
  g_assert_cmpint (info.start, ==, 1000);
  g_assert_cmpint (info.length, ==, 5000);
  g_assert_cmpint (info.total_size, ==, VIDEO_BYTES);
  g_assert_true (info.ranges);
  collect_clear (&c);
  vf_content_info_clear (&info);

  /* the tail, open-ended, with a matching If-Range */
  collect_init (&c);
  g_assert_true (vf_client_content (f->client, task, VF_VARIANT_VIDEO, VIDEO_BYTES - 100, -1, etag,
                                    collect_sink, &c, &info, NULL, &error));
  g_assert_no_error (error);
  assert_bytes (c.bytes, truth, VIDEO_BYTES - 100, 100);
  g_assert_cmpint (info.status, ==, 206);
  g_assert_cmpint (info.start, ==, VIDEO_BYTES - 100);
  collect_clear (&c);
  vf_content_info_clear (&info);

  /* a range past the end asked for: what there is */
  collect_init (&c);
  g_assert_true (vf_client_content (f->client, task, VF_VARIANT_VIDEO, VIDEO_BYTES - 10, 1000, NULL,
                                    collect_sink, &c, &info, NULL, &error));
  g_assert_no_error (error);
  assert_bytes (c.bytes, truth, VIDEO_BYTES - 10, 10);
  collect_clear (&c);
  vf_content_info_clear (&info);

  /* If-Range with another ETag: the content changed, nothing reaches the sink */
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 1000, 5000,
                                     "\"some-other-etag\"", collect_sink, &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_assert_cmpuint (c.bytes->len, ==, 0);
  g_clear_error (&error);
  collect_clear (&c);
  vf_content_info_clear (&info);

  /* the other variants */
  for (VfVariant v = VF_VARIANT_THUMBNAIL; v <= VF_VARIANT_SPRITESHEET; v++)
    {
      g_autoptr (GBytes) other = sim_truth (f->sim, task->id, vf_variant_name (v));

      collect_init (&c);
      g_assert_true (vf_client_content (f->client, task, v, 0, -1, NULL, collect_sink, &c, &info,
                                        NULL, &error));
      g_assert_no_error (error);
      assert_bytes (c.bytes, other, 0, g_bytes_get_size (other));
      g_assert_cmpint (info.total_size, ==, (gint64)g_bytes_get_size (other));
      g_assert_false (g_bytes_equal (other, truth));
      collect_clear (&c);
      vf_content_info_clear (&info);
    }
  g_assert_cmpstr (vf_variant_file_name (VF_VARIANT_VIDEO), ==, "video.mp4");
  g_assert_cmpstr (vf_variant_file_name (VF_VARIANT_THUMBNAIL), ==, "thumbnail.webp");
  g_assert_cmpstr (vf_variant_file_name (VF_VARIANT_SPRITESHEET), ==, "spritesheet.jpg");
  g_assert_cmpstr (vf_variant_name (VF_VARIANT_LAST_FRAME), ==, "last_frame");
  g_assert_cmpstr (vf_variant_file_name (VF_VARIANT_LAST_FRAME), ==, "last_frame.png");

  /* probe */
  g_assert_true (vf_client_content_probe (f->client, task, VF_VARIANT_VIDEO, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpint (info.total_size, ==, VIDEO_BYTES);
  g_assert_cmpstr (info.etag, ==, etag);
  g_assert_true (info.ranges);
  vf_content_info_clear (&info);

  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 8);
  g_assert_cmpint (f->sleeps, ==, 0);
}

static void
test_openai_content_errors (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) pending = create_openai (f->client, "not yet", &error);
  g_autoptr (VfTask) done = completed_openai (f, "then gone");
  g_autoptr (VfTask) unknown = vf_task_new ();
  VfContentInfo info = { 0 };
  Collect c;

  g_assert_no_error (error);

  /* before completion: 400 "not ready" */
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, pending, VF_VARIANT_VIDEO, 0, -1, NULL,
                                     collect_sink, &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpint (vf_error_http_status (error), ==, 400);
  g_assert_cmpint (vf_error_to_errno (error), ==, EINVAL);
  g_assert_cmpuint (c.bytes->len, ==, 0);
  g_clear_error (&error);
  collect_clear (&c);

  /* an id the server does not know */
  unknown->id = g_strdup ("video_0000000000000000");
  unknown->protocol = VF_PROTO_OPENAI;
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, unknown, VF_VARIANT_VIDEO, 0, -1, NULL,
                                     collect_sink, &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_assert_cmpint (vf_error_to_errno (error), ==, ENOENT);
  g_assert_cmpuint (c.bytes->len, ==, 0);
  g_clear_error (&error);
  collect_clear (&c);

  /* expired content */
  sim_expire (f->sim, done->id);
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, done, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                     &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_assert_cmpuint (c.bytes->len, ==, 0);
  g_clear_error (&error);
  collect_clear (&c);

  g_assert_false (vf_client_content_probe (f->client, done, VF_VARIANT_VIDEO, &info, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* bad arguments send nothing */
  sim_reset_stats (f->sim);
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, done, VF_VARIANT_VIDEO, -1, -1, NULL, collect_sink,
                                     &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (vf_client_content (f->client, done, VF_VARIANT_VIDEO, 0, 0, NULL, collect_sink,
                                     &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);
  collect_clear (&c);
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 0);
  vf_content_info_clear (&info);
}

/* ----- Ark ----- */

static void
test_ark (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (VfTask) running = NULL;
  g_autoptr (VfTask) done = NULL;
  g_autoptr (VfTask) gone = NULL;
  g_autoptr (GBytes) truth = NULL;
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *cursor = NULL;
  VfContentInfo info = { 0 };
  Collect c;
  int pages = 0;

  g_assert_cmpint (vf_client_protocol_for_model (f->client, "doubao-seedance-1-0-pro-250528"), ==,
                   VF_PROTO_ARK);

  task = create_ark (f->client, "a paper boat in the rain --ratio 16:9", &error);
  g_assert_no_error (error);
  g_assert_cmpint (task->protocol, ==, VF_PROTO_ARK);
  g_assert_true (g_str_has_prefix (task->id, "cgt-"));
  g_assert_cmpint (task->state, ==, VF_STATE_QUEUED);
  g_assert_cmpstr (task->model, ==, "doubao-seedance-1-0-pro-250528");
  g_assert_cmpint (sim_requests (f->sim, "ark_create"), ==, 1);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 0);

  running = vf_client_retrieve (f->client, VF_PROTO_ARK, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (running->id, ==, task->id);
  g_assert_true (running->state == VF_STATE_QUEUED || running->state == VF_STATE_IN_PROGRESS);
  g_assert_null (running->video_url);

  /* no video yet: nothing to fetch, nothing sent */
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, running, VF_VARIANT_VIDEO, 0, -1, NULL,
                                     collect_sink, &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_clear_error (&error);
  collect_clear (&c);

  sim_complete (f->sim, task->id);
  done = vf_client_retrieve (f->client, VF_PROTO_ARK, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (done->state, ==, VF_STATE_COMPLETED);
  g_assert_cmpstr (done->state_word, ==, "succeeded");
  g_assert_nonnull (done->video_url);
  g_assert_cmpint (sim_requests (f->sim, "ark_retrieve"), ==, 2);

  /* content through the pre-signed URL, with no bearer */
  truth = sim_truth (f->sim, task->id, "video");
  collect_init (&c);
  g_assert_true (vf_client_content (f->client, done, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                    &c, &info, NULL, &error));
  g_assert_no_error (error);
  assert_bytes (c.bytes, truth, 0, VIDEO_BYTES);
  collect_clear (&c);
  vf_content_info_clear (&info);

  collect_init (&c);
  g_assert_true (vf_client_content (f->client, done, VF_VARIANT_VIDEO, 4096, 4096, NULL,
                                    collect_sink, &c, &info, NULL, &error));
  g_assert_no_error (error);
  assert_bytes (c.bytes, truth, 4096, 4096);
  collect_clear (&c);
  vf_content_info_clear (&info);

  g_assert_true (vf_client_content_probe (f->client, done, VF_VARIANT_VIDEO, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpint (info.total_size, ==, VIDEO_BYTES);
  vf_content_info_clear (&info);

  g_assert_cmpint (sim_requests (f->sim, "file"), ==, 3);
  g_assert_cmpint (sim_counter (f->sim, "bearer_on_presigned"), ==, 0);

  /* Ark has no thumbnails or sprite sheets: refused without a request */
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, done, VF_VARIANT_THUMBNAIL, 0, -1, NULL,
                                     collect_sink, &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (vf_client_content_probe (f->client, done, VF_VARIANT_SPRITESHEET, &info, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_clear_error (&error);
  collect_clear (&c);
  g_assert_cmpint (sim_requests (f->sim, "file"), ==, 3);

  /* list, one per page */
  for (int i = 0; i < 2; i++)
    {
      g_autoptr (VfTask) more G_GNUC_UNUSED = create_ark (f->client, "another", &error);

      g_assert_no_error (error);
    }
  for (;;)
    {
      g_autoptr (VfTaskPage) page = vf_client_list (f->client, VF_PROTO_ARK, cursor, 1, &error);

      g_assert_no_error (error);
      pages++;
      g_assert_cmpint (page->total, ==, 3);
      g_assert_cmpuint (page->tasks->len, ==, 1);
      g_hash_table_add (seen, g_strdup (((VfTask *)g_ptr_array_index (page->tasks, 0))->id));
      if (!page->has_more)
        break;
      g_free (cursor);
      cursor = g_strdup (page->next_cursor);
      g_assert_cmpint (pages, <, 10);
    }
  g_assert_cmpint (pages, ==, 3);
  g_assert_cmpuint (g_hash_table_size (seen), ==, 3);
  g_assert_true (g_hash_table_contains (seen, task->id));
  g_assert_cmpint (sim_requests (f->sim, "ark_list"), ==, 3);

  {
    g_autoptr (VfTaskPage) page = vf_client_list (f->client, VF_PROTO_ARK, "page two", 1, &error);

    g_assert_null (page);
    g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
    g_clear_error (&error);
  }

  /* delete */
  g_assert_true (vf_client_delete (f->client, VF_PROTO_ARK, task->id, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sim_requests (f->sim, "ark_delete"), ==, 1);
  gone = vf_client_retrieve (f->client, VF_PROTO_ARK, task->id, &error);
  g_assert_null (gone);
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_assert_cmpint (sim_counter (f->sim, "unauthorized"), ==, 0);
}

/* ----- gone ----- */

/* A failed content call, checked for what vf_content_error_is_gone() says. */
static void
assert_content_fails (Fixture *f, const VfTask *task, VfVariant variant, int code, int status,
                      gboolean gone)
{
  g_autoptr (GError) error = NULL;
  VfContentInfo info = { 0 };
  Collect c;

  collect_init (&c);
  g_assert_false (vf_client_content (f->client, task, variant, 0, -1, NULL, collect_sink, &c, &info,
                                     NULL, &error));
  g_assert_error (error, VF_ERROR, code);
  g_assert_cmpint (vf_error_http_status (error), ==, status);
  g_assert_cmpint (vf_content_error_is_gone (error), ==, gone);
  g_assert_cmpuint (c.bytes->len, ==, 0);
  g_clear_error (&error);
  collect_clear (&c);

  g_assert_false (vf_client_content_probe (f->client, task, variant, &info, &error));
  g_assert_error (error, VF_ERROR, code);
  g_assert_cmpint (vf_content_error_is_gone (error), ==, gone);
  vf_content_info_clear (&info);
}

static void
test_content_gone (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) pending = create_openai (f->client, "not yet", &error);
  g_autoptr (VfTask) done = completed_openai (f, "then expired");
  g_autoptr (VfTask) ark = create_ark (f->client, "a river at dawn", &error);
  g_autoptr (VfTask) ark_running = NULL;
  g_autoptr (VfTask) ark_done = NULL;
  g_autoptr (VfTask) forged = NULL;
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) parts = NULL;

  g_assert_no_error (error);
  g_assert_false (vf_content_error_is_gone (NULL));
  vf_set_error (&local, VF_ERROR_NOT_FOUND, "no such thing here");
  g_assert_false (vf_content_error_is_gone (local));

  /* OpenAI: not ready yet is not gone; expired is */
  assert_content_fails (f, pending, VF_VARIANT_VIDEO, VF_ERROR_INVALID, 400, FALSE);
  sim_expire (f->sim, done->id);
  assert_content_fails (f, done, VF_VARIANT_VIDEO, VF_ERROR_NOT_FOUND, 404, TRUE);
  assert_content_fails (f, done, VF_VARIANT_THUMBNAIL, VF_ERROR_NOT_FOUND, 404, TRUE);

  /* Ark: no video_url yet, and a variant it never has, are not gone, and
   * send nothing */
  ark_running = vf_client_retrieve (f->client, VF_PROTO_ARK, ark->id, &error);
  g_assert_no_error (error);
  sim_reset_stats (f->sim);
  assert_content_fails (f, ark_running, VF_VARIANT_VIDEO, VF_ERROR_NOT_FOUND, -1, FALSE);
  sim_complete (f->sim, ark->id);
  ark_done = vf_client_retrieve (f->client, VF_PROTO_ARK, ark->id, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ark_done->video_url);
  assert_content_fails (f, ark_done, VF_VARIANT_THUMBNAIL, VF_ERROR_NOT_FOUND, -1, FALSE);
  g_assert_cmpint (sim_requests (f->sim, "file"), ==, 0);

  /* a pre-signed URL refused (403, as one past its time is) is gone */
  forged = vf_task_copy (ark_done);
  parts = g_strsplit (forged->video_url, "?sig=", 2);
  g_assert_cmpuint (g_strv_length (parts), ==, 2);
  g_free (forged->video_url);
  forged->video_url = g_strconcat (parts[0], "?sig=0000", NULL);
  assert_content_fails (f, forged, VF_VARIANT_VIDEO, VF_ERROR_EXPIRED, 403, TRUE);

  /* and so is the pre-signed URL of an expired task: the key is missing */
  sim_expire (f->sim, ark->id);
  assert_content_fails (f, ark_done, VF_VARIANT_VIDEO, VF_ERROR_NOT_FOUND, 404, TRUE);
  g_assert_cmpint (sim_requests (f->sim, "file"), ==, 4);
  g_assert_cmpint (sim_counter (f->sim, "bearer_on_presigned"), ==, 0);
}

/* The variants each protocol offers, and that content of others sends
 * nothing. */
static void
test_protocol_table (Fixture *f, gconstpointer data)
{
  VfProtocol protocol = VF_PROTO_OPENAI;
  const VfVariant *variants;
  gsize n = 99;

  variants = vf_protocol_variants (VF_PROTO_OPENAI, &n);
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpint (variants[0], ==, VF_VARIANT_VIDEO);
  g_assert_cmpint (variants[1], ==, VF_VARIANT_THUMBNAIL);
  g_assert_cmpint (variants[2], ==, VF_VARIANT_SPRITESHEET);
  variants = vf_protocol_variants (VF_PROTO_ARK, &n);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpint (variants[0], ==, VF_VARIANT_VIDEO);
  g_assert_cmpint (variants[1], ==, VF_VARIANT_LAST_FRAME);
  g_assert_true (vf_protocol_has_variant (VF_PROTO_ARK, VF_VARIANT_VIDEO));
  g_assert_true (vf_protocol_has_variant (VF_PROTO_ARK, VF_VARIANT_LAST_FRAME));
  g_assert_false (vf_protocol_has_variant (VF_PROTO_ARK, VF_VARIANT_SPRITESHEET));
  g_assert_true (vf_protocol_has_variant (VF_PROTO_OPENAI, VF_VARIANT_SPRITESHEET));
  g_assert_false (vf_protocol_has_variant (VF_PROTO_OPENAI, VF_VARIANT_LAST_FRAME));
  g_assert_null (vf_protocol_variants ((VfProtocol)VF_N_PROTOCOLS, &n));
  g_assert_cmpuint (n, ==, 0);

  g_assert_cmpstr (vf_protocol_name (VF_PROTO_OPENAI), ==, "openai");
  g_assert_cmpstr (vf_protocol_name (VF_PROTO_ARK), ==, "ark");
  g_assert_null (vf_protocol_name ((VfProtocol)VF_N_PROTOCOLS));
  g_assert_true (vf_protocol_from_name ("ARK", &protocol));
  g_assert_cmpint (protocol, ==, VF_PROTO_ARK);
  g_assert_false (vf_protocol_from_name ("grpc", &protocol));
  g_assert_false (vf_protocol_from_name (NULL, &protocol));
  g_assert_cmpint (protocol, ==, VF_PROTO_ARK);

  g_assert_cmpstr (vf_variant_name (VF_VARIANT_THUMBNAIL), ==, "thumbnail");
  g_assert_cmpstr (vf_variant_file_name (VF_VARIANT_SPRITESHEET), ==, "spritesheet.jpg");
  g_assert_cmpstr (vf_variant_name (VF_VARIANT_LAST_FRAME), ==, "last_frame");
  g_assert_cmpstr (vf_variant_file_name (VF_VARIANT_LAST_FRAME), ==, "last_frame.png");

  /* a prompt's body in each protocol's shape; a journal's task back */
  {
    g_autoptr (json_t) body = json_pack ("{s:s, s:s}", "model", "m", "prompt", "a fox");
    g_autoptr (json_t) same = vf_protocol_create_body (VF_PROTO_OPENAI, body);
    g_autoptr (json_t) ark = vf_protocol_create_body (VF_PROTO_ARK, body);
    g_autoptr (json_t) raw = json_pack ("{s:s, s:s}", "id", "cgt-7", "status", "running");
    g_autoptr (VfTask) task = vf_protocol_task_from_json (VF_PROTO_ARK, raw, NULL);

    g_assert_true (same == body);
    g_assert_cmpstr (json_string_value (json_object_get (ark, "model")), ==, "m");
    g_assert_cmpstr (json_string_value (json_object_get (
                         json_array_get (json_object_get (ark, "content"), 0), "text")),
                     ==, "a fox");
    g_assert_null (json_object_get (body, "content"));
    g_assert_cmpint (task->protocol, ==, VF_PROTO_ARK);
    g_assert_cmpint (task->state, ==, VF_STATE_IN_PROGRESS);
  }

  /* Ark has no remix: refused without a request */
  {
    g_autoptr (GError) error = NULL;

    g_assert_null (vf_client_remix (f->client, VF_PROTO_ARK, "cgt-1", "again", &error));
    g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
    g_assert_cmpint (sim_requests (f->sim, "remix"), ==, 0);
  }
}

/* ----- faults ----- */

static void
test_fault_429 (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = create_openai (f->client, "rate limited", &error);
  g_autoptr (VfTask) got = NULL;
  g_autoptr (VfTask) got2 = NULL;

  g_assert_no_error (error);
  sim_fault (f->sim, "429:count=1,retry_after=2,call=retrieve");
  got = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->id, ==, task->id);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 2);
  g_assert_cmpint (f->sleeps, ==, 1);
  g_assert_cmpint (f->last_wait, ==, 2000);

  /* retry-after-ms wins over the exponential wait */
  sim_fault (f->sim, "429:count=1,retry_after_ms=250,call=retrieve");
  got2 = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 4);
  g_assert_cmpint (f->sleeps, ==, 2);
  g_assert_cmpint (f->last_wait, ==, 250);

  /* for ever: three tries, then EAGAIN */
  sim_fault (f->sim, "429:retry_after=1,call=retrieve");
  g_assert_null (vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_RATE_LIMITED);
  g_assert_cmpint (vf_error_to_errno (error), ==, EAGAIN);
  g_assert_cmpint (vf_error_retry_after_ms (error), ==, 1000);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 7);
  g_assert_cmpint (f->sleeps, ==, 4);
  g_clear_error (&error);

  /* a create is not retried on a 429 */
  sim_clear_faults (f->sim);
  sim_fault (f->sim, "429:count=1,retry_after=1,call=create");
  g_assert_null (create_openai (f->client, "no second try", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_RATE_LIMITED);
  g_assert_true (vf_error_maybe_sent (error));
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 2);
  g_assert_cmpint (f->sleeps, ==, 4);
}

static void
test_fault_5xx (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = create_openai (f->client, "server trouble", &error);
  g_autoptr (VfTask) got = NULL;
  g_autoptr (VfTaskPage) page = NULL;

  g_assert_no_error (error);

  /* a burst of two: the third try wins, after 500 then 1000 ms */
  sim_fault (f->sim, "5xx:count=2,status=503,call=retrieve");
  got = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 3);
  g_assert_cmpint (f->sleeps, ==, 2);
  g_assert_cmpint (f->slept_ms, ==, 1500);

  /* lists too */
  sim_fault (f->sim, "5xx:count=1,status=500,call=list");
  page = vf_client_list (f->client, VF_PROTO_OPENAI, NULL, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (page->tasks->len, ==, 1);
  g_assert_cmpint (sim_requests (f->sim, "list"), ==, 2);

  /* for ever: bounded, then EIO */
  sim_fault (f->sim, "5xx:status=502,call=retrieve");
  g_assert_null (vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_SERVER);
  g_assert_cmpint (vf_error_http_status (error), ==, 502);
  g_assert_cmpint (vf_error_to_errno (error), ==, EIO);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 6);
  g_clear_error (&error);

  /* a create that got a 5xx may have made a job: never again */
  sim_clear_faults (f->sim);
  sim_fault (f->sim, "5xx:count=1,status=500,call=create");
  g_assert_null (create_openai (f->client, "maybe made", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_SERVER);
  g_assert_true (vf_error_maybe_sent (error));
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 2);
  g_clear_error (&error);

  /* nor a remix */
  sim_fault (f->sim, "5xx:count=1,status=500,call=remix");
  sim_complete (f->sim, task->id);
  g_assert_null (vf_client_remix (f->client, VF_PROTO_OPENAI, task->id, "again", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_SERVER);
  g_assert_cmpint (sim_requests (f->sim, "remix"), ==, 1);

  /* nor an Ark create */
  g_clear_error (&error);
  sim_fault (f->sim, "5xx:count=1,status=503,call=ark_create");
  g_assert_null (create_ark (f->client, "maybe made", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_SERVER);
  g_assert_cmpint (sim_requests (f->sim, "ark_create"), ==, 1);
}

static void
test_fault_should_retry (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = create_openai (f->client, "no retry", &error);

  g_assert_no_error (error);
  sim_fault (f->sim, "should_retry:value=false");
  sim_fault (f->sim, "5xx:count=1,status=503,call=retrieve");
  g_assert_null (vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_SERVER);
  g_assert_cmpint (vf_error_should_retry (error), ==, 0);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 1);
  g_assert_cmpint (f->sleeps, ==, 0);
  g_clear_error (&error);

  /* x-should-retry: true on a 429 of a create does not make it safe */
  sim_clear_faults (f->sim);
  sim_fault (f->sim, "should_retry:value=true");
  sim_fault (f->sim, "429:count=1,retry_after=1,call=create");
  g_assert_null (create_openai (f->client, "still once", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_RATE_LIMITED);
  g_assert_cmpint (vf_error_should_retry (error), ==, 1);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 2);
  g_assert_cmpint (f->sleeps, ==, 0);
}

static void
content_fault_setup (Fixture *f, VfTask **task, GBytes **truth)
{
  *task = completed_openai (f, "faulty content");
  *truth = sim_truth (f->sim, (*task)->id, "video");
}

static void
test_fault_cut (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GBytes) truth = NULL;
  VfContentInfo info = { 0 };
  Collect c;

  content_fault_setup (f, &task, &truth);
  sim_fault (f->sim, "cut:after=1000");
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                     &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  /* the sink saw a true prefix, shorter than the whole */
  g_assert_cmpuint (c.bytes->len, <, VIDEO_BYTES);
  g_assert_cmpuint (c.bytes->len, ==, 1000);
  assert_bytes (c.bytes, truth, 0, c.bytes->len);
  g_assert_cmpint (info.length, ==, VIDEO_BYTES);
  collect_clear (&c);
  vf_content_info_clear (&info);
  /* content is not retried here: one request */
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 1);
}

static void
test_fault_json_content (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GBytes) truth = NULL;
  VfContentInfo info = { 0 };
  Collect c;

  content_fault_setup (f, &task, &truth);
  sim_fault (f->sim, "json_content");
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                     &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_assert_cmpint (vf_error_to_errno (error), ==, EIO);
  g_assert_nonnull (vf_error_api_message (error));
  g_assert_nonnull (strstr (error->message, vf_error_api_message (error)));
  g_assert_cmpuint (c.bytes->len, ==, 0);
  g_assert_cmpint (c.calls, ==, 0);
  g_clear_error (&error);

  /* a range too */
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 10, 10, NULL, collect_sink,
                                     &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_assert_cmpuint (c.bytes->len, ==, 0);
  g_clear_error (&error);

  /* and the probe */
  g_assert_false (vf_client_content_probe (f->client, task, VF_VARIANT_VIDEO, &info, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  collect_clear (&c);
  vf_content_info_clear (&info);
}

static void
slow_tweak (VfClientConfig *config)
{
  config->http.low_speed_limit = 5000;
  config->http.low_speed_time_s = 1;
}

static void
test_fault_slow (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GBytes) truth = NULL;
  g_autoptr (VfClient) impatient = client_new (f, f->sim->base, TOKEN, slow_tweak);
  VfContentInfo info = { 0 };
  gint64 start;
  Collect c;

  content_fault_setup (f, &task, &truth);
  sim_fault (f->sim, "slow:rate=200");
  collect_init (&c);
  start = g_get_monotonic_time ();
  g_assert_false (vf_client_content (impatient, task, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                     &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_TIMEOUT);
  g_assert_cmpint (vf_error_to_errno (error), ==, ETIMEDOUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 15 * G_USEC_PER_SEC);
  g_assert_cmpuint (c.bytes->len, <, VIDEO_BYTES);
  assert_bytes (c.bytes, truth, 0, c.bytes->len);
  collect_clear (&c);
  vf_content_info_clear (&info);
}

typedef struct
{
  GCancellable *cancellable;
} CancelLater;

static gpointer
cancel_later (gpointer data)
{
  g_usleep (300 * 1000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_cancel (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GBytes) truth = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  VfContentInfo info = { 0 };
  GThread *thread;
  gint64 start;
  Collect c;

  content_fault_setup (f, &task, &truth);
  sim_fault (f->sim, "slow:rate=2000");
  collect_init (&c);
  start = g_get_monotonic_time ();
  thread = g_thread_new ("cancel", cancel_later, cancellable);
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                     &c, &info, cancellable, &error));
  g_thread_join (thread);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_clear_error (&error);

  /* cancelled before: nothing sent */
  sim_reset_stats (f->sim);
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                     &c, &info, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 0);
  collect_clear (&c);
  vf_content_info_clear (&info);
}

static void
hang_tweak (VfClientConfig *config)
{
  config->http.total_timeout_s = 2;
}

static void
test_fault_hang_create (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfClient) impatient = client_new (f, f->sim->base, TOKEN, hang_tweak);
  g_autoptr (VfTask) task = NULL;

  sim_fault (f->sim, "hang_create:seconds=8");
  task = create_openai (impatient, "held", &error);
  g_assert_null (task);
  g_assert_error (error, VF_ERROR, VF_ERROR_TIMEOUT);
  g_assert_true (vf_error_maybe_sent (error));
  g_assert_cmpint (vf_error_to_errno (error), ==, ETIMEDOUT);
  /* the proof that a create is not sent twice after a time-out */
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  g_assert_cmpint (sim_counter (f->sim, "jobs"), ==, 1);
  g_assert_cmpint (f->sleeps, ==, 0);
  sim_clear_faults (f->sim);
}

static void
test_fault_drop_create (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (VfTask) warm = NULL;

  /* a connection to reuse first: a dropped POST must not be resent on it */
  warm = create_openai (f->client, "warm up", &error);
  g_assert_no_error (error);
  sim_reset_stats (f->sim);

  sim_fault (f->sim, "drop_create:count=1");
  task = create_openai (f->client, "dropped", &error);
  g_assert_null (task);
  g_assert_error (error, VF_ERROR, VF_ERROR_NETWORK);
  g_assert_true (vf_error_maybe_sent (error));
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  g_assert_cmpint (sim_counter (f->sim, "jobs"), ==, 2);
  g_assert_cmpint (f->sleeps, ==, 0);
}

static int
free_port (void)
{
  g_autoptr (GSocket) socket
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (socket, address, FALSE, NULL));
  bound = g_socket_get_local_address (socket, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_closed_port (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *endpoint = g_strdup_printf ("http://127.0.0.1:%d/v1", free_port ());
  g_autoptr (VfClient) nowhere = client_new (f, endpoint, TOKEN, NULL);
  g_autoptr (VfTask) task = NULL;

  /* a create that provably never left is tried again */
  task = create_openai (nowhere, "nobody home", &error);
  g_assert_null (task);
  g_assert_error (error, VF_ERROR, VF_ERROR_NETWORK);
  g_assert_false (vf_error_maybe_sent (error));
  g_assert_cmpint (vf_error_to_errno (error), ==, EIO);
  g_assert_nonnull (strstr (error->message, endpoint));
  g_assert_cmpint (f->sleeps, ==, 2);
  g_assert_cmpint (f->slept_ms, ==, 500 + 1000);
  g_clear_error (&error);

  /* a read likewise */
  g_assert_null (vf_client_retrieve (nowhere, VF_PROTO_OPENAI, "video_123", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NETWORK);
  g_assert_cmpint (f->sleeps, ==, 4);
}

static void
connect_tweak (VfClientConfig *config)
{
  config->http.connect_timeout_s = 1;
}

/* A listener whose accept queue is full: the kernel drops new SYNs, so a
 * connect hangs until the client's connect time-out. */
static GSocket *
full_listener (int *port, GPtrArray *fillers)
{
  GSocket *listener
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (listener, address, FALSE, NULL));
  g_socket_set_listen_backlog (listener, 0);
  g_assert_true (g_socket_listen (listener, NULL));
  bound = g_socket_get_local_address (listener, NULL);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  for (int i = 0; i < 3; i++)
    {
      GSocket *filler
          = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);

      g_socket_set_blocking (filler, FALSE);
      g_socket_connect (filler, bound, NULL, NULL);
      g_ptr_array_add (fillers, filler);
    }
  g_usleep (100 * 1000);
  return listener;
}

static void
test_connect_timeout (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) fillers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GSocket) listener = NULL;
  g_autofree char *endpoint = NULL;
  g_autoptr (VfClient) client = NULL;
  g_autoptr (VfTask) task = NULL;
  gint64 start;
  int port;

  listener = full_listener (&port, fillers);
  endpoint = g_strdup_printf ("http://127.0.0.1:%d/v1", port);
  client = client_new (f, endpoint, TOKEN, connect_tweak);

  /* a connect-phase time-out: the request never left, so even a create is
   * tried again */
  start = g_get_monotonic_time ();
  task = create_openai (client, "never connected", &error);
  g_assert_null (task);
  g_assert_error (error, VF_ERROR, VF_ERROR_TIMEOUT);
  g_assert_false (vf_error_maybe_sent (error));
  g_assert_cmpint (vf_error_to_errno (error), ==, ETIMEDOUT);
  g_assert_cmpint (f->sleeps, ==, 2);
  /* three tries of about a second each */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 2 * G_USEC_PER_SEC);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
  g_socket_close (listener, NULL);
}

/* VIDEOFS_HTTP_DEBUG logs the exchange, and never the token. */
static void
capture_log (const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
  g_string_append_printf (user_data, "%s\n", message);
}

static void
test_debug_log (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) log = g_string_new (NULL);
  g_autoptr (VfClient) client = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (VfTask) got = NULL;
  guint handler;

  g_setenv ("VIDEOFS_HTTP_DEBUG", "1", TRUE);
  client = client_new (f, f->sim->base, TOKEN, NULL);
  g_unsetenv ("VIDEOFS_HTTP_DEBUG");
  handler = g_log_set_handler ("videofs", G_LOG_LEVEL_DEBUG, capture_log, log);
  task = create_openai (client, "logged", &error);
  g_assert_no_error (error);
  got = vf_client_retrieve (client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_no_error (error);
  g_log_remove_handler ("videofs", handler);

  g_assert_nonnull (strstr (log->str, "> POST /v1/videos"));
  g_assert_nonnull (strstr (log->str, "< HTTP/1.1 200"));
  g_assert_nonnull (strstr (log->str, "credentials, not shown"));
  g_assert_null (strstr (log->str, TOKEN));
  g_assert_null (strstr (log->str, "4f1c2a9e7b3d5e60"));
}

static void
test_probe_retried (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = completed_openai (f, "probed");
  VfContentInfo info = { 0 };
  Collect c;

  sim_fault (f->sim, "5xx:count=1,status=503,call=content");
  g_assert_true (vf_client_content_probe (f->client, task, VF_VARIANT_VIDEO, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpint (info.total_size, ==, VIDEO_BYTES);
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 2);
  g_assert_cmpint (f->sleeps, ==, 1);
  vf_content_info_clear (&info);

  /* content itself is not retried: the caller resumes */
  sim_fault (f->sim, "5xx:count=1,status=503,call=content");
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                     &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_SERVER);
  g_assert_cmpuint (c.bytes->len, ==, 0);
  collect_clear (&c);
  g_assert_cmpint (sim_requests (f->sim, "content"), ==, 3);
  g_assert_cmpint (f->sleeps, ==, 1);
  vf_content_info_clear (&info);
}

static void
test_fault_unknown_state (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = create_openai (f->client, "thinking", &error);
  g_autoptr (VfTask) got = NULL;
  g_autoptr (VfTask) ark = create_ark (f->client, "thinking too", &error);
  g_autoptr (VfTask) ark_got = NULL;

  g_assert_no_error (error);
  sim_fault (f->sim, "unknown_state:word=pondering");
  got = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (got->state, ==, VF_STATE_UNKNOWN);
  g_assert_cmpstr (got->state_word, ==, "pondering");

  ark_got = vf_client_retrieve (f->client, VF_PROTO_ARK, ark->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ark_got->state, ==, VF_STATE_UNKNOWN);
  g_assert_cmpstr (ark_got->state_word, ==, "pondering");
}

static void
test_fault_hostile_id (Fixture *f, gconstpointer data)
{
  static const char *const kinds[] = { "slash", "dotdot", "long", "nul" };
  g_autoptr (GError) error = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autofree char *spec = g_strdup_printf ("hostile_id:kind=%s", kinds[i]);
      g_autoptr (VfTask) task = NULL;

      g_test_message ("hostile id: %s", kinds[i]);
      sim_clear_faults (f->sim);
      sim_fault (f->sim, spec);
      task = create_openai (f->client, "hostile", &error);
      g_assert_null (task);
      g_assert_error (error, VF_ERROR, VF_ERROR_BAD_ID);
      g_clear_error (&error);
    }
  sim_clear_faults (f->sim);

  /* in a list they are skipped, with a message */
  {
    g_autoptr (VfTask) fine = create_openai (f->client, "a fine one", &error);
    g_autoptr (VfTaskPage) page = NULL;

    g_assert_no_error (error);
    g_test_expect_message ("videofs", G_LOG_LEVEL_MESSAGE, "*skipped*");
    g_test_expect_message ("videofs", G_LOG_LEVEL_MESSAGE, "*skipped*");
    g_test_expect_message ("videofs", G_LOG_LEVEL_MESSAGE, "*skipped*");
    g_test_expect_message ("videofs", G_LOG_LEVEL_MESSAGE, "*skipped*");
    page = vf_client_list (f->client, VF_PROTO_OPENAI, NULL, 100, &error);
    g_test_assert_expected_messages ();
    g_assert_no_error (error);
    g_assert_cmpuint (page->tasks->len, ==, 1);
    g_assert_cmpstr (((VfTask *)g_ptr_array_index (page->tasks, 0))->id, ==, fine->id);
  }

  /* and ids we are asked about are checked before any request */
  sim_reset_stats (f->sim);
  g_assert_null (vf_client_retrieve (f->client, VF_PROTO_OPENAI, "../../v1/videos", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_BAD_ID);
  g_clear_error (&error);
  g_assert_null (vf_client_retrieve (f->client, VF_PROTO_ARK, "..", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_BAD_ID);
  g_clear_error (&error);
  g_assert_false (vf_client_delete (f->client, VF_PROTO_OPENAI, "", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_BAD_ID);
  g_clear_error (&error);
  g_assert_null (vf_client_remix (f->client, VF_PROTO_OPENAI, "a/b", "x", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_BAD_ID);
  g_clear_error (&error);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 0);
  g_assert_cmpint (sim_requests (f->sim, "ark_retrieve"), ==, 0);
  g_assert_cmpint (sim_requests (f->sim, "delete"), ==, 0);
  g_assert_cmpint (sim_requests (f->sim, "remix"), ==, 0);
  g_assert_cmpint (sim_requests (f->sim, "other"), ==, 0);
}

static void
test_fault_oversize_json (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = create_openai (f->client, "padded", &error);

  g_assert_no_error (error);
  sim_fault (f->sim, "oversize_json");
  g_assert_null (vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_TOO_LARGE);
  g_assert_cmpint (vf_error_to_errno (error), ==, EFBIG);
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 1);
  g_clear_error (&error);

  g_assert_null (vf_client_list (f->client, VF_PROTO_OPENAI, NULL, 10, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_TOO_LARGE);
  g_clear_error (&error);

  /* just under the cap is fine */
  sim_clear_faults (f->sim);
  sim_fault (f->sim, "oversize_json:bytes=1000000");
  {
    g_autoptr (VfTask) got = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (got->id, ==, task->id);
  }
}

static void
test_fault_bad_range (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GBytes) truth = NULL;
  VfContentInfo info = { 0 };
  Collect c;

  content_fault_setup (f, &task, &truth);
  sim_fault (f->sim, "bad_range");
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 5000, 1000, NULL,
                                     collect_sink, &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_assert_cmpuint (c.bytes->len, ==, 0);
  g_assert_cmpint (c.calls, ==, 0);
  g_clear_error (&error);
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 5000, -1, NULL,
                                     collect_sink, &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_assert_cmpuint (c.bytes->len, ==, 0);
  collect_clear (&c);
  vf_content_info_clear (&info);
}

static void
test_fault_no_ranges (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GBytes) truth = NULL;
  VfContentInfo info = { 0 };
  Collect c;

  content_fault_setup (f, &task, &truth);
  sim_fault (f->sim, "no_ranges");

  /* asked for a range, got the whole: delivered from 0, and said so */
  collect_init (&c);
  g_assert_true (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 5000, 1000, NULL,
                                    collect_sink, &c, &info, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (info.status, ==, 200);
  g_assert_cmpint (info.start, ==, 0);
  g_assert_cmpint (info.total_size, ==, VIDEO_BYTES);
  g_assert_false (info.ranges);
  assert_bytes (c.bytes, truth, 0, VIDEO_BYTES);
  collect_clear (&c);
  vf_content_info_clear (&info);

  g_assert_true (vf_client_content_probe (f->client, task, VF_VARIANT_VIDEO, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpint (info.total_size, ==, VIDEO_BYTES);
  g_assert_false (info.ranges);
  g_assert_nonnull (info.etag);
  vf_content_info_clear (&info);
}

static void
test_fault_wrong_length (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GBytes) truth = NULL;
  VfContentInfo info = { 0 };
  Collect c;

  content_fault_setup (f, &task, &truth);
  sim_fault (f->sim, "wrong_length:short=100");
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                     &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_assert_cmpuint (c.bytes->len, <=, VIDEO_BYTES - 100);
  assert_bytes (c.bytes, truth, 0, c.bytes->len);
  g_clear_error (&error);
  collect_clear (&c);

  collect_init (&c);
  g_assert_false (vf_client_content (f->client, task, VF_VARIANT_VIDEO, 100, 2000, NULL,
                                     collect_sink, &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_assert_cmpuint (c.bytes->len, <=, 2000 - 100);
  collect_clear (&c);
  vf_content_info_clear (&info);
}

static void
test_fault_poll_hint (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = create_openai (f->client, "hinted", &error);
  g_autoptr (VfTask) with = NULL;
  g_autoptr (VfTask) without = NULL;

  g_assert_no_error (error);
  with = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (with->poll_after_ms, >, 0);
  sim_fault (f->sim, "refuse_poll_hint");
  without = vf_client_retrieve (f->client, VF_PROTO_OPENAI, task->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (without->poll_after_ms, ==, -1);
}

/* ----- security ----- */

static void
test_wrong_token (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfClient) wrong = client_new (f, f->sim->base, "sk-wrong-0000000000000000", NULL);
  g_autoptr (VfClient) none = client_new (f, f->sim->base, NULL, NULL);
  g_autoptr (VfTask) task = create_openai (f->client, "mine", &error);

  g_assert_no_error (error);
  g_assert_null (vf_client_retrieve (wrong, VF_PROTO_OPENAI, task->id, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_AUTH);
  g_assert_cmpint (vf_error_to_errno (error), ==, EACCES);
  g_assert_cmpint (vf_error_http_status (error), ==, 401);
  g_assert_null (strstr (error->message, "sk-wrong-0000000000000000"));
  assert_no_token (error);
  g_clear_error (&error);

  g_assert_null (create_openai (wrong, "not mine", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_AUTH);
  g_assert_null (strstr (error->message, "sk-wrong-0000000000000000"));
  g_clear_error (&error);

  g_assert_null (create_ark (none, "no token at all", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_AUTH);
  g_clear_error (&error);

  /* 401 is final */
  g_assert_cmpint (sim_counter (f->sim, "unauthorized"), ==, 3);
  g_assert_cmpint (f->sleeps, ==, 0);
  g_assert_cmpint (sim_counter (f->sim, "jobs"), ==, 1);
}

static void
test_url_rules (Fixture *f, gconstpointer data)
{
  static const char *const allowed[]
      = { "https://api.openai.com/v1", "https://example.com:8443/x", "http://127.0.0.1:1/v1",
          "http://127.5.6.7/v1",       "http://[::1]:8080/v1",       "http://localhost:9/v1",
          "HTTP://LOCALHOST/v1" };
  static const char *const refused[] = { "http://example.com/v1",
                                         "http://10.0.0.1/v1",
                                         "http://127.0.0.1.example.com/v1",
                                         "http://[::2]/v1",
                                         "ftp://127.0.0.1/v1",
                                         "file:///etc/passwd",
                                         "not a url",
                                         "http://localhost.evil/",
                                         "gopher://localhost/" };
  VfClientConfig config;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) ark = vf_task_new ();
  VfContentInfo info = { 0 };
  Collect c;

  for (gsize i = 0; i < G_N_ELEMENTS (allowed); i++)
    {
      g_test_message ("allowed: %s", allowed[i]);
      g_assert_true (vf_http_url_allowed (allowed[i], &error));
      g_assert_no_error (error);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_test_message ("refused: %s", refused[i]);
      g_assert_false (vf_http_url_allowed (refused[i], &error));
      g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
      g_clear_error (&error);
    }

  vf_client_config_init (&config);
  config.endpoint = "http://example.com/v1";
  g_assert_null (vf_client_new (&config, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);
  config.endpoint = f->sim->base;
  config.ark_endpoint = "http://ark.example.com/api/v3";
  g_assert_null (vf_client_new (&config, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);
  config.ark_endpoint = NULL;
  config.token = "sk-abc\r\nX-Injected: 1";
  g_assert_null (vf_client_new (&config, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_null (strstr (error->message, "sk-abc"));
  g_clear_error (&error);

  /* a pre-signed URL on plain http to another host: refused, not fetched */
  ark->id = g_strdup ("cgt-20250101-abc");
  ark->protocol = VF_PROTO_ARK;
  ark->state = VF_STATE_COMPLETED;
  ark->video_url = g_strdup ("http://192.0.2.1/files/cgt-20250101-abc.mp4?sig=00");
  collect_init (&c);
  g_assert_false (vf_client_content (f->client, ark, VF_VARIANT_VIDEO, 0, -1, NULL, collect_sink,
                                     &c, &info, NULL, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_null (strstr (error->message, "sig="));
  g_clear_error (&error);
  g_assert_false (vf_client_content_probe (f->client, ark, VF_VARIANT_VIDEO, &info, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpint (f->sleeps, ==, 0);
  collect_clear (&c);
}

static void
test_routes (Fixture *f, gconstpointer data)
{
  static const char *const routes[] = { "my-seedance-*=ark", "doubao-seedance-lite=openai", NULL };
  static const char *const bad[] = { "sora-*=grpc", NULL };
  static const char *const bad2[] = { "=ark", NULL };
  VfClientConfig config;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfClient) client = NULL;

  vf_client_config_init (&config);
  config.endpoint = f->sim->base;
  config.routes = routes;
  client = vf_client_new (&config, &error);
  g_assert_no_error (error);
  g_assert_cmpint (vf_client_protocol_for_model (client, "my-seedance-2"), ==, VF_PROTO_ARK);
  g_assert_cmpint (vf_client_protocol_for_model (client, "doubao-seedance-lite"), ==,
                   VF_PROTO_OPENAI);
  g_assert_cmpint (vf_client_protocol_for_model (client, "doubao-seedance-1-0-pro"), ==,
                   VF_PROTO_ARK);
  g_assert_cmpint (vf_client_protocol_for_model (client, "sora-2-pro"), ==, VF_PROTO_OPENAI);
  g_assert_cmpint (vf_client_protocol_for_model (client, "anything"), ==, VF_PROTO_OPENAI);
  g_assert_cmpint (vf_client_protocol_for_model (client, NULL), ==, VF_PROTO_OPENAI);

  config.routes = bad;
  g_assert_null (vf_client_new (&config, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);
  config.routes = bad2;
  g_assert_null (vf_client_new (&config, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);

  /* a body that is not an object sends nothing */
  {
    g_autoptr (json_t) body = json_string ("prompt");
    VfCreateRequest request = { .body = body };

    g_assert_null (vf_client_create (f->client, &request, &error));
    g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
    g_assert_cmpint (sim_requests (f->sim, "create"), ==, 0);
  }
}

/* The token reaches the host it is for, and no other, across redirects. */
static void
test_redirects (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = create_openai (f->client, "redirected", &error);
  g_autofree char *localhost = g_strdup_printf ("http://localhost:%d", f->sim->port);
  g_autofree char *bearer = g_strdup ("Bearer " TOKEN);

  g_assert_no_error (error);

  /* to another host: followed, without the token (the simulator says 401) */
  {
    Responder *r = responder_start (RESPONDER_TO_OTHER, localhost);
    g_autofree char *endpoint = g_strdup_printf ("http://127.0.0.1:%d/v1", responder_port (r));
    g_autoptr (VfClient) client = client_new (f, endpoint, TOKEN, NULL);
    g_autoptr (GPtrArray) seen = NULL;
    ResponderRequest *first;

    g_assert_null (vf_client_retrieve (client, VF_PROTO_OPENAI, task->id, &error));
    g_assert_error (error, VF_ERROR, VF_ERROR_AUTH);
    g_clear_error (&error);
    g_assert_cmpint (sim_counter (f->sim, "unauthorized"), ==, 1);
    g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 1);

    /* a create likewise: POSTed on, without the token */
    g_assert_null (create_openai (client, "via a redirect", &error));
    g_assert_error (error, VF_ERROR, VF_ERROR_AUTH);
    g_clear_error (&error);
    g_assert_cmpint (sim_counter (f->sim, "unauthorized"), ==, 2);

    seen = responder_requests (r);
    g_assert_cmpuint (seen->len, ==, 2);
    first = g_ptr_array_index (seen, 0);
    /* the original host did get it */
    g_assert_cmpstr (first->method, ==, "GET");
    g_assert_cmpstr (first->authorization, ==, bearer);
    g_assert_cmpstr (((ResponderRequest *)g_ptr_array_index (seen, 1))->method, ==, "POST");
    responder_stop (r);
  }

  /* within the same origin: followed, with the token */
  {
    Responder *r = responder_start (RESPONDER_SAME_ORIGIN, NULL);
    g_autofree char *endpoint = g_strdup_printf ("http://127.0.0.1:%d/v1", responder_port (r));
    g_autoptr (VfClient) client = client_new (f, endpoint, TOKEN, NULL);
    g_autoptr (GPtrArray) seen = NULL;
    g_autoptr (VfTask) got = NULL;

    got = vf_client_retrieve (client, VF_PROTO_OPENAI, "video_abc", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (got->id, ==, "video_redirected");
    seen = responder_requests (r);
    g_assert_cmpuint (seen->len, ==, 2);
    g_assert_cmpstr (((ResponderRequest *)g_ptr_array_index (seen, 0))->path, ==,
                     "/v1/videos/video_abc");
    g_assert_cmpstr (((ResponderRequest *)g_ptr_array_index (seen, 1))->path, ==,
                     "/v2/videos/video_abc");
    g_assert_cmpstr (((ResponderRequest *)g_ptr_array_index (seen, 1))->authorization, ==, bearer);
    responder_stop (r);
  }

  /* for ever: at most 5 followed */
  {
    Responder *r = responder_start (RESPONDER_LOOP, NULL);
    g_autofree char *endpoint = g_strdup_printf ("http://127.0.0.1:%d/v1", responder_port (r));
    g_autoptr (VfClient) client = client_new (f, endpoint, TOKEN, NULL);
    g_autoptr (GPtrArray) seen = NULL;

    g_assert_null (vf_client_retrieve (client, VF_PROTO_OPENAI, "video_abc", &error));
    g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
    g_clear_error (&error);
    seen = responder_requests (r);
    g_assert_cmpuint (seen->len, ==, 6);
    responder_stop (r);
  }

  /* to plain http on a host that is not loopback: refused, not followed */
  {
    Responder *r = responder_start (RESPONDER_TO_TARGET, "http://192.0.2.1/v1/videos/x");
    g_autofree char *endpoint = g_strdup_printf ("http://127.0.0.1:%d/v1", responder_port (r));
    g_autoptr (VfClient) client = client_new (f, endpoint, TOKEN, NULL);
    g_autoptr (GPtrArray) seen = NULL;
    gint64 start = g_get_monotonic_time ();

    g_assert_null (vf_client_retrieve (client, VF_PROTO_OPENAI, "video_abc", &error));
    g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
    g_clear_error (&error);
    /* refused at once, not after a connect time-out */
    g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
    seen = responder_requests (r);
    g_assert_cmpuint (seen->len, ==, 1);
    responder_stop (r);
  }
}

typedef struct
{
  VfClient *client;
  const char *id;
  int failures;
} Worker;

static gpointer
retrieve_many (gpointer data)
{
  Worker *w = data;

  for (int i = 0; i < 10; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (VfTask) task = vf_client_retrieve (w->client, VF_PROTO_OPENAI, w->id, &error);

      if (!task || g_strcmp0 (task->id, w->id) != 0)
        w->failures++;
    }
  return NULL;
}

static void
test_threads (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = create_openai (f->client, "shared", &error);
  Worker workers[4];
  GThread *threads[4];

  g_assert_no_error (error);
  for (int i = 0; i < 4; i++)
    {
      workers[i] = (Worker){ .client = f->client, .id = task->id };
      threads[i] = g_thread_new ("worker", retrieve_many, &workers[i]);
    }
  for (int i = 0; i < 4; i++)
    {
      g_thread_join (threads[i]);
      g_assert_cmpint (workers[i].failures, ==, 0);
    }
  g_assert_cmpint (sim_requests (f->sim, "retrieve"), ==, 40);
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

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/client/openai/create-retrieve", test_openai_create_retrieve);
  ADD ("/client/openai/create-multipart", test_openai_create_multipart);
  ADD ("/client/openai/list", test_openai_list);
  ADD ("/client/openai/delete", test_openai_delete);
  ADD ("/client/openai/remix", test_openai_remix);
  ADD ("/client/openai/content", test_openai_content);
  ADD ("/client/openai/content-errors", test_openai_content_errors);
  ADD ("/client/ark", test_ark);
  ADD ("/client/content-gone", test_content_gone);
  ADD ("/client/protocol-table", test_protocol_table);
  ADD ("/client/fault/429", test_fault_429);
  ADD ("/client/fault/5xx", test_fault_5xx);
  ADD ("/client/fault/should-retry", test_fault_should_retry);
  ADD ("/client/fault/cut", test_fault_cut);
  ADD ("/client/fault/json-content", test_fault_json_content);
  ADD ("/client/fault/slow", test_fault_slow);
  ADD ("/client/fault/hang-create", test_fault_hang_create);
  ADD ("/client/fault/drop-create", test_fault_drop_create);
  ADD ("/client/fault/closed-port", test_closed_port);
  ADD ("/client/fault/connect-timeout", test_connect_timeout);
  ADD ("/client/content-probe-retried", test_probe_retried);
  ADD ("/client/security/debug-log", test_debug_log);
  ADD ("/client/fault/unknown-state", test_fault_unknown_state);
  ADD ("/client/fault/hostile-id", test_fault_hostile_id);
  ADD ("/client/fault/oversize-json", test_fault_oversize_json);
  ADD ("/client/fault/bad-range", test_fault_bad_range);
  ADD ("/client/fault/no-ranges", test_fault_no_ranges);
  ADD ("/client/fault/wrong-length", test_fault_wrong_length);
  ADD ("/client/fault/poll-hint", test_fault_poll_hint);
  ADD ("/client/cancel", test_cancel);
  ADD ("/client/security/wrong-token", test_wrong_token);
  ADD ("/client/security/url-rules", test_url_rules);
  ADD ("/client/security/redirects", test_redirects);
  ADD ("/client/routes", test_routes);
  ADD ("/client/threads", test_threads);
#undef ADD

  return g_test_run ();
}
