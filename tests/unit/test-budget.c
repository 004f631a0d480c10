/* The request budget read from the API's x-ratelimit-* headers. */
#include "vf-budget.h"

static void
test_parse_reset (void)
{
  g_assert_cmpint (vf_budget_parse_reset ("1s"), ==, G_USEC_PER_SEC);
  g_assert_cmpint (vf_budget_parse_reset ("6m0s"), ==, 360 * G_USEC_PER_SEC);
  g_assert_cmpint (vf_budget_parse_reset ("20ms"), ==, 20000);
  g_assert_cmpint (vf_budget_parse_reset ("1.5s"), ==, 1500000);
  g_assert_cmpint (vf_budget_parse_reset ("1h2m3s"), ==, G_GINT64_CONSTANT (3723) * G_USEC_PER_SEC);
  g_assert_cmpint (vf_budget_parse_reset ("12.345s"), ==, 12345000);
  g_assert_cmpint (vf_budget_parse_reset (""), ==, -1);
  g_assert_cmpint (vf_budget_parse_reset (NULL), ==, -1);
  g_assert_cmpint (vf_budget_parse_reset ("soon"), ==, -1);
  g_assert_cmpint (vf_budget_parse_reset ("5"), ==, -1);
  g_assert_cmpint (vf_budget_parse_reset ("-1s"), ==, -1);
}

static void
test_reserve_for_creates (void)
{
  VfBudget *b = vf_budget_new ();
  gint64 now = 1000 * G_USEC_PER_SEC;

  /* nothing known: never wait */
  g_assert_cmpint (vf_budget_wait_us (b, now), ==, 0);
  /* an answer without the headers changes nothing */
  vf_budget_note (b, NULL, NULL, NULL, now);
  g_assert_cmpint (vf_budget_wait_us (b, now), ==, 0);
  vf_budget_note (b, "60", "7", "30s", now);
  g_assert_cmpint (vf_budget_wait_us (b, now), ==, 0);
  /* a tenth of 60 is kept for creates */
  vf_budget_note (b, "60", "6", "30s", now);
  g_assert_cmpint (vf_budget_wait_us (b, now), ==, 30 * G_USEC_PER_SEC);
  g_assert_cmpint (vf_budget_wait_us (b, now + 10 * G_USEC_PER_SEC), ==, 20 * G_USEC_PER_SEC);
  /* whole again at the reset */
  g_assert_cmpint (vf_budget_wait_us (b, now + 30 * G_USEC_PER_SEC), ==, 0);
  /* small budgets keep at least 2 */
  vf_budget_note (b, "5", "2", "1s", now);
  g_assert_cmpint (vf_budget_wait_us (b, now), ==, G_USEC_PER_SEC);
  vf_budget_note (b, "5", "3", "1s", now);
  g_assert_cmpint (vf_budget_wait_us (b, now), ==, 0);
  /* an unreadable reset: a minute */
  vf_budget_note (b, "60", "0", "later", now);
  g_assert_cmpint (vf_budget_wait_us (b, now), ==, 60 * G_USEC_PER_SEC);
  vf_budget_free (b);
  vf_budget_free (NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/budget/parse-reset", test_parse_reset);
  g_test_add_func ("/budget/reserve-for-creates", test_reserve_for_creates);
  return g_test_run ();
}
