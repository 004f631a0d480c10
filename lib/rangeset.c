/* rangeset.c: sorted disjoint intervals in one array, found by binary search. */
#include "vf-rangeset.h"

typedef struct
{
  gint64 start;
  gint64 end;
} Range;

struct vf_range_set
{
  GArray *ranges; /* of Range, ascending, disjoint, never touching */
};

#define AT(set, i) (g_array_index ((set)->ranges, Range, (i)))

VfRangeSet *
vf_range_set_new (void)
{
  VfRangeSet *set = g_new0 (VfRangeSet, 1);

  set->ranges = g_array_new (FALSE, FALSE, sizeof (Range));
  return set;
}

VfRangeSet *
vf_range_set_copy (const VfRangeSet *set)
{
  VfRangeSet *copy = vf_range_set_new ();

  g_array_append_vals (copy->ranges, set->ranges->data, set->ranges->len);
  return copy;
}

void
vf_range_set_free (VfRangeSet *set)
{
  if (!set)
    return;
  g_array_unref (set->ranges);
  g_free (set);
}

void
vf_range_set_clear (VfRangeSet *set)
{
  g_array_set_size (set->ranges, 0);
}

/* The index of the first range whose end is >= pos (so it holds pos, or
 * touches it from the left, or lies wholly after it); len if none. */
static guint
first_ending_at_or_after (const VfRangeSet *set, gint64 pos)
{
  guint lo = 0;
  guint hi = set->ranges->len;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;

      if (AT (set, mid).end < pos)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

/* The index of the first range whose end is > pos; len if none. */
static guint
first_ending_after (const VfRangeSet *set, gint64 pos)
{
  guint i = first_ending_at_or_after (set, pos);

  while (i < set->ranges->len && AT (set, i).end <= pos)
    i++;
  return i;
}

void
vf_range_set_add (VfRangeSet *set, gint64 start, gint64 end)
{
  guint i;
  guint j;
  Range merged;

  if (end <= start)
    return;
  /* Ranges i..j-1 touch or overlap [start, end) and merge with it. */
  i = first_ending_at_or_after (set, start);
  j = i;
  merged.start = start;
  merged.end = end;
  while (j < set->ranges->len && AT (set, j).start <= end)
    {
      merged.start = MIN (merged.start, AT (set, j).start);
      merged.end = MAX (merged.end, AT (set, j).end);
      j++;
    }
  if (j > i)
    {
      AT (set, i) = merged;
      g_array_remove_range (set->ranges, i + 1, j - i - 1);
    }
  else
    g_array_insert_val (set->ranges, i, merged);
}

void
vf_range_set_remove (VfRangeSet *set, gint64 start, gint64 end)
{
  guint i;

  if (end <= start)
    return;
  i = first_ending_after (set, start);
  while (i < set->ranges->len && AT (set, i).start < end)
    {
      Range r = AT (set, i);

      if (r.start < start && r.end > end)
        {
          /* Split in two. */
          Range right = { end, r.end };

          AT (set, i).end = start;
          g_array_insert_val (set->ranges, i + 1, right);
          return;
        }
      if (r.start < start)
        {
          AT (set, i).end = start;
          i++;
        }
      else if (r.end > end)
        {
          AT (set, i).start = end;
          return;
        }
      else
        g_array_remove_index (set->ranges, i);
    }
}

gboolean
vf_range_set_contains (const VfRangeSet *set, gint64 start, gint64 end)
{
  guint i;

  if (end <= start)
    return TRUE;
  i = first_ending_after (set, start);
  return i < set->ranges->len && AT (set, i).start <= start && AT (set, i).end >= end;
}

gint64
vf_range_set_next_gap (const VfRangeSet *set, gint64 pos, gint64 limit)
{
  guint i;

  if (pos >= limit)
    return limit;
  i = first_ending_after (set, pos);
  if (i < set->ranges->len && AT (set, i).start <= pos)
    pos = AT (set, i).end;
  return MIN (pos, limit);
}

gint64
vf_range_set_next_present (const VfRangeSet *set, gint64 pos, gint64 limit)
{
  guint i;

  if (pos >= limit)
    return limit;
  i = first_ending_after (set, pos);
  if (i >= set->ranges->len)
    return limit;
  return MIN (MAX (AT (set, i).start, pos), limit);
}

gint64
vf_range_set_run_end (const VfRangeSet *set, gint64 pos)
{
  guint i = first_ending_after (set, pos);

  if (i < set->ranges->len && AT (set, i).start <= pos)
    return AT (set, i).end;
  return pos;
}

guint64
vf_range_set_size (const VfRangeSet *set)
{
  guint64 size = 0;

  for (guint i = 0; i < set->ranges->len; i++)
    size += AT (set, i).end - AT (set, i).start;
  return size;
}

guint
vf_range_set_count (const VfRangeSet *set)
{
  return set->ranges->len;
}

gboolean
vf_range_set_nth (const VfRangeSet *set, guint i, gint64 *start, gint64 *end)
{
  if (i >= set->ranges->len)
    return FALSE;
  *start = AT (set, i).start;
  *end = AT (set, i).end;
  return TRUE;
}
