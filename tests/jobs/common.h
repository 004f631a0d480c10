/* common.h: what the job-table tests share: a simulator, a client for it,
 * a temporary state and cache dir, and waiting with a deadline. */
#pragma once

#include "../testutil.h"

#include <glib.h>

#include "sim.h"
#include "vf-client.h"
#include "vf-error.h"
#include "vf-jobs.h"

typedef struct
{
  Sim *sim;
  VfClient *client;
  char *dir;
  char *state_dir;
  char *cache_dir;
  VfJobs *jobs;
  GMutex lock;
  guint n_changes;
  guint n_events;
} Fixture;

/* A client for the simulator; `retries` is the retry policy's max_retries. */
VfClient *test_client_new (Sim *sim, int retries);

/* Fills a config for the fixture's dirs with poll `poll_s`, no prefetch. */
void fixture_config (Fixture *f, VfJobsConfig *config, double poll_s);
/* Starts the simulator with `args`, makes the dirs and the client. */
void fixture_setup (Fixture *f, const char *const *args);
/* Opens f->jobs with fixture_config() and `poll_s`; starts it when `start`. */
void fixture_open (Fixture *f, double poll_s, gboolean prefetch, gboolean start);
void fixture_teardown (Fixture *f);
/* vf_jobs_read_fd(), copied into buf. */
gssize read_copy (Fixture *f, const char *key, gboolean by_id, VfVariant variant, void *buf,
                  gsize len, gint64 offset, GCancellable *cancellable, GError **error);
/* Submits `text` as the prompt file; fails the test unless it is accepted. */
void submit_ok (Fixture *f, const char *prompt_file, const char *text);

/* Waits (up to `timeout_s`, scaled under valgrind) for the job's status to
 * start with `prefix`; fails the test otherwise. */
void wait_status (Fixture *f, const char *name, const char *prefix, double timeout_s);
/* Waits for `cond (f, data)`. */
gboolean wait_for (gboolean (*cond) (Fixture *f, gconstpointer data), Fixture *f,
                   gconstpointer data, double timeout_s);
double time_scale (void);
/* For wait_for(): the job named `data` has an id (VF_JOB_LIVE). */
gboolean phase_is_live (Fixture *f, gconstpointer data);
