/* vf-error.h: errors of lib/ as GErrors in the VF_ERROR domain.
 *
 * Every failure that crosses a lib/ function boundary is a GError.  Errors
 * that came from an HTTP exchange carry extended data (GLib's extended
 * errors): the HTTP status, the API's own error code and message, the
 * server's retry hints, and whether the request may have reached the
 * server.  That last flag is what keeps a create from ever being sent
 * twice: only a request that provably never left may be retried.
 *
 * vf_error_to_errno() is the one table that turns any GError into an errno
 * for the FUSE side.
 *
 * Ownership: the accessors return strings owned by the GError (valid while
 * it lives); every function borrows the error it is given.  Thread-safe.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VF_ERROR (vf_error_quark ())

typedef enum
{
  VF_ERROR_FAILED,       /* anything else */
  VF_ERROR_INVALID,      /* 400, 422, or refused locally: EINVAL */
  VF_ERROR_AUTH,         /* 401, 403: EACCES */
  VF_ERROR_NOT_FOUND,    /* 404 (and 410): ENOENT */
  VF_ERROR_CONFLICT,     /* 409: EBUSY */
  VF_ERROR_RATE_LIMITED, /* 429: EAGAIN */
  VF_ERROR_SERVER,       /* 5xx: EIO */
  VF_ERROR_NETWORK,      /* connection refused, reset, DNS, TLS: EIO */
  VF_ERROR_TIMEOUT,      /* connect or low-speed time-out, 408: ETIMEDOUT */
  VF_ERROR_PROTOCOL,     /* unparsable or unexpected answer: EIO */
  VF_ERROR_BAD_ID,       /* an id unfit to be a file name: EIO */
  VF_ERROR_TOO_LARGE,    /* a body over its cap: EFBIG */
  VF_ERROR_NO_SPACE,     /* disk full: ENOSPC */
  VF_ERROR_EXPIRED,      /* content the API no longer has: ENOENT */
} VfErrorCode;

GQuark vf_error_quark (void);

/* Sets *error (if error is non-NULL) to a plain VF_ERROR. */
void vf_set_error (GError **error, VfErrorCode code, const char *format, ...) G_GNUC_PRINTF (3, 4);

/* The code for an HTTP status (>= 400). */
VfErrorCode vf_error_code_for_status (int http_status);

/* Extended data.  The setters copy their strings; the getters return data
 * owned by the error, or -1 / NULL where nothing was set.  They accept any
 * GError (of any domain) and answer "nothing set" for foreign ones. */
void vf_error_set_http (GError *error, int http_status, const char *api_code,
                        const char *api_message, const char *request_id);
void vf_error_set_maybe_sent (GError *error, gboolean maybe_sent);
void vf_error_set_retry_hints (GError *error, gint64 retry_after_ms, int should_retry);

int vf_error_http_status (const GError *error);
const char *vf_error_api_code (const GError *error);
const char *vf_error_api_message (const GError *error);
const char *vf_error_request_id (const GError *error);
/* TRUE unless the request provably never left this machine. */
gboolean vf_error_maybe_sent (const GError *error);
/* Milliseconds from retry-after-ms / Retry-After, or -1. */
gint64 vf_error_retry_after_ms (const GError *error);
/* x-should-retry: 1 true, 0 false, -1 absent. */
int vf_error_should_retry (const GError *error);

/* The errno the FUSE side returns for this error (positive). */
int vf_error_to_errno (const GError *error);

G_END_DECLS
