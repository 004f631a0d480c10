/* error.c: the VF_ERROR domain, its extended data, and the errno table. */
#include "vf-error.h"

#include <errno.h>
#include <gio/gio.h>

typedef struct
{
  int http_status;
  char *api_code;
  char *api_message;
  char *request_id;
  gboolean maybe_sent;
  gint64 retry_after_ms;
  int should_retry;
} VfErrorPrivate;

static void
vf_error_private_init (VfErrorPrivate *priv)
{
  priv->http_status = -1;
  priv->api_code = NULL;
  priv->api_message = NULL;
  priv->request_id = NULL;
  priv->maybe_sent = TRUE;
  priv->retry_after_ms = -1;
  priv->should_retry = -1;
}

static void
vf_error_private_copy (const VfErrorPrivate *src, VfErrorPrivate *dest)
{
  dest->http_status = src->http_status;
  dest->api_code = g_strdup (src->api_code);
  dest->api_message = g_strdup (src->api_message);
  dest->request_id = g_strdup (src->request_id);
  dest->maybe_sent = src->maybe_sent;
  dest->retry_after_ms = src->retry_after_ms;
  dest->should_retry = src->should_retry;
}

static void
vf_error_private_clear (VfErrorPrivate *priv)
{
  g_clear_pointer (&priv->api_code, g_free);
  g_clear_pointer (&priv->api_message, g_free);
  g_clear_pointer (&priv->request_id, g_free);
}

G_DEFINE_EXTENDED_ERROR (VfError, vf_error)

/* NULL for errors of other domains: they carry no extended data. */
static VfErrorPrivate *
private_of (const GError *error)
{
  if (!error || error->domain != VF_ERROR)
    return NULL;
  return vf_error_get_private (error);
}

void
vf_set_error (GError **error, VfErrorCode code, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  if (!error)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, VF_ERROR, code, message);
}

VfErrorCode
vf_error_code_for_status (int http_status)
{
  switch (http_status)
    {
    case 400:
    case 422:
      return VF_ERROR_INVALID;
    case 401:
    case 403:
      return VF_ERROR_AUTH;
    case 404:
    case 410:
      return VF_ERROR_NOT_FOUND;
    case 408:
      return VF_ERROR_TIMEOUT;
    case 409:
      return VF_ERROR_CONFLICT;
    case 413:
      return VF_ERROR_TOO_LARGE;
    case 429:
      return VF_ERROR_RATE_LIMITED;
    default:
      break;
    }
  if (http_status >= 500 && http_status <= 599)
    return VF_ERROR_SERVER;
  if (http_status >= 400 && http_status <= 499)
    return VF_ERROR_INVALID;
  /* Not an error status at all: the answer was not what was expected. */
  return VF_ERROR_PROTOCOL;
}

/* Setters on errors of other domains do nothing: there is nowhere to keep
 * the data, and the getters answer "nothing set" for them anyway. */
void
vf_error_set_http (GError *error, int http_status, const char *api_code, const char *api_message,
                   const char *request_id)
{
  VfErrorPrivate *priv = private_of (error);

  if (!priv)
    return;
  /* copies first: a value may be one of the error's own (its request id) */
  char *code = g_strdup (api_code);
  char *message = g_strdup (api_message);
  char *id = g_strdup (request_id);

  priv->http_status = http_status;
  g_free (priv->api_code);
  priv->api_code = code;
  g_free (priv->api_message);
  priv->api_message = message;
  g_free (priv->request_id);
  priv->request_id = id;
}

void
vf_error_set_maybe_sent (GError *error, gboolean maybe_sent)
{
  VfErrorPrivate *priv = private_of (error);

  if (priv)
    priv->maybe_sent = !!maybe_sent;
}

void
vf_error_set_retry_hints (GError *error, gint64 retry_after_ms, int should_retry)
{
  VfErrorPrivate *priv = private_of (error);

  if (!priv)
    return;
  priv->retry_after_ms = retry_after_ms < 0 ? -1 : retry_after_ms;
  priv->should_retry = should_retry < 0 ? -1 : !!should_retry;
}

int
vf_error_http_status (const GError *error)
{
  VfErrorPrivate *priv = private_of (error);

  return priv ? priv->http_status : -1;
}

const char *
vf_error_api_code (const GError *error)
{
  VfErrorPrivate *priv = private_of (error);

  return priv ? priv->api_code : NULL;
}

const char *
vf_error_api_message (const GError *error)
{
  VfErrorPrivate *priv = private_of (error);

  return priv ? priv->api_message : NULL;
}

const char *
vf_error_request_id (const GError *error)
{
  VfErrorPrivate *priv = private_of (error);

  return priv ? priv->request_id : NULL;
}

gboolean
vf_error_maybe_sent (const GError *error)
{
  VfErrorPrivate *priv = private_of (error);

  return priv ? priv->maybe_sent : TRUE;
}

gint64
vf_error_retry_after_ms (const GError *error)
{
  VfErrorPrivate *priv = private_of (error);

  return priv ? priv->retry_after_ms : -1;
}

int
vf_error_should_retry (const GError *error)
{
  VfErrorPrivate *priv = private_of (error);

  return priv ? priv->should_retry : -1;
}

int
vf_error_to_errno (const GError *error)
{
  if (!error)
    return EIO;

  if (error->domain == VF_ERROR)
    {
      switch ((VfErrorCode)error->code)
        {
        case VF_ERROR_INVALID:
          return EINVAL;
        case VF_ERROR_AUTH:
          return EACCES;
        case VF_ERROR_NOT_FOUND:
        case VF_ERROR_EXPIRED:
          return ENOENT;
        case VF_ERROR_CONFLICT:
          return EBUSY;
        case VF_ERROR_RATE_LIMITED:
          return EAGAIN;
        case VF_ERROR_TIMEOUT:
          return ETIMEDOUT;
        case VF_ERROR_TOO_LARGE:
          return EFBIG;
        case VF_ERROR_NO_SPACE:
          return ENOSPC;
        case VF_ERROR_SERVER:
        case VF_ERROR_NETWORK:
        case VF_ERROR_PROTOCOL:
        case VF_ERROR_BAD_ID:
        case VF_ERROR_FAILED:
        default:
          return EIO;
        }
    }

  if (error->domain == G_IO_ERROR)
    {
      switch ((GIOErrorEnum)error->code)
        {
        case G_IO_ERROR_CANCELLED:
          return EINTR;
        case G_IO_ERROR_NOT_FOUND:
          return ENOENT;
        case G_IO_ERROR_NO_SPACE:
          return ENOSPC;
        case G_IO_ERROR_PERMISSION_DENIED:
          return EACCES;
        case G_IO_ERROR_EXISTS:
          return EEXIST;
        case G_IO_ERROR_BUSY:
          return EBUSY;
        case G_IO_ERROR_IS_DIRECTORY:
          return EISDIR;
        case G_IO_ERROR_NOT_DIRECTORY:
          return ENOTDIR;
        case G_IO_ERROR_NOT_EMPTY:
          return ENOTEMPTY;
        case G_IO_ERROR_FILENAME_TOO_LONG:
          return ENAMETOOLONG;
        case G_IO_ERROR_READ_ONLY:
          return EROFS;
        case G_IO_ERROR_TIMED_OUT:
          return ETIMEDOUT;
        case G_IO_ERROR_INVALID_ARGUMENT:
          return EINVAL;
        case G_IO_ERROR_TOO_MANY_OPEN_FILES:
          return EMFILE;
        case G_IO_ERROR_WOULD_BLOCK:
          return EAGAIN;
        case G_IO_ERROR_NOT_SUPPORTED:
          return ENOTSUP;
        default:
          return EIO;
        }
    }

  /* The inverse of g_file_error_from_errno(), for the codes it has. */
  if (error->domain == G_FILE_ERROR)
    {
      switch ((GFileError)error->code)
        {
        case G_FILE_ERROR_EXIST:
          return EEXIST;
        case G_FILE_ERROR_ISDIR:
          return EISDIR;
        case G_FILE_ERROR_ACCES:
          return EACCES;
        case G_FILE_ERROR_NAMETOOLONG:
          return ENAMETOOLONG;
        case G_FILE_ERROR_NOENT:
          return ENOENT;
        case G_FILE_ERROR_NOTDIR:
          return ENOTDIR;
        case G_FILE_ERROR_NXIO:
          return ENXIO;
        case G_FILE_ERROR_NODEV:
          return ENODEV;
        case G_FILE_ERROR_ROFS:
          return EROFS;
        case G_FILE_ERROR_TXTBSY:
          return ETXTBSY;
        case G_FILE_ERROR_FAULT:
          return EFAULT;
        case G_FILE_ERROR_LOOP:
          return ELOOP;
        case G_FILE_ERROR_NOSPC:
          return ENOSPC;
        case G_FILE_ERROR_NOMEM:
          return ENOMEM;
        case G_FILE_ERROR_MFILE:
          return EMFILE;
        case G_FILE_ERROR_NFILE:
          return ENFILE;
        case G_FILE_ERROR_BADF:
          return EBADF;
        case G_FILE_ERROR_INVAL:
          return EINVAL;
        case G_FILE_ERROR_PIPE:
          return EPIPE;
        case G_FILE_ERROR_AGAIN:
          return EAGAIN;
        case G_FILE_ERROR_INTR:
          return EINTR;
        case G_FILE_ERROR_PERM:
          return EPERM;
        case G_FILE_ERROR_NOSYS:
          return ENOSYS;
        case G_FILE_ERROR_IO:
        case G_FILE_ERROR_FAILED:
        default:
          return EIO;
        }
    }

  return EIO;
}
