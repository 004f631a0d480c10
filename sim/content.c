/* content.c: the bytes of every (id, variant).
 *
 * Each variant is a small real media file made once at start (ffmpeg when
 * it is on PATH, else the built-in ones), made unique per id with bytes
 * from a PRNG seeded by the id: the video gets a trailing MP4 `free` box up
 * to exactly --video-bytes, the WebP an unknown RIFF chunk, the JPEG a
 * comment segment, the PNG (a last frame, made with GdkPixbuf) a private
 * ancillary chunk.  Players and decoders skip all four.  With --moov-at-end
 * the video is laid out by moov.c instead: its frames spread over one mdat
 * of PRNG filler, the moov last.
 *
 * A (id, variant) is written to a file in the temporary directory on its
 * first request (serve.c sends it from there with sendfile), so memory
 * stays flat whatever --video-bytes is.  The files are capped in total;
 * an evicted one is simply made again when asked for.
 */
#include "moov.h"
#include "sim.h"

#include <errno.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAD_BYTES 1024
#define WRITE_CHUNK (1024 * 1024)

static GBytes *base_video;
static GBytes *base_thumbnail;
static GBytes *base_spritesheet;
static GBytes *base_last_frame;
static char base_digest[65];
static struct sim_moov_plan *moov_plan; /* --moov-at-end */

static GMutex content_lock;
static GCond content_cond;
static GHashTable *generating; /* paths being written */
static GQueue *made;           /* struct made_file*, oldest first */
static guint64 made_bytes;

struct made_file
{
  char *path;
  guint64 size;
};

/* --- xoshiro256**, seeded by SHA-256 of (variant, id) --- */

struct prng
{
  guint64 s[4];
};

static inline guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static inline guint64
prng_next (struct prng *p)
{
  guint64 result = rotl (p->s[1] * 5, 7) * 9;
  guint64 t = p->s[1] << 17;

  p->s[2] ^= p->s[0];
  p->s[3] ^= p->s[1];
  p->s[1] ^= p->s[2];
  p->s[0] ^= p->s[3];
  p->s[2] ^= t;
  p->s[3] = rotl (p->s[3], 45);
  return result;
}

static void
prng_seed (struct prng *p, const char *id, enum sim_variant variant)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize len = sizeof digest;
  guint8 v = (guint8)variant;

  g_checksum_update (sum, &v, 1);
  g_checksum_update (sum, (const guchar *)id, (gssize)strlen (id));
  g_checksum_get_digest (sum, digest, &len);
  for (int i = 0; i < 4; i++)
    {
      p->s[i] = 0;
      for (int b = 0; b < 8; b++)
        p->s[i] = (p->s[i] << 8) | digest[i * 8 + b];
    }
  if (!(p->s[0] | p->s[1] | p->s[2] | p->s[3]))
    p->s[0] = 1;
}

static void
prng_fill (struct prng *p, guint8 *buf, gsize len)
{
  while (len >= 8)
    {
      guint64 x = prng_next (p);
      memcpy (buf, &x, 8);
      buf += 8;
      len -= 8;
    }
  if (len)
    {
      guint64 x = prng_next (p);
      memcpy (buf, &x, len);
    }
}

/* --- the base media --- */

static const char *const variant_names[] = { "video", "thumbnail", "spritesheet", "last_frame" };
static const char *const variant_exts[] = { "mp4", "webp", "jpg", "png" };
static const char *const variant_types[] = { "video/mp4", "image/webp", "image/jpeg", "image/png" };

const char *
sim_variant_type (enum sim_variant variant)
{
  return variant_types[variant];
}

gboolean
sim_variant_from_name (const char *name, enum sim_variant *variant)
{
  for (int i = 0; i < (int)G_N_ELEMENTS (variant_names); i++)
    if (g_str_equal (name, variant_names[i]))
      {
        *variant = i;
        return TRUE;
      }
  return FALSE;
}

static GBytes *
run_ffmpeg (const char *ffmpeg, const char *out, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *path = g_build_filename (sim.tmpdir, out, NULL);
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;
  int status = 0;

  g_ptr_array_add (argv, (char *)ffmpeg);
  g_ptr_array_add (argv, (char *)"-nostdin");
  g_ptr_array_add (argv, (char *)"-loglevel");
  g_ptr_array_add (argv, (char *)"error");
  g_ptr_array_add (argv, (char *)"-y");
  for (; *args; args++)
    g_ptr_array_add (argv, (char *)*args);
  g_ptr_array_add (argv, path);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (NULL, (char **)argv->pdata, NULL,
                     G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL,
                     NULL, &status, &error)
      || !g_spawn_check_exit_status (status, &error)
      || !g_file_get_contents (path, &data, &len, &error))
    {
      g_debug ("ffmpeg for %s: %s", out, error ? error->message : "failed");
      unlink (path);
      return NULL;
    }
  unlink (path);
  return g_bytes_new_take (data, len);
}

static void
make_bases (void)
{
  g_autofree char *ffmpeg = g_find_program_in_path ("ffmpeg");

  if (ffmpeg)
    {
      /* a key frame every half second, for seeks into a spread video */
      base_video = run_ffmpeg (
          ffmpeg, "base.mp4",
          (const char *const[]){ "-f", "lavfi", "-i", "testsrc=size=320x240:rate=24", "-t", "2",
                                 "-pix_fmt", "yuv420p", "-threads", "1", "-movflags", "+faststart",
                                 "-g", sim.moov_at_end ? "12" : "250", "-fflags", "+bitexact",
                                 "-flags:v", "+bitexact", NULL });
      base_thumbnail = run_ffmpeg (
          ffmpeg, "base.webp",
          (const char *const[]){ "-f", "lavfi", "-i", "testsrc=size=320x240:rate=1", "-frames:v",
                                 "1", "-c:v", "libwebp", "-fflags", "+bitexact", NULL });
      base_spritesheet = run_ffmpeg (
          ffmpeg, "base.jpg",
          (const char *const[]){ "-f", "lavfi", "-i", "testsrc=size=160x120:rate=24", "-t", "2",
                                 "-vf", "fps=4,tile=4x2", "-frames:v", "1", "-fflags", "+bitexact",
                                 "-flags:v", "+bitexact", NULL });
    }
  /* A base that is not what it claims is no base. */
  if (base_video
      && (g_bytes_get_size (base_video) < 16
          || memcmp ((const char *)g_bytes_get_data (base_video, NULL) + 4, "ftyp", 4)))
    g_clear_pointer (&base_video, g_bytes_unref);
  if (base_thumbnail
      && (g_bytes_get_size (base_thumbnail) < 20
          || memcmp (g_bytes_get_data (base_thumbnail, NULL), "RIFF", 4)))
    g_clear_pointer (&base_thumbnail, g_bytes_unref);
  if (base_spritesheet
      && (g_bytes_get_size (base_spritesheet) < 4
          || memcmp (g_bytes_get_data (base_spritesheet, NULL), "\xff\xd8", 2)))
    g_clear_pointer (&base_spritesheet, g_bytes_unref);

  if (!base_video)
    base_video = g_bytes_new_static (sim_builtin_mp4, sim_builtin_mp4_len);
  if (!base_thumbnail)
    base_thumbnail = g_bytes_new_static (sim_builtin_webp, sim_builtin_webp_len);
  if (!base_spritesheet)
    base_spritesheet = g_bytes_new_static (sim_builtin_jpeg, sim_builtin_jpeg_len);
  {
    g_autoptr (GdkPixbuf) frame = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 320, 240);
    gchar *buf = NULL;
    gsize len = 0;

    gdk_pixbuf_fill (frame, 0x203040ff);
    if (!gdk_pixbuf_save_to_buffer (frame, &buf, &len, "png", NULL, NULL))
      g_error ("cannot make the last frame's PNG");
    base_last_frame = g_bytes_new_take (buf, len);
  }
}

gboolean
sim_content_init (GError **error)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  char size[32];

  make_bases ();
  if (sim.moov_at_end)
    {
      moov_plan = sim_moov_plan_new (base_video, sim.video_bytes);
      if (!moov_plan)
        {
          g_set_error (error, SIM_ERROR, 0,
                       "--moov-at-end: the base video (%" G_GSIZE_FORMAT
                       " bytes) cannot be laid out in %" G_GUINT64_FORMAT " bytes",
                       g_bytes_get_size (base_video), sim.video_bytes);
          return FALSE;
        }
      g_checksum_update (sum, (const guchar *)"moov-at-end", 11);
    }
  g_checksum_update (sum, g_bytes_get_data (base_video, NULL), g_bytes_get_size (base_video));
  g_checksum_update (sum, g_bytes_get_data (base_thumbnail, NULL),
                     g_bytes_get_size (base_thumbnail));
  g_checksum_update (sum, g_bytes_get_data (base_spritesheet, NULL),
                     g_bytes_get_size (base_spritesheet));
  g_checksum_update (sum, g_bytes_get_data (base_last_frame, NULL),
                     g_bytes_get_size (base_last_frame));
  g_snprintf (size, sizeof size, "%" G_GUINT64_FORMAT, sim.video_bytes);
  g_checksum_update (sum, (const guchar *)size, (gssize)strlen (size));
  g_strlcpy (base_digest, g_checksum_get_string (sum), sizeof base_digest);

  generating = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  made = g_queue_new ();
  return TRUE;
}

static void
made_file_free (struct made_file *m)
{
  g_free (m->path);
  g_free (m);
}

void
sim_content_cleanup (void)
{
  g_clear_pointer (&moov_plan, sim_moov_plan_free);
  g_clear_pointer (&base_video, g_bytes_unref);
  g_clear_pointer (&base_thumbnail, g_bytes_unref);
  g_clear_pointer (&base_spritesheet, g_bytes_unref);
  g_clear_pointer (&base_last_frame, g_bytes_unref);
  g_clear_pointer (&generating, g_hash_table_unref);
  if (made)
    g_queue_free_full (g_steal_pointer (&made), (GDestroyNotify)made_file_free);
}

/* --- materialised files --- */

static char *
path_for (const char *id, enum sim_variant variant)
{
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA1, id, -1);
  g_autofree char *name = g_strdup_printf ("c-%s.%s", hash, variant_exts[variant]);

  return g_build_filename (sim.tmpdir, name, NULL);
}

static guint64
variant_size (enum sim_variant variant)
{
  switch (variant)
    {
    case SIM_VARIANT_VIDEO:
      return sim.video_bytes;
    case SIM_VARIANT_THUMBNAIL:
      return g_bytes_get_size (base_thumbnail) + 8 + PAD_BYTES;
    case SIM_VARIANT_LAST_FRAME:
      return g_bytes_get_size (base_last_frame) + 12 + PAD_BYTES;
    case SIM_VARIANT_SPRITESHEET:
    default:
      return g_bytes_get_size (base_spritesheet) + 4 + PAD_BYTES;
    }
}

static gboolean
write_all (int fd, const void *data, gsize len)
{
  const guint8 *p = data;

  while (len)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (gsize)n;
    }
  return TRUE;
}

static void
put_be32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static void
put_le32 (guint8 *p, guint32 v)
{
  p[0] = v;
  p[1] = v >> 8;
  p[2] = v >> 16;
  p[3] = v >> 24;
}

/* `left` bytes of the PRNG, through `buf` (WRITE_CHUNK bytes). */
static gboolean
write_filler (int fd, struct prng *prng, guint8 *buf, guint64 left)
{
  while (left)
    {
      gsize n = MIN (left, WRITE_CHUNK);
      prng_fill (prng, buf, n);
      if (!write_all (fd, buf, n))
        return FALSE;
      left -= n;
    }
  return TRUE;
}

static gboolean
write_plan (int fd, struct prng *prng, guint8 *buf)
{
  for (guint i = 0; i < moov_plan->pieces->len; i++)
    {
      const struct sim_piece *piece = &g_array_index (moov_plan->pieces, struct sim_piece, i);

      if (piece->data ? !write_all (fd, piece->data, piece->len)
                      : !write_filler (fd, prng, buf, piece->len))
        return FALSE;
    }
  return TRUE;
}

/* The video: base MP4 (or only an ftyp when it does not fit), then one
 * `free` box of PRNG bytes to exactly --video-bytes. */
static gboolean
write_video (int fd, struct prng *prng)
{
  static const guint8 ftyp[32]
      = { 0,   0,   0,   32,  'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0,   0,   2,   0,
          'i', 's', 'o', 'm', 'i', 's', 'o', '2', 'a', 'v', 'c', '1', 'm', 'p', '4', '1' };
  const guint8 *head = g_bytes_get_data (base_video, NULL);
  gsize head_len = g_bytes_get_size (base_video);
  g_autofree guint8 *buf = g_malloc (WRITE_CHUNK);
  guint64 left;
  guint8 box[16];
  gsize box_len;

  if (moov_plan)
    return write_plan (fd, prng, buf);
  if (head_len + 8 > sim.video_bytes)
    {
      head = sim_builtin_mp4;
      head_len = sim_builtin_mp4_len;
    }
  if (head_len + 8 > sim.video_bytes)
    {
      head = ftyp;
      head_len = sizeof ftyp;
    }
  left = sim.video_bytes - head_len;
  if (left <= G_MAXUINT32)
    {
      put_be32 (box, (guint32)left);
      memcpy (box + 4, "free", 4);
      box_len = 8;
    }
  else
    {
      put_be32 (box, 1);
      memcpy (box + 4, "free", 4);
      put_be32 (box + 8, (guint32)(left >> 32));
      put_be32 (box + 12, (guint32)left);
      box_len = 16;
    }
  if (!write_all (fd, head, head_len) || !write_all (fd, box, box_len))
    return FALSE;
  return write_filler (fd, prng, buf, left - box_len);
}

/* PNG's CRC-32 (ISO 3309) of a chunk's type and data. */
static guint32
png_crc (const guint8 *type, const guint8 *data, gsize len)
{
  guint32 c = 0xffffffffu;

  for (gsize i = 0; i < 4 + len; i++)
    {
      c ^= i < 4 ? type[i] : data[i - 4];
      for (int k = 0; k < 8; k++)
        c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
  return c ^ 0xffffffffu;
}

static gboolean
write_image (int fd, enum sim_variant variant, struct prng *prng)
{
  guint8 pad[PAD_BYTES];
  guint8 hdr[8];

  prng_fill (prng, pad, sizeof pad);
  if (variant == SIM_VARIANT_LAST_FRAME)
    {
      /* a private ancillary chunk "seEd" just before IEND (the last 12 bytes) */
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (base_last_frame, &len);
      guint8 crc[4];

      put_be32 (hdr, PAD_BYTES);
      memcpy (hdr + 4, "seEd", 4);
      put_be32 (crc, png_crc (hdr + 4, pad, sizeof pad));
      return write_all (fd, data, len - 12) && write_all (fd, hdr, 8)
             && write_all (fd, pad, sizeof pad) && write_all (fd, crc, 4)
             && write_all (fd, data + len - 12, 12);
    }
  if (variant == SIM_VARIANT_THUMBNAIL)
    {
      /* RIFF size + an unknown chunk at the end, which decoders skip */
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (base_thumbnail, &len);
      guint8 riff[8];

      memcpy (riff, "RIFF", 4);
      put_le32 (riff + 4, (guint32)(len - 8 + 8 + PAD_BYTES));
      memcpy (hdr, "SEED", 4);
      put_le32 (hdr + 4, PAD_BYTES);
      return write_all (fd, riff, 8) && write_all (fd, data + 8, len - 8) && write_all (fd, hdr, 8)
             && write_all (fd, pad, sizeof pad);
    }
  else
    {
      /* a COM segment right after SOI */
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (base_spritesheet, &len);

      hdr[0] = 0xff;
      hdr[1] = 0xfe;
      hdr[2] = (PAD_BYTES + 2) >> 8;
      hdr[3] = (PAD_BYTES + 2) & 0xff;
      return write_all (fd, data, 2) && write_all (fd, hdr, 4) && write_all (fd, pad, sizeof pad)
             && write_all (fd, data + 2, len - 2);
    }
}

static gboolean
materialise (const char *id, enum sim_variant variant, const char *path, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".part", NULL);
  struct prng prng;
  gboolean ok;
  int fd;

  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT && g_mkdir_with_parents (sim.tmpdir, 0700) == 0)
    fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      g_set_error (error, SIM_ERROR, 0, "%s: %s", tmp, g_strerror (errno));
      return FALSE;
    }
  prng_seed (&prng, id, variant);
  ok = variant == SIM_VARIANT_VIDEO ? write_video (fd, &prng) : write_image (fd, variant, &prng);
  if (close (fd) < 0)
    ok = FALSE;
  if (!ok || rename (tmp, path) < 0)
    {
      g_set_error (error, SIM_ERROR, 0, "%s: %s", tmp, g_strerror (errno ? errno : EIO));
      unlink (tmp);
      return FALSE;
    }
  return TRUE;
}

/* Keeps the materialised files under a cap; open descriptors stay valid. */
static void
note_made (const char *path, guint64 size)
{
  guint64 cap = MAX ((guint64)2 << 30, sim.video_bytes * 8);
  struct made_file *m = g_new0 (struct made_file, 1);

  m->path = g_strdup (path);
  m->size = size;
  g_queue_push_tail (made, m);
  made_bytes += size;
  while (made_bytes > cap && g_queue_get_length (made) > 1)
    {
      struct made_file *old = g_queue_pop_head (made);
      unlink (old->path);
      made_bytes -= old->size;
      made_file_free (old);
    }
}

/* An open descriptor on the bytes of (id, variant), made if need be. */
int
sim_content_open (const char *id, enum sim_variant variant, GError **error)
{
  g_autofree char *path = path_for (id, variant);
  gboolean ok;
  int fd;

  g_mutex_lock (&content_lock);
  while (g_hash_table_contains (generating, path))
    g_cond_wait (&content_cond, &content_lock);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT)
    {
      g_mutex_unlock (&content_lock);
      if (fd < 0)
        g_set_error (error, SIM_ERROR, 0, "%s: %s", path, g_strerror (errno));
      return fd;
    }
  g_hash_table_add (generating, g_strdup (path));
  g_mutex_unlock (&content_lock);

  ok = materialise (id, variant, path, error);

  g_mutex_lock (&content_lock);
  g_hash_table_remove (generating, path);
  if (ok)
    note_made (path, variant_size (variant));
  g_cond_broadcast (&content_cond);
  g_mutex_unlock (&content_lock);
  if (!ok)
    return -1;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    g_set_error (error, SIM_ERROR, 0, "%s: %s", path, g_strerror (errno));
  return fd;
}

static gboolean
same_path (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (((const struct made_file *)a)->path, b);
}

void
sim_content_forget (const char *id)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&content_lock);

  for (int v = 0; v < 3; v++)
    {
      g_autofree char *path = path_for (id, v);
      GList *link = g_queue_find_custom (made, path, (GCompareFunc)same_path);

      if (link)
        {
          struct made_file *m = link->data;
          made_bytes -= m->size;
          made_file_free (m);
          g_queue_delete_link (made, link);
        }
      unlink (path);
    }
}

void
sim_content_etag (const char *id, enum sim_variant variant, char *etag, gsize size)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 v = (guint8)variant;

  g_checksum_update (sum, (const guchar *)base_digest, 64);
  g_checksum_update (sum, &v, 1);
  g_checksum_update (sum, (const guchar *)id, (gssize)strlen (id));
  g_snprintf (etag, size, "\"%.32s\"", g_checksum_get_string (sum));
}
