/* ops.c: the FUSE operations.
 *
 * Thin by design: find the node (tree.c), then hand the work to files.c for
 * jobs/ files, to the job table for forgetting a job, or to read.c for
 * every read; handle.c keeps what an open holds.
 *
 * Choices the contract leaves open, also in videofs(1):
 * - Everything outside jobs/ and its prompt and scratch files is read-only:
 *   opening for writing, creating, removing or renaming there fails with
 *   EACCES.
 * - Inside a job directory, unlink() succeeds and changes nothing, so that
 *   `rm -r jobs/NAME` works; removing the directory forgets the job.
 * - Live files (status, status.json, error, the root status, events) use
 *   direct I/O.  A handle serves one snapshot of the text, taken at its
 *   first read and renewed by every read at offset 0, so a reader that
 *   reads in pieces gets one consistent text.  The events log only grows:
 *   each read gets the bytes it asks for as they are now (and copies no
 *   more of the log), so `tail -f` sees it grow.
 * - poll() on a live file reports POLLIN once its text changed since the
 *   handle last read it (or since the open), and wakes when it does.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vf-error.h"
#include "videofs.h"

#define MAX_REQUEST (512 * 1024)

static void *
vf_init (struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  /* The kernel keeps names and attributes for a second, and notify.c
   * drops them the moment the API changes a file (fuse_invalidate_path), so
   * `ls -l` of thousands of jobs is one READDIRPLUS, not a LOOKUP and a
   * GETATTR per entry.  What the mount's own calls change the kernel sees
   * in their answers.  Names that do not exist are never kept: a file that
   * appears is there for the next lookup. */
  cfg->entry_timeout = 1;
  cfg->attr_timeout = 1;
  cfg->negative_timeout = 0;
  cfg->use_ino = 0;
  /* Unlinked open files go at once (no .fuse_hidden files in jobs/);
   * handles of such files work without a path. */
  cfg->hard_remove = 1;
  cfg->nullpath_ok = 1;
  cfg->intr = 1;
  cfg->intr_signal = vf_interrupt_signal ();
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  /* Attributes with every listing, not only the first part of it: ls reads
   * the whole directory before it stats anything. */
  if (conn->capable & FUSE_CAP_READDIRPLUS)
    conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  /* Once attributes expire this would cost a GETATTR per read of a cached
   * page.  Nothing needs it: content never changes once it exists, live
   * files are direct_io, and prompt files change only through the mount. */
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  if (conn->capable & FUSE_CAP_SPLICE_WRITE)
    conn->want |= FUSE_CAP_SPLICE_WRITE;
  conn->want &= ~FUSE_CAP_SPLICE_MOVE;
  /* The kernel's largest request follows max_write.  Kept at 512 KiB so
   * that a read's reply (plus libfuse's headroom) fits a pipe of the
   * default pipe-max-size, 1 MiB: a bigger one is not spliced but copied
   * through a buffer allocated for each reply, at five times the CPU. */
  conn->max_write = MIN (conn->max_write, MAX_REQUEST);
  return vf_fs_get ();
}

static int
vf_getattr (const char *path, struct stat *st, struct fuse_file_info *fi)
{
  VfFs *fs = vf_fs_get ();
  VfHandle *h = vf_handle_of (fi);
  VfNode node;
  int res;

  if (vf_watch_own (fs, VF_WATCH_GETATTR, path, st, &res))
    return res;
  if (h && h->file)
    return vf_files_fstat (h->node.space, h->file, st);
  if (!path && h)
    return vf_tree_stat (fs, &h->node, st);
  res = vf_tree_lookup (fs, path, &node);
  if (res < 0)
    return res;
  res = vf_tree_stat (fs, &node, st);
  vf_node_clear (&node);
  return res;
}

static int
vf_access (const char *path, int mask)
{
  VfFs *fs = vf_fs_get ();
  VfNode node;
  int res = vf_tree_lookup (fs, path, &node);

  if (res < 0)
    return res;
  switch (node.kind)
    {
    case VF_NODE_FILE:
      res = vf_files_access (node.space, node.name, mask);
      break;
    case VF_NODE_ROOT:
    case VF_NODE_VIDEOS:
    case VF_NODE_VIDEO:
      res = (mask & W_OK) ? -EACCES : 0;
      break;
    case VF_NODE_JOBS:
    case VF_NODE_JOB:
      res = 0;
      break;
    default:
      res = (mask & (W_OK | X_OK)) ? -EACCES : 0;
      break;
    }
  vf_node_clear (&node);
  return res;
}

/* A directory handle keeps its path: every readdir lists what is there now. */
static int
vf_opendir (const char *path, struct fuse_file_info *fi)
{
  VfNode node;
  int res = vf_tree_lookup (vf_fs_get (), path, &node);

  if (res < 0)
    return res;
  switch (node.kind)
    {
    case VF_NODE_ROOT:
    case VF_NODE_JOBS:
    case VF_NODE_VIDEOS:
    case VF_NODE_JOB:
    case VF_NODE_VIDEO:
      {
        VfHandle *h = vf_handle_new (vf_fs_get (), &node);
        h->path = g_strdup (path);
        fi->fh = (uintptr_t)h;
        return 0;
      }
    default:
      vf_node_clear (&node);
      return -ENOTDIR;
    }
}

static int
vf_releasedir (const char *path, struct fuse_file_info *fi)
{
  vf_handle_free (vf_fs_get (), vf_handle_of (fi));
  return 0;
}

/* A listing is taken at offset 0 and handed out by index, so a directory
 * read in several requests (and READDIRPLUS's attributes) is one consistent
 * pass, as on a local file system; a rewind takes a new one. */
static int
vf_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
            struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  VfFs *fs = vf_fs_get ();
  VfHandle *h = vf_handle_of (fi);

  if (offset == 0 || !h->listing)
    {
      VfNode node;
      int res = vf_tree_lookup (fs, h->path, &node);

      if (res < 0)
        return res;
      g_clear_pointer (&h->listing, g_array_unref);
      h->listing = vf_tree_list (fs, &node, &res);
      vf_node_clear (&node);
      if (!h->listing)
        return res;
    }
  return vf_tree_fill (fs, h->listing, offset, (flags & FUSE_READDIR_PLUS) != 0, buf, filler);
}

static int
vf_open (const char *path, struct fuse_file_info *fi)
{
  VfFs *fs = vf_fs_get ();
  VfNode node;
  VfHandle *h;
  VfVariant variant;
  int res = vf_tree_lookup (fs, path, &node);

  if (res < 0)
    return res;
  switch (node.kind)
    {
    case VF_NODE_ROOT:
    case VF_NODE_JOBS:
    case VF_NODE_VIDEOS:
    case VF_NODE_JOB:
    case VF_NODE_VIDEO:
      vf_node_clear (&node);
      return -EISDIR;
    case VF_NODE_FILE:
      {
        VfFileHandle *fh;
        res = vf_files_open (node.space, node.name, fi->flags, 0, FALSE, &fh);
        if (res < 0)
          {
            vf_node_clear (&node);
            return res;
          }
        h = vf_handle_new (fs, &node);
        h->file = fh;
        fi->keep_cache = 1;
        fi->fh = (uintptr_t)h;
        return 0;
      }
    default:
      break;
    }

  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
    {
      vf_node_clear (&node);
      return -EACCES;
    }
  if (vf_tree_is_content (&node, NULL))
    {
      if (node.info->expired)
        {
          vf_node_clear (&node);
          return -ENOENT;
        }
      fi->keep_cache = 1;
    }
  else if (vf_tree_is_picture (&node))
    {
      /* whole and synced before its job says completed */
      int fd = vf_jobs_open_picture (node.space->jobs, node.name, vf_node_entry_name (&node));

      if (fd < 0)
        {
          vf_node_clear (&node);
          return fd;
        }
      h = vf_handle_new (fs, &node);
      h->content_fd = fd;
      fi->keep_cache = 1;
      fi->fh = (uintptr_t)h;
      return 0;
    }
  else if (vf_tree_is_live (&node))
    fi->direct_io = 1;
  else if (node.kind == VF_NODE_README)
    fi->keep_cache = 1;
  h = vf_handle_new (fs, &node);
  if (vf_tree_is_content (&h->node, &variant))
    h->content_fd = vf_jobs_content_open_fd (fs->jobs, h->node.info->id, TRUE, variant);
  if (vf_tree_is_live (&h->node))
    h->seen_us = vf_tree_changed_us (fs, &h->node);
  fi->fh = (uintptr_t)h;
  return 0;
}

static int
vf_create (const char *path, mode_t mode, struct fuse_file_info *fi)
{
  VfFs *fs = vf_fs_get ();
  VfSpace *space;
  const char *name = vf_space_child (fs, path, &space);
  VfFileHandle *fh;
  VfNode node = { 0 };
  int res;

  if (vf_watch_own (fs, VF_WATCH_CREATE, path, NULL, &res))
    {
      fi->fh = 0; /* an announcement: no handle, see watch.c */
      return res;
    }
  if (!name)
    return -EACCES;
  res = vf_files_open (space, name, fi->flags, mode, TRUE, &fh);
  if (res < 0)
    return res;
  node.kind = VF_NODE_FILE;
  node.space = space;
  node.name = g_strdup (name);
  VfHandle *h = vf_handle_new (fs, &node);
  h->file = fh;
  fi->keep_cache = 1;
  fi->fh = (uintptr_t)h;
  return 0;
}

static int
vf_write (const char *path, const char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
  VfHandle *h = vf_handle_of (fi);

  if (!h->file)
    return -EBADF;
  return vf_files_write (h->node.space, h->file, buf, size, offset);
}

static int
vf_flush (const char *path, struct fuse_file_info *fi)
{
  VfHandle *h = vf_handle_of (fi);
  g_autofree char *name = NULL;
  int res;

  if (!h || !h->file)
    return 0;
  res = vf_files_flush (h->node.space, h->file);
  /* a submitted prompt shows read-only from now on (`path` is NULL here:
   * nullpath_ok) */
  name = vf_files_name (h->node.space, h->file);
  if (name)
    {
      g_autofree char *file = g_strconcat ("/", h->node.space->dir, "/", name, NULL);
      vf_notify_invalidate (vf_fs_get (), file);
    }
  return res;
}

static int
vf_release (const char *path, struct fuse_file_info *fi)
{
  VfHandle *h = vf_handle_of (fi);

  if (h)
    vf_handle_release (vf_fs_get (), h);
  return 0;
}

static int
vf_fsync (const char *path, int datasync, struct fuse_file_info *fi)
{
  VfHandle *h = vf_handle_of (fi);

  return h->file ? vf_files_fsync (h->file, datasync) : 0;
}

/* For operations that change a file of jobs/ or images/ by path or
 * handle: node->space says which. */
static int
file_target (VfFs *fs, const char *path, struct fuse_file_info *fi, VfNode *node, VfFileHandle **fh)
{
  VfHandle *h = vf_handle_of (fi);
  int res;

  memset (node, 0, sizeof *node);
  *fh = NULL;
  if (h && h->file)
    {
      *fh = h->file;
      node->space = h->node.space;
      return 0;
    }
  if (!path)
    return -EACCES;
  res = vf_tree_lookup (fs, path, node);
  if (res < 0)
    return res;
  if (node->kind != VF_NODE_FILE)
    {
      vf_node_clear (node);
      return -EACCES;
    }
  return 0;
}

static int
vf_truncate (const char *path, off_t size, struct fuse_file_info *fi)
{
  VfFs *fs = vf_fs_get ();
  VfFileHandle *fh;
  VfNode node;
  int res;

  if (vf_watch_own (fs, VF_WATCH_TOUCH, path, NULL, &res))
    return res;
  res = file_target (fs, path, fi, &node, &fh);
  if (res < 0)
    return res;
  res = vf_files_truncate (node.space, node.name, fh, size);
  vf_node_clear (&node);
  return res;
}

static int
vf_chmod (const char *path, mode_t mode, struct fuse_file_info *fi)
{
  VfFs *fs = vf_fs_get ();
  VfFileHandle *fh;
  VfNode node;
  int res = file_target (fs, path, fi, &node, &fh);

  if (res < 0)
    return res;
  res = vf_files_chmod (node.space, node.name, fh, mode);
  vf_node_clear (&node);
  return res;
}

static int
vf_chown (const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
  VfFs *fs = vf_fs_get ();
  VfFileHandle *fh;
  VfNode node;
  int res = file_target (fs, path, fi, &node, &fh);

  /* jobs/ files always belong to the mounting user; asking for that (or
   * anything: cp -p, mv across file systems) succeeds and changes nothing */
  vf_node_clear (&node);
  return res;
}

static int
vf_utimens (const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
  VfFs *fs = vf_fs_get ();
  VfFileHandle *fh;
  VfNode node;
  int res;

  if (vf_watch_own (fs, VF_WATCH_TOUCH, path, NULL, &res))
    return res;
  res = file_target (fs, path, fi, &node, &fh);
  if (res < 0)
    return res;
  res = vf_files_utimens (node.space, node.name, fh, tv);
  vf_node_clear (&node);
  return res;
}

static int
vf_unlink (const char *path)
{
  VfFs *fs = vf_fs_get ();
  VfNode node;
  int res;

  if (vf_watch_own (fs, VF_WATCH_REMOVE, path, NULL, &res))
    return res;
  res = vf_tree_lookup (fs, path, &node);
  if (res < 0)
    return res;
  switch (node.kind)
    {
    case VF_NODE_FILE:
      res = vf_files_unlink (node.space, node.name);
      break;
    case VF_NODE_ENTRY:
      /* rm -r jobs/NAME: the files go with the directory */
      res = node.by_id ? -EACCES : 0;
      break;
    case VF_NODE_JOB:
    case VF_NODE_VIDEO:
      res = -EISDIR;
      break;
    default:
      res = -EACCES;
      break;
    }
  vf_node_clear (&node);
  return res;
}

/* A job's prompt file (either name vf-prompt.h allows) changed its mode or
 * went with its job: the kernel's attributes of it are dropped. */
static void
invalidate_prompt (VfFs *fs, const VfSpace *space, const char *name)
{
  static const char *const exts[] = { ".txt", ".json" };

  for (guint i = 0; i < G_N_ELEMENTS (exts); i++)
    {
      g_autofree char *prompt = g_strconcat ("/", space->dir, "/", name, exts[i], NULL);
      vf_notify_invalidate (fs, prompt);
    }
}

static int
vf_rmdir (const char *path)
{
  VfFs *fs = vf_fs_get ();
  VfNode node;
  int res;

  if (vf_watch_own (fs, VF_WATCH_REMOVE, path, NULL, &res))
    return res;
  res = vf_tree_lookup (fs, path, &node);
  if (res < 0)
    return res;
  if (node.kind == VF_NODE_JOB)
    {
      g_autoptr (GError) error = NULL;
      vf_watch_local_begin (fs, node.space, node.name);
      if (!vf_jobs_forget (node.space->jobs, node.name, &error))
        {
          vf_debug ("rmdir %s: %s", path, error->message);
          res = -vf_error_to_errno (error);
        }
      vf_watch_local_end (fs, node.space, node.name);
      /* its prompt file is writable again */
      invalidate_prompt (fs, node.space, node.name);
    }
  else if (node.kind == VF_NODE_FILE || node.kind == VF_NODE_ENTRY || node.kind == VF_NODE_README
           || node.kind == VF_NODE_STATUS || node.kind == VF_NODE_EVENTS)
    res = -ENOTDIR;
  else
    res = -EACCES;
  vf_node_clear (&node);
  return res;
}

static int
vf_mkdir (const char *path, mode_t mode)
{
  int res;

  if (vf_watch_own (vf_fs_get (), VF_WATCH_CREATE, path, NULL, &res))
    return res;
  return -EACCES;
}

static int
vf_rename (const char *from, const char *to, unsigned int flags)
{
  VfFs *fs = vf_fs_get ();
  VfSpace *space, *to_space;
  const char *from_name = vf_space_child (fs, from, &space);
  const char *to_name = vf_space_child (fs, to, &to_space);
  VfNode node;
  int res;

  if (!from_name || !to_name)
    return -EACCES;
  /* between jobs/ and images/: mv copies, and the copy is a new prompt */
  if (space != to_space)
    return -EXDEV;
  res = vf_tree_lookup (fs, from, &node);
  if (res < 0)
    return res;
  if (strcmp (from_name, to_name) == 0)
    res = 0;
  else if (node.kind == VF_NODE_FILE)
    {
      res = vf_files_rename (space, from_name, to_name, flags);
      /* a prompt saved by rename shows read-only (libfuse moves its node
       * after we answer, so the file is still under `from`) */
      vf_notify_invalidate (fs, from);
    }
  else if (node.kind == VF_NODE_JOB)
    {
      vf_watch_local_begin (fs, space, from_name);
      vf_watch_local_begin (fs, space, to_name);
      res = vf_files_rename_job (space, from_name, to_name, flags);
      vf_watch_local_end (fs, space, from_name);
      vf_watch_local_end (fs, space, to_name);
      /* the prompt file moved with its job */
      invalidate_prompt (fs, space, from_name);
    }
  else
    res = -EACCES;
  vf_node_clear (&node);
  return res;
}

static int
vf_poll (const char *path, struct fuse_file_info *fi, struct fuse_pollhandle *ph,
         unsigned *reventsp)
{
  VfFs *fs = vf_fs_get ();
  VfHandle *h = vf_handle_of (fi);

  if (!vf_tree_is_live (&h->node))
    {
      *reventsp |= POLLIN | POLLRDNORM | (h->file ? POLLOUT | POLLWRNORM : 0);
      if (ph)
        fuse_pollhandle_destroy (ph);
      return 0;
    }
  /* keep the handle first, then look: a change in between still wakes */
  if (ph)
    vf_notify_keep (fs, h, ph);
  gint64 seen;
  {
    g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&h->lock);
    seen = h->seen_us;
  }
  if (vf_tree_changed_us (fs, &h->node) != seen)
    {
      *reventsp |= POLLIN | POLLRDNORM;
      vf_notify_forget (fs, h);
    }
  return 0;
}

static int
vf_statfs (const char *path, struct statvfs *st)
{
  int res = vf_files_statfs (&vf_fs_get ()->spaces[VF_SPACE_JOBS], st);

  st->f_namemax = 255;
  return res;
}

const struct fuse_operations vf_operations = {
  .init = vf_init,
  .getattr = vf_getattr,
  .access = vf_access,
  .opendir = vf_opendir,
  .readdir = vf_readdir,
  .releasedir = vf_releasedir,
  .open = vf_open,
  .create = vf_create,
  .read_buf = vf_read_buf,
  .write = vf_write,
  .flush = vf_flush,
  .release = vf_release,
  .fsync = vf_fsync,
  .truncate = vf_truncate,
  .chmod = vf_chmod,
  .chown = vf_chown,
  .utimens = vf_utimens,
  .unlink = vf_unlink,
  .rmdir = vf_rmdir,
  .mkdir = vf_mkdir,
  .rename = vf_rename,
  .poll = vf_poll,
  .statfs = vf_statfs,
};
