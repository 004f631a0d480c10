/* fuzz-journal.c: the journal file as a crash or a disk may leave it.
 *
 * Input: the bytes of STATE_DIR/journal.  Opening either refuses the file
 * as not a journal or loads the records up to the first torn one and cuts
 * the rest: then what is kept plus what was dropped is the whole file,
 * an append after it is intact, and a reopen loads the same records and
 * the appended one with nothing dropped; a rewrite of them loads the same.
 */
#include <gio/gio.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "vf-journal.h"

static char *path;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  path = g_build_filename (fuzz_dir (), "journal", NULL);
  return 0;
}

static void
collect (json_t *record, gpointer user_data)
{
  fuzz_assert (json_is_object (record));
  g_ptr_array_add (user_data, json_incref (record));
}

static GPtrArray *
records_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify)json_decref);
}

static void
assert_same (GPtrArray *a, GPtrArray *b)
{
  if (a->len != b->len)
    fuzz_fail ("%u records, then %u", a->len, b->len);
  for (guint i = 0; i < a->len; i++)
    if (!json_equal (a->pdata[i], b->pdata[i]))
      fuzz_fail ("record %u differs after a reopen", i);
}

/* Opens the journal that must load whole; returns its records. */
static GPtrArray *
reopen (VfJournal **journal)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *records = records_new ();
  gsize dropped = 1;

  *journal = vf_journal_open (path, collect, records, &dropped, &error);
  if (!*journal)
    fuzz_fail ("reopen: %s", error->message);
  fuzz_assert (dropped == 0);
  return records;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GPtrArray) first = records_new ();
  g_autoptr (GPtrArray) second = NULL;
  g_autoptr (GPtrArray) third = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (json_t) extra = json_pack ("{s:s, s:i}", "op", "fuzz", "n", (json_int_t)size);
  VfJournal *journal;
  gsize dropped = G_MAXSIZE;
  struct stat st;

  fuzz_write_file (path, data, size);
  journal = vf_journal_open (path, collect, first, &dropped, &error);
  if (!journal)
    {
      fuzz_assert (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA));
      fuzz_assert (first->len == 0);
      return 0;
    }
  fuzz_assert (stat (path, &st) == 0);
  fuzz_assert ((gsize)st.st_size == vf_journal_size (journal));
  fuzz_assert (dropped <= size);
  if (vf_journal_size (journal) + dropped != size)
    /* only an empty or torn header is written anew */
    fuzz_assert (size - dropped == 0);
  else
    {
      /* what is kept is the file's own prefix, untouched */
      g_autofree char *kept = NULL;
      gsize kept_len = 0;

      fuzz_assert (g_file_get_contents (path, &kept, &kept_len, NULL));
      fuzz_assert (kept_len == size - dropped && memcmp (kept, data, kept_len) == 0);
    }

  if (!vf_journal_append (journal, extra, FALSE, &error))
    fuzz_fail ("append: %s", error->message);
  vf_journal_close (journal);

  second = reopen (&journal);
  fuzz_assert (second->len == first->len + 1);
  fuzz_assert (json_equal (second->pdata[first->len], extra));
  g_ptr_array_remove_index (second, first->len);
  assert_same (first, second);

  g_ptr_array_add (second, json_incref (extra));
  if (!vf_journal_rewrite (journal, second, &error))
    fuzz_fail ("rewrite: %s", error->message);
  vf_journal_close (journal);

  third = reopen (&journal);
  assert_same (second, third);
  vf_journal_close (journal);
  return 0;
}
