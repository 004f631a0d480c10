/* handle.c: open files and directories (VfHandle).
 *
 * A handle owns its node, its text snapshot and its descriptors.  Every
 * handle is also in fs->handles, so that those the kernel never released
 * (a lazy unmount, a reader gone while its read waited) are released after
 * the loop, while the job table is still open to take a last submission.
 * A handle of `events` is one of the log's readers (vf_jobs_events_open)
 * from its making to its freeing: while any is open the log's visible
 * origin stays put.
 */
#include <string.h>
#include <unistd.h>

#include "videofs.h"

void
vf_handles_init (VfFs *fs)
{
  g_mutex_init (&fs->handles_lock);
  fs->handles = g_hash_table_new (NULL, NULL);
}

VfHandle *
vf_handle_new (VfFs *fs, VfNode *node)
{
  VfHandle *h = g_new0 (VfHandle, 1);

  h->node = *node;
  h->content_fd = -1;
  memset (node, 0, sizeof *node);
  if (h->node.kind == VF_NODE_EVENTS)
    vf_jobs_events_open (fs->jobs);
  g_mutex_init (&h->lock);
  g_mutex_lock (&fs->handles_lock);
  g_hash_table_add (fs->handles, h);
  g_mutex_unlock (&fs->handles_lock);
  return h;
}

void
vf_handle_free (VfFs *fs, VfHandle *h)
{
  g_mutex_lock (&fs->handles_lock);
  g_hash_table_remove (fs->handles, h);
  g_mutex_unlock (&fs->handles_lock);
  if (h->node.kind == VF_NODE_EVENTS)
    vf_jobs_events_close (fs->jobs);
  vf_node_clear (&h->node);
  if (h->content_fd >= 0)
    close (h->content_fd);
  g_free (h->path);
  g_clear_pointer (&h->listing, g_array_unref);
  g_clear_pointer (&h->snapshot, g_bytes_unref);
  g_mutex_clear (&h->lock);
  g_free (h);
}

void
vf_handle_release (VfFs *fs, VfHandle *h)
{
  vf_notify_forget (fs, h);
  if (h->file)
    vf_files_release (h->node.space, h->file);
  vf_handle_free (fs, h);
}

void
vf_handles_release (VfFs *fs)
{
  for (;;)
    {
      GHashTableIter iter;
      gpointer key;
      VfHandle *h = NULL;

      g_mutex_lock (&fs->handles_lock);
      g_hash_table_iter_init (&iter, fs->handles);
      if (g_hash_table_iter_next (&iter, &key, NULL))
        h = key;
      g_mutex_unlock (&fs->handles_lock);
      if (!h)
        break;
      vf_handle_release (fs, h);
    }
}

void
vf_handles_clear (VfFs *fs)
{
  g_clear_pointer (&fs->handles, g_hash_table_unref);
  g_mutex_clear (&fs->handles_lock);
}
