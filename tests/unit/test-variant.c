/* test-variant.c: what each variant's bytes must be. */
#include "vf-variant.h"

static const guint8 mp4[] = { 0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0 };
static const guint8 webp[]
    = { 'R', 'I', 'F', 'F', 0x24, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' ' };
static const guint8 jpeg[] = { 0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1 };
static const guint8 png[]
    = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0x0d, 'I', 'H', 'D', 'R' };

static void
test_fit (void)
{
  /* each variant's own bytes, with its type or none or a generic one */
  g_assert_true (vf_variant_bytes_fit (VF_VARIANT_VIDEO, "video/mp4", mp4, sizeof mp4));
  g_assert_true (vf_variant_bytes_fit (VF_VARIANT_THUMBNAIL, "image/webp", webp, sizeof webp));
  g_assert_true (vf_variant_bytes_fit (VF_VARIANT_SPRITESHEET, "image/jpeg", jpeg, sizeof jpeg));
  g_assert_true (vf_variant_bytes_fit (VF_VARIANT_SPRITESHEET, "IMAGE/JPG", jpeg, sizeof jpeg));
  g_assert_true (vf_variant_bytes_fit (VF_VARIANT_LAST_FRAME, NULL, png, sizeof png));
  g_assert_true (
      vf_variant_bytes_fit (VF_VARIANT_THUMBNAIL, "application/octet-stream", webp, sizeof webp));
  /* a video in a container not known here is still a video */
  g_assert_true (
      vf_variant_bytes_fit (VF_VARIANT_VIDEO, "video/webm", (const guint8 *)"\x1a\x45\xdf\xa3", 4));

  /* the MP4 a gateway answers for every variant */
  g_assert_false (vf_variant_bytes_fit (VF_VARIANT_THUMBNAIL, "video/mp4", mp4, sizeof mp4));
  g_assert_false (vf_variant_bytes_fit (VF_VARIANT_SPRITESHEET, "video/mp4", mp4, sizeof mp4));
  g_assert_false (vf_variant_bytes_fit (VF_VARIANT_THUMBNAIL, NULL, mp4, sizeof mp4));
  /* bytes of one kind with another's type, and pictures as the video */
  g_assert_false (vf_variant_bytes_fit (VF_VARIANT_THUMBNAIL, "image/webp", jpeg, sizeof jpeg));
  g_assert_false (vf_variant_bytes_fit (VF_VARIANT_THUMBNAIL, "image/jpeg", webp, sizeof webp));
  g_assert_false (vf_variant_bytes_fit (VF_VARIANT_VIDEO, "video/mp4", webp, sizeof webp));
  g_assert_false (vf_variant_bytes_fit (VF_VARIANT_VIDEO, "image/png", mp4, sizeof mp4));
  g_assert_false (vf_variant_bytes_fit (VF_VARIANT_LAST_FRAME, "image/png", jpeg, sizeof jpeg));
  /* a picture too short to be known is not one */
  g_assert_false (vf_variant_bytes_fit (VF_VARIANT_THUMBNAIL, "image/webp", webp, 4));
  g_assert_false (vf_variant_bytes_fit (VF_VARIANT_SPRITESHEET, NULL, NULL, 0));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/variant/fit", test_fit);
  return g_test_run ();
}
