/* announcer.c: the process that makes watch.c's calls on the mount.
 *
 * A call on a FUSE mount that our own daemon already took off the device
 * can only end with an answer: the kernel waits for it even through
 * SIGKILL.  Made from a thread of the daemon, such a call would keep a
 * killed daemon from ever dying (the thread waits for an answer its dead
 * workers will not give, and the device is not closed until it ends).  So
 * the calls are made by a child process, which holds nothing of the
 * daemon's open: when the daemon dies its device closes, the kernel aborts
 * the connection, the child's call returns and the child dies too
 * (PR_SET_PDEATHSIG).
 *
 * The child is forked from a process with threads, so it calls only
 * async-signal-safe functions: no GLib, no malloc.  It reads a command
 * (kind, mode, path) from a socket, checks that the mount point is still
 * this mount (never the directory under it), makes the call and writes
 * back 0 or the errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "videofs.h"

#define FUSE_SUPER_MAGIC 0x65735546

typedef struct
{
  uint32_t kind;
  uint32_t mode;
  uint32_t len;
} Command;

static char child_mountpoint[PATH_MAX];

static gboolean
io_full (int fd, void *buf, size_t len, gboolean writing)
{
  char *p = buf;

  while (len > 0)
    {
      ssize_t n = writing ? send (fd, p, len, MSG_NOSIGNAL) : read (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (size_t)n;
    }
  return TRUE;
}

static gboolean
child_mount_is_ours (dev_t *dev)
{
  struct statfs sfs;
  struct stat st;

  if (statfs (child_mountpoint, &sfs) < 0 || sfs.f_type != FUSE_SUPER_MAGIC
      || stat (child_mountpoint, &st) < 0)
    return FALSE;
  if (*dev == 0)
    *dev = st.st_dev;
  return st.st_dev == *dev;
}

static int
child_act (VfAnnounce kind, mode_t mode, const char *path)
{
  int r = -1;

  switch (kind)
    {
    case VF_ANNOUNCE_CREATE:
      r = S_ISDIR (mode) ? mkdir (path, mode & 07777) : mknod (path, mode, 0);
      break;
    case VF_ANNOUNCE_REMOVE:
      r = S_ISDIR (mode) ? rmdir (path) : unlink (path);
      break;
    case VF_ANNOUNCE_TOUCH:
      /* IN_MODIFY; the handler changes nothing, and the attributes the
       * kernel keeps are those of the getattr after it.  Where the mode
       * bits refuse it (default_permissions), a new mtime is IN_MODIFY too. */
      r = truncate (path, 0);
      if (r < 0 && errno == EACCES)
        {
          const struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_NOW } };
          r = utimensat (AT_FDCWD, path, tv, AT_SYMLINK_NOFOLLOW);
        }
      break;
    default:
      errno = EINVAL;
      break;
    }
  return r < 0 ? errno : 0;
}

static void G_GNUC_NORETURN
child_main (int fd)
{
  static char path[PATH_MAX];
  dev_t dev = 0;

  for (;;)
    {
      Command c;
      int32_t res;

      if (!io_full (fd, &c, sizeof c, FALSE) || c.len >= sizeof path
          || !io_full (fd, path, c.len, FALSE))
        _exit (0);
      path[c.len] = '\0';
      res = child_mount_is_ours (&dev) ? child_act (c.kind, c.mode, path) : EXDEV;
      if (!io_full (fd, &res, sizeof res, TRUE))
        _exit (0);
    }
}

pid_t
vf_announcer_spawn (const char *mountpoint, int *fd)
{
  static const int reset[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE };
  pid_t parent = getpid ();
  int sv[2];
  pid_t pid;

  if (strlen (mountpoint) >= sizeof child_mountpoint
      || socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return -1;
  strcpy (child_mountpoint, mountpoint);
  pid = fork ();
  if (pid < 0)
    {
      close (sv[0]);
      close (sv[1]);
      return -1;
    }
  if (pid == 0)
    {
      struct sigaction dfl;
      sigset_t none;

      prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (getppid () != parent)
        _exit (0);
      prctl (PR_SET_NAME, "vf-announcer"); /* what ps -o comm and top show */
      memset (&dfl, 0, sizeof dfl);
      dfl.sa_handler = SIG_DFL;
      for (size_t i = 0; i < G_N_ELEMENTS (reset); i++)
        sigaction (reset[i], &dfl, NULL);
      sigemptyset (&none);
      sigprocmask (SIG_SETMASK, &none, NULL);
      /* nothing of the daemon's stays open here, above all not /dev/fuse */
      if (sv[1] != 3 && dup2 (sv[1], 3) < 0)
        _exit (1);
      close_range (4, ~0U, 0);
      child_main (3);
    }
  close (sv[1]);
  *fd = sv[0];
  return pid;
}

int
vf_announcer_call (int fd, VfAnnounce kind, mode_t mode, const char *path)
{
  Command c = { .kind = kind, .mode = mode, .len = (uint32_t)strlen (path) };
  int32_t res;

  if (!io_full (fd, &c, sizeof c, TRUE) || !io_full (fd, (void *)path, c.len, TRUE)
      || !io_full (fd, &res, sizeof res, FALSE))
    return -1;
  return res;
}

void
vf_announcer_end (pid_t pid, int fd)
{
  close (fd);
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
}
