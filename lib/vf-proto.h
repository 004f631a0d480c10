/* vf-proto.h: what client.c shares with the two protocols, openai.c and
 * ark.c.  Internal to lib/.
 *
 * The protocols build URLs and bodies and parse answers; client.c owns the
 * exchange itself (bearer, retries, errors from error answers) and content.
 */
#pragma once

#include "vf-client.h"

G_BEGIN_DECLS

typedef struct
{
  char *glob;
  VfProtocol protocol;
} VfRoute;

struct vf_client
{
  char *endpoint;     /* without a trailing slash */
  char *ark_endpoint; /* likewise, or NULL */
  char *token;        /* or NULL */
  GArray *routes;     /* of VfRoute */
  VfHttp *http;
  VfRetryPolicy retry;
};

/* One JSON exchange with the bearer, retried per the policy (a create,
 * idempotent FALSE, only when it provably never left).  body is sent as
 * JSON unless parts are given (multipart).  Returns the answer's JSON (an
 * empty object for an empty body) and leaves the last answer in *response
 * (caller clears it). */
typedef struct
{
  const char *method;
  const char *url;
  json_t *body;
  const VfHttpPart *parts;
  gsize n_parts;
  gboolean idempotent;
} VfCall;

json_t *vf_client_call_json (VfClient *client, const VfCall *call, VfHttpResponse *response,
                             GError **error);

/* The error for a non-2xx answer: the API's message, the retry hints,
 * maybe-sent TRUE, and the method and URL in front. */
GError *vf_client_error_from_response (VfClient *client, const char *method, const char *url,
                                       const VfHttpResponse *response);

/* An id as one escaped path segment. */
char *vf_client_escape (const char *text);

VfTask *vf_openai_create (VfClient *client, const VfCreateRequest *request, GError **error);
VfTask *vf_openai_retrieve (VfClient *client, const char *id, GError **error);
VfTaskPage *vf_openai_list (VfClient *client, const char *cursor, int limit, GError **error);
gboolean vf_openai_delete (VfClient *client, const char *id, GError **error);
VfTask *vf_openai_remix (VfClient *client, const char *id, const char *prompt, GError **error);
char *vf_openai_content_url (VfClient *client, const VfTask *task, VfVariant variant,
                             GError **error);

VfTask *vf_ark_create (VfClient *client, const VfCreateRequest *request, GError **error);
VfTask *vf_ark_retrieve (VfClient *client, const char *id, GError **error);
VfTaskPage *vf_ark_list (VfClient *client, const char *cursor, int limit, GError **error);
gboolean vf_ark_delete (VfClient *client, const char *id, GError **error);
/* The pre-signed video_url, fetched with no bearer; NOT_FOUND for the
 * variants Ark does not have. */
char *vf_ark_content_url (VfClient *client, const VfTask *task, VfVariant variant, GError **error);

G_END_DECLS
