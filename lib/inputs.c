/* inputs.c: the pictures, videos and sources a prompt names (vf-inputs.h). */
#include "vf-inputs.h"

#include <errno.h>
#include <fcntl.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vf-error.h"
#include "vf-fdio.h"
#include "vf-prompt.h"

/* What each protocol says of a key it does not take. */
typedef struct
{
  const char *key;
  const char *not_openai; /* NULL: OpenAI takes it */
  const char *not_ark;    /* NULL: Ark takes it */
} KeyRule;

static const KeyRule key_rules[] = {
  { "image", NULL, NULL },
  { "last_image", "Sora starts from a picture (image:) but cannot end on one; Seedance models can",
    NULL },
  { "references", "Sora takes no reference pictures; Seedance models do", NULL },
  { "reference_video", "only Seedance's video-to-video (-V2V) models take a reference video",
    NULL },
  { "reference_audio", "only Seedance models take a reference audio", NULL },
  { "remix", NULL, "Seedance has no remix; Sora models do" },
  { "extend", NULL, "Seedance cannot extend a video; Sora models can" },
  { "return_last_frame", "Sora gives no last frame; Seedance models do", NULL },
  { "fit", NULL,
    "Seedance takes pictures of any size; fit is for Sora, whose pictures must match size" },
};

void
vf_inputs_free (VfInputs *inputs)
{
  if (!inputs)
    return;
  for (guint i = 0; i < inputs->files->len; i++)
    {
      VfCreateFile *f = &g_array_index (inputs->files, VfCreateFile, i);

      g_free (f->sha256);
      g_free (f->content_type);
      g_free (f->filename);
      g_bytes_unref (f->bytes);
    }
  g_array_unref (inputs->files);
  g_free (inputs->remix);
  g_free (inputs->extend);
  g_free (inputs);
}

const char *
vf_inputs_sniff (const guint8 *data, gsize len)
{
  if (len >= 8 && memcmp (data, "\x89PNG\r\n\x1a\n", 8) == 0)
    return "image/png";
  if (len >= 3 && memcmp (data, "\xff\xd8\xff", 3) == 0)
    return "image/jpeg";
  if (len >= 12 && memcmp (data, "RIFF", 4) == 0 && memcmp (data + 8, "WEBP", 4) == 0)
    return "image/webp";
  return NULL;
}

/* A key's value as text: front matter types "42" as a number. */
static char *
value_text (const char *key, json_t *value, GError **error)
{
  if (json_is_string (value) && json_string_length (value) > 0)
    return g_strdup (json_string_value (value));
  if (json_is_integer (value))
    return g_strdup_printf ("%" JSON_INTEGER_FORMAT, json_integer_value (value));
  vf_set_error (error, VF_ERROR_INVALID, "%s: want a file name, a job name or a URL", key);
  return NULL;
}

/* "a.png, b.png" or ["a.png", "b.png"] as a list of names. */
static GPtrArray *
value_list (const char *key, json_t *value, GError **error)
{
  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func (g_free);

  if (json_is_array (value))
    {
      size_t i;
      json_t *item;

      json_array_foreach (value, i, item)
      {
        char *s = value_text (key, item, error);
        if (!s)
          return NULL;
        g_ptr_array_add (list, s);
      }
    }
  else
    {
      g_autofree char *text = value_text (key, value, error);
      g_auto (GStrv) parts = NULL;

      if (!text)
        return NULL;
      parts = g_strsplit (text, ",", -1);
      for (char **p = parts; *p; p++)
        {
          g_strstrip (*p);
          if (!**p)
            {
              vf_set_error (error, VF_ERROR_INVALID, "%s: an empty name in the list", key);
              return NULL;
            }
          g_ptr_array_add (list, g_strdup (*p));
        }
    }
  if (list->len == 0)
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s: the list is empty", key);
      return NULL;
    }
  return g_steal_pointer (&list);
}

static GBytes *
read_file (const char *key, const char *file, VfInputOpenFunc open_func, gpointer user_data,
           GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GByteArray) bytes = NULL;
  struct stat st;
  int fd;
  int e;

  if (g_path_is_absolute (file))
    {
      fd = vf_open_noeintr (file, O_RDONLY, 0);
      if (fd < 0)
        vf_set_io_error (&local, errno, "cannot open", file);
    }
  else if (open_func)
    fd = open_func (file, user_data, &local);
  else
    {
      fd = -1;
      vf_set_error (&local, VF_ERROR_INVALID, "%s is not an absolute path", file);
    }
  if (fd < 0)
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s: %s", key, local->message);
      return NULL;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s: %s is %s, not a picture", key, file,
                    S_ISDIR (st.st_mode) ? "a directory" : "not a regular file");
      close (fd);
      return NULL;
    }
  if (st.st_size > VF_INPUT_IMAGE_MAX)
    {
      vf_set_error (error, VF_ERROR_TOO_LARGE,
                    "%s: %s is %lld bytes, more than the %d a picture may have", key, file,
                    (long long)st.st_size, VF_INPUT_IMAGE_MAX);
      close (fd);
      return NULL;
    }
  bytes = g_byte_array_sized_new ((guint)st.st_size);
  e = vf_read_all (fd, bytes);
  close (fd);
  if (e != 0)
    {
      vf_set_io_error (&local, e, "cannot read", file);
      vf_set_error (error, VF_ERROR_INVALID, "%s: %s", key, local->message);
      return NULL;
    }
  if (bytes->len > VF_INPUT_IMAGE_MAX)
    {
      vf_set_error (error, VF_ERROR_TOO_LARGE,
                    "%s: %s is more than the %d bytes a picture may have", key, file,
                    VF_INPUT_IMAGE_MAX);
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
}

/* Decodes a picture with GdkPixbuf.  A type it has no loader for (WebP
 * without webp-pixbuf-loader) gives NULL and no error: its dimensions are
 * unknown. */
static GdkPixbuf *
decode (const char *key, const char *file, const char *type, GBytes *bytes, GError **error)
{
  g_autoptr (GdkPixbufLoader) loader = gdk_pixbuf_loader_new_with_mime_type (type, NULL);
  g_autoptr (GError) local = NULL;
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  GdkPixbuf *pixbuf;

  if (!loader)
    return NULL;
  if (!gdk_pixbuf_loader_write (loader, data, len, &local)
      || !gdk_pixbuf_loader_close (loader, &local))
    {
      gdk_pixbuf_loader_close (loader, NULL);
      vf_set_error (error, VF_ERROR_INVALID, "%s: %s is not a readable %s picture: %s", key, file,
                    type + strlen ("image/"), local ? local->message : "no picture");
      return NULL;
    }
  pixbuf = gdk_pixbuf_loader_get_pixbuf (loader);
  if (!pixbuf)
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s: %s holds no picture", key, file);
      return NULL;
    }
  return g_object_ref (pixbuf);
}

/* The picture scaled to cover w x h and cropped to it, or scaled to fit
 * inside and padded (transparent with alpha, else black), as PNG. */
static GBytes *
fit_picture (GdkPixbuf *src, guint w, guint h, gboolean cover, GError **error)
{
  int sw = gdk_pixbuf_get_width (src), sh = gdk_pixbuf_get_height (src);
  double sx = (double)w / sw, sy = (double)h / sh;
  double scale = cover ? MAX (sx, sy) : MIN (sx, sy);
  int tw = (int)lround (sw * scale), th = (int)lround (sh * scale);
  g_autoptr (GdkPixbuf) scaled = NULL;
  g_autoptr (GdkPixbuf) out = NULL;
  g_autoptr (GError) local = NULL;
  gchar *buf = NULL;
  gsize len = 0;

  tw = cover ? MAX (tw, (int)w) : CLAMP (tw, 1, (int)w);
  th = cover ? MAX (th, (int)h) : CLAMP (th, 1, (int)h);
  scaled = gdk_pixbuf_scale_simple (src, tw, th, GDK_INTERP_BILINEAR);
  if (!scaled)
    {
      vf_set_error (error, VF_ERROR_NO_SPACE, "fit: no memory to scale to %dx%d", tw, th);
      return NULL;
    }
  if (cover)
    out = gdk_pixbuf_new_subpixbuf (scaled, (tw - (int)w) / 2, (th - (int)h) / 2, (int)w, (int)h);
  else
    {
      gboolean alpha = gdk_pixbuf_get_has_alpha (scaled);

      out = gdk_pixbuf_new (GDK_COLORSPACE_RGB, alpha, 8, (int)w, (int)h);
      if (!out)
        {
          vf_set_error (error, VF_ERROR_NO_SPACE, "fit: no memory for %ux%u", w, h);
          return NULL;
        }
      gdk_pixbuf_fill (out, alpha ? 0x00000000 : 0x000000ff);
      gdk_pixbuf_copy_area (scaled, 0, 0, tw, th, out, ((int)w - tw) / 2, ((int)h - th) / 2);
    }
  if (!gdk_pixbuf_save_to_buffer (out, &buf, &len, "png", &local, NULL))
    {
      vf_set_error (error, VF_ERROR_FAILED, "fit: cannot write the PNG: %s", local->message);
      return NULL;
    }
  return g_bytes_new_take (buf, len);
}

static char *
sha256_hex (GBytes *bytes)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
}

static json_t *
describe (const char *type, GBytes *bytes, const char *sha256, int width, int height)
{
  json_t *d = json_pack ("{s:s, s:I, s:s}", "type", type, "size",
                         (json_int_t)g_bytes_get_size (bytes), "sha256", sha256);

  if (width > 0)
    {
      json_object_set_new (d, "width", json_integer (width));
      json_object_set_new (d, "height", json_integer (height));
    }
  return d;
}

typedef struct
{
  const char *fit;  /* "cover", "contain" or NULL */
  const char *size; /* WxH the picture must have, or NULL for any */
  VfInputOpenFunc open;
  gpointer user_data;
} PictureRule;

/* Reads FILE for `key`, checks it, fits it if asked, adds its bytes to
 * `inputs`; returns its description. */
static json_t *
take_picture (VfInputs *inputs, const char *key, const char *file, const PictureRule *rule,
              GError **error)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GdkPixbuf) pixbuf = NULL;
  g_autofree char *sha256 = NULL;
  g_autofree char *base = g_path_get_basename (file);
  g_autoptr (GError) local = NULL;
  const char *type;
  json_t *d;
  VfCreateFile f = { 0 };
  guint w = 0, h = 0;
  gsize len;
  int pw = 0, ph = 0;

  bytes = read_file (key, file, rule->open, rule->user_data, error);
  if (!bytes)
    return NULL;
  const guint8 *data = g_bytes_get_data (bytes, &len); /* len before it is passed */
  type = vf_inputs_sniff (data, len);
  if (!type)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "%s: %s is not a PNG, JPEG or WebP picture (by its bytes)", key, file);
      return NULL;
    }
  pixbuf = decode (key, file, type, bytes, &local);
  if (local)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  if (pixbuf)
    {
      pw = gdk_pixbuf_get_width (pixbuf);
      ph = gdk_pixbuf_get_height (pixbuf);
    }
  if (rule->size && !vf_prompt_parse_size (rule->size, &w, &h))
    w = h = 0;
  if (w && !pixbuf)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "%s: the dimensions of %s cannot be read here (no GdkPixbuf loader for %s)",
                    key, file, type);
      return NULL;
    }
  if (w && rule->fit && ((guint)pw != w || (guint)ph != h))
    {
      g_autofree char *source_sha256 = sha256_hex (bytes);
      json_t *source = describe (type, bytes, source_sha256, pw, ph);
      g_autoptr (GBytes) fitted
          = fit_picture (pixbuf, w, h, strcmp (rule->fit, "cover") == 0, error);
      char *dot;

      if (!fitted)
        {
          json_decref (source);
          return NULL;
        }
      g_bytes_unref (bytes);
      bytes = g_steal_pointer (&fitted);
      sha256 = sha256_hex (bytes);
      d = describe ("image/png", bytes, sha256, (int)w, (int)h);
      json_object_set_new (d, "fit", json_string (rule->fit));
      json_object_set_new (d, "source", source);
      type = "image/png";
      dot = strrchr (base, '.');
      if (dot)
        *dot = '\0';
      f.filename = g_strconcat (base, ".png", NULL);
    }
  else if (w && ((guint)pw != w || (guint)ph != h))
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "%s: %s is %dx%d but size is %ux%u (Sora wants them equal; fit: cover or "
                    "fit: contain scales the picture to the size)",
                    key, file, pw, ph, w, h);
      return NULL;
    }
  else
    {
      sha256 = sha256_hex (bytes);
      d = describe (type, bytes, sha256, pw, ph);
      f.filename = g_strdup (base);
    }
  json_object_set_new (d, "file", json_string (file));
  f.sha256 = g_strdup (sha256);
  f.content_type = g_strdup (type);
  f.bytes = g_steal_pointer (&bytes);
  g_array_append_val (inputs->files, f);
  return d;
}

/* Seedance through a gateway takes Ark's content items too. */
static gboolean
ark_shaped (VfProtocol protocol)
{
  return protocol == VF_PROTO_ARK || protocol == VF_PROTO_NEWAPI;
}

static gboolean
refuse_keys (json_t *body, VfProtocol protocol, GError **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS (key_rules); i++)
    {
      const char *why = ark_shaped (protocol) ? key_rules[i].not_ark : key_rules[i].not_openai;

      if (why && json_object_get (body, key_rules[i].key))
        {
          vf_set_error (error, VF_ERROR_INVALID, "%s: %s", key_rules[i].key, why);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
take_source (json_t *body, const char *key, char **out, GError **error)
{
  json_t *value = json_object_get (body, key);

  if (!value)
    return TRUE;
  *out = value_text (key, value, error);
  if (!*out)
    return FALSE;
  json_object_del (body, key);
  return TRUE;
}

static gboolean
take_openai (VfInputs *inputs, json_t *body, PictureRule *rule, GError **error)
{
  json_t *image = json_object_get (body, "image");
  json_t *fit = json_object_get (body, "fit");

  if (!take_source (body, "remix", &inputs->remix, error)
      || !take_source (body, "extend", &inputs->extend, error))
    return FALSE;
  if (inputs->remix && (inputs->extend || image))
    {
      vf_set_error (error, VF_ERROR_INVALID, "remix: takes the prompt alone, not %s",
                    inputs->extend ? "extend:" : "image:");
      return FALSE;
    }
  if (inputs->extend && image)
    {
      vf_set_error (error, VF_ERROR_INVALID, "extend: continues a video, not a picture (image:)");
      return FALSE;
    }
  if (fit)
    {
      rule->fit = json_string_value (fit);
      if (!rule->fit || (strcmp (rule->fit, "cover") != 0 && strcmp (rule->fit, "contain") != 0))
        {
          vf_set_error (error, VF_ERROR_INVALID, "fit: want cover or contain");
          return FALSE;
        }
      if (!image)
        {
          vf_set_error (error, VF_ERROR_INVALID, "fit: there is no image: to fit");
          return FALSE;
        }
    }
  if (image)
    {
      g_autofree char *file = value_text ("image", image, error);
      json_t *d;

      rule->size = json_string_value (json_object_get (body, "size"));
      if (!file || !(d = take_picture (inputs, "image", file, rule, error)))
        return FALSE;
      json_object_set_new (body, "input_reference", d);
      json_object_del (body, "image");
    }
  json_object_del (body, "fit");
  return TRUE;
}

static gboolean
is_url (const char *s)
{
  return g_str_has_prefix (s, "https://") || g_str_has_prefix (s, "http://");
}

static gboolean
add_urls (json_t *content, json_t *body, const char *key, const char *type, GError **error)
{
  json_t *value = json_object_get (body, key);
  g_autoptr (GPtrArray) urls = NULL;

  if (!value)
    return TRUE;
  urls = value_list (key, value, error);
  if (!urls)
    return FALSE;
  if (urls->len > VF_INPUT_ARK_MEDIA_MAX)
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s: %u of them, more than the %d a task takes", key,
                    urls->len, VF_INPUT_ARK_MEDIA_MAX);
      return FALSE;
    }
  for (guint i = 0; i < urls->len; i++)
    {
      const char *url = urls->pdata[i];

      if (!is_url (url))
        {
          vf_set_error (error, VF_ERROR_INVALID,
                        "%s: %s is not an http(s) URL (Ark takes %s by URL only)", key, url,
                        strcmp (type, "video_url") == 0 ? "videos" : "audios");
          return FALSE;
        }
      json_array_append_new (
          content, json_pack ("{s:s, s:{s:s}, s:s}", "type", type, type, "url", url, "role", key));
    }
  json_object_del (body, key);
  return TRUE;
}

static gboolean
add_picture (VfInputs *inputs, json_t *content, const char *key, const char *file, const char *role,
             const PictureRule *rule, GError **error)
{
  json_t *d = take_picture (inputs, key, file, rule, error);

  if (!d)
    return FALSE;
  json_array_append_new (
      content, json_pack ("{s:s, s:o, s:s}", "type", "image_url", "image_url", d, "role", role));
  return TRUE;
}

static gboolean
take_ark (VfInputs *inputs, json_t *body, const PictureRule *rule, GError **error)
{
  json_t *content = json_object_get (body, "content");
  json_t *image = json_object_get (body, "image");
  json_t *last = json_object_get (body, "last_image");
  json_t *refs = json_object_get (body, "references");
  json_t *rlf = json_object_get (body, "return_last_frame");
  gboolean reference_mode = refs || json_object_get (body, "reference_video")
                            || json_object_get (body, "reference_audio");
  g_autoptr (GPtrArray) names = NULL;

  if (rlf && !json_is_boolean (rlf))
    {
      vf_set_error (error, VF_ERROR_INVALID, "return_last_frame: want true or false");
      return FALSE;
    }
  if (!image && !last && !reference_mode)
    return TRUE;
  if (!json_is_array (content))
    {
      vf_set_error (error, VF_ERROR_INVALID, "Ark inputs go into a content array");
      return FALSE;
    }
  if (last && !image)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "last_image: needs image: too (Seedance goes from a first frame to a last)");
      return FALSE;
    }
  if (image && reference_mode)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "image: first and last frames exclude references (Seedance takes either)");
      return FALSE;
    }
  if (image)
    {
      g_autofree char *file = value_text ("image", image, error);
      if (!file || !add_picture (inputs, content, "image", file, "first_frame", rule, error))
        return FALSE;
      json_object_del (body, "image");
    }
  if (last)
    {
      g_autofree char *file = value_text ("last_image", last, error);
      if (!file || !add_picture (inputs, content, "last_image", file, "last_frame", rule, error))
        return FALSE;
      json_object_del (body, "last_image");
    }
  if (refs)
    {
      names = value_list ("references", refs, error);
      if (!names)
        return FALSE;
      if (names->len > VF_INPUT_ARK_IMAGES_MAX)
        {
          vf_set_error (error, VF_ERROR_INVALID,
                        "references: %u pictures, more than the %d a task takes", names->len,
                        VF_INPUT_ARK_IMAGES_MAX);
          return FALSE;
        }
      for (guint i = 0; i < names->len; i++)
        if (!add_picture (inputs, content, "references", names->pdata[i], "reference_image", rule,
                          error))
          return FALSE;
      json_object_del (body, "references");
    }
  if (!add_urls (content, body, "reference_video", "video_url", error)
      || !add_urls (content, body, "reference_audio", "audio_url", error))
    return FALSE;
  if (json_array_size (content) > VF_INPUT_ARK_ITEMS_MAX + 1)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "references: %zu items besides the text, more than the %d a task takes",
                    json_array_size (content) - 1, VF_INPUT_ARK_ITEMS_MAX);
      return FALSE;
    }
  return TRUE;
}

VfInputs *
vf_inputs_take (json_t *body, VfProtocol protocol, VfInputOpenFunc open, gpointer user_data,
                GError **error)
{
  g_autoptr (VfInputs) inputs = g_new0 (VfInputs, 1);
  PictureRule rule = { .open = open, .user_data = user_data };

  g_return_val_if_fail (json_is_object (body), NULL);

  inputs->files = g_array_new (FALSE, TRUE, sizeof (VfCreateFile));
  if (!refuse_keys (body, protocol, error))
    return NULL;
  if (ark_shaped (protocol) ? !take_ark (inputs, body, &rule, error)
                            : !take_openai (inputs, body, &rule, error))
    return NULL;
  return g_steal_pointer (&inputs);
}

VfInputs *
vf_inputs_take_pictures (json_t *body, VfInputOpenFunc open, gpointer user_data, gboolean *has_mask,
                         GError **error)
{
  g_autoptr (VfInputs) inputs = g_new0 (VfInputs, 1);
  PictureRule rule = { .open = open, .user_data = user_data };
  const char *keys[] = { "image", "mask" };

  g_return_val_if_fail (json_is_object (body), NULL);

  inputs->files = g_array_new (FALSE, TRUE, sizeof (VfCreateFile));
  *has_mask = FALSE;
  if (json_object_get (body, "mask") && !json_object_get (body, "image"))
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "mask: a mask says where to edit a picture: give the picture as image: too");
      return NULL;
    }
  for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
    {
      json_t *value = json_object_get (body, keys[k]);
      g_autoptr (GPtrArray) names = NULL;
      g_autoptr (json_t) described = json_array ();

      if (!value)
        continue;
      names = value_list (keys[k], value, error);
      if (!names)
        return NULL;
      if (k == 1 && names->len > 1)
        {
          vf_set_error (error, VF_ERROR_INVALID, "mask: one picture, not %u", names->len);
          return NULL;
        }
      if (names->len > VF_INPUT_PICTURES_MAX)
        {
          vf_set_error (error, VF_ERROR_INVALID,
                        "image: %u pictures, more than the %d a request takes", names->len,
                        VF_INPUT_PICTURES_MAX);
          return NULL;
        }
      for (guint i = 0; i < names->len; i++)
        {
          json_t *d = take_picture (inputs, keys[k], g_ptr_array_index (names, i), &rule, error);

          if (!d)
            return NULL;
          json_array_append_new (described, d);
        }
      if (k == 1)
        *has_mask = TRUE;
      json_object_set (body, keys[k],
                       json_array_size (described) == 1 && !json_is_array (value)
                           ? json_array_get (described, 0)
                           : described);
    }
  return g_steal_pointer (&inputs);
}
