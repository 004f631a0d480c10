/* variant.c: the names of the content variants. */
#include "vf-variant.h"

static const struct
{
  const char *name; /* as the API's variant parameter and the cache key say it */
  const char *file; /* as the mount shows it */
} variants[VF_N_VARIANTS] = {
  [VF_VARIANT_VIDEO] = { "video", "video.mp4" },
  [VF_VARIANT_THUMBNAIL] = { "thumbnail", "thumbnail.webp" },
  [VF_VARIANT_SPRITESHEET] = { "spritesheet", "spritesheet.jpg" },
  [VF_VARIANT_LAST_FRAME] = { "last_frame", "last_frame.png" },
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
