/* poller-private.h: what the files of the poller thread share.  Internal
 * to lib/.
 *
 * The poller is sibling files over this header, from the bottom up:
 *
 *   poller-adopt.c  adopting `unknown` jobs from the API's list
 *   poller.c        the thread: what to do next, polls, batches, expiry
 *
 * Its state (struct vf_poller) and what it keeps of each job (Job.poll)
 * are guarded by the job table's lock (jobs-private.h), as the rest of the
 * table is; nothing here owns memory of its own but the thread.
 */
#pragma once

#include "jobs-private.h"

G_BEGIN_DECLS

#define ADOPT_BEFORE_S 60 /* server clocks may run behind ours */

#define MAX_BACKOFF_US (300 * G_USEC_PER_SEC)
#define NOT_FOUND_LIMIT 3
#define BATCH_MIN 2         /* fewer jobs due: one retrieve each is as cheap */
#define BATCH_PAGE 100      /* tasks per list page */
#define BATCH_PAGES_MAX 200 /* 20,000 tasks */
#define TRIM_BATCH 1000     /* answers in one batch after which the heap is trimmed */

struct vf_poller
{
  GThread *thread;
  gboolean stopping;
  gint64 backoff_until_us; /* monotonic; the account-wide back-off */
  int n_rate_limited;
  /* adoption's schedule, by protocol (monotonic) */
  gint64 next_adopt_us[VF_N_PROTOCOLS];
  gint64 adopt_wait_us[VF_N_PROTOCOLS];     /* 0 before the first listing */
  gint64 newest_unknown_us[VF_N_PROTOCOLS]; /* intent of the newest unknown job seen */
};

/* poller-adopt.c: one listing of `protocol` for its `unknown` jobs, each
 * matched by prompt, model and time and adopted, or rejected when the
 * whole window was listed and nothing came of it; then when to list again.
 * A 429 is handed back in *rate_limited (may be NULL). */
void vf_poller_adopt (VfJobs *jobs, VfProtocol protocol, GError **rate_limited);

G_END_DECLS
