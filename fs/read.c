/* read.c: the one read operation, read_buf, for every kind of file.
 *
 * libfuse's high-level API calls .read_buf when a file system has one and
 * never .read (fuse_fs_read_buf and fuse_fs_read in lib/fuse.c), so there
 * is no .read.  Video bytes go out from the cache's file, spliced: from
 * the handle's own descriptor once the file is whole, else from one the
 * job table hands out for the bytes present.  Prompt files and text
 * (status, events, ...) are copied into a buffer of ours.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vf-error.h"
#include "videofs.h"

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
  g_autofree char *path = g_strdup_printf ("/%s/%s/%s", old->by_id ? "videos" : old->space->dir,
                                           old->name, vf_node_entry_name (old));
  return vf_tree_lookup (fs, path, node);
}

/* The events log, as its readers see it (from the visible origin their
 * opens hold, see vf-jobs.h), only grows: a read gets the bytes it asks
 * for, as they are now, and copies no more of the log. */
static int
read_events (VfFs *fs, VfHandle *h, char *buf, size_t size, off_t offset)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&h->lock);
  g_autoptr (GBytes) piece = NULL;
  gint64 changed_us;
  gsize len;
  const char *data;

  piece = vf_jobs_events_read (fs->jobs, offset, size, NULL, &changed_us);
  data = g_bytes_get_data (piece, &len);
  if (len > 0)
    memcpy (buf, data, len);
  h->seen_us = changed_us;
  return (int)len;
}

/* Takes h->lock, then the job table's locks (through tree.c). */
static int
read_text (VfFs *fs, VfHandle *h, char *buf, size_t size, off_t offset)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&h->lock);

  if (!h->snapshot || offset == 0)
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

/* Content bytes, left in a descriptor of their own, *fd_out; waits for
 * bytes not yet fetched until they come or the request is interrupted. */
static int
read_content (VfFs *fs, VfHandle *h, int *fd_out, size_t size, off_t offset)
{
  g_autoptr (GError) error = NULL;
  VfVariant variant;
  GCancellable *cancellable;
  gssize n;

  vf_tree_is_content (&h->node, &variant);
  cancellable = vf_interrupt_begin ();
  /* by id: a handle keeps reading across mv jobs/A jobs/B */
  n = vf_jobs_read_fd (fs->jobs, h->node.info->id, TRUE, variant, size, offset, fd_out, cancellable,
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

static void
close_spliced (gpointer data)
{
  close (GPOINTER_TO_INT (data) - 1);
}

/* The descriptor (plus one) that this thread's last reply was spliced
 * from: libfuse sends the reply before the thread takes the next request,
 * so it is closed then, or when the thread ends. */
static GPrivate spliced_fd = G_PRIVATE_INIT (close_spliced);

static void
set_fd (struct fuse_bufvec *bv, int fd, off_t offset)
{
  bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
  bv->buf[0].fd = fd;
  bv->buf[0].pos = offset;
}

int
vf_read_buf (const char *path, struct fuse_bufvec **bufp, size_t size, off_t offset,
             struct fuse_file_info *fi)
{
  VfFs *fs = vf_fs_get ();
  VfHandle *h = vf_handle_of (fi);
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
      set_fd (bv, h->content_fd, offset);
      *bufp = bv;
      return 0;
    }
  if (!h->file && vf_tree_is_content (&h->node, NULL))
    {
      int fd = -1;

      res = read_content (fs, h, &fd, size, offset);
      if (res < 0)
        {
          free (bv);
          return res;
        }
      bv->buf[0].size = (size_t)res;
      if (res > 0)
        {
          g_private_set (&spliced_fd, GINT_TO_POINTER (fd + 1));
          set_fd (bv, fd, offset);
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
  if (h->file)
    res = vf_files_read (h->file, mem, size, offset);
  else
    res = h->node.kind == VF_NODE_EVENTS ? read_events (fs, h, mem, size, offset)
                                         : read_text (fs, h, mem, size, offset);
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
