/* vf-inputs.h: the pictures, videos and sources a prompt names besides its
 * text.
 *
 * Front matter keys image, last_image, references, reference_video,
 * reference_audio, remix, extend, return_last_frame and fit (contract,
 * section 3).  vf_inputs_take() takes them out of a create body in its
 * protocol's shape, refuses what the protocol does not take, reads each
 * FILE through the caller's opener, checks its bytes (PNG, JPEG or WebP by
 * their first bytes, the dimensions, the size), fits it to the job's size
 * when asked (GdkPixbuf), and leaves in the body, where the bytes will go,
 * a description of them: {file, type, size, sha256, width, height}.  The
 * journal and request.json keep that description, never the bytes; the
 * bytes are in the returned VfInputs, for vf_client_create().
 *
 * Ownership: the body is changed in place and stays the caller's; the
 * returned VfInputs and everything in it belong to the caller.  No state,
 * no locks; the opener is called from the calling thread.
 */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "vf-client.h"

G_BEGIN_DECLS

/* The most bytes a picture may have, for both protocols (EFBIG beyond). */
#define VF_INPUT_IMAGE_MAX (10 * 1024 * 1024)
/* Seedance: pictures, videos, audios and items in all that one task takes. */
#define VF_INPUT_ARK_IMAGES_MAX 9
#define VF_INPUT_ARK_MEDIA_MAX 3
#define VF_INPUT_ARK_ITEMS_MAX 12

/* Opens FILE as written in the prompt (relative to jobs/, or absolute) for
 * reading; returns a descriptor the caller closes, or -1 with *error set. */
typedef int (*VfInputOpenFunc) (const char *file, gpointer user_data, GError **error);

typedef struct
{
  GArray *files; /* VfCreateFile, in the order the body names them */
  char *remix;   /* remix: NAME-or-ID as written, or NULL */
  char *extend;  /* extend: NAME-or-ID as written, or NULL */
} VfInputs;

void vf_inputs_free (VfInputs *inputs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfInputs, vf_inputs_free)

/* Takes the input keys out of `body` (a create body of `protocol`, as
 * vf_protocol_create_body() made it) and reads their files through `open`
 * (NULL: absolute paths only).  Fails with VF_ERROR_INVALID and a reason
 * that names the key (a key the protocol does not take, a missing file, a
 * file that is not a picture, dimensions that differ from size) or
 * VF_ERROR_TOO_LARGE.  A body with no input key gives an empty VfInputs. */
VfInputs *vf_inputs_take (json_t *body, VfProtocol protocol, VfInputOpenFunc open,
                          gpointer user_data, GError **error);

/* The type of a picture by its first bytes: "image/png", "image/jpeg",
 * "image/webp", or NULL. */
const char *vf_inputs_sniff (const guint8 *data, gsize len);

/* The pictures of a picture's request (images/): takes `image` (FILE, or
 * a list of them) and `mask` (one FILE) of `body`, reads and checks each as
 * vf_inputs_take() does (a PNG, JPEG or WebP by its bytes), and puts their
 * descriptions in their place.  The files are the images in order, then
 * the mask when *has_mask. */
#define VF_INPUT_PICTURES_MAX 16
VfInputs *vf_inputs_take_pictures (json_t *body, VfInputOpenFunc open, gpointer user_data,
                                   gboolean *has_mask, GError **error);

G_END_DECLS
