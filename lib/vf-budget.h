/* vf-budget.h: how many requests the API still allows, from its headers.
 *
 * OpenAI answers every request with x-ratelimit-limit-requests,
 * x-ratelimit-remaining-requests and x-ratelimit-reset-requests ("1s",
 * "6m0s", "20ms": the time until the budget is whole again).  A VfBudget
 * keeps the last of those for one endpoint.  The job table's background
 * traffic (polls, lists, probes, adoption) asks vf_budget_wait_us() before
 * each request and leaves the last tenth of the budget (at least 2
 * requests) to the user's creates, which never wait on it.
 *
 * Ownership: a VfBudget is owned by whoever made it (the client); the
 * strings passed in are borrowed.  Thread-safe: one mutex, a leaf.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct vf_budget VfBudget;

VfBudget *vf_budget_new (void);
void vf_budget_free (VfBudget *budget);

/* An answer's three headers (any may be NULL), received at monotonic time
 * `now_us`.  An answer without them changes nothing. */
void vf_budget_note (VfBudget *budget, const char *limit, const char *remaining, const char *reset,
                     gint64 now_us);

/* 0 when background traffic may send a request now, else how long
 * (microseconds) until it may: the budget is down to the reserve left for
 * creates, and resets then. */
gint64 vf_budget_wait_us (VfBudget *budget, gint64 now_us);

/* "6m0s", "1.5s", "20ms" -> microseconds; -1 when it is not such a time. */
gint64 vf_budget_parse_reset (const char *text);

G_END_DECLS
