/* tree.c: path -> node, node -> attributes and text.
 *
 * The tree is computed from the job table on every lookup: there is no
 * inode table of our own to keep in step.  A lookup takes one snapshot of
 * the job (a copy made under the table's lock) and everything about the
 * node comes from that snapshot, so a stat and the bytes it announces
 * agree.  Nothing here touches the network: names that file managers probe
 * (.hidden, .Trash-1000, autorun.inf, ...) answer ENOENT from memory.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "videofs.h"

static const char readme_text[]
    = "videofs: a video-generation API as files\n"
      "\n"
      "  jobs/NAME.txt    write a prompt here; it is sent when the file is closed.\n"
      "                   It may start with front matter:\n"
      "                     ---\n"
      "                     model: sora-2\n"
      "                     seconds: 8\n"
      "                     size: 1280x720\n"
      "                     ---\n"
      "                   Front matter may also name pictures (image: cat.png),\n"
      "                   a job to remix or extend, ...: see INPUTS in videofs(1).\n"
      "  jobs/NAME.json   or a whole request body, sent as is (plus defaults)\n"
      "  jobs/NAME/       the job: id, status, status.json, request.json, error,\n"
      "                   and once completed video.mp4, thumbnail.webp, spritesheet.jpg\n"
      "                   (Seedance: last_frame.png, with return_last_frame: true)\n"
      "  videos/ID/       every task of the account, where the API can list them\n"
      "  images/NAME.txt  a picture's prompt (model: gpt-image-1, doubao-seedream-*,\n"
      "                   gemini-*-image, dall-e-3; n: 3; size: 1024x1024; image: cat.png)\n"
      "  images/NAME/     its status, status.json, request.json, error, and once\n"
      "                   completed image.png (image-2.png, ... for n > 1)\n"
      "  status           one line per job, live\n"
      "  events           a log of state changes, one JSON object a line (tail -f)\n"
      "\n"
      "An empty prompt file is a draft: nothing is sent.  A submitted prompt file\n"
      "is read-only; a new take needs a new name.  close() returns the API's\n"
      "answer: EINVAL for a refused request, EAGAIN when rate-limited, EIO when\n"
      "the API could not be reached; jobs/NAME/error says why.\n"
      "\n"
      "  rm -r jobs/NAME      forget a job (and its cached video)\n"
      "  mv jobs/A jobs/B     rename a job\n"
      "\n"
      "See videofs(1).\n";

static const char *const entry_names[VF_N_ENTRIES] = {
  [VF_ENTRY_ID] = "id",
  [VF_ENTRY_STATUS] = "status",
  [VF_ENTRY_STATUS_JSON] = "status.json",
  [VF_ENTRY_REQUEST_JSON] = "request.json",
  [VF_ENTRY_ERROR] = "error",
  [VF_ENTRY_VIDEO] = "video.mp4",
  [VF_ENTRY_THUMBNAIL] = "thumbnail.webp",
  [VF_ENTRY_SPRITESHEET] = "spritesheet.jpg",
  [VF_ENTRY_LAST_FRAME] = "last_frame.png",
  [VF_ENTRY_REVISED_PROMPT] = "revised_prompt",
};

const char *
vf_entry_name (VfEntry entry)
{
  return entry_names[entry];
}

const char *
vf_node_entry_name (const VfNode *node)
{
  if (node->entry == VF_ENTRY_PICTURE)
    return node->info->pictures[node->picture].file;
  return entry_names[node->entry];
}

gboolean
vf_tree_is_picture (const VfNode *node)
{
  return node->kind == VF_NODE_ENTRY && node->entry == VF_ENTRY_PICTURE;
}

VfSpace *
vf_space_named (VfFs *fs, const char *dir)
{
  for (int i = 0; i < VF_N_SPACES; i++)
    if (fs->spaces[i].jobs && strcmp (dir, fs->spaces[i].dir) == 0)
      return &fs->spaces[i];
  return NULL;
}

const char *
vf_space_child (VfFs *fs, const char *path, VfSpace **space)
{
  const char *slash;
  g_autofree char *dir = NULL;

  *space = NULL;
  if (!path || *path != '/' || !(slash = strchr (path + 1, '/')))
    return NULL;
  dir = g_strndup (path + 1, slash - path - 1);
  *space = vf_space_named (fs, dir);
  path = slash + 1;
  if (!*space || *path == '\0' || strchr (path, '/'))
    {
      *space = NULL;
      return NULL;
    }
  return path;
}

void
vf_node_clear (VfNode *node)
{
  g_clear_pointer (&node->name, g_free);
  g_clear_pointer (&node->info, vf_job_info_free);
}

gboolean
vf_tree_is_content (const VfNode *node, VfVariant *variant)
{
  if (node->kind != VF_NODE_ENTRY || node->entry < VF_ENTRY_VIDEO
      || node->entry > VF_ENTRY_LAST_FRAME)
    return FALSE;
  if (variant)
    *variant = (VfVariant)(VF_VARIANT_VIDEO + (node->entry - VF_ENTRY_VIDEO));
  return TRUE;
}

/* Files whose bytes change while they exist: served with direct_io. */
gboolean
vf_tree_is_live (const VfNode *node)
{
  switch (node->kind)
    {
    case VF_NODE_STATUS:
    case VF_NODE_EVENTS:
      return TRUE;
    case VF_NODE_ENTRY:
      return node->entry == VF_ENTRY_STATUS || node->entry == VF_ENTRY_STATUS_JSON
             || node->entry == VF_ENTRY_ERROR;
    default:
      return FALSE;
    }
}

static gboolean
entry_present (const VfJobInfo *info, VfEntry entry, gboolean by_id)
{
  switch (entry)
    {
    case VF_ENTRY_ID:
      return info->id != NULL;
    case VF_ENTRY_STATUS:
      return TRUE;
    case VF_ENTRY_STATUS_JSON:
      return info->status_json != NULL;
    case VF_ENTRY_REQUEST_JSON:
      return !by_id && info->request_json != NULL;
    case VF_ENTRY_ERROR:
      return info->error != NULL;
    case VF_ENTRY_VIDEO:
    case VF_ENTRY_THUMBNAIL:
    case VF_ENTRY_SPRITESHEET:
    case VF_ENTRY_LAST_FRAME:
      return info->content_size[entry - VF_ENTRY_VIDEO] >= 0;
    case VF_ENTRY_REVISED_PROMPT:
      return info->revised_prompt != NULL;
    default:
      return FALSE;
    }
}

guint
vf_tree_entries (const VfJobInfo *info, gboolean by_id)
{
  guint mask = 0;

  for (VfEntry e = 0; e < VF_N_ENTRIES; e++)
    if (entry_present (info, e, by_id))
      mask |= 1u << e;
  return mask;
}

/* Names desktop tools look for in every directory; ids never look like
 * these, so videos/ answers them without asking the job table. */
static gboolean
is_probe (const char *name)
{
  return name[0] == '.' || g_ascii_strcasecmp (name, "autorun.inf") == 0
         || g_ascii_strcasecmp (name, "desktop.ini") == 0
         || g_ascii_strcasecmp (name, "thumbs.db") == 0
         || g_ascii_strcasecmp (name, "folder.jpg") == 0;
}

static VfJobInfo *
get_job (VfFs *fs, VfSpace *space, const char *name, gboolean by_id)
{
  if (by_id && is_probe (name))
    return NULL;
  /* the announcer's lookups (watch.c) ask nothing of the API */
  if (by_id)
    return vf_watch_is_own (fs) ? vf_jobs_peek_video (fs->jobs, name)
                                : vf_jobs_get_video (fs->jobs, name);
  /* Job names are prompt-file stems, which never start with a dot. */
  return name[0] == '.' ? NULL : vf_jobs_get (space->jobs, name);
}

int
vf_tree_lookup (VfFs *fs, const char *path, VfNode *node)
{
  g_auto (GStrv) parts = NULL;
  guint n;

  memset (node, 0, sizeof *node);
  while (*path == '/')
    path++;
  if (*path == '\0')
    {
      node->kind = VF_NODE_ROOT;
      return 0;
    }
  parts = g_strsplit (path, "/", 4);
  n = g_strv_length (parts);
  if (n > 3)
    return -ENOENT;

  if (n == 1)
    {
      if (strcmp (parts[0], "README.txt") == 0)
        node->kind = VF_NODE_README;
      else if (strcmp (parts[0], "status") == 0)
        node->kind = VF_NODE_STATUS;
      else if (strcmp (parts[0], "events") == 0)
        node->kind = VF_NODE_EVENTS;
      else if ((node->space = vf_space_named (fs, parts[0])))
        node->kind = VF_NODE_JOBS;
      else if (strcmp (parts[0], "videos") == 0)
        node->kind = VF_NODE_VIDEOS;
      else
        return -ENOENT;
      return 0;
    }

  gboolean by_id = FALSE;
  VfSpace *space = vf_space_named (fs, parts[0]);
  if (!space && strcmp (parts[0], "videos") == 0)
    by_id = TRUE;
  else if (!space)
    return -ENOENT;

  VfEntry entry = VF_N_ENTRIES;
  if (n == 3)
    {
      for (entry = 0; entry < VF_N_ENTRIES; entry++)
        if (strcmp (parts[2], entry_names[entry]) == 0)
          break;
      if (entry == VF_N_ENTRIES && space && space->kind == VF_SPACE_IMAGES)
        entry = VF_ENTRY_PICTURE;
      else if (entry == VF_N_ENTRIES)
        return -ENOENT;
      /* videos/ is refreshed while someone looks at it: reading the files
       * of one video counts (at most one list request per poll interval,
       * whatever the number of readers) */
      if (by_id && !is_probe (parts[1]) && !vf_watch_is_own (fs))
        g_ptr_array_unref (vf_jobs_video_ids (fs->jobs));
    }

  g_autoptr (VfJobInfo) info = get_job (fs, space, parts[1], by_id);
  node->space = space;
  if (n == 2)
    {
      if (info)
        {
          node->kind = by_id ? VF_NODE_VIDEO : VF_NODE_JOB;
          node->by_id = by_id;
          node->name = g_strdup (parts[1]);
          node->info = g_steal_pointer (&info);
          return 0;
        }
      if (by_id)
        return -ENOENT;
      struct stat st;
      int res = vf_files_stat (space, parts[1], &st);
      if (res < 0)
        return res;
      node->kind = VF_NODE_FILE;
      node->name = g_strdup (parts[1]);
      return 0;
    }

  if (!info)
    {
      struct stat st;
      /* jobs/FILE/x: say what is in the way */
      if (!by_id && vf_files_stat (space, parts[1], &st) == 0)
        return -ENOTDIR;
      return -ENOENT;
    }
  if (entry == VF_ENTRY_PICTURE)
    {
      gsize i;

      for (i = 0; i < info->n_pictures; i++)
        if (strcmp (info->pictures[i].file, parts[2]) == 0)
          break;
      if (i == info->n_pictures)
        return -ENOENT;
      node->picture = i;
    }
  else if (!entry_present (info, entry, by_id))
    return -ENOENT;
  node->kind = VF_NODE_ENTRY;
  node->entry = entry;
  node->by_id = by_id;
  node->name = g_strdup (parts[1]);
  node->info = g_steal_pointer (&info);
  return 0;
}

static GBytes *
text_line (const char *text)
{
  gsize len = strlen (text);
  if (len > 0 && text[len - 1] == '\n')
    return g_bytes_new (text, len);
  return g_bytes_new_take (g_strconcat (text, "\n", NULL), len + 1);
}

static gint64
created_us (const VfJobInfo *info)
{
  return info->created * G_USEC_PER_SEC;
}

GBytes *
vf_tree_text (VfFs *fs, const VfNode *node, gint64 *changed_us)
{
  gint64 dummy;
  const VfJobInfo *info = node->info;

  if (!changed_us)
    changed_us = &dummy;
  *changed_us = fs->mount_us;
  switch (node->kind)
    {
    case VF_NODE_README:
      return g_bytes_new_static (readme_text, sizeof readme_text - 1);
    case VF_NODE_STATUS:
      {
        GBytes *b = vf_jobs_status_table (fs->jobs, changed_us);
        if (*changed_us <= 0)
          *changed_us = fs->mount_us;
        return b;
      }
    case VF_NODE_ENTRY:
      break;
    default:
      g_return_val_if_reached (NULL);
    }

  *changed_us = info->changed_us > 0 ? info->changed_us : created_us (info);
  switch (node->entry)
    {
    case VF_ENTRY_ID:
      *changed_us = created_us (info);
      return text_line (info->id);
    case VF_ENTRY_STATUS:
      return text_line (info->status ? info->status : "unknown");
    case VF_ENTRY_STATUS_JSON:
      return text_line (info->status_json);
    case VF_ENTRY_REQUEST_JSON:
      *changed_us = created_us (info);
      return text_line (info->request_json);
    case VF_ENTRY_ERROR:
      return text_line (info->error);
    case VF_ENTRY_REVISED_PROMPT:
      *changed_us = info->changed_us;
      return text_line (info->revised_prompt);
    default:
      g_return_val_if_reached (NULL);
    }
}

gint64
vf_tree_changed_us (VfFs *fs, const VfNode *node)
{
  gint64 changed_us = -1;
  VfNode fresh;

  switch (node->kind)
    {
    case VF_NODE_STATUS:
      changed_us = vf_jobs_status_changed_us (fs->jobs);
      return changed_us > 0 ? changed_us : fs->mount_us;
    case VF_NODE_EVENTS:
      vf_jobs_events_size (fs->jobs, &changed_us);
      return changed_us > 0 ? changed_us : fs->mount_us;
    case VF_NODE_ENTRY:
      {
        g_autofree char *path
            = g_strdup_printf ("/%s/%s/%s", node->by_id ? "videos" : node->space->dir, node->name,
                               vf_node_entry_name (node));
        if (vf_tree_lookup (fs, path, &fresh) < 0)
          return -1; /* gone: a change too */
        if (!vf_tree_is_content (&fresh, NULL) && !vf_tree_is_picture (&fresh))
          {
            g_autoptr (GBytes) b G_GNUC_UNUSED = vf_tree_text (fs, &fresh, &changed_us);
          }
        vf_node_clear (&fresh);
        return changed_us;
      }
    default:
      return fs->mount_us;
    }
}

static void
set_time (struct stat *st, gint64 us)
{
  st->st_mtim.tv_sec = us / G_USEC_PER_SEC;
  st->st_mtim.tv_nsec = (us % G_USEC_PER_SEC) * 1000;
  st->st_ctim = st->st_mtim;
  st->st_atim = st->st_mtim;
}

static void
fill_dir (VfFs *fs, struct stat *st, mode_t mode, gint64 us)
{
  st->st_mode = S_IFDIR | mode;
  st->st_nlink = 2;
  set_time (st, us);
}

static void
fill_file (VfFs *fs, struct stat *st, gint64 size, gint64 us)
{
  st->st_mode = S_IFREG | 0444;
  st->st_nlink = 1;
  st->st_size = size;
  st->st_blocks = (size + 511) / 512;
  set_time (st, us);
}

int
vf_tree_stat (VfFs *fs, const VfNode *node, struct stat *st)
{
  memset (st, 0, sizeof *st);
  st->st_uid = fs->uid;
  st->st_gid = fs->gid;
  st->st_blksize = 4096;

  switch (node->kind)
    {
    case VF_NODE_ROOT:
    case VF_NODE_JOBS:
      fill_dir (fs, st, 0755, fs->mount_us);
      return 0;
    case VF_NODE_VIDEOS:
      fill_dir (fs, st, 0555, fs->mount_us);
      return 0;
    case VF_NODE_JOB:
      /* writable: its entries can be removed (see ops.c) */
      fill_dir (fs, st, 0755, created_us (node->info));
      return 0;
    case VF_NODE_VIDEO:
      fill_dir (fs, st, 0555, created_us (node->info));
      return 0;
    case VF_NODE_EVENTS:
      {
        /* the log's size, without a copy of it */
        gint64 changed_us;
        guint64 size = vf_jobs_events_size (fs->jobs, &changed_us);
        fill_file (fs, st, size, changed_us > 0 ? changed_us : fs->mount_us);
        return 0;
      }
    case VF_NODE_FILE:
      {
        int res = vf_files_stat (node->space, node->name, st);
        st->st_uid = fs->uid;
        st->st_gid = fs->gid;
        return res;
      }
    default:
      break;
    }

  VfVariant variant;
  if (vf_tree_is_picture (node))
    {
      fill_file (fs, st, node->info->pictures[node->picture].size, node->info->changed_us);
      st->st_blksize = 1 << 20;
      return 0;
    }
  if (vf_tree_is_content (node, &variant))
    {
      gint64 us = node->info->changed_us > 0 ? node->info->changed_us : created_us (node->info);
      fill_file (fs, st, node->info->content_size[variant], us);
      st->st_blksize = 1 << 20;
      return 0;
    }

  gint64 changed_us;
  g_autoptr (GBytes) text = vf_tree_text (fs, node, &changed_us);
  fill_file (fs, st, text ? g_bytes_get_size (text) : 0, changed_us);
  return 0;
}

static void
add (GArray *list, const char *name, mode_t type, gint64 created_us, VfSpace *file)
{
  VfDirEntry e = { g_strdup (name), type, created_us, file };

  g_array_append_val (list, e);
}

static void
dir_entry_clear (gpointer data)
{
  g_free (((VfDirEntry *)data)->name);
}

GArray *
vf_tree_list (VfFs *fs, const VfNode *node, int *res)
{
  g_autoptr (GArray) list = g_array_new (FALSE, FALSE, sizeof (VfDirEntry));

  g_array_set_clear_func (list, dir_entry_clear);
  *res = 0;
  add (list, ".", S_IFDIR, -1, NULL);
  add (list, "..", S_IFDIR, -1, NULL);
  switch (node->kind)
    {
    case VF_NODE_ROOT:
      add (list, "README.txt", S_IFREG, -1, NULL);
      add (list, "status", S_IFREG, -1, NULL);
      add (list, "events", S_IFREG, -1, NULL);
      add (list, "jobs", S_IFDIR, -1, NULL);
      add (list, "videos", S_IFDIR, -1, NULL);
      add (list, "images", S_IFDIR, -1, NULL);
      break;
    case VF_NODE_JOBS:
      {
        g_autoptr (GArray) jobs = vf_jobs_entries (node->space->jobs);
        g_autoptr (GHashTable) skip = g_hash_table_new (g_str_hash, g_str_equal);
        for (guint i = 0; i < jobs->len; i++)
          {
            const VfJobEntry *e = &g_array_index (jobs, VfJobEntry, i);
            add (list, e->name, S_IFDIR, e->created * G_USEC_PER_SEC, NULL);
            g_hash_table_add (skip, e->name);
          }
        *res = vf_files_list (node->space, skip, list);
        if (*res < 0)
          return NULL;
        break;
      }
    case VF_NODE_VIDEOS:
      {
        g_autoptr (GPtrArray) ids = vf_jobs_video_ids (fs->jobs);
        for (guint i = 0; i < ids->len; i++)
          add (list, g_ptr_array_index (ids, i), S_IFDIR, -1, NULL);
        break;
      }
    case VF_NODE_JOB:
    case VF_NODE_VIDEO:
      for (VfEntry e = 0; e < VF_N_ENTRIES; e++)
        if (entry_present (node->info, e, node->by_id))
          add (list, entry_names[e], S_IFREG, -1, NULL);
      for (gsize i = 0; i < node->info->n_pictures; i++)
        add (list, node->info->pictures[i].file, S_IFREG, -1, NULL);
      break;
    default:
      *res = -ENOTDIR;
      return NULL;
    }
  return g_steal_pointer (&list);
}

int
vf_tree_fill (VfFs *fs, GArray *list, off_t offset, gboolean plus, void *buf,
              fuse_fill_dir_t filler)
{
  for (guint i = offset; i < list->len; i++)
    {
      const VfDirEntry *e = &g_array_index (list, VfDirEntry, i);
      struct stat st = { .st_mode = e->type };
      enum fuse_fill_dir_flags flags = 0;

      /* The attributes of jobs/'s entries go with the names when the kernel
       * asks for them: `ls -l` of thousands of jobs costs no request per
       * entry.  The other directories are small. */
      if (plus && e->created_us >= 0)
        {
          st.st_uid = fs->uid;
          st.st_gid = fs->gid;
          st.st_blksize = 4096;
          fill_dir (fs, &st, 0755, e->created_us);
          flags = FUSE_FILL_DIR_PLUS;
        }
      else if (plus && e->file && vf_files_stat (e->file, e->name, &st) == 0)
        {
          st.st_uid = fs->uid;
          st.st_gid = fs->gid;
          flags = FUSE_FILL_DIR_PLUS;
        }
      if (filler (buf, e->name, &st, i + 1, flags))
        break;
    }
  return 0;
}
