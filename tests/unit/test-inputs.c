/* test-inputs.c: the input keys of a create body: what each protocol
 * refuses, pictures by their bytes, dimensions, fitting, sizes. */
#include <fcntl.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "vf-error.h"
#include "vf-inputs.h"
#include "vf-prompt.h"

static char *dir;

static int
open_in_dir (const char *file, gpointer user_data, GError **error)
{
  g_autofree char *path = g_build_filename (user_data, file, NULL);
  int fd = g_open (path, O_RDONLY, 0);

  if (fd < 0)
    vf_set_error (error, VF_ERROR_INVALID, "cannot open %s", file);
  return fd;
}

static GBytes *
png (int w, int h)
{
  g_autoptr (GdkPixbuf) p = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, w, h);
  gchar *buf;
  gsize len;

  gdk_pixbuf_fill (p, 0x204080ff);
  g_assert_true (gdk_pixbuf_save_to_buffer (p, &buf, &len, "png", NULL, NULL));
  return g_bytes_new_take (buf, len);
}

static void
put (const char *name, GBytes *bytes)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  g_assert_true (g_file_set_contents (path, data, (gssize)len, NULL));
}

static json_t *
body_of (const char *text)
{
  g_autoptr (GError) error = NULL;
  json_t *body = vf_prompt_parse (text, strlen (text), FALSE, NULL, &error);

  g_assert_no_error (error);
  return body;
}

static VfInputs *
take (json_t *body, VfProtocol protocol, GError **error)
{
  return vf_inputs_take (body, protocol, open_in_dir, dir, error);
}

static void
test_sniff (void)
{
  g_autoptr (GBytes) p = png (2, 2);
  gsize len;
  const guint8 *data = g_bytes_get_data (p, &len);

  g_assert_cmpstr (vf_inputs_sniff (data, len), ==, "image/png");
  g_assert_cmpstr (vf_inputs_sniff ((const guint8 *)"\xff\xd8\xff\xe0", 4), ==, "image/jpeg");
  g_assert_cmpstr (vf_inputs_sniff ((const guint8 *)"RIFF\0\0\0\0WEBPVP8 ", 16), ==, "image/webp");
  g_assert_null (vf_inputs_sniff ((const guint8 *)"\x89PNG", 4));
  g_assert_null (vf_inputs_sniff ((const guint8 *)"hello, world", 12));
}

static void
test_no_keys (void)
{
  g_autoptr (json_t) body = body_of ("just text");
  g_autoptr (json_t) before = json_deep_copy (body);
  g_autoptr (GError) error = NULL;
  g_autoptr (VfInputs) inputs = take (body, VF_PROTO_OPENAI, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (inputs->files->len, ==, 0);
  g_assert_true (json_equal (body, before));
}

static void
test_refused_per_protocol (void)
{
  static const struct
  {
    const char *text;
    VfProtocol protocol;
    const char *reason_start;
  } cases[] = {
    { "---\nlast_image: a.png\n---\nx", VF_PROTO_OPENAI, "last_image: Sora" },
    { "---\nreferences: a.png\n---\nx", VF_PROTO_OPENAI, "references: Sora" },
    { "---\nreference_video: https://e.x/v.mp4\n---\nx", VF_PROTO_OPENAI, "reference_video: " },
    { "---\nreference_audio: https://e.x/a.mp3\n---\nx", VF_PROTO_OPENAI, "reference_audio: " },
    { "---\nreturn_last_frame: true\n---\nx", VF_PROTO_OPENAI, "return_last_frame: Sora" },
    { "---\nremix: a\n---\nx", VF_PROTO_ARK, "remix: Seedance" },
    { "---\nextend: a\n---\nx", VF_PROTO_ARK, "extend: Seedance" },
    { "---\nfit: cover\n---\nx", VF_PROTO_ARK, "fit: Seedance" },
    { "---\nfit: cover\n---\nx", VF_PROTO_OPENAI, "fit: there is no image" },
    { "---\nimage: a.png\nfit: stretch\n---\nx", VF_PROTO_OPENAI, "fit: want cover or contain" },
    { "---\nremix: a\nimage: a.png\n---\nx", VF_PROTO_OPENAI, "remix: takes the prompt alone" },
    { "---\nimage: nothere.png\n---\nx", VF_PROTO_OPENAI, "image: cannot open nothere.png" },
    { "---\nimage: text.png\n---\nx", VF_PROTO_OPENAI, "image: text.png is not a PNG" },
    { "---\nimage: /\n---\nx", VF_PROTO_OPENAI, "image: / is a directory" },
  };

  g_autoptr (GBytes) text = g_bytes_new_static ("not a picture\n", 14);

  put ("text.png", text);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (json_t) body = body_of (cases[i].text);
      g_autoptr (GError) error = NULL;
      g_autoptr (VfInputs) inputs = take (body, cases[i].protocol, &error);

      g_assert_null (inputs);
      g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
      if (!g_str_has_prefix (error->message, cases[i].reason_start))
        g_error ("%s: %s", cases[i].text, error->message);
    }
}

static void
test_picture_described (void)
{
  g_autoptr (GBytes) p = png (720, 1280);
  g_autoptr (json_t) body = body_of ("---\nimage: cat.png\n---\na cat");
  g_autoptr (GError) error = NULL;
  g_autoptr (VfInputs) inputs = NULL;
  g_autofree char *sha256 = NULL;
  json_t *ref;
  VfCreateFile *f;

  put ("cat.png", p);
  inputs = take (body, VF_PROTO_OPENAI, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (inputs->files->len, ==, 1);
  f = &g_array_index (inputs->files, VfCreateFile, 0);
  g_assert_true (g_bytes_equal (f->bytes, p));
  g_assert_cmpstr (f->content_type, ==, "image/png");
  g_assert_cmpstr (f->filename, ==, "cat.png");
  sha256 = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, p);
  g_assert_cmpstr (f->sha256, ==, sha256);
  g_assert_null (json_object_get (body, "image"));
  ref = json_object_get (body, "input_reference");
  g_assert_cmpstr (json_string_value (json_object_get (ref, "sha256")), ==, sha256);
  g_assert_cmpint (json_integer_value (json_object_get (ref, "size")), ==, g_bytes_get_size (p));
  g_assert_cmpint (json_integer_value (json_object_get (ref, "width")), ==, 720);
  g_assert_cmpstr (json_string_value (json_object_get (ref, "file")), ==, "cat.png");
}

static void
test_size_must_match_unless_fit (void)
{
  g_autoptr (GBytes) p = png (1000, 1000);
  g_autofree char *source_sha256 = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, p);
  const char *modes[] = { "cover", "contain" };

  put ("square.png", p);
  {
    g_autoptr (json_t) body = body_of ("---\nimage: square.png\n---\nx");
    g_autoptr (GError) error = NULL;
    g_autoptr (VfInputs) inputs = take (body, VF_PROTO_OPENAI, &error);

    g_assert_null (inputs);
    g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "1000x1000 but size is 720x1280"));
  }
  for (gsize i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_autofree char *text = g_strdup_printf ("---\nimage: square.png\nfit: %s\n---\nx", modes[i]);
      g_autoptr (json_t) body = body_of (text);
      g_autoptr (GError) error = NULL;
      g_autoptr (VfInputs) inputs = take (body, VF_PROTO_OPENAI, &error);
      g_autoptr (GdkPixbufLoader) loader = gdk_pixbuf_loader_new_with_mime_type ("image/png", NULL);
      VfCreateFile *f;
      GdkPixbuf *out;
      gsize len;
      const guint8 *data;

      g_assert_no_error (error);
      f = &g_array_index (inputs->files, VfCreateFile, 0);
      g_assert_cmpstr (f->content_type, ==, "image/png");
      data = g_bytes_get_data (f->bytes, &len);
      g_assert_true (gdk_pixbuf_loader_write (loader, data, len, NULL));
      g_assert_true (gdk_pixbuf_loader_close (loader, NULL));
      out = gdk_pixbuf_loader_get_pixbuf (loader);
      g_assert_cmpint (gdk_pixbuf_get_width (out), ==, 720);
      g_assert_cmpint (gdk_pixbuf_get_height (out), ==, 1280);
      g_assert_cmpstr (
          json_string_value (json_object_get (
              json_object_get (json_object_get (body, "input_reference"), "source"), "sha256")),
          ==, source_sha256);
    }
}

static void
test_too_large (void)
{
  g_autofree char *path = g_build_filename (dir, "big.png", NULL);
  g_autoptr (GBytes) p = png (16, 16);
  g_autoptr (json_t) body = body_of ("---\nimage: big.png\n---\nx");
  g_autoptr (GError) error = NULL;
  g_autoptr (VfInputs) inputs = NULL;

  put ("big.png", p);
  g_assert_cmpint (truncate (path, VF_INPUT_IMAGE_MAX + 1), ==, 0);
  inputs = take (body, VF_PROTO_OPENAI, &error);
  g_assert_null (inputs);
  g_assert_error (error, VF_ERROR, VF_ERROR_TOO_LARGE);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  dir = g_dir_make_tmp ("videofs-inputs-XXXXXX", &error);
  g_assert_no_error (error);
  g_test_add_func ("/inputs/sniff", test_sniff);
  g_test_add_func ("/inputs/no-keys", test_no_keys);
  g_test_add_func ("/inputs/refused-per-protocol", test_refused_per_protocol);
  g_test_add_func ("/inputs/picture-described", test_picture_described);
  g_test_add_func ("/inputs/size-must-match-unless-fit", test_size_must_match_unless_fit);
  g_test_add_func ("/inputs/too-large", test_too_large);
  ret = g_test_run ();
  {
    g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name (d)))
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);
        g_unlink (path);
      }
    g_rmdir (dir);
  }
  g_free (dir);
  return ret;
}
