/* budget.c: the API's request budget, as its rate-limit headers state it.
 * See vf-budget.h for the policy. */
#include "vf-budget.h"

#include <stdlib.h>
#include <string.h>

struct vf_budget
{
  GMutex lock;
  gint64 limit;     /* -1 until an answer said */
  gint64 remaining; /* as of the last answer */
  gint64 reset_us;  /* monotonic time the budget is whole again */
};

VfBudget *
vf_budget_new (void)
{
  VfBudget *budget = g_new0 (VfBudget, 1);

  g_mutex_init (&budget->lock);
  budget->limit = -1;
  budget->remaining = -1;
  return budget;
}

void
vf_budget_free (VfBudget *budget)
{
  if (!budget)
    return;
  g_mutex_clear (&budget->lock);
  g_free (budget);
}

static gboolean
parse_count (const char *text, gint64 *out)
{
  guint64 n;

  if (!text || !g_ascii_string_to_unsigned (text, 10, 0, G_MAXINT64, &n, NULL))
    return FALSE;
  *out = (gint64)n;
  return TRUE;
}

gint64
vf_budget_parse_reset (const char *text)
{
  double total = 0;
  const char *p = text;

  if (!text || !*text)
    return -1;
  while (*p)
    {
      char *end;
      double n = g_ascii_strtod (p, &end);
      double unit;

      if (end == p || n < 0)
        return -1;
      p = end;
      if (g_str_has_prefix (p, "ms"))
        unit = 1e3, p += 2;
      else if (*p == 's')
        unit = 1e6, p++;
      else if (*p == 'm')
        unit = 60e6, p++;
      else if (*p == 'h')
        unit = 3600e6, p++;
      else
        return -1;
      total += n * unit;
    }
  return total > (double)G_MAXINT64 / 2 ? -1 : (gint64)total;
}

void
vf_budget_note (VfBudget *budget, const char *limit, const char *remaining, const char *reset,
                gint64 now_us)
{
  gint64 l, r, wait = vf_budget_parse_reset (reset);

  if (!budget || !parse_count (remaining, &r))
    return;
  g_mutex_lock (&budget->lock);
  if (parse_count (limit, &l))
    budget->limit = l;
  budget->remaining = r;
  budget->reset_us = wait >= 0 ? now_us + wait : now_us + 60 * G_USEC_PER_SEC;
  g_mutex_unlock (&budget->lock);
}

gint64
vf_budget_wait_us (VfBudget *budget, gint64 now_us)
{
  gint64 wait = 0;

  if (!budget)
    return 0;
  g_mutex_lock (&budget->lock);
  if (budget->remaining >= 0 && now_us < budget->reset_us)
    {
      gint64 reserve = MAX (2, budget->limit > 0 ? budget->limit / 10 : 0);

      if (budget->remaining <= reserve)
        wait = budget->reset_us - now_us;
    }
  g_mutex_unlock (&budget->lock);
  return wait;
}
