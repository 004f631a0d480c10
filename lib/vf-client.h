/* vf-client.h: the video APIs behind one interface.
 *
 * A VfClient holds the endpoints, the token and the model -> protocol
 * mapping; each call picks the protocol's table (proto-private.h: openai.c,
 * ark.c, newapi.c) and hands the call to it.  Reads are retried per
 * vf-retry.h; a create is retried only when it provably never left.  All
 * functions are thread-safe; a VfClient is immutable once made but for what
 * it learns of a base that has no list (an atomic flag per protocol).
 *
 * Ownership: returned tasks, pages and errors belong to the caller; the
 * config, request bodies and tasks passed in are borrowed (the client
 * copies what it keeps of the config).  Protocol names and variant lists
 * are static.
 */
#pragma once

#include "vf-content.h"
#include "vf-http.h"
#include "vf-retry.h"
#include "vf-task.h"
#include "vf-variant.h"

G_BEGIN_DECLS

typedef struct vf_client VfClient;

typedef struct
{
  const char *endpoint;      /* OpenAI Videos base, including /v1 */
  const char *ark_endpoint;  /* Ark base, e.g. .../api/v3 */
  const char *token;         /* bearer for both; never logged */
  const char *const *routes; /* "GLOB=openai|ark|newapi", first match wins, NULL-terminated;
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

/* ----- the protocols ----- */

/* "openai", "ark", "newapi" (as routes and the journal spell them); NULL for a value
 * that is not a VfProtocol.  from_name ignores case. */
const char *vf_protocol_name (VfProtocol protocol);
gboolean vf_protocol_from_name (const char *name, VfProtocol *protocol);

/* The variants a protocol's tasks offer, video first (*n_variants of them;
 * 0 and NULL for a value that is not a VfProtocol).  Content of any other
 * variant fails with VF_ERROR_NOT_FOUND and sends nothing. */
const VfVariant *vf_protocol_variants (VfProtocol protocol, gsize *n_variants);
gboolean vf_protocol_has_variant (VfProtocol protocol, VfVariant variant);

/* The create body, in the protocol's shape, for the body of a prompt file
 * (vf_prompt_parse()'s, in OpenAI shape).  Returns a new reference; `body`
 * is not changed. */
json_t *vf_protocol_create_body (VfProtocol protocol, json_t *body);

/* A task object of the protocol, as vf_task_from_openai() and friends. */
VfTask *vf_protocol_task_from_json (VfProtocol protocol, json_t *object, GError **error);

/* ----- calls ----- */

/* A file a create sends, named in the body by its description's sha256
 * (vf-inputs.h): OpenAI's input_reference, Ark's image_url items. */
typedef struct
{
  char *sha256;       /* lower-case hex */
  char *content_type; /* "image/png", ... */
  char *filename;     /* the base name a multipart part carries */
  GBytes *bytes;
} VfCreateFile;

typedef struct
{
  /* The whole request body as the protocol wants it: for OpenAI
   * {prompt, model, seconds, size, ...}; for Ark {model, content: [...], ...}.
   * The protocol is chosen from body.model. */
  json_t *body;
  /* OpenAI: a local image sent as input_reference (multipart), or NULL. */
  const char *image_path;
  /* The bytes the body's descriptions stand for, or NULL. */
  const VfCreateFile *files;
  gsize n_files;
} VfCreateRequest;

VfTask *vf_client_create (VfClient *client, const VfCreateRequest *request, GError **error);
VfTask *vf_client_retrieve (VfClient *client, VfProtocol protocol, const char *id, GError **error);
/* OpenAI: cursor is an id (after=), NULL for the first page, order desc.
 * Ark: cursor is the page number as a string, NULL for page 1. */
/* 0 when background traffic (polls, lists, probes) to `protocol` may go
 * now, else how long until it may: the API's rate-limit headers say the
 * budget is down to what is kept for creates (see vf-budget.h). */
gint64 vf_client_budget_wait_us (VfClient *client, VfProtocol protocol);

/* A base that answered a list with 404, 405 or 501 has none (a gateway's):
 * that is said once in the log, and from then on every list of a protocol
 * served at that base fails at once with such an error, sending nothing. */
gboolean vf_error_means_no_list (const GError *error);
VfTaskPage *vf_client_list (VfClient *client, VfProtocol protocol, const char *cursor, int limit,
                            GError **error);
gboolean vf_client_delete (VfClient *client, VfProtocol protocol, const char *id, GError **error);
/* Fails with VF_ERROR_INVALID for a protocol without remix (Ark). */
VfTask *vf_client_remix (VfClient *client, VfProtocol protocol, const char *id, const char *prompt,
                         GError **error);

/* ----- content ----- */

/* GET the content of a completed task, bytes [offset, offset + length)
 * (length -1: to the end; offset 0 and length -1: no Range header), checked
 * as vf-content.h says.  For Ark the task's video_url (last_frame_url for
 * VF_VARIANT_LAST_FRAME) is fetched with no token.  404 is VF_ERROR_NOT_FOUND; whether an error
 * means the API no longer has the content is vf_content_error_is_gone()'s to say.  Not retried
 * here: the caller resumes from what it has. */
gboolean vf_client_content (VfClient *client, const VfTask *task, VfVariant variant, gint64 offset,
                            gint64 length, const char *if_range, VfContentSink sink,
                            gpointer user_data, VfContentInfo *info, GCancellable *cancellable,
                            GError **error);

/* The size and ETag of a completed task's content, without its bytes (a
 * one-byte Range request, retried like a read). */
gboolean vf_client_content_probe (VfClient *client, const VfTask *task, VfVariant variant,
                                  VfContentInfo *info, GError **error);

G_END_DECLS
