/* jobs-private.h: what the files of the job table share.  Not an
 * interface: fs/ and the tests see vf-jobs.h only.
 *
 * The files, bottom to top (each calls only files below it):
 *
 *   job.c           one job: its lifetime, its journal record, the table's
 *                   lookups
 *   jobs-text.c     what a job's files say: status, error, the root status
 *                   table, VfJobInfo snapshots
 *   jobs-events.c   the events log
 *   jobs-journal.c  the table's journal: replay, append, compaction
 *   jobs-txn.c      a change to the table: the lock order, in one place
 *   jobs-content.c  content: sizes, reads, downloads' outcomes, expiry
 *   videos.c        the account's listing behind videos/
 *   poller.c        the background thread: polls, adoption, listings, probes
 *   submit-journal.c  a submission's records: intent, sending mark, refusals
 *   submit-image.c  a picture's submission: its request on a thread of its
 *                   own, its outcome with the pictures
 *   submit.c        what a user does: submit, reject, rename, forget
 *   jobs.c          open, start, close, and the snapshots fs/ reads
 *
 * Locking.  Two locks, always taken in this order:
 *   journal_lock  serialises every journaled change, so records land in the
 *                 order the table changed; held across the journal's disk
 *                 writes, never across a network call;
 *   lock          the table lock: guards every field below it, every Job
 *                 and Video, the events log; never held across disk or
 *                 network I/O.
 * A change takes them through VfTxn (jobs-txn.c) and nowhere else.  A
 * table of pictures writes its events into the videos' table's log
 * (`events_to`), taking that table's lock under its own, never the other
 * way round.  The
 * content cache's own lock is taken only with neither held.
 *
 * Ownership: a Job is owned by the table (or by the references taken with
 * vf_job_ref_locked()); a function named *_locked wants the table lock held.
 */
#pragma once

#include "vf-cache.h"
#include "vf-images.h"
#include "vf-jobs.h"
#include "vf-journal.h"

G_BEGIN_DECLS

/* What the poller keeps of a job: not journaled (monotonic microseconds). */
typedef struct
{
  gint64 last_ok_us;
  gint64 next_us;
  int not_found;
  gboolean expiry_checked;
  gboolean batch_missed; /* the last list pages did not have it: retrieve it next */
} JobPoll;

/* One job.  Fields are guarded by the table lock; a job removed from the
 * table (forgotten, or replaced by a resubmission) has `removed` set, so a
 * thread that held a reference across network I/O drops its result. */
typedef struct
{
  int ref;
  gboolean removed;

  char *name;
  char *prompt_file;
  GBytes *prompt_data; /* the bytes submitted, or NULL */
  VfJobPhase phase;
  gboolean sending; /* SUBMITTING: the "sending" mark is on disk, so the
                     * create may have left */
  VfProtocol protocol;
  char *id;
  json_t *body;      /* the request body, or NULL for a local reject */
  VfTask *task;      /* the last answer (without its `raw` JSON), or NULL */
  char *status_json; /* that answer's JSON as status.json shows it */
  char *reason;      /* REJECTED: "CODE: MESSAGE"; UNKNOWN: how the answer was lost */
  char *content_error;
  char *poll_error;
  gint64 no_answer_s; /* > 0: shown in status */

  gint64 created;    /* unix seconds */
  gint64 intent_us;  /* unix microseconds of the intent */
  gint64 changed_us; /* unix microseconds of the last status change */
  gint64 content_size[VF_N_VARIANTS];
  gboolean probed;
  gboolean expired;

  /* A picture's job (images/): the table's `images` is set.  Its request
   * is answered at once: LIVE means answered, its task made here
   * (completed, or failed with the reason), `id` the API's request id. */
  gboolean picture;
  char *pictures_dir;   /* CACHE_DIR/KEY: where its pictures are written */
  json_t *pictures;     /* [{file, type, size, width, height, sha256}], or NULL */
  char *revised_prompt; /* or NULL */

  JobPoll poll;
} Job;

/* An entry of videos/ from the account's listing (videos.c). */
typedef struct
{
  VfTask *task;
  gint64 content_size[VF_N_VARIANTS];
  gboolean probed;
  gboolean probe_wanted;
  gboolean expired;
} Video;

/* The events log (jobs-events.c): text[0, len) is the log's bytes from
 * absolute offset `base`. */
typedef struct
{
  char *text;
  gsize len;
  gsize alloc;
  gsize max;      /* trimmed to at most max / 2 once longer */
  guint64 base;   /* absolute offset of text[0] */
  guint64 origin; /* absolute offset of visible 0 while readers > 0 */
  guint readers;  /* open handles of `events` */
  gint64 changed_us;
} VfEventLog;

typedef struct vf_poller VfPoller;

struct vf_jobs
{
  /* Set at open, read-only after. */
  VfClient *client;
  char *state_dir;
  char *cache_dir;
  char *model; /* the job defaults */
  char *seconds;
  char *size;
  double poll_s;
  gboolean prefetch;
  gboolean delete_remote;
  VfJobsChangedFunc changed;
  gpointer user_data;
  VfInputOpenFunc open_input;
  gpointer open_input_data;
  VfCache *cache; /* its own lock */

  GMutex journal_lock; /* first */
  VfJournal *journal;
  gsize journal_compacted; /* its size after the last compaction */
  int lock_fd;

  GMutex lock;       /* second; guards everything below */
  GHashTable *table; /* name -> Job* */
  gint64 table_changed_us;
  /* the root status table as last made, and what it was made of: the
   * newest change and the number of jobs (jobs-text.c) */
  GBytes *status_text;
  gint64 status_text_us;
  guint status_text_jobs;
  VfEventLog events;
  gboolean no_list[VF_N_PROTOCOLS]; /* the API has no list call */

  /* videos/: the last listing (videos.c). */
  GHashTable *videos; /* id -> Video* */
  gboolean videos_listed;
  gboolean videos_wanted;
  gint64 videos_refreshed_us;
  GQueue probe_queue; /* ids of videos/ entries to probe */

  GCond work_cond;  /* wakes the poller: there may be work */
  VfPoller *poller; /* poller.c's own state */

  /* A table of pictures (images/): their APIs, how long a submission
   * waits for the answer, the requests in flight (submit-image.c). */
  VfImages *images;  /* borrowed; NULL for videos */
  VfJobs *events_to; /* borrowed: the table whose events log has our events, or NULL */
  double image_wait_s;
  GCancellable *pictures_cancel; /* cancelled at close, once the grace is over */
  guint pictures_in_flight;      /* under `lock` */
  GCond pictures_cond;           /* with `lock`: an answer came, or one ended */
};

static inline gint64
vf_jobs_poll_us (const VfJobs *jobs)
{
  return (gint64)(jobs->poll_s * G_USEC_PER_SEC);
}

/* With the table lock held: new work may be due (a job, a listing wanted). */
static inline void
vf_jobs_wake_poller_locked (VfJobs *jobs)
{
  g_cond_broadcast (&jobs->work_cond);
}

/* ----- job.c ----- */

Job *vf_job_new (const char *name, const char *prompt_file);
Job *vf_job_ref_locked (Job *job);
void vf_job_unref_locked (Job *job);
/* The table's value destructor: marks the job removed and drops the
 * table's reference. */
void vf_job_drop (gpointer job);
/* The prompt file follows its job: jobs/B.txt after mv jobs/A jobs/B. */
void vf_job_set_name (Job *job, const char *name);
gboolean vf_job_task_finished (const Job *job);
/* Makes `task` (stolen; NULL: none) the job's last answer.  Its JSON is kept
 * only as the text of status.json: a parsed tree costs five times as much,
 * for each of thousands of jobs. */
void vf_job_set_task (Job *job, VfTask *task);
/* The same, with its status.json text already made (stolen). */
void vf_job_set_task_text (Job *job, VfTask *task, char *status_json);
/* JSON indented as the mount's files show it, with a final newline (new
 * string), or NULL. */
char *vf_json_pretty (const json_t *json);
/* The journal record of a job (a new reference): `op` "task" holds only
 * the answer and what was learnt of the content; any other op the whole
 * job.  NULL when a field cannot be recorded (text that is not UTF-8):
 * a record is written whole or not at all. */
json_t *vf_job_record (const Job *job, const char *op);
/* The "sending" mark of a SUBMITTING job (a new reference, or NULL as
 * above): journaled and synced after the intent and just before the create
 * is handed to the network.  Only an intent followed by its mark may have
 * been sent. */
json_t *vf_job_sending_record (const Job *job);
/* A job from a whole record, or NULL.  An intent comes back SUBMITTING (a
 * "sending" record then makes it UNKNOWN); a record of a job whose create
 * may have left comes back UNKNOWN. */
Job *vf_job_from_record (json_t *record);
/* Applies the answer and content fields of a record. */
void vf_job_apply_task_record (Job *job, json_t *record);
/* The task a picture's job shows once answered: completed, or failed with
 * `code` and `message` (a new task). */
VfTask *vf_picture_task (const Job *job, const char *code, const char *message);
/* The prompt text of a request body of either protocol (new string). */
char *vf_job_prompt_of_body (const json_t *body);

/* Jobs in name order (no references). */
GPtrArray *vf_jobs_sorted_locked (VfJobs *jobs);
/* The LIVE job showing that id, or NULL. */
Job *vf_jobs_by_id_locked (VfJobs *jobs, const char *id);

/* ----- jobs-text.c ----- */

/* API text may hold anything: the files show one line of it. */
char *vf_one_line (const char *text);
/* "submitting", "queued", ..., "completed". */
const char *vf_job_state_word (const Job *job);
/* "CODE: MESSAGE" of a failed task, each one line: the error file of both
 * jobs/NAME/ and videos/ID/. */
char *vf_task_failure_text (const VfTask *task);
/* The `status` line of a task. */
char *vf_task_status_text (const VfTask *task, gboolean expired, gint64 no_answer_s);
VfJobInfo *vf_job_info_locked (VfJobs *jobs, const Job *job);
VfJobInfo *vf_video_info_locked (VfJobs *jobs, const char *id, const Video *video);

/* ----- jobs-events.c ----- */

void vf_events_init (VfJobs *jobs, guint64 max);
void vf_events_clear (VfJobs *jobs);
/* Appends an event of `job` to the events log; `extra` (may be NULL) is
 * merged in and stolen. */
void vf_events_add_locked (VfJobs *jobs, const Job *job, const char *event, json_t *extra);

/* ----- jobs-journal.c ----- */

/* Opens STATE_DIR/journal and replays it into the table. */
gboolean vf_jobs_journal_open (VfJobs *jobs, GError **error);
/* With journal_lock held: rewrites the journal as one record per job. */
gboolean vf_jobs_journal_compact (VfJobs *jobs, GError **error);
/* With journal_lock held.  Borrows `record`.  Compacts the journal after
 * it, when it has grown enough since the last compaction, unless
 * `urgent` (a create waits for this record). */
gboolean vf_jobs_journal_append (VfJobs *jobs, json_t *record, gboolean sync, gboolean urgent,
                                 GError **error);

/* ----- jobs-txn.c ----- */

/* A change to the table.  vf_txn_begin() takes the journal lock and the
 * table lock, in that order; the change is made to the table; records,
 * notes and events are added; vf_txn_commit() releases the table lock,
 * appends the records (synced if any asked it), releases the journal lock
 * and then tells fs/ what changed, with no lock held.  A change that
 * writes no record may begin with vf_txn_begin_unjournaled(), which takes
 * the table lock only. */
typedef struct
{
  VfJobs *jobs;
  gboolean journaled;
  gboolean sync;
  gboolean urgent;
  gboolean broken;           /* a record could not be made */
  gboolean events_elsewhere; /* events went to the table's events_to */
  GPtrArray *records;        /* json_t*, owned */
  GArray *notes;             /* of Note */
} VfTxn;

void vf_txn_begin (VfTxn *txn, VfJobs *jobs);
void vf_txn_begin_unjournaled (VfTxn *txn, VfJobs *jobs);
/* Adds a journal record (stolen); `sync` makes the commit fsync the
 * journal.  A NULL record (one that could not be made whole) makes the
 * commit fail, having written none of the change's records. */
void vf_txn_record (VfTxn *txn, json_t *record, gboolean sync);
/* A request waits for this change's records: the commit writes them and
 * nothing else (no compaction). */
void vf_txn_urgent (VfTxn *txn);
/* fs/ hears of it at commit: `name` a job's name, or NULL for the root
 * files and videos/ (see VfJobsChangedFunc). */
void vf_txn_note (VfTxn *txn, const char *name, guint what);
/* An event of `job` for the events log; `extra` as vf_events_add_locked(). */
void vf_txn_event (VfTxn *txn, const Job *job, const char *event, json_t *extra);
/* The job table's names changed (a job appeared, was renamed or forgotten). */
void vf_txn_table_changed (VfTxn *txn);
/* Ends the change.  Returns FALSE with *error when a record could not be
 * written; with error NULL such a failure is logged instead. */
gboolean vf_txn_commit (VfTxn *txn, GError **error);

/* ----- jobs-content.c ----- */

/* The cache's done callback. */
void vf_jobs_content_done (const char *id, VfVariant variant, const GError *error,
                           gpointer user_data);
/* Marks every job and video showing `id` as expired (or not). */
void vf_jobs_mark_expired (VfJobs *jobs, const char *id, gboolean expired);
/* Every byte of (id, variant) is in the cache. */
gboolean vf_jobs_content_cached (VfJobs *jobs, const char *id, VfVariant variant, gint64 total);
void vf_jobs_prefetch (VfJobs *jobs, const VfTask *task, gint64 total);
/* Learns the size of each variant a completed task offers (-1: absent);
 * *expired when the API no longer has the video.  Fails when the video's
 * size cannot be learnt now (try again later). */
gboolean vf_jobs_probe_task (VfJobs *jobs, const VfTask *task, gint64 sizes[VF_N_VARIANTS],
                             gboolean *expired, GError **error);

/* ----- videos.c ----- */

void vf_video_free (gpointer video);

/* Tasks of the account, newest first, at most `max_pages` pages, stopping
 * at a task created before `stop_before_s` (0: never) or once every id of
 * `wanted` (a set; may be NULL) was seen; with `wanted`, only its tasks
 * are kept. */
typedef struct
{
  GPtrArray *tasks; /* of VfTask*, owned */
  gboolean complete;
  GError *error;
} VfListing;

void vf_listing_fetch (VfJobs *jobs, VfProtocol protocol, int max_pages, gint64 stop_before_s,
                       GHashTable *wanted, VfListing *listing);
void vf_listing_clear (VfListing *listing);

/* The poller's work for videos/: refreshes the listing, learns the sizes of
 * one entry.  A rate-limited answer is handed back in *rate_limited. */
void vf_videos_refresh (VfJobs *jobs, GError **rate_limited);
void vf_videos_probe (VfJobs *jobs, const char *id, GError **rate_limited);

/* ----- submit-journal.c ----- */

/* Whether a job in this phase holds its name against a new submission. */
gboolean vf_job_phase_blocks_submit (VfJobPhase phase);
void vf_set_conflict (GError **error, const Job *job);
/* With the table lock held: puts `job` in the table in place of any old one. */
void vf_jobs_put_locked (VfTxn *txn, Job *job);
/* A job refused before anything was sent, for `reason`. */
void vf_jobs_reject_locally (VfJobs *jobs, const char *name, const char *prompt_file,
                             const char *data, gsize len, const GError *reason);
/* "CODE: MESSAGE" for an API refusal or a request that never left. */
char *vf_refusal_reason (const GError *error);
/* The job for a submission, as `submitting`, with its intent journaled and
 * synced (`picture`: a job of images/, written to `pictures_dir`); NULL
 * (and *error) when nothing may be sent.  Returns a reference. */
Job *vf_jobs_journal_intent (VfJobs *jobs, const char *name, const char *prompt_file,
                             const char *data, gsize len, VfProtocol protocol, json_t *body,
                             const char *pictures_dir, GError **error);
/* The mark that the request is being sent, journaled and synced: from here
 * on the job may exist on the API.  FALSE (the job refused, the reference
 * dropped) when the mark cannot be written: nothing is sent then. */
gboolean vf_jobs_journal_sending (VfJobs *jobs, Job *job, GError **error);

/* ----- submit-image.c ----- */

/* vf_jobs_submit() of a table of pictures, once the name is free and the
 * prompt parsed (`body`, borrowed). */
gboolean vf_jobs_submit_picture (VfJobs *jobs, const char *name, const char *prompt_file,
                                 const char *data, gsize len, json_t *body, GError **error);
/* Removes a picture job's directory and its pictures. */
void vf_jobs_pictures_remove (const char *dir);
/* At close: waits up to `grace_s` for the requests in flight, then cancels
 * the rest (they end `unknown`) and waits for them. */
void vf_jobs_pictures_drain (VfJobs *jobs, double grace_s);

/* ----- poller.c ----- */

void vf_poller_start (VfJobs *jobs);
void vf_poller_stop (VfJobs *jobs);

G_END_DECLS
