/* test-images-rss.c: a 4K picture answered as base64 inside JSON (some
 * 65 MB of answer for a 48 MB picture of noise), in a process that does
 * nothing else, so that its peak RSS is the image client's: the base64 is
 * decoded into the file as it streams, never held whole. */
#include "images-common.h"

#include <stdio.h>
#include <string.h>

#include "vf-error.h"
#include "../testutil.h"

#define MIB (1024 * 1024)
/* what the process may grow by while it takes the answer */
#define BOUND_MIB 24

static Sim *sim;

static void
take_4k (const char *body_text, int side)
{
  g_autoptr (VfImages) images = images_test_client (sim, NULL, NULL, 0);
  g_autoptr (json_t) body = json_loads (body_text, 0, NULL);
  char *dir = images_test_dir ();
  VfImageRequest request = { .body = body, .dir = dir };
  g_autoptr (GError) error = NULL;
  g_autoptr (VfImageResult) r = NULL;
  gint64 before, after;

  /* the peak so far (an earlier test's truth) reset to what is resident now */
  {
    FILE *clear = fopen ("/proc/self/clear_refs", "w");

    if (clear)
      {
        fputs ("5", clear);
        fclose (clear);
      }
  }
  before = status_kib ("VmHWM:");
  r = vf_images_generate (images, &request, NULL, &error);
  after = status_kib ("VmHWM:");
  g_assert_no_error (error);
  g_assert_cmpuint (r->n_pictures, ==, 1);
  g_assert_cmpint (r->pictures[0].width, ==, side);
  g_assert_cmpint (r->pictures[0].height, ==, side);
  g_assert_cmpint (r->pictures[0].size, >, 40 * MIB);
  {
    g_autoptr (GBytes) truth = images_test_truth (sim, r->request_id, 1);
    g_autofree char *sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, truth);

    g_assert_cmpstr (r->pictures[0].sha256, ==, sha);
  }
  g_test_message ("a %dx%d picture of %" G_GINT64_FORMAT
                  " bytes as base64 in JSON: peak RSS %" G_GINT64_FORMAT
                  " KiB before, %" G_GINT64_FORMAT " KiB after",
                  side, side, r->pictures[0].size, before, after);
  g_print ("# peak RSS %" G_GINT64_FORMAT " KiB (+%" G_GINT64_FORMAT " KiB) for %" G_GINT64_FORMAT
           " bytes\n",
           after, after - before, r->pictures[0].size);
  g_assert_cmpint (after - before, <, BOUND_MIB * 1024);
  images_test_rmdir (dir);
}

static void
test_openai_4k (void)
{
  take_4k ("{\"model\": \"gpt-image-2\", \"prompt\": \"#noise\", \"size\": \"4096x4096\"}", 4096);
}

static void
test_gemini_4k (void)
{
  take_4k ("{\"model\": \"gemini-3-pro-image-preview\", \"prompt\": \"#noise\", \"size\": \"4K\"}",
           4096);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  if (!g_getenv ("VIDEOFS_SIM"))
    {
      g_test_skip ("VIDEOFS_SIM is not set");
      return 77;
    }
  sim = sim_start (NULL);
  g_test_add_func ("/images/rss/openai-4k-b64", test_openai_4k);
  g_test_add_func ("/images/rss/gemini-4k-b64", test_gemini_4k);
  status = g_test_run ();
  sim_stop (sim);
  return status;
}
