/* call-private.h: one exchange with an API, below the protocols.
 *
 * A VfEndpoint is what a call needs to know of where it goes: the base URL
 * of one protocol, the token, the HTTP handle and the retry policy.  It is
 * borrowed from the client that owns it; nothing here knows of VfClient.
 * vf_call_json() sends one JSON (or multipart) request with the bearer,
 * retried per vf-retry.h (a create only when it provably never left), and
 * turns an error answer into a GError with the API's message, the retry
 * hints and the token taken out.
 *
 * Ownership: everything passed in is borrowed; returned JSON, strings and
 * errors belong to the caller.  Thread-safe as VfHttp is.
 */
#pragma once

#include <jansson.h>

#include "vf-budget.h"
#include "vf-http.h"
#include "vf-retry.h"

G_BEGIN_DECLS

typedef struct vf_endpoint
{
  const char *base;  /* the protocol's base URL, no trailing slash; NULL: not configured */
  const char *token; /* bearer, or NULL; never logged */
  VfHttp *http;
  const VfRetryPolicy *retry;
  VfBudget *budget; /* what the API's rate-limit headers said last */
} VfEndpoint;

typedef struct
{
  const char *method;
  const char *url;
  json_t *body; /* sent as JSON, unless parts are given (multipart) */
  const VfHttpPart *parts;
  gsize n_parts;
  gboolean idempotent; /* FALSE for a create */
} VfCall;

/* Returns the answer's JSON (an empty object for an empty body) and leaves
 * the last answer in *response (zeroed before; the caller clears it). */
json_t *vf_call_json (const VfEndpoint *endpoint, const VfCall *call, VfHttpResponse *response,
                      GError **error);

/* The error for a non-2xx answer: the API's message, the retry hints,
 * maybe-sent TRUE, and the method and URL in front. */
GError *vf_call_error_from_response (const VfEndpoint *endpoint, const char *method,
                                     const char *url, const VfHttpResponse *response);

/* One try of a request; vf_call_with_retries() runs it again while the
 * policy allows, waiting in between. */
typedef gboolean (*VfCallAttempt) (gpointer data, GError **error);

gboolean vf_call_with_retries (const VfRetryPolicy *retry, gboolean idempotent,
                               VfCallAttempt attempt, gpointer data, GError **error);

/* An id as one escaped path segment. */
char *vf_call_escape (const char *text);

G_END_DECLS
