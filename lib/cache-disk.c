/* cache-disk.c: an entry's files.  While incomplete, its bytes are in a
 * sparse file ID/VARIANT.part of the announced size, and the ranges present
 * in ID/VARIANT.ranges:
 *
 *   videofs-ranges 1
 *   total SIZE
 *   etag ETAG          (when the server gave a storable one)
 *   START END          (one line per range present, END exclusive)
 *
 * A map of another size, or malformed, counts as no map: the bytes are
 * fetched again.  Complete, the file is ID/VARIANT and has no map.
 */
#include "cache-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The errno policy of fdio, but a full disk is VF_ERROR_NO_SPACE: to the
 * job table it is a download's failure, which the job's error shows. */
gboolean
cache_set_disk_error (GError **error, int errsv, const char *what, const char *path)
{
  g_autoptr (GError) local = NULL;

  vf_set_io_error (&local, errsv, what, path);
  if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
    vf_set_error (error, VF_ERROR_NO_SPACE, "%s", local->message);
  else
    g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

gboolean
cache_etag_storable (const char *etag)
{
  if (!etag || !*etag || strlen (etag) > 512)
    return FALSE;
  for (const char *p = etag; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return FALSE;
  return TRUE;
}

char *
cache_map_text_locked (Entry *e)
{
  GString *text = g_string_new (MAP_MAGIC "\n");
  gint64 start, end;

  g_string_append_printf (text, "total %" G_GINT64_FORMAT "\n", e->total);
  if (e->etag)
    g_string_append_printf (text, "etag %s\n", e->etag);
  for (guint i = 0; vf_range_set_nth (e->present, i, &start, &end); i++)
    g_string_append_printf (text, "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n", start, end);
  return g_string_free (text, FALSE);
}

static gboolean
parse_int64 (const char *text, gint64 *value)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXINT64, &v, NULL))
    return FALSE;
  *value = (gint64)v;
  return TRUE;
}

/* Reads a map; FALSE if it is missing, malformed or of another size. */
static gboolean
map_load (const char *path, gint64 total, VfRangeSet *present, char **etag)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  gboolean have_total = FALSE;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  lines = g_strsplit (text, "\n", -1);
  if (!lines[0] || strcmp (lines[0], MAP_MAGIC) != 0)
    return FALSE;
  for (guint i = 1; lines[i]; i++)
    {
      const char *line = lines[i];
      g_auto (GStrv) words = NULL;
      gint64 a, b;

      if (!*line)
        continue;
      if (g_str_has_prefix (line, "total "))
        {
          if (!parse_int64 (line + 6, &a) || a != total)
            return FALSE;
          have_total = TRUE;
          continue;
        }
      if (g_str_has_prefix (line, "etag "))
        {
          if (!cache_etag_storable (line + 5))
            return FALSE;
          g_free (*etag);
          *etag = g_strdup (line + 5);
          continue;
        }
      words = g_strsplit (line, " ", -1);
      if (g_strv_length (words) != 2 || !parse_int64 (words[0], &a) || !parse_int64 (words[1], &b)
          || a >= b || b > total)
        return FALSE;
      vf_range_set_add (present, a, b);
    }
  return have_total;
}

void
cache_entry_unlink_files (Entry *e)
{
  g_unlink (e->whole_path);
  g_unlink (e->part_path);
  g_unlink (e->map_path);
  g_unlink (e->tmp_path);
}

/* A fresh, empty part file of `total` bytes.  The entry's old file is
 * unlinked first and its descriptor retired whatever happens next
 * (downloads in flight may still write to it), so that no byte is read
 * from it again; on failure the entry has no file (fd -1). */
static gboolean
entry_create_part_locked (Entry *e, GError **error)
{
  int fd;

  cache_entry_unlink_files (e);
  if (e->fd >= 0)
    g_array_append_val (e->old_fds, e->fd);
  e->fd = -1;
  fd = vf_open_noeintr (e->part_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return cache_set_disk_error (error, errno, "Cannot create", e->part_path);
  if (vf_ftruncate_noeintr (fd, e->total) < 0)
    {
      int errsv = errno;

      close (fd);
      g_unlink (e->part_path);
      return cache_set_disk_error (error, errsv, "Cannot size", e->part_path);
    }
  e->fd = fd;
  return TRUE;
}

/* A loaded entry without a file (a reset could make none) tries again;
 * until one is made, its readers fail with the reason. */
static gboolean
entry_recreate_part_locked (Entry *e, GError **error)
{
  g_clear_error (&e->fd_error);
  if (entry_create_part_locked (e, &e->fd_error))
    return TRUE;
  g_propagate_error (error, g_error_copy (e->fd_error));
  return FALSE;
}

/* Forgets every byte: the content changed, or its size did.  Downloads in
 * flight stop at their next chunk, and whatever they still write goes to
 * the old, unlinked file.  FALSE when no new file could be made. */
gboolean
cache_entry_reset_locked (Entry *e, const char *etag, const char *why, GError **error)
{
  gboolean ok;

  g_message ("%s: %s; fetching it again", e->key, why);
  e->gen++;
  vf_range_set_clear (e->present);
  g_atomic_int_set (&e->whole, 0);
  cache_entry_set_disk_bytes_locked (e, 0);
  g_free (e->etag);
  e->etag = cache_etag_storable (etag) ? g_strdup (etag) : NULL;
  e->no_ranges = FALSE;
  e->unsaved = 0;
  e->completed = FALSE;
  ok = entry_recreate_part_locked (e, error);
  cache_entry_broadcast_locked (e);
  return ok;
}

gboolean
cache_entry_load_locked (VfCache *cache, Entry *e, gint64 total, GError **error)
{
  struct stat st;

  if (e->dropped)
    {
      vf_set_error (error, VF_ERROR_NOT_FOUND, "%s was removed", e->key);
      return FALSE;
    }
  if (total < 0)
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s: unknown size", e->key);
      return FALSE;
    }
  if (e->loaded && e->total == total)
    return e->fd >= 0 || entry_recreate_part_locked (e, error);
  if (e->loaded)
    {
      /* The API announced another size: what we have is of older content. */
      e->total = total;
      return cache_entry_reset_locked (e, NULL, "the announced size changed", error);
    }

  if (g_mkdir_with_parents (e->dir_path, 0700) < 0)
    {
      cache_set_disk_error (error, errno, "Cannot create", e->dir_path);
      return FALSE;
    }
  e->total = total;
  if (stat (e->whole_path, &st) == 0 && S_ISREG (st.st_mode) && st.st_size == total)
    {
      e->fd = vf_open_noeintr (e->whole_path, O_RDWR, 0);
      if (e->fd < 0)
        {
          cache_set_disk_error (error, errno, "Cannot open", e->whole_path);
          return FALSE;
        }
      g_unlink (e->part_path);
      g_unlink (e->map_path);
      vf_range_set_add (e->present, 0, total);
      g_atomic_int_set (&e->whole, 1);
    }
  else
    {
      int fd = -1;

      if (map_load (e->map_path, total, e->present, &e->etag))
        fd = vf_open_noeintr (e->part_path, O_RDWR, 0);
      if (fd >= 0 && (fstat (fd, &st) < 0 || st.st_size != total))
        {
          close (fd);
          fd = -1;
        }
      if (fd >= 0)
        {
          e->fd = fd;
          g_unlink (e->whole_path);
        }
      else
        {
          vf_range_set_clear (e->present);
          g_clear_pointer (&e->etag, g_free);
          if (!entry_create_part_locked (e, error))
            return FALSE;
        }
      if (total == 0 || vf_range_set_contains (e->present, 0, total))
        {
          if (g_rename (e->part_path, e->whole_path) < 0)
            {
              cache_set_disk_error (error, errno, "Cannot rename", e->part_path);
              return FALSE;
            }
          g_unlink (e->map_path);
          g_atomic_int_set (&e->whole, 1);
        }
    }
  e->loaded = TRUE;
  cache->loaded++;
  cache_entry_set_disk_bytes_locked (e, vf_range_set_size (e->present));
  return TRUE;
}

/* Takes stock of what an earlier run left; maps are read when an entry is
 * first used. */
void
cache_scan_dir (VfCache *cache)
{
  g_autoptr (GDir) dir = g_dir_open (cache->dir, 0, NULL);
  const char *name;

  if (!dir)
    return;
  while ((name = g_dir_read_name (dir)))
    {
      g_autofree char *sub = g_build_filename (cache->dir, name, NULL);

      if (!vf_id_check (name, NULL) || !g_file_test (sub, G_FILE_TEST_IS_DIR))
        continue;
      for (VfVariant v = 0; v < VF_N_VARIANTS; v++)
        {
          Entry *e = cache_entry_new (cache, name, v);
          struct stat st;
          gboolean found = FALSE;

          g_unlink (e->tmp_path);
          if (stat (e->whole_path, &st) == 0 && S_ISREG (st.st_mode))
            {
              found = TRUE;
              e->whole_on_disk = TRUE;
            }
          else if (stat (e->part_path, &st) == 0 && S_ISREG (st.st_mode))
            found = TRUE;
          if (!found)
            {
              cache_entry_unref_locked (e);
              continue;
            }
          e->last_used = (gint64)st.st_mtime * G_USEC_PER_SEC;
          cache_entry_set_disk_bytes_locked (
              e, MIN ((guint64)st.st_blocks * 512, (guint64)st.st_size));
          g_hash_table_insert (cache->entries, e->key, e);
        }
    }
}
