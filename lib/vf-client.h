/* vf-client.h: the video APIs behind one interface.
 *
 * A VfClient holds the endpoints, the token and the model -> protocol
 * mapping; each call picks the protocol and speaks it (openai.c, ark.c).
 * Reads are retried per vf-retry.h; a create is retried only when it
 * provably never left.  All functions are thread-safe.
 *
 * Ownership: returned tasks and pages belong to the caller.  Request bodies
 * are borrowed.
 */
#pragma once

#include "vf-http.h"
#include "vf-retry.h"
#include "vf-task.h"

G_BEGIN_DECLS

typedef struct vf_client VfClient;

typedef struct
{
  const char *endpoint;      /* OpenAI Videos base, including /v1 */
  const char *ark_endpoint;  /* Ark base, e.g. .../api/v3 */
  const char *token;         /* bearer for both; never logged */
  const char *const *routes; /* "GLOB=openai|ark", first match wins, NULL-terminated;
                                after them: doubao-seedance-* -> ark, * -> openai */
  VfHttpConfig http;
  VfRetryPolicy retry;
} VfClientConfig;

void vf_client_config_init (VfClientConfig *config);

/* Fails with VF_ERROR_INVALID for a URL that is not allowed or a bad route. */
VfClient *vf_client_new (const VfClientConfig *config, GError **error);
void vf_client_free (VfClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfClient, vf_client_free)

VfProtocol vf_client_protocol_for_model (VfClient *client, const char *model);

typedef struct
{
  /* The whole request body as the protocol wants it: for OpenAI
   * {prompt, model, seconds, size, ...}; for Ark {model, content: [...], ...}.
   * The protocol is chosen from body.model. */
  json_t *body;
  /* OpenAI: a local image sent as input_reference (multipart), or NULL. */
  const char *image_path;
} VfCreateRequest;

VfTask *vf_client_create (VfClient *client, const VfCreateRequest *request, GError **error);
VfTask *vf_client_retrieve (VfClient *client, VfProtocol protocol, const char *id, GError **error);
/* OpenAI: cursor is an id (after=), NULL for the first page, order desc.
 * Ark: cursor is the page number as a string, NULL for page 1. */
VfTaskPage *vf_client_list (VfClient *client, VfProtocol protocol, const char *cursor, int limit,
                            GError **error);
gboolean vf_client_delete (VfClient *client, VfProtocol protocol, const char *id, GError **error);
VfTask *vf_client_remix (VfClient *client, const char *id, const char *prompt, GError **error);

/* ----- content ----- */

typedef enum
{
  VF_VARIANT_VIDEO,
  VF_VARIANT_THUMBNAIL,
  VF_VARIANT_SPRITESHEET,
} VfVariant;

const char *vf_variant_name (VfVariant variant);      /* "video", ... */
const char *vf_variant_file_name (VfVariant variant); /* "video.mp4", ... */

typedef struct
{
  int status;         /* 200 or 206 */
  gint64 total_size;  /* whole size of the content, from Content-Range or Content-Length; -1 */
  gint64 start;       /* first byte this answer carries */
  gint64 length;      /* bytes this answer carries (Content-Length), -1 if unknown */
  gboolean ranges;    /* the server honours Range (206 seen, or Accept-Ranges: bytes) */
  char *etag;         /* or NULL */
  char *content_type; /* or NULL */
} VfContentInfo;

void vf_content_info_clear (VfContentInfo *info);

/* Called once per chunk, in order, starting at info->start. */
typedef gboolean (*VfContentSink) (const void *data, gsize len, gpointer user_data, GError **error);

/* GET the content of a completed task, bytes [offset, offset + length)
 * (length -1: to the end; offset 0 and length -1: no Range header).
 * For Ark the task's video_url is fetched with no token.  The answer is
 * checked before any byte reaches the sink: a JSON (or text) body, a
 * Content-Range other than the one asked for, or an If-Range mismatch fail
 * with VF_ERROR_PROTOCOL; after the body, a short or long body fails the
 * same way (the sink has then seen a prefix: callers must treat the bytes as
 * unconfirmed until TRUE is returned).  404 is VF_ERROR_NOT_FOUND.
 * Not retried here: the caller resumes from what it has. */
gboolean vf_client_content (VfClient *client, const VfTask *task, VfVariant variant, gint64 offset,
                            gint64 length, const char *if_range, VfContentSink sink,
                            gpointer user_data, VfContentInfo *info, GCancellable *cancellable,
                            GError **error);

/* The size and ETag of a completed task's content, without its bytes (a
 * one-byte Range request, retried like a read). */
gboolean vf_client_content_probe (VfClient *client, const VfTask *task, VfVariant variant,
                                  VfContentInfo *info, GError **error);

G_END_DECLS
