/* test-cache.c: the streaming content cache against videofs-sim.
 *
 * Every byte a read returns is compared with the simulator's truth; the
 * simulator's counters say how many bytes it sent, so that "fetched once"
 * and "resumed, not restarted" are measured, not assumed.
 */
#include "cache-testing.h"
#include "vf-error.h"
#include "../testutil.h"

#include "cache-common.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define VIDEO_BYTES (24 * MIB)

static Sim *sim;
static VfClient *client;

/* ----- helpers ----- */

static char *
make_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("vf-cache-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static VfTask *
new_job (void)
{
  return cache_test_new_job (client, sim, "a cache test");
}

static GBytes *
truth (const VfTask *task)
{
  GBytes *bytes = sim_truth (sim, task->id, "video");

  g_assert_cmpuint (g_bytes_get_size (bytes), ==, VIDEO_BYTES);
  return bytes;
}

static void
config_for_tests (VfCacheConfig *config)
{
  vf_cache_config_init (config);
  config->max_tries = 3;
  config->retry.base_ms = 10;
  config->retry.max_ms = 40;
  config->sync_data = FALSE;
}

static VfCache *
new_cache_with (const char *dir, const VfCacheConfig *config)
{
  g_autoptr (GError) error = NULL;
  VfCache *cache = vf_cache_new (client, dir, config, &error);

  g_assert_no_error (error);
  return cache;
}

static VfCache *
new_cache (const char *dir)
{
  VfCacheConfig config;

  config_for_tests (&config);
  return new_cache_with (dir, &config);
}

/* Reads [offset, offset + len) and checks it against the truth. */
static void
check_read (VfCache *cache, const VfTask *task, GBytes *want, gint64 offset, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *buf = g_malloc (MAX (len, 1));
  gsize size;
  const guint8 *data = g_bytes_get_data (want, &size);
  gssize expect = offset >= (gint64)size ? 0 : (gssize)MIN (len, size - offset);
  gssize n;

  n = vf_cache_read (cache, task, VF_VARIANT_VIDEO, size, buf, len, offset, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, expect);
  if (n > 0 && memcmp (buf, data + offset, n) != 0)
    g_error ("wrong bytes in [%" G_GINT64_FORMAT ", +%zd) of %s", offset, n, task->id);
}

static void
read_all (VfCache *cache, const VfTask *task, GBytes *want, gsize step)
{
  for (gsize off = 0; off < VIDEO_BYTES; off += step)
    check_read (cache, task, want, off, step);
}

/* The whole file on disk, once the cache put it in place, is the truth. */
static void
check_disk (VfCache *cache, const char *dir, const VfTask *task, GBytes *want)
{
  g_autofree char *path = g_build_filename (dir, task->id, "video", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;

  vf_cache_flush (cache);

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpuint (len, ==, g_bytes_get_size (want));
  g_assert_true (memcmp (data, g_bytes_get_data (want, NULL), len) == 0);
}

static void
start_test (void)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  gint64 before;

  sim_clear_faults (sim);
  /* An answer a test gave up on (a slow one, a dropped file) may still be
   * counted as the simulator sends its rest: let it end before the counts
   * start again. */
  do
    {
      before = sim_counter (sim, "content_bytes");
      g_usleep (100 * 1000);
    }
  while (sim_counter (sim, "content_bytes") != before && g_get_monotonic_time () < deadline);
  sim_reset_stats (sim);
}

/* ----- plain behaviour ----- */

static void
test_sequential (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  g_autoptr (VfCache) cache = new_cache (dir);
  gint64 requests;

  start_test ();
  read_all (cache, task, want, 128 * 1024);
  requests = sim_requests (sim, "content");
  g_test_message ("sequential read of %d MiB: %" G_GINT64_FORMAT " requests", VIDEO_BYTES / MIB,
                  requests);
  g_assert_cmpint (sim_counter (sim, "content_bytes"), ==, VIDEO_BYTES);
  g_assert_cmpint (requests, <=, 12);
  vf_cache_flush (cache);
  g_assert_true (vf_cache_is_whole (cache, task->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  check_disk (cache, dir, task, want);

  /* Afterwards, from the disk alone. */
  read_all (cache, task, want, 1000 * 1000);
  g_assert_cmpint (sim_requests (sim, "content"), ==, requests);
  g_clear_pointer (&cache, vf_cache_free);
  remove_tree (dir);
}

static void
test_tail (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  g_autoptr (VfCache) cache = new_cache (dir);
  gint64 bytes;

  start_test ();
  check_read (cache, task, want, VIDEO_BYTES - 64 * 1024, 64 * 1024);
  bytes = sim_counter (sim, "content_bytes");
  g_test_message ("tail read of 64 KiB: %" G_GINT64_FORMAT " bytes fetched", bytes);
  g_assert_cmpint (bytes, <=, 8 * MIB);

  /* A player's first look: the start, then the end, then the middle. */
  sim_reset_stats (sim);
  check_read (cache, task, want, 0, 4096);
  check_read (cache, task, want, VIDEO_BYTES - 200 * 1024, 100 * 1024);
  check_read (cache, task, want, VIDEO_BYTES / 2, 128 * 1024);
  bytes = sim_counter (sim, "content_bytes");
  g_test_message ("start, end, middle: %" G_GINT64_FORMAT " bytes fetched", bytes);
  g_assert_cmpint (bytes, <=, 3 * MIB);
  g_clear_pointer (&cache, vf_cache_free);
  remove_tree (dir);
}

/* vf_cache_read_fd: the bytes are the truth's, in a descriptor of the
 * caller's that keeps them even once the cache forgot the file. */
static void
check_read_fd (VfCache *cache, const VfTask *task, GBytes *want, gint64 offset, gsize len,
               int *fd_out)
{
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *buf = g_malloc (len);
  gsize size;
  const guint8 *data = g_bytes_get_data (want, &size);
  gssize n;

  n = vf_cache_read_fd (cache, task, VF_VARIANT_VIDEO, size, len, offset, fd_out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, (gssize)MIN (len, size - offset));
  g_assert_cmpint (*fd_out, >=, 0);
  g_assert_cmpint (pread (*fd_out, buf, n, offset), ==, n);
  if (memcmp (buf, data + offset, n) != 0)
    g_error ("wrong bytes in [%" G_GINT64_FORMAT ", +%zd) of %s", offset, n, task->id);
}

static void
test_read_fd (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  g_autoptr (VfCache) cache = new_cache (dir);
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *buf = g_malloc (MIB);
  const guint8 *data = g_bytes_get_data (want, NULL);
  int kept = -1;
  int fd = -1;

  start_test ();
  /* Cold, in the middle; then the whole file in pieces. */
  check_read_fd (cache, task, want, VIDEO_BYTES / 2, 300 * 1000, &kept);
  for (gint64 off = 0; off < VIDEO_BYTES; off += MIB)
    {
      check_read_fd (cache, task, want, off, MIB, &fd);
      close (fd);
    }
  g_assert_cmpint (vf_cache_read_fd (cache, task, VF_VARIANT_VIDEO, VIDEO_BYTES, 4096, VIDEO_BYTES,
                                     &fd, NULL, &error),
                   ==, 0);
  g_assert_no_error (error);
  g_assert_cmpint (fd, ==, -1);
  g_assert_cmpint (sim_counter (sim, "content_bytes"), ==, VIDEO_BYTES);

  /* Whole now, and served from the file under its plain name. */
  vf_cache_flush (cache);
  g_assert_true (vf_cache_is_whole (cache, task->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  check_read_fd (cache, task, want, VIDEO_BYTES - 1000, 4096, &fd);
  close (fd);

  /* Dropped from the cache and the disk: a descriptor handed out before
   * still has its bytes. */
  vf_cache_drop (cache, task->id);
  g_assert_cmpint (pread (kept, buf, MIB, 0), ==, MIB);
  g_assert_true (memcmp (buf, data, MIB) == 0);
  close (kept);
  g_clear_pointer (&cache, vf_cache_free);
  remove_tree (dir);
}

typedef struct
{
  VfCache *cache;
  const VfTask *task;
  GBytes *want;
  gsize step;
} ReaderArgs;

static gpointer
reader_thread (gpointer data)
{
  ReaderArgs *args = data;

  read_all (args->cache, args->task, args->want, args->step);
  return NULL;
}

static void
test_two_readers (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  g_autoptr (VfCache) cache = new_cache (dir);
  ReaderArgs a = { cache, task, want, 128 * 1024 };
  ReaderArgs b = { cache, task, want, 100 * 1000 };
  GThread *ta, *tb;

  start_test ();
  ta = g_thread_new ("reader-a", reader_thread, &a);
  tb = g_thread_new ("reader-b", reader_thread, &b);
  g_thread_join (ta);
  g_thread_join (tb);
  g_test_message ("two readers: %" G_GINT64_FORMAT " bytes in %" G_GINT64_FORMAT " requests",
                  sim_counter (sim, "content_bytes"), sim_requests (sim, "content"));
  g_assert_cmpint (sim_counter (sim, "content_bytes"), ==, VIDEO_BYTES);
  check_disk (cache, dir, task, want);
  g_clear_pointer (&cache, vf_cache_free);
  remove_tree (dir);
}

/* ----- faults ----- */

static void
expect_failure (const char *fault, int code)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  g_autoptr (VfCache) cache = new_cache (dir);
  g_autoptr (GError) error = NULL;
  char buf[4096];
  gssize n;

  start_test ();
  sim_fault (sim, fault);
  n = vf_cache_read (cache, task, VF_VARIANT_VIDEO, VIDEO_BYTES, buf, sizeof buf, 1000, NULL,
                     &error);
  g_assert_cmpint (n, ==, -1);
  g_assert_error (error, VF_ERROR, code);
  /* Three tries, then the read fails; not a byte is kept. */
  g_assert_cmpint (sim_requests (sim, "content"), ==, 3);
  g_assert_cmpuint (vf_cache_cached_bytes (cache, task->id, VF_VARIANT_VIDEO), ==, 0);
  g_assert_false (vf_cache_is_whole (cache, task->id, VF_VARIANT_VIDEO, VIDEO_BYTES));

  /* The server mends: the same read works. */
  sim_clear_faults (sim);
  check_read (cache, task, want, 1000, sizeof buf);
  g_clear_pointer (&cache, vf_cache_free);
  remove_tree (dir);
}

static void
test_json_content (void)
{
  expect_failure ("json_content", VF_ERROR_PROTOCOL);
}

static void
test_bad_range (void)
{
  expect_failure ("bad_range", VF_ERROR_PROTOCOL);
}

static void
test_server_error (void)
{
  expect_failure ("5xx:status=503,call=content", VF_ERROR_SERVER);
}

static void
test_not_found (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfCache) cache = new_cache (dir);
  g_autoptr (VfTask) task = vf_task_new ();
  g_autoptr (GError) error = NULL;
  char buf[16];

  start_test ();
  task->id = g_strdup ("video_unknown");
  task->protocol = VF_PROTO_OPENAI;
  g_assert_cmpint (
      vf_cache_read (cache, task, VF_VARIANT_VIDEO, 1000, buf, sizeof buf, 0, NULL, &error), ==,
      -1);
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_assert_cmpint (sim_requests (sim, "content"), ==, 1); /* not retried */
  g_clear_pointer (&cache, vf_cache_free);
  remove_tree (dir);
}

/* A body cut short keeps what arrived; the rest is fetched from there. */
static void
resume_after (const char *fault)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  g_autoptr (VfCache) cache = new_cache (dir);

  start_test ();
  sim_fault (sim, fault);
  read_all (cache, task, want, 128 * 1024);
  g_assert_cmpint (sim_counter (sim, "content_bytes"), ==, VIDEO_BYTES);
  check_disk (cache, dir, task, want);
  g_clear_pointer (&cache, vf_cache_free);
  remove_tree (dir);
}

static void
test_cut (void)
{
  resume_after ("cut:after=300000,count=4");
}

static void
test_wrong_length (void)
{
  resume_after ("wrong_length:short=1000,count=2");
}

static void
test_no_ranges (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  g_autoptr (VfCache) cache = new_cache (dir);

  start_test ();
  sim_fault (sim, "no_ranges");
  check_read (cache, task, want, VIDEO_BYTES - 5000, 10000);
  check_read (cache, task, want, 0, 4096);
  check_read (cache, task, want, VIDEO_BYTES / 3, 128 * 1024);
  read_all (cache, task, want, MIB);
  /* One answer, the whole file, served every jump. */
  g_assert_cmpint (sim_requests (sim, "content"), ==, 1);
  g_assert_cmpint (sim_counter (sim, "content_bytes"), ==, VIDEO_BYTES);
  check_disk (cache, dir, task, want);
  g_clear_pointer (&cache, vf_cache_free);
  remove_tree (dir);
}

/* ----- restarts, cancellation, dropping ----- */

static void
test_remount (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  VfCache *cache;
  guint64 kept;
  gint64 first, second;

  start_test ();
  /* Slow enough that the download is in the middle when the cache goes. */
  sim_fault (sim, "slow:rate=16777216");
  cache = new_cache (dir);
  for (gsize off = 0; off < 6 * MIB; off += 128 * 1024)
    check_read (cache, task, want, off, 128 * 1024);
  vf_cache_free (cache);
  /* The server may send one more block before it sees the connection go. */
  g_usleep (500 * 1000);
  first = sim_counter (sim, "content_bytes");
  sim_clear_faults (sim);
  sim_reset_stats (sim);

  cache = new_cache (dir);
  g_assert_false (vf_cache_is_whole (cache, task->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  kept = vf_cache_cached_bytes (cache, task->id, VF_VARIANT_VIDEO);
  g_test_message ("first run fetched %" G_GINT64_FORMAT " bytes, %" G_GUINT64_FORMAT " kept", first,
                  kept);
  g_assert_cmpuint (kept, >=, 6 * MIB);
  g_assert_cmpint (first, <=, (gint64)kept + MIB); /* only what was in flight is lost */
  read_all (cache, task, want, 128 * 1024);
  second = sim_counter (sim, "content_bytes");
  /* Resumed: exactly the missing bytes, none twice. */
  g_assert_cmpint (second, ==, VIDEO_BYTES - (gint64)kept);
  check_disk (cache, dir, task, want);
  vf_cache_free (cache);
  remove_tree (dir);
}

typedef struct
{
  VfCache *cache;
  const VfTask *task;
  gint64 offset;
  GCancellable *cancellable;
  GError *error;
  gssize n;
  gint64 returned_at;
} OneRead;

static gpointer
one_read_thread (gpointer data)
{
  OneRead *r = data;
  char buf[128 * 1024];

  r->n = vf_cache_read (r->cache, r->task, VF_VARIANT_VIDEO, VIDEO_BYTES, buf, sizeof buf,
                        r->offset, r->cancellable, &r->error);
  r->returned_at = g_get_monotonic_time ();
  return NULL;
}

static void
test_cancel (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  g_autoptr (VfCache) cache = new_cache (dir);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  OneRead r = { cache, task, 8 * MIB, cancellable, NULL, 0, 0 };
  GThread *thread;
  gint64 cancelled_at;

  start_test ();
  sim_fault (sim, "slow:rate=65536");
  thread = g_thread_new ("reader", one_read_thread, &r);
  g_usleep (300 * 1000);
  cancelled_at = g_get_monotonic_time ();
  g_cancellable_cancel (cancellable);
  g_thread_join (thread);
  g_test_message ("a cancelled read returned after %" G_GINT64_FORMAT " us",
                  r.returned_at - cancelled_at);
  g_assert_cmpint (r.n, ==, -1);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (r.returned_at - cancelled_at, <, 100 * 1000);
  g_clear_error (&r.error);

  /* The download went on; the same read still works. */
  sim_clear_faults (sim);
  check_read (cache, task, want, 8 * MIB, 128 * 1024);
  g_clear_pointer (&cache, vf_cache_free);
  remove_tree (dir);
}

static void
test_drop (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (VfCache) cache = new_cache (dir);
  g_autofree char *sub = g_build_filename (dir, task->id, NULL);
  OneRead r = { cache, task, 4 * MIB, NULL, NULL, 0, 0 };
  GThread *thread;

  start_test ();
  sim_fault (sim, "slow:rate=65536");
  thread = g_thread_new ("reader", one_read_thread, &r);
  g_usleep (300 * 1000);
  g_assert_true (g_file_test (sub, G_FILE_TEST_IS_DIR));
  vf_cache_drop (cache, task->id);
  g_thread_join (thread);
  g_assert_cmpint (r.n, ==, -1);
  g_assert_error (r.error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_clear_error (&r.error);
  g_assert_false (g_file_test (sub, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (vf_cache_cached_bytes (cache, task->id, VF_VARIANT_VIDEO), ==, 0);
  sim_clear_faults (sim);
  g_clear_pointer (&cache, vf_cache_free);
  remove_tree (dir);
}

/* ----- prefetch and eviction ----- */

typedef struct
{
  GMutex lock;
  GCond cond;
  int done;
  int failed;
} DoneCount;

static void
on_done (const char *id, VfVariant variant, const GError *error, gpointer user_data)
{
  DoneCount *dc = user_data;

  g_mutex_lock (&dc->lock);
  if (error)
    dc->failed++;
  else
    dc->done++;
  g_cond_broadcast (&dc->cond);
  g_mutex_unlock (&dc->lock);
}

static void
test_prefetch (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  VfCacheConfig config;
  DoneCount dc = { 0 };
  VfCache *cache;
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  start_test ();
  config_for_tests (&config);
  config.done = on_done;
  config.user_data = &dc;
  cache = new_cache_with (dir, &config);
  vf_cache_prefetch (cache, task, VF_VARIANT_VIDEO, VIDEO_BYTES);
  vf_cache_prefetch (cache, task, VF_VARIANT_VIDEO, VIDEO_BYTES); /* once is enough */
  g_mutex_lock (&dc.lock);
  while (dc.done == 0 && dc.failed == 0)
    g_assert_true (g_cond_wait_until (&dc.cond, &dc.lock, deadline));
  g_mutex_unlock (&dc.lock);
  g_assert_cmpint (dc.done, ==, 1);
  g_assert_cmpint (dc.failed, ==, 0);
  vf_cache_flush (cache);
  g_assert_true (vf_cache_is_whole (cache, task->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  g_assert_cmpint (sim_counter (sim, "content_bytes"), ==, VIDEO_BYTES);
  check_disk (cache, dir, task, want);
  vf_cache_free (cache);
  remove_tree (dir);
}

/* A changed ETag makes the cache fetch the file again into a new one.  When
 * none can be made (the entry's directory became a regular file), the
 * download fails with that error and no byte comes from the old file; once
 * the directory is back, a read makes the file and it ends up whole. */
static void
test_reset_without_file (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (GBytes) want = truth (task);
  g_autofree char *sub = g_build_filename (dir, task->id, NULL);
  g_autofree char *moved = g_strconcat (sub, ".moved", NULL);
  g_autofree char *part = g_build_filename (sub, "video.part", NULL);
  g_autofree char *map = g_build_filename (sub, "video.ranges", NULL);
  g_autofree char *map_text = g_strdup_printf (
      "videofs-ranges 1\ntotal %d\netag \"not the server's\"\n0 4096\n", VIDEO_BYTES);
  g_autoptr (GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  VfCacheConfig config;
  DoneCount dc = { 0 };
  VfCache *cache;
  guint8 buf[4096];
  gssize n;
  int fd;

  /* What an earlier run left: the first 4096 bytes, of an older ETag. */
  g_assert_cmpint (g_mkdir_with_parents (sub, 0700), ==, 0);
  fd = open (part, O_RDWR | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pwrite (fd, g_bytes_get_data (want, NULL), 4096, 0), ==, 4096);
  g_assert_cmpint (ftruncate (fd, VIDEO_BYTES), ==, 0);
  close (fd);
  g_file_set_contents (map, map_text, -1, &error);
  g_assert_no_error (error);

  start_test ();
  config_for_tests (&config);
  config.done = on_done;
  config.user_data = &dc;
  cache = new_cache_with (dir, &config);
  check_read (cache, task, want, 0, 4096);
  g_assert_cmpint (sim_requests (sim, "content"), ==, 0);

  /* Root ignores permission bits, not a regular file in a path. */
  g_assert_cmpint (g_rename (sub, moved), ==, 0);
  g_file_set_contents (sub, "", 0, &error);
  g_assert_no_error (error);

  n = vf_cache_read (cache, task, VF_VARIANT_VIDEO, VIDEO_BYTES, buf, sizeof buf, MIB, NULL,
                     &error);
  g_assert_cmpint (n, ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
  g_clear_error (&error);
  g_mutex_lock (&dc.lock);
  while (dc.failed == 0)
    g_assert_true (g_cond_wait_until (&dc.cond, &dc.lock, deadline));
  g_mutex_unlock (&dc.lock);
  g_assert_cmpint (dc.failed, ==, 1);
  g_assert_cmpint (dc.done, ==, 0);
  g_assert_cmpint (sim_requests (sim, "content"), ==, 1);

  /* Not even the bytes it had: they were of the old content. */
  n = vf_cache_read (cache, task, VF_VARIANT_VIDEO, VIDEO_BYTES, buf, sizeof buf, 0, NULL, &error);
  g_assert_cmpint (n, ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
  g_clear_error (&error);
  g_assert_cmpint (sim_requests (sim, "content"), ==, 1);

  g_assert_cmpint (g_unlink (sub), ==, 0);
  g_assert_cmpint (g_rename (moved, sub), ==, 0);
  read_all (cache, task, want, 4 * MIB);
  check_disk (cache, dir, task, want);
  g_assert_true (vf_cache_is_whole (cache, task->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (map, G_FILE_TEST_EXISTS));
  vf_cache_free (cache);
  remove_tree (dir);
}

static void
test_eviction (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (VfTask) a = new_job ();
  g_autoptr (VfTask) b = new_job ();
  g_autoptr (VfTask) c = new_job ();
  g_autoptr (VfTask) d = new_job ();
  g_autoptr (GBytes) want_a = truth (a);
  g_autoptr (GBytes) want_b = truth (b);
  g_autoptr (GBytes) want_c = truth (c);
  g_autoptr (GBytes) want_d = truth (d);
  g_autoptr (GError) error = NULL;
  VfCacheConfig config;
  VfCacheEntry *pin;
  VfCache *cache;

  start_test ();
  config_for_tests (&config);
  config.cache_max = VIDEO_BYTES * 5 / 2;
  cache = new_cache_with (dir, &config);

  read_all (cache, a, want_a, MIB);
  read_all (cache, b, want_b, MIB);
  check_read (cache, a, want_a, 0, 4096); /* a is now more recent than b */
  read_all (cache, c, want_c, MIB);
  /* b went: the least recently used. */
  vf_cache_flush (cache);
  g_assert_true (vf_cache_is_whole (cache, a->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  g_assert_false (vf_cache_is_whole (cache, b->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  g_assert_true (vf_cache_is_whole (cache, c->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  g_assert_cmpuint (vf_cache_usage (cache), <=, config.cache_max);

  /* An open file stays, even as the least recently used. */
  pin = vf_cache_open (cache, a, VF_VARIANT_VIDEO, VIDEO_BYTES, &error);
  g_assert_no_error (error);
  check_read (cache, c, want_c, 0, 4096);
  read_all (cache, d, want_d, MIB);
  g_assert_true (vf_cache_entry_is_whole (pin));
  vf_cache_flush (cache);
  g_assert_true (vf_cache_is_whole (cache, a->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  g_assert_false (vf_cache_is_whole (cache, c->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  g_assert_true (vf_cache_is_whole (cache, d->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
  vf_cache_close (pin);
  check_disk (cache, dir, a, want_a);
  check_disk (cache, dir, d, want_d);
  vf_cache_free (cache);
  remove_tree (dir);
}

static void
test_no_space (void)
{
  g_autofree char *dir = make_dir ();
  g_autofree char *mnt = g_build_filename (dir, "small", NULL);
  g_autoptr (VfTask) task = new_job ();
  g_autoptr (VfTask) other = new_job ();
  g_autoptr (GBytes) want = truth (task);
  g_autoptr (GBytes) thumb = sim_truth (sim, other->id, "thumbnail");
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *buf = g_malloc (MIB);
  VfCache *cache;
  gint64 off;
  gssize n = 0;

  g_assert_cmpint (g_mkdir (mnt, 0700), ==, 0);
  if (mount ("tmpfs", mnt, "tmpfs", 0, "size=2m") < 0)
    {
      g_autofree char *why = g_strdup_printf ("cannot mount a tmpfs: %s", g_strerror (errno));

      g_test_skip (why);
      remove_tree (dir);
      return;
    }
  start_test ();
  cache = new_cache (mnt);
  for (off = 0; off < VIDEO_BYTES; off += 256 * 1024)
    {
      n = vf_cache_read (cache, task, VF_VARIANT_VIDEO, VIDEO_BYTES, buf, 256 * 1024, off, NULL,
                         &error);
      if (n < 0)
        break;
      g_assert_cmpint (n, ==, 256 * 1024);
      g_assert_true (memcmp (buf, (const guint8 *)g_bytes_get_data (want, NULL) + off, n) == 0);
    }
  g_test_message ("the disk was full at byte %" G_GINT64_FORMAT, off);
  g_assert_cmpint (n, ==, -1);
  g_assert_error (error, VF_ERROR, VF_ERROR_NO_SPACE);
  g_assert_cmpint (off, <=, 2 * MIB);
  g_clear_error (&error);

  /* The cache goes on: what it holds still reads, and once there is room
   * again other files come in. */
  check_read (cache, task, want, 0, 4096);
  vf_cache_drop (cache, task->id);
  n = vf_cache_read (cache, other, VF_VARIANT_THUMBNAIL, g_bytes_get_size (thumb), buf, MIB, 0,
                     NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, g_bytes_get_size (thumb));
  g_assert_true (memcmp (buf, g_bytes_get_data (thumb, NULL), n) == 0);
  vf_cache_free (cache);
  g_assert_cmpint (umount (mnt), ==, 0);
  remove_tree (dir);
}

/* ----- the property test ----- */

#define FILES 6
#define THREADS 4

typedef struct
{
  VfCache *cache;
  VfTask *tasks[FILES];
  GBytes *wants[FILES];
  guint32 seed;
  int ops;
} Property;

typedef struct
{
  Property *p;
  guint32 seed;
} Worker;

static gsize
random_size (GRand *rand)
{
  switch (g_rand_int_range (rand, 0, 5))
    {
    case 0:
      return 4096;
    case 1:
      return 128 * 1024;
    case 2:
      return 65536;
    case 3:
      return g_rand_int_range (rand, 1, 300 * 1024);
    default:
      return g_rand_int_range (rand, 1, 2000);
    }
}

static gpointer
property_worker (gpointer data)
{
  Worker *w = data;
  Property *p = w->p;
  g_autoptr (GRand) rand = g_rand_new_with_seed (w->seed);

  for (int op = 0; op < p->ops; op++)
    {
      int f = g_rand_int_range (rand, 0, FILES);
      int kind = g_rand_int_range (rand, 0, 10);
      gint64 off;

      if (kind < 4)
        {
          /* A sequential run, with neighbours sometimes swapped as the
           * kernel's read-ahead does. */
          gsize size = random_size (rand);
          int count = g_rand_int_range (rand, 3, 40);

          off = g_rand_int_range (rand, 0, VIDEO_BYTES);
          if (g_rand_boolean (rand))
            off &= ~(gint64)4095;
          for (int i = 0; i < count; i += 2)
            {
              gboolean swap = g_rand_int_range (rand, 0, 10) < 3;
              gint64 first = off + (gint64)size * (swap ? i + 1 : i);
              gint64 second = off + (gint64)size * (swap ? i : i + 1);

              check_read (p->cache, p->tasks[f], p->wants[f], first, size);
              check_read (p->cache, p->tasks[f], p->wants[f], second, size);
            }
        }
      else if (kind < 7)
        check_read (p->cache, p->tasks[f], p->wants[f], g_rand_int_range (rand, 0, VIDEO_BYTES),
                    random_size (rand));
      else if (kind < 9)
        {
          gsize size = random_size (rand);

          check_read (p->cache, p->tasks[f], p->wants[f], VIDEO_BYTES - (gint64)size / 2, size);
        }
      else
        check_read (p->cache, p->tasks[f], p->wants[f], 0, random_size (rand));
    }
  return NULL;
}

typedef struct
{
  guint32 seed;
  gint stop;
  gint faults;
} Chaos;

/* Keeps one fault at a time active: cuts, 5xx, slowness, error bodies,
 * wrong ranges, short bodies. */
static gpointer
chaos_thread (gpointer data)
{
  Chaos *c = data;
  g_autoptr (GRand) rand = g_rand_new_with_seed (c->seed);

  while (!g_atomic_int_get (&c->stop))
    {
      long status = 0;
      g_autofree char *active = sim_control (sim, "GET", "/_sim/faults", NULL, &status, NULL);
      g_autofree char *spec = NULL;

      g_usleep (g_rand_int_range (rand, 1, 5) * 1000);
      if (strstr (active, "\"name\""))
        continue;
      switch (g_rand_int_range (rand, 0, 6))
        {
        case 0:
          spec = g_strdup_printf ("cut:after=%d,count=1", g_rand_int_range (rand, 0, 2 * MIB));
          break;
        case 1:
          spec = g_strdup_printf ("5xx:status=%d,call=content,count=1",
                                  g_rand_boolean (rand) ? 500 : 503);
          break;
        case 2:
          spec = g_strdup_printf ("slow:rate=%d,count=1", g_rand_int_range (rand, 1, 8) * MIB);
          break;
        case 3:
          spec = g_strdup ("json_content:count=1");
          break;
        case 4:
          spec = g_strdup ("bad_range:count=1");
          break;
        default:
          spec = g_strdup_printf ("wrong_length:short=%d,count=1",
                                  g_rand_int_range (rand, 1, 100000));
          break;
        }
      sim_fault (sim, spec);
      g_atomic_int_inc (&c->faults);
    }
  return NULL;
}

static void
test_property (void)
{
  g_autofree char *dir = make_dir ();
  const char *env_seed = g_getenv ("CACHE_SEED");
  guint32 seed
      = env_seed ? (guint32)g_ascii_strtoull (env_seed, NULL, 10) : (guint32)g_test_rand_int ();
  VfCacheConfig config;
  Property p = { 0 };
  Worker workers[THREADS];
  GThread *threads[THREADS];
  Chaos chaos = { seed ^ 0x5eed, 0, 0 };
  GThread *chaos_t;

  g_test_message ("seed %u (run again with CACHE_SEED=%u)", seed, seed);
  start_test ();
  config_for_tests (&config);
  config.max_tries = 20; /* faults come one after another; none may win */
  p.cache = new_cache_with (dir, &config);
  p.seed = seed;
  p.ops = g_test_slow () ? 1000 : 250;
  for (int f = 0; f < FILES; f++)
    {
      p.tasks[f] = new_job ();
      p.wants[f] = truth (p.tasks[f]);
    }

  chaos_t = g_thread_new ("chaos", chaos_thread, &chaos);
  for (int t = 0; t < THREADS; t++)
    {
      workers[t].p = &p;
      workers[t].seed = seed + t;
      threads[t] = g_thread_new ("worker", property_worker, &workers[t]);
    }
  for (int t = 0; t < THREADS; t++)
    g_thread_join (threads[t]);
  g_atomic_int_set (&chaos.stop, 1);
  g_thread_join (chaos_t);
  sim_clear_faults (sim);
  g_test_message ("random reads: %" G_GINT64_FORMAT " bytes in %" G_GINT64_FORMAT
                  " requests, %d faults",
                  sim_counter (sim, "content_bytes"), sim_requests (sim, "content"),
                  g_atomic_int_get (&chaos.faults));

  /* Then every file whole, and whole on disk. */
  for (int f = 0; f < FILES; f++)
    {
      read_all (p.cache, p.tasks[f], p.wants[f], 3 * MIB);
      g_assert_true (vf_cache_is_whole (p.cache, p.tasks[f]->id, VF_VARIANT_VIDEO, VIDEO_BYTES));
      check_disk (p.cache, dir, p.tasks[f], p.wants[f]);
    }
  vf_cache_free (p.cache);
  for (int f = 0; f < FILES; f++)
    {
      vf_task_free (p.tasks[f]);
      g_bytes_unref (p.wants[f]);
    }
  remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_autofree char *size_arg = g_strdup_printf ("--video-bytes=%d", VIDEO_BYTES);
  const char *args[] = { size_arg, "--queue=0", "--duration=0", NULL };
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cache/sequential", test_sequential);
  g_test_add_func ("/cache/tail", test_tail);
  g_test_add_func ("/cache/read-fd", test_read_fd);
  g_test_add_func ("/cache/two-readers", test_two_readers);
  g_test_add_func ("/cache/json-content", test_json_content);
  g_test_add_func ("/cache/bad-range", test_bad_range);
  g_test_add_func ("/cache/server-error", test_server_error);
  g_test_add_func ("/cache/not-found", test_not_found);
  g_test_add_func ("/cache/cut", test_cut);
  g_test_add_func ("/cache/wrong-length", test_wrong_length);
  g_test_add_func ("/cache/no-ranges", test_no_ranges);
  g_test_add_func ("/cache/remount", test_remount);
  g_test_add_func ("/cache/cancel", test_cancel);
  g_test_add_func ("/cache/drop", test_drop);
  g_test_add_func ("/cache/prefetch", test_prefetch);
  g_test_add_func ("/cache/reset-without-file", test_reset_without_file);
  g_test_add_func ("/cache/eviction", test_eviction);
  g_test_add_func ("/cache/no-space", test_no_space);
  g_test_add_func ("/cache/property", test_property);

  sim = sim_start (args);
  client = cache_test_client (sim, 0);

  status = g_test_run ();

  vf_client_free (client);
  sim_stop (sim);
  return status;
}
