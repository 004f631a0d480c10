/* journal.c: the crash-safe record log behind the state dir.
 *
 * File layout: a header line, then records.  Each record is
 *
 *   u32 length (little-endian) | u32 CRC-32 of the payload | payload | '\n'
 *
 * where the payload is one JSON object in compact form.  Records are only
 * ever appended, each with one pwrite() at the known end of the file; a
 * failed append is cut off again, so a half record stays only when the
 * machine dies mid-write.  Loading stops at the first record that is short,
 * fails its CRC or is not a JSON object, and cuts the file there: whatever
 * a crash tore is dropped, with what follows it, and the rest loads.
 */
#define _GNU_SOURCE

#include "vf-journal.h"
#include "vf-fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#define HEADER "videofs-journal 1\n"
#define HEADER_LEN (sizeof HEADER - 1)
#define FRAME_OVERHEAD 9 /* length, CRC, '\n' */
#define RECORD_MAX (64u * 1024 * 1024)

struct vf_journal
{
  char *path;
  int fd;
  gsize size;
};

static guint32 crc_table[256];

static gpointer
crc_table_init (gpointer data)
{
  for (guint32 i = 0; i < 256; i++)
    {
      guint32 c = i;
      for (int k = 0; k < 8; k++)
        c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      crc_table[i] = c;
    }
  return NULL;
}

static guint32
crc32_of (const guint8 *data, gsize len)
{
  static GOnce once = G_ONCE_INIT;
  guint32 c = 0xffffffffu;

  g_once (&once, crc_table_init, NULL);
  for (gsize i = 0; i < len; i++)
    c = crc_table[(c ^ data[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

static void
put_le32 (guint8 *p, guint32 v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = (v >> 24) & 0xff;
}

static guint32
get_le32 (const guint8 *p)
{
  return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static gboolean
fsync_dir_of (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd = vf_open_noeintr (dir, O_RDONLY | O_DIRECTORY, 0);
  int errsv;

  if (fd < 0)
    return vf_set_io_error (error, errno, "Cannot open directory", dir);
  if (vf_fsync_noeintr (fd) < 0)
    {
      errsv = errno;
      close (fd);
      return vf_set_io_error (error, errsv, "Cannot sync directory", dir);
    }
  close (fd);
  return TRUE;
}

/* The framed record, or NULL with error set. */
static GByteArray *
frame_record (json_t *record, const char *path, GError **error)
{
  g_autofree char *payload = NULL;
  GByteArray *frame;
  gsize len;
  guint8 head[8];

  if (!json_is_object (record))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "Cannot write to %s: a journal record must be a JSON object", path);
      return NULL;
    }
  payload = json_dumps (record, JSON_COMPACT);
  if (!payload)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "Cannot write to %s: the record cannot be encoded as JSON", path);
      return NULL;
    }
  len = strlen (payload);
  if (len > RECORD_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "Cannot write to %s: a record of %" G_GSIZE_FORMAT " bytes is too large", path,
                   len);
      return NULL;
    }
  put_le32 (head, len);
  put_le32 (head + 4, crc32_of ((const guint8 *)payload, len));
  frame = g_byte_array_sized_new (len + FRAME_OVERHEAD);
  g_byte_array_append (frame, head, sizeof head);
  g_byte_array_append (frame, (const guint8 *)payload, len);
  g_byte_array_append (frame, (const guint8 *)"\n", 1);
  return frame;
}

static gboolean
all_zero (const guint8 *p, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (p[i])
      return FALSE;
  return TRUE;
}

/* Parses records from data, handing each to func as it is parsed (so that
 * loading holds one record at a time, however long the journal), and
 * returns the length of the intact part.  -1 when the file is not a
 * journal at all. */
static gssize
parse_records (const guint8 *data, gsize len, VfJournalFunc func, gpointer user_data)
{
  gsize pos = HEADER_LEN;

  if (len < HEADER_LEN)
    {
      /* A header torn while the file was created; an empty file's data
       * may be NULL, which memcmp must not be given. */
      if (len == 0 || memcmp (data, HEADER, len) == 0 || all_zero (data, len))
        return 0;
      return -1;
    }
  if (memcmp (data, HEADER, HEADER_LEN) != 0)
    return all_zero (data, len) ? 0 : -1;

  while (len - pos >= FRAME_OVERHEAD)
    {
      guint32 rec_len = get_le32 (data + pos);
      guint32 crc = get_le32 (data + pos + 4);
      const guint8 *payload = data + pos + 8;
      json_t *record;

      if (rec_len > RECORD_MAX || rec_len > len - pos - FRAME_OVERHEAD)
        break;
      if (payload[rec_len] != '\n' || crc32_of (payload, rec_len) != crc)
        break;
      record = json_loadb ((const char *)payload, rec_len, JSON_ALLOW_NUL, NULL);
      if (!json_is_object (record))
        {
          json_decref (record);
          break;
        }
      if (func)
        func (record, user_data);
      json_decref (record);
      pos += rec_len + FRAME_OVERHEAD;
    }
  return pos;
}

VfJournal *
vf_journal_open (const char *path, VfJournalFunc func, gpointer user_data, gsize *n_dropped,
                 GError **error)
{
  g_autoptr (GByteArray) data = g_byte_array_new ();
  VfJournal *journal;
  gssize good;
  gsize dropped;
  int fd;
  int errsv;

  g_return_val_if_fail (path != NULL, NULL);

  fd = vf_open_noeintr (path, O_RDWR | O_CREAT, 0600);
  if (fd < 0)
    {
      vf_set_io_error (error, errno, "Cannot open journal", path);
      return NULL;
    }
  errsv = vf_read_all (fd, data);
  if (errsv)
    {
      vf_set_io_error (error, errsv, "Cannot read", path);
      goto fail;
    }

  good = parse_records (data->data, data->len, func, user_data);
  if (good < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is not a videofs journal", path);
      goto fail;
    }
  dropped = data->len - good;

  if ((gsize)good < data->len || good == 0)
    {
      if (vf_ftruncate_noeintr (fd, good) < 0)
        {
          vf_set_io_error (error, errno, "Cannot truncate journal", path);
          goto fail;
        }
      if (good == 0)
        {
          errsv = vf_pwrite_all (fd, HEADER, HEADER_LEN, 0);
          if (errsv)
            {
              vf_set_io_error (error, errsv, "Cannot write journal", path);
              vf_ftruncate_noeintr (fd, 0);
              goto fail;
            }
          good = HEADER_LEN;
        }
      if (vf_fsync_noeintr (fd) < 0)
        {
          vf_set_io_error (error, errno, "Cannot sync journal", path);
          goto fail;
        }
      if (data->len < HEADER_LEN && !fsync_dir_of (path, error))
        goto fail;
    }

  if (n_dropped)
    *n_dropped = dropped;

  journal = g_new0 (VfJournal, 1);
  journal->path = g_strdup (path);
  journal->fd = fd;
  journal->size = good;

  return journal;

fail:
  close (fd);
  return NULL;
}

void
vf_journal_close (VfJournal *journal)
{
  if (!journal)
    return;
  if (journal->fd >= 0)
    close (journal->fd);
  g_free (journal->path);
  g_free (journal);
}

gboolean
vf_journal_append (VfJournal *journal, json_t *record, gboolean sync, GError **error)
{
  g_autoptr (GByteArray) frame = NULL;
  int errsv;

  g_return_val_if_fail (journal != NULL, FALSE);

  frame = frame_record (record, journal->path, error);
  if (!frame)
    return FALSE;

  errsv = vf_pwrite_all (journal->fd, frame->data, frame->len, journal->size);
  if (!errsv && sync && vf_fdatasync_noeintr (journal->fd) < 0)
    errsv = errno;
  if (errsv)
    {
      /* Whether the record reached the disk is unknown: cut it off so the
       * file says what the caller is told. */
      vf_ftruncate_noeintr (journal->fd, journal->size);
      return vf_set_io_error (error, errsv, "Cannot append to journal", journal->path);
    }
  journal->size += frame->len;
  return TRUE;
}

gboolean
vf_journal_rewrite (VfJournal *journal, GPtrArray *records, GError **error)
{
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_autofree char *tmp_path = NULL;
  int fd;
  int errsv;

  g_return_val_if_fail (journal != NULL, FALSE);
  g_return_val_if_fail (records != NULL, FALSE);

  g_byte_array_append (buf, (const guint8 *)HEADER, HEADER_LEN);
  for (guint i = 0; i < records->len; i++)
    {
      g_autoptr (GByteArray) frame = frame_record (records->pdata[i], journal->path, error);
      if (!frame)
        return FALSE;
      g_byte_array_append (buf, frame->data, frame->len);
    }

  tmp_path = g_strconcat (journal->path, ".tmp", NULL);
  fd = vf_open_noeintr (tmp_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return vf_set_io_error (error, errno, "Cannot create", tmp_path);

  errsv = vf_pwrite_all (fd, buf->data, buf->len, 0);
  if (!errsv && vf_fsync_noeintr (fd) < 0)
    errsv = errno;
  if (!errsv && rename (tmp_path, journal->path) < 0)
    errsv = errno;
  if (errsv)
    {
      close (fd);
      unlink (tmp_path);
      return vf_set_io_error (error, errsv, "Cannot rewrite journal", journal->path);
    }

  /* The new file is in place: from here on it is the journal, even if the
   * directory cannot be synced. */
  close (journal->fd);
  journal->fd = fd;
  journal->size = buf->len;
  return fsync_dir_of (journal->path, error);
}

gsize
vf_journal_size (VfJournal *journal)
{
  g_return_val_if_fail (journal != NULL, 0);
  return journal->size;
}

static GPid
read_pid (int fd)
{
  char buf[32];
  ssize_t n;
  guint64 pid = 0;

  do
    n = pread (fd, buf, sizeof buf - 1, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  g_strchomp (buf);
  if (!g_ascii_string_to_unsigned (buf, 10, 1, G_MAXINT, &pid, NULL))
    return 0;
  return (GPid)pid;
}

static gboolean
write_pid (int fd, const char *path, GError **error)
{
  g_autofree char *pid_line = g_strdup_printf ("%d\n", (int)getpid ());
  int errsv;

  if (vf_ftruncate_noeintr (fd, 0) < 0)
    errsv = errno;
  else
    errsv = vf_pwrite_all (fd, pid_line, strlen (pid_line), 0);
  if (errsv)
    return vf_set_io_error (error, errsv, "Cannot write", path);
  return TRUE;
}

int
vf_dir_lock (const char *dir, GError **error)
{
  g_autofree char *path = NULL;
  struct flock fl = { 0 };
  int fd;
  int r;
  int errsv;

  g_return_val_if_fail (dir != NULL, -1);

  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      vf_set_io_error (error, errno, "Cannot create directory", dir);
      return -1;
    }
  path = g_build_filename (dir, "lock", NULL);
  fd = vf_open_noeintr (path, O_RDWR | O_CREAT, 0600);
  if (fd < 0)
    {
      vf_set_io_error (error, errno, "Cannot open", path);
      return -1;
    }

  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  do
    r = fcntl (fd, F_OFD_SETLK, &fl);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    {
      errsv = errno;
      if (errsv == EAGAIN || errsv == EWOULDBLOCK || errsv == EACCES)
        {
          GPid pid = 0;

          /* The holder writes its pid right after locking: give it a moment. */
          for (int i = 0; i < 20 && !pid; i++)
            {
              pid = read_pid (fd);
              if (!pid)
                g_usleep (5000);
            }
          if (pid)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                         "state dir %s is in use by another videofs (pid %d)", dir, (int)pid);
          else
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                         "state dir %s is in use by another videofs", dir);
        }
      else
        vf_set_io_error (error, errsv, "Cannot lock", path);
      close (fd);
      return -1;
    }

  if (!write_pid (fd, path, error))
    {
      close (fd);
      return -1;
    }
  return fd;
}

gboolean
vf_dir_lock_update_pid (int fd, GError **error)
{
  g_return_val_if_fail (fd >= 0, FALSE);
  return write_pid (fd, "lock", error);
}
