/* vf-fdio.h: whole reads and writes on file descriptors, and the one way
 * a failed system call becomes a GError.
 *
 * The *_all functions loop over short counts and EINTR and return 0 or a
 * positive errno, so that a caller can still clean up (truncate, unlink)
 * before it reports; a read that meets the end of the file early is EIO.
 * The *_noeintr wrappers retry a call that a signal interrupted and
 * otherwise return what the call returned, with errno set.  close() has
 * none: on Linux a close() that failed with EINTR has closed the
 * descriptor, and a retry could close another thread's new one.
 *
 * vf_set_io_error() is the errno policy of lib/: a G_IO_ERROR whose code
 * comes from g_io_error_from_errno() (a full quota counts as a full disk)
 * and whose message names what failed and the file, "Cannot write PATH:
 * No space left on device".
 *
 * Nothing here keeps state or takes locks; buffers are the caller's.
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

int vf_pwrite_all (int fd, const void *buf, gsize len, gint64 offset);
int vf_pread_all (int fd, void *buf, gsize len, gint64 offset);
/* Reads from the current position to the end of the file into `out`. */
int vf_read_all (int fd, GByteArray *out);

int vf_open_noeintr (const char *path, int flags, mode_t mode); /* adds O_CLOEXEC */
int vf_ftruncate_noeintr (int fd, gint64 len);
int vf_fsync_noeintr (int fd);
int vf_fdatasync_noeintr (int fd);

/* Sets *error to "WHAT PATH: strerror(errsv)"; returns FALSE. */
gboolean vf_set_io_error (GError **error, int errsv, const char *what, const char *path);

G_END_DECLS
