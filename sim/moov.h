/* moov.h: the --moov-at-end layout of the video, as encoders write an MP4
 * without faststart: ftyp, one mdat with the base video's frames spread
 * over it (so that the middle of the movie is in the middle of the file),
 * then the moov, its chunk offsets rewritten to match.
 *
 * The plan refers to the base's bytes and to the head and moov it holds:
 * the caller keeps the base alive while it uses the plan and frees the plan
 * with sim_moov_plan_free().
 */
#pragma once

#include <glib.h>

struct sim_piece
{
  const guint8 *data; /* NULL: `len` filler bytes */
  guint64 len;
};

struct sim_moov_plan
{
  GArray *pieces; /* struct sim_piece, in file order, adding up to the size */
  GBytes *head;   /* ftyp and the mdat's header: the first piece */
  GBytes *moov;   /* the rewritten moov: the last piece */
};

/* The layout of a `size`-byte file made of `base` (a faststart MP4 with one
 * track); NULL when the base is not of that shape or does not fit. */
struct sim_moov_plan *sim_moov_plan_new (GBytes *base, guint64 size);
void sim_moov_plan_free (struct sim_moov_plan *plan);
