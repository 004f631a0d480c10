/* vf-images.h: the image APIs behind one call.
 *
 * A VfImages holds the three image protocols' endpoints (OpenAI Images,
 * Ark Seedream, Gemini generateContent), the token and the model ->
 * protocol routes; vf_images_generate() picks the protocol's table
 * (image-private.h: image-openai.c, image-ark.c, image-gemini.c), sends
 * one request and writes the pictures of its answer to files.  These APIs
 * answer synchronously and have no list: a request is sent once, never
 * again on its own (only one that provably never left is tried again, as
 * for video creates), and an answer lost to a cut or a time-out is an error
 * with vf_error_maybe_sent() TRUE: the API may have made and billed it.
 * Pictures in base64 are decoded as the answer streams in, so a 4K picture
 * costs no more memory than a small one; URL answers are fetched at once,
 * with no token (they are pre-signed, on storage hosts).
 *
 * A separate object from VfClient: nothing of the video client's state
 * (task ids, lists, variants, polls) applies, and the image calls share
 * only the lower layers (call-private.h, vf-http.h) with it.
 *
 * Ownership: the config and requests are borrowed (the VfImages copies
 * what it keeps); results and errors belong to the caller.  Thread-safe:
 * a VfImages is immutable once made.
 */
#pragma once

#include <gio/gio.h>
#include <jansson.h>

#include "vf-http.h"
#include "vf-retry.h"

G_BEGIN_DECLS

typedef struct vf_images VfImages;

typedef enum
{
  VF_IMAGE_OPENAI,
  VF_IMAGE_ARK,
  VF_IMAGE_GEMINI,
  VF_N_IMAGE_PROTOCOLS,
} VfImageProtocol;

typedef struct
{
  const char *endpoint;        /* OpenAI base, including /v1 */
  const char *ark_endpoint;    /* Ark base, e.g. .../api/v3 */
  const char *gemini_endpoint; /* Gemini base, including /v1beta */
  const char *token;           /* bearer for all three; never logged, never in a URL */
  /* How Gemini gets the token: "bearer" (resellers), "key" (x-goog-api-key:
   * Google's own API keys), NULL: key where gemini_endpoint's host is
   * Google's (*.googleapis.com), else bearer. */
  const char *gemini_auth;
  /* "GLOB=openai|ark|gemini", first match wins, NULL-terminated; after them:
   * gpt-image-* and dall-e-* -> openai, doubao-seedream-* -> ark, gemini-* ->
   * gemini, * -> openai */
  const char *const *routes;
  long answer_timeout_s; /* how long an answer may keep silent: default 300 */
  VfHttpConfig http;
  VfRetryPolicy retry;
} VfImagesConfig;

void vf_images_config_init (VfImagesConfig *config);

/* Fails with VF_ERROR_INVALID for a URL that is not allowed, a bad route
 * or a gemini_auth that is neither bearer nor key. */
VfImages *vf_images_new (const VfImagesConfig *config, GError **error);
void vf_images_free (VfImages *images);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfImages, vf_images_free)

VfImageProtocol vf_images_protocol_for_model (VfImages *images, const char *model);
/* "openai", "ark", "gemini"; NULL for a value that is not one. */
const char *vf_image_protocol_name (VfImageProtocol protocol);

/* An input picture (or mask) a request sends. */
typedef struct
{
  const char *filename;     /* the base name a multipart part carries */
  const char *content_type; /* "image/png", "image/jpeg", "image/webp" */
  GBytes *bytes;
} VfImageFile;

typedef struct
{
  /* In OpenAI's shape, whatever the protocol: model (which picks the
   * protocol), prompt, n, size, quality, background, output_format,
   * response_format, seed, ...; each protocol maps it to its own (Ark:
   * n as sequential_image_generation; Gemini: contents and
   * generationConfig, size as imageSize 1K/2K/4K or aspectRatio). */
  json_t *body;
  const VfImageFile *images; /* edits (OpenAI), references (Ark, Gemini) */
  gsize n_images;
  const VfImageFile *mask; /* OpenAI edits only; NULL: none */
  /* An existing directory the pictures are written to, as image.EXT,
   * image-2.EXT, ... (EXT by the bytes: png, jpeg, webp), each synced;
   * files of a failed request are removed. */
  const char *dir;
} VfImageRequest;

typedef struct
{
  char *path;         /* dir/image.png, ... */
  char *content_type; /* by the bytes */
  int width, height;  /* from the picture's header */
  gint64 size;
  char *sha256;
} VfImagePicture;

typedef struct
{
  VfImageProtocol protocol;
  VfImagePicture *pictures;
  gsize n_pictures;
  char *revised_prompt; /* where the API gives one, else NULL */
  char *text;           /* what a Gemini model said beside its pictures, else NULL */
  char *request_id;     /* x-request-id (or Gemini's responseId), else NULL */
  json_t *answer;       /* the answer, each picture's base64 replaced by "@N" */
} VfImageResult;

void vf_image_result_free (VfImageResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfImageResult, vf_image_result_free)

/* Sends the request and writes its pictures.  Errors: the API's refusal
 * (vf_image_error_is_refusal()), its other error answers with their reason,
 * transport errors (a lost answer: vf_error_maybe_sent() TRUE, never
 * re-sent here), VF_ERROR_EXPIRED for a URL answer that no longer serves
 * its picture, VF_ERROR_PROTOCOL for an answer that holds no picture. */
VfImageResult *vf_images_generate (VfImages *images, const VfImageRequest *request,
                                   GCancellable *cancellable, GError **error);

/* Whether `error` is the API's refusal of the prompt or of the picture it
 * made (moderation), as opposed to a bad request or a transport failure. */
gboolean vf_image_error_is_refusal (const GError *error);

G_END_DECLS
