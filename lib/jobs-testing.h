/* jobs-testing.h: the job table's entry points that only the tests use,
 * on top of vf-jobs.h.  Thread-safe: each takes the table lock.
 */
#pragma once

#include "vf-jobs.h"

G_BEGIN_DECLS

/* Appends `line` (no '\n' in it) to the events log as if a job had changed,
 * trimming it as a real event does; no `changed` callback. */
void vf_jobs_testing_append_event (VfJobs *jobs, const char *line);
/* The bytes the events log keeps now; *base (may be NULL) is the absolute
 * offset of the first, *alloc (may be NULL) the size of its buffer. */
gsize vf_jobs_testing_events_retained (VfJobs *jobs, guint64 *base, gsize *alloc);

G_END_DECLS
