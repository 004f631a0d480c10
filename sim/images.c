/* images.c: the image APIs: OpenAI's /v1/images/generations and
 * /v1/images/edits, Ark's /api/v3/images/generations (Seedream) and
 * Gemini's /v1beta/models/{model}:generateContent.  They answer at once,
 * with pictures made by pictures.c; the cut and slow faults shorten or
 * pace the answer, hang_create and drop_create hold or drop it after the
 * pictures were made (and billed). */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_SIDE 4096

/* What a request asks for, once its parameters were checked. */
struct ask
{
  const char *prompt;
  const char *model;
  const char *mime;
  int width, height;
  guint n;
  gboolean b64;
  gboolean revised; /* dall-e-3 rewrites prompts */
};

/* --- the answer, with the body faults --- */

struct paced
{
  char *text;
  gsize len;
  guint64 stop_at;
  guint64 rate;
  gint64 t0;
};

static ssize_t
paced_read (void *cls, uint64_t pos, char *buf, size_t max)
{
  struct paced *p = cls;
  gsize n;

  if (pos >= p->stop_at || pos >= p->len)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  n = (gsize)MIN ((guint64)max, MIN (p->stop_at, p->len) - pos);
  if (p->rate)
    {
      gint64 due_us;

      n = (gsize)MIN ((guint64)n, MAX (p->rate / 20, 1));
      due_us = (gint64)((double)(pos + n) * 1e6 / (double)p->rate);
      if (!sim_sleep_ms ((due_us - (g_get_monotonic_time () - p->t0)) / 1000))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  memcpy (buf, p->text + pos, n);
  return (ssize_t)n;
}

static void
paced_free (void *cls)
{
  struct paced *p = cls;

  free (p->text);
  g_free (p);
}

enum MHD_Result
sim_images_reply (struct sim_request *req, json_t *body)
{
  struct sim_fault_hit hit;
  struct paced *p;
  struct MHD_Response *r;

  if (!sim_create_faults (req))
    {
      json_decref (body);
      return MHD_NO;
    }
  p = g_new0 (struct paced, 1);
  p->text = sim_dump (body, &p->len);
  json_decref (body);
  p->stop_at = G_MAXUINT64;
  p->t0 = g_get_monotonic_time ();
  if (sim_faults_take (SIM_FAULT_CUT, req->call, &hit))
    p->stop_at = hit.number;
  if (sim_faults_take (SIM_FAULT_SLOW, req->call, &hit))
    p->rate = hit.number;
  r = MHD_create_response_from_callback (p->len, 256 * 1024, paced_read, p, paced_free);
  MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  return sim_reply_response (req, MHD_HTTP_OK, r);
}

static json_t *
string_take (char *text)
{
  json_t *j = json_string (text);

  g_free (text);
  return j;
}

/* The pictures of `ask` as the data items of OpenAI and Ark. */
static json_t *
picture_items (struct sim_request *req, const struct ask *ask, gboolean ark, GError **error)
{
  g_autoptr (GPtrArray) pictures = NULL;
  json_t *data = json_array ();
  g_autofree char *size = g_strdup_printf ("%dx%d", ask->width, ask->height);

  pictures = sim_pictures_make (req->request_id, ask->mime, ask->width, ask->height, ask->n,
                                strstr (ask->prompt, "#noise") != NULL, error);
  if (!pictures)
    {
      json_decref (data);
      return NULL;
    }
  for (guint i = 0; i < pictures->len; i++)
    {
      json_t *item = json_object ();

      if (ask->b64)
        {
          gsize len;
          const guint8 *bytes = g_bytes_get_data (g_ptr_array_index (pictures, i), &len);

          json_object_set_new (item, "b64_json", string_take (g_base64_encode (bytes, len)));
        }
      else
        json_object_set_new (item, "url",
                             string_take (sim_picture_url (req->request_id, i, ask->mime)));
      if (ask->revised)
        json_object_set_new (item, "revised_prompt",
                             json_sprintf ("A detailed picture of %s", ask->prompt));
      if (ark)
        json_object_set_new (item, "size", json_string (size));
      json_array_append_new (data, item);
    }
  return data;
}

static gboolean
parse_wxh (const char *size, int *w, int *h)
{
  guint64 a, b;
  g_auto (GStrv) parts = size ? g_strsplit (size, "x", 3) : NULL;

  if (!parts || g_strv_length (parts) != 2
      || !g_ascii_string_to_unsigned (parts[0], 10, 16, MAX_SIDE, &a, NULL)
      || !g_ascii_string_to_unsigned (parts[1], 10, 16, MAX_SIDE, &b, NULL))
    return FALSE;
  *w = (int)a;
  *h = (int)b;
  return TRUE;
}

/* n as a number or a numeric string (a form's), 0 when bad. */
static guint
count_of (json_t *value, guint fallback, guint max)
{
  guint64 n = 0;

  if (!value)
    return fallback;
  if (json_is_integer (value))
    n = (guint64)MAX (json_integer_value (value), 0);
  else if (!json_is_string (value)
           || !g_ascii_string_to_unsigned (json_string_value (value), 10, 1, max, &n, NULL))
    return 0;
  return n >= 1 && n <= max ? (guint)n : 0;
}

/* --- OpenAI --- */

static const char *const openai_keys[] = { "prompt",
                                           "model",
                                           "n",
                                           "size",
                                           "quality",
                                           "background",
                                           "output_format",
                                           "output_compression",
                                           "moderation",
                                           "response_format",
                                           "style",
                                           "user",
                                           "input_fidelity",
                                           NULL };

static enum MHD_Result
openai_bad (struct sim_request *req, const char *param, const char *code, const char *message)
{
  return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", param, code,
                                 "%s", message);
}

/* Checks OpenAI's parameters into *ask; FALSE when *ret holds the 400. */
static gboolean
openai_ask (struct sim_request *req, json_t *params, struct ask *ask, enum MHD_Result *ret)
{
  const char *key, *size, *format, *rf;
  gboolean dalle, dalle3;
  json_t *value;

  json_object_foreach (params, key, value)
  {
    if (!g_strv_contains (openai_keys, key))
      {
        g_autofree char *m = g_strdup_printf ("Unknown parameter: '%s'.", key);

        *ret = openai_bad (req, key, "unknown_parameter", m);
        return FALSE;
      }
  }
  ask->prompt = json_string_value (json_object_get (params, "prompt"));
  if (!ask->prompt || !*ask->prompt)
    {
      *ret = openai_bad (req, "prompt", "missing_required_parameter",
                         "Missing required parameter: 'prompt'.");
      return FALSE;
    }
  ask->model = json_string_value (json_object_get (params, "model"));
  if (!ask->model)
    ask->model = "dall-e-2";
  dalle = g_str_has_prefix (ask->model, "dall-e");
  dalle3 = g_str_equal (ask->model, "dall-e-3");
  ask->n = count_of (json_object_get (params, "n"), 1, dalle3 ? 1 : 10);
  if (!ask->n)
    {
      *ret = openai_bad (req, "n", "invalid_value",
                         dalle3 ? "dall-e-3 makes one picture a request (n must be 1)."
                                : "n must be an integer from 1 to 10.");
      return FALSE;
    }
  size = json_string_value (json_object_get (params, "size"));
  if (dalle3)
    ask->width = ask->height = 1024;
  if (size && !g_str_equal (size, "auto") && !parse_wxh (size, &ask->width, &ask->height))
    {
      *ret = openai_bad (req, "size", "invalid_value", "Invalid size: it must be auto or WxH.");
      return FALSE;
    }
  if (!ask->width)
    ask->width = ask->height = 1024;
  format = json_string_value (json_object_get (params, "output_format"));
  if (format
      && (dalle || !g_strv_contains ((const char *const[]){ "png", "jpeg", "webp", NULL }, format)))
    {
      *ret = openai_bad (req, "output_format", "invalid_value",
                         "output_format must be png, jpeg or webp (gpt-image models only).");
      return FALSE;
    }
  ask->mime = sim_picture_mime (format ? format : "png");
  rf = json_string_value (json_object_get (params, "response_format"));
  if (rf && g_str_has_prefix (ask->model, "gpt-image"))
    {
      *ret = openai_bad (req, "response_format", "unknown_parameter",
                         "Unknown parameter: 'response_format'.");
      return FALSE;
    }
  if (rf && !g_str_equal (rf, "url") && !g_str_equal (rf, "b64_json"))
    {
      *ret = openai_bad (req, "response_format", "invalid_value",
                         "response_format must be url or b64_json.");
      return FALSE;
    }
  ask->b64 = rf ? g_str_equal (rf, "b64_json") : !dalle;
  ask->revised = dalle3;
  if (strstr (ask->prompt, sim.reject_marker))
    {
      *ret = sim_reply_openai_error (
          req, MHD_HTTP_BAD_REQUEST, "image_generation_user_error", NULL, "moderation_blocked",
          "Your request was rejected as a result of our safety system. Your request may contain "
          "content that is not allowed by our safety system.");
      return FALSE;
    }
  return TRUE;
}

static enum MHD_Result
openai_answer (struct sim_request *req, const struct ask *ask)
{
  g_autoptr (GError) error = NULL;
  json_t *data = picture_items (req, ask, FALSE, &error);
  json_t *answer;

  if (!data)
    return sim_reply_openai_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error", NULL,
                                   "server_error", "%s", error->message);
  answer = json_pack ("{s:I, s:o}", "created", (json_int_t)(g_get_real_time () / G_USEC_PER_SEC),
                      "data", data);
  if (!g_str_has_prefix (ask->model, "dall-e"))
    {
      json_object_set_new (answer, "output_format", json_string (strchr (ask->mime, '/') + 1));
      json_object_set_new (answer, "size", json_sprintf ("%dx%d", ask->width, ask->height));
      json_object_set_new (answer, "usage",
                           json_pack ("{s:i, s:i, s:i}", "input_tokens", 50, "output_tokens",
                                      (int)(272 * ask->n), "total_tokens",
                                      (int)(50 + 272 * ask->n)));
    }
  return sim_images_reply (req, answer);
}

enum MHD_Result
sim_images_generate (struct sim_request *req)
{
  json_error_t jerr;
  g_autoptr (json_t) params = sim_request_json (req, &jerr);
  struct ask ask = { 0 };
  enum MHD_Result ret;

  if (!json_is_object (params))
    return openai_bad (req, NULL, NULL, "We could not parse the JSON body of your request.");
  if (!openai_ask (req, params, &ask, &ret))
    return ret;
  sim_received_add ("/v1/images/generations", json_incref (params), NULL);
  return openai_answer (req, &ask);
}

enum MHD_Result
sim_images_edit (struct sim_request *req)
{
  g_autoptr (json_t) params = json_object ();
  json_t *files = json_array ();
  GHashTableIter iter;
  gpointer key, value;
  struct ask ask = { 0 };
  int first_w = 0, first_h = 0;
  guint images = 0;
  gboolean mask = FALSE;
  enum MHD_Result ret;

  if (!req->form || req->form_error || !req->files)
    {
      json_decref (files);
      return openai_bad (req, NULL, "invalid_multipart",
                         "The edits endpoint takes multipart/form-data with image files.");
    }
  g_hash_table_iter_init (&iter, req->form);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      gboolean is_file = FALSE;

      for (guint i = 0; i < req->files->len; i++)
        is_file |= g_str_equal (((struct sim_file *)g_ptr_array_index (req->files, i))->field, key);
      if (!is_file)
        json_object_set_new (params, key, json_string (((GString *)value)->str));
    }
  for (guint i = 0; i < req->files->len; i++)
    {
      struct sim_file *f = g_ptr_array_index (req->files, i);
      int w = 0, h = 0;
      json_t *d = sim_received_describe (f->field, f->filename, f->content_type, f->data->data,
                                         f->data->len, &w, &h);
      const char *type = json_string_value (json_object_get (d, "type"));

      json_array_append_new (files, d);
      if (g_str_equal (f->field, "image") || g_str_equal (f->field, "image[]"))
        {
          if (!type || ++images > 16)
            {
              json_decref (files);
              return openai_bad (req, f->field, "invalid_image_format",
                                 "Each image must be a PNG, JPEG or WebP file (at most 16).");
            }
          if (images == 1)
            first_w = w, first_h = h;
        }
      else if (g_str_equal (f->field, "mask") && !mask)
        {
          mask = TRUE;
          if (!type || !g_str_equal (type, "image/png"))
            {
              json_decref (files);
              return openai_bad (req, "mask", "invalid_image_format", "The mask must be a PNG.");
            }
          if (first_w && (w != first_w || h != first_h))
            {
              json_decref (files);
              return openai_bad (req, "mask", "invalid_value",
                                 "The mask must be the same size as the image.");
            }
        }
      else
        {
          json_decref (files);
          return openai_bad (req, f->field, "invalid_multipart", "Unexpected file field.");
        }
    }
  if (!images)
    {
      json_decref (files);
      return openai_bad (req, "image", "missing_required_parameter",
                         "Missing required parameter: 'image'.");
    }
  ask.width = first_w;
  ask.height = first_h;
  if (!openai_ask (req, params, &ask, &ret))
    {
      json_decref (files);
      return ret;
    }
  sim_received_add ("/v1/images/edits", json_incref (params), files);
  return openai_answer (req, &ask);
}

/* --- Ark Seedream --- */

static const char *const ark_keys[] = { "model",
                                        "prompt",
                                        "image",
                                        "size",
                                        "seed",
                                        "guidance_scale",
                                        "watermark",
                                        "response_format",
                                        "sequential_image_generation",
                                        "sequential_image_generation_options",
                                        "stream",
                                        "output_format",
                                        "optimize_prompt_options",
                                        NULL };

static enum MHD_Result
ark_bad (struct sim_request *req, const char *param, const char *message)
{
  return sim_reply_ark_error (req, MHD_HTTP_BAD_REQUEST, "InvalidParameter", "BadRequest", param,
                              "The parameter `%s` specified in the request is not valid: %s.",
                              param, message);
}

/* The reference pictures: a URL, a data URL, or a list of up to 14. */
static const char *
ark_images (json_t *image, json_t *files)
{
  json_t *list = json_is_array (image) ? json_incref (image) : json_pack ("[O]", image);
  gsize total = json_array_size (list);
  json_t *item;
  size_t i;

  if (total > 14)
    {
      json_decref (list);
      return "at most 14 pictures";
    }
  json_array_foreach (list, i, item)
  {
    const char *url = json_string_value (item);
    g_autofree char *type = NULL;
    g_autofree guint8 *data = NULL;
    gsize len = 0;

    if (!url)
      break;
    if (g_str_has_prefix (url, "data:"))
      {
        json_t *d;

        data = sim_data_url_bytes (url, &type, &len);
        if (!data)
          break;
        d = sim_received_describe ("image", NULL, type, data, len, NULL, NULL);
        if (json_is_null (json_object_get (d, "type")))
          {
            json_decref (d);
            break;
          }
        json_array_append_new (files, d);
      }
    else if (!g_str_has_prefix (url, "http://") && !g_str_has_prefix (url, "https://"))
      break;
  }
  json_decref (list);
  return i < total || !total ? "each picture must be an http(s) URL or a data:image/...;base64, URL"
                             : NULL;
}

enum MHD_Result
sim_ark_images (struct sim_request *req)
{
  json_error_t jerr;
  g_autoptr (json_t) params = sim_request_json (req, &jerr);
  g_autoptr (GError) error = NULL;
  json_t *files, *data, *value, *image, *options;
  struct ask ask = { 0 };
  const char *key, *size, *rf, *format, *seq, *why;

  if (!json_is_object (params))
    return ark_bad (req, "body", "the body must be a JSON object");
  json_object_foreach (params, key, value)
  {
    if (!g_strv_contains (ark_keys, key))
      return ark_bad (req, key, "unknown parameter");
  }
  ask.model = json_string_value (json_object_get (params, "model"));
  if (!ask.model)
    return sim_reply_ark_error (req, MHD_HTTP_BAD_REQUEST, "MissingParameter", "BadRequest",
                                "model",
                                "The request is missing the `model` parameter. Request "
                                "id: %s",
                                req->request_id);
  ask.prompt = json_string_value (json_object_get (params, "prompt"));
  if (!ask.prompt || !*ask.prompt)
    return ark_bad (req, "prompt", "it must be a non-empty string");
  size = json_string_value (json_object_get (params, "size"));
  if (!size || g_ascii_strcasecmp (size, "2K") == 0)
    ask.width = ask.height = 2048;
  else if (g_ascii_strcasecmp (size, "1K") == 0)
    ask.width = ask.height = 1024;
  else if (g_ascii_strcasecmp (size, "4K") == 0)
    ask.width = ask.height = 4096;
  else if (!parse_wxh (size, &ask.width, &ask.height))
    return ark_bad (req, "size", "it must be 1K, 2K, 4K or WxH");
  rf = json_string_value (json_object_get (params, "response_format"));
  if (rf && !g_str_equal (rf, "url") && !g_str_equal (rf, "b64_json"))
    return ark_bad (req, "response_format", "it must be url or b64_json");
  ask.b64 = rf && g_str_equal (rf, "b64_json");
  format = json_string_value (json_object_get (params, "output_format"));
  if (format && !g_str_equal (format, "jpeg") && !g_str_equal (format, "png"))
    return ark_bad (req, "output_format", "it must be jpeg or png");
  ask.mime = sim_picture_mime (format ? format : "jpeg");
  seq = json_string_value (json_object_get (params, "sequential_image_generation"));
  if (seq && !g_str_equal (seq, "auto") && !g_str_equal (seq, "disabled"))
    return ark_bad (req, "sequential_image_generation", "it must be auto or disabled");
  options = json_object_get (params, "sequential_image_generation_options");
  ask.n = 1;
  if (seq && g_str_equal (seq, "auto"))
    {
      ask.n = count_of (json_object_get (options, "max_images"), 1, 15);
      if (!ask.n)
        return ark_bad (req, "sequential_image_generation_options.max_images",
                        "it must be an integer from 1 to 15");
    }
  if (json_is_true (json_object_get (params, "stream")))
    return ark_bad (req, "stream", "the simulator does not stream");
  files = json_array ();
  image = json_object_get (params, "image");
  if (image && (why = ark_images (image, files)))
    {
      json_decref (files);
      return ark_bad (req, "image", why);
    }
  if (strstr (ask.prompt, sim.reject_marker))
    {
      json_decref (files);
      return sim_reply_ark_error (req, MHD_HTTP_BAD_REQUEST, "InputTextSensitiveContentDetected",
                                  "BadRequest", NULL,
                                  "The request failed because the input text may contain "
                                  "sensitive information. Request id: %s",
                                  req->request_id);
    }
  {
    json_t *fields = json_deep_copy (params);

    json_object_del (fields, "image");
    if (image)
      json_object_set_new (
          fields, "image",
          json_integer (json_is_array (image) ? (json_int_t)json_array_size (image) : 1));
    sim_received_add ("/api/v3/images/generations", fields, files);
  }
  data = picture_items (req, &ask, TRUE, &error);
  if (!data)
    return sim_reply_ark_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalServiceError",
                                "InternalServiceError", NULL, "%s", error->message);
  return sim_images_reply (
      req, json_pack ("{s:s, s:I, s:o, s:{s:i, s:i, s:i}}", "model", ask.model, "created",
                      (json_int_t)(g_get_real_time () / G_USEC_PER_SEC), "data", data, "usage",
                      "generated_images", (int)ask.n, "output_tokens", (int)(4096 * ask.n),
                      "total_tokens", (int)(4096 * ask.n)));
}
