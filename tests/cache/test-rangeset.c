/* test-rangeset.c: the range set against a plain bitmap, no network. */
#include "vf-rangeset.h"

#include <string.h>

static void
check_intervals (const VfRangeSet *set, const gint64 *expect, guint n)
{
  gint64 start, end;

  g_assert_cmpuint (vf_range_set_count (set), ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_assert_true (vf_range_set_nth (set, i, &start, &end));
      g_assert_cmpint (start, ==, expect[2 * i]);
      g_assert_cmpint (end, ==, expect[2 * i + 1]);
    }
  g_assert_false (vf_range_set_nth (set, n, &start, &end));
}

static void
test_merge (void)
{
  g_autoptr (VfRangeSet) set = vf_range_set_new ();

  vf_range_set_add (set, 10, 20);
  vf_range_set_add (set, 30, 40);
  vf_range_set_add (set, 5, 5); /* empty: ignored */
  check_intervals (set, (const gint64[]){ 10, 20, 30, 40 }, 2);
  vf_range_set_add (set, 20, 30); /* touching both: one interval */
  check_intervals (set, (const gint64[]){ 10, 40 }, 1);
  vf_range_set_add (set, 0, 5);
  vf_range_set_add (set, 50, 60);
  vf_range_set_add (set, 45, 46);
  check_intervals (set, (const gint64[]){ 0, 5, 10, 40, 45, 46, 50, 60 }, 4);
  vf_range_set_add (set, 3, 55); /* swallows three */
  check_intervals (set, (const gint64[]){ 0, 60 }, 1);
  g_assert_cmpuint (vf_range_set_size (set), ==, 60);
}

static void
test_queries (void)
{
  g_autoptr (VfRangeSet) set = vf_range_set_new ();
  g_autoptr (VfRangeSet) copy = NULL;

  vf_range_set_add (set, 10, 20);
  vf_range_set_add (set, 30, 40);
  g_assert_true (vf_range_set_contains (set, 10, 20));
  g_assert_true (vf_range_set_contains (set, 12, 13));
  g_assert_true (vf_range_set_contains (set, 7, 7));
  g_assert_false (vf_range_set_contains (set, 9, 11));
  g_assert_false (vf_range_set_contains (set, 19, 21));
  g_assert_false (vf_range_set_contains (set, 15, 35));
  g_assert_cmpint (vf_range_set_next_gap (set, 0, 100), ==, 0);
  g_assert_cmpint (vf_range_set_next_gap (set, 10, 100), ==, 20);
  g_assert_cmpint (vf_range_set_next_gap (set, 15, 18), ==, 18);
  g_assert_cmpint (vf_range_set_next_gap (set, 20, 100), ==, 20);
  g_assert_cmpint (vf_range_set_next_present (set, 0, 100), ==, 10);
  g_assert_cmpint (vf_range_set_next_present (set, 0, 5), ==, 5);
  g_assert_cmpint (vf_range_set_next_present (set, 15, 100), ==, 15);
  g_assert_cmpint (vf_range_set_next_present (set, 20, 100), ==, 30);
  g_assert_cmpint (vf_range_set_next_present (set, 40, 100), ==, 100);
  g_assert_cmpint (vf_range_set_run_end (set, 12), ==, 20);
  g_assert_cmpint (vf_range_set_run_end (set, 20), ==, 20);
  g_assert_cmpint (vf_range_set_run_end (set, 25), ==, 25);

  copy = vf_range_set_copy (set);
  vf_range_set_remove (set, 12, 35);
  check_intervals (set, (const gint64[]){ 10, 12, 35, 40 }, 2);
  vf_range_set_remove (set, 36, 37); /* splits */
  check_intervals (set, (const gint64[]){ 10, 12, 35, 36, 37, 40 }, 3);
  check_intervals (copy, (const gint64[]){ 10, 20, 30, 40 }, 2);
  vf_range_set_clear (copy);
  g_assert_cmpuint (vf_range_set_count (copy), ==, 0);
  g_assert_cmpint (vf_range_set_next_gap (copy, 3, 9), ==, 3);
}

#define SPACE 600

/* Random adds and removes, every query checked against a bitmap. */
static void
test_random (void)
{
  guint32 seed = g_test_rand_int ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr (VfRangeSet) set = vf_range_set_new ();
  gboolean bits[SPACE] = { FALSE };

  g_test_message ("seed %u", seed);
  for (int round = 0; round < 20000; round++)
    {
      gint64 a = g_rand_int_range (rand, 0, SPACE);
      gint64 span = g_rand_int_range (rand, 0, 40);
      gint64 b = MIN (SPACE, a + span);
      gint64 q = g_rand_int_range (rand, 0, SPACE);
      gint64 limit = g_rand_int_range (rand, 0, SPACE + 1);
      gboolean add = g_rand_int_range (rand, 0, 3) > 0;
      gint64 expect;
      guint64 size = 0;
      gboolean all = TRUE;

      if (add)
        vf_range_set_add (set, a, b);
      else
        vf_range_set_remove (set, a, b);
      for (gint64 i = a; i < b; i++)
        bits[i] = add;

      for (gint64 i = 0; i < SPACE; i++)
        size += bits[i];
      g_assert_cmpuint (vf_range_set_size (set), ==, size);

      for (gint64 i = a; i < b; i++)
        all = all && bits[i];
      g_assert_cmpint (vf_range_set_contains (set, a, b), ==, all);

      for (expect = q; expect < limit && bits[expect]; expect++)
        ;
      g_assert_cmpint (vf_range_set_next_gap (set, q, limit), ==, q >= limit ? limit : expect);
      for (expect = q; expect < limit && !bits[expect]; expect++)
        ;
      g_assert_cmpint (vf_range_set_next_present (set, q, limit), ==, q >= limit ? limit : expect);
      for (expect = q; expect < SPACE && bits[expect]; expect++)
        ;
      g_assert_cmpint (vf_range_set_run_end (set, q), ==, expect);

      /* The intervals are sorted, disjoint, not touching, and match. */
      {
        gint64 start, end, last_end = -1;

        for (guint i = 0; vf_range_set_nth (set, i, &start, &end); i++)
          {
            g_assert_cmpint (start, <, end);
            g_assert_cmpint (start, >, last_end);
            for (gint64 j = last_end < 0 ? 0 : last_end; j < start; j++)
              g_assert_false (bits[j]);
            for (gint64 j = start; j < end; j++)
              g_assert_true (bits[j]);
            last_end = end;
          }
        for (gint64 j = last_end < 0 ? 0 : last_end; j < SPACE; j++)
          g_assert_false (bits[j]);
      }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rangeset/merge", test_merge);
  g_test_add_func ("/rangeset/queries", test_queries);
  g_test_add_func ("/rangeset/random", test_random);
  return g_test_run ();
}
