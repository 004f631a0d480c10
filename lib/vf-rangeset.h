/* vf-rangeset.h: a set of byte ranges, kept as sorted, disjoint,
 * non-adjacent half-open intervals [start, end).
 *
 * The content cache records with it which bytes of a sparse file hold the
 * server's data.  Not thread-safe: the owner locks.  Offsets are >= 0;
 * empty ranges (end <= start) are ignored.
 *
 * Ownership: a set belongs to whoever made it (vf_range_set_free);
 * functions borrow the sets they are given and return new ones.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct vf_range_set VfRangeSet;

VfRangeSet *vf_range_set_new (void);
VfRangeSet *vf_range_set_copy (const VfRangeSet *set);
void vf_range_set_free (VfRangeSet *set);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfRangeSet, vf_range_set_free)

void vf_range_set_clear (VfRangeSet *set);
void vf_range_set_add (VfRangeSet *set, gint64 start, gint64 end);
void vf_range_set_remove (VfRangeSet *set, gint64 start, gint64 end);

/* Whether every byte of [start, end) is in the set (TRUE for an empty range). */
gboolean vf_range_set_contains (const VfRangeSet *set, gint64 start, gint64 end);

/* The first byte at or after `pos` that is not in the set, or `limit` if
 * every byte of [pos, limit) is. */
gint64 vf_range_set_next_gap (const VfRangeSet *set, gint64 pos, gint64 limit);

/* The first byte at or after `pos` that is in the set, or `limit` if none
 * of [pos, limit) is. */
gint64 vf_range_set_next_present (const VfRangeSet *set, gint64 pos, gint64 limit);

/* The end of the run of present bytes that holds `pos`, or `pos` when
 * `pos` is absent. */
gint64 vf_range_set_run_end (const VfRangeSet *set, gint64 pos);

/* Bytes in the set, and the number of intervals. */
guint64 vf_range_set_size (const VfRangeSet *set);
guint vf_range_set_count (const VfRangeSet *set);

/* The i-th interval in ascending order; FALSE past the last. */
gboolean vf_range_set_nth (const VfRangeSet *set, guint i, gint64 *start, gint64 *end);

G_END_DECLS
