/* ratelimit.c: a request budget per minute, as OpenAI states it.
 *
 * With --rate-limit N (or POST /_sim/ratelimit with N; 0 switches it off)
 * every API request takes one from a budget of N that is whole again a
 * minute after the first request of the window.  An API answer carries
 * x-ratelimit-limit-requests, x-ratelimit-remaining-requests and
 * x-ratelimit-reset-requests; a request that finds the budget empty gets a
 * 429 with Retry-After, counted by call in the stats' "limited".
 */
#include "sim.h"

#define WINDOW_US (60 * G_USEC_PER_SEC)

static GMutex limit_lock;
static guint64 limit;     /* 0: off */
static guint64 used;      /* in this window */
static gint64 window_end; /* monotonic */

void
sim_ratelimit_set (guint64 per_minute)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&limit_lock);

  limit = per_minute;
  used = 0;
  window_end = 0;
}

static void
roll_locked (gint64 now)
{
  if (now >= window_end)
    {
      used = 0;
      window_end = now + WINDOW_US;
    }
}

gboolean
sim_ratelimit_take (gint64 *retry_ms)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&limit_lock);
  gint64 now = g_get_monotonic_time ();

  if (!limit)
    return TRUE;
  roll_locked (now);
  if (used < limit)
    {
      used++;
      return TRUE;
    }
  *retry_ms = (window_end - now + 999) / 1000;
  return FALSE;
}

void
sim_ratelimit_headers (struct MHD_Response *response)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&limit_lock);
  gint64 now = g_get_monotonic_time ();
  char text[32];

  if (!limit)
    return;
  roll_locked (now);
  g_snprintf (text, sizeof text, "%" G_GUINT64_FORMAT, limit);
  MHD_add_response_header (response, "x-ratelimit-limit-requests", text);
  g_snprintf (text, sizeof text, "%" G_GUINT64_FORMAT, limit - MIN (used, limit));
  MHD_add_response_header (response, "x-ratelimit-remaining-requests", text);
  g_snprintf (text, sizeof text, "%.3fs", (double)(window_end - now) / G_USEC_PER_SEC);
  MHD_add_response_header (response, "x-ratelimit-reset-requests", text);
}
