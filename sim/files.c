/* files.c: /files/, where Ark's pre-signed video_url points, the
 * signature of those URLs, and an HTML index of every finished video for
 * HTTP-directory clients (rclone's http backend).  No bearer is needed
 * here: a ?sig= that is present must match, and one that is absent is
 * allowed. */
#include "sim.h"

static char *
sig_for (const char *id)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);

  g_checksum_update (sum, (const guchar *)sim.sig_key, (gssize)strlen (sim.sig_key));
  g_checksum_update (sum, (const guchar *)id, (gssize)strlen (id));
  return g_strndup (g_checksum_get_string (sum), 32);
}

char *
sim_presigned_url (const char *id, gsize id_len, const char *ext)
{
  g_autofree char *escaped = g_uri_escape_string (id, NULL, FALSE);
  g_autofree char *sig = sig_for (id);

  return g_strdup_printf ("http://127.0.0.1:%u/files/%s.%s?sig=%s", sim.port, escaped, ext, sig);
}

gboolean
sim_sig_ok (const char *id, const char *sig)
{
  g_autofree char *want = sig_for (id);

  return g_str_equal (want, sig);
}

enum MHD_Result
sim_files_index (struct sim_request *req)
{
  g_autoptr (GPtrArray) views = sim_jobs_finished ();
  GString *html = g_string_new ("<!DOCTYPE html>\n<html><head><title>Index of /files/</title>"
                                "</head>\n<body><h1>Index of /files/</h1>\n<pre>\n");
  struct MHD_Response *r;
  gsize len;

  for (guint i = 0; i < views->len; i++)
    {
      const struct sim_job_view *v = g_ptr_array_index (views, i);
      g_autofree char *href = g_uri_escape_string (v->id, NULL, FALSE);
      g_autofree char *text = NULL;

      if (!g_utf8_validate (v->id, -1, NULL))
        continue;
      text = g_markup_escape_text (v->id, -1);
      g_string_append_printf (html, "<a href=\"%s.mp4\">%s.mp4</a>\n", href, text);
    }
  g_string_append (html, "</pre>\n</body></html>\n");
  len = html->len;
  r = MHD_create_response_from_buffer (len, g_string_free (html, FALSE), MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
  return sim_reply_response (req, MHD_HTTP_OK, r);
}

static enum MHD_Result
no_such_file (struct sim_request *req)
{
  return sim_reply_ark_error (req, MHD_HTTP_NOT_FOUND, "NoSuchKey", "NotFound", NULL,
                              "The specified key does not exist.");
}

enum MHD_Result
sim_files_get (struct sim_request *req)
{
  static const struct
  {
    const char *ext;
    enum sim_variant variant;
  } exts[] = { { ".mp4", SIM_VARIANT_VIDEO },
               { ".webp", SIM_VARIANT_THUMBNAIL },
               { ".jpg", SIM_VARIANT_SPRITESHEET },
               { ".png", SIM_VARIANT_LAST_FRAME } };
  g_autoptr (SimJobView) view = NULL;
  g_autofree char *id = NULL;
  struct sim_content_faults faults;
  enum sim_variant variant = SIM_VARIANT_VIDEO;
  const char *sig = sim_request_arg (req, "sig");

  for (gsize i = 0; i < G_N_ELEMENTS (exts) && !id; i++)
    if (g_str_has_suffix (req->id, exts[i].ext) && strlen (req->id) > strlen (exts[i].ext))
      {
        id = g_strndup (req->id, strlen (req->id) - strlen (exts[i].ext));
        variant = exts[i].variant;
      }
  if (!id)
    return no_such_file (req);
  if (sig && !sim_sig_ok (id, sig))
    return sim_reply_ark_error (req, MHD_HTTP_FORBIDDEN, "SignatureDoesNotMatch", "Forbidden", NULL,
                                "The request signature does not match.");
  view = sim_jobs_get (SIM_API_ARK, id);
  if (!view)
    view = sim_jobs_get (SIM_API_OPENAI, id);
  if (!view || view->state != SIM_STATE_COMPLETED || view->expired)
    return no_such_file (req);
  sim_content_take_faults (req->call, &faults);
  return sim_content_reply (req, id, variant, &faults, view->completed_ms);
}
