/* test-journal.c: the record log and the state-dir lock. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "vf-journal.h"

#define HEADER "videofs-journal 1\n"
#define HEADER_LEN (sizeof HEADER - 1)

/* A bitwise CRC-32 (zlib's), independent of the table-driven one. */
static guint32
ref_crc32 (const void *data, gsize len)
{
  const guint8 *p = data;
  guint32 c = 0xffffffffu;

  for (gsize i = 0; i < len; i++)
    {
      c ^= p[i];
      for (int k = 0; k < 8; k++)
        c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
  return ~c;
}

static void
append_frame (GByteArray *buf, const char *payload, gsize len, guint32 crc, char last)
{
  guint8 head[8] = {
    len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, (len >> 24) & 0xff,
    crc & 0xff, (crc >> 8) & 0xff, (crc >> 16) & 0xff, (crc >> 24) & 0xff,
  };
  g_byte_array_append (buf, head, 8);
  g_byte_array_append (buf, (const guint8 *)payload, len);
  g_byte_array_append (buf, (const guint8 *)&last, 1);
}

typedef struct
{
  char *dir;
  char *path;
} Fixture;

static void
rm_rf (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir)
    {
      while ((name = g_dir_read_name (dir)))
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          rm_rf (child);
        }
      g_dir_close (dir);
      g_assert_cmpint (rmdir (path), ==, 0);
    }
  else
    g_assert_cmpint (unlink (path), ==, 0);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  f->dir = g_dir_make_tmp ("test-journal-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "journal", NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  chmod (f->dir, 0700);
  rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

static void
collect (json_t *record, gpointer user_data)
{
  g_ptr_array_add (user_data, json_incref (record));
}

static GPtrArray *
new_records (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify)json_decref);
}

/* Opens path, expecting success; returns the records loaded. */
static GPtrArray *
load (const char *path, gsize *n_dropped)
{
  GError *error = NULL;
  GPtrArray *records = new_records ();
  VfJournal *j = vf_journal_open (path, collect, records, n_dropped, &error);

  g_assert_no_error (error);
  g_assert_nonnull (j);
  vf_journal_close (j);
  return records;
}

static json_t *
record_n (int i)
{
  return json_pack ("{s:i, s:s, s:[i,s]}", "n", i, "name", "caf\xc3\xa9 \"q\"\n", "list", i * 7,
                    "x");
}

static gsize
file_size (const char *path)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_size;
}

static GBytes *
file_bytes (const char *path)
{
  GError *error = NULL;
  char *data;
  gsize len;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

static void
write_file (const char *path, const void *data, gsize len)
{
  GError *error = NULL;

  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
}

/* Writes n records; returns the file offsets where each record ends. */
static GArray *
make_journal (const char *path, int n)
{
  GError *error = NULL;
  GArray *ends = g_array_new (FALSE, FALSE, sizeof (gsize));
  VfJournal *j = vf_journal_open (path, NULL, NULL, NULL, &error);

  g_assert_no_error (error);
  for (int i = 0; i < n; i++)
    {
      json_t *r = record_n (i);
      gsize end;

      g_assert_true (vf_journal_append (j, r, i % 2 == 0, &error));
      g_assert_no_error (error);
      json_decref (r);
      end = vf_journal_size (j);
      g_array_append_val (ends, end);
    }
  vf_journal_close (j);
  return ends;
}

static void
assert_records (GPtrArray *records, int n)
{
  g_assert_cmpuint (records->len, ==, n);
  for (int i = 0; i < n; i++)
    {
      json_t *expected = record_n (i);
      g_assert_true (json_equal (records->pdata[i], expected));
      json_decref (expected);
    }
}

static void
test_crc_reference (void)
{
  /* The check value of CRC-32/ISO-HDLC, as zlib computes it. */
  g_assert_cmphex (ref_crc32 ("123456789", 9), ==, 0xcbf43926u);
}

static void
test_new_file (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  gsize dropped = 99;
  g_autoptr (GPtrArray) records = new_records ();
  g_autoptr (VfJournal) j = vf_journal_open (f->path, collect, records, &dropped, &error);
  g_autoptr (GBytes) bytes = NULL;
  struct stat st;

  g_assert_no_error (error);
  g_assert_cmpuint (dropped, ==, 0);
  g_assert_cmpuint (records->len, ==, 0);
  g_assert_cmpuint (vf_journal_size (j), ==, HEADER_LEN);
  bytes = file_bytes (f->path);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), HEADER, HEADER_LEN);
  g_assert_cmpint (stat (f->path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
}

static void
test_frame_bytes (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (VfJournal) j = vf_journal_open (f->path, NULL, NULL, NULL, &error);
  g_autoptr (GByteArray) expected = g_byte_array_new ();
  g_autoptr (GBytes) bytes = NULL;
  json_t *r = json_pack ("{s:i, s:s}", "a", 1, "b", "\xe2\x82\xac");
  const char *payload = "{\"a\":1,\"b\":\"\xe2\x82\xac\"}";

  g_assert_no_error (error);
  g_assert_true (vf_journal_append (j, r, TRUE, &error));
  g_assert_no_error (error);
  json_decref (r);

  g_byte_array_append (expected, (const guint8 *)HEADER, HEADER_LEN);
  append_frame (expected, payload, strlen (payload), ref_crc32 (payload, strlen (payload)), '\n');
  bytes = file_bytes (f->path);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), expected->data,
                   expected->len);
  g_assert_cmpuint (vf_journal_size (j), ==, expected->len);
}

static void
test_append_reload (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) ends = make_journal (f->path, 100);
  g_autoptr (GPtrArray) records = NULL;
  GError *error = NULL;
  gsize dropped = 99;
  json_t *r;

  g_assert_cmpuint (g_array_index (ends, gsize, 99), ==, file_size (f->path));
  records = load (f->path, &dropped);
  g_assert_cmpuint (dropped, ==, 0);
  assert_records (records, 100);
  g_clear_pointer (&records, g_ptr_array_unref);

  /* Appending after a reload continues the same file. */
  {
    g_autoptr (VfJournal) j = vf_journal_open (f->path, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (vf_journal_size (j), ==, g_array_index (ends, gsize, 99));
    r = record_n (100);
    g_assert_true (vf_journal_append (j, r, FALSE, &error));
    g_assert_no_error (error);
    json_decref (r);
    g_assert_cmpuint (vf_journal_size (j), ==, file_size (f->path));
  }
  records = load (f->path, &dropped);
  g_assert_cmpuint (dropped, ==, 0);
  assert_records (records, 101);
}

/* Every length of a torn last record: the others load, the tail goes. */
static void
test_torn_tail (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) ends = make_journal (f->path, 3);
  g_autoptr (GBytes) whole = file_bytes (f->path);
  g_autofree char *copy = g_build_filename (f->dir, "copy", NULL);
  const guint8 *bytes = g_bytes_get_data (whole, NULL);
  gsize good = g_array_index (ends, gsize, 1);
  gsize full = g_array_index (ends, gsize, 2);
  guint tried = 0;

  g_assert_cmpuint (full, ==, g_bytes_get_size (whole));
  for (gsize len = good; len < full; len++)
    {
      g_autoptr (GPtrArray) records = NULL;
      GError *error = NULL;
      gsize dropped = 99;
      json_t *r;

      write_file (copy, bytes, len);
      records = load (copy, &dropped);
      assert_records (records, 2);
      g_assert_cmpuint (dropped, ==, len - good);
      g_assert_cmpuint (file_size (copy), ==, good);

      /* The next append lands right after the intact records. */
      {
        g_autoptr (VfJournal) j = vf_journal_open (copy, NULL, NULL, NULL, &error);
        g_assert_no_error (error);
        r = record_n (2);
        g_assert_true (vf_journal_append (j, r, TRUE, &error));
        g_assert_no_error (error);
        json_decref (r);
      }
      g_clear_pointer (&records, g_ptr_array_unref);
      records = load (copy, &dropped);
      g_assert_cmpuint (dropped, ==, 0);
      assert_records (records, 3);
      tried++;
    }
  g_assert_cmpuint (tried, ==, full - good);
  g_assert_cmpuint (tried, >, 20);
}

static void
test_torn_header (Fixture *f, gconstpointer data)
{
  guint8 zeros[4096] = { 0 };

  for (gsize len = 1; len < HEADER_LEN; len++)
    {
      g_autoptr (GPtrArray) records = NULL;
      gsize dropped = 0;

      write_file (f->path, HEADER, len);
      records = load (f->path, &dropped);
      g_assert_cmpuint (records->len, ==, 0);
      g_assert_cmpuint (dropped, ==, len);
      g_assert_cmpuint (file_size (f->path), ==, HEADER_LEN);
    }

  /* What some file systems show of a file whose data never reached disk. */
  {
    g_autoptr (GPtrArray) records = NULL;
    gsize dropped = 0;

    write_file (f->path, zeros, sizeof zeros);
    records = load (f->path, &dropped);
    g_assert_cmpuint (records->len, ==, 0);
    g_assert_cmpuint (dropped, ==, sizeof zeros);
    g_assert_cmpuint (file_size (f->path), ==, HEADER_LEN);
  }
}

static void
test_zero_tail (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) ends G_GNUC_UNUSED = make_journal (f->path, 2);
  g_autoptr (GBytes) whole = file_bytes (f->path);
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_autoptr (GPtrArray) records = NULL;
  guint8 zeros[100] = { 0 };
  gsize dropped = 0;

  g_byte_array_append (buf, g_bytes_get_data (whole, NULL), g_bytes_get_size (whole));
  g_byte_array_append (buf, zeros, sizeof zeros);
  write_file (f->path, buf->data, buf->len);
  records = load (f->path, &dropped);
  assert_records (records, 2);
  g_assert_cmpuint (dropped, ==, sizeof zeros);
}

static void
check_corruption (Fixture *f, gsize at)
{
  g_autoptr (GArray) ends = NULL;
  g_autoptr (GBytes) whole = NULL;
  g_autoptr (GPtrArray) records = NULL;
  guint8 *bytes;
  gsize end0;
  gsize dropped = 0;

  unlink (f->path);
  ends = make_journal (f->path, 4);
  whole = file_bytes (f->path);
  bytes = g_memdup2 (g_bytes_get_data (whole, NULL), g_bytes_get_size (whole));
  end0 = g_array_index (ends, gsize, 0);

  g_assert_cmpuint (g_array_index (ends, gsize, 3), ==, g_bytes_get_size (whole));
  bytes[end0 + at] ^= 0x01;
  write_file (f->path, bytes, g_bytes_get_size (whole));
  g_free (bytes);
  records = load (f->path, &dropped);
  assert_records (records, 1);
  g_assert_cmpuint (dropped, ==, g_bytes_get_size (whole) - end0);
  g_assert_cmpuint (file_size (f->path), ==, end0);
}

static void
test_bad_crc_middle (Fixture *f, gconstpointer data)
{
  /* A flipped bit in the second record's payload, then in its CRC field. */
  check_corruption (f, 12);
  check_corruption (f, 5);
}

static void
test_bad_length_middle (Fixture *f, gconstpointer data)
{
  check_corruption (f, 0);
}

static void
test_bad_frames (Fixture *f, gconstpointer data)
{
  static const struct
  {
    const char *payload;
    char last;
  } cases[] = {
    { "[1]", '\n' },          /* JSON, not an object */
    { "{\"a\":", '\n' },      /* not JSON */
    { "{\"a\":1} {}", '\n' }, /* trailing data */
    { "{\"a\":1}", 'x' },     /* no record end */
    { "", '\n' },             /* empty */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GByteArray) buf = g_byte_array_new ();
      g_autoptr (GPtrArray) records = NULL;
      const char *good = "{\"ok\":true}";
      const char *p = cases[i].payload;
      gsize dropped = 0;
      gsize keep;

      g_byte_array_append (buf, (const guint8 *)HEADER, HEADER_LEN);
      append_frame (buf, good, strlen (good), ref_crc32 (good, strlen (good)), '\n');
      keep = buf->len;
      append_frame (buf, p, strlen (p), ref_crc32 (p, strlen (p)), cases[i].last);
      append_frame (buf, good, strlen (good), ref_crc32 (good, strlen (good)), '\n');
      write_file (f->path, buf->data, buf->len);

      records = load (f->path, &dropped);
      g_assert_cmpuint (records->len, ==, 1);
      g_assert_true (json_is_true (json_object_get (records->pdata[0], "ok")));
      g_assert_cmpuint (dropped, ==, buf->len - keep);
      g_assert_cmpuint (file_size (f->path), ==, keep);
    }
}

static void
test_not_a_journal (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  VfJournal *j;
  g_autoptr (GBytes) bytes = NULL;
  const char *text = "hello world, this is not a journal\n";

  write_file (f->path, text, strlen (text));
  j = vf_journal_open (f->path, NULL, NULL, NULL, &error);
  g_assert_null (j);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, f->path));
  g_clear_error (&error);
  bytes = file_bytes (f->path);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), text, strlen (text));
}

static void
test_open_error (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "missing", "journal", NULL);
  VfJournal *j = vf_journal_open (path, NULL, NULL, NULL, &error);

  g_assert_null (j);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
}

static void
test_append_not_object (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (VfJournal) j = vf_journal_open (f->path, NULL, NULL, NULL, &error);
  json_t *r = json_pack ("[i]", 1);

  g_assert_no_error (error);
  g_assert_false (vf_journal_append (j, r, TRUE, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  json_decref (r);
  g_assert_cmpuint (vf_journal_size (j), ==, HEADER_LEN);
  g_assert_cmpuint (file_size (f->path), ==, HEADER_LEN);
}

/* Regular-file writes past `limit` fail with EFBIG (SIGXFSZ is ignored). */
static void
limit_file_size (gsize limit, struct rlimit *saved)
{
  struct rlimit rl;

  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, saved), ==, 0);
  rl = *saved;
  rl.rlim_cur = limit;
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &rl), ==, 0);
}

static void
restore_file_size (const struct rlimit *saved)
{
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, saved), ==, 0);
}

/* A write that stops half-way leaves no half record behind. */
static void
test_append_failure (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) ends = make_journal (f->path, 2);
  g_autoptr (GPtrArray) records = NULL;
  GError *error = NULL;
  struct rlimit saved;
  gsize size = g_array_index (ends, gsize, 1);
  gsize dropped = 99;
  json_t *r;

  {
    g_autoptr (VfJournal) j = vf_journal_open (f->path, NULL, NULL, NULL, &error);
    g_assert_no_error (error);

    r = record_n (2);
    limit_file_size (size + 5, &saved);
    g_assert_false (vf_journal_append (j, r, TRUE, &error));
    restore_file_size (&saved);
    g_assert_error (error, G_IO_ERROR, (int)g_io_error_from_errno (EFBIG));
    g_assert_nonnull (strstr (error->message, f->path));
    g_assert_nonnull (strstr (error->message, g_strerror (EFBIG)));
    g_clear_error (&error);
    g_assert_cmpuint (vf_journal_size (j), ==, size);
    g_assert_cmpuint (file_size (f->path), ==, size);

    g_assert_true (vf_journal_append (j, r, TRUE, &error));
    g_assert_no_error (error);
    json_decref (r);
  }
  records = load (f->path, &dropped);
  g_assert_cmpuint (dropped, ==, 0);
  assert_records (records, 3);
}

static void
test_rewrite (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) ends = make_journal (f->path, 10);
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (GPtrArray) keep = new_records ();
  g_autofree char *tmp = g_strconcat (f->path, ".tmp", NULL);
  GError *error = NULL;
  gsize dropped = 99;
  struct stat st;
  ino_t old_ino;

  g_assert_cmpint (stat (f->path, &st), ==, 0);
  old_ino = st.st_ino;
  for (int i = 0; i < 3; i++)
    g_ptr_array_add (keep, record_n (i));
  {
    g_autoptr (VfJournal) j = vf_journal_open (f->path, NULL, NULL, NULL, &error);
    json_t *r;

    g_assert_no_error (error);
    g_assert_true (vf_journal_rewrite (j, keep, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (vf_journal_size (j), ==, g_array_index (ends, gsize, 2));
    g_assert_cmpuint (vf_journal_size (j), ==, file_size (f->path));
    g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
    g_assert_cmpint (stat (f->path, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 07777, ==, 0600);
    g_assert_cmpuint (st.st_ino, !=, old_ino);

    /* Appends go to the new file. */
    r = record_n (3);
    g_assert_true (vf_journal_append (j, r, TRUE, &error));
    g_assert_no_error (error);
    json_decref (r);
    g_assert_cmpuint (vf_journal_size (j), ==, g_array_index (ends, gsize, 3));
  }
  records = load (f->path, &dropped);
  g_assert_cmpuint (dropped, ==, 0);
  assert_records (records, 4);

  /* The same bytes as if only those four had ever been appended. */
  {
    g_autofree char *other = g_build_filename (f->dir, "other", NULL);
    g_autoptr (GArray) other_ends G_GNUC_UNUSED = make_journal (other, 4);
    g_autoptr (GBytes) a = file_bytes (f->path);
    g_autoptr (GBytes) b = file_bytes (other);
    g_assert_true (g_bytes_equal (a, b));
  }
}

static void
test_rewrite_empty (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) ends G_GNUC_UNUSED = make_journal (f->path, 5);
  g_autoptr (GPtrArray) none = new_records ();
  g_autoptr (GPtrArray) records = NULL;
  GError *error = NULL;
  gsize dropped = 99;

  {
    g_autoptr (VfJournal) j = vf_journal_open (f->path, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (vf_journal_rewrite (j, none, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (vf_journal_size (j), ==, HEADER_LEN);
  }
  records = load (f->path, &dropped);
  g_assert_cmpuint (records->len, ==, 0);
  g_assert_cmpuint (dropped, ==, 0);
}

/* After a failed rewrite the old file is whole and the journal still works. */
static void
check_rewrite_fails (Fixture *f, VfJournal *j, GBytes *before, int code, const struct rlimit *saved)
{
  g_autoptr (GPtrArray) keep = new_records ();
  GError *error = NULL;
  g_autoptr (GBytes) after = NULL;
  json_t *r;

  g_ptr_array_add (keep, record_n (0));
  g_assert_false (vf_journal_rewrite (j, keep, &error));
  if (saved)
    restore_file_size (saved);
  g_assert_error (error, G_IO_ERROR, code);
  g_assert_nonnull (strstr (error->message, f->path));
  g_clear_error (&error);
  after = file_bytes (f->path);
  g_assert_true (g_bytes_equal (before, after));
  g_assert_cmpuint (vf_journal_size (j), ==, g_bytes_get_size (before));

  r = record_n (3);
  g_assert_true (vf_journal_append (j, r, TRUE, &error));
  g_assert_no_error (error);
  json_decref (r);
}

static void
test_rewrite_tmp_is_dir (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) ends G_GNUC_UNUSED = make_journal (f->path, 3);
  g_autoptr (GBytes) before = file_bytes (f->path);
  g_autofree char *tmp = g_strconcat (f->path, ".tmp", NULL);
  g_autoptr (GPtrArray) records = NULL;
  GError *error = NULL;
  gsize dropped = 99;

  g_assert_cmpint (mkdir (tmp, 0700), ==, 0);
  {
    g_autoptr (VfJournal) j = vf_journal_open (f->path, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    check_rewrite_fails (f, j, before, G_IO_ERROR_IS_DIRECTORY, NULL);
  }
  g_assert_true (g_file_test (tmp, G_FILE_TEST_IS_DIR));
  records = load (f->path, &dropped);
  g_assert_cmpuint (dropped, ==, 0);
  assert_records (records, 4);
}

static void
test_rewrite_write_fails (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) ends G_GNUC_UNUSED = make_journal (f->path, 3);
  g_autoptr (GBytes) before = file_bytes (f->path);
  g_autofree char *tmp = g_strconcat (f->path, ".tmp", NULL);
  g_autoptr (GPtrArray) records = NULL;
  GError *error = NULL;
  struct rlimit saved;
  gsize dropped = 99;

  {
    g_autoptr (VfJournal) j = vf_journal_open (f->path, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    limit_file_size (HEADER_LEN + 4, &saved);
    check_rewrite_fails (f, j, before, (int)g_io_error_from_errno (EFBIG), &saved);
  }
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
  records = load (f->path, &dropped);
  g_assert_cmpuint (dropped, ==, 0);
  assert_records (records, 4);
}

static void
test_rewrite_read_only_dir (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) ends G_GNUC_UNUSED = make_journal (f->path, 3);
  g_autoptr (GBytes) before = file_bytes (f->path);
  GError *error = NULL;

  if (geteuid () == 0)
    {
      g_test_skip ("root ignores directory permissions");
      return;
    }
  {
    g_autoptr (VfJournal) j = vf_journal_open (f->path, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpint (chmod (f->dir, 0500), ==, 0);
    check_rewrite_fails (f, j, before, G_IO_ERROR_PERMISSION_DENIED, NULL);
    g_assert_cmpint (chmod (f->dir, 0700), ==, 0);
  }
}

/* Runs vf_dir_lock in a child; returns its exit status: 0 locked, 1 busy
 * with exactly the expected message, 2 anything else.
 *
 * Under valgrind the child's _exit runs a leak check that does not scan
 * registers: the caller's pointers held in callee-saved registers would be
 * "definitely lost" and the child's status valgrind's error code.  Not
 * inlined, and with __builtin_unwind_init, this function saves every
 * callee-saved register on its stack, where the check finds them. */
G_GNUC_NO_INLINE static int
lock_in_child (const char *dir, GPid holder)
{
  pid_t pid;
  int status;

  __builtin_unwind_init ();
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      GError *error = NULL;
      char *expected = g_strdup_printf ("state dir %s is in use by another videofs (pid %d)", dir,
                                        (int)holder);
      int fd = vf_dir_lock (dir, &error);
      int code;

      if (fd >= 0)
        code = 0;
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BUSY)
               && strcmp (error->message, expected) == 0)
        code = 1;
      else
        {
          g_printerr ("unexpected: %s\n", error->message);
          code = 2;
        }
      /* _exit runs no cleanup */
      g_free (expected);
      g_clear_error (&error);
      _exit (code);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

static void
test_dir_lock (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = g_build_filename (f->dir, "state", "sub", NULL);
  g_autofree char *lock = g_build_filename (dir, "lock", NULL);
  g_autofree char *pid_line = g_strdup_printf ("%d\n", (int)getpid ());
  g_autoptr (GBytes) bytes = NULL;
  GError *error = NULL;
  struct stat st;
  int fd;

  fd = vf_dir_lock (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (stat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  g_assert_cmpint (stat (lock, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  bytes = file_bytes (lock);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), pid_line,
                   strlen (pid_line));

  /* Another process is refused, naming us. */
  g_assert_cmpint (lock_in_child (dir, getpid ()), ==, 1);

  /* So is a second lock from this process: the lock belongs to the open file. */
  {
    g_autofree char *expected = g_strdup_printf (
        "state dir %s is in use by another videofs (pid %d)", dir, (int)getpid ());
    g_assert_cmpint (vf_dir_lock (dir, &error), ==, -1);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
    g_assert_cmpstr (error->message, ==, expected);
    g_clear_error (&error);
  }

  /* Released with the fd. */
  g_assert_cmpint (close (fd), ==, 0);
  g_assert_cmpint (lock_in_child (dir, getpid ()), ==, 0);
  fd = vf_dir_lock (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
}

static void
test_dir_lock_error (Fixture *f, gconstpointer data)
{
  g_autofree char *file = g_build_filename (f->dir, "plain", NULL);
  g_autofree char *dir = g_build_filename (file, "state", NULL);
  GError *error = NULL;

  write_file (file, "x", 1);
  g_assert_cmpint (vf_dir_lock (dir, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
  g_assert_nonnull (strstr (error->message, dir));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  signal (SIGXFSZ, SIG_IGN);

  g_test_add_func ("/journal/crc-reference", test_crc_reference);
#define ADD(name, fn)                                                                              \
  g_test_add ("/journal/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("new-file", test_new_file);
  ADD ("frame-bytes", test_frame_bytes);
  ADD ("append-reload", test_append_reload);
  ADD ("torn-tail", test_torn_tail);
  ADD ("torn-header", test_torn_header);
  ADD ("zero-tail", test_zero_tail);
  ADD ("bad-crc-middle", test_bad_crc_middle);
  ADD ("bad-length-middle", test_bad_length_middle);
  ADD ("bad-frames", test_bad_frames);
  ADD ("not-a-journal", test_not_a_journal);
  ADD ("open-error", test_open_error);
  ADD ("append-not-object", test_append_not_object);
  ADD ("append-failure", test_append_failure);
  ADD ("rewrite", test_rewrite);
  ADD ("rewrite-empty", test_rewrite_empty);
  ADD ("rewrite-tmp-is-dir", test_rewrite_tmp_is_dir);
  ADD ("rewrite-write-fails", test_rewrite_write_fails);
  ADD ("rewrite-read-only-dir", test_rewrite_read_only_dir);
  ADD ("dir-lock", test_dir_lock);
  ADD ("dir-lock-error", test_dir_lock_error);
#undef ADD
  return g_test_run ();
}
