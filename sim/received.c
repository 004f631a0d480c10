/* received.c: what the creates received, kept for tests: the fields of
 * each and, for every file part or data URL, its size, SHA-256 and
 * dimensions (GET /_sim/received; reset with the stats). */
#include "sim.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <string.h>

static GMutex received_lock;
static json_t *received; /* array of {route, fields, files} */

static const char *
sniff (const guint8 *data, gsize len)
{
  if (len >= 8 && memcmp (data, "\x89PNG\r\n\x1a\n", 8) == 0)
    return "image/png";
  if (len >= 3 && memcmp (data, "\xff\xd8\xff", 3) == 0)
    return "image/jpeg";
  if (len >= 12 && memcmp (data, "RIFF", 4) == 0 && memcmp (data + 8, "WEBP", 4) == 0)
    return "image/webp";
  return NULL;
}

json_t *
sim_received_describe (const char *field, const char *filename, const char *content_type,
                       const guint8 *data, gsize len, int *width, int *height)
{
  g_autofree char *sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
  const char *type = sniff (data, len);
  int w = 0, h = 0;

  if (type)
    {
      g_autoptr (GdkPixbufLoader) loader = gdk_pixbuf_loader_new_with_mime_type (type, NULL);

      if (loader && gdk_pixbuf_loader_write (loader, data, len, NULL)
          && gdk_pixbuf_loader_close (loader, NULL) && gdk_pixbuf_loader_get_pixbuf (loader))
        {
          w = gdk_pixbuf_get_width (gdk_pixbuf_loader_get_pixbuf (loader));
          h = gdk_pixbuf_get_height (gdk_pixbuf_loader_get_pixbuf (loader));
        }
      else if (loader)
        gdk_pixbuf_loader_close (loader, NULL);
    }
  if (width)
    *width = w;
  if (height)
    *height = h;
  return json_pack ("{s:s, s:s?, s:s?, s:s?, s:I, s:s, s:o, s:o}", "field", field, "filename",
                    filename, "content_type", content_type, "type", type, "size", (json_int_t)len,
                    "sha256", sha256, "width", w ? json_integer (w) : json_null (), "height",
                    h ? json_integer (h) : json_null ());
}

void
sim_received_add (const char *route, json_t *fields, json_t *files)
{
  g_mutex_lock (&received_lock);
  if (!received)
    received = json_array ();
  json_array_append_new (received, json_pack ("{s:s, s:o, s:o}", "route", route, "fields",
                                              fields ? fields : json_object (), "files",
                                              files ? files : json_array ()));
  g_mutex_unlock (&received_lock);
}

void
sim_received_reset (void)
{
  g_mutex_lock (&received_lock);
  g_clear_pointer (&received, json_decref);
  g_mutex_unlock (&received_lock);
}

enum MHD_Result
sim_control_received (struct sim_request *req)
{
  json_t *copy;

  g_mutex_lock (&received_lock);
  copy = received ? json_deep_copy (received) : json_array ();
  g_mutex_unlock (&received_lock);
  return sim_reply_json (req, MHD_HTTP_OK, json_pack ("{s:o}", "creates", copy));
}
