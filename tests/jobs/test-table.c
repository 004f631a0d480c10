/* test-table.c: the job table's own rules, against videofs-sim: renaming a
 * job onto its own name, reading the events log by ranges, how often a big
 * table's journal is compacted, names it refuses, a prompt of zero bytes
 * kept across a reopen, and what a journal left by a kill between an
 * intent and its create loads as. */
#define _GNU_SOURCE /* memmem */
#include "common.h"
#include "vf-journal.h"

#include <errno.h>
#include <math.h>
#include <glib/gstdio.h>
#include <string.h>

static const char *const fast_args[]
    = { "--queue", "0.2", "--duration", "0.6", "--video-bytes", "4096", NULL };

static guint
count_lines_with (GBytes *bytes, const char *needle)
{
  g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i]; i++)
    if (strstr (lines[i], needle))
      n++;
  return n;
}

/* mv jobs/a jobs/a is rename(2) of a name onto itself: it succeeds and
 * changes nothing, whether or not the caller wants the error. */
static void
test_rename_onto_itself (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) events = NULL;
  g_autoptr (GPtrArray) names = NULL;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  submit_ok (f, "a.txt", "job a");

  g_assert_true (vf_jobs_rename (f->jobs, "a", "a", NULL));
  g_assert_true (vf_jobs_rename (f->jobs, "a", "a", &error));
  g_assert_no_error (error);
  names = vf_jobs_names (f->jobs);
  g_assert_cmpuint (names->len, ==, 1);
  g_assert_cmpstr (names->pdata[0], ==, "a");
  events = vf_jobs_events_read (f->jobs, 0, G_MAXSIZE, NULL, NULL);
  g_assert_cmpuint (count_lines_with (events, "\"renamed\""), ==, 0);

  /* A job that is not there is not there, with or without the error. */
  g_assert_false (vf_jobs_rename (f->jobs, "nope", "nope", NULL));
  g_assert_false (vf_jobs_rename (f->jobs, "nope", "nope", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  fixture_teardown (f);
}

/* The events log read in pieces is the log read whole; past its end a read
 * is empty; the size and time agree with the whole read. */
static void
test_events_ranges (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GBytes) whole = NULL;
  g_autoptr (GByteArray) pieces = g_byte_array_new ();
  g_autoptr (GBytes) past = NULL;
  gint64 whole_us = 0;
  gint64 size_us = 0;
  guint64 size = 0;
  guint64 total = 0;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  for (int i = 0; i < 20; i++)
    {
      g_autofree char *file = g_strdup_printf ("e%02d.txt", i);
      g_autofree char *text = g_strdup_printf ("event number %d", i);

      submit_ok (f, file, text);
    }
  whole = vf_jobs_events_read (f->jobs, 0, G_MAXSIZE, NULL, &whole_us);
  g_assert_cmpuint (count_lines_with (whole, "\"submitted\""), ==, 20);
  size = vf_jobs_events_size (f->jobs, &size_us);
  g_assert_cmpuint (size, ==, g_bytes_get_size (whole));
  g_assert_cmpint (size_us, ==, whole_us);

  for (guint64 offset = 0;;)
    {
      g_autoptr (GBytes) piece = vf_jobs_events_read (f->jobs, offset, 333, &total, NULL);
      gsize n = g_bytes_get_size (piece);

      g_assert_cmpuint (total, ==, size);
      g_assert_cmpuint (n, <=, 333);
      if (n == 0)
        break;
      g_byte_array_append (pieces, g_bytes_get_data (piece, NULL), n);
      offset += n;
    }
  g_assert_cmpmem (pieces->data, pieces->len, g_bytes_get_data (whole, NULL),
                   g_bytes_get_size (whole));
  past = vf_jobs_events_read (f->jobs, size + 10, 100, NULL, NULL);
  g_assert_cmpuint (g_bytes_get_size (past), ==, 0);
  fixture_teardown (f);
}

static guint64
inode_of (const char *path)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_ino;
}

/* A table whose compacted journal alone is bigger than the compaction
 * threshold: saving prompts appends to the journal and does not rewrite it
 * each time (a rewrite replaces the file: a new inode). */
static void
test_big_journal_compaction (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJournal) journal = NULL;
  g_autofree char *path = NULL;
  g_autofree char *padding = g_strnfill (600, 'p');
  g_autoptr (GPtrArray) names = NULL;
  guint rewrites = 0;
  guint64 inode;

  fixture_setup (f, fast_args);
  g_assert_cmpint (g_mkdir_with_parents (f->state_dir, 0700), ==, 0);
  path = g_build_filename (f->state_dir, "journal", NULL);
  journal = vf_journal_open (path, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 1200; i++)
    {
      g_autofree char *name = g_strdup_printf ("old%04d", i);
      g_autofree char *file = g_strconcat (name, ".txt", NULL);
      g_autoptr (json_t) record = json_pack (
          "{s:s, s:s, s:s, s:s, s:s, s:s}", "op", "job", "name", name, "prompt_file", file, "phase",
          "rejected", "reason", "invalid_prompt: test", "prompt_data", padding);

      g_assert_true (vf_journal_append (journal, record, FALSE, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpuint (vf_journal_size (journal), >, 512 * 1024);
  g_clear_pointer (&journal, vf_journal_close);

  fixture_open (f, 0.1, FALSE, FALSE);
  names = vf_jobs_names (f->jobs);
  g_assert_cmpuint (names->len, ==, 1200);
  inode = inode_of (path);
  for (int i = 0; i < 10; i++)
    {
      g_autofree char *file = g_strdup_printf ("new%d.txt", i);
      guint64 now;

      submit_ok (f, file, "a new one");
      now = inode_of (path);
      if (now != inode)
        rewrites++;
      inode = now;
    }
  g_assert_cmpuint (rewrites, ==, 0);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 10);

  /* All of it is there after a remount. */
  g_clear_pointer (&f->jobs, vf_jobs_close);
  fixture_open (f, 0.1, FALSE, FALSE);
  g_clear_pointer (&names, g_ptr_array_unref);
  names = vf_jobs_names (f->jobs);
  g_assert_cmpuint (names->len, ==, 1210);
  fixture_teardown (f);
}

/* A name that is not UTF-8 cannot be journaled whole: the submission fails
 * before anything is sent, instead of a job billed and then forgotten. */
static void
test_name_not_utf8 (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJobInfo) info = NULL;
  const char *file = "caf\xe9.txt";

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  g_assert_false (vf_jobs_submit (f->jobs, file, "x\n", 2, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpint (vf_error_to_errno (error), ==, EINVAL);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 0);
  info = vf_jobs_get (f->jobs, "caf\xe9");
  g_assert_nonnull (info);
  g_assert_true (g_str_has_prefix (info->status, "rejected journal_error: "));
  g_assert_false (vf_jobs_is_submitted (f->jobs, file));
  fixture_teardown (f);
}

/* A name with a control character would forge a line of `status` or
 * `events`: it never enters the table, by a save or by a rename. */
static void
test_name_with_control (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) names = NULL;
  g_autoptr (GBytes) status = NULL;
  const char *forged = "a\nfake  completed  100%  video_fake";
  g_autofree char *file = g_strconcat (forged, ".txt", NULL);

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  g_assert_false (vf_jobs_submit (f->jobs, file, "x\n", 2, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpint (vf_error_to_errno (error), ==, EINVAL);
  g_clear_error (&error);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 0);
  g_assert_null (vf_jobs_get (f->jobs, forged));

  submit_ok (f, "good.txt", "a good prompt");
  g_assert_false (vf_jobs_rename (f->jobs, "good", forged, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (vf_jobs_rename (f->jobs, "good", "del\x7f", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  names = vf_jobs_names (f->jobs);
  g_assert_cmpuint (names->len, ==, 1);
  g_assert_cmpstr (names->pdata[0], ==, "good");
  status = vf_jobs_status_table (f->jobs, NULL);
  g_assert_cmpuint (count_lines_with (status, ""), ==, 3); /* header, good, the end */
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  fixture_teardown (f);
}

/* A job whose record cannot be made (its name is not UTF-8) is not kept,
 * and does not stop the journal from being compacted: the others are kept. */
static void
test_compaction_skips_what_cannot_be_kept (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) names = NULL;
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  gsize len;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  submit_ok (f, "kept.txt", "a kept prompt");
  g_assert_false (vf_jobs_submit (f->jobs, "caf\xe9.txt", "x\n", 2, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_pointer (&f->jobs, vf_jobs_close);

  /* Closing compacted it: one whole-job record, no intent left. */
  path = g_build_filename (f->state_dir, "journal", NULL);
  g_assert_true (g_file_get_contents (path, &text, &len, NULL));
  g_assert_null (memmem (text, len, "\"intent\"", 8));
  g_assert_nonnull (memmem (text, len, "\"kept\"", 6));
  fixture_open (f, 0.1, FALSE, FALSE);
  names = vf_jobs_names (f->jobs);
  g_assert_cmpuint (names->len, ==, 1);
  g_assert_cmpstr (names->pdata[0], ==, "kept");
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  fixture_teardown (f);
}

/* A prompt of zero bytes is refused, and kept as it was given: zero bytes,
 * not none, in memory, in the compacted journal and after a reopen. */
static void
test_empty_prompt_kept_across_reopen (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) kept = NULL;
  g_autoptr (GBytes) reloaded = NULL;
  g_autoptr (VfJobInfo) info = NULL;
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  gsize len;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  g_assert_false (vf_jobs_submit (f->jobs, "e.txt", "", 0, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  kept = vf_jobs_get_prompt (f->jobs, "e.txt");
  g_assert_nonnull (kept);
  g_assert_cmpuint (g_bytes_get_size (kept), ==, 0);
  g_clear_pointer (&f->jobs, vf_jobs_close);

  path = g_build_filename (f->state_dir, "journal", NULL);
  g_assert_true (g_file_get_contents (path, &text, &len, NULL));
  g_assert_nonnull (memmem (text, len, "\"prompt_data\":\"\"", 16));
  fixture_open (f, 0.1, FALSE, FALSE);
  info = vf_jobs_get (f->jobs, "e");
  g_assert_nonnull (info);
  g_assert_cmpint (info->phase, ==, VF_JOB_REJECTED);
  g_assert_cmpstr (info->error, ==, "invalid_prompt: the prompt is empty\n");
  reloaded = vf_jobs_get_prompt (f->jobs, "e.txt");
  g_assert_nonnull (reloaded);
  g_assert_cmpuint (g_bytes_get_size (reloaded), ==, 0);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 0);
  fixture_teardown (f);
}

/* ----- a kill between the intent and the create ----- */

static void
collect_record (json_t *record, gpointer user_data)
{
  g_ptr_array_add (user_data, json_incref (record));
}

/* The journal's records as they were appended: read from a copy, so that
 * the table keeps the file. */
static GPtrArray *
journal_records (Fixture *f)
{
  GPtrArray *records = g_ptr_array_new_with_free_func ((GDestroyNotify)json_decref);
  g_autofree char *path = g_build_filename (f->state_dir, "journal", NULL);
  g_autofree char *copy = g_build_filename (f->dir, "journal-copy", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJournal) journal = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (path, &text, &len, &error));
  g_assert_true (g_file_set_contents (copy, text, len, &error));
  journal = vf_journal_open (copy, collect_record, records, NULL, &error);
  g_assert_no_error (error);
  return records;
}

static const char *
op_of (GPtrArray *records, guint i)
{
  return json_string_value (json_object_get (records->pdata[i], "op"));
}

/* The table closed, its journal is the records up to and including the
 * first one of `op`, as a kill just after that record would leave it. */
static void
journal_cut_after (Fixture *f, GPtrArray *records, const char *op)
{
  g_autoptr (GPtrArray) kept = g_ptr_array_new ();
  g_autofree char *path = g_build_filename (f->state_dir, "journal", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJournal) journal = NULL;
  guint i;

  for (i = 0; i < records->len; i++)
    {
      g_ptr_array_add (kept, records->pdata[i]);
      if (g_strcmp0 (op_of (records, i), op) == 0)
        break;
    }
  g_assert_cmpuint (i, <, records->len);
  g_clear_pointer (&f->jobs, vf_jobs_close);
  journal = vf_journal_open (path, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vf_journal_rewrite (journal, kept, &error));
  g_assert_no_error (error);
}

/* The records of one save, in order: the intent, the mark that it is being
 * sent (synced before the create leaves), the id. */
static void
test_save_records (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GPtrArray) records = NULL;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  submit_ok (f, "s.txt", "three records");
  records = journal_records (f);
  g_assert_cmpuint (records->len, ==, 3);
  g_assert_cmpstr (op_of (records, 0), ==, "intent");
  g_assert_cmpstr (op_of (records, 1), ==, "sending");
  g_assert_cmpstr (op_of (records, 2), ==, "created");
  fixture_teardown (f);
}

static gboolean
lists_above (Fixture *f, gconstpointer data)
{
  return sim_requests (f->sim, "list") > GPOINTER_TO_INT (data);
}

/* An intent with no mark after it: the kill came before the create was
 * handed to the network.  The job says it was never sent, is never sent
 * again on its own and never looked for; saving the prompt again sends it,
 * once. */
static void
test_intent_without_mark_was_never_sent (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) sent = NULL;
  g_autoptr (VfJobInfo) again = NULL;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  submit_ok (f, "n.txt", "never sent");
  records = journal_records (f);
  journal_cut_after (f, records, "intent");
  sim_reset_stats (f->sim);

  fixture_open (f, 0.1, FALSE, TRUE);
  info = vf_jobs_get (f->jobs, "n");
  g_assert_nonnull (info);
  g_assert_cmpint (info->phase, ==, VF_JOB_REJECTED);
  g_assert_cmpstr (info->status, ==,
                   "rejected not_sent: videofs stopped before the request was sent; save the "
                   "prompt file again to send it\n");
  g_assert_cmpstr (info->error, ==,
                   "not_sent: videofs stopped before the request was sent; save the prompt "
                   "file again to send it\n");
  g_assert_null (info->id);
  g_assert_false (vf_jobs_is_submitted (f->jobs, "n.txt"));
  /* Nothing is sent or looked for on its own, over ten poll intervals. */
  g_assert_false (wait_for (lists_above, f, GINT_TO_POINTER (0), 1.0));
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 0);

  submit_ok (f, "n.txt", "never sent");
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  sent = vf_jobs_get (f->jobs, "n");
  g_assert_cmpint (sent->phase, ==, VF_JOB_LIVE);

  /* and it stays sent, once, across a remount */
  g_clear_pointer (&f->jobs, vf_jobs_close);
  fixture_open (f, 0.1, FALSE, FALSE);
  again = vf_jobs_get (f->jobs, "n");
  g_assert_cmpint (again->phase, ==, VF_JOB_LIVE);
  g_assert_cmpstr (again->id, ==, sent->id);
  g_assert_true (vf_jobs_is_submitted (f->jobs, "n.txt"));
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  fixture_teardown (f);
}

/* An intent and its mark, no answer: the create may have left.  The job is
 * unknown, the user cannot send it again, and it is adopted from the list. */
static void
test_intent_with_mark_is_unknown_and_adopted (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (VfJobInfo) made = NULL;
  g_autoptr (VfJobInfo) info = NULL;
  g_autoptr (VfJobInfo) adopted = NULL;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, FALSE);
  submit_ok (f, "m.txt", "maybe sent");
  made = vf_jobs_get (f->jobs, "m");
  records = journal_records (f);
  journal_cut_after (f, records, "sending");

  fixture_open (f, 0.1, FALSE, FALSE);
  info = vf_jobs_get (f->jobs, "m");
  g_assert_cmpint (info->phase, ==, VF_JOB_UNKNOWN);
  g_assert_cmpstr (info->status, ==,
                   "unknown (the request was sent but no answer came; looking for it)\n");
  g_assert_cmpstr (info->error, ==,
                   "the request was sent but no answer came (videofs stopped while it was being "
                   "sent, before an answer came); looking for it in the API's list of jobs\n");
  g_assert_true (vf_jobs_is_submitted (f->jobs, "m.txt"));
  g_assert_false (vf_jobs_submit (f->jobs, "m.txt", "maybe sent", 10, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_CONFLICT);

  vf_jobs_start (f->jobs);
  g_assert_true (wait_for (phase_is_live, f, "m", 10));
  adopted = vf_jobs_get (f->jobs, "m");
  g_assert_cmpstr (adopted->id, ==, made->id);
  g_assert_cmpint (sim_requests (f->sim, "list"), >=, 1);
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  fixture_teardown (f);
}

/* While an unknown job waits and listings find nothing new, adoption lists
 * less and less often (doubling from the poll interval); a new unknown job
 * has it look again at once. */
static void
test_adoption_backs_off (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  double wait_s = 3 * time_scale ();
  gint64 lists;
  gint64 most;

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);
  sim_fault (f->sim, "5xx:call=create,count=1,status=502");
  g_assert_false (vf_jobs_submit (f->jobs, "w1.txt", "waits", 5, &error));
  g_assert_cmpint (vf_error_to_errno (error), ==, EIO);
  g_clear_error (&error);
  g_assert_cmpint (sim_counter (f->sim, "jobs"), ==, 0);

  /* At one listing per poll that would be wait_s / 0.1 (30 in 3 s); waits
   * doubling from 0.1 s fit about log2 (wait_s / 0.1 + 1) listings (7 at
   * most in 3 s, with the first and one on its way). */
  g_usleep ((gulong)(wait_s * G_USEC_PER_SEC));
  lists = sim_requests (f->sim, "list");
  most = (gint64)floor (log2 (wait_s / 0.1 + 1)) + 3;
  g_test_message ("%" G_GINT64_FORMAT " lists in %.0f s, polling every 0.1 s", lists, wait_s);
  g_assert_cmpint (lists, >=, 3);
  g_assert_cmpint (lists, <=, most);

  sim_fault (f->sim, "5xx:call=create,count=1,status=502");
  g_assert_false (vf_jobs_submit (f->jobs, "w2.txt", "waits too", 9, &error));
  g_assert_true (wait_for (lists_above, f, GINT_TO_POINTER ((int)lists), 0.5));
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 2);
  fixture_teardown (f);
}

static gboolean
ark_listed (Fixture *f, gconstpointer data)
{
  return sim_requests (f->sim, "ark_list") > 0;
}

/* Unknown jobs of both APIs wait: each API is listed on its own schedule,
 * so the one listed first does not keep the other from being listed. */
static void
test_adoption_per_protocol (void)
{
  Fixture fx, *f = &fx;
  g_autoptr (GError) error = NULL;
  const char *ark = "---\nmodel: doubao-seedance-1-0-pro-250528\n---\nlost on ark\n";

  fixture_setup (f, fast_args);
  fixture_open (f, 0.1, FALSE, TRUE);
  sim_fault (f->sim, "5xx:call=create,count=1,status=502");
  g_assert_false (vf_jobs_submit (f->jobs, "w.txt", "waits", 5, &error));
  g_clear_error (&error);
  g_assert_true (wait_for (lists_above, f, GINT_TO_POINTER (0), 5));
  sim_fault (f->sim, "5xx:call=ark_create,count=1,status=502");
  g_assert_false (vf_jobs_submit (f->jobs, "a.txt", ark, strlen (ark), &error));
  g_assert_cmpint (vf_error_to_errno (error), ==, EIO);
  g_assert_true (wait_for (ark_listed, f, NULL, 2));
  g_assert_cmpint (sim_requests (f->sim, "create"), ==, 1);
  g_assert_cmpint (sim_requests (f->sim, "ark_create"), ==, 1);
  fixture_teardown (f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/table/rename-onto-itself", test_rename_onto_itself);
  g_test_add_func ("/table/events-ranges", test_events_ranges);
  g_test_add_func ("/table/big-journal-compaction", test_big_journal_compaction);
  g_test_add_func ("/table/name-not-utf8", test_name_not_utf8);
  g_test_add_func ("/table/name-with-control", test_name_with_control);
  g_test_add_func ("/table/compaction-skips-what-cannot-be-kept",
                   test_compaction_skips_what_cannot_be_kept);
  g_test_add_func ("/table/empty-prompt-kept-across-reopen", test_empty_prompt_kept_across_reopen);
  g_test_add_func ("/table/save-records", test_save_records);
  g_test_add_func ("/table/intent-without-mark-was-never-sent",
                   test_intent_without_mark_was_never_sent);
  g_test_add_func ("/table/intent-with-mark-is-unknown-and-adopted",
                   test_intent_with_mark_is_unknown_and_adopted);
  g_test_add_func ("/table/adoption-backs-off", test_adoption_backs_off);
  g_test_add_func ("/table/adoption-per-protocol", test_adoption_per_protocol);
  return g_test_run ();
}
