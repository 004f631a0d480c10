/* shape.h: videofs-sim's link shaping (--latency, --rate, --rate-total):
 * a round trip before each answer and one more for a connection's set-up,
 * and body bytes paced per connection and over all of them.  There is no
 * netem on the machines it runs on; shaping in the server stands in for it
 * and applies to every client alike.
 *
 * The settings are made once by main.c before the server starts and only
 * read afterwards.  A struct sim_pace belongs to the one answer it paces
 * (its connection's thread); the total's clock is behind a lock of its own.
 */
#pragma once

#include <glib.h>

void sim_shape_set (gint64 latency_us, guint64 rate, guint64 rate_total);
/* TRUE when bodies are paced (--rate or --rate-total). */
gboolean sim_shape_paced (void);
/* Sleeps one --latency, two on a connection's first answer; FALSE when
 * the server stopped meanwhile. */
gboolean sim_shape_round_trip (gboolean first_on_connection);

struct sim_pace
{
  gint64 due_us; /* monotonic time before which this answer sends no more */
};

/* The most bytes one paced step hands over. */
gsize sim_shape_step (void);
/* Waits until `n` more body bytes of the answer may be handed over;
 * FALSE when the server stopped meanwhile. */
gboolean sim_shape_pace (struct sim_pace *pace, gsize n);
