/* shape.c: --latency, --rate and --rate-total.
 *
 * A step of n bytes of one answer starts when both its connection and the
 * total are free: the total is a queue of reservations (each step holds it
 * for n / rate-total), the connection sends at most --rate; the step is
 * handed over when the slower of the two would have delivered its last
 * byte, so a client never holds a byte before a real link would give it.
 */
#include "shape.h"
#include "sim.h"

/* A wake-up late by less than this is the scheduler's, not the client's:
 * the next step keeps to the schedule, so that late wake-ups do not add up
 * to a slower link. */
#define SLACK_US 5000

static gint64 latency_us;
static guint64 conn_rate, total_rate;

static GMutex total_lock;
static gint64 total_due_us; /* under total_lock */

void
sim_shape_set (gint64 latency, guint64 rate, guint64 rate_total)
{
  latency_us = latency;
  conn_rate = rate;
  total_rate = rate_total;
}

gboolean
sim_shape_paced (void)
{
  return conn_rate || total_rate;
}

static gboolean
sleep_until (gint64 until_us)
{
  while (!g_atomic_int_get (&sim.stopping))
    {
      gint64 left = until_us - g_get_monotonic_time ();
      if (left <= 0)
        return TRUE;
      g_usleep (MIN (left, 20000));
    }
  return FALSE;
}

gboolean
sim_shape_round_trip (gboolean first_on_connection)
{
  if (!latency_us)
    return TRUE;
  return sleep_until (g_get_monotonic_time () + latency_us * (first_on_connection ? 2 : 1));
}

gsize
sim_shape_step (void)
{
  guint64 slowest = conn_rate && total_rate ? MIN (conn_rate, total_rate) : conn_rate | total_rate;

  /* about 5 ms of the slowest rate, between 4 KiB and 64 KiB */
  return slowest ? (gsize)CLAMP (slowest / 200, 4096, 65536) : 65536;
}

static gint64
span_us (gsize n, guint64 rate)
{
  return rate ? (gint64)((double)n * 1e6 / (double)rate) : 0;
}

static gint64
next_start (gint64 due_us, gint64 now_us)
{
  return now_us - due_us < SLACK_US ? MAX (due_us, now_us - SLACK_US) : now_us;
}

gboolean
sim_shape_pace (struct sim_pace *pace, gsize n)
{
  gint64 now = g_get_monotonic_time ();
  gint64 start = next_start (pace->due_us, now);
  gint64 done = start + span_us (n, conn_rate);

  if (total_rate)
    {
      g_mutex_lock (&total_lock);
      total_due_us = next_start (total_due_us, start) + span_us (n, total_rate);
      done = MAX (done, total_due_us);
      g_mutex_unlock (&total_lock);
    }
  pace->due_us = done;
  return sleep_until (done);
}
