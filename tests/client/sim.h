/* sim.h: a videofs-sim child process for the client tests.
 *
 * sim_start() spawns the simulator on a free port (its path from
 * $VIDEOFS_SIM), reads the base URL it prints and fails the test if it
 * does not come up.  The control endpoints are spoken with plain libcurl,
 * not with the code under test.  sim_stop() ends it with SIGTERM and wants
 * exit status 0.
 */
#pragma once

#include <glib.h>
#include <jansson.h>

typedef struct
{
  GPid pid;
  int stdout_fd;
  int port;
  char *root;     /* http://127.0.0.1:PORT */
  char *base;     /* .../v1 */
  char *ark_base; /* .../api/v3 */
} Sim;

/* args: extra command-line arguments, NULL-terminated, or NULL. */
Sim *sim_start (const char *const *args);
void sim_stop (Sim *sim);

/* A control call; returns the body (caller frees) and the status. */
char *sim_control (Sim *sim, const char *method, const char *path, const char *body, long *status,
                   gsize *len);

json_t *sim_stats (Sim *sim);
/* requests.NAME of the stats */
gint64 sim_requests (Sim *sim, const char *call);
/* a top-level counter of the stats: content_bytes, bearer_on_presigned, ... */
gint64 sim_counter (Sim *sim, const char *name);
void sim_reset_stats (Sim *sim);
void sim_fault (Sim *sim, const char *spec);
void sim_clear_faults (Sim *sim);
void sim_complete (Sim *sim, const char *id);
void sim_expire (Sim *sim, const char *id);
/* The exact content bytes of (id, variant). */
GBytes *sim_truth (Sim *sim, const char *id, const char *variant);
