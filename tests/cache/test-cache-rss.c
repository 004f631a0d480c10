/* test-cache-rss.c: eight cold files read at once, in a process that does
 * nothing else, so that its peak RSS is the cache's; then the time to the
 * first byte of a cold read against a plain GET of the same range.
 *
 * CACHE_RSS_BYTES sets the size of each file (default 64 MiB).
 */
#include "cache-testing.h"
#include "vf-error.h"
#include "../testutil.h"

#include "cache-common.h"

#include <curl/curl.h>
#include <glib/gstdio.h>
#include <string.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#define MIB (G_GINT64_CONSTANT (1024) * 1024)
#define PARALLEL 8
#define READ_SIZE (128 * 1024)

static Sim *sim;
static VfClient *client;
static gint64 video_bytes;

static VfTask *
new_job (void)
{
  return cache_test_new_job (client, sim, "rss");
}

typedef struct
{
  VfCache *cache;
  VfTask *task;
  char *sha256;
  GError *error;
} HashRead;

static gpointer
hash_read_thread (gpointer data)
{
  HashRead *h = data;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buf = g_malloc (READ_SIZE);

  for (gint64 off = 0; off < video_bytes; off += READ_SIZE)
    {
      gssize n = vf_cache_read (h->cache, h->task, VF_VARIANT_VIDEO, video_bytes, buf, READ_SIZE,
                                off, NULL, &h->error);

      if (n < 0)
        return NULL;
      g_checksum_update (sum, buf, n);
    }
  h->sha256 = g_strdup (g_checksum_get_string (sum));
  return NULL;
}

static void
test_parallel (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vf-cache-rss-XXXXXX", &error);
  HashRead reads[PARALLEL];
  GThread *threads[PARALLEL];
  VfCache *cache;
  gint64 start, elapsed, rss_before, peak;

  g_assert_no_error (error);
  cache = vf_cache_new (client, dir, NULL, &error);
  g_assert_no_error (error);
  for (int i = 0; i < PARALLEL; i++)
    {
      reads[i].cache = cache;
      reads[i].task = new_job ();
      reads[i].sha256 = NULL;
      reads[i].error = NULL;
    }
  sim_reset_stats (sim);
  g_file_set_contents ("/proc/self/clear_refs", "5", 1, NULL);
  rss_before = status_kib ("VmRSS:");
  start = g_get_monotonic_time ();
  for (int i = 0; i < PARALLEL; i++)
    threads[i] = g_thread_new ("reader", hash_read_thread, &reads[i]);
  for (int i = 0; i < PARALLEL; i++)
    g_thread_join (threads[i]);
  elapsed = g_get_monotonic_time () - start;
  peak = status_kib ("VmHWM:");
  g_test_message ("%d parallel cold reads of %" G_GINT64_FORMAT " MiB: %.2f s, %.0f MiB/s, "
                  "%" G_GINT64_FORMAT " requests; RSS %" G_GINT64_FORMAT
                  " KiB before, peak %" G_GINT64_FORMAT " KiB",
                  PARALLEL, video_bytes / MIB, elapsed / 1e6,
                  PARALLEL * (double)video_bytes / MIB / (elapsed / 1e6),
                  sim_requests (sim, "content"), rss_before, peak);
  g_assert_cmpint (sim_counter (sim, "content_bytes"), ==, PARALLEL * video_bytes);
  /* Under valgrind the RSS is valgrind's. */
  if (peak > 0 && !RUNNING_ON_VALGRIND)
    g_assert_cmpint (peak, <, 64 * 1024);

  for (int i = 0; i < PARALLEL; i++)
    {
      g_autoptr (GBytes) want = sim_truth (sim, reads[i].task->id, "video");
      g_autofree char *sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, want);

      g_assert_no_error (reads[i].error);
      g_assert_cmpstr (reads[i].sha256, ==, sha);
      g_free (reads[i].sha256);
      vf_task_free (reads[i].task);
    }
  vf_cache_free (cache);
  remove_tree (dir);
}

static size_t
discard_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
  return size * nmemb;
}

/* A plain GET of one range, on a new connection. */
static gint64
curl_range_us (const VfTask *task, gint64 offset, gsize len)
{
  g_autofree char *url = g_strdup_printf ("%s/videos/%s/content", sim->base, task->id);
  g_autofree char *range = g_strdup_printf ("%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT, offset,
                                            offset + (gint64)len - 1);
  CURL *curl = curl_easy_init ();
  gint64 start = g_get_monotonic_time ();
  long status = 0;

  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_RANGE, range);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, discard_cb);
  g_assert_cmpint (curl_easy_perform (curl), ==, CURLE_OK);
  curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
  g_assert_cmpint (status, ==, 206);
  curl_easy_cleanup (curl);
  return g_get_monotonic_time () - start;
}

static int
compare_int64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *)a;
  gint64 y = *(const gint64 *)b;

  return x < y ? -1 : x > y;
}

/* Time to a cold read's bytes at a random offset, against curl. */
static void
test_first_byte (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vf-cache-rss-XXXXXX", &error);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autofree guint8 *buf = g_malloc (READ_SIZE);
  gint64 ours[15], theirs[15];
  VfCache *cache;

  g_assert_no_error (error);
  cache = vf_cache_new (client, dir, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (ours); i++)
    {
      g_autoptr (VfTask) task = new_job ();
      gint64 offset = g_rand_int_range (rand, 0, video_bytes - READ_SIZE);
      gint64 start;
      gssize n;

      /* The simulator makes a job's content on its first request. */
      curl_range_us (task, 0, 1);
      start = g_get_monotonic_time ();
      n = vf_cache_read (cache, task, VF_VARIANT_VIDEO, video_bytes, buf, READ_SIZE, offset, NULL,
                         &error);
      ours[i] = g_get_monotonic_time () - start;
      g_assert_no_error (error);
      g_assert_cmpint (n, ==, READ_SIZE);
      theirs[i] = curl_range_us (task, offset, READ_SIZE);
    }
  qsort (ours, G_N_ELEMENTS (ours), sizeof (gint64), compare_int64);
  qsort (theirs, G_N_ELEMENTS (theirs), sizeof (gint64), compare_int64);
  g_test_message ("128 KiB at a random offset of a cold file: median %" G_GINT64_FORMAT
                  " us through the cache, %" G_GINT64_FORMAT " us with a plain GET",
                  ours[G_N_ELEMENTS (ours) / 2], theirs[G_N_ELEMENTS (theirs) / 2]);
  vf_cache_free (cache);
  remove_tree (dir);
}

/* One cold file read in sequence, against a plain GET of all of it. */
static void
test_sequential (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vf-cache-rss-XXXXXX", &error);
  g_autofree guint8 *buf = g_malloc (READ_SIZE);
  g_autoptr (VfTask) task = NULL;
  g_autoptr (GBytes) want = NULL;
  const guint8 *truth;
  VfCacheConfig config;
  VfCache *cache;
  gint64 start, ours, theirs;
  gboolean same = TRUE;

  g_assert_no_error (error);
  vf_cache_config_init (&config);
  /* CACHE_RSS_NO_SYNC=1: the same without fdatasync, for comparison. */
  config.sync_data = g_strcmp0 (g_getenv ("CACHE_RSS_NO_SYNC"), "1") != 0;
  cache = vf_cache_new (client, dir, &config, &error);
  g_assert_no_error (error);
  task = new_job ();
  theirs = curl_range_us (task, 0, video_bytes);
  want = sim_truth (sim, task->id, "video");
  truth = g_bytes_get_data (want, NULL);
  g_assert_cmpint (g_bytes_get_size (want), ==, video_bytes);
  sim_reset_stats (sim);
  start = g_get_monotonic_time ();
  for (gint64 off = 0; off < video_bytes; off += READ_SIZE)
    {
      gssize n = vf_cache_read (cache, task, VF_VARIANT_VIDEO, video_bytes, buf, READ_SIZE, off,
                                NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpint (n, ==, MIN (READ_SIZE, video_bytes - off));
      same = same && memcmp (buf, truth + off, n) == 0;
    }
  ours = g_get_monotonic_time () - start;
  g_test_message ("a cold read of %" G_GINT64_FORMAT " MiB in sequence: %.0f MiB/s through the "
                  "cache, %.0f MiB/s with a plain GET",
                  video_bytes / MIB, video_bytes / (double)MIB / (ours / 1e6),
                  video_bytes / (double)MIB / (theirs / 1e6));
  g_assert_true (same);
  g_assert_cmpint (sim_counter (sim, "content_bytes"), ==, video_bytes);
  vf_cache_free (cache);
  remove_tree (dir);
}

int
main (int argc, char **argv)
{
  const char *size_env = g_getenv ("CACHE_RSS_BYTES");
  g_autofree char *size_arg = NULL;
  const char *args[4];
  int status;

  g_test_init (&argc, &argv, NULL);
  video_bytes = size_env              ? g_ascii_strtoll (size_env, NULL, 10)
                : RUNNING_ON_VALGRIND ? 8 * MIB
                                      : 64 * MIB;
  size_arg = g_strdup_printf ("--video-bytes=%" G_GINT64_FORMAT, video_bytes);
  args[0] = size_arg;
  args[1] = "--queue=0";
  args[2] = "--duration=0";
  args[3] = NULL;
  g_test_add_func ("/cache-rss/parallel", test_parallel);
  g_test_add_func ("/cache-rss/first-byte", test_first_byte);
  g_test_add_func ("/cache-rss/sequential", test_sequential);

  sim = sim_start (args);
  client = cache_test_client (sim, -1);

  status = g_test_run ();

  vf_client_free (client);
  sim_stop (sim);
  return status;
}
