/* test-images.c: the image protocols of lib/ (vf-images.h) against
 * videofs-sim: every protocol with n = 1 and 3 (the exact bytes the
 * simulator made, the format and size asked, checked by decoding), edits
 * with one and two pictures and a mask (the simulator received each file's
 * exact bytes), refusals with the API's reason, a lost answer reported as
 * maybe made and never sent again, an expired URL, and the token kept out of
 * URLs and away from the pictures' host. */
#include "images-common.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <string.h>

#include "vf-error.h"

#define TOKEN "sk-images-test"

static Sim *sim;

typedef struct
{
  VfImages *images;
  char *dir;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  sim_clear_faults (sim);
  sim_reset_stats (sim);
  f->images = images_test_client (sim, TOKEN, NULL, 0);
  f->dir = images_test_dir ();
}

static void
teardown (Fixture *f, gconstpointer data)
{
  vf_images_free (f->images);
  images_test_rmdir (f->dir);
}

static VfImageResult *
generate (Fixture *f, const char *body_text, const VfImageFile *files, gsize n_files,
          const VfImageFile *mask, GError **error)
{
  g_autoptr (json_t) body = json_loads (body_text, 0, NULL);
  VfImageRequest request = { 0 };

  g_assert_nonnull (body);
  request.body = body;
  request.images = files;
  request.n_images = n_files;
  request.mask = mask;
  request.dir = f->dir;
  return vf_images_generate (f->images, &request, NULL, error);
}

/* Each picture is the simulator's, of the type and size asked. */
static void
assert_pictures (const VfImageResult *r, gsize n, const char *type, int w, int h)
{
  g_assert_nonnull (r);
  g_assert_cmpuint (r->n_pictures, ==, n);
  g_assert_nonnull (r->request_id);
  for (gsize i = 0; i < n; i++)
    {
      const VfImagePicture *p = &r->pictures[i];
      g_autoptr (GBytes) truth = images_test_truth (sim, r->request_id, (guint)i + 1);
      g_autoptr (GBytes) got = images_test_file (p->path);
      g_autoptr (GError) error = NULL;
      g_autoptr (GdkPixbuf) decoded = gdk_pixbuf_new_from_file (p->path, &error);
      g_autofree char *base = g_path_get_basename (p->path);
      g_autofree char *want = i ? g_strdup_printf ("image-%zu.%s", i + 1, strchr (type, '/') + 1)
                                : g_strdup_printf ("image.%s", strchr (type, '/') + 1);
      g_autofree char *sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, got);

      g_assert_true (g_bytes_equal (truth, got));
      g_assert_cmpstr (p->content_type, ==, type);
      g_assert_cmpstr (base, ==, want);
      g_assert_cmpint (p->size, ==, (gint64)g_bytes_get_size (got));
      g_assert_cmpstr (p->sha256, ==, sha);
      g_assert_no_error (error);
      g_assert_cmpint (gdk_pixbuf_get_width (decoded), ==, w);
      g_assert_cmpint (gdk_pixbuf_get_height (decoded), ==, h);
      g_assert_cmpint (p->width, ==, w);
      g_assert_cmpint (p->height, ==, h);
    }
  /* pictures differ from each other */
  if (n > 1)
    g_assert_cmpstr (r->pictures[0].sha256, !=, r->pictures[1].sha256);
}

static void
test_routes (Fixture *f, gconstpointer data)
{
  const char *const routes[] = { "my-seedream=ark", "nano-*=gemini", NULL };
  const char *const bad[] = { "x=sora", NULL };
  VfImagesConfig config;
  g_autoptr (VfImages) routed = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (vf_images_protocol_for_model (f->images, "gpt-image-1.5"), ==, VF_IMAGE_OPENAI);
  g_assert_cmpint (vf_images_protocol_for_model (f->images, "dall-e-3"), ==, VF_IMAGE_OPENAI);
  g_assert_cmpint (vf_images_protocol_for_model (f->images, "doubao-seedream-4-5-251128"), ==,
                   VF_IMAGE_ARK);
  g_assert_cmpint (vf_images_protocol_for_model (f->images, "gemini-3-pro-image-preview"), ==,
                   VF_IMAGE_GEMINI);
  g_assert_cmpint (vf_images_protocol_for_model (f->images, "other"), ==, VF_IMAGE_OPENAI);
  vf_images_config_init (&config);
  g_assert_cmpstr (config.gemini_endpoint, ==, "https://generativelanguage.googleapis.com/v1beta");
  config.routes = routes;
  routed = vf_images_new (&config, &error);
  g_assert_no_error (error);
  g_assert_cmpint (vf_images_protocol_for_model (routed, "my-seedream"), ==, VF_IMAGE_ARK);
  g_assert_cmpint (vf_images_protocol_for_model (routed, "nano-banana"), ==, VF_IMAGE_GEMINI);
  config.routes = bad;
  g_assert_null (vf_images_new (&config, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
}

static void
test_openai (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) one = NULL, three = NULL;

  one = generate (f, "{\"model\": \"gpt-image-1\", \"prompt\": \"a red fox\", \"size\": \"64x48\"}",
                  NULL, 0, NULL, &error);
  g_assert_no_error (error);
  assert_pictures (one, 1, "image/png", 64, 48);
  g_assert_null (one->revised_prompt);
  g_assert_cmpint (sim_requests (sim, "image_generate"), ==, 1);
  three = generate (f,
                    "{\"model\": \"gpt-image-1.5\", \"prompt\": \"three foxes\", \"n\": 3, "
                    "\"size\": \"80x32\", \"output_format\": \"webp\"}",
                    NULL, 0, NULL, &error);
  g_assert_no_error (error);
  assert_pictures (three, 3, "image/webp", 80, 32);
  g_assert_cmpint (sim_requests (sim, "image_generate"), ==, 2);
  g_assert_cmpint (sim_counter (sim, "unauthorized"), ==, 0);
}

/* dall-e answers URLs on another origin (the API is asked at localhost):
 * fetched at once, with no token. */
static void
test_openai_urls (Fixture *f, gconstpointer data)
{
  g_autofree char *other = g_strdup_printf ("http://localhost:%d/v1", sim->port);
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = NULL, r3 = NULL;

  vf_images_free (f->images);
  f->images = images_test_client (sim, TOKEN, other, 0);
  r = generate (f, "{\"model\": \"dall-e-3\", \"prompt\": \"a fox\", \"size\": \"1024x1024\"}",
                NULL, 0, NULL, &error);
  g_assert_no_error (error);
  assert_pictures (r, 1, "image/png", 1024, 1024);
  g_assert_cmpstr (r->revised_prompt, ==, "A detailed picture of a fox");
  r3 = generate (f,
                 "{\"model\": \"dall-e-2\", \"prompt\": \"foxes\", \"n\": 3, \"size\": "
                 "\"256x256\"}",
                 NULL, 0, NULL, &error);
  g_assert_no_error (error);
  assert_pictures (r3, 3, "image/png", 256, 256);
  g_assert_cmpint (sim_requests (sim, "image_generate"), ==, 2);
  g_assert_cmpint (sim_requests (sim, "image_file"), ==, 4);
  g_assert_cmpint (sim_counter (sim, "bearer_on_presigned"), ==, 0);
}

/* The files /_sim/received recorded for the last create. */
static json_t *
last_files (void)
{
  g_autofree char *text = sim_control (sim, "GET", "/_sim/received", NULL, NULL, NULL);
  json_t *root = json_loads (text, 0, NULL);
  json_t *creates = json_object_get (root, "creates");
  json_t *files = json_incref (
      json_object_get (json_array_get (creates, json_array_size (creates) - 1), "files"));

  json_decref (root);
  return files;
}

static void
assert_received (json_t *item, const char *field, GBytes *bytes)
{
  g_autofree char *sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);

  g_assert_cmpstr (json_string_value (json_object_get (item, "field")), ==, field);
  g_assert_cmpstr (json_string_value (json_object_get (item, "sha256")), ==, sha);
  g_assert_cmpint (json_integer_value (json_object_get (item, "size")), ==,
                   (json_int_t)g_bytes_get_size (bytes));
}

static void
test_openai_edits (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) a = images_test_png (48, 32, 1);
  g_autoptr (GBytes) b = images_test_png (48, 32, 2);
  g_autoptr (GBytes) m = images_test_png (48, 32, 3);
  VfImageFile files[] = { { "a.png", "image/png", a }, { "b.png", "image/png", b } };
  VfImageFile mask = { "mask.png", "image/png", m };
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) one = NULL, two = NULL;
  g_autoptr (json_t) got1 = NULL, got2 = NULL;

  one = generate (f, "{\"model\": \"gpt-image-1\", \"prompt\": \"edit it\"}", files, 1, &mask,
                  &error);
  g_assert_no_error (error);
  assert_pictures (one, 1, "image/png", 48, 32);
  got1 = last_files ();
  g_assert_cmpuint (json_array_size (got1), ==, 2);
  assert_received (json_array_get (got1, 0), "image", a);
  assert_received (json_array_get (got1, 1), "mask", m);

  two = generate (f,
                  "{\"model\": \"gpt-image-1\", \"prompt\": \"edit both\", \"n\": 3, "
                  "\"output_format\": \"jpeg\"}",
                  files, 2, &mask, &error);
  g_assert_no_error (error);
  assert_pictures (two, 3, "image/jpeg", 48, 32);
  got2 = last_files ();
  g_assert_cmpuint (json_array_size (got2), ==, 3);
  assert_received (json_array_get (got2, 0), "image[]", a);
  assert_received (json_array_get (got2, 1), "image[]", b);
  assert_received (json_array_get (got2, 2), "mask", m);
  g_assert_cmpint (sim_requests (sim, "image_edit"), ==, 2);
  g_assert_cmpint (sim_requests (sim, "image_generate"), ==, 0);
}

static void
test_ark (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) ref = images_test_png (40, 40, 7);
  VfImageFile file = { "ref.png", "image/png", ref };
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) one = NULL, three = NULL;
  g_autoptr (json_t) got = NULL;

  one = generate (f,
                  "{\"model\": \"doubao-seedream-4-0-250828\", \"prompt\": \"a fox\", \"size\": "
                  "\"64x64\"}",
                  &file, 1, NULL, &error);
  g_assert_no_error (error);
  assert_pictures (one, 1, "image/jpeg", 64, 64);
  got = last_files ();
  g_assert_cmpuint (json_array_size (got), ==, 1);
  assert_received (json_array_get (got, 0), "image", ref);
  three = generate (f,
                    "{\"model\": \"doubao-seedream-4-5-251128\", \"prompt\": \"a story\", \"n\": "
                    "3, \"size\": \"96x64\", \"response_format\": \"url\", \"output_format\": "
                    "\"png\"}",
                    NULL, 0, NULL, &error);
  g_assert_no_error (error);
  assert_pictures (three, 3, "image/png", 96, 64);
  g_assert_cmpint (sim_requests (sim, "ark_image"), ==, 2);
  g_assert_cmpint (sim_requests (sim, "image_file"), ==, 3);
  g_assert_cmpint (sim_counter (sim, "bearer_on_presigned"), ==, 0);
}

static void
test_gemini (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) ref = images_test_png (24, 24, 9);
  VfImageFile file = { "ref.png", "image/png", ref };
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) one = NULL, three = NULL;
  g_autoptr (json_t) got = NULL;

  one = generate (f,
                  "{\"model\": \"gemini-2.5-flash-image\", \"prompt\": \"a fox\", \"size\": "
                  "\"16:9\"}",
                  &file, 1, NULL, &error);
  g_assert_no_error (error);
  assert_pictures (one, 1, "image/png", 1344, 768);
  g_assert_cmpstr (one->text, ==, "Here is your picture.");
  got = last_files ();
  assert_received (json_array_get (got, 0), "inlineData", ref);
  three
      = generate (f, "{\"model\": \"gemini-3-pro-image-preview\", \"prompt\": \"foxes\", \"n\": 3}",
                  NULL, 0, NULL, &error);
  g_assert_no_error (error);
  assert_pictures (three, 3, "image/png", 1024, 1024);
  /* the simulator refuses ?key= and wants the token: both calls passed */
  g_assert_cmpint (sim_requests (sim, "gemini_image"), ==, 2);
  g_assert_cmpint (sim_counter (sim, "unauthorized"), ==, 0);
}

/* The token is checked: a wrong one is the API's 401, not a picture. */
static void
test_gemini_auth (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = NULL;

  vf_images_free (f->images);
  f->images = images_test_client (sim, "wrong", NULL, 0);
  r = generate (f, "{\"model\": \"gemini-2.5-flash-image\", \"prompt\": \"a fox\"}", NULL, 0, NULL,
                &error);
  g_assert_null (r);
  g_assert_error (error, VF_ERROR, VF_ERROR_AUTH);
  g_assert_false (vf_image_error_is_refusal (error));
  g_assert_cmpint (sim_counter (sim, "unauthorized"), ==, 1);
}

/* A request refused here (a mask with no picture) never left: not "maybe
 * sent", nothing counted. */
static void
test_refused_before_sending (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) m = images_test_png (16, 16, 3);
  VfImageFile mask = { "mask.png", "image/png", m };
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = NULL;

  sim_reset_stats (sim);
  r = generate (f, "{\"model\": \"gpt-image-1\", \"prompt\": \"edit\"}", NULL, 0, &mask, &error);
  g_assert_null (r);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_false (vf_error_maybe_sent (error));
  g_assert_cmpint (sim_requests (sim, "image_edit") + sim_requests (sim, "image_generate"), ==, 0);
}

/* Ark's 400 names its request id once, as Ark's own answers do. */
static void
test_ark_bad_parameter (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = NULL;
  const char *message, *first;

  r = generate (f, "{\"model\": \"doubao-seedream-4-0\", \"prompt\": \"a fox\", \"colour\": 1}",
                NULL, 0, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpstr (vf_error_api_code (error), ==, "InvalidParameter");
  message = vf_error_api_message (error);
  first = strstr (message, "Request id: ");
  g_assert_nonnull (first);
  g_assert_null (strstr (first + 1, "Request id: "));
}

/* The last Gemini request's "auth" as the simulator received it. */
static char *
last_gemini_auth (void)
{
  long status = 0;
  g_autofree char *text = sim_control (sim, "GET", "/_sim/received", NULL, &status, NULL);
  g_autoptr (json_t) received = json_loads (text, 0, NULL);
  json_t *creates = json_object_get (received, "creates");
  json_t *last = json_array_get (creates, json_array_size (creates) - 1);

  g_assert_cmpint (status, ==, 200);
  return g_strdup (json_string_value (json_object_get (json_object_get (last, "fields"), "auth")));
}

/* The key goes as the bearer to a reseller, as x-goog-api-key where asked
 * (Google's own API), never in the URL; another gemini_auth is refused. */
static void
test_gemini_key_header (Fixture *f, gconstpointer data)
{
  const char *const ways[] = { NULL, "bearer", "key" };
  const char *const sent[] = { "bearer", "bearer", "x-goog-api-key" };
  g_autofree char *gemini = g_strdup_printf ("%s/v1beta", sim->root);

  for (gsize i = 0; i < G_N_ELEMENTS (ways); i++)
    {
      VfImagesConfig config;
      g_autoptr (GError) error = NULL;
      g_autoptr (VfImageResult) r = NULL;
      g_autofree char *auth = NULL;

      vf_images_config_init (&config);
      config.endpoint = sim->base;
      config.gemini_endpoint = gemini;
      config.token = TOKEN;
      config.gemini_auth = ways[i];
      vf_images_free (f->images);
      f->images = vf_images_new (&config, &error);
      g_assert_no_error (error);
      sim_reset_stats (sim);
      r = generate (f, "{\"model\": \"gemini-2.5-flash-image\", \"prompt\": \"a fox\"}", NULL, 0,
                    NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (r->n_pictures, ==, 1);
      auth = last_gemini_auth ();
      g_assert_cmpstr (auth, ==, sent[i]);
      g_assert_cmpint (sim_counter (sim, "unauthorized"), ==, 0);
    }
  {
    VfImagesConfig config;
    g_autoptr (GError) error = NULL;
    g_autoptr (VfImages) bad = NULL;

    vf_images_config_init (&config);
    config.gemini_auth = "url";
    bad = vf_images_new (&config, &error);
    g_assert_null (bad);
    g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "gemini_auth=url"));
  }
}

static void
assert_refused (Fixture *f, const char *body, const char *code, const char *call)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = NULL;

  sim_reset_stats (sim);
  r = generate (f, body, NULL, 0, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_true (vf_image_error_is_refusal (error));
  g_assert_cmpstr (vf_error_api_code (error), ==, code);
  g_assert_cmpuint (images_test_count (f->dir), ==, 0);
  g_assert_cmpint (sim_requests (sim, call), ==, 1);
}

static void
test_refusals (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = NULL;

  assert_refused (f, "{\"model\": \"gpt-image-1\", \"prompt\": \"#reject this\"}",
                  "moderation_blocked", "image_generate");
  assert_refused (f, "{\"model\": \"doubao-seedream-4-0\", \"prompt\": \"#reject this\"}",
                  "InputTextSensitiveContentDetected", "ark_image");
  assert_refused (f, "{\"model\": \"gemini-2.5-flash-image\", \"prompt\": \"#reject this\"}",
                  "PROHIBITED_CONTENT", "gemini_image");
  assert_refused (f, "{\"model\": \"gemini-2.5-flash-image\", \"prompt\": \"#fail this\"}",
                  "IMAGE_SAFETY", "gemini_image");
  /* a bad request is not a refusal */
  r = generate (f, "{\"model\": \"dall-e-3\", \"prompt\": \"x\", \"n\": 2}", NULL, 0, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_false (vf_image_error_is_refusal (error));
  g_assert_cmpstr (vf_error_api_code (error), ==, "invalid_value");
}

/* A lost answer: maybe made and billed, sent once, nothing left behind. */
static void
assert_lost (Fixture *f, const char *fault, const char *body, const char *call, int code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = NULL;

  sim_clear_faults (sim);
  sim_reset_stats (sim);
  sim_fault (sim, fault);
  r = generate (f, body, NULL, 0, NULL, &error);
  g_assert_null (r);
  g_assert_nonnull (error);
  if (code >= 0)
    g_assert_error (error, VF_ERROR, code);
  g_assert_true (vf_error_maybe_sent (error));
  g_assert_false (vf_image_error_is_refusal (error));
  g_assert_cmpint (sim_requests (sim, call), ==, 1);
  g_assert_cmpuint (images_test_count (f->dir), ==, 0);
}

static void
test_lost (Fixture *f, gconstpointer data)
{
  const char *openai = "{\"model\": \"gpt-image-1\", \"prompt\": \"a fox\", \"size\": \"64x64\"}";

  assert_lost (f, "cut:after=200,call=image_generate", openai, "image_generate", -1);
  assert_lost (f, "drop_create:call=image_generate", openai, "image_generate", -1);
  assert_lost (f, "5xx:status=502,call=image_generate", openai, "image_generate", VF_ERROR_SERVER);
  assert_lost (f, "cut:after=100,call=ark_image",
               "{\"model\": \"doubao-seedream-4-0\", \"prompt\": \"a fox\", \"size\": \"1K\"}",
               "ark_image", -1);
  assert_lost (f, "cut:after=300,call=gemini_image",
               "{\"model\": \"gemini-2.5-flash-image\", \"prompt\": \"a fox\"}", "gemini_image",
               -1);
  sim_clear_faults (sim);
}

static void
test_lost_message (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = NULL;

  sim_fault (sim, "cut:after=150,call=image_generate");
  r = generate (f, "{\"model\": \"gpt-image-1\", \"prompt\": \"a fox\"}", NULL, 0, NULL, &error);
  g_assert_null (r);
  g_assert_nonnull (strstr (error->message, "the API may have made and billed it"));
}

/* An answer that keeps silent past answer_timeout_s: a time-out, sent once. */
static void
test_timeout (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = NULL;

  vf_images_free (f->images);
  f->images = images_test_client (sim, TOKEN, NULL, 1);
  sim_fault (sim, "hang_create:seconds=8,call=image_generate");
  r = generate (f, "{\"model\": \"gpt-image-1\", \"prompt\": \"a fox\"}", NULL, 0, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, VF_ERROR, VF_ERROR_TIMEOUT);
  g_assert_true (vf_error_maybe_sent (error));
  g_assert_cmpint (sim_requests (sim, "image_generate"), ==, 1);
  sim_clear_faults (sim);
}

static void
test_expired_url (Fixture *f, gconstpointer data)
{
  const char *const args[] = { "--token", TOKEN, "--image-url-ttl", "0", NULL };
  Sim *quick = sim_start (args);
  g_autoptr (VfImages) images = images_test_client (quick, TOKEN, NULL, 0);
  g_autoptr (json_t) body = json_pack ("{s:s, s:s}", "model", "dall-e-2", "prompt", "a fox");
  VfImageRequest request = { .body = body, .dir = f->dir };
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = vf_images_generate (images, &request, NULL, &error);

  g_assert_null (r);
  g_assert_error (error, VF_ERROR, VF_ERROR_EXPIRED);
  g_assert_nonnull (strstr (error->message, "expired"));
  g_assert_cmpuint (images_test_count (f->dir), ==, 0);
  g_assert_cmpint (sim_requests (quick, "image_generate"), ==, 1);
  g_assert_cmpint (sim_requests (quick, "image_file"), ==, 1);
  sim_stop (quick);
}

int
main (int argc, char **argv)
{
  const char *const args[] = { "--token", TOKEN, NULL };
  int status;

  g_test_init (&argc, &argv, NULL);
  if (!g_getenv ("VIDEOFS_SIM"))
    {
      g_test_skip ("VIDEOFS_SIM is not set");
      return 77;
    }
  sim = sim_start (args);
#define ADD(path, func) g_test_add (path, Fixture, NULL, setup, func, teardown)
  ADD ("/images/routes", test_routes);
  ADD ("/images/openai", test_openai);
  ADD ("/images/openai/urls", test_openai_urls);
  ADD ("/images/openai/edits", test_openai_edits);
  ADD ("/images/ark", test_ark);
  ADD ("/images/gemini", test_gemini);
  ADD ("/images/gemini/auth", test_gemini_auth);
  ADD ("/images/gemini/key-header", test_gemini_key_header);
  ADD ("/images/refused-before-sending", test_refused_before_sending);
  ADD ("/images/ark/bad-parameter", test_ark_bad_parameter);
  ADD ("/images/refusals", test_refusals);
  ADD ("/images/lost", test_lost);
  ADD ("/images/lost/message", test_lost_message);
  ADD ("/images/timeout", test_timeout);
  ADD ("/images/expired-url", test_expired_url);
  status = g_test_run ();
  sim_stop (sim);
  return status;
}
