/* fuzz-rangeset.c: the range set against a plain model.
 *
 * Input: operations of 3 bytes (op, start, length) on offsets 0..511:
 * add, remove, clear, copy.  After each, every query of the set must
 * agree with a bitmap of the same bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "vf-rangeset.h"

#define N 512

static void
check (const VfRangeSet *set, const gboolean *model, gint64 probe)
{
  guint64 size = 0;
  guint runs = 0;
  gint64 gap = N, present = N, run_end = probe;

  for (gint64 i = 0; i < N; i++)
    {
      size += model[i];
      if (model[i] && (i == 0 || !model[i - 1]))
        runs++;
    }
  for (gint64 i = probe; i < N; i++)
    if (!model[i])
      {
        gap = i;
        break;
      }
  for (gint64 i = probe; i < N; i++)
    if (model[i])
      {
        present = i;
        break;
      }
  if (model[probe])
    for (run_end = probe; run_end < N && model[run_end]; run_end++)
      ;
  fuzz_assert (vf_range_set_size (set) == size);
  fuzz_assert (vf_range_set_count (set) == runs);
  fuzz_assert (vf_range_set_next_gap (set, probe, N) == gap);
  fuzz_assert (vf_range_set_next_present (set, probe, N) == present);
  fuzz_assert (vf_range_set_run_end (set, probe) == run_end);
  fuzz_assert (vf_range_set_contains (set, probe, gap));
  fuzz_assert (vf_range_set_contains (set, probe, probe));
  if (gap < N)
    fuzz_assert (!vf_range_set_contains (set, probe, gap + 1));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  VfRangeSet *set = vf_range_set_new ();
  gboolean model[N] = { 0 };

  for (size_t k = 0; k + 3 <= size; k += 3)
    {
      guint op = data[k] & 3;
      gint64 start = (data[k] >> 2) * 8 + (data[k + 1] & 7);
      gint64 end = MIN (start + data[k + 2] % 97 - 8, N); /* empty and reversed ranges too */
      gint64 s = start, e = end;

      switch (op)
        {
        case 0:
          vf_range_set_add (set, start, end);
          for (gint64 i = s; i < e; i++)
            model[i] = TRUE;
          break;
        case 1:
          vf_range_set_remove (set, start, end);
          for (gint64 i = s; i < e; i++)
            model[i] = FALSE;
          break;
        case 2:
          if (data[k + 1] == 0xff)
            {
              vf_range_set_clear (set);
              memset (model, 0, sizeof model);
            }
          break;
        case 3:
          {
            VfRangeSet *copy = vf_range_set_copy (set);
            vf_range_set_free (set);
            set = copy;
            break;
          }
        }
      check (set, model, data[k + 1] * 2 % N);
    }
  vf_range_set_free (set);
  return 0;
}
