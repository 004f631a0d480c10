/* test-image-wire.c: the streaming reader of image answers: the base64
 * strings of the picture keys go to files, decoded, whatever the pieces
 * the answer arrives in (escapes and keys cut across pieces); the rest is
 * kept with "@N" in their place; strings that are not a picture key's
 * values stay. */
#include "image-private.h"
#include "vf-task.h" /* json_t's g_autoptr */

#include <glib/gstdio.h>
#include <string.h>

static const char *const keys[] = { "b64_json", "data", NULL };

static char *
answer_text (GBytes *a, GBytes *b)
{
  g_autofree char *ea = g_base64_encode (g_bytes_get_data (a, NULL), g_bytes_get_size (a));
  g_autofree char *eb = g_base64_encode (g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  GString *escaped = g_string_new (NULL);

  /* JSON may escape '/' and the encoder may break lines */
  for (const char *p = eb; *p; p++)
    {
      if (*p == '/')
        g_string_append (escaped, "\\/");
      else
        g_string_append_c (escaped, *p);
      if ((p - eb) % 76 == 75)
        g_string_append (escaped, "\\n");
    }
  char *text
      = g_strdup_printf ("{\"note\": \"b64_json\", \"data\": [{\"b64_json\": \"%s\", "
                         "\"revised_prompt\": \"a \\\"quoted\\\" fox\"}, {\"b64_json\":\"%s\"}], "
                         "\"list\": [\"data\", \"x\"], \"inlineData\": {\"data\" : \"\"}}",
                         ea, escaped->str);

  g_string_free (escaped, TRUE);
  return text;
}

static GBytes *
random_bytes (gsize n, guint32 seed)
{
  GRand *r = g_rand_new_with_seed (seed);
  guint8 *b = g_malloc (n);

  for (gsize i = 0; i < n; i++)
    b[i] = (guint8)g_rand_int (r);
  g_rand_free (r);
  return g_bytes_new_take (b, n);
}

static void
check_pieces (gsize piece)
{
  g_autoptr (GBytes) a = random_bytes (70001, 1);
  g_autoptr (GBytes) b = random_bytes (3 * 16384 + 5, 2);
  g_autofree char *text = answer_text (a, b);
  g_autofree char *dir = g_dir_make_tmp ("image-wire-XXXXXX", NULL);
  g_autoptr (VfImageStream) s = vf_image_stream_new (keys, dir, 4096);
  g_autoptr (GError) error = NULL;
  g_autoptr (json_t) rest = NULL;
  gsize len = strlen (text);
  GBytes *want[] = { a, b, NULL };

  for (gsize off = 0; off < len; off += piece)
    g_assert_true (vf_image_stream_feed (s, text + off, MIN (piece, len - off), &error));
  g_assert_no_error (error);
  rest = vf_image_stream_finish (s, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_string_value (json_object_get (rest, "note")), ==, "b64_json");
  g_assert_cmpstr (json_string_value (json_object_get (
                       json_array_get (json_object_get (rest, "data"), 0), "b64_json")),
                   ==, "@0");
  g_assert_cmpstr (json_string_value (json_object_get (
                       json_array_get (json_object_get (rest, "data"), 0), "revised_prompt")),
                   ==, "a \"quoted\" fox");
  g_assert_cmpstr (json_string_value (json_array_get (json_object_get (rest, "list"), 0)), ==,
                   "data");
  g_assert_cmpstr (
      json_string_value (json_object_get (json_object_get (rest, "inlineData"), "data")), ==, "@2");
  g_assert_cmpuint (vf_image_stream_n_taken (s), ==, 3);
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *path = vf_image_stream_take_path (s, i);
      gchar *data = NULL;
      gsize n = 0;
      g_autoptr (GBytes) got = NULL;

      g_assert_nonnull (path);
      g_assert_true (g_file_get_contents (path, &data, &n, NULL));
      got = g_bytes_new_take (data, n);
      if (want[i])
        g_assert_true (g_bytes_equal (got, want[i]));
      else
        g_assert_cmpuint (n, ==, 0);
      g_unlink (path);
    }
  g_assert_null (vf_image_stream_take_path (s, 3));
  g_rmdir (dir);
}

static void
test_pieces (void)
{
  const gsize pieces[] = { 1, 2, 3, 7, 64, 4093, 65536, 1 << 20 };

  for (gsize i = 0; i < G_N_ELEMENTS (pieces); i++)
    check_pieces (pieces[i]);
}

/* The rest is capped; the files of an answer not taken are removed. */
static void
test_cap_and_cleanup (void)
{
  g_autofree char *dir = g_dir_make_tmp ("image-wire-XXXXXX", NULL);
  VfImageStream *s = vf_image_stream_new (keys, dir, 64);
  g_autoptr (GError) error = NULL;
  const char *text = "{\"b64_json\": \"AAAA\", \"other\": \"";
  GDir *d;

  g_assert_true (vf_image_stream_feed (s, text, strlen (text), &error));
  g_assert_false (vf_image_stream_finish (s, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_clear_error (&error);
  for (int i = 0; i < 10 && !error; i++)
    vf_image_stream_feed (s, "xxxxxxxxxx", 10, &error);
  g_assert_error (error, VF_ERROR, VF_ERROR_TOO_LARGE);
  vf_image_stream_free (s);
  d = g_dir_open (dir, 0, NULL);
  g_assert_null (g_dir_read_name (d));
  g_dir_close (d);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image-wire/pieces", test_pieces);
  g_test_add_func ("/image-wire/cap-and-cleanup", test_cap_and_cleanup);
  return g_test_run ();
}
