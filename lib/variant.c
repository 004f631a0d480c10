/* variant.c: the names of the content variants, and what their bytes are. */
#include "vf-variant.h"

#include <string.h>

static const struct
{
  const char *name; /* as the API's variant parameter and the cache key say it */
  const char *file; /* as the mount shows it */
  const char *type; /* the start of its content type */
} variants[VF_N_VARIANTS] = {
  [VF_VARIANT_VIDEO] = { "video", "video.mp4", "video/" },
  [VF_VARIANT_THUMBNAIL] = { "thumbnail", "thumbnail.webp", "image/webp" },
  [VF_VARIANT_SPRITESHEET] = { "spritesheet", "spritesheet.jpg", "image/jp" },
  [VF_VARIANT_LAST_FRAME] = { "last_frame", "last_frame.png", "image/png" },
};

/* Out of range reads as the video, as it always has. */
static guint
index_of (VfVariant variant)
{
  return (guint)variant < VF_N_VARIANTS ? (guint)variant : VF_VARIANT_VIDEO;
}

const char *
vf_variant_name (VfVariant variant)
{
  return variants[index_of (variant)].name;
}

const char *
vf_variant_file_name (VfVariant variant)
{
  return variants[index_of (variant)].file;
}

/* The variant whose file format the first bytes are, or -1. */
static int
kind_of_bytes (const guint8 *head, gsize len)
{
  static const guint8 png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

  if (len >= 12 && memcmp (head, "RIFF", 4) == 0 && memcmp (head + 8, "WEBP", 4) == 0)
    return VF_VARIANT_THUMBNAIL;
  if (len >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff)
    return VF_VARIANT_SPRITESHEET;
  if (len >= sizeof png && memcmp (head, png, sizeof png) == 0)
    return VF_VARIANT_LAST_FRAME;
  if (len >= 8
      && (memcmp (head + 4, "ftyp", 4) == 0 || memcmp (head + 4, "moov", 4) == 0
          || memcmp (head + 4, "mdat", 4) == 0))
    return VF_VARIANT_VIDEO;
  return -1;
}

gboolean
vf_variant_bytes_fit (VfVariant variant, const char *content_type, const guint8 *head, gsize len)
{
  int kind = kind_of_bytes (head, len);
  guint v = index_of (variant);

  /* A video may be in a container this does not know, but it is no
   * picture; a picture must be of its own format. */
  if (v == VF_VARIANT_VIDEO ? kind >= 0 && kind != VF_VARIANT_VIDEO : kind != (int)v)
    return FALSE;
  if (content_type
      && (g_ascii_strncasecmp (content_type, "video/", 6) == 0
          || g_ascii_strncasecmp (content_type, "image/", 6) == 0)
      && g_ascii_strncasecmp (content_type, variants[v].type, strlen (variants[v].type)) != 0)
    return FALSE;
  return TRUE;
}
