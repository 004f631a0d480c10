/* vf-variant.h: the kinds of content a completed task can offer, and their
 * names.  A protocol says which of them it has (vf_protocol_variants() in
 * vf-client.h).
 *
 * Ownership: the names are static strings; nothing here is allocated;
 * bytes are borrowed.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  VF_VARIANT_VIDEO,
  VF_VARIANT_THUMBNAIL,
  VF_VARIANT_SPRITESHEET,
  VF_VARIANT_LAST_FRAME, /* Ark's last_frame_url, with return_last_frame */
} VfVariant;

/* How many there are: the size of arrays indexed by VfVariant. */
#define VF_N_VARIANTS (VF_VARIANT_LAST_FRAME + 1)

const char *vf_variant_name (VfVariant variant);      /* "video", ... */
const char *vf_variant_file_name (VfVariant variant); /* "video.mp4", ... */

/* Whether content with this type (may be NULL) and these first bytes is
 * what the variant's file name says (a WebP for the thumbnail, a JPEG for
 * the sprite sheet, a PNG for the last frame, no picture for the video):
 * a gateway that ignores `variant` answers the MP4 for each. */
gboolean vf_variant_bytes_fit (VfVariant variant, const char *content_type, const guint8 *head,
                               gsize len);

G_END_DECLS
