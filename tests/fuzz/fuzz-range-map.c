/* fuzz-range-map.c: the range map of the content cache (ID/VARIANT.map).
 *
 * The loader is static in cache-disk.c, which is compiled into this
 * harness for it.  Input: the map file; its size is the first "total"
 * line's (or 1000).  A map that loads holds only ranges inside the file
 * and a storable etag, and written out again (as the flusher writes it)
 * loads into the same set and etag; the set stays sorted, disjoint and
 * non-adjacent, its size the sum of its intervals.
 */
#include "cache-disk.c"

#include "fuzz.h"

static char *path;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  path = g_build_filename (fuzz_dir (), "map", NULL);
  return 0;
}

static gint64
total_of (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *)data, size);
  const char *p = strstr (text, "\ntotal ");
  guint64 v;

  if (p && g_ascii_string_to_unsigned (p + 7, 10, 0, G_MAXINT64, &v, NULL))
    return (gint64)v;
  if (p)
    {
      char *end = NULL;
      v = g_ascii_strtoull (p + 7, &end, 10);
      if (end != p + 7 && v <= G_MAXINT64)
        return (gint64)v;
    }
  return 1000;
}

static void
check_set (const VfRangeSet *set, gint64 total)
{
  gint64 start, end, last_end = -1;
  guint64 sum = 0;
  guint i;

  for (i = 0; vf_range_set_nth (set, i, &start, &end); i++)
    {
      fuzz_assert (start >= 0 && start < end && end <= total);
      fuzz_assert (start > last_end);
      fuzz_assert (vf_range_set_contains (set, start, end));
      fuzz_assert (vf_range_set_next_gap (set, start, total) == end);
      fuzz_assert (vf_range_set_run_end (set, start) == end);
      sum += end - start;
      last_end = end;
    }
  fuzz_assert (i == vf_range_set_count (set));
  fuzz_assert (sum == vf_range_set_size (set));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (VfRangeSet) present = vf_range_set_new ();
  g_autoptr (VfRangeSet) again = vf_range_set_new ();
  g_autofree char *etag = NULL;
  g_autofree char *etag2 = NULL;
  g_autofree char *text = NULL;
  gint64 total = total_of (data, size);
  gint64 start, end, start2, end2;
  struct vf_cache_entry e = { 0 };

  fuzz_write_file (path, data, size);
  if (!map_load (path, total, present, &etag))
    return 0;
  check_set (present, total);
  if (etag)
    fuzz_assert (cache_etag_storable (etag));

  e.total = total;
  e.etag = etag;
  e.present = present;
  text = cache_map_text_locked (&e);
  fuzz_write_file (path, (const uint8_t *)text, strlen (text));
  if (!map_load (path, total, again, &etag2))
    fuzz_fail ("a map written out does not load:\n%s", text);
  fuzz_assert (g_strcmp0 (etag, etag2) == 0);
  fuzz_assert (vf_range_set_count (present) == vf_range_set_count (again));
  for (guint i = 0; vf_range_set_nth (present, i, &start, &end); i++)
    {
      fuzz_assert (vf_range_set_nth (again, i, &start2, &end2));
      fuzz_assert (start == start2 && end == end2);
    }
  return 0;
}
