/* test-retry.c: the retry policy: what is retried, how long it waits, and
 * the parsing of the servers' hints. */
#include <gio/gio.h>

#include "vf-error.h"
#include "vf-retry.h"

/* 2015-10-21 07:28:00 UTC */
#define NOW_MS G_GINT64_CONSTANT (1445412480000)

typedef struct
{
  gint64 now_ms;
  double random;
  int sleeps;
  gint64 slept_ms;
} Fake;

static gint64
fake_now (gpointer user_data)
{
  return ((Fake *)user_data)->now_ms;
}

static double
fake_random (gpointer user_data)
{
  return ((Fake *)user_data)->random;
}

static void
fake_sleep (gint64 ms, gpointer user_data)
{
  Fake *fake = user_data;

  fake->sleeps++;
  fake->slept_ms += ms;
}

static void
policy_with_fake (VfRetryPolicy *policy, Fake *fake)
{
  vf_retry_policy_init (policy);
  policy->now_ms = fake_now;
  policy->random = fake_random;
  policy->sleep_ms = fake_sleep;
  policy->user_data = fake;
}

/* An error as client.c makes them from an HTTP answer. */
static GError *
http_error (int status)
{
  GError *e = g_error_new (VF_ERROR, vf_error_code_for_status (status), "HTTP %d", status);

  vf_error_set_http (e, status, NULL, NULL, NULL);
  vf_error_set_maybe_sent (e, TRUE);
  return e;
}

static GError *
transport_error (VfErrorCode code, gboolean maybe_sent)
{
  GError *e = g_error_new (VF_ERROR, code, "transport");

  vf_error_set_maybe_sent (e, maybe_sent);
  return e;
}

static void
test_defaults (void)
{
  VfRetryPolicy policy;
  gint64 before = g_get_real_time () / 1000;
  gint64 now;
  double r;

  vf_retry_policy_init (&policy);
  g_assert_cmpint (policy.max_retries, ==, 2);
  g_assert_cmpint (policy.base_ms, ==, 500);
  g_assert_cmpint (policy.max_ms, ==, 8000);
  g_assert_cmpint (policy.max_hint_ms, ==, 60000);
  now = vf_retry_now_ms (&policy);
  g_assert_cmpint (now, >=, before);
  g_assert_cmpint (now, <=, g_get_real_time () / 1000);
  for (int i = 0; i < 100; i++)
    {
      r = policy.random (policy.user_data);
      g_assert_cmpfloat (r, >=, 0.0);
      g_assert_cmpfloat (r, <, 1.0);
    }
}

static void
test_reads (void)
{
  VfRetryPolicy policy;
  static const int retried[] = { 408, 409, 429, 500, 502, 503, 504, 599 };
  static const int final[] = { 400, 401, 403, 404, 410, 413, 416, 422 };
  static const VfErrorCode final_codes[]
      = { VF_ERROR_PROTOCOL, VF_ERROR_TOO_LARGE, VF_ERROR_BAD_ID,
          VF_ERROR_INVALID,  VF_ERROR_FAILED,    VF_ERROR_NO_SPACE };

  vf_retry_policy_init (&policy);
  for (gsize i = 0; i < G_N_ELEMENTS (retried); i++)
    {
      g_autoptr (GError) e = http_error (retried[i]);

      g_test_message ("status %d", retried[i]);
      g_assert_true (vf_retry_should (&policy, e, TRUE, 0));
    }
  for (gsize i = 0; i < G_N_ELEMENTS (final); i++)
    {
      g_autoptr (GError) e = http_error (final[i]);

      g_test_message ("status %d", final[i]);
      g_assert_false (vf_retry_should (&policy, e, TRUE, 0));
    }
  for (gsize i = 0; i < G_N_ELEMENTS (final_codes); i++)
    {
      g_autoptr (GError) e = transport_error (final_codes[i], TRUE);

      g_assert_false (vf_retry_should (&policy, e, TRUE, 0));
    }

  /* connection failures and time-outs, sent or not */
  for (int sent = 0; sent <= 1; sent++)
    {
      g_autoptr (GError) net = transport_error (VF_ERROR_NETWORK, sent);
      g_autoptr (GError) timeout = transport_error (VF_ERROR_TIMEOUT, sent);

      g_assert_true (vf_retry_should (&policy, net, TRUE, 0));
      g_assert_true (vf_retry_should (&policy, timeout, TRUE, 0));
    }

  /* not ours: never */
  {
    g_autoptr (GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "x");
    g_autoptr (GError) io = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "x");

    g_assert_false (vf_retry_should (&policy, cancelled, TRUE, 0));
    g_assert_false (vf_retry_should (&policy, io, TRUE, 0));
    g_assert_false (vf_retry_should (&policy, NULL, TRUE, 0));
  }
}

static void
test_bounded (void)
{
  VfRetryPolicy policy;
  g_autoptr (GError) e = http_error (503);

  vf_retry_policy_init (&policy);
  g_assert_true (vf_retry_should (&policy, e, TRUE, 0));
  g_assert_true (vf_retry_should (&policy, e, TRUE, 1));
  g_assert_false (vf_retry_should (&policy, e, TRUE, 2));
  g_assert_false (vf_retry_should (&policy, e, TRUE, 3));

  policy.max_retries = 0;
  g_assert_false (vf_retry_should (&policy, e, TRUE, 0));
  policy.max_retries = 5;
  g_assert_true (vf_retry_should (&policy, e, TRUE, 4));
  g_assert_false (vf_retry_should (&policy, e, TRUE, 5));
}

static void
test_creates (void)
{
  VfRetryPolicy policy;

  vf_retry_policy_init (&policy);

  /* provably never left: connection refused, name not resolved, connect
   * time-out */
  {
    g_autoptr (GError) refused = transport_error (VF_ERROR_NETWORK, FALSE);
    g_autoptr (GError) connect_timeout = transport_error (VF_ERROR_TIMEOUT, FALSE);

    g_assert_true (vf_retry_should (&policy, refused, FALSE, 0));
    g_assert_true (vf_retry_should (&policy, refused, FALSE, 1));
    g_assert_false (vf_retry_should (&policy, refused, FALSE, 2));
    g_assert_true (vf_retry_should (&policy, connect_timeout, FALSE, 0));
  }

  /* may have reached the server: never again */
  {
    g_autoptr (GError) reset = transport_error (VF_ERROR_NETWORK, TRUE);
    g_autoptr (GError) timeout = transport_error (VF_ERROR_TIMEOUT, TRUE);
    g_autoptr (GError) server = http_error (500);
    g_autoptr (GError) limited = http_error (429);
    g_autoptr (GError) conflict = http_error (409);
    g_autoptr (GError) plain = g_error_new_literal (VF_ERROR, VF_ERROR_NETWORK, "no data");

    g_assert_false (vf_retry_should (&policy, reset, FALSE, 0));
    g_assert_false (vf_retry_should (&policy, timeout, FALSE, 0));
    g_assert_false (vf_retry_should (&policy, server, FALSE, 0));
    g_assert_false (vf_retry_should (&policy, limited, FALSE, 0));
    g_assert_false (vf_retry_should (&policy, conflict, FALSE, 0));
    /* an error with no word on it counts as maybe sent */
    g_assert_true (vf_error_maybe_sent (plain));
    g_assert_false (vf_retry_should (&policy, plain, FALSE, 0));

    /* the server's "retry me" does not make a second job safe */
    vf_error_set_retry_hints (server, 10, 1);
    g_assert_false (vf_retry_should (&policy, server, FALSE, 0));
    vf_error_set_retry_hints (limited, 10, 1);
    g_assert_false (vf_retry_should (&policy, limited, FALSE, 0));
  }

  /* local refusals are not worth a second try even if nothing left */
  {
    g_autoptr (GError) invalid = transport_error (VF_ERROR_INVALID, FALSE);

    g_assert_false (vf_retry_should (&policy, invalid, FALSE, 0));
  }
}

static void
test_should_retry_header (void)
{
  VfRetryPolicy policy;
  g_autoptr (GError) server = http_error (503);
  g_autoptr (GError) bad = http_error (400);
  g_autoptr (GError) net = transport_error (VF_ERROR_NETWORK, TRUE);

  vf_retry_policy_init (&policy);
  vf_error_set_retry_hints (server, -1, 0);
  g_assert_false (vf_retry_should (&policy, server, TRUE, 0));
  vf_error_set_retry_hints (bad, -1, 1);
  g_assert_true (vf_retry_should (&policy, bad, TRUE, 0));
  /* still bounded */
  g_assert_false (vf_retry_should (&policy, bad, TRUE, 2));
  vf_error_set_retry_hints (net, -1, 0);
  g_assert_false (vf_retry_should (&policy, net, TRUE, 0));
  /* absent again: back to the status */
  vf_error_set_retry_hints (server, -1, -1);
  g_assert_true (vf_retry_should (&policy, server, TRUE, 0));
}

static void
test_parse_hint_numbers (void)
{
  g_assert_cmpint (vf_retry_parse_hint ("1500", NULL, NOW_MS), ==, 1500);
  g_assert_cmpint (vf_retry_parse_hint ("0", NULL, NOW_MS), ==, 0);
  g_assert_cmpint (vf_retry_parse_hint ("1.2", NULL, NOW_MS), ==, 2);
  g_assert_cmpint (vf_retry_parse_hint (NULL, "3", NOW_MS), ==, 3000);
  g_assert_cmpint (vf_retry_parse_hint (NULL, "0.5", NOW_MS), ==, 500);
  g_assert_cmpint (vf_retry_parse_hint (NULL, " 7 ", NOW_MS), ==, 7000);
  /* retry-after-ms wins over Retry-After */
  g_assert_cmpint (vf_retry_parse_hint ("250", "9", NOW_MS), ==, 250);
  /* a bad retry-after-ms falls back to Retry-After */
  g_assert_cmpint (vf_retry_parse_hint ("soon", "2", NOW_MS), ==, 2000);
  g_assert_cmpint (vf_retry_parse_hint ("-5", "2", NOW_MS), ==, 2000);
  /* huge values are capped, not wrapped */
  g_assert_cmpint (vf_retry_parse_hint (NULL, "99999999999999999999", NOW_MS), >, 0);
  g_assert_cmpint (vf_retry_parse_hint ("99999999999999999999", NULL, NOW_MS), >, 0);
}

static void
test_parse_hint_dates (void)
{
  /* IMF-fixdate, ten seconds from now */
  g_assert_cmpint (vf_retry_parse_hint (NULL, "Wed, 21 Oct 2015 07:28:10 GMT", NOW_MS), ==, 10000);
  /* the obsolete forms */
  g_assert_cmpint (vf_retry_parse_hint (NULL, "Wednesday, 21-Oct-15 07:29:00 GMT", NOW_MS), ==,
                   60000);
  g_assert_cmpint (vf_retry_parse_hint (NULL, "Wed Oct 21 07:28:05 2015", NOW_MS), ==, 5000);
  g_assert_cmpint (vf_retry_parse_hint (NULL, "Sun Nov  6 08:49:37 1994",
                                        G_GINT64_CONSTANT (784111777000) - 1000),
                   ==, 1000);
  /* in the past: at once */
  g_assert_cmpint (vf_retry_parse_hint (NULL, "Sun, 06 Nov 1994 08:49:37 GMT", NOW_MS), ==, 0);
  /* the clock decides */
  g_assert_cmpint (vf_retry_parse_hint (NULL, "Sun, 06 Nov 1994 08:49:37 GMT",
                                        G_GINT64_CONSTANT (784111777000) - 2500),
                   ==, 2500);
}

static void
test_parse_hint_garbage (void)
{
  static const char *const garbage[] = {
    "",
    "soon",
    "-1",
    "1e999",
    "nan",
    "3 seconds",
    "0x10",
    "Wed, 21 Oct 2015 07:28:10",     /* no zone */
    "Wed, 21 Oct 2015 07:28:10 PST", /* not GMT */
    "Wed, 32 Oct 2015 07:28:10 GMT", /* no such day */
    "Wed, 31 Feb 2015 07:28:10 GMT", /* nor this one */
    "Wed, 21 Foo 2015 07:28:10 GMT", /* no such month */
    "Wed, 21 Oct 2015 25:28:10 GMT", /* no such hour */
    "Wed, 21 Oct 2015 07:28 GMT",    /* no seconds */
    "Wed, 1 Oct 2015 07:28:10 GMT",  /* one-digit day */
    "Wednesday, 21-Oct-2015 07:28:10 GMT",
    "Wed Oct 21 07:28:05",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (garbage); i++)
    {
      g_test_message ("\"%s\"", garbage[i]);
      g_assert_cmpint (vf_retry_parse_hint (NULL, garbage[i], NOW_MS), ==, -1);
      g_assert_cmpint (vf_retry_parse_hint (garbage[i], NULL, NOW_MS), ==, -1);
    }
  g_assert_cmpint (vf_retry_parse_hint (NULL, NULL, NOW_MS), ==, -1);
}

static void
test_backoff (void)
{
  VfRetryPolicy policy;
  Fake fake = { .now_ms = NOW_MS };
  g_autoptr (GError) e = http_error (503);
  static const gint64 full[] = { 500, 1000, 2000, 4000, 8000, 8000, 8000 };

  policy_with_fake (&policy, &fake);

  /* random 0: the whole wait */
  fake.random = 0.0;
  for (gsize n = 0; n < G_N_ELEMENTS (full); n++)
    g_assert_cmpint (vf_retry_delay_ms (&policy, e, (int)n), ==, full[n]);

  /* random near 1: three quarters of it */
  fake.random = 0.999999;
  for (gsize n = 0; n < G_N_ELEMENTS (full); n++)
    {
      gint64 d = vf_retry_delay_ms (&policy, e, (int)n);

      g_assert_cmpint (d, >=, full[n] * 3 / 4);
      g_assert_cmpint (d, <, full[n] * 3 / 4 + 2);
    }

  /* in between, and never outside the bounds */
  for (double r = 0.0; r < 1.0; r += 0.125)
    for (int n = 0; n < 70; n++)
      {
        gint64 top = full[MIN (n, (int)G_N_ELEMENTS (full) - 1)];
        gint64 d;

        fake.random = r;
        d = vf_retry_delay_ms (&policy, e, n);
        g_assert_cmpint (d, >=, top * 3 / 4);
        g_assert_cmpint (d, <=, top);
      }
  fake.random = 0.5;
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 1), ==, 875);

  /* a random source out of range is clamped */
  fake.random = 7.0;
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 0), ==, 375);

  /* other bounds */
  policy.base_ms = 100;
  policy.max_ms = 250;
  fake.random = 0.0;
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 0), ==, 100);
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 1), ==, 200);
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 2), ==, 250);
}

static void
test_hint_wins (void)
{
  VfRetryPolicy policy;
  Fake fake = { .now_ms = NOW_MS, .random = 0.999 };
  g_autoptr (GError) e = http_error (429);

  policy_with_fake (&policy, &fake);

  vf_error_set_retry_hints (e, 1500, -1);
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 0), ==, 1500);
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 5), ==, 1500);
  vf_error_set_retry_hints (e, 0, -1);
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 0), ==, 0);

  /* a server's hint is capped */
  vf_error_set_retry_hints (e, 3600 * 1000, -1);
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 0), ==, 60000);
  policy.max_hint_ms = 5000;
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 0), ==, 5000);

  /* parsed with the policy's clock, as client.c does */
  vf_error_set_retry_hints (
      e, vf_retry_parse_hint (NULL, "Wed, 21 Oct 2015 07:28:03 GMT", vf_retry_now_ms (&policy)),
      -1);
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 0), ==, 3000);

  /* no hint: back to the exponential wait */
  vf_error_set_retry_hints (e, -1, -1);
  fake.random = 0.0;
  g_assert_cmpint (vf_retry_delay_ms (&policy, e, 2), ==, 2000);
}

static void
test_sleep_hook (void)
{
  VfRetryPolicy policy;
  Fake fake = { 0 };
  gint64 start;

  policy_with_fake (&policy, &fake);
  vf_retry_sleep (&policy, 1234);
  vf_retry_sleep (&policy, 0);
  vf_retry_sleep (&policy, -5);
  g_assert_cmpint (fake.sleeps, ==, 1);
  g_assert_cmpint (fake.slept_ms, ==, 1234);

  /* the default really waits */
  vf_retry_policy_init (&policy);
  start = g_get_monotonic_time ();
  vf_retry_sleep (&policy, 30);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 30000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/retry/defaults", test_defaults);
  g_test_add_func ("/retry/reads", test_reads);
  g_test_add_func ("/retry/bounded", test_bounded);
  g_test_add_func ("/retry/creates", test_creates);
  g_test_add_func ("/retry/should-retry-header", test_should_retry_header);
  g_test_add_func ("/retry/hint/numbers", test_parse_hint_numbers);
  g_test_add_func ("/retry/hint/dates", test_parse_hint_dates);
  g_test_add_func ("/retry/hint/garbage", test_parse_hint_garbage);
  g_test_add_func ("/retry/backoff", test_backoff);
  g_test_add_func ("/retry/hint-wins", test_hint_wins);
  g_test_add_func ("/retry/sleep-hook", test_sleep_hook);
  return g_test_run ();
}
