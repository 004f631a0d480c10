/* jobs-private.h: what jobs.c (table, journal, submission) and poller.c
 * (status polling, adoption, the account listing) share. Not an interface. */
#pragma once

#include "vf-cache.h"
#include "vf-jobs.h"
#include "vf-journal.h"

G_BEGIN_DECLS

/* One job.  Fields are guarded by the table lock; a job removed from the
 * table (forgotten, or replaced by a resubmission) has `removed` set, so a
 * thread that held a reference across network I/O drops its result. */
typedef struct
{
  int ref; /* under the table lock */
  gboolean removed;

  char *name;
  char *prompt_file;
  GBytes *prompt_data; /* the bytes submitted, or NULL */
  VfJobPhase phase;
  VfProtocol protocol;
  char *id;
  json_t *body; /* the request body, or NULL for a local reject */
  VfTask *task; /* the last answer, or NULL */
  char *reason; /* REJECTED: "CODE: MESSAGE"; UNKNOWN: how the answer was lost */
  char *content_error;
  char *poll_error;
  gint64 no_answer_s; /* > 0: shown in status */

  gint64 created;    /* unix seconds */
  gint64 intent_us;  /* unix microseconds of the intent */
  gint64 changed_us; /* unix microseconds of the last status change */
  gint64 content_size[3];
  gboolean probed;
  gboolean expired;

  /* Poller state, not journaled (monotonic microseconds). */
  gint64 last_ok_us;
  gint64 next_poll_us;
  int not_found;
  gboolean expiry_checked;
} Job;

/* An entry of videos/ that is not (necessarily) a job here. */
typedef struct
{
  VfTask *task;
  gint64 content_size[3];
  gboolean probed;
  gboolean probe_wanted;
  gboolean expired;
} Video;

typedef struct
{
  char *name;
  guint what;
} Note;

struct vf_jobs
{
  VfClient *client;
  char *state_dir;
  char *cache_dir;
  char *model;
  char *seconds;
  char *size;
  double poll_s;
  gboolean prefetch;
  gboolean delete_remote;
  VfJobsChangedFunc changed;
  gpointer user_data;

  /* Order: journal_lock, then lock.  journal_lock serialises every change
   * that is journaled, so records land in the order the table changed. */
  GMutex journal_lock;
  VfJournal *journal;
  int lock_fd;

  GMutex lock;
  GCond cond;        /* wakes the poller */
  GHashTable *table; /* name -> Job* */
  GString *events;
  gint64 events_changed_us;
  gint64 table_changed_us;

  GThread *poller;
  gboolean stopping;
  gint64 backoff_until_us; /* monotonic; the account-wide back-off */
  int n_rate_limited;
  gint64 next_adopt_us;
  gboolean no_list[2]; /* by VfProtocol: the API has no list call */
  gboolean list_failed[2];

  GHashTable *videos; /* id -> Video*, from the last listing */
  gboolean videos_listed;
  gboolean videos_wanted;
  gint64 videos_refreshed_us;
  GQueue probe_queue; /* ids of videos/ entries to probe */

  VfCache *cache;
};

/* jobs.c */
char *vf_one_line (const char *text);
Job *vf_job_new (const char *name, const char *prompt_file);
/* The prompt file follows its job: jobs/B.txt after mv jobs/A jobs/B. */
void vf_job_set_name (Job *job, const char *name);
Job *vf_jobs_by_id_locked (VfJobs *jobs, const char *id);
Job *vf_job_ref_locked (Job *job);
void vf_job_unref (VfJobs *jobs, Job *job);
void vf_job_unref_locked (Job *job);
const char *vf_job_state_word (const Job *job);
/* Appends to the events log; `extra` (may be NULL) is merged in and stolen. */
void vf_jobs_event_locked (VfJobs *jobs, Job *job, const char *event, json_t *extra);
/* Replaces a job's answer (stolen), emits its events; returns VfChange bits. */
guint vf_job_update_task_locked (VfJobs *jobs, Job *job, VfTask *task);
char *vf_task_status_text (const VfTask *task, gboolean expired, gint64 no_answer_s);
VfJobInfo *vf_jobs_job_info_locked (VfJobs *jobs, Job *job);
/* Takes both locks: marks every job and video showing `id`. */
void vf_jobs_mark_expired (VfJobs *jobs, const char *id, gboolean expired);
void vf_jobs_prefetch (VfJobs *jobs, const VfTask *task, gint64 total);
gboolean vf_jobs_content_cached (VfJobs *jobs, const char *id, VfVariant variant, gint64 total);
json_t *vf_job_record_locked (Job *job, const char *op);
/* With journal_lock held.  The first steals `record` (may be NULL) and
 * warns on failure; the second borrows it and fails. */
void vf_jobs_journal_append (VfJobs *jobs, json_t *record, gboolean sync);
gboolean vf_jobs_journal_try_append (VfJobs *jobs, json_t *record, gboolean sync, GError **error);
void vf_notes_add (GArray *notes, const char *name, guint what);
void vf_notes_flush (VfJobs *jobs, GArray *notes);
GArray *vf_notes_new (void);
gint64 vf_jobs_poll_us (VfJobs *jobs);
char *vf_task_prompt_of_body (const json_t *body);

/* poller.c */
void vf_poller_start (VfJobs *jobs);
void vf_poller_stop (VfJobs *jobs);
/* With the table lock held. */
void vf_poller_wake_locked (VfJobs *jobs);
void vf_video_free (gpointer data);

G_END_DECLS
