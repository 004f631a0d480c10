/* test-cache-disk.c: what the cache makes of the files an earlier run left,
 * with no server (the endpoint refuses connections). */
#include "cache-testing.h"
#include "vf-error.h"
#include "../testutil.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <utime.h>

#define TOTAL 1000
#define ID "video_disk"

typedef struct
{
  char *dir;
  VfClient *client;
  VfTask *task;
  guint8 bytes[TOTAL];
} Fixture;

static void
fixture_set_up (Fixture *fx, gconstpointer data)
{
  VfClientConfig config;
  g_autoptr (GError) error = NULL;

  fx->dir = g_dir_make_tmp ("vf-cache-disk-XXXXXX", &error);
  g_assert_no_error (error);
  vf_client_config_init (&config);
  config.endpoint = "http://127.0.0.1:1/v1"; /* nothing listens there */
  config.ark_endpoint = "http://127.0.0.1:1/api/v3";
  config.token = "test";
  config.retry.max_retries = 0;
  fx->client = vf_client_new (&config, &error);
  g_assert_no_error (error);
  fx->task = vf_task_new ();
  fx->task->id = g_strdup (ID);
  fx->task->protocol = VF_PROTO_OPENAI;
  fx->task->state = VF_STATE_COMPLETED;
  for (int i = 0; i < TOTAL; i++)
    fx->bytes[i] = (guint8)(i * 7 + 3);
}

static void
fixture_tear_down (Fixture *fx, gconstpointer data)
{
  remove_tree (fx->dir);
  g_free (fx->dir);
  vf_client_free (fx->client);
  vf_task_free (fx->task);
}

static char *
path_of (Fixture *fx, const char *id, const char *name)
{
  return g_build_filename (fx->dir, id, name, NULL);
}

static void
put_file (Fixture *fx, const char *id, const char *name, const void *data, gsize len)
{
  g_autofree char *sub = g_build_filename (fx->dir, id, NULL);
  g_autofree char *path = path_of (fx, id, name);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (sub, 0700), ==, 0);
  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
}

/* A part file holding the right bytes where the map says, garbage elsewhere. */
static void
put_part (Fixture *fx, const char *map)
{
  guint8 part[TOTAL];

  memset (part, 0xee, sizeof part);
  memcpy (part, fx->bytes, 600);
  put_file (fx, ID, "video.part", part, sizeof part);
  put_file (fx, ID, "video.ranges", map, strlen (map));
}

static VfCache *
new_cache (Fixture *fx, guint64 cache_max)
{
  VfCacheConfig config;
  g_autoptr (GError) error = NULL;
  VfCache *cache;

  vf_cache_config_init (&config);
  config.cache_max = cache_max;
  config.max_tries = 2;
  config.retry.base_ms = 1;
  config.retry.max_ms = 2;
  config.sync_data = FALSE;
  cache = vf_cache_new (fx->client, fx->dir, &config, &error);
  g_assert_no_error (error);
  return cache;
}

static void
test_resume_map (Fixture *fx, gconstpointer data)
{
  g_autoptr (VfCache) cache = NULL;
  g_autoptr (GError) error = NULL;
  guint8 buf[TOTAL];
  gssize n;

  put_part (fx, "videofs-ranges 1\ntotal 1000\netag \"abc\"\n0 600\n");
  cache = new_cache (fx, 0);
  g_assert_false (vf_cache_is_whole (cache, ID, VF_VARIANT_VIDEO, TOTAL));
  g_assert_cmpuint (vf_cache_cached_bytes (cache, ID, VF_VARIANT_VIDEO), ==, 600);

  /* Recorded bytes come from the disk, with no server. */
  n = vf_cache_read (cache, fx->task, VF_VARIANT_VIDEO, TOTAL, buf, 600, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 600);
  g_assert_cmpmem (buf, 600, fx->bytes, 600);
  n = vf_cache_read (cache, fx->task, VF_VARIANT_VIDEO, TOTAL, buf, 100, 250, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 100);
  g_assert_cmpmem (buf, 100, fx->bytes + 250, 100);
  n = vf_cache_read (cache, fx->task, VF_VARIANT_VIDEO, TOTAL, buf, 100, TOTAL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 0);

  /* The rest needs the server, which is not there: the garbage in the
   * part file never shows. */
  n = vf_cache_read (cache, fx->task, VF_VARIANT_VIDEO, TOTAL, buf, 100, 550, NULL, &error);
  g_assert_cmpint (n, ==, -1);
  g_assert_error (error, VF_ERROR, VF_ERROR_NETWORK);
  g_assert_cmpuint (vf_cache_cached_bytes (cache, ID, VF_VARIANT_VIDEO), ==, 600);
}

static void
test_discard (Fixture *fx, gconstpointer data)
{
  static const char *const maps[] = {
    "videofs-ranges 1\ntotal 999\n0 600\n",   /* another size */
    "videofs-ranges 1\ntotal 1000\n0 1600\n", /* past the end */
    "videofs-ranges 1\ntotal 1000\n600 0\n",  /* backwards */
    "videofs-ranges 2\ntotal 1000\n0 600\n",  /* unknown format */
    "videofs-ranges 1\n0 600\n",              /* no size */
    "videofs-ranges 1\ntotal 1000\n0 6x0\n",  /* not a number */
    "videofs-ranges 1\ntotal 1000\n-5 600\n", /* negative */
  };

  for (guint i = 0; i < G_N_ELEMENTS (maps); i++)
    {
      g_autoptr (VfCache) cache = NULL;
      g_autofree char *part = path_of (fx, ID, "video.part");
      g_autofree char *map = path_of (fx, ID, "video.ranges");
      struct stat st;

      put_part (fx, maps[i]);
      cache = new_cache (fx, 0);
      g_assert_false (vf_cache_is_whole (cache, ID, VF_VARIANT_VIDEO, TOTAL));
      g_assert_cmpuint (vf_cache_cached_bytes (cache, ID, VF_VARIANT_VIDEO), ==, 0);
      /* A fresh, empty part file of the right size and no map. */
      g_assert_cmpint (stat (part, &st), ==, 0);
      g_assert_cmpint (st.st_size, ==, TOTAL);
      g_assert_false (g_file_test (map, G_FILE_TEST_EXISTS));
    }

  /* A part file of the wrong size is discarded too. */
  {
    g_autoptr (VfCache) cache = NULL;
    g_autofree char *map = path_of (fx, ID, "video.ranges");

    put_file (fx, ID, "video.part", fx->bytes, 700);
    put_file (fx, ID, "video.ranges", "videofs-ranges 1\ntotal 1000\n0 600\n", 34);
    cache = new_cache (fx, 0);
    g_assert_false (vf_cache_is_whole (cache, ID, VF_VARIANT_VIDEO, TOTAL));
    g_assert_cmpuint (vf_cache_cached_bytes (cache, ID, VF_VARIANT_VIDEO), ==, 0);
    g_assert_false (g_file_test (map, G_FILE_TEST_EXISTS));
  }
}

static void
test_whole (Fixture *fx, gconstpointer data)
{
  g_autoptr (VfCache) cache = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *whole = path_of (fx, ID, "video");
  VfCacheEntry *entry;
  guint8 buf[TOTAL];
  gssize n;

  put_file (fx, ID, "video", fx->bytes, TOTAL);
  put_file (fx, ID, "video.ranges", "stale", 5);
  cache = new_cache (fx, 0);
  g_assert_true (vf_cache_is_whole (cache, ID, VF_VARIANT_VIDEO, TOTAL));
  entry = vf_cache_open (cache, fx->task, VF_VARIANT_VIDEO, TOTAL, &error);
  g_assert_no_error (error);
  g_assert_true (vf_cache_entry_is_whole (entry));
  n = vf_cache_entry_read (entry, buf, sizeof buf, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, TOTAL);
  g_assert_cmpmem (buf, TOTAL, fx->bytes, TOTAL);
  n = vf_cache_entry_read (entry, buf, 500, 900, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 100);
  g_assert_cmpmem (buf, 100, fx->bytes + 900, 100);
  vf_cache_close (entry);

  /* Announced with another size: the old file goes. */
  g_assert_false (vf_cache_is_whole (cache, ID, VF_VARIANT_VIDEO, TOTAL + 1));
  g_assert_false (g_file_test (whole, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (vf_cache_cached_bytes (cache, ID, VF_VARIANT_VIDEO), ==, 0);
}

static void
test_map_complete (Fixture *fx, gconstpointer data)
{
  g_autoptr (VfCache) cache = NULL;
  g_autofree char *whole = path_of (fx, ID, "video");
  g_autofree char *part = path_of (fx, ID, "video.part");
  g_autofree char *map = path_of (fx, ID, "video.ranges");

  put_file (fx, ID, "video.part", fx->bytes, TOTAL);
  put_file (fx, ID, "video.ranges", "videofs-ranges 1\ntotal 1000\n0 400\n400 1000\n", 43);
  cache = new_cache (fx, 0);
  g_assert_true (vf_cache_is_whole (cache, ID, VF_VARIANT_VIDEO, TOTAL));
  /* Renamed into place, the map gone. */
  g_assert_true (g_file_test (whole, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (map, G_FILE_TEST_EXISTS));
}

static void
test_empty (Fixture *fx, gconstpointer data)
{
  g_autoptr (VfCache) cache = new_cache (fx, 0);
  g_autoptr (GError) error = NULL;
  char buf[4];

  g_assert_cmpint (
      vf_cache_read (cache, fx->task, VF_VARIANT_THUMBNAIL, 0, buf, 4, 0, NULL, &error), ==, 0);
  g_assert_no_error (error);
  g_assert_true (vf_cache_is_whole (cache, ID, VF_VARIANT_THUMBNAIL, 0));
}

static void
test_bad_input (Fixture *fx, gconstpointer data)
{
  g_autoptr (VfCache) cache = new_cache (fx, 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) bad = vf_task_new ();
  char buf[4];

  g_assert_cmpint (vf_cache_read (cache, fx->task, VF_VARIANT_VIDEO, -1, buf, 4, 0, NULL, &error),
                   ==, -1);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);
  bad->id = g_strdup ("../etc");
  g_assert_cmpint (vf_cache_read (cache, bad, VF_VARIANT_VIDEO, 10, buf, 4, 0, NULL, &error), ==,
                   -1);
  g_assert_error (error, VF_ERROR, VF_ERROR_BAD_ID);
  g_clear_error (&error);
  g_assert_cmpint (vf_cache_read (cache, fx->task, VF_VARIANT_VIDEO, 10, buf, 4, -3, NULL, &error),
                   ==, -1);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
}

/* At start-up, a cache over its cap loses its least recently used files. */
static void
test_evict_at_start (Fixture *fx, gconstpointer data)
{
  static const char *const ids[] = { "video_old", "video_mid", "video_new" };
  g_autoptr (VfCache) cache = NULL;
  g_autofree guint8 *big = g_malloc0 (64 * 1024);

  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      g_autofree char *path = path_of (fx, ids[i], "video");
      struct utimbuf times = { 1000000 + i * 1000, 1000000 + i * 1000 };

      put_file (fx, ids[i], "video", big, 64 * 1024);
      g_assert_cmpint (utime (path, &times), ==, 0);
    }
  cache = new_cache (fx, 150 * 1024);
  g_assert_cmpuint (vf_cache_usage (cache), <=, 150 * 1024);
  g_assert_false (vf_cache_is_whole (cache, "video_old", VF_VARIANT_VIDEO, 64 * 1024));
  g_assert_true (vf_cache_is_whole (cache, "video_mid", VF_VARIANT_VIDEO, 64 * 1024));
  g_assert_true (vf_cache_is_whole (cache, "video_new", VF_VARIANT_VIDEO, 64 * 1024));
}

static int
count_fds (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  int n = 0;

  while (dir && g_dir_read_name (dir))
    n++;
  return n;
}

/* Many files used once each: the open files stay bounded, and an unloaded
 * entry reads right when it comes back. */
static void
test_many_files (Fixture *fx, gconstpointer data)
{
  g_autoptr (VfCache) cache = new_cache (fx, 0);
  g_autoptr (VfTask) task = vf_task_copy (fx->task);
  g_autoptr (GError) error = NULL;
  int before = count_fds ();
  guint8 buf[TOTAL];

  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 200; i++)
      {
        g_autofree char *id = g_strdup_printf ("video_%03d", i);
        gssize n;

        if (round == 0)
          put_file (fx, id, "video", fx->bytes, TOTAL);
        g_free (task->id);
        task->id = g_strdup (id);
        n = vf_cache_read (cache, task, VF_VARIANT_VIDEO, TOTAL, buf, 100, i, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpint (n, ==, 100);
        g_assert_cmpmem (buf, 100, fx->bytes + i, 100);
      }
  g_assert_cmpint (count_fds () - before, <=, 64);
}

/* Another announced size resets the entry.  When no new file can be made
 * (the entry's directory became a regular file), the read fails with that
 * error, not with a download into the old file; with the directory back,
 * the entry gets its new file. */
static void
test_resize_without_file (Fixture *fx, gconstpointer data)
{
  g_autoptr (VfCache) cache = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *sub = g_build_filename (fx->dir, ID, NULL);
  g_autofree char *moved = g_strconcat (sub, ".moved", NULL);
  g_autofree char *part = path_of (fx, ID, "video.part");
  g_autofree char *whole = path_of (fx, ID, "video");
  guint8 buf[TOTAL];
  struct stat st;
  gssize n;

  put_file (fx, ID, "video", fx->bytes, TOTAL);
  cache = new_cache (fx, 0);
  n = vf_cache_read (cache, fx->task, VF_VARIANT_VIDEO, TOTAL, buf, 100, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 100);

  g_assert_cmpint (g_rename (sub, moved), ==, 0);
  g_file_set_contents (sub, "", 0, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 2; i++)
    {
      n = vf_cache_read (cache, fx->task, VF_VARIANT_VIDEO, TOTAL - 1, buf, 100, 0, NULL, &error);
      g_assert_cmpint (n, ==, -1);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
      g_clear_error (&error);
    }
  g_assert_false (vf_cache_is_whole (cache, ID, VF_VARIANT_VIDEO, TOTAL - 1));

  g_assert_cmpint (g_unlink (sub), ==, 0);
  g_assert_cmpint (g_rename (moved, sub), ==, 0);
  g_assert_false (vf_cache_is_whole (cache, ID, VF_VARIANT_VIDEO, TOTAL - 1));
  g_assert_cmpint (stat (part, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, TOTAL - 1);
  g_assert_false (g_file_test (whole, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/cache-disk/resume-map", test_resume_map);
  ADD ("/cache-disk/discard", test_discard);
  ADD ("/cache-disk/whole", test_whole);
  ADD ("/cache-disk/map-complete", test_map_complete);
  ADD ("/cache-disk/empty", test_empty);
  ADD ("/cache-disk/bad-input", test_bad_input);
  ADD ("/cache-disk/evict-at-start", test_evict_at_start);
  ADD ("/cache-disk/many-files", test_many_files);
  ADD ("/cache-disk/resize-without-file", test_resize_without_file);
  return g_test_run ();
}
