/* test-events.c: the bounded events log.  Months of synthetic events keep
 * it within events_max and read back exactly; a reader holding it open
 * reads every line once, in order, across trims; dropped lines it had not
 * read are one blank line; a new first reader starts at the oldest line
 * kept; real jobs' events trim the same way; and memory stays flat. */
#include "common.h"
#include "jobs-testing.h"

#include <jansson.h>
#include <string.h>

#define MIB (G_GUINT64_CONSTANT (1024) * 1024)

static const char *const fast_args[]
    = { "--queue", "0.2", "--duration", "0.6", "--video-bytes", "4096", NULL };

static void
open_with_max (Fixture *f, guint64 events_max, gboolean start)
{
  VfJobsConfig config;
  g_autoptr (GError) error = NULL;

  fixture_config (f, &config, 0.1);
  if (events_max)
    config.events_max = events_max;
  f->jobs = vf_jobs_open (&config, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->jobs);
  if (start)
    vf_jobs_start (f->jobs);
}

/* The line of synthetic event `seq`: 10,000 jobs, a month of seconds. */
static int
make_line (char *buf, gsize size, guint seq)
{
  guint job = seq % 10000;

  return g_snprintf (buf, size,
                     "{\"time\":%u.%03u,\"job\":\"job%05u\",\"id\":\"video_%05u\","
                     "\"event\":\"state\",\"state\":\"in_progress\",\"progress\":%u,\"seq\":%u}",
                     1700000000 + seq, seq % 1000, job, job, seq % 100, seq);
}

static void
append_seq (Fixture *f, guint seq)
{
  char line[256];

  make_line (line, sizeof line, seq);
  vf_jobs_testing_append_event (f->jobs, line);
}

/* Reads visible [offset, end of file) in pieces of `chunk`. */
static GByteArray *
read_from (Fixture *f, guint64 offset, gsize chunk)
{
  GByteArray *out = g_byte_array_new ();

  for (;;)
    {
      g_autoptr (GBytes) piece = vf_jobs_events_read (f->jobs, offset, chunk, NULL, NULL);
      gsize n = g_bytes_get_size (piece);

      g_assert_cmpuint (n, <=, chunk);
      if (n == 0)
        break;
      g_byte_array_append (out, g_bytes_get_data (piece, NULL), n);
      offset += n;
    }
  return out;
}

/* `text` is exactly the lines of events first..last, in order. */
static void
assert_lines (const guint8 *text, gsize len, guint first, guint last)
{
  char want[256];
  gsize at = 0;

  for (guint seq = first; seq <= last; seq++)
    {
      int n = make_line (want, sizeof want, seq);

      g_assert_cmpuint (at + n + 1, <=, len);
      g_assert_cmpmem (text + at, n, want, n);
      g_assert_cmpint (text[at + n], ==, '\n');
      at += n + 1;
    }
  g_assert_cmpuint (at, ==, len);
}

static guint
seq_of_line (const guint8 *line, gsize len)
{
  g_autofree char *s = g_strndup ((const char *)line, len);
  const char *p = strstr (s, "\"seq\":");

  g_assert_nonnull (p);
  return (guint)g_ascii_strtoull (p + 6, NULL, 10);
}

/* 2 million events of 10,000 jobs: the log keeps at most events_max bytes
 * (its buffer no more than that plus a line), starts at a whole line and
 * reads back exactly the last events appended. */
static void
test_months (void)
{
  const guint n_events = 2000000;
  Fixture fx, *f = &fx;
  g_autoptr (GByteArray) all = NULL;
  guint64 base = 0, size;
  gsize retained, alloc = 0;
  guint first;

  fixture_setup (f, fast_args);
  open_with_max (f, 0, FALSE);
  for (guint seq = 0; seq < n_events; seq++)
    {
      append_seq (f, seq);
      if (seq % 4096 == 0)
        {
          retained = vf_jobs_testing_events_retained (f->jobs, NULL, &alloc);
          g_assert_cmpuint (retained, <=, VF_JOBS_EVENTS_DEFAULT);
          g_assert_cmpuint (alloc, <=, VF_JOBS_EVENTS_DEFAULT + 256);
        }
    }
  retained = vf_jobs_testing_events_retained (f->jobs, &base, &alloc);
  g_test_message ("%u events: %" G_GUINT64_FORMAT " bytes dropped, %" G_GSIZE_FORMAT
                  " kept, buffer %" G_GSIZE_FORMAT,
                  n_events, base, retained, alloc);
  g_assert_cmpuint (retained, <=, VF_JOBS_EVENTS_DEFAULT);
  g_assert_cmpuint (retained, >, VF_JOBS_EVENTS_DEFAULT / 2 - 256);
  g_assert_cmpuint (alloc, <=, VF_JOBS_EVENTS_DEFAULT + 256);
  g_assert_cmpuint (base, >, (guint64)n_events * 100);

  /* no reader open: the file is what the next open will see */
  size = vf_jobs_events_size (f->jobs, NULL);
  g_assert_cmpuint (size, ==, retained);
  all = read_from (f, 0, 65536);
  g_assert_cmpuint (all->len, ==, retained);
  g_assert_cmpint (all->data[0], ==, '{');
  first = seq_of_line (all->data, 200);
  assert_lines (all->data, all->len, first, n_events - 1);

  /* a read in the middle: exactly those bytes */
  {
    g_autoptr (GBytes) piece = vf_jobs_events_read (f->jobs, 1000, 333, &size, NULL);

    g_assert_cmpuint (size, ==, retained);
    g_assert_cmpmem (g_bytes_get_data (piece, NULL), g_bytes_get_size (piece), all->data + 1000,
                     333);
  }
  /* past the end: empty */
  {
    g_autoptr (GBytes) past = vf_jobs_events_read (f->jobs, retained, 100, NULL, NULL);

    g_assert_cmpuint (g_bytes_get_size (past), ==, 0);
  }
  fixture_teardown (f);
}

typedef struct
{
  GByteArray *partial; /* the start of a line not read to its end yet */
  guint next;          /* the seq the next whole line must have */
} Follower;

/* Takes what a reader read; checks each line it completes. */
static void
follow (Follower *r, const guint8 *data, gsize len)
{
  char want[256];

  for (gsize i = 0; i < len; i++)
    {
      if (data[i] != '\n')
        {
          g_byte_array_append (r->partial, data + i, 1);
          continue;
        }
      int n = make_line (want, sizeof want, r->next);
      g_assert_cmpmem (r->partial->data, r->partial->len, want, n);
      g_byte_array_set_size (r->partial, 0);
      r->next++;
    }
}

/* A reader that holds the log open and reads it in pieces while events
 * are appended and the log is trimmed hundreds of times: every line once,
 * in order, the file only growing. */
static void
test_pinned_reader (void)
{
  const guint64 max = 64 * 1024;
  Fixture fx, *f = &fx;
  g_autoptr (GRand) rand = g_rand_new_with_seed (9);
  Follower r = { g_byte_array_new (), 0 };
  guint64 origin, offset = 0, last_size = 0, base;
  guint seq = 0;

  fixture_setup (f, fast_args);
  open_with_max (f, max, FALSE);
  origin = vf_jobs_events_open (f->jobs);
  g_assert_cmpuint (origin, ==, 0);
  while (seq < 200000)
    {
      /* fewer bytes than a trim keeps: the reader never falls behind */
      guint k = g_rand_int_range (rand, 0, 100);

      for (guint i = 0; i < k; i++)
        append_seq (f, seq++);
      for (;;)
        {
          gsize chunk = g_rand_int_range (rand, 1, 8192);
          guint64 size;
          g_autoptr (GBytes) piece = vf_jobs_events_read (f->jobs, offset, chunk, &size, NULL);
          gsize n = g_bytes_get_size (piece);

          g_assert_cmpuint (size, >=, last_size);
          last_size = size;
          g_assert_cmpuint (n, ==, MIN (chunk, size - offset));
          if (n == 0)
            break;
          follow (&r, g_bytes_get_data (piece, NULL), n);
          offset += n;
        }
      g_assert_cmpuint (vf_jobs_events_size (f->jobs, NULL), ==, offset);
    }
  g_assert_cmpuint (r.next, ==, seq);
  g_assert_cmpuint (r.partial->len, ==, 0);
  vf_jobs_testing_events_retained (f->jobs, &base, NULL);
  g_assert_cmpuint (base, >, 100 * max);
  /* the origin stayed at 0: the visible size is the whole log's */
  g_assert_cmpuint (vf_jobs_events_size (f->jobs, NULL), ==, offset);
  vf_jobs_events_close (f->jobs);
  g_byte_array_unref (r.partial);
  fixture_teardown (f);
}

/* What a reader that held the log open sees of lines dropped before it
 * read them: spaces, the last one '\n', then the lines kept.  A second
 * open meanwhile shares the origin; once all are closed, the next open
 * starts at the oldest line kept. */
static void
test_filler_and_reopen (void)
{
  const guint64 max = 4096;
  Fixture fx, *f = &fx;
  g_autoptr (GByteArray) seen = NULL;
  g_autoptr (GByteArray) fresh = NULL;
  guint64 origin, base = 0, size;
  gsize retained, filler;
  guint seq = 0;

  fixture_setup (f, fast_args);
  open_with_max (f, max, FALSE);
  for (; seq < 10; seq++)
    append_seq (f, seq);
  origin = vf_jobs_events_open (f->jobs);
  g_assert_cmpuint (origin, ==, 0);
  /* trimmed several times past what the reader read */
  for (; seq < 200; seq++)
    append_seq (f, seq);
  retained = vf_jobs_testing_events_retained (f->jobs, &base, NULL);
  g_assert_cmpuint (base, >, 3 * max);
  g_assert_cmpuint (retained, <=, max);
  size = vf_jobs_events_size (f->jobs, NULL);
  g_assert_cmpuint (size, ==, base + retained);

  /* a second reader shares the origin */
  g_assert_cmpuint (vf_jobs_events_open (f->jobs), ==, 0);
  seen = read_from (f, 0, 1000);
  g_assert_cmpuint (seen->len, ==, size);
  filler = (gsize)base;
  for (gsize i = 0; i + 1 < filler; i++)
    if (seen->data[i] != ' ')
      g_error ("byte %" G_GSIZE_FORMAT " of the dropped stretch is 0x%02x", i, seen->data[i]);
  g_assert_cmpint (seen->data[filler - 1], ==, '\n');
  assert_lines (seen->data + filler, seen->len - filler, seq_of_line (seen->data + filler, 200),
                seq - 1);
  /* a read across the edge */
  {
    g_autoptr (GBytes) piece = vf_jobs_events_read (f->jobs, filler - 5, 10, NULL, NULL);
    const char *p = g_bytes_get_data (piece, NULL);

    g_assert_cmpuint (g_bytes_get_size (piece), ==, 10);
    g_assert_cmpmem (p, 5, "    \n", 5);
    g_assert_cmpmem (p + 5, 5, seen->data + filler, 5);
  }

  /* closing one keeps the origin; closing both lets the next open move it */
  vf_jobs_events_close (f->jobs);
  g_assert_cmpuint (vf_jobs_events_size (f->jobs, NULL), ==, size);
  vf_jobs_events_close (f->jobs);
  g_assert_cmpuint (vf_jobs_events_size (f->jobs, NULL), ==, retained);
  origin = vf_jobs_events_open (f->jobs);
  g_assert_cmpuint (origin, ==, base);
  fresh = read_from (f, 0, 777);
  g_assert_cmpmem (fresh->data, fresh->len, seen->data + filler, seen->len - filler);
  g_assert_cmpint (fresh->data[0], ==, '{');
  vf_jobs_events_close (f->jobs);
  fixture_teardown (f);
}

/* A line longer than half the bound is kept whole: the log holds at most
 * events_max plus a line, and always the latest line. */
static void
test_long_line (void)
{
  Fixture fx, *f = &fx;
  g_autofree char *big = g_strnfill (3000, 'x');
  g_autofree char *want = g_strconcat (big, "\n", NULL);
  g_autoptr (GByteArray) all = NULL;

  fixture_setup (f, fast_args);
  open_with_max (f, 4096, FALSE);
  for (guint seq = 0; seq < 20; seq++)
    append_seq (f, seq);
  vf_jobs_testing_append_event (f->jobs, big);
  all = read_from (f, 0, 4096);
  g_assert_cmpmem (all->data, all->len, want, 3001);
  append_seq (f, 20);
  g_assert_cmpuint (vf_jobs_testing_events_retained (f->jobs, NULL, NULL), >, 3001);
  vf_jobs_testing_append_event (f->jobs, big);
  g_byte_array_unref (all);
  all = read_from (f, 0, 4096);
  g_assert_cmpmem (all->data, all->len, want, 3001);
  fixture_teardown (f);
}

/* Real jobs through the simulator with the smallest bound: their events
 * are trimmed the same way, and a reader holding the log open reads each
 * job's submitted ... completed once, in order, with nothing else. */
static void
test_real_jobs (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GString) got = g_string_new (NULL);
  g_autoptr (GHashTable) states = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto (GStrv) lines = NULL;
  guint64 offset = 0, base = 0;
  double last_time = 0;
  const int n_jobs = 36, at_once = 3;

  fixture_setup (f, fast_args);
  open_with_max (f, VF_JOBS_EVENTS_MIN, TRUE);
  vf_jobs_events_open (f->jobs);
  for (int i = 0; i < n_jobs; i += at_once)
    {
      gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC * time_scale ();
      gboolean done = FALSE;

      for (int j = i; j < i + at_once; j++)
        {
          g_autofree char *file = g_strdup_printf ("r%02d.txt", j);

          submit_ok (f, file, "a real job");
        }
      while (!done)
        {
          done = TRUE;
          for (int j = i; j < i + at_once; j++)
            {
              g_autofree char *name = g_strdup_printf ("r%02d", j);
              g_autoptr (VfJobInfo) info = vf_jobs_get (f->jobs, name);

              done = done && g_str_has_prefix (info->status, "completed");
            }
          for (;;)
            {
              g_autoptr (GBytes) piece = vf_jobs_events_read (f->jobs, offset, 512, NULL, NULL);
              gsize n = g_bytes_get_size (piece);

              if (n == 0)
                break;
              g_string_append_len (got, g_bytes_get_data (piece, NULL), n);
              offset += n;
            }
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          g_usleep (5000);
        }
    }
  vf_jobs_testing_events_retained (f->jobs, &base, NULL);
  g_test_message ("%d jobs: %" G_GUINT64_FORMAT " bytes read, %" G_GUINT64_FORMAT " dropped",
                  n_jobs, offset, base);
  g_assert_cmpuint (base, >, 3 * VF_JOBS_EVENTS_MIN);

  g_assert_true (g_str_has_suffix (got->str, "\n"));
  lines = g_strsplit (got->str, "\n", -1);
  for (guint i = 0; lines[i + 1]; i++)
    {
      json_error_t jerror;
      g_autoptr (json_t) e = json_loads (lines[i], 0, &jerror);
      const char *job, *state, *event, *before;
      double t;

      if (!e)
        g_error ("line %u is no event: \"%s\"", i, lines[i]);
      job = json_string_value (json_object_get (e, "job"));
      state = json_string_value (json_object_get (e, "state"));
      event = json_string_value (json_object_get (e, "event"));
      t = json_real_value (json_object_get (e, "time"));
      g_assert_cmpfloat (t, >=, last_time);
      last_time = t;
      before = g_hash_table_lookup (states, job);
      if (strcmp (event, "submitted") == 0)
        g_assert_null (before);
      else
        g_assert_nonnull (before);
      /* once completed, nothing more of that job */
      g_assert_true (!before || strcmp (before, "completed") != 0);
      g_hash_table_replace (states, g_strdup (job), g_strdup (state));
    }
  g_assert_cmpuint (g_hash_table_size (states), ==, n_jobs);
  for (int i = 0; i < n_jobs; i++)
    {
      g_autofree char *name = g_strdup_printf ("r%02d", i);

      g_assert_cmpstr (g_hash_table_lookup (states, name), ==, "completed");
    }
  vf_jobs_events_close (f->jobs);
  fixture_teardown (f);
}

static gint64
vm_rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmRSS:");
  return line ? g_ascii_strtoll (line + 6, NULL, 10) : -1;
}

/* Months of events with a reader now and then: the process grows by about
 * the bound, not by what was appended. */
static void
test_rss (void)
{
  const guint n_events = 2000000;
  Fixture fx, *f = &fx;
  gint64 before, after, peak = 0;
  guint64 appended = 0;

  fixture_setup (f, fast_args);
  open_with_max (f, 0, FALSE);
  before = vm_rss_kib ();
  for (guint seq = 0; seq < n_events; seq++)
    {
      char line[256];

      appended += make_line (line, sizeof line, seq) + 1;
      vf_jobs_testing_append_event (f->jobs, line);
      if (seq % 100000 == 0)
        {
          /* a `cat events` */
          guint64 offset = 0;

          vf_jobs_events_open (f->jobs);
          for (;;)
            {
              g_autoptr (GBytes) piece = vf_jobs_events_read (f->jobs, offset, 131072, NULL, NULL);

              if (g_bytes_get_size (piece) == 0)
                break;
              offset += g_bytes_get_size (piece);
            }
          vf_jobs_events_close (f->jobs);
          peak = MAX (peak, vm_rss_kib ());
        }
    }
  after = vm_rss_kib ();
  peak = MAX (peak, after);
  g_test_message ("RSS %" G_GINT64_FORMAT " KiB before, %" G_GINT64_FORMAT
                  " after, peak %" G_GINT64_FORMAT " KiB, for %" G_GUINT64_FORMAT
                  " MiB of events, events_max %d KiB",
                  before, after, peak, appended / MIB, VF_JOBS_EVENTS_DEFAULT / 1024);
  g_assert_cmpuint (appended, >, 50 * VF_JOBS_EVENTS_DEFAULT);
  g_assert_cmpint (peak - before, <, (3 * VF_JOBS_EVENTS_DEFAULT + 4 * MIB) / 1024);
  fixture_teardown (f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/events/months", test_months);
  g_test_add_func ("/events/pinned-reader", test_pinned_reader);
  g_test_add_func ("/events/filler-and-reopen", test_filler_and_reopen);
  g_test_add_func ("/events/long-line", test_long_line);
  g_test_add_func ("/events/real-jobs", test_real_jobs);
  g_test_add_func ("/events/rss", test_rss);
  return g_test_run ();
}
