/* ops.c: the FUSE operations.
 *
 * Thin by design: find the node (tree.c), then hand the work to files.c for
 * jobs/ files, to the job table for video bytes, or serve a text snapshot.
 *
 * Choices the contract leaves open, also in videofs(1):
 * - Everything outside jobs/ and its prompt and scratch files is read-only:
 *   opening for writing, creating, removing or renaming there fails with
 *   EACCES.
 * - Inside a job directory, unlink() succeeds and changes nothing, so that
 *   `rm -r jobs/NAME` works; removing the directory forgets the job.
 * - Live files (status, status.json, error, the root status, events) use
 *   direct I/O.  A handle serves one snapshot of the text, taken at its
 *   first read and renewed by every read at offset 0 (and, for the
 *   append-only events, by a read at its end), so a reader that reads in
 *   pieces gets one consistent text and `tail -f` sees the log grow.
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

static VfFs *
get_fs (void)
{
  return fuse_get_context ()->private_data;
}

static VfHandle *
get_handle (struct fuse_file_info *fi)
{
  return fi ? (VfHandle *)(uintptr_t)fi->fh : NULL;
}

/* Splits "/jobs/NAME" into its name; NULL for any other shape. */
static const char *
jobs_child (const char *path)
{
  static const char prefix[] = "/jobs/";

  if (!path || strncmp (path, prefix, sizeof prefix - 1) != 0)
    return NULL;
  path += sizeof prefix - 1;
  if (*path == '\0' || strchr (path, '/'))
    return NULL;
  return path;
}

static void *
vf_init (struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  /* Every lookup asks us again: jobs come and go from other threads, and
   * status sizes change by the second. */
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->use_ino = 0;
  /* Unlinked open files go at once (no .fuse_hidden files in jobs/);
   * handles of such files work without a path. */
  cfg->hard_remove = 1;
  cfg->nullpath_ok = 1;
  cfg->intr = 1;
  cfg->intr_signal = vf_interrupt_signal ();
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  /* With attr_timeout 0 this would cost a GETATTR per read of a cached page.
   * Nothing needs it: content never changes once it exists, live files are
   * direct_io, and prompt files change only through the mount. */
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  if (conn->capable & FUSE_CAP_SPLICE_WRITE)
    conn->want |= FUSE_CAP_SPLICE_WRITE;
  conn->want &= ~FUSE_CAP_SPLICE_MOVE;
  /* The kernel's largest request follows max_write.  Kept at 512 KiB so
   * that a read's reply (plus libfuse's headroom) fits a pipe of the
   * default pipe-max-size, 1 MiB: a bigger one is not spliced but copied
   * through a buffer allocated for each reply, at five times the CPU. */
  conn->max_write = MIN (conn->max_write, MAX_REQUEST);
  return get_fs ();
}

static int
vf_getattr (const char *path, struct stat *st, struct fuse_file_info *fi)
{
  VfFs *fs = get_fs ();
  VfHandle *h = get_handle (fi);
  VfNode node;
  int res;

  if (h && h->file)
    return vf_files_fstat (fs, h->file, st);
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
  VfFs *fs = get_fs ();
  VfNode node;
  int res = vf_tree_lookup (fs, path, &node);

  if (res < 0)
    return res;
  switch (node.kind)
    {
    case VF_NODE_FILE:
      res = vf_files_access (fs, node.name, mask);
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

static VfHandle *handle_new (VfNode *node);
static void handle_free (VfHandle *h);

/* A directory handle keeps its path: every readdir lists what is there now. */
static int
vf_opendir (const char *path, struct fuse_file_info *fi)
{
  VfNode node;
  int res = vf_tree_lookup (get_fs (), path, &node);

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
        VfHandle *h = handle_new (&node);
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
  handle_free (get_handle (fi));
  return 0;
}

static int
vf_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
            struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  VfFs *fs = get_fs ();
  VfNode node;
  int res = vf_tree_lookup (fs, get_handle (fi)->path, &node);

  if (res < 0)
    return res;
  res = vf_tree_readdir (fs, &node, buf, filler);
  vf_node_clear (&node);
  return res;
}

/* Every handle is also in fs->handles, so that those the kernel never
 * released (a lazy unmount, a reader gone while its read waited) are
 * released at teardown. */
static VfHandle *
handle_new (VfNode *node)
{
  VfFs *fs = get_fs ();
  VfHandle *h = g_new0 (VfHandle, 1);

  h->node = *node;
  h->content_fd = -1;
  memset (node, 0, sizeof *node);
  g_mutex_init (&h->lock);
  g_mutex_lock (&fs->handles_lock);
  g_hash_table_add (fs->handles, h);
  g_mutex_unlock (&fs->handles_lock);
  return h;
}

static void
handle_free_in (VfFs *fs, VfHandle *h)
{
  g_mutex_lock (&fs->handles_lock);
  g_hash_table_remove (fs->handles, h);
  g_mutex_unlock (&fs->handles_lock);
  vf_node_clear (&h->node);
  if (h->content_fd >= 0)
    close (h->content_fd);
  g_free (h->path);
  g_clear_pointer (&h->snapshot, g_bytes_unref);
  g_mutex_clear (&h->lock);
  g_free (h);
}

static void
handle_free (VfHandle *h)
{
  handle_free_in (get_fs (), h);
}

static void
handle_release (VfFs *fs, VfHandle *h)
{
  vf_notify_forget (fs, h);
  if (h->file)
    vf_files_release (fs, h->file);
  handle_free_in (fs, h);
}

void
vf_ops_init (VfFs *fs)
{
  g_mutex_init (&fs->handles_lock);
  fs->handles = g_hash_table_new (NULL, NULL);
}

void
vf_ops_shutdown (VfFs *fs)
{
  GHashTableIter iter;
  gpointer key;

  if (!fs->handles)
    return;
  for (;;)
    {
      VfHandle *h = NULL;
      g_mutex_lock (&fs->handles_lock);
      g_hash_table_iter_init (&iter, fs->handles);
      if (g_hash_table_iter_next (&iter, &key, NULL))
        h = key;
      g_mutex_unlock (&fs->handles_lock);
      if (!h)
        break;
      handle_release (fs, h);
    }
  g_clear_pointer (&fs->handles, g_hash_table_unref);
  g_mutex_clear (&fs->handles_lock);
}

static int
vf_open (const char *path, struct fuse_file_info *fi)
{
  VfFs *fs = get_fs ();
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
        res = vf_files_open (fs, node.name, fi->flags, 0, FALSE, &fh);
        if (res < 0)
          {
            vf_node_clear (&node);
            return res;
          }
        h = handle_new (&node);
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
  else if (vf_tree_is_live (&node))
    fi->direct_io = 1;
  else if (node.kind == VF_NODE_README)
    fi->keep_cache = 1;
  h = handle_new (&node);
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
  VfFs *fs = get_fs ();
  const char *name = jobs_child (path);
  VfFileHandle *fh;
  VfNode node = { 0 };
  int res;

  if (!name)
    return -EACCES;
  res = vf_files_open (fs, name, fi->flags, mode, TRUE, &fh);
  if (res < 0)
    return res;
  node.kind = VF_NODE_FILE;
  node.name = g_strdup (name);
  VfHandle *h = handle_new (&node);
  h->file = fh;
  fi->keep_cache = 1;
  fi->fh = (uintptr_t)h;
  return 0;
}

/* A fresh lookup of the node a handle was opened on, for its current text. */
static int
relookup (VfFs *fs, const VfNode *old, VfNode *node)
{
  if (old->kind != VF_NODE_ENTRY)
    {
      memset (node, 0, sizeof *node);
      node->kind = old->kind;
      return 0;
    }
  g_autofree char *path = g_strdup_printf ("/%s/%s/%s", old->by_id ? "videos" : "jobs", old->name,
                                           vf_entry_name (old->entry));
  return vf_tree_lookup (fs, path, node);
}

static int
read_text (VfFs *fs, VfHandle *h, char *buf, size_t size, off_t offset)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&h->lock);
  gsize len = h->snapshot ? g_bytes_get_size (h->snapshot) : 0;

  if (!h->snapshot || offset == 0 || (h->node.kind == VF_NODE_EVENTS && (gsize)offset >= len))
    {
      VfNode node;
      if (relookup (fs, &h->node, &node) == 0)
        {
          gint64 changed_us;
          GBytes *text = vf_tree_text (fs, &node, &changed_us);
          vf_node_clear (&node);
          if (text)
            {
              g_clear_pointer (&h->snapshot, g_bytes_unref);
              h->snapshot = text;
              h->seen_us = changed_us;
            }
        }
      else if (!h->snapshot)
        {
          /* the job went away since the open: serve what it said then */
          h->snapshot = vf_tree_text (fs, &h->node, &h->seen_us);
        }
    }
  if (!h->snapshot)
    return 0;

  gsize data_len;
  const char *data = g_bytes_get_data (h->snapshot, &data_len);
  if ((gsize)offset >= data_len)
    return 0;
  size = MIN (size, data_len - (gsize)offset);
  memcpy (buf, data + offset, size);
  return (int)size;
}

/* Content bytes: copied into buf, or (buf NULL) left in a descriptor of
 * their own, *fd_out. */
static int
read_content (VfFs *fs, VfHandle *h, char *buf, int *fd_out, size_t size, off_t offset)
{
  g_autoptr (GError) error = NULL;
  VfVariant variant;
  GCancellable *cancellable;
  gssize n;

  vf_tree_is_content (&h->node, &variant);
  cancellable = vf_interrupt_begin ();
  /* by id: a handle keeps reading across mv jobs/A jobs/B */
  if (fd_out)
    n = vf_jobs_read_fd (fs->jobs, h->node.info->id, TRUE, variant, size, offset, fd_out,
                         cancellable, &error);
  else
    n = vf_jobs_read (fs->jobs, h->node.info->id, TRUE, variant, buf, size, offset, cancellable,
                      &error);
  vf_interrupt_end (cancellable);
  if (n >= 0)
    return (int)n;
  vf_debug ("read %s/%s at %jd: %s", h->node.name, vf_entry_name (h->node.entry), (intmax_t)offset,
            error->message);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return -EINTR;
  return -vf_error_to_errno (error);
}

static int
vf_read (const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
  VfFs *fs = get_fs ();
  VfHandle *h = get_handle (fi);

  if (h->file)
    return vf_files_read (h->file, buf, size, offset);
  if (vf_tree_is_content (&h->node, NULL))
    return read_content (fs, h, buf, NULL, size, offset);
  return read_text (fs, h, buf, size, offset);
}

static void
close_spliced (gpointer data)
{
  close (GPOINTER_TO_INT (data) - 1);
}

/* The descriptor (plus one) that this thread's last reply was spliced
 * from: libfuse sends the reply before the thread takes the next request,
 * so it is closed then, or when the thread ends. */
static GPrivate spliced_fd = G_PRIVATE_INIT (close_spliced);

/* Content goes out from the cache's file (spliced): from the handle's own
 * descriptor once whole, else from one the cache hands out for the bytes
 * present.  Everything else goes through vf_read(). */
static int
vf_read_buf (const char *path, struct fuse_bufvec **bufp, size_t size, off_t offset,
             struct fuse_file_info *fi)
{
  VfHandle *h = get_handle (fi);
  /* libfuse frees the vector and its memory with free() */
  struct fuse_bufvec *bv = malloc (sizeof *bv);
  void *mem;
  int res;

  if (!bv)
    return -ENOMEM;
  *bv = FUSE_BUFVEC_INIT (size);
  g_private_replace (&spliced_fd, NULL);
  if (h->content_fd >= 0)
    {
      bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
      bv->buf[0].fd = h->content_fd;
      bv->buf[0].pos = offset;
      *bufp = bv;
      return 0;
    }
  if (!h->file && vf_tree_is_content (&h->node, NULL))
    {
      int fd = -1;

      res = read_content (get_fs (), h, NULL, &fd, size, offset);
      if (res < 0)
        {
          free (bv);
          return res;
        }
      bv->buf[0].size = (size_t)res;
      if (res > 0)
        {
          g_private_set (&spliced_fd, GINT_TO_POINTER (fd + 1));
          bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
          bv->buf[0].fd = fd;
          bv->buf[0].pos = offset;
        }
      *bufp = bv;
      return 0;
    }
  mem = malloc (MAX (size, 1));
  if (!mem)
    {
      free (bv);
      return -ENOMEM;
    }
  res = vf_read (path, mem, size, offset, fi);
  if (res < 0)
    {
      free (mem);
      free (bv);
      return res;
    }
  bv->buf[0].mem = mem;
  bv->buf[0].size = (size_t)res;
  *bufp = bv;
  return 0;
}

static int
vf_write (const char *path, const char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
  VfHandle *h = get_handle (fi);

  if (!h->file)
    return -EBADF;
  return vf_files_write (get_fs (), h->file, buf, size, offset);
}

static int
vf_flush (const char *path, struct fuse_file_info *fi)
{
  VfHandle *h = get_handle (fi);

  if (!h->file)
    return 0;
  return vf_files_flush (get_fs (), h->file);
}

static int
vf_release (const char *path, struct fuse_file_info *fi)
{
  handle_release (get_fs (), get_handle (fi));
  return 0;
}

static int
vf_fsync (const char *path, int datasync, struct fuse_file_info *fi)
{
  VfHandle *h = get_handle (fi);

  return h->file ? vf_files_fsync (h->file, datasync) : 0;
}

/* For operations that change a jobs/ file by path or handle. */
static int
file_target (VfFs *fs, const char *path, struct fuse_file_info *fi, VfNode *node, VfFileHandle **fh)
{
  VfHandle *h = get_handle (fi);
  int res;

  memset (node, 0, sizeof *node);
  *fh = NULL;
  if (h && h->file)
    {
      *fh = h->file;
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
  VfFs *fs = get_fs ();
  VfFileHandle *fh;
  VfNode node;
  int res = file_target (fs, path, fi, &node, &fh);

  if (res < 0)
    return res;
  res = vf_files_truncate (fs, node.name, fh, size);
  vf_node_clear (&node);
  return res;
}

static int
vf_chmod (const char *path, mode_t mode, struct fuse_file_info *fi)
{
  VfFs *fs = get_fs ();
  VfFileHandle *fh;
  VfNode node;
  int res = file_target (fs, path, fi, &node, &fh);

  if (res < 0)
    return res;
  res = vf_files_chmod (fs, node.name, fh, mode);
  vf_node_clear (&node);
  return res;
}

static int
vf_chown (const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
  VfFs *fs = get_fs ();
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
  VfFs *fs = get_fs ();
  VfFileHandle *fh;
  VfNode node;
  int res = file_target (fs, path, fi, &node, &fh);

  if (res < 0)
    return res;
  res = vf_files_utimens (fs, node.name, fh, tv);
  vf_node_clear (&node);
  return res;
}

static int
vf_unlink (const char *path)
{
  VfFs *fs = get_fs ();
  VfNode node;
  int res = vf_tree_lookup (fs, path, &node);

  if (res < 0)
    return res;
  switch (node.kind)
    {
    case VF_NODE_FILE:
      res = vf_files_unlink (fs, node.name);
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

static int
vf_rmdir (const char *path)
{
  VfFs *fs = get_fs ();
  VfNode node;
  int res = vf_tree_lookup (fs, path, &node);

  if (res < 0)
    return res;
  if (node.kind == VF_NODE_JOB)
    {
      g_autoptr (GError) error = NULL;
      if (!vf_jobs_forget (fs->jobs, node.name, &error))
        {
          vf_debug ("rmdir %s: %s", path, error->message);
          res = -vf_error_to_errno (error);
        }
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
  return -EACCES;
}

static int
vf_rename (const char *from, const char *to, unsigned int flags)
{
  VfFs *fs = get_fs ();
  const char *from_name = jobs_child (from);
  const char *to_name = jobs_child (to);
  VfNode node;
  int res;

  if (!from_name || !to_name)
    return -EACCES;
  res = vf_tree_lookup (fs, from, &node);
  if (res < 0)
    return res;
  if (strcmp (from_name, to_name) == 0)
    res = 0;
  else if (node.kind == VF_NODE_FILE)
    res = vf_files_rename (fs, from_name, to_name, flags);
  else if (node.kind == VF_NODE_JOB)
    res = vf_files_rename_job (fs, from_name, to_name, flags);
  else
    res = -EACCES;
  vf_node_clear (&node);
  return res;
}

static int
vf_poll (const char *path, struct fuse_file_info *fi, struct fuse_pollhandle *ph,
         unsigned *reventsp)
{
  VfFs *fs = get_fs ();
  VfHandle *h = get_handle (fi);

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
  int res = vf_files_statfs (get_fs (), st);

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
  .read = vf_read,
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
