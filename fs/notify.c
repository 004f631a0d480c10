/* notify.c: waking poll() waiters, and cancelling reads on FUSE interrupts.
 *
 * poll(): a handle on a live file keeps the kernel's poll handle in
 * fs->polled.  The job table calls vf_notify_changed() from its own threads
 * with none of its locks held; we take only poll_lock, which FUSE handlers
 * hold for a few instructions and never across anything that waits, and
 * write the notification to /dev/fuse.
 *
 * Interrupts: a read of video bytes not yet fetched waits inside
 * vf_jobs_read_fd() on a GCancellable.  With the `intr` option libfuse answers
 * an INTERRUPT by sending the request's thread a signal (SIGUSR1), once a
 * second until the request ends.  The handler may not touch GLib, so it
 * only marks the waiting read of its own thread and writes a byte to a
 * pipe; a small thread reads the pipe and cancels the marked reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <fuse.h>
#include <fuse_lowlevel.h>

#include "videofs.h"

void
vf_notify_init (VfFs *fs)
{
  g_mutex_init (&fs->poll_lock);
  fs->polled = g_ptr_array_new ();
}

void
vf_notify_ready (VfFs *fs)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&fs->poll_lock);
  fs->ready = TRUE;
}

void
vf_notify_stop (VfFs *fs)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&fs->poll_lock);

  fs->ready = FALSE;
  for (guint i = 0; i < fs->polled->len; i++)
    {
      VfHandle *h = g_ptr_array_index (fs->polled, i);
      g_clear_pointer (&h->ph, fuse_pollhandle_destroy);
    }
  g_ptr_array_set_size (fs->polled, 0);
}

void
vf_notify_clear (VfFs *fs)
{
  g_clear_pointer (&fs->polled, g_ptr_array_unref);
  g_mutex_clear (&fs->poll_lock);
}

static gboolean
concerns (const VfHandle *h, const VfSpace *space, const char *name, guint what)
{
  gboolean videos = space->kind == VF_SPACE_JOBS;

  switch (h->node.kind)
    {
    case VF_NODE_STATUS:
      return videos && (what & (VF_CHANGE_STATUS | VF_CHANGE_JOBS)) != 0;
    case VF_NODE_EVENTS:
      return videos && (what & VF_CHANGE_EVENTS) != 0;
    case VF_NODE_ENTRY:
      if (!(what & (VF_CHANGE_STATUS | VF_CHANGE_JOBS)))
        return FALSE;
      if (h->node.by_id ? !videos : h->node.space != space)
        return FALSE;
      /* videos/ID entries are named by id, changes by job name */
      return !name || h->node.by_id || strcmp (name, h->node.name) == 0;
    default:
      return FALSE;
    }
}

static void
wake_polled (VfFs *fs, const VfSpace *space, const char *name, guint what)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&fs->poll_lock);

  if (!fs->ready)
    return;
  for (guint i = fs->polled->len; i-- > 0;)
    {
      VfHandle *h = g_ptr_array_index (fs->polled, i);
      if (!concerns (h, space, name, what))
        continue;
      fuse_notify_poll (h->ph);
      g_clear_pointer (&h->ph, fuse_pollhandle_destroy);
      g_ptr_array_remove_index_fast (fs->polled, i);
    }
}

/* The kernel keeps attributes for attr_timeout (ops.c): drop those of every
 * file the change may have touched, so the next stat asks us.  Paths the
 * kernel has not looked up cost a lookup in libfuse's table, nothing more.
 * It also drops cached pages, and waits for any page a reader or writer
 * holds locked while its request is with us: so only files without pages
 * (direct_io text, directories) are invalidated from here, where a write's
 * own check or a download's end may be what changed.  Content files appear
 * with their final size and never change; prompt files are invalidated by
 * the handlers that change their mode (vf_notify_invalidate). */
static void
invalidate_path (VfFs *fs, const char *path)
{
  fuse_invalidate_path (fs->fuse, path);
}

static void
invalidate_dir (VfFs *fs, const char *dir, const char *name)
{
  g_autofree char *path = g_strconcat (dir, name, NULL);
  g_autofree char *file = NULL;

  invalidate_path (fs, path);
  for (VfEntry e = 0; e < VF_N_ENTRIES; e++)
    {
      if (e >= VF_ENTRY_VIDEO && e <= VF_ENTRY_LAST_FRAME)
        continue;
      g_free (file);
      file = g_strconcat (path, "/", vf_entry_name (e), NULL);
      invalidate_path (fs, file);
    }
}

static void
invalidate (VfFs *fs, const VfSpace *space, const char *name, guint what)
{
  g_autoptr (GPtrArray) ids = NULL;
  g_autoptr (GMutexLocker) locker = NULL;
  g_autofree char *dir = g_strconcat ("/", space->dir, "/", NULL);
  gboolean videos = space->kind == VF_SPACE_JOBS;

  if (videos && !name && (what & (VF_CHANGE_STATUS | VF_CHANGE_CONTENT | VF_CHANGE_JOBS)))
    ids = vf_jobs_video_ids_known (fs->jobs);
  locker = g_mutex_locker_new (&fs->poll_lock);
  if (!fs->ready)
    return;
  if (videos)
    {
      invalidate_path (fs, "/status");
      invalidate_path (fs, "/events");
    }
  if (name)
    invalidate_dir (fs, dir, name);
  for (guint i = 0; ids && i < ids->len; i++)
    invalidate_dir (fs, "/videos/", ids->pdata[i]);
}

void
vf_notify_invalidate (VfFs *fs, const char *path)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&fs->poll_lock);

  if (fs->ready && path)
    invalidate_path (fs, path);
}

void
vf_notify_changed (const char *name, guint what, gpointer user_data)
{
  VfSpace *space = user_data;
  VfFs *fs = space->fs;

  invalidate (fs, space, name, what);
  wake_polled (fs, space, name, what);
  vf_watch_changed (fs, space, name, what);
}

void
vf_notify_keep (VfFs *fs, VfHandle *handle, struct fuse_pollhandle *ph)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&fs->poll_lock);

  if (handle->ph)
    fuse_pollhandle_destroy (handle->ph);
  else
    g_ptr_array_add (fs->polled, handle);
  handle->ph = ph;
}

void
vf_notify_forget (VfFs *fs, VfHandle *handle)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&fs->poll_lock);

  if (!handle->ph)
    return;
  g_ptr_array_remove_fast (fs->polled, handle);
  g_clear_pointer (&handle->ph, fuse_pollhandle_destroy);
}

/* ----- interrupts ----- */

struct waiting
{
  GCancellable *cancellable;
  volatile sig_atomic_t interrupted;
};

static int intr_pipe[2] = { -1, -1 };
static GThread *intr_thread;
/* guards intr_waiting and intr_ending; taken before the cache's lock (a
 * cancelled read's handler wakes the cache's waiters) */
static GMutex intr_lock;
static GPtrArray *intr_waiting;
static gboolean intr_ending; /* the session is over: every wait is cancelled */
static __thread struct waiting *intr_current;

int
vf_interrupt_signal (void)
{
  return SIGUSR1;
}

static void
intr_handler (int sig)
{
  int saved = errno;
  struct waiting *w = intr_current;

  if (w)
    {
      w->interrupted = 1;
      if (write (intr_pipe[1], "i", 1) < 0)
        {
          /* the pipe is full: the thread has work queued anyway */
        }
    }
  errno = saved;
}

gboolean
vf_interrupt_init (GError **error)
{
  struct sigaction sa;

  if (pipe2 (intr_pipe, O_CLOEXEC) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "pipe: %s", g_strerror (e));
      return FALSE;
    }
  fcntl (intr_pipe[1], F_SETFL, O_NONBLOCK);
  intr_waiting = g_ptr_array_new ();
  /* installed before fuse_new(), so libfuse keeps ours */
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = intr_handler;
  sigemptyset (&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction (vf_interrupt_signal (), &sa, NULL);
  return TRUE;
}

/* Also watches for the end of the session: after an unmount libfuse joins
 * its workers, and one waiting for a slow download would hold the exit
 * until the download ends.  So every wait is cancelled then. */
static gpointer
intr_main (gpointer data)
{
  struct fuse_session *se = data;

  for (;;)
    {
      struct pollfd pfd = { .fd = intr_pipe[0], .events = POLLIN };
      char c = 'i';
      int r = poll (&pfd, 1, 200);

      if (r < 0 && errno != EINTR)
        break;
      if (r > 0)
        {
          ssize_t n = read (intr_pipe[0], &c, 1);
          if (n == 0 || c == 'q')
            break;
        }
      gboolean ending = fuse_session_exited (se);
      g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&intr_lock);
      intr_ending = ending;
      for (guint i = 0; i < intr_waiting->len; i++)
        {
          struct waiting *w = g_ptr_array_index (intr_waiting, i);
          if (w->interrupted || ending)
            g_cancellable_cancel (w->cancellable);
        }
    }
  return NULL;
}

void
vf_interrupt_start (struct fuse_session *se)
{
  sigset_t set, old;

  /* the thread must not take the signal meant for FUSE workers */
  sigemptyset (&set);
  sigaddset (&set, vf_interrupt_signal ());
  pthread_sigmask (SIG_BLOCK, &set, &old);
  intr_thread = g_thread_new ("vf-interrupt", intr_main, se);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
}

void
vf_interrupt_stop (void)
{
  while (write (intr_pipe[1], "q", 1) < 0 && errno == EAGAIN)
    g_usleep (1000);
  g_thread_join (intr_thread);
  intr_thread = NULL;
}

void
vf_interrupt_shutdown (void)
{
  if (intr_pipe[0] >= 0)
    {
      close (intr_pipe[0]);
      close (intr_pipe[1]);
      intr_pipe[0] = intr_pipe[1] = -1;
    }
  g_clear_pointer (&intr_waiting, g_ptr_array_unref);
}

GCancellable *
vf_interrupt_begin (void)
{
  struct waiting *w = g_new0 (struct waiting, 1);

  w->cancellable = g_cancellable_new ();
  {
    g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&intr_lock);
    g_ptr_array_add (intr_waiting, w);
    if (intr_ending)
      g_cancellable_cancel (w->cancellable);
  }
  intr_current = w;
  /* an interrupt that came before this point is sent again within 1 s */
  if (fuse_interrupted ())
    g_cancellable_cancel (w->cancellable);
  return w->cancellable;
}

void
vf_interrupt_end (GCancellable *cancellable)
{
  struct waiting *w = intr_current;

  g_return_if_fail (w && w->cancellable == cancellable);
  intr_current = NULL;
  {
    g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&intr_lock);
    g_ptr_array_remove_fast (intr_waiting, w);
  }
  g_object_unref (w->cancellable);
  g_free (w);
}
