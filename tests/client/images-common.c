/* images-common.c: see images-common.h. */
#include "images-common.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>

VfImages *
images_test_client (Sim *sim, const char *token, const char *openai, long timeout_s)
{
  VfImagesConfig config;
  g_autofree char *gemini = g_strdup_printf ("%s/v1beta", sim->root);
  g_autoptr (GError) error = NULL;
  VfImages *images;

  vf_images_config_init (&config);
  config.endpoint = openai ? openai : sim->base;
  config.ark_endpoint = sim->ark_base;
  config.gemini_endpoint = gemini;
  config.token = token;
  config.retry.base_ms = 1;
  config.retry.max_ms = 5;
  if (timeout_s)
    config.answer_timeout_s = timeout_s;
  images = vf_images_new (&config, &error);
  g_assert_no_error (error);
  return images;
}

char *
images_test_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("videofs-images-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

void
images_test_rmdir (char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_unlink (path);
    }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
  g_free (dir);
}

guint
images_test_count (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d))
    n++;
  g_dir_close (d);
  return n;
}

GBytes *
images_test_png (int w, int h, guint seed)
{
  g_autoptr (GdkPixbuf) pb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, w, h);
  g_autoptr (GError) error = NULL;
  gchar *buf = NULL;
  gsize len = 0;

  gdk_pixbuf_fill (pb, 0x102030ffu ^ ((seed * 0x9E3779B1u) & 0xffffff00u));
  g_assert_true (gdk_pixbuf_save_to_buffer (pb, &buf, &len, "png", &error, NULL));
  g_assert_no_error (error);
  return g_bytes_new_take (buf, len);
}

GBytes *
images_test_truth (Sim *sim, const char *rid, guint n)
{
  g_autofree char *path = g_strdup_printf ("/_sim/images/%s/%u", rid, n);
  long status = 0;
  gsize len = 0;
  char *body = sim_control (sim, "GET", path, NULL, &status, &len);

  g_assert_cmpint (status, ==, 200);
  return g_bytes_new_take (body, len);
}

GBytes *
images_test_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  gchar *data = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  return g_bytes_new_take (data, len);
}
