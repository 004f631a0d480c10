/* vf-retry.h: when and how long to wait before trying a request again.
 *
 * Reads (GET, and DELETE) are retried on 408, 409, 429, 5xx, time-outs and
 * connection failures; the server's x-should-retry overrides.  The wait is
 * retry-after-ms, else Retry-After (seconds or an HTTP date), else
 * min(base * 2^attempt, max) with jitter.  A create is retried only when the
 * request provably never left (vf_error_maybe_sent() is FALSE).
 *
 * The clock, the sleep and the random source are injectable for tests.
 *
 * Ownership: a policy is a plain value, copied by whoever keeps it (its
 * user_data is the caller's); the errors passed in are borrowed.  Nothing
 * here allocates or locks.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  int max_retries;                       /* retries after the first try; default 2 */
  gint64 base_ms;                        /* default 500 */
  gint64 max_ms;                         /* cap of the exponential wait; default 8000 */
  gint64 max_hint_ms;                    /* cap on a server's hint; default 60000 */
  gint64 (*now_ms) (gpointer user_data); /* unix ms; default g_get_real_time */
  double (*random) (gpointer user_data); /* [0, 1); default g_random_double */
  gpointer user_data;
  void (*sleep_ms) (gint64 ms, gpointer user_data); /* default g_usleep */
} VfRetryPolicy;

void vf_retry_policy_init (VfRetryPolicy *policy);

/* Whether a request that failed with `error` on try number `attempt` (0 for
 * the first) may be sent again. `idempotent` is FALSE for creates. */
gboolean vf_retry_should (const VfRetryPolicy *policy, const GError *error, gboolean idempotent,
                          int attempt);

/* How long to wait before try number attempt + 1. */
gint64 vf_retry_delay_ms (const VfRetryPolicy *policy, const GError *error, int attempt);

/* The policy's clock (unix ms) and sleep. */
gint64 vf_retry_now_ms (const VfRetryPolicy *policy);
void vf_retry_sleep (const VfRetryPolicy *policy, gint64 ms);

/* Parses the hint headers (either may be NULL); -1 when neither holds a
 * usable value.  `now_ms` is the current unix time in ms, for HTTP dates. */
gint64 vf_retry_parse_hint (const char *retry_after_ms, const char *retry_after, gint64 now_ms);

G_END_DECLS
