/* retry.c: when and how long to wait before trying a request again. */
#include "vf-retry.h"

#include <math.h>
#include <string.h>

#include "vf-error.h"

static gint64
default_now_ms (gpointer user_data)
{
  return g_get_real_time () / 1000;
}

static double
default_random (gpointer user_data)
{
  return g_random_double ();
}

static void
default_sleep_ms (gint64 ms, gpointer user_data)
{
  if (ms > 0)
    g_usleep ((gulong)ms * 1000);
}

void
vf_retry_policy_init (VfRetryPolicy *policy)
{
  memset (policy, 0, sizeof *policy);
  policy->max_retries = 2;
  policy->base_ms = 500;
  policy->max_ms = 8000;
  policy->max_hint_ms = 60000;
  policy->now_ms = default_now_ms;
  policy->random = default_random;
  policy->sleep_ms = default_sleep_ms;
}

gint64
vf_retry_now_ms (const VfRetryPolicy *policy)
{
  return policy->now_ms ? policy->now_ms (policy->user_data) : default_now_ms (NULL);
}

void
vf_retry_sleep (const VfRetryPolicy *policy, gint64 ms)
{
  if (ms <= 0)
    return;
  if (policy->sleep_ms)
    policy->sleep_ms (ms, policy->user_data);
  else
    default_sleep_ms (ms, NULL);
}

/* Whether a failed read is worth trying again, going by what failed. */
static gboolean
error_is_transient (const GError *error)
{
  int status = vf_error_http_status (error);

  if (status > 0)
    return status == 408 || status == 409 || status == 429 || (status >= 500 && status <= 599);

  switch ((VfErrorCode)error->code)
    {
    case VF_ERROR_NETWORK:
    case VF_ERROR_TIMEOUT:
    case VF_ERROR_RATE_LIMITED:
    case VF_ERROR_SERVER:
    case VF_ERROR_CONFLICT:
      return TRUE;
    default:
      return FALSE;
    }
}

gboolean
vf_retry_should (const VfRetryPolicy *policy, const GError *error, gboolean idempotent, int attempt)
{
  int hint;

  if (!error || error->domain != VF_ERROR)
    return FALSE;
  if (attempt >= policy->max_retries)
    return FALSE;

  /* A create that may have reached the server is never sent again, whatever
   * the server says: there is no idempotency key, so a second one would
   * make (and bill) a second job. */
  if (!idempotent)
    return !vf_error_maybe_sent (error)
           && (error->code == VF_ERROR_NETWORK || error->code == VF_ERROR_TIMEOUT);

  hint = vf_error_should_retry (error);
  if (hint >= 0)
    return hint == 1;
  return error_is_transient (error);
}

gint64
vf_retry_delay_ms (const VfRetryPolicy *policy, const GError *error, int attempt)
{
  gint64 hint = error ? vf_error_retry_after_ms (error) : -1;
  gint64 wait;
  double r;

  if (hint >= 0)
    return MIN (hint, policy->max_hint_ms);

  wait = policy->base_ms;
  for (int i = 0; i < attempt && wait < policy->max_ms; i++)
    wait *= 2;
  wait = MIN (wait, policy->max_ms);

  /* Jitter down to 3/4 of the wait, so that clients that failed together
   * do not come back together. */
  r = policy->random ? policy->random (policy->user_data) : g_random_double ();
  r = CLAMP (r, 0.0, 1.0);
  return (gint64)((double)wait * (1.0 - 0.25 * r));
}

/* ----- hint headers ----- */

/* A non-negative decimal number, surrounded by optional blanks; -1 if the
 * text is anything else. */
static double
parse_number (const char *text)
{
  const char *p = text;
  char *end = NULL;
  double value;

  const char *q;
  int dots = 0;

  while (*p == ' ' || *p == '\t')
    p++;
  /* Plain decimals only: strtod would also take hex, exponents, "nan". */
  for (q = p; g_ascii_isdigit (*q) || *q == '.'; q++)
    dots += *q == '.';
  if (q == p || dots > 1)
    return -1;
  value = g_ascii_strtod (p, &end);
  if (end != q)
    return -1;
  if (end == p || !isfinite (value) || value < 0)
    return -1;
  while (*end == ' ' || *end == '\t')
    end++;
  if (*end)
    return -1;
  return value;
}

static int
month_from_name (const char *name)
{
  static const char *const months[]
      = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

  for (int i = 0; i < 12; i++)
    if (strcmp (name, months[i]) == 0)
      return i + 1;
  return 0;
}

static gboolean
parse_uint (const char *text, gsize n_digits, int *value)
{
  int v = 0;

  for (gsize i = 0; i < n_digits; i++)
    {
      if (!g_ascii_isdigit (text[i]))
        return FALSE;
      v = v * 10 + (text[i] - '0');
    }
  *value = v;
  return TRUE;
}

/* "08:49:37" */
static gboolean
parse_clock (const char *text, int *hour, int *minute, int *second)
{
  return strlen (text) == 8 && text[2] == ':' && text[5] == ':' && parse_uint (text, 2, hour)
         && parse_uint (text + 3, 2, minute) && parse_uint (text + 6, 2, second);
}

static gint64
unix_ms (int year, int month, int day, int hour, int minute, int second)
{
  g_autoptr (GDateTime) dt = NULL;

  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return -1;
  dt = g_date_time_new_utc (year, month, day, hour, minute, second);
  if (!dt)
    return -1;
  return g_date_time_to_unix (dt) * 1000;
}

/* An HTTP date (RFC 7231 7.1.1.1) as unix ms, or -1: IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", and the two obsolete forms recipients
 * must still accept, RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime
 * "Sun Nov  6 08:49:37 1994". */
static gint64
parse_http_date (const char *text)
{
  g_auto (GStrv) words = NULL;
  g_autofree char *copy = g_strstrip (g_strdup (text));
  GPtrArray *fields = g_ptr_array_new ();
  int year, month, day, hour, minute, second;
  gint64 result = -1;

  words = g_strsplit (copy, " ", -1);
  for (char **w = words; *w; w++)
    if (**w)
      g_ptr_array_add (fields, *w);

  if (fields->len == 6 && g_str_has_suffix (g_ptr_array_index (fields, 0), ",")
      && strcmp (g_ptr_array_index (fields, 5), "GMT") == 0)
    {
      /* IMF-fixdate */
      const char *d = g_ptr_array_index (fields, 1);
      const char *y = g_ptr_array_index (fields, 3);

      month = month_from_name (g_ptr_array_index (fields, 2));
      if (strlen (d) == 2 && parse_uint (d, 2, &day) && strlen (y) == 4 && parse_uint (y, 4, &year)
          && month && parse_clock (g_ptr_array_index (fields, 4), &hour, &minute, &second))
        result = unix_ms (year, month, day, hour, minute, second);
    }
  else if (fields->len == 4 && g_str_has_suffix (g_ptr_array_index (fields, 0), ",")
           && strcmp (g_ptr_array_index (fields, 3), "GMT") == 0)
    {
      /* RFC 850: two-digit years in the past 50 years or so */
      const char *d = g_ptr_array_index (fields, 1);
      char mon[4] = { 0 };

      if (strlen (d) == 9 && d[2] == '-' && d[6] == '-' && parse_uint (d, 2, &day)
          && parse_uint (d + 7, 2, &year))
        {
          memcpy (mon, d + 3, 3);
          month = month_from_name (mon);
          year += year < 70 ? 2000 : 1900;
          if (month && parse_clock (g_ptr_array_index (fields, 2), &hour, &minute, &second))
            result = unix_ms (year, month, day, hour, minute, second);
        }
    }
  else if (fields->len == 5)
    {
      /* asctime */
      const char *d = g_ptr_array_index (fields, 2);
      const char *y = g_ptr_array_index (fields, 4);
      gsize dl = strlen (d);

      month = month_from_name (g_ptr_array_index (fields, 1));
      if (month && (dl == 1 || dl == 2) && parse_uint (d, dl, &day) && strlen (y) == 4
          && parse_uint (y, 4, &year)
          && parse_clock (g_ptr_array_index (fields, 3), &hour, &minute, &second))
        result = unix_ms (year, month, day, hour, minute, second);
    }

  g_ptr_array_unref (fields);
  return result;
}

/* Hints above this are treated as this; the policy caps them far lower. */
#define HINT_CEILING_MS ((gint64)7 * 24 * 3600 * 1000)

gint64
vf_retry_parse_hint (const char *retry_after_ms, const char *retry_after, gint64 now_ms)
{
  double value;
  gint64 when;

  if (retry_after_ms)
    {
      value = parse_number (retry_after_ms);
      if (value >= 0)
        return (gint64)MIN (ceil (value), (double)HINT_CEILING_MS);
    }

  if (retry_after)
    {
      value = parse_number (retry_after);
      if (value >= 0)
        return (gint64)MIN (ceil (value * 1000.0), (double)HINT_CEILING_MS);
      when = parse_http_date (retry_after);
      if (when >= 0)
        return CLAMP (when - now_ms, 0, HINT_CEILING_MS);
    }

  return -1;
}
