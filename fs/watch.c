/* watch.c: inotify events for what the API changed.
 *
 * The kernel makes inotify events only for operations that pass through
 * it, and sends a FUSE mount none for what its daemon changes (entry and
 * inode invalidations make no events).  So the mount acts on its own files
 * the way a local program would, and the kernel reports that: a `truncate`
 * of `jobs/NAME/status` to its own size is IN_MODIFY, an `mknod` of
 * `jobs/NAME/video.mp4` IN_CREATE, a `mkdir` of `jobs/NAME` IN_CREATE
 * with IN_ISDIR, an `rmdir` of `videos/ID` IN_DELETE.
 *
 * One thread, the announcer, decides what to announce, and a child process
 * of the daemon makes the calls (announcer.c says why a process).  The
 * thread holds no lock while the child is inside a call on the mount, so
 * the handlers that answer it never wait for anything it holds.  The
 * child's requests are told apart by the caller's id, which FUSE passes
 * with each request; ops.c asks vf_watch_own() what to answer them: for an mknod the
 * lookup before it says ENOENT and the mknod itself succeeds without
 * changing anything, so the kernel makes the entry (with the real
 * attributes, from the getattr that follows) and reports it.  Nothing is
 * stored and no API request is made: the announcer's lookups use the job
 * table's quiet accessors (see tree.c).
 *
 * What to announce comes from comparing the job table with what the
 * announcer last saw (`known`), for the jobs the table said changed.
 * Changes made through the kernel (rmdir, mv of a job directory) already
 * made their events: ops.c brackets them with vf_watch_local_begin/end,
 * and what they changed is taken as seen.  Events are coalesced: a job or a
 * root file is announced at most once per poll interval, the first change
 * after a quiet spell after SETTLE_US.
 *
 * The child acts on paths under the mount point, checked before each call
 * to still be this mount (never the directory under it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "videofs.h"

#define SETTLE_US (20 * 1000)
#define BURST_US (10 * 1000)

typedef enum
{
  OWN_NONE,
  OWN_CREATE, /* mknod or mkdir `path`: hidden until the create arrives */
  OWN_REMOVE, /* unlink or rmdir `path`: shown as `st` until then */
  OWN_TOUCH,  /* truncate or utimens */
} OwnKind;

/* What the announcer last saw of a job, or of a videos/ entry. */
typedef struct
{
  guint entries;  /* bit per VfEntry present */
  guint texts[3]; /* hashes of status, status.json, error */
  gsize pictures; /* how many of its pictures (images/) were there */
  gint64 last_us; /* monotonic time of its last announcement */
} Seen;

/* A root file or videos/: changed since `since` (or 0), announced at `last`. */
typedef struct
{
  gint64 since;
  gint64 last;
} Slot;

static void
slot_mark (Slot *slot, gint64 now)
{
  if (!slot->since)
    slot->since = now;
}

struct vf_watch
{
  VfFs *fs;
  char *mountpoint;
  gint64 interval_us;
  GThread *thread;

  /* guards everything below; a leaf: nothing is taken under it, and it is
   * never held across a call into the job table or a system call */
  GMutex lock;
  GCond cond;
  gboolean stopping;
  /* jobs are keyed by their directory's path, "jobs/NAME" or "images/NAME" */
  GHashTable *dirty;              /* key -> gint64 monotonic time of the first change */
  GHashTable *local;              /* key -> count of local operations under way */
  GHashTable *known;              /* key -> Seen */
  GHashTable *videos;             /* id -> NULL: the videos/ entries last seen */
  Slot root, events, videos_slot; /* the root status, events, videos/ */
  gint64 status_changed_us;       /* root status, last seen */
  guint gen;                      /* counts vf_watch_changed() calls */

  /* the request in flight */
  OwnKind own;
  char *own_path;
  gboolean own_shown;
  mode_t own_mode;

  /* the announcer's child (announcer.c): only the announcer thread uses
   * the socket */
  pid_t child;
  int child_fd;
};

static guint
text_hash (const char *text)
{
  return text ? g_str_hash (text) : 0;
}

static void
seen_set (Seen *seen, const VfJobInfo *info, gboolean by_id)
{
  seen->entries = vf_tree_entries (info, by_id);
  seen->texts[0] = text_hash (info->status);
  seen->texts[1] = text_hash (info->status_json);
  seen->texts[2] = text_hash (info->error);
  seen->pictures = info->n_pictures;
}

static char *
key_of (const VfSpace *space, const char *name)
{
  return g_strconcat (space->dir, "/", name, NULL);
}

/* The job a key names, as it is now, or NULL. */
static VfJobInfo *
info_of (VfFs *fs, const char *key)
{
  g_autofree char *path = g_strconcat ("/", key, NULL);
  VfSpace *space;
  const char *name = vf_space_child (fs, path, &space);

  return name ? vf_jobs_get (space->jobs, name) : NULL;
}

/* ----- the handlers' side ----- */

gboolean
vf_watch_own (VfFs *fs, VfWatchOp op, const char *path, struct stat *st, int *res)
{
  VfWatch *w = fs->watch;
  gboolean own = FALSE;

  if (!vf_watch_is_own (fs))
    return FALSE;
  g_mutex_lock (&w->lock);
  if (w->own == OWN_TOUCH && op == VF_WATCH_TOUCH)
    own = TRUE, *res = 0;
  else if (w->own_path && path && strcmp (path, w->own_path) == 0)
    switch (op)
      {
      case VF_WATCH_GETATTR:
        if (w->own == OWN_CREATE && !w->own_shown)
          own = TRUE, *res = -ENOENT;
        else if (w->own == OWN_REMOVE)
          {
            memset (st, 0, sizeof *st);
            st->st_mode = w->own_mode;
            st->st_nlink = S_ISDIR (w->own_mode) ? 2 : 1;
            st->st_uid = fs->uid;
            st->st_gid = fs->gid;
            own = TRUE, *res = 0;
          }
        break;
      case VF_WATCH_CREATE:
        if (w->own == OWN_CREATE)
          {
            w->own_shown = TRUE;
            own = TRUE, *res = 0;
          }
        break;
      case VF_WATCH_REMOVE:
        if (w->own == OWN_REMOVE)
          own = TRUE, *res = 0;
        break;
      default:
        break;
      }
  g_mutex_unlock (&w->lock);
  return own;
}

void
vf_watch_changed (VfFs *fs, const VfSpace *space, const char *name, guint what)
{
  VfWatch *w = fs->watch;
  gint64 now = g_get_monotonic_time ();
  g_autofree char *key = name ? key_of (space, name) : NULL;

  if (!w || (!name && space->kind != VF_SPACE_JOBS))
    return;
  g_mutex_lock (&w->lock);
  if (name)
    {
      if (!g_hash_table_contains (w->dirty, key))
        g_hash_table_insert (w->dirty, g_strdup (key), (gpointer)(intptr_t)now);
      if (space->kind == VF_SPACE_JOBS)
        {
          slot_mark (&w->root, now);
          slot_mark (&w->videos_slot, now); /* a job with a new id is a new videos/ entry */
        }
    }
  else
    {
      if (what & VF_CHANGE_EVENTS)
        slot_mark (&w->events, now);
      if (what & (VF_CHANGE_JOBS | VF_CHANGE_STATUS))
        {
          slot_mark (&w->videos_slot, now);
          slot_mark (&w->root, now);
        }
    }
  w->gen++;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

void
vf_watch_local_begin (VfFs *fs, const VfSpace *space, const char *name)
{
  VfWatch *w = fs->watch;
  g_autofree char *key = key_of (space, name);

  if (!w)
    return;
  g_mutex_lock (&w->lock);
  g_hash_table_insert (
      w->local, g_strdup (key),
      GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (w->local, key)) + 1));
  g_mutex_unlock (&w->lock);
}

void
vf_watch_local_end (VfFs *fs, const VfSpace *space, const char *name)
{
  VfWatch *w = fs->watch;
  g_autoptr (VfJobInfo) info = NULL;
  g_autofree char *key = key_of (space, name);
  guint count;

  if (!w)
    return;
  info = vf_jobs_get (space->jobs, name);
  g_mutex_lock (&w->lock);
  count = GPOINTER_TO_UINT (g_hash_table_lookup (w->local, key));
  if (count > 1)
    g_hash_table_insert (w->local, g_strdup (key), GUINT_TO_POINTER (count - 1));
  else
    g_hash_table_remove (w->local, key);
  if (info)
    {
      Seen *seen = g_hash_table_lookup (w->known, key);
      if (!seen)
        {
          seen = g_new0 (Seen, 1);
          g_hash_table_insert (w->known, g_strdup (key), seen);
        }
      seen_set (seen, info, FALSE);
    }
  else
    g_hash_table_remove (w->known, key);
  g_hash_table_remove (w->dirty, key);
  g_mutex_unlock (&w->lock);
}

/* ----- the announcer ----- */

/* One call on the mount by the announcer's child, with `rel` marked as
 * ours meanwhile. */
static void
own_call (VfWatch *w, OwnKind kind, const char *rel, mode_t mode)
{
  static const VfAnnounce announce_of[] = {
    [OWN_CREATE] = VF_ANNOUNCE_CREATE,
    [OWN_REMOVE] = VF_ANNOUNCE_REMOVE,
    [OWN_TOUCH] = VF_ANNOUNCE_TOUCH,
  };
  g_autofree char *abs = g_build_filename (w->mountpoint, rel, NULL);
  int r;

  if (w->child_fd < 0)
    return;
  g_mutex_lock (&w->lock);
  w->own = kind;
  w->own_path = g_strconcat ("/", rel, NULL);
  w->own_shown = FALSE;
  w->own_mode = mode;
  g_mutex_unlock (&w->lock);

  r = vf_announcer_call (w->child_fd, announce_of[kind], mode, abs);
  if (r < 0)
    {
      g_message ("the inotify announcer is gone: no more events for what the API changes");
      close (w->child_fd);
      w->child_fd = -1;
    }
  else if (r > 0)
    vf_debug ("watch: %s: %s", rel, g_strerror (r));

  g_mutex_lock (&w->lock);
  w->own = OWN_NONE;
  g_clear_pointer (&w->own_path, g_free);
  g_mutex_unlock (&w->lock);
}

typedef struct
{
  OwnKind kind;
  char *rel;
  mode_t mode;
} Action;

static void
action_clear (gpointer data)
{
  g_free (((Action *)data)->rel);
}

static void add_action (GArray *actions, OwnKind kind, mode_t mode, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static void
add_action (GArray *actions, OwnKind kind, mode_t mode, const char *format, ...)
{
  Action a = { .kind = kind, .mode = mode };
  va_list ap;

  va_start (ap, format);
  a.rel = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_array_append_val (actions, a);
}

static const VfEntry text_entries[3] = { VF_ENTRY_STATUS, VF_ENTRY_STATUS_JSON, VF_ENTRY_ERROR };

/* What changed in job `name` ("jobs/NAME") since it was last seen; under
 * w->lock. */
static void
diff_job (VfWatch *w, const char *name, const VfJobInfo *info, GArray *actions, gint64 now)
{
  Seen *seen = g_hash_table_lookup (w->known, name);
  Seen fresh = { 0 };

  if (!info)
    {
      if (seen)
        {
          add_action (actions, OWN_REMOVE, S_IFDIR | 0755, "%s", name);
          g_hash_table_remove (w->known, name);
        }
      return;
    }
  seen_set (&fresh, info, FALSE);
  fresh.last_us = now;
  if (!seen)
    {
      add_action (actions, OWN_CREATE, S_IFDIR | 0755, "%s", name);
      g_hash_table_insert (w->known, g_strdup (name), g_memdup2 (&fresh, sizeof fresh));
      return;
    }
  for (VfEntry e = 0; e < VF_N_ENTRIES; e++)
    {
      guint bit = 1u << e;
      if ((fresh.entries & bit) && !(seen->entries & bit))
        add_action (actions, OWN_CREATE, S_IFREG | 0444, "%s/%s", name, vf_entry_name (e));
      else if (!(fresh.entries & bit) && (seen->entries & bit))
        add_action (actions, OWN_REMOVE, S_IFREG | 0444, "%s/%s", name, vf_entry_name (e));
    }
  for (gsize i = seen->pictures; i < info->n_pictures; i++)
    add_action (actions, OWN_CREATE, S_IFREG | 0444, "%s/%s", name, info->pictures[i].file);
  for (guint i = 0; i < G_N_ELEMENTS (text_entries); i++)
    {
      guint bit = 1u << text_entries[i];
      if ((fresh.entries & bit) && (seen->entries & bit) && fresh.texts[i] != seen->texts[i])
        add_action (actions, OWN_TOUCH, 0, "%s/%s", name, vf_entry_name (text_entries[i]));
    }
  *seen = fresh;
}

/* The videos/ entries that came and went; ids known now, under w->lock. */
static void
diff_videos (VfWatch *w, GPtrArray *ids, GArray *actions)
{
  g_autoptr (GHashTable) now = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer key;

  for (guint i = 0; i < ids->len; i++)
    {
      const char *id = g_ptr_array_index (ids, i);
      g_hash_table_add (now, g_strdup (id));
      if (!g_hash_table_contains (w->videos, id))
        add_action (actions, OWN_CREATE, S_IFDIR | 0555, "videos/%s", id);
    }
  g_hash_table_iter_init (&iter, w->videos);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (now, key))
      add_action (actions, OWN_REMOVE, S_IFDIR | 0555, "videos/%s", (const char *)key);
  g_hash_table_unref (w->videos);
  w->videos = g_steal_pointer (&now);
}

static gint64
due_of (VfWatch *w, gint64 since, gint64 last)
{
  return MAX (since + SETTLE_US, last + w->interval_us);
}

/* Whether the slot is due now (and takes it); under w->lock. */
static gboolean
slot_due (VfWatch *w, Slot *slot, gint64 now, gint64 *next)
{
  gint64 due;

  if (!slot->since)
    return FALSE;
  due = due_of (w, slot->since, slot->last);
  if (due > now)
    {
      *next = MIN (*next, due);
      return FALSE;
    }
  slot->since = 0;
  slot->last = now;
  return TRUE;
}

/* Takes out of `dirty` what is due now; under w->lock.  *next gets the
 * time of the next thing due later. */
static GPtrArray *
take_due (VfWatch *w, gint64 now, gint64 *next)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, w->dirty);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Seen *seen = g_hash_table_lookup (w->known, key);
      gint64 due = due_of (w, (gint64)(intptr_t)value, seen ? seen->last_us : G_MININT64 / 2);

      if (g_hash_table_contains (w->local, key))
        continue;
      if (due > now)
        {
          *next = MIN (*next, due);
          continue;
        }
      g_ptr_array_add (names, g_strdup (key));
      g_hash_table_iter_remove (&iter);
    }
  return names;
}

/* While a call of ours is on the mount, an unmount without -z fails with
 * EBUSY; so in a burst the announcer rests three times as long as it
 * worked, which keeps the mount free at least three quarters of the time. */
static void
run_actions (VfWatch *w, GArray *actions)
{
  gint64 busy_since = g_get_monotonic_time ();

  for (guint i = 0; i < actions->len; i++)
    {
      Action *a = &g_array_index (actions, Action, i);
      gint64 now;

      own_call (w, a->kind, a->rel, a->mode);
      now = g_get_monotonic_time ();
      if (now - busy_since >= BURST_US && i + 1 < actions->len)
        {
          gint64 until = now + 3 * (now - busy_since);

          g_mutex_lock (&w->lock);
          while (!w->stopping && g_cond_wait_until (&w->cond, &w->lock, until))
            ;
          if (w->stopping)
            {
              g_mutex_unlock (&w->lock);
              return;
            }
          g_mutex_unlock (&w->lock);
          busy_since = g_get_monotonic_time ();
        }
    }
}

static void
announce (VfWatch *w, gint64 now, gint64 *next)
{
  VfFs *fs = w->fs;
  g_autoptr (GArray) actions = g_array_new (FALSE, FALSE, sizeof (Action));
  g_autoptr (GPtrArray) names = NULL;
  g_autoptr (GPtrArray) infos = g_ptr_array_new_with_free_func ((GDestroyNotify)vf_job_info_free);
  g_autoptr (GPtrArray) ids = NULL;
  gboolean videos = FALSE, root = FALSE, events = FALSE;
  gint64 status_us = 0;

  g_array_set_clear_func (actions, action_clear);
  g_mutex_lock (&w->lock);
  names = take_due (w, now, next);
  videos = slot_due (w, &w->videos_slot, now, next);
  root = slot_due (w, &w->root, now, next);
  events = slot_due (w, &w->events, now, next);
  g_mutex_unlock (&w->lock);

  /* snapshots first, with no lock of ours held */
  for (guint i = 0; i < names->len; i++)
    g_ptr_array_add (infos, info_of (fs, g_ptr_array_index (names, i)));
  if (videos)
    ids = vf_jobs_video_ids_known (fs->jobs);
  if (root)
    status_us = vf_jobs_status_changed_us (fs->jobs);

  g_mutex_lock (&w->lock);
  for (guint i = 0; i < names->len; i++)
    diff_job (w, g_ptr_array_index (names, i), g_ptr_array_index (infos, i), actions, now);
  if (ids)
    diff_videos (w, ids, actions);
  if (root && status_us != w->status_changed_us)
    {
      w->status_changed_us = status_us;
      add_action (actions, OWN_TOUCH, 0, "status");
    }
  if (events)
    add_action (actions, OWN_TOUCH, 0, "events");
  g_mutex_unlock (&w->lock);

  run_actions (w, actions);
}

static gpointer
watch_main (gpointer data)
{
  VfWatch *w = data;

  g_mutex_lock (&w->lock);
  g_cond_broadcast (&w->cond);
  while (!w->stopping)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 next = G_MAXINT64;
      guint gen = w->gen;

      g_mutex_unlock (&w->lock);
      announce (w, now, &next);
      g_mutex_lock (&w->lock);
      if (w->stopping)
        break;
      if (w->gen != gen)
        continue; /* changes came while we were announcing: see when they are due */
      if (g_hash_table_size (w->local) > 0)
        next = MIN (next, now + SETTLE_US); /* the names a local operation holds back */
      g_cond_wait_until (&w->cond, &w->lock, next == G_MAXINT64 ? now + G_TIME_SPAN_HOUR : next);
    }
  g_mutex_unlock (&w->lock);
  return NULL;
}

void
vf_watch_start (VfFs *fs, const char *mountpoint, double poll_s)
{
  VfWatch *w = g_new0 (VfWatch, 1);
  g_autoptr (GPtrArray) ids = vf_jobs_video_ids_known (fs->jobs);

  w->fs = fs;
  w->mountpoint = g_strdup (mountpoint);
  w->interval_us = (gint64)(poll_s * G_USEC_PER_SEC);
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  w->dirty = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  w->local = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  w->known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  w->videos = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  /* what is there at the start needs no event: nobody could watch it yet */
  for (int s = 0; s < VF_N_SPACES; s++)
    {
      const VfSpace *space = &fs->spaces[s];
      g_autoptr (GPtrArray) names = space->jobs ? vf_jobs_names (space->jobs) : NULL;

      for (guint i = 0; names && i < names->len; i++)
        {
          const char *name = g_ptr_array_index (names, i);
          g_autoptr (VfJobInfo) info = vf_jobs_get (space->jobs, name);
          if (info)
            {
              Seen *seen = g_new0 (Seen, 1);
              seen_set (seen, info, FALSE);
              seen->last_us = G_MININT64 / 2;
              g_hash_table_insert (w->known, key_of (space, name), seen);
            }
        }
    }
  for (guint i = 0; i < ids->len; i++)
    g_hash_table_add (w->videos, g_strdup (g_ptr_array_index (ids, i)));
  w->status_changed_us = vf_jobs_status_changed_us (fs->jobs);
  w->root.last = w->events.last = w->videos_slot.last = G_MININT64 / 2;

  w->child = vf_announcer_spawn (mountpoint, &w->child_fd);
  if (w->child < 0)
    {
      g_message ("cannot start the inotify announcer: %s", g_strerror (errno));
      w->child_fd = -1;
    }
  else
    fs->watch_tid = w->child;
  fs->watch = w;
  w->thread = g_thread_new ("watch", watch_main, w);
}

void
vf_watch_stop (VfFs *fs)
{
  VfWatch *w = fs->watch;

  if (!w)
    return;
  g_mutex_lock (&w->lock);
  w->stopping = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

void
vf_watch_free (VfFs *fs)
{
  VfWatch *w = fs->watch;

  if (!w)
    return;
  vf_watch_stop (fs);
  g_thread_join (w->thread);
  if (w->child > 0)
    vf_announcer_end (w->child, w->child_fd);
  fs->watch = NULL;
  fs->watch_tid = 0;
  g_hash_table_unref (w->dirty);
  g_hash_table_unref (w->local);
  g_hash_table_unref (w->known);
  g_hash_table_unref (w->videos);
  g_free (w->own_path);
  g_free (w->mountpoint);
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
  g_free (w);
}
