/* vf-jobs.h: the job table, the one truth about jobs in memory.
 *
 * VfJobs owns everything a mount knows about jobs: the journal in the state
 * dir (intent before a create is sent, id after), submission, the one
 * background poller for all unfinished jobs, adoption of jobs whose create
 * answer was lost, the events log, the account listing behind videos/, and
 * the content cache behind video.mp4.  It knows nothing of FUSE: the fs/
 * side asks it for snapshots and bytes and tells it what the user did.
 *
 * Locking: one mutex guards the table; no function holds it across network
 * or disk I/O.  Readers get copies (VfJobInfo, GBytes) and never wait on the
 * network, except vf_jobs_submit() (the user waits for the API's answer, as
 * the contract says) and vf_jobs_read_fd() of bytes not yet fetched.
 *
 * Ownership: every returned object belongs to the caller.
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "vf-client.h"
#include "vf-images.h"
#include "vf-inputs.h"
#include "vf-prompt.h"

G_BEGIN_DECLS

typedef struct vf_jobs VfJobs;

typedef enum
{
  VF_CHANGE_STATUS = 1 << 0,  /* a job's status, status.json or error changed */
  VF_CHANGE_CONTENT = 1 << 1, /* a job's content files appeared or went */
  VF_CHANGE_JOBS = 1 << 2,    /* a job appeared, was renamed or forgotten */
  VF_CHANGE_EVENTS = 1 << 3,  /* the events log grew */
} VfChange;

/* Called from the poller (or the submitting thread) after the table changed,
 * with no lock held.  `name` is the job's name, or NULL for account-wide
 * changes: VF_CHANGE_EVENTS (the events log grew), VF_CHANGE_JOBS (the
 * videos/ listing changed), VF_CHANGE_CONTENT (a videos/ entry's content
 * sizes became known), VF_CHANGE_STATUS (videos/ entries' status, e.g.
 * expired).  Must not call back into VfJobs with blocking calls. */
typedef void (*VfJobsChangedFunc) (const char *name, guint what, gpointer user_data);

typedef struct
{
  VfClient *client;      /* borrowed; outlives the VfJobs */
  const char *state_dir; /* created 0700 if missing; holds the journal and the lock */
  const char *cache_dir; /* created 0700 if missing; content bytes */
  VfPromptDefaults defaults;
  double poll_s;          /* default 5 */
  gboolean prefetch;      /* fetch content on completion */
  gboolean delete_remote; /* vf_jobs_forget() also deletes on the API */
  guint64 cache_max;      /* 0: unlimited */
  guint64 events_max;     /* bytes the events log keeps at most (plus a line);
                           * VF_JOBS_EVENTS_DEFAULT, at least VF_JOBS_EVENTS_MIN */
  VfJobsChangedFunc changed;
  gpointer user_data;
  /* Opens a FILE a prompt names relative to jobs/ (vf-inputs.h); NULL:
   * only absolute paths.  Called from the submitting thread, no lock held. */
  VfInputOpenFunc open_input;
  gpointer open_input_data;
  /* A table of pictures (images/) rather than videos: their APIs
   * (borrowed; outlives the VfJobs).  Such a table has no poller: its
   * requests are answered at once.  vf_jobs_submit() returns once the
   * answer came or `image_wait_s` passed (default 2), the request still in
   * flight then; see vf_jobs_submit(). */
  VfImages *images;
  double image_wait_s;
  /* The table whose `events` log this table's events go to, each with
   * "dir": "images" (borrowed; outlives this one); NULL: its own. */
  VfJobs *events_to;
} VfJobsConfig;

#define VF_JOBS_EVENTS_DEFAULT (4 * 1024 * 1024)
#define VF_JOBS_EVENTS_MIN 4096

void vf_jobs_config_init (VfJobsConfig *config);

/* Takes the state-dir lock and loads the journal.  Fails with
 * G_IO_ERROR_BUSY when another mount holds the state dir.  Sends nothing:
 * a save that a crash cut before its create was sent loads as REJECTED
 * ("not_sent"), one cut after it as UNKNOWN. */
VfJobs *vf_jobs_open (const VfJobsConfig *config, GError **error);
/* Starts the poller and the adoption of unknown jobs. */
void vf_jobs_start (VfJobs *jobs);
/* Stops the threads, flushes the journal, releases the lock. */
void vf_jobs_close (VfJobs *jobs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfJobs, vf_jobs_close)

typedef enum
{
  VF_JOB_SUBMITTING, /* intent on disk, create about to be sent or in flight */
  VF_JOB_REJECTED,   /* refused locally or by the API, or never sent (videofs
                      * stopped first: "not_sent"); nothing was made */
  VF_JOB_UNKNOWN,    /* sent (or being sent when videofs stopped), answer
                      * lost; being looked for in the API's list */
  VF_JOB_LIVE,       /* the API accepted it: it has an id */
} VfJobPhase;

/* A picture of a job of images/: image.png, image-2.jpeg, ... */
typedef struct
{
  char *file; /* its base name */
  gint64 size;
} VfJobPicture;

/* A snapshot of one job, or of one entry of videos/ (name == id there). */
typedef struct
{
  char *name;
  char *prompt_file; /* "NAME.txt" / "NAME.json"; NULL for videos/ entries */
  VfJobPhase phase;
  VfProtocol protocol;
  VfState state;      /* for LIVE */
  char *id;           /* or NULL */
  char *status;       /* the `status` file: one line with '\n' */
  char *status_json;  /* the `status.json` file, or NULL before any answer */
  char *request_json; /* the `request.json` file, or NULL (videos/) */
  char *error;        /* the `error` file, or NULL when nothing went wrong */
  gint64 created;     /* unix seconds: ctime/mtime of the directory */
  gint64 changed_us;  /* unix microseconds of the last status change: mtime of status */
  gint64 content_size[VF_N_VARIANTS]; /* by VfVariant: size once known on completion, else -1 */
  gboolean expired;                   /* completed, content gone from the API and not cached */
  /* a picture's job (images/): its pictures once completed, in order */
  gboolean picture;
  VfJobPicture *pictures;
  gsize n_pictures;
  char *revised_prompt; /* where the API gave one, else NULL */
} VfJobInfo;

void vf_job_info_free (VfJobInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfJobInfo, vf_job_info_free)

/* Names of jobs (jobs/NAME/), sorted. */
GPtrArray *vf_jobs_names (VfJobs *jobs);

/* A job directory as a listing with attributes shows it. */
typedef struct
{
  char *name;
  gint64 created; /* unix seconds: VfJobInfo's `created` */
} VfJobEntry;

/* The jobs, sorted by name: a GArray of VfJobEntry that frees its names. */
GArray *vf_jobs_entries (VfJobs *jobs);
/* NULL when there is no such job. */
VfJobInfo *vf_jobs_get (VfJobs *jobs, const char *name);

/* Ids of videos/ (the account's list, refreshed at most every poll_s while
 * someone looks; the ids known here where the API has no list). Never waits
 * on the network: a stale list is served and a refresh is started. */
GPtrArray *vf_jobs_video_ids (VfJobs *jobs);
VfJobInfo *vf_jobs_get_video (VfJobs *jobs, const char *id);
/* The same, asking nothing of the API: no refresh of the listing, no probe
 * of an entry's sizes (for the mount's own inotify announcements). */
GPtrArray *vf_jobs_video_ids_known (VfJobs *jobs);
VfJobInfo *vf_jobs_peek_video (VfJobs *jobs, const char *id);

/* The root `status` table and the `events` log, as they are now;
 * *changed_us (may be NULL) is the time of their last change. */
GBytes *vf_jobs_status_table (VfJobs *jobs, gint64 *changed_us);
gint64 vf_jobs_status_changed_us (VfJobs *jobs);
/* The events log keeps its last events_max bytes or less: once longer, its
 * oldest whole lines are dropped down to half of that.  It is read from a
 * visible origin: the first vf_jobs_events_open() (no other reader open)
 * moves it to the oldest line kept; while any reader is open it stays put,
 * so an open reader sees the log only grow.  Lines dropped before such a
 * reader read them read as spaces, the last of them '\n'.  With no reader
 * open, offsets and sizes are those the next open will see.
 * vf_jobs_events_open() returns the origin's absolute offset in the log;
 * each open wants its vf_jobs_events_close(). */
guint64 vf_jobs_events_open (VfJobs *jobs);
void vf_jobs_events_close (VfJobs *jobs);
/* At most `len` bytes of the log from visible `offset` (empty past its
 * end); *size (may be NULL) is its visible size then.  Copies only those. */
GBytes *vf_jobs_events_read (VfJobs *jobs, guint64 offset, gsize len, guint64 *size,
                             gint64 *changed_us);
/* The visible size. */
guint64 vf_jobs_events_size (VfJobs *jobs, gint64 *changed_us);

/* Submits the prompt file `prompt_file` (a name vf_prompt_name() accepts)
 * with the given whole contents.  Parses and validates locally (nothing is
 * sent on a local error), journals the intent and then the mark that it is
 * being sent (each synced), creates, journals the id.
 * Returns once the API answered.  On failure the job is REJECTED (or
 * UNKNOWN when the answer was lost) and *error says why; map it with
 * vf_error_to_errno().  A table of pictures sends the request from a
 * thread of its own and returns once it was answered (as above) or
 * image_wait_s passed: TRUE then, the job `in_progress` until its answer.
 * A job that is LIVE, UNKNOWN or SUBMITTING under that name fails with
 * VF_ERROR_CONFLICT and nothing is sent. */
gboolean vf_jobs_submit (VfJobs *jobs, const char *prompt_file, const char *data, gsize len,
                         GError **error);

/* Marks a job rejected for a reason found while the user was writing
 * (bad UTF-8, too large): creates the job as REJECTED with that reason. */
void vf_jobs_reject (VfJobs *jobs, const char *prompt_file, const GError *reason);

/* Whether the prompt file was submitted successfully (it is then read-only). */
gboolean vf_jobs_is_submitted (VfJobs *jobs, const char *prompt_file);

/* The bytes last given for a prompt file (submitted, or rejected by
 * vf_jobs_submit), kept in the state dir across remounts; NULL if none.
 * After vf_jobs_rename() the prompt file follows its job: jobs/B.txt. */
GBytes *vf_jobs_get_prompt (VfJobs *jobs, const char *prompt_file);

/* mv jobs/A jobs/B (job directories); fails with VF_ERROR_CONFLICT if B
 * exists, VF_ERROR_NOT_FOUND if A does not. */
gboolean vf_jobs_rename (VfJobs *jobs, const char *from, const char *to, GError **error);
/* rm -r jobs/NAME: forgets it here, drops its cached bytes, deletes on the
 * API when delete_remote. */
gboolean vf_jobs_forget (VfJobs *jobs, const char *name, GError **error);

/* Content bytes of a job (by name) or a video (by id when `by_id`), with
 * no copy: waits until these bytes are fetched (downloads follow the
 * readers, so a read far into the file does not wait for the bytes before
 * it); returns the count (short only at the end) and sets *fd_out to a new
 * descriptor (the caller's to close) holding them at `offset`; 0 at the
 * end; or -1 with *error (VF_ERROR_EXPIRED, VF_ERROR_PROTOCOL, ...).
 * `cancellable` interrupts the wait. */
gssize vf_jobs_read_fd (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant, gsize len,
                        gint64 offset, int *fd_out, GCancellable *cancellable, GError **error);

/* Whether every byte of that content file is in the cache, so that reading
 * it waits on nothing but the disk.  Never waits on the network. */
gboolean vf_jobs_content_is_whole (VfJobs *jobs, const char *key, gboolean by_id,
                                   VfVariant variant);

/* An O_RDONLY fd of the whole cached file of that content, for reading it
 * with no copy through the cache; -1 when it is not whole (yet).  The
 * caller closes it.  Never waits on the network. */
int vf_jobs_content_open_fd (VfJobs *jobs, const char *key, gboolean by_id, VfVariant variant);

/* An O_RDONLY descriptor of picture `file` (a VfJobPicture's name) of job
 * `name`, the caller's to close; or a negative errno.  Never waits on the
 * network: a picture is whole before its job says completed. */
int vf_jobs_open_picture (VfJobs *jobs, const char *name, const char *file);

G_END_DECLS
