/* pictures.c: the pictures the image APIs make, made with GdkPixbuf, and
 * kept per request so that tests can read the exact bytes
 * (GET /_sim/images/{request-id}/{n}) and URL answers can serve them
 * (GET /images/{request-id}-{n}.{ext}) until --image-url-ttl has passed. */
#include "sim.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <stdio.h>

/* At most this many requests' pictures are kept; the oldest go first. */
#define KEPT_REQUESTS 64

struct made
{
  char *rid;
  GPtrArray *pictures; /* of GBytes */
  char *mime;
  gint64 made_us; /* monotonic */
};

static GMutex pictures_lock;
static GQueue kept = G_QUEUE_INIT; /* of struct made, oldest first */

static void
made_free (struct made *m)
{
  g_free (m->rid);
  g_ptr_array_unref (m->pictures);
  g_free (m->mime);
  g_free (m);
}

const char *
sim_picture_mime (const char *format)
{
  if (g_str_equal (format, "jpeg") || g_str_equal (format, "jpg"))
    return "image/jpeg";
  if (g_str_equal (format, "webp"))
    return "image/webp";
  return "image/png";
}

static const char *
ext_of_mime (const char *mime)
{
  if (g_str_equal (mime, "image/jpeg"))
    return "jpeg";
  if (g_str_equal (mime, "image/webp"))
    return "webp";
  return "png";
}

static inline guint32
xorshift (guint32 *s)
{
  guint32 x = *s;

  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

/* A gradient with a seeded 8x8 grid of 8-pixel cells in its corner, or
 * seeded noise all over (as big as a photograph once compressed). */
static GBytes *
make_one (const char *mime, int w, int h, guint32 seed, gboolean noise, GError **error)
{
  g_autoptr (GdkPixbuf) pb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, w, h);
  guchar *px;
  int stride;
  guint32 s = seed | 1;
  gchar *buf = NULL;
  gsize len = 0;
  gboolean ok;

  if (!pb)
    {
      g_set_error (error, SIM_ERROR, 0, "no memory for a %dx%d picture", w, h);
      return NULL;
    }
  px = gdk_pixbuf_get_pixels (pb);
  stride = gdk_pixbuf_get_rowstride (pb);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guchar *p = px + (gsize)y * stride + (gsize)x * 3;

        if (noise)
          {
            guint32 r = xorshift (&s);

            p[0] = r;
            p[1] = r >> 8;
            p[2] = r >> 16;
          }
        else
          {
            p[0] = (guchar)(x * 255 / MAX (w - 1, 1));
            p[1] = (guchar)(y * 255 / MAX (h - 1, 1));
            p[2] = (guchar)seed;
          }
      }
  if (!noise)
    for (int cell = 0; cell < 64; cell++)
      {
        guint32 colour = xorshift (&s);

        for (int y = (cell / 8) * 8; y < (cell / 8) * 8 + 8 && y < h; y++)
          for (int x = (cell % 8) * 8; x < (cell % 8) * 8 + 8 && x < w; x++)
            {
              guchar *p = px + (gsize)y * stride + (gsize)x * 3;

              p[0] = colour;
              p[1] = colour >> 8;
              p[2] = colour >> 16;
            }
      }
  if (g_str_equal (mime, "image/jpeg"))
    ok = gdk_pixbuf_save_to_buffer (pb, &buf, &len, "jpeg", error, "quality", "90", NULL);
  else if (g_str_equal (mime, "image/webp"))
    ok = gdk_pixbuf_save_to_buffer (pb, &buf, &len, "webp", error, "quality", "90", NULL);
  else
    ok = gdk_pixbuf_save_to_buffer (pb, &buf, &len, "png", error, "compression", "1", NULL);
  return ok ? g_bytes_new_take (buf, len) : NULL;
}

GPtrArray *
sim_pictures_make (const char *rid, const char *mime, int width, int height, guint n,
                   gboolean noise, GError **error)
{
  g_autoptr (GPtrArray) pictures = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  guint32 seed = g_str_hash (rid);
  struct made *m;

  for (guint i = 0; i < n; i++)
    {
      GBytes *b = make_one (mime, width, height, seed + i * 7919u, noise, error);

      if (!b)
        return NULL;
      g_ptr_array_add (pictures, b);
    }
  m = g_new0 (struct made, 1);
  m->rid = g_strdup (rid);
  m->pictures = g_ptr_array_ref (pictures);
  m->mime = g_strdup (mime);
  m->made_us = g_get_monotonic_time ();
  g_mutex_lock (&pictures_lock);
  g_queue_push_tail (&kept, m);
  while (g_queue_get_length (&kept) > KEPT_REQUESTS)
    made_free (g_queue_pop_head (&kept));
  g_mutex_unlock (&pictures_lock);
  return g_steal_pointer (&pictures);
}

char *
sim_picture_url (const char *rid, guint index, const char *mime)
{
  return g_strdup_printf ("http://127.0.0.1:%u/images/%s-%u.%s", sim.port, rid, index + 1,
                          ext_of_mime (mime));
}

/* The picture `index` (from 0) of request `rid`, with its type and age. */
static GBytes *
lookup (const char *rid, guint index, char **mime, gint64 *age_us)
{
  GBytes *found = NULL;

  g_mutex_lock (&pictures_lock);
  for (GList *l = kept.head; l; l = l->next)
    {
      struct made *m = l->data;

      if (g_str_equal (m->rid, rid) && index < m->pictures->len)
        {
          found = g_bytes_ref (g_ptr_array_index (m->pictures, index));
          *mime = g_strdup (m->mime);
          *age_us = g_get_monotonic_time () - m->made_us;
          break;
        }
    }
  g_mutex_unlock (&pictures_lock);
  return found;
}

static enum MHD_Result
reply_bytes (struct sim_request *req, GBytes *bytes, const char *mime)
{
  gsize len;
  const void *data = g_bytes_get_data (bytes, &len);
  struct MHD_Response *r;

  r = MHD_create_response_from_buffer (len, (void *)data, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, mime);
  return sim_reply_response (req, MHD_HTTP_OK, r);
}

/* The picture an {id} of RID<sep>N[.EXT] names. */
static GBytes *
lookup_id (const char *id, char sep, char **mime, gint64 *age_us)
{
  g_autofree char *rid = g_strdup (id);
  char *at = strrchr (rid, sep);
  guint64 n = 0;

  if (at && strchr (at, '.'))
    *strchr (at, '.') = '\0';
  if (!at || !g_ascii_string_to_unsigned (at + 1, 10, 1, 64, &n, NULL))
    return NULL;
  *at = '\0';
  return lookup (rid, (guint)n - 1, mime, age_us);
}

/* {id} is REQUEST-ID-N.EXT */
enum MHD_Result
sim_pictures_file (struct sim_request *req)
{
  g_autofree char *mime = NULL;
  gint64 age = 0;
  g_autoptr (GBytes) bytes = lookup_id (req->id, '-', &mime, &age);

  if (!bytes)
    return sim_reply_not_found (req);
  if (age >= sim.image_url_ttl_us)
    {
      /* as the blob storage behind such URLs answers */
      static const char body[]
          = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code>"
            "<Message>Server failed to authenticate the request. Signed expiry time has "
            "passed.</Message></Error>";
      struct MHD_Response *r
          = MHD_create_response_from_buffer (sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);

      MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/xml");
      return sim_reply_response (req, MHD_HTTP_FORBIDDEN, r);
    }
  return reply_bytes (req, bytes, mime);
}

/* {id} is REQUEST-ID/N: the exact bytes, whatever the TTL. */
enum MHD_Result
sim_control_images (struct sim_request *req)
{
  g_autofree char *mime = NULL;
  gint64 age = 0;
  g_autoptr (GBytes) bytes = lookup_id (req->id, '/', &mime, &age);

  if (!bytes)
    return sim_reply_not_found (req);
  return reply_bytes (req, bytes, mime);
}

void
sim_pictures_cleanup (void)
{
  g_mutex_lock (&pictures_lock);
  while (!g_queue_is_empty (&kept))
    made_free (g_queue_pop_head (&kept));
  g_mutex_unlock (&pictures_lock);
}
