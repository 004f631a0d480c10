/* videofs.h: what the files of the FUSE driver share.
 *
 * main.c starts the mount and takes it down; options.c reads the command
 * line, the config file and the token; log.c decides where messages go;
 * tree.c turns a path into a node and a node into attributes and text;
 * files.c keeps the prompt and scratch files of jobs/ in STATE_DIR/files/;
 * handle.c keeps open handles; read.c serves every read; ops.c is the
 * operations table; notify.c wakes poll() waiters and turns FUSE
 * interrupts into cancelled reads.  Of lib/ we use only the vf-*.h headers.
 *
 * Every callback returns 0 or -errno.
 *
 * Ownership: a VfNode owns its name and its job snapshot (VfJobInfo, a copy
 * taken from the job table); a VfHandle owns its node, its text snapshot,
 * its descriptors and its VfFileHandle; fs->handles and fs->polled only
 * point to handles.  Strings passed to a vf_* function are borrowed.
 *
 * Locks, each held only for a few instructions except where said, taken
 * in this order and never the other way:
 *   VfHandle.lock  -> the job table's locks (a text read looks the job up)
 *   files_lock     -> the job table's locks (is a prompt submitted?)
 *   intr_lock      -> the cache's lock (a cancelled read wakes the cache's
 *                     waiters; notify.c)
 * handles_lock, poll_lock and the announcer's lock (watch.c) are leaves:
 * nothing is taken under them.  The job table calls vf_notify_changed()
 * with none of its locks held.
 */
#pragma once

#include <fuse.h>
#include <glib.h>
#include <stdint.h>
#include <sys/stat.h>

#include "vf-jobs.h"
#include "vf-prompt.h"

typedef struct vf_fs VfFs;
typedef struct vf_watch VfWatch;

/* A directory of prompts and their jobs: jobs/ (videos) or images/
 * (pictures), each with its own job table and backing store. */
typedef enum
{
  VF_SPACE_JOBS,
  VF_SPACE_IMAGES,
  VF_N_SPACES,
} VfSpaceKind;

typedef struct
{
  VfSpaceKind kind;
  const char *dir; /* "jobs", "images" */
  VfJobs *jobs;
  int files_fd; /* its backing store: STATE_DIR/files/, STATE_DIR/images/files/ */
  /* guards `files` and every struct vf_file; before the job table's locks */
  GMutex files_lock;
  GHashTable *files; /* name -> struct vf_file *, for files with open handles */
  VfFs *fs;
} VfSpace;

struct vf_fs
{
  VfJobs *jobs; /* the videos' table: spaces[VF_SPACE_JOBS].jobs */
  VfSpace spaces[VF_N_SPACES];
  uid_t uid;
  gid_t gid;
  gint64 mount_us; /* mtime of the fixed directories */

  GMutex handles_lock; /* guards `handles`; a leaf */
  GHashTable *handles; /* every open VfHandle */

  GMutex poll_lock;  /* guards `polled` and `ready`; a leaf */
  GPtrArray *polled; /* VfHandle * that hold a poll handle */
  gboolean ready;    /* fuse_notify_poll and fuse_invalidate_path may be called */
  struct fuse *fuse; /* set before `ready` */

  VfWatch *watch;  /* the inotify announcer (watch.c), once started */
  pid_t watch_tid; /* its thread id, set before the session runs */
};

/* What a path names. */
typedef enum
{
  VF_NODE_ROOT,
  VF_NODE_README,
  VF_NODE_STATUS, /* the root status table */
  VF_NODE_EVENTS,
  VF_NODE_JOBS, /* jobs/ or images/: the node's space says which */
  VF_NODE_VIDEOS,
  VF_NODE_FILE,  /* jobs/NAME: a prompt or scratch file */
  VF_NODE_JOB,   /* jobs/NAME/ */
  VF_NODE_VIDEO, /* videos/ID/ */
  VF_NODE_ENTRY, /* a file inside jobs/NAME/ or videos/ID/ */
} VfNodeKind;

/* Files of a job directory. */
typedef enum
{
  VF_ENTRY_ID,
  VF_ENTRY_STATUS,
  VF_ENTRY_STATUS_JSON,
  VF_ENTRY_REQUEST_JSON,
  VF_ENTRY_ERROR,
  VF_ENTRY_VIDEO,
  VF_ENTRY_THUMBNAIL,
  VF_ENTRY_SPRITESHEET,
  VF_ENTRY_LAST_FRAME, /* the content entries follow VfVariant's order */
  VF_ENTRY_REVISED_PROMPT,
  VF_N_ENTRIES,
  VF_ENTRY_PICTURE = VF_N_ENTRIES, /* image.png, ... of images/NAME/: `picture` says which */
} VfEntry;

typedef struct
{
  VfNodeKind kind;
  VfSpace *space;  /* JOBS, FILE, JOB, ENTRY of jobs/ or images/; else NULL */
  char *name;      /* FILE: the file name; JOB/VIDEO/ENTRY: the job name or id */
  gboolean by_id;  /* under videos/ */
  VfEntry entry;   /* ENTRY */
  gsize picture;   /* VF_ENTRY_PICTURE: its index in info->pictures */
  VfJobInfo *info; /* JOB, VIDEO, ENTRY: the snapshot the node was found in */
} VfNode;

void vf_node_clear (VfNode *node);

/* tree.c */
int vf_tree_lookup (VfFs *fs, const char *path, VfNode *node);
int vf_tree_stat (VfFs *fs, const VfNode *node, struct stat *st);
/* The current bytes of a text node (not FILE, not content entries);
 * *changed_us gets the time they last changed. */
GBytes *vf_tree_text (VfFs *fs, const VfNode *node, gint64 *changed_us);
/* Only the time of the last change, for poll(). */
gint64 vf_tree_changed_us (VfFs *fs, const VfNode *node);
gboolean vf_tree_is_live (const VfNode *node);
gboolean vf_tree_is_content (const VfNode *node, VfVariant *variant);
/* A directory's entries as one pass of readdir sees them, "." and ".."
 * first; NULL with *res a negative errno when `node` is no directory. */
typedef struct
{
  char *name;
  mode_t type;       /* S_IFDIR or S_IFREG */
  gint64 created_us; /* jobs/NAME/: the directory's time; else -1 */
  VfSpace *file;     /* a file of jobs/ or images/, kept in that backing store */
} VfDirEntry;
GArray *vf_tree_list (VfFs *fs, const VfNode *node, int *res);
/* Hands `list` to the filler from `offset` (an index) until its buffer is
 * full; with attributes where they are at hand when `plus`
 * (FUSE_READDIR_PLUS). */
int vf_tree_fill (VfFs *fs, GArray *list, off_t offset, gboolean plus, void *buf,
                  fuse_fill_dir_t filler);
const char *vf_entry_name (VfEntry entry);
/* The file name of an ENTRY node (a picture's own name). */
const char *vf_node_entry_name (const VfNode *node);
gboolean vf_tree_is_picture (const VfNode *node);
/* The space of "jobs" or "images", else NULL. */
VfSpace *vf_space_named (VfFs *fs, const char *dir);
/* Splits "/jobs/NAME" or "/images/NAME" into its space and name; NULL for
 * any other shape. */
const char *vf_space_child (VfFs *fs, const char *path, VfSpace **space);
/* The files a job (or videos/ entry) directory holds: a bit per VfEntry. */
guint vf_tree_entries (const VfJobInfo *info, gboolean by_id);

/* files.c: the backing store of a space (jobs/, images/).  Names are base
 * names in its directory. */
typedef struct vf_file_handle VfFileHandle;

gboolean vf_files_init (VfSpace *sp, const char *dir, GError **error);
void vf_files_shutdown (VfSpace *sp);
int vf_files_stat (VfSpace *sp, const char *name, struct stat *st);
int vf_files_fstat (VfSpace *sp, VfFileHandle *fh, struct stat *st);
/* Lists the backing files, less the names in `skip` (job directories win). */
/* The name the file of `fh` has now (new string; NULL once unlinked). */
char *vf_files_name (VfSpace *sp, VfFileHandle *fh);
/* Appends the files of jobs/ but those in `skip` to `list` (of VfDirEntry). */
int vf_files_list (VfSpace *sp, GHashTable *skip, GArray *list);
int vf_files_open (VfSpace *sp, const char *name, int flags, mode_t mode, gboolean create,
                   VfFileHandle **out);
int vf_files_read (VfFileHandle *fh, char *buf, size_t size, off_t offset);
int vf_files_write (VfSpace *sp, VfFileHandle *fh, const char *buf, size_t size, off_t offset);
int vf_files_flush (VfSpace *sp, VfFileHandle *fh);
void vf_files_release (VfSpace *sp, VfFileHandle *fh);
int vf_files_fsync (VfFileHandle *fh, int datasync);
int vf_files_truncate (VfSpace *sp, const char *name, VfFileHandle *fh, off_t size);
int vf_files_chmod (VfSpace *sp, const char *name, VfFileHandle *fh, mode_t mode);
int vf_files_utimens (VfSpace *sp, const char *name, VfFileHandle *fh, const struct timespec tv[2]);
int vf_files_unlink (VfSpace *sp, const char *name);
int vf_files_rename (VfSpace *sp, const char *from, const char *to, unsigned int flags);
/* mv jobs/A jobs/B for job directories: moves the prompt file along. */
int vf_files_rename_job (VfSpace *sp, const char *from, const char *to, unsigned int flags);
int vf_files_access (VfSpace *sp, const char *name, int mask);
int vf_files_statfs (VfSpace *sp, struct statvfs *st);
/* The VfInputOpenFunc of the job table (user_data: the VfSpace): FILE in
 * its directory is a scratch file there, NAME/FILE a content file or
 * picture of a completed job (a video's fetched whole first). */
int vf_files_open_input (const char *file, gpointer user_data, GError **error);

/* announcer.c: the child process that makes the announcer's calls on the
 * mount (why a process: see there). */
typedef enum
{
  VF_ANNOUNCE_CREATE, /* mknod (a file) or mkdir (mode says which) */
  VF_ANNOUNCE_REMOVE, /* unlink or rmdir */
  VF_ANNOUNCE_TOUCH,  /* truncate, else utimensat: IN_MODIFY */
} VfAnnounce;

/* Forks it; *fd is the socket to it.  -1 on failure. */
pid_t vf_announcer_spawn (const char *mountpoint, int *fd);
/* One call on the absolute `path`: 0, the errno it failed with (EXDEV: the
 * mount point is no longer this mount), or -1 when the child is gone. */
int vf_announcer_call (int fd, VfAnnounce kind, mode_t mode, const char *path);
/* Closes the socket (the child exits) and reaps it. */
void vf_announcer_end (pid_t pid, int fd);

/* watch.c: inotify events for what the API changed, made by a process of
 * ours acting on the mount.  start once the session runs and before the
 * job table's threads; stop after the loop; free after the job table is
 * closed. */
typedef enum
{
  VF_WATCH_GETATTR, /* getattr, and so lookup */
  VF_WATCH_CREATE,  /* create (mknod of a file) or mkdir */
  VF_WATCH_REMOVE,  /* unlink or rmdir */
  VF_WATCH_TOUCH,   /* truncate or utimens */
} VfWatchOp;

void vf_watch_start (VfFs *fs, const char *mountpoint, double poll_s);
void vf_watch_stop (VfFs *fs);
void vf_watch_free (VfFs *fs);
/* The job table's changes (from vf_notify_changed). */
void vf_watch_changed (VfFs *fs, const VfSpace *space, const char *name, guint what);
/* For the announcer's own requests: TRUE with the answer in *res (and
 * *st for a getattr) when `op` on `path` is part of an announcement; the
 * handler then answers that and does nothing else. */
gboolean vf_watch_own (VfFs *fs, VfWatchOp op, const char *path, struct stat *st, int *res);
/* Around a change of jobs/NAME made through the kernel (rmdir, rename),
 * whose events the kernel made itself: what it changed is taken as seen. */
void vf_watch_local_begin (VfFs *fs, const VfSpace *space, const char *name);
void vf_watch_local_end (VfFs *fs, const VfSpace *space, const char *name);

/* notify.c */
typedef struct vf_handle VfHandle;

void vf_notify_init (VfFs *fs);
void vf_notify_ready (VfFs *fs);
/* No more poll notifications: the session is ending. */
void vf_notify_stop (VfFs *fs);
void vf_notify_clear (VfFs *fs);
/* Drops the kernel's attributes (and pages) of `path` (may be NULL).  Not
 * from a handler the kernel calls with that file's pages locked (write). */
void vf_notify_invalidate (VfFs *fs, const char *path);
/* The job tables' `changed` callback (user_data: the VfSpace). */
void vf_notify_changed (const char *name, guint what, gpointer user_data);
void vf_notify_keep (VfFs *fs, VfHandle *handle, struct fuse_pollhandle *ph);
void vf_notify_forget (VfFs *fs, VfHandle *handle);
/* Interrupts: FUSE sends the request's thread a signal; it cancels the read
 * that thread is waiting in.  init before fuse_new(), start once the
 * session runs, stop after the loop, shutdown last. */
gboolean vf_interrupt_init (GError **error);
void vf_interrupt_start (struct fuse_session *se);
void vf_interrupt_stop (void);
void vf_interrupt_shutdown (void);
GCancellable *vf_interrupt_begin (void);
void vf_interrupt_end (GCancellable *cancellable);
int vf_interrupt_signal (void);

struct vf_handle
{
  VfNode node;
  /* text nodes: the bytes this handle serves, refreshed by a read at
   * offset 0 (events: none, each read asks the log); before the job
   * table's locks */
  GMutex lock;
  GBytes *snapshot;
  gint64 seen_us;
  struct fuse_pollhandle *ph; /* under fs->poll_lock */
  /* content nodes: the whole cached file, or -1 */
  int content_fd;
  /* FILE nodes */
  VfFileHandle *file;
  /* directories: the path, and the listing a readdir at offset 0 took */
  char *path;
  GArray *listing;
};

/* handle.c */
void vf_handles_init (VfFs *fs);
/* Takes over what `node` holds (and empties it). */
VfHandle *vf_handle_new (VfFs *fs, VfNode *node);
void vf_handle_free (VfFs *fs, VfHandle *h);
/* release(): forgets its poll handle, closes its jobs/ file (which may
 * submit it), frees it. */
void vf_handle_release (VfFs *fs, VfHandle *h);
/* Releases the handles the kernel never released; after the loop, with the
 * job table still open. */
void vf_handles_release (VfFs *fs);
void vf_handles_clear (VfFs *fs);

static inline VfFs *
vf_fs_get (void)
{
  return fuse_get_context ()->private_data;
}

/* Whether the request being served is the announcer's own (watch.c): FUSE
 * passes the caller's thread id, and the announcer's child has one thread. */
static inline gboolean
vf_watch_is_own (VfFs *fs)
{
  return fs->watch_tid != 0 && fuse_get_context ()->pid == fs->watch_tid;
}

static inline VfHandle *
vf_handle_of (struct fuse_file_info *fi)
{
  return fi ? (VfHandle *)(uintptr_t)fi->fh : NULL;
}

/* read.c: the operations table's read_buf. */
int vf_read_buf (const char *path, struct fuse_bufvec **bufp, size_t size, off_t offset,
                 struct fuse_file_info *fi);

/* ops.c */
extern const struct fuse_operations vf_operations;

/* options.c: what the command line and the config file say.  The strings
 * are allocated with malloc (fuse_opt_parse) or g_malloc (the config file)
 * and freed by vf_options_clear(). */
typedef struct
{
  char *endpoint;
  char *token_file;
  char *model;
  char *seconds;
  char *size;
  char *poll;
  char *state_dir;
  char *cache_dir;
  char *prefetch;
  char *cache_max;
  char *events_max;
  char *ark_endpoint;
  char *delete_remote;
  char *seedance_via;
  char *image_model;
  char *image_routes;
  char *image_wait;
  char *gemini_endpoint;
  char *gemini_auth;
  int foreground;
  int singlethread;
  int debug;
  int show_help;
  int show_version;
  char *args[2]; /* [SOURCE] MOUNTPOINT */
  int n_args;
  char *bad; /* the first option we could not take */
} VfOptions;

/* What they mean, once checked. */
typedef struct
{
  char *mountpoint;
  VfPromptDefaults defaults; /* borrowed from VfOptions or the built-in defaults */
  double poll_s;
  gboolean prefetch;
  gboolean delete_remote;
  const char *const *routes; /* model routes for the client (static), or NULL */
  guint64 cache_max;
  guint64 events_max;
  const char *image_model; /* borrowed from VfOptions or the default */
  char **image_routes;     /* "GLOB=PROTO" for the images, or NULL */
  double image_wait_s;
} VfSettings;

/* fuse_opt_parse with our table: -1 when the command line cannot be read.
 * Options it does not take are noted in opts->bad for vf_options_finish. */
int vf_options_parse (struct fuse_args *args, VfOptions *opts);
void vf_options_usage (const char *progname);
/* Adds the config file, the defaults and the checks; FALSE with a reason
 * fit for one line "videofs: REASON". */
gboolean vf_options_finish (VfOptions *opts, VfSettings *set, GError **error);
/* The token (token_file, else $VIDEOFS_TOKEN, else $OPENAI_API_KEY), new;
 * the caller wipes it before freeing it. */
char *vf_options_token (const VfOptions *opts, GError **error);
void vf_options_clear (VfOptions *opts, VfSettings *set);

/* log.c: -d output on stderr; never give it the token. */
extern gboolean vf_debugging;
#define vf_debug(...)                                                                              \
  do                                                                                               \
    {                                                                                              \
      if (vf_debugging)                                                                            \
        vf_debug_print (__VA_ARGS__);                                                              \
    }                                                                                              \
  while (0)
void vf_debug_print (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* After fuse_daemonize(): in the background, GLib's and libfuse's messages
 * go to syslog; with -f they stay on stderr. */
void vf_log_start (gboolean foreground);
