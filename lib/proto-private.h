/* proto-private.h: what a protocol file provides.  Internal to lib/.
 *
 * Each protocol (openai.c, ark.c) is one file that exports one const
 * VfProtoOps, in the manner of curl's Curl_handler tables; client.c holds
 * the table of those tables, indexed by VfProtocol, and routes models to
 * them.  A protocol builds URLs and bodies and parses answers through
 * call-private.h and vf-task.h; it never calls up into client.c.  A new protocol
 * is a new file, a new VfProtocol and one line in client.c's table.
 *
 * A table must set every member but remix (NULL: the API has none),
 * body_from_prompt (NULL: a prompt's body is already this protocol's) and
 * default_models (NULL: only routes send models to it).  The functions
 * get the protocol's own endpoint; its base is NULL when the user
 * configured none, and the function then fails with VF_ERROR_INVALID.
 * Ids reach them already checked (vf_id_check()).
 *
 * Ownership: as vf-client.h: returned tasks, pages and URLs belong to the
 * caller; the endpoint and request are borrowed.
 */
#pragma once

#include "call-private.h"
#include "vf-client.h"
#include "vf-error.h"

G_BEGIN_DECLS

typedef struct
{
  const char *name;           /* "openai": in routes (GLOB=NAME) and the journal */
  const char *title;          /* "OpenAI": in messages */
  const char *default_models; /* a glob of models it serves unless a route says otherwise */

  VfTask *(*create) (const VfEndpoint *endpoint, const VfCreateRequest *request, GError **error);
  VfTask *(*retrieve) (const VfEndpoint *endpoint, const char *id, GError **error);
  /* cursor: as vf_client_list() says. */
  VfTaskPage *(*list) (const VfEndpoint *endpoint, const char *cursor, int limit, GError **error);
  gboolean (*delete) (const VfEndpoint *endpoint, const char *id, GError **error);
  VfTask *(*remix) (const VfEndpoint *endpoint, const char *id, const char *prompt, GError **error);
  /* The create body for a prompt file's body, which vf_prompt_parse() gives
   * in OpenAI shape (a new reference; `body` is not changed); NULL: that
   * shape is this protocol's. */
  json_t *(*body_from_prompt) (json_t *body);
  /* A task object of this protocol, as the journal kept it. */
  VfTask *(*task_from_json) (json_t *object, GError **error);

  /* The URL of a variant of a completed task, and whether that URL takes
   * the bearer (a pre-signed URL on another host does not).  Called only
   * for the variants listed below. */
  char *(*content_url) (const VfEndpoint *endpoint, const VfTask *task, VfVariant variant,
                        GError **error);
  gboolean content_bearer;
  const VfVariant *variants; /* the variants its tasks offer, video first */
  gsize n_variants;
} VfProtoOps;

/* The file of `request` whose sha256 is that of `description` (an object
 * with a "sha256" member, as vf-inputs.h describes a file), or NULL. */
static inline const VfCreateFile *
vf_proto_request_file (const VfCreateRequest *request, const json_t *description)
{
  const char *sha256 = json_string_value (json_object_get (description, "sha256"));

  for (gsize i = 0; sha256 && i < request->n_files; i++)
    if (g_strcmp0 (request->files[i].sha256, sha256) == 0)
      return &request->files[i];
  return NULL;
}

/* Replaces, in the items of a `content` list (Ark's shape), each picture's
 * description (vf-inputs.h) by its bytes as a data URL; FALSE when some
 * bytes are not at hand. */
static inline gboolean
vf_proto_pictures_inline (json_t *content, const VfCreateRequest *request, GError **error)
{
  json_t *item;
  size_t i;

  json_array_foreach (content, i, item)
  {
    json_t *image = json_object_get (item, "image_url");
    const VfCreateFile *file;
    g_autofree char *base64 = NULL;
    g_autofree char *url = NULL;
    gsize len;
    const guint8 *data;

    if (!json_is_object (image) || !json_object_get (image, "sha256"))
      continue;
    file = vf_proto_request_file (request, image);
    if (!file)
      {
        vf_set_error (error, VF_ERROR_INVALID, "the bytes of a picture of content are not at hand");
        return FALSE;
      }
    data = g_bytes_get_data (file->bytes, &len);
    base64 = g_base64_encode (data, len);
    url = g_strconcat ("data:", file->content_type, ";base64,", base64, NULL);
    json_object_set_new (item, "image_url", json_pack ("{s:s}", "url", url));
  }
  return TRUE;
}

extern const VfProtoOps vf_openai_ops;
extern const VfProtoOps vf_ark_ops;
extern const VfProtoOps vf_newapi_ops;

G_END_DECLS
