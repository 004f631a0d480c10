/* files.c: the prompt and scratch files of jobs/ and images/, kept in
 * STATE_DIR/files/ and STATE_DIR/images/files/.
 *
 * When is a prompt file submitted?  The contract says: once, when the last
 * handle that wrote it is closed, or when a scratch file is renamed onto its
 * name.  close() returns what FLUSH returns (RELEASE's answer is dropped by
 * the kernel), so the submission runs in flush.  But FLUSH comes for every
 * close() of every descriptor, dup()ed ones included, and RELEASE of an
 * earlier open may still be on its way when the next open arrives.  So a
 * handle counts as a writer only from its first write until its next flush
 * ("dirty"), and a flush submits when its own handle was dirty and no other
 * handle of the same file is: `touch f; echo x > f` submits at the echo's
 * close, whatever became of touch's handle.  A writer that closes while
 * another is still writing leaves the file `pending`; the last one submits.
 * A handle released without a flush (rare: the kernel always flushes on
 * close) submits in release, where only the job directory can tell the
 * result.
 *
 * Handles share one struct vf_file per file, found by its current name;
 * rename and unlink keep that table in step, so a handle follows its file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <dirent.h>

#include "vf-error.h"
#include "videofs.h"

#define SUBMIT_READ_MAX (VF_PROMPT_MAX + 1)

struct vf_file
{
  char *name;         /* current name in jobs/, NULL once unlinked */
  GPtrArray *handles; /* VfFileHandle *, the open ones */
  guint epoch;        /* bumped when a rename sent the file: earlier writes are sent */
  gboolean pending;   /* a writer closed while another was still writing */
};

struct vf_file_handle
{
  struct vf_file *file;
  int fd;
  gboolean writable;
  gboolean dirty; /* written since its last flush, in epoch dirty_epoch */
  guint dirty_epoch;
  int refused; /* errno of a refused write: the handle's content is not sent */
  VfPromptCheck check;
};

/* Called with files_lock held. */
static gboolean
is_dirty (const VfFileHandle *fh)
{
  return fh->dirty && fh->dirty_epoch == fh->file->epoch;
}

gboolean
vf_files_init (VfSpace *sp, const char *dir, GError **error)
{
  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot create %s: %s", dir,
                   g_strerror (e));
      return FALSE;
    }
  sp->files_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sp->files_fd < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot open %s: %s", dir,
                   g_strerror (e));
      return FALSE;
    }
  g_mutex_init (&sp->files_lock);
  sp->files = g_hash_table_new (g_str_hash, g_str_equal);
  return TRUE;
}

void
vf_files_shutdown (VfSpace *sp)
{
  if (!sp->files)
    return;
  if (sp->files_fd >= 0)
    close (sp->files_fd);
  sp->files_fd = -1;
  g_clear_pointer (&sp->files, g_hash_table_unref);
  g_mutex_clear (&sp->files_lock);
}

static gboolean
is_prompt (const char *name)
{
  return name && vf_prompt_name (name, NULL);
}

/* 0, or -EINVAL for a name that may not be made in jobs/ (vf-prompt.h says
 * which): refused at create and rename, before anything is sent. */
static int
check_new_name (const char *name)
{
  g_autoptr (GError) error = NULL;

  if (vf_prompt_name_check (name, &error))
    return 0;
  vf_debug ("refusing a new name: %s", error->message);
  return -vf_error_to_errno (error);
}

static gboolean
is_submitted (VfSpace *sp, const char *name)
{
  return is_prompt (name) && vf_jobs_is_submitted (sp->jobs, name);
}

/* A submitted prompt file shows as read-only. */
static void
adjust_mode (VfSpace *sp, const char *name, struct stat *st)
{
  if (is_submitted (sp, name))
    st->st_mode &= ~(mode_t)0222;
}

int
vf_files_stat (VfSpace *sp, const char *name, struct stat *st)
{
  if (fstatat (sp->files_fd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
    return -errno;
  if (!S_ISREG (st->st_mode))
    return -ENOENT;
  adjust_mode (sp, name, st);
  return 0;
}

char *
vf_files_name (VfSpace *sp, VfFileHandle *fh)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&sp->files_lock);
  return g_strdup (fh->file->name);
}

int
vf_files_fstat (VfSpace *sp, VfFileHandle *fh, struct stat *st)
{
  g_autofree char *name = vf_files_name (sp, fh);

  if (fstat (fh->fd, st) < 0)
    return -errno;
  adjust_mode (sp, name, st);
  return 0;
}

int
vf_files_list (VfSpace *sp, GHashTable *skip, GArray *list)
{
  int fd = openat (sp->files_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  DIR *dir = fdopendir (fd);
  if (!dir)
    {
      int e = errno;
      close (fd);
      return -e;
    }
  struct dirent *d;
  while ((d = readdir (dir)) != NULL)
    {
      if (d->d_type != DT_REG && d->d_type != DT_UNKNOWN)
        continue;
      if (g_hash_table_contains (skip, d->d_name))
        continue;
      VfDirEntry e = { g_strdup (d->d_name), S_IFREG, -1, sp };
      g_array_append_val (list, e);
    }
  closedir (dir);
  return 0;
}

/* Attaches a new handle to the record for `name`, made on first use. */
static void
file_attach (VfSpace *sp, const char *name, VfFileHandle *fh)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&sp->files_lock);
  struct vf_file *file = g_hash_table_lookup (sp->files, name);

  if (!file)
    {
      file = g_new0 (struct vf_file, 1);
      file->name = g_strdup (name);
      file->handles = g_ptr_array_new ();
      g_hash_table_insert (sp->files, file->name, file);
    }
  g_ptr_array_add (file->handles, fh);
  fh->file = file;
}

static void
file_detach (VfSpace *sp, VfFileHandle *fh)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&sp->files_lock);
  struct vf_file *file = fh->file;

  g_ptr_array_remove_fast (file->handles, fh);
  if (file->handles->len > 0)
    return;
  if (file->name)
    g_hash_table_remove (sp->files, file->name);
  g_ptr_array_unref (file->handles);
  g_free (file->name);
  g_free (file);
}

/* Keeps the records in step with a rename or unlink (to == NULL) done on
 * disk.  Called with files_lock held. */
static void
files_moved (VfSpace *sp, const char *from, const char *to)
{
  struct vf_file *replaced = to ? g_hash_table_lookup (sp->files, to) : NULL;
  struct vf_file *file = g_hash_table_lookup (sp->files, from);

  if (replaced && replaced != file)
    {
      g_hash_table_remove (sp->files, to);
      g_clear_pointer (&replaced->name, g_free);
    }
  if (!file)
    return;
  g_hash_table_remove (sp->files, from);
  g_free (file->name);
  file->name = g_strdup (to);
  if (file->name)
    g_hash_table_insert (sp->files, file->name, file);
}

int
vf_files_open (VfSpace *sp, const char *name, int flags, mode_t mode, gboolean create,
               VfFileHandle **out)
{
  int acc = flags & O_ACCMODE;
  gboolean writable = acc != O_RDONLY;
  int oflags;

  if ((writable || (flags & O_TRUNC)) && is_submitted (sp, name))
    return -EACCES;
  if (create && check_new_name (name) < 0)
    return -EINVAL;
  if (create && sp->jobs && name[0] != '.')
    {
      g_autoptr (VfJobInfo) job = vf_jobs_get (sp->jobs, name);
      if (job)
        return -EEXIST;
    }

  /* Writers get a read-write descriptor: the submission reads it back. */
  oflags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW
           | (flags & (O_APPEND | O_TRUNC | O_SYNC | O_DSYNC));
  if (create)
    oflags |= O_CREAT | (flags & O_EXCL);
  int fd = openat (sp->files_fd, name, oflags, mode & 07777);
  if (fd < 0)
    return -errno;

  VfFileHandle *fh = g_new0 (VfFileHandle, 1);
  fh->fd = fd;
  fh->writable = writable;
  vf_prompt_check_init (&fh->check);
  file_attach (sp, name, fh);
  *out = fh;
  return 0;
}

int
vf_files_read (VfFileHandle *fh, char *buf, size_t size, off_t offset)
{
  ssize_t n = pread (fh->fd, buf, size, offset);
  return n < 0 ? -errno : (int)n;
}

int
vf_files_write (VfSpace *sp, VfFileHandle *fh, const char *buf, size_t size, off_t offset)
{
  g_autofree char *name = vf_files_name (sp, fh);
  size_t done = 0;

  if (fh->refused)
    return -fh->refused;
  if (is_prompt (name))
    {
      g_autoptr (GError) error = NULL;

      if (vf_jobs_is_submitted (sp->jobs, name))
        return -EACCES;
      if (!vf_prompt_check_write (&fh->check, offset, buf, size, &error))
        {
          vf_debug ("write %s: %s", name, error->message);
          fh->refused = vf_error_to_errno (error);
          vf_jobs_reject (sp->jobs, name, error);
          return -fh->refused;
        }
    }

  while (done < size)
    {
      ssize_t n = pwrite (fh->fd, buf + done, size - done, offset + (off_t)done);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (done > 0)
            break;
          return -errno;
        }
      done += (size_t)n;
    }

  {
    g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&sp->files_lock);
    if (!is_dirty (fh))
      {
        fh->dirty = TRUE;
        fh->dirty_epoch = fh->file->epoch;
      }
  }
  return (int)done;
}

/* Sends the whole file behind `fd` as prompt file `name`.  An empty file is
 * a draft: nothing is sent. */
static int
submit (VfSpace *sp, int fd, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = g_malloc (SUBMIT_READ_MAX);
  gsize len = 0;

  while (len < SUBMIT_READ_MAX)
    {
      ssize_t n = pread (fd, data + len, SUBMIT_READ_MAX - len, (off_t)len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        break;
      len += (gsize)n;
    }
  if (len == 0)
    {
      vf_debug ("%s is empty: a draft, nothing sent", name);
      return 0;
    }
  vf_debug ("submitting %s (%zu bytes)", name, len);
  if (!vf_jobs_submit (sp->jobs, name, data, len, &error))
    {
      int e = vf_error_to_errno (error);
      vf_debug ("submitting %s failed: %s (%s)", name, error->message, g_strerror (e));
      return -e;
    }
  vf_debug ("submitted %s", name);
  return 0;
}

/* Decides, under the lock, whether closing `fh` now submits its file;
 * returns the file's current name then. */
static char *
take_submission (VfSpace *sp, VfFileHandle *fh)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&sp->files_lock);
  struct vf_file *file = fh->file;
  gboolean mine = is_dirty (fh);
  gboolean others = FALSE;

  fh->dirty = FALSE;
  for (guint i = 0; i < file->handles->len; i++)
    if (g_ptr_array_index (file->handles, i) != fh
        && is_dirty (g_ptr_array_index (file->handles, i)))
      others = TRUE;
  if (!(mine && fh->refused == 0) && !(file->pending && !others))
    return NULL;
  if (others)
    {
      file->pending = TRUE;
      return NULL;
    }
  file->pending = FALSE;
  if (!is_prompt (file->name) || vf_jobs_is_submitted (sp->jobs, file->name))
    return NULL;
  return g_strdup (file->name);
}

int
vf_files_flush (VfSpace *sp, VfFileHandle *fh)
{
  if (!fh->writable)
    return 0;
  g_autofree char *name = take_submission (sp, fh);
  if (fh->refused)
    return -fh->refused;
  if (!name)
    return 0;
  return submit (sp, fh->fd, name);
}

void
vf_files_release (VfSpace *sp, VfFileHandle *fh)
{
  if (fh->writable)
    {
      g_autofree char *name = take_submission (sp, fh);
      if (name)
        {
          int res = submit (sp, fh->fd, name);
          if (res < 0)
            vf_debug ("release %s: submission failed: %s", name, g_strerror (-res));
        }
    }
  close (fh->fd);
  file_detach (sp, fh);
  g_free (fh);
}

int
vf_files_fsync (VfFileHandle *fh, int datasync)
{
  int res = datasync ? fdatasync (fh->fd) : fsync (fh->fd);
  return res < 0 ? -errno : 0;
}

int
vf_files_truncate (VfSpace *sp, const char *name, VfFileHandle *fh, off_t size)
{
  g_autofree char *cur = fh ? vf_files_name (sp, fh) : g_strdup (name);
  int res;

  if (is_submitted (sp, cur))
    return -EACCES;
  /* as by write(): a prompt file may not grow past the limit */
  if (is_prompt (cur) && size > VF_PROMPT_MAX)
    return -EFBIG;
  if (fh)
    res = ftruncate (fh->fd, size);
  else
    {
      int fd = openat (sp->files_fd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0)
        return -errno;
      res = ftruncate (fd, size);
      if (res < 0)
        {
          int e = errno;
          close (fd);
          return -e;
        }
      close (fd);
    }
  return res < 0 ? -errno : 0;
}

int
vf_files_chmod (VfSpace *sp, const char *name, VfFileHandle *fh, mode_t mode)
{
  g_autofree char *cur = fh ? vf_files_name (sp, fh) : g_strdup (name);
  int res;

  /* Editors and cp -p restore a mode after saving; a submitted prompt
   * stays read-only whatever they ask, and the request succeeds. */
  if (is_submitted (sp, cur))
    return 0;
  if (fh)
    res = fchmod (fh->fd, mode & 07777);
  else
    res = fchmodat (sp->files_fd, name, mode & 07777, 0);
  return res < 0 ? -errno : 0;
}

int
vf_files_utimens (VfSpace *sp, const char *name, VfFileHandle *fh, const struct timespec tv[2])
{
  int res;

  if (fh)
    res = futimens (fh->fd, tv);
  else
    res = utimensat (sp->files_fd, name, tv, AT_SYMLINK_NOFOLLOW);
  return res < 0 ? -errno : 0;
}

int
vf_files_unlink (VfSpace *sp, const char *name)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&sp->files_lock);

  if (unlinkat (sp->files_fd, name, 0) < 0)
    return -errno;
  files_moved (sp, name, NULL);
  return 0;
}

/* `sends`: the rename submits the file, so what its handles wrote so far
 * is sent by it and not again when they close. */
static int
rename_on_disk (VfSpace *sp, const char *from, const char *to, unsigned int flags, gboolean sends)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&sp->files_lock);

  if (renameat2 (sp->files_fd, from, sp->files_fd, to, flags) < 0)
    return -errno;
  files_moved (sp, from, to);
  if (sends)
    {
      struct vf_file *file = g_hash_table_lookup (sp->files, to);
      if (file)
        {
          file->epoch++;
          file->pending = FALSE;
        }
    }
  return 0;
}

int
vf_files_rename (VfSpace *sp, const char *from, const char *to, unsigned int flags)
{
  struct stat st;
  int res;

  if (flags & RENAME_EXCHANGE)
    return -EINVAL;
  if (is_submitted (sp, from) || is_submitted (sp, to))
    return -EACCES;
  if (fstatat (sp->files_fd, from, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return -errno;
  if (!S_ISREG (st.st_mode))
    return -ENOENT;
  res = check_new_name (to);
  if (res < 0)
    return res;
  if (to[0] != '.')
    {
      g_autoptr (VfJobInfo) job = vf_jobs_get (sp->jobs, to);
      if (job)
        return -EISDIR;
    }

  gboolean sends = is_prompt (to) && st.st_size > 0;
  res = rename_on_disk (sp, from, to, flags, sends);
  if (res < 0 || !sends)
    return res;

  /* A save by rename (editors, rsync, GIO): the file is in place under its
   * prompt name whatever the API says, so that a refused prompt can be
   * fixed and saved again; rename() returns the API's answer. */
  int fd = openat (sp->files_fd, to, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -errno;
  res = submit (sp, fd, to);
  close (fd);
  return res;
}

int
vf_files_rename_job (VfSpace *sp, const char *from, const char *to, unsigned int flags)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJobInfo) job = vf_jobs_get (sp->jobs, from);
  g_autofree char *new_prompt = NULL;
  struct stat st;
  gboolean move_prompt = FALSE;

  if (!job)
    return -ENOENT;
  if (flags & RENAME_EXCHANGE)
    return -EINVAL;
  if (check_new_name (to) < 0)
    return -EINVAL;
  /* the new name must be one a prompt file could give */
  new_prompt = vf_prompt_file_rename (job->prompt_file, to);
  if (!vf_prompt_name (new_prompt, NULL))
    return -EINVAL;
  {
    g_autoptr (VfJobInfo) other = vf_jobs_get (sp->jobs, to);
    if (other)
      return -ENOTEMPTY;
  }
  if (job->prompt_file)
    {
      if (fstatat (sp->files_fd, new_prompt, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return -EEXIST;
      move_prompt = fstatat (sp->files_fd, job->prompt_file, &st, AT_SYMLINK_NOFOLLOW) == 0;
    }
  if (fstatat (sp->files_fd, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return -ENOTDIR;

  if (!vf_jobs_rename (sp->jobs, from, to, &error))
    {
      vf_debug ("rename job %s -> %s: %s", from, to, error->message);
      if (g_error_matches (error, VF_ERROR, VF_ERROR_CONFLICT))
        return -ENOTEMPTY;
      return -vf_error_to_errno (error);
    }
  if (move_prompt)
    {
      int res = rename_on_disk (sp, job->prompt_file, new_prompt, RENAME_NOREPLACE, FALSE);
      if (res < 0)
        vf_debug ("moving %s to %s: %s", job->prompt_file, new_prompt, g_strerror (-res));
    }
  return 0;
}

int
vf_files_access (VfSpace *sp, const char *name, int mask)
{
  struct stat st;
  int res = vf_files_stat (sp, name, &st);

  if (res < 0)
    return res;
  if ((mask & W_OK) && !(st.st_mode & 0200))
    return -EACCES;
  if ((mask & X_OK) && !(st.st_mode & 0111))
    return -EACCES;
  return 0;
}

int
vf_files_statfs (VfSpace *sp, struct statvfs *st)
{
  return fstatvfs (sp->files_fd, st) < 0 ? -errno : 0;
}

/* The whole content file `entry` of job `name`, fetched first if needed,
 * as a copy in memory (the cache's own file may not be under its final
 * name yet). */
static int
open_job_file (VfSpace *sp, const char *name, const char *entry, GError **error)
{
  g_autoptr (VfJobInfo) info = vf_jobs_get (sp->jobs, name);

  if (!info)
    {
      vf_set_error (error, VF_ERROR_INVALID, "there is no job %s", name);
      return -1;
    }
  if (info->picture)
    {
      int fd = vf_jobs_open_picture (sp->jobs, name, entry);

      if (fd < 0)
        vf_set_error (error, VF_ERROR_INVALID, "%s/%s is not there (the job is %s)", name, entry,
                      g_strchomp (info->status));
      return fd < 0 ? -1 : fd;
    }
  for (int v = 0; v < VF_N_VARIANTS; v++)
    {
      gint64 size = info->content_size[v];
      gint64 done = 0;
      g_autofree char *buf = NULL;
      int fd;

      if (strcmp (entry, vf_variant_file_name (v)) != 0)
        continue;
      if (size < 0)
        {
          vf_set_error (error, VF_ERROR_INVALID, "%s/%s is not there (the job is %s)", name, entry,
                        g_strchomp (info->status));
          return -1;
        }
      fd = memfd_create ("videofs-input", MFD_CLOEXEC);
      if (fd < 0)
        {
          vf_set_error (error, VF_ERROR_INVALID, "cannot copy %s/%s: %s", name, entry,
                        g_strerror (errno));
          return -1;
        }
      buf = g_malloc (1024 * 1024);
      while (done < size)
        {
          int piece = -1;
          gssize n
              = vf_jobs_read_fd (sp->jobs, name, FALSE, v, 1024 * 1024, done, &piece, NULL, error);
          gboolean ok = n > 0 && pread (piece, buf, (size_t)n, done) == n
                        && pwrite (fd, buf, (size_t)n, done) == n;

          if (piece >= 0)
            close (piece);
          if (n == 0)
            break;
          if (!ok)
            {
              if (n > 0)
                vf_set_error (error, VF_ERROR_INVALID, "%s/%s cannot be read", name, entry);
              close (fd);
              return -1;
            }
          done += n;
        }
      return fd;
    }
  vf_set_error (error, VF_ERROR_INVALID, "%s/%s is not a picture of that job", name, entry);
  return -1;
}

int
vf_files_open_input (const char *file, gpointer user_data, GError **error)
{
  VfSpace *sp = user_data;
  const char *slash = strchr (file, '/');
  int fd;

  if (slash)
    {
      g_autofree char *name = g_strndup (file, slash - file);

      if (strchr (slash + 1, '/'))
        {
          vf_set_error (error, VF_ERROR_INVALID, "%s is neither a file in %s/ nor NAME/FILE", file,
                        sp->dir);
          return -1;
        }
      return open_job_file (sp, name, slash + 1, error);
    }
  fd = openat (sp->files_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      int e = errno;

      /* A job directory of that name is not a file. */
      g_autoptr (VfJobInfo) info = e == ENOENT ? vf_jobs_get (sp->jobs, file) : NULL;
      vf_set_error (error, VF_ERROR_INVALID, "cannot open %s: %s", file,
                    info ? "it is a job directory" : g_strerror (e));
    }
  return fd;
}
