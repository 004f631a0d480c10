/* fdio.c: whole reads and writes, EINTR, and the errno policy (see
 * vf-fdio.h). */
#include "vf-fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int
vf_pwrite_all (int fd, const void *buf, gsize len, gint64 offset)
{
  const guint8 *p = buf;

  while (len > 0)
    {
      ssize_t n = pwrite (fd, p, len, offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno;
      if (n == 0)
        return EIO;
      p += n;
      len -= n;
      offset += n;
    }
  return 0;
}

int
vf_pread_all (int fd, void *buf, gsize len, gint64 offset)
{
  guint8 *p = buf;

  while (len > 0)
    {
      ssize_t n = pread (fd, p, len, offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno;
      if (n == 0)
        return EIO; /* the file is shorter than its owner says */
      p += n;
      len -= n;
      offset += n;
    }
  return 0;
}

int
vf_read_all (int fd, GByteArray *out)
{
  guint8 buf[65536];

  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno;
      if (n == 0)
        return 0;
      g_byte_array_append (out, buf, n);
    }
}

int
vf_open_noeintr (const char *path, int flags, mode_t mode)
{
  int fd;

  do
    fd = open (path, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

int
vf_ftruncate_noeintr (int fd, gint64 len)
{
  int r;

  do
    r = ftruncate (fd, len);
  while (r < 0 && errno == EINTR);
  return r;
}

int
vf_fsync_noeintr (int fd)
{
  int r;

  do
    r = fsync (fd);
  while (r < 0 && errno == EINTR);
  return r;
}

int
vf_fdatasync_noeintr (int fd)
{
  int r;

  do
    r = fdatasync (fd);
  while (r < 0 && errno == EINTR);
  return r;
}

static GIOErrorEnum
io_error_code (int errsv)
{
  /* GLib leaves EDQUOT as G_IO_ERROR_FAILED; to the user it is a full disk. */
  if (errsv == EDQUOT)
    return G_IO_ERROR_NO_SPACE;
  return g_io_error_from_errno (errsv);
}

gboolean
vf_set_io_error (GError **error, int errsv, const char *what, const char *path)
{
  g_set_error (error, G_IO_ERROR, io_error_code (errsv), "%s %s: %s", what, path,
               g_strerror (errsv));
  return FALSE;
}
