/* image-private.h: what an image protocol provides, and the streaming
 * answer reader they share.  Internal to lib/.
 *
 * Each image protocol (image-openai.c, image-ark.c, image-gemini.c) is one
 * file exporting one const VfImageOps, as the video protocols export a
 * VfProtoOps; images.c holds the table of those tables, routes models to
 * them, sends the request and reads the answer through a VfImageStream,
 * which takes the base64 strings of the protocol's `picture_keys` out of
 * the JSON as it streams, decoding them into files, and keeps the rest
 * (each taken string replaced by "@N") for the protocol's parse().
 *
 * Ownership: a VfImageCall and a VfImageFound own what they hold (cleared
 * with their _clear functions); a stream owns its files until
 * vf_image_stream_take_path() hands one out, and removes the others when
 * freed.  The endpoint and request are borrowed.
 */
#pragma once

#include "call-private.h"
#include "vf-error.h"
#include "vf-images.h"

G_BEGIN_DECLS

/* What to send. */
typedef struct
{
  char *url;
  json_t *body;     /* JSON, unless parts are set */
  GArray *parts;    /* of VfHttpPart (multipart), or NULL */
  GPtrArray *owned; /* strings and bytes the parts point into */
} VfImageCall;

void vf_image_call_clear (VfImageCall *call);
/* A form field (the value copied) or a file part (the bytes referenced). */
void vf_image_call_add_field (VfImageCall *call, const char *name, const char *value);
void vf_image_call_add_file (VfImageCall *call, const char *name, const VfImageFile *file);

/* One picture of an answer: a taken base64 string, or a URL. */
typedef struct
{
  int taken; /* index of the stream's string, or -1 */
  char *url; /* or NULL */
} VfImageRef;

typedef struct
{
  GArray *refs; /* of VfImageRef, in the answer's order */
  char *revised_prompt;
  char *text;
} VfImageFound;

void vf_image_found_init (VfImageFound *found);
void vf_image_found_clear (VfImageFound *found);
/* The data[] items of OpenAI's and Ark's answers: b64_json (taken) or url,
 * and the first revised_prompt. */
gboolean vf_image_parse_data_items (json_t *answer, VfImageFound *found, GError **error);
/* "@N" -> N, else -1. */
int vf_image_taken_index (const char *value);

typedef struct
{
  const char *name;           /* "openai": in routes */
  const char *title;          /* "OpenAI Images": in messages */
  const char *default_models; /* globs, space-separated, it serves unless a route says otherwise */
  const char *const *picture_keys; /* members whose string values are pictures in base64 */

  gboolean (*build) (const VfEndpoint *endpoint, const VfImageRequest *request, VfImageCall *call,
                     GError **error);
  /* The pictures of a 2xx answer (their base64 already taken out); a
   * refusal inside a 2xx answer (Gemini's) as an error. */
  gboolean (*parse) (json_t *answer, VfImageFound *found, GError **error);
} VfImageOps;

extern const VfImageOps vf_image_openai_ops;
extern const VfImageOps vf_image_ark_ops;
extern const VfImageOps vf_image_gemini_ops;

/* ----- image-stream.c ----- */

typedef struct vf_image_stream VfImageStream;

/* Strings of `keys` go to files in `dir`; the rest is kept up to max_rest
 * bytes (VF_ERROR_TOO_LARGE past that). */
VfImageStream *vf_image_stream_new (const char *const *keys, const char *dir, gsize max_rest);
gboolean vf_image_stream_feed (VfImageStream *stream, const void *data, gsize len, GError **error);
/* After the last byte: the rest, parsed. */
json_t *vf_image_stream_finish (VfImageStream *stream, GError **error);
guint vf_image_stream_n_taken (VfImageStream *stream);
/* The file of string `index` (synced), now the caller's; NULL if none. */
char *vf_image_stream_take_path (VfImageStream *stream, int index);
/* Closes and removes the files not taken. */
void vf_image_stream_free (VfImageStream *stream);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfImageStream, vf_image_stream_free)

/* A new file in `dir` for a picture (".picture-XXXXXX"), open for writing. */
int vf_image_part_open (const char *dir, char **path, GError **error);

G_END_DECLS
