/* test-error.c: the VF_ERROR domain, its extended data, and the errno table. */
#include "vf-error.h"

#include <errno.h>
#include <gio/gio.h>

static void
test_quark (void)
{
  g_assert_cmpuint (VF_ERROR, !=, 0);
  g_assert_cmpuint (VF_ERROR, ==, vf_error_quark ());
  g_assert_cmpuint (VF_ERROR, !=, G_IO_ERROR);
}

static void
test_set_error (void)
{
  g_autoptr (GError) error = NULL;

  vf_set_error (NULL, VF_ERROR_INVALID, "ignored %d", 1);
  vf_set_error (&error, VF_ERROR_TOO_LARGE, "prompt of %d bytes over %s", 40000, "32 KiB");
  g_assert_error (error, VF_ERROR, VF_ERROR_TOO_LARGE);
  g_assert_cmpstr (error->message, ==, "prompt of 40000 bytes over 32 KiB");
  /* A plain error still has extended data, all unset. */
  g_assert_cmpint (vf_error_http_status (error), ==, -1);
  g_assert_true (vf_error_maybe_sent (error));
}

static const struct
{
  int status;
  VfErrorCode code;
} status_table[] = {
  { 400, VF_ERROR_INVALID },      { 422, VF_ERROR_INVALID },   { 401, VF_ERROR_AUTH },
  { 403, VF_ERROR_AUTH },         { 404, VF_ERROR_NOT_FOUND }, { 410, VF_ERROR_NOT_FOUND },
  { 408, VF_ERROR_TIMEOUT },      { 409, VF_ERROR_CONFLICT },  { 413, VF_ERROR_TOO_LARGE },
  { 429, VF_ERROR_RATE_LIMITED }, { 500, VF_ERROR_SERVER },    { 502, VF_ERROR_SERVER },
  { 503, VF_ERROR_SERVER },       { 504, VF_ERROR_SERVER },    { 599, VF_ERROR_SERVER },
  { 402, VF_ERROR_INVALID },      { 405, VF_ERROR_INVALID },   { 418, VF_ERROR_INVALID },
  { 451, VF_ERROR_INVALID },      { 499, VF_ERROR_INVALID },   { 0, VF_ERROR_PROTOCOL },
  { 200, VF_ERROR_PROTOCOL },     { 302, VF_ERROR_PROTOCOL },  { 399, VF_ERROR_PROTOCOL },
  { 600, VF_ERROR_PROTOCOL },     { -1, VF_ERROR_PROTOCOL },
};

static void
test_code_for_status (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (status_table); i++)
    {
      g_test_message ("status %d", status_table[i].status);
      g_assert_cmpint (vf_error_code_for_status (status_table[i].status), ==, status_table[i].code);
    }
}

static int
errno_of (GQuark domain, int code)
{
  g_autoptr (GError) error = g_error_new_literal (domain, code, "x");

  return vf_error_to_errno (error);
}

static void
test_errno_vf (void)
{
  static const struct
  {
    VfErrorCode code;
    int errnum;
  } table[] = {
    { VF_ERROR_FAILED, EIO },       { VF_ERROR_INVALID, EINVAL }, { VF_ERROR_AUTH, EACCES },
    { VF_ERROR_NOT_FOUND, ENOENT }, { VF_ERROR_CONFLICT, EBUSY }, { VF_ERROR_RATE_LIMITED, EAGAIN },
    { VF_ERROR_SERVER, EIO },       { VF_ERROR_NETWORK, EIO },    { VF_ERROR_TIMEOUT, ETIMEDOUT },
    { VF_ERROR_PROTOCOL, EIO },     { VF_ERROR_BAD_ID, EIO },     { VF_ERROR_TOO_LARGE, EFBIG },
    { VF_ERROR_NO_SPACE, ENOSPC },  { VF_ERROR_EXPIRED, ENOENT },
  };

  /* Every code of the enum is in the table. */
  g_assert_cmpint (G_N_ELEMENTS (table), ==, VF_ERROR_EXPIRED + 1);
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_test_message ("code %d", table[i].code);
      g_assert_cmpint (errno_of (VF_ERROR, table[i].code), ==, table[i].errnum);
    }
  /* A code from a newer header than this table. */
  g_assert_cmpint (errno_of (VF_ERROR, 1000), ==, EIO);
}

static void
test_errno_status_chain (void)
{
  /* The contract's table: HTTP status through the code to errno. */
  static const int pairs[][2] = {
    { 400, EINVAL },    { 422, EINVAL }, { 401, EACCES }, { 403, EACCES },
    { 404, ENOENT },    { 429, EAGAIN }, { 500, EIO },    { 503, EIO },
    { 408, ETIMEDOUT }, { 409, EBUSY },  { 413, EFBIG },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (pairs); i++)
    g_assert_cmpint (errno_of (VF_ERROR, vf_error_code_for_status (pairs[i][0])), ==, pairs[i][1]);
}

static void
test_errno_gio (void)
{
  static const struct
  {
    GIOErrorEnum code;
    int errnum;
  } table[] = {
    { G_IO_ERROR_CANCELLED, EINTR },
    { G_IO_ERROR_NOT_FOUND, ENOENT },
    { G_IO_ERROR_NO_SPACE, ENOSPC },
    { G_IO_ERROR_PERMISSION_DENIED, EACCES },
    { G_IO_ERROR_EXISTS, EEXIST },
    { G_IO_ERROR_BUSY, EBUSY },
    { G_IO_ERROR_IS_DIRECTORY, EISDIR },
    { G_IO_ERROR_NOT_DIRECTORY, ENOTDIR },
    { G_IO_ERROR_NOT_EMPTY, ENOTEMPTY },
    { G_IO_ERROR_FILENAME_TOO_LONG, ENAMETOOLONG },
    { G_IO_ERROR_READ_ONLY, EROFS },
    { G_IO_ERROR_TIMED_OUT, ETIMEDOUT },
    { G_IO_ERROR_INVALID_ARGUMENT, EINVAL },
    { G_IO_ERROR_TOO_MANY_OPEN_FILES, EMFILE },
    { G_IO_ERROR_WOULD_BLOCK, EAGAIN },
    { G_IO_ERROR_NOT_SUPPORTED, ENOTSUP },
    { G_IO_ERROR_FAILED, EIO },
    { G_IO_ERROR_HOST_NOT_FOUND, EIO },
    { G_IO_ERROR_CLOSED, EIO },
    { G_IO_ERROR_PARTIAL_INPUT, EIO },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_test_message ("GIO code %d", table[i].code);
      g_assert_cmpint (errno_of (G_IO_ERROR, table[i].code), ==, table[i].errnum);
    }
}

static void
test_errno_file (void)
{
  /* What g_file_error_from_errno() made comes back as the errno it came from. */
  static const int errnos[] = {
    EEXIST, EISDIR,  EACCES, ENAMETOOLONG, ENOENT, ENOTDIR, ENXIO,  ENODEV,
    EROFS,  ETXTBSY, EFAULT, ELOOP,        ENOSPC, ENOMEM,  EMFILE, ENFILE,
    EBADF,  EINVAL,  EPIPE,  EAGAIN,       EINTR,  EIO,     EPERM,  ENOSYS,
  };

  for (gsize i = 0; i < G_N_ELEMENTS (errnos); i++)
    {
      g_test_message ("errno %d", errnos[i]);
      g_assert_cmpint (errno_of (G_FILE_ERROR, g_file_error_from_errno (errnos[i])), ==, errnos[i]);
    }
  /* Errnos GLib has no code for become G_FILE_ERROR_FAILED, then EIO. */
  g_assert_cmpint (errno_of (G_FILE_ERROR, g_file_error_from_errno (EDOM)), ==, EIO);
  g_assert_cmpint (errno_of (G_FILE_ERROR, G_FILE_ERROR_FAILED), ==, EIO);
}

static void
test_errno_other (void)
{
  g_assert_cmpint (vf_error_to_errno (NULL), ==, EIO);
  g_assert_cmpint (errno_of (G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_NOT_FOUND), ==, EIO);
  g_assert_cmpint (errno_of (g_quark_from_static_string ("test-foreign"), 2), ==, EIO);
}

static void
test_extended_defaults (void)
{
  g_autoptr (GError) error = g_error_new_literal (VF_ERROR, VF_ERROR_NETWORK, "refused");

  g_assert_cmpint (vf_error_http_status (error), ==, -1);
  g_assert_null (vf_error_api_code (error));
  g_assert_null (vf_error_api_message (error));
  g_assert_null (vf_error_request_id (error));
  g_assert_true (vf_error_maybe_sent (error));
  g_assert_cmpint (vf_error_retry_after_ms (error), ==, -1);
  g_assert_cmpint (vf_error_should_retry (error), ==, -1);
}

static void
test_extended_set_get (void)
{
  g_autoptr (GError) error = g_error_new_literal (VF_ERROR, VF_ERROR_RATE_LIMITED, "slow down");
  char code[] = "rate_limit_exceeded";

  vf_error_set_http (error, 429, code, "Rate limit reached", "req_123");
  /* The setter copied its strings. */
  code[0] = 'X';
  g_assert_cmpint (vf_error_http_status (error), ==, 429);
  g_assert_cmpstr (vf_error_api_code (error), ==, "rate_limit_exceeded");
  g_assert_cmpstr (vf_error_api_message (error), ==, "Rate limit reached");
  g_assert_cmpstr (vf_error_request_id (error), ==, "req_123");

  vf_error_set_maybe_sent (error, FALSE);
  g_assert_false (vf_error_maybe_sent (error));
  vf_error_set_maybe_sent (error, 2);
  g_assert_true (vf_error_maybe_sent (error));
  vf_error_set_maybe_sent (error, FALSE);

  vf_error_set_retry_hints (error, 1500, 1);
  g_assert_cmpint (vf_error_retry_after_ms (error), ==, 1500);
  g_assert_cmpint (vf_error_should_retry (error), ==, 1);
  vf_error_set_retry_hints (error, 0, 0);
  g_assert_cmpint (vf_error_retry_after_ms (error), ==, 0);
  g_assert_cmpint (vf_error_should_retry (error), ==, 0);
  vf_error_set_retry_hints (error, -7, -3);
  g_assert_cmpint (vf_error_retry_after_ms (error), ==, -1);
  g_assert_cmpint (vf_error_should_retry (error), ==, -1);
  vf_error_set_retry_hints (error, 30000, 5);
  g_assert_cmpint (vf_error_should_retry (error), ==, 1);

  /* Setting again replaces (and frees: valgrind watches). */
  vf_error_set_http (error, 503, NULL, "overloaded", NULL);
  g_assert_cmpint (vf_error_http_status (error), ==, 503);
  g_assert_null (vf_error_api_code (error));
  g_assert_cmpstr (vf_error_api_message (error), ==, "overloaded");
  g_assert_null (vf_error_request_id (error));
  /* The other fields are untouched. */
  g_assert_false (vf_error_maybe_sent (error));
  g_assert_cmpint (vf_error_retry_after_ms (error), ==, 30000);
}

static void
test_extended_copy (void)
{
  g_autoptr (GError) error = g_error_new_literal (VF_ERROR, VF_ERROR_SERVER, "HTTP 502");
  g_autoptr (GError) copy = NULL;
  GError *propagated = NULL;

  vf_error_set_http (error, 502, "bad_gateway", "upstream died", "req_9");
  vf_error_set_maybe_sent (error, FALSE);
  vf_error_set_retry_hints (error, 2000, 0);

  copy = g_error_copy (error);
  g_assert_error (copy, VF_ERROR, VF_ERROR_SERVER);
  g_assert_cmpstr (copy->message, ==, "HTTP 502");
  g_assert_cmpint (vf_error_http_status (copy), ==, 502);
  g_assert_cmpstr (vf_error_api_code (copy), ==, "bad_gateway");
  g_assert_cmpstr (vf_error_api_message (copy), ==, "upstream died");
  g_assert_cmpstr (vf_error_request_id (copy), ==, "req_9");
  g_assert_false (vf_error_maybe_sent (copy));
  g_assert_cmpint (vf_error_retry_after_ms (copy), ==, 2000);
  g_assert_cmpint (vf_error_should_retry (copy), ==, 0);
  /* Deep: the copy owns its strings. */
  g_assert_true (vf_error_api_code (copy) != vf_error_api_code (error));
  g_clear_error (&error);
  g_assert_cmpstr (vf_error_api_message (copy), ==, "upstream died");

  /* Propagating and prefixing keep the data too. */
  g_propagate_prefixed_error (&propagated, g_steal_pointer (&copy), "retrieve %s: ", "video_1");
  g_assert_cmpstr (propagated->message, ==, "retrieve video_1: HTTP 502");
  g_assert_cmpint (vf_error_http_status (propagated), ==, 502);
  g_assert_false (vf_error_maybe_sent (propagated));
  g_error_free (propagated);
}

static void
test_extended_foreign (void)
{
  g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "slow");

  /* Setters ignore errors that cannot hold the data; getters answer "unset". */
  vf_error_set_http (error, 500, "x", "y", "z");
  vf_error_set_maybe_sent (error, FALSE);
  vf_error_set_retry_hints (error, 10, 1);
  g_assert_cmpint (vf_error_http_status (error), ==, -1);
  g_assert_null (vf_error_api_code (error));
  g_assert_null (vf_error_api_message (error));
  g_assert_null (vf_error_request_id (error));
  g_assert_true (vf_error_maybe_sent (error));
  g_assert_cmpint (vf_error_retry_after_ms (error), ==, -1);
  g_assert_cmpint (vf_error_should_retry (error), ==, -1);
  g_assert_cmpstr (error->message, ==, "slow");

  /* And so does a NULL error. */
  vf_error_set_http (NULL, 500, "x", "y", "z");
  g_assert_cmpint (vf_error_http_status (NULL), ==, -1);
  g_assert_null (vf_error_api_code (NULL));
  g_assert_true (vf_error_maybe_sent (NULL));
  g_assert_cmpint (vf_error_should_retry (NULL), ==, -1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/error/quark", test_quark);
  g_test_add_func ("/error/set-error", test_set_error);
  g_test_add_func ("/error/code-for-status", test_code_for_status);
  g_test_add_func ("/error/errno/vf", test_errno_vf);
  g_test_add_func ("/error/errno/status-chain", test_errno_status_chain);
  g_test_add_func ("/error/errno/gio", test_errno_gio);
  g_test_add_func ("/error/errno/file", test_errno_file);
  g_test_add_func ("/error/errno/other", test_errno_other);
  g_test_add_func ("/error/extended/defaults", test_extended_defaults);
  g_test_add_func ("/error/extended/set-get", test_extended_set_get);
  g_test_add_func ("/error/extended/copy", test_extended_copy);
  g_test_add_func ("/error/extended/foreign", test_extended_foreign);
  return g_test_run ();
}
