/* gemini.c: Google's POST /v1beta/models/{model}:generateContent for the
 * Gemini image models: contents[].parts[] (text, inlineData pictures),
 * generationConfig (responseModalities, candidateCount, imageConfig),
 * pictures answered as inlineData PNGs; its error shape; a key in the URL
 * (?key=) refused, as the simulator's proof that clients keep it out. */
#include "sim.h"

/* imageSize 1K at each aspect ratio, as Google's table has it; 2K and 4K
 * are twice and four times that. */
static const struct
{
  const char *ratio;
  int width, height;
} ratios[] = {
  { "1:1", 1024, 1024 }, { "2:3", 832, 1248 },  { "3:2", 1248, 832 }, { "3:4", 864, 1184 },
  { "4:3", 1184, 864 },  { "4:5", 896, 1152 },  { "5:4", 1152, 896 }, { "9:16", 768, 1344 },
  { "16:9", 1344, 768 }, { "21:9", 1536, 672 },
};

static enum MHD_Result
bad (struct sim_request *req, const char *message)
{
  return sim_reply_gemini_error (req, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT", "%s", message);
}

/* The prompt (the text parts, joined) and the inlineData pictures. */
static const char *
read_contents (json_t *contents, GString *prompt, json_t *files)
{
  json_t *content, *part;
  size_t i, j;

  if (!json_is_array (contents) || !json_array_size (contents))
    return "contents must be a non-empty list";
  json_array_foreach (contents, i, content)
  {
    json_t *parts = json_object_get (content, "parts");

    if (!json_is_array (parts))
      return "each content needs parts";
    json_array_foreach (parts, j, part)
    {
      json_t *inline_data = json_object_get (part, "inlineData");
      const char *text = json_string_value (json_object_get (part, "text"));

      if (text)
        g_string_append (prompt, text);
      else if (json_is_object (inline_data))
        {
          const char *mime = json_string_value (json_object_get (inline_data, "mimeType"));
          const char *data = json_string_value (json_object_get (inline_data, "data"));
          g_autofree guint8 *bytes = NULL;
          gsize len = 0;
          json_t *d;

          if (!mime || !data)
            return "inlineData needs mimeType and data";
          bytes = g_base64_decode (data, &len);
          d = sim_received_describe ("inlineData", NULL, mime, bytes, len, NULL, NULL);
          if (json_is_null (json_object_get (d, "type")))
            {
              json_decref (d);
              return "inlineData must be a PNG, JPEG or WebP picture";
            }
          json_array_append_new (files, d);
        }
      else
        return "a part must be text or inlineData";
    }
  }
  return prompt->len ? NULL : "the contents hold no text";
}

static gboolean
wants_image (json_t *config)
{
  json_t *modalities = json_object_get (config, "responseModalities"), *m;
  size_t i;

  if (!modalities)
    return TRUE;
  json_array_foreach (modalities, i, m)
  {
    if (g_strcmp0 (json_string_value (m), "IMAGE") == 0)
      return TRUE;
  }
  return FALSE;
}

static json_t *
usage (int candidates)
{
  return json_pack ("{s:i, s:i, s:i}", "promptTokenCount", 12, "candidatesTokenCount",
                    1290 * candidates, "totalTokenCount", 12 + 1290 * candidates);
}

/* How the key came: "bearer", "x-goog-api-key" or "none". */
static const char *
auth_used (struct sim_request *req)
{
  if (MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION))
    return "bearer";
  if (MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "x-goog-api-key"))
    return "x-goog-api-key";
  return "none";
}

enum MHD_Result
sim_gemini_generate (struct sim_request *req)
{
  json_error_t jerr;
  g_autoptr (json_t) params = sim_request_json (req, &jerr);
  g_autoptr (GString) prompt = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) pictures = NULL;
  json_t *config, *image_config, *files, *candidates;
  const char *ratio, *image_size, *why, *model = req->id;
  int width = 1024, height = 1024, scale = 1;
  json_int_t n = 1;

  if (sim_request_arg (req, "key"))
    return bad (req, "this simulator refuses an API key in the URL (?key=): send it in a header");
  if (!json_is_object (params))
    return bad (req, "Invalid JSON payload received.");
  config = json_object_get (params, "generationConfig");
  image_config = json_object_get (config, "imageConfig");
  ratio = json_string_value (json_object_get (image_config, "aspectRatio"));
  image_size = json_string_value (json_object_get (image_config, "imageSize"));
  if (json_object_get (config, "candidateCount"))
    n = json_integer_value (json_object_get (config, "candidateCount"));
  if (n < 1 || n > 8)
    return bad (req, "generationConfig.candidateCount must be from 1 to 8");
  if (ratio)
    {
      gsize i;

      for (i = 0; i < G_N_ELEMENTS (ratios) && !g_str_equal (ratios[i].ratio, ratio); i++)
        ;
      if (i == G_N_ELEMENTS (ratios))
        return bad (req, "imageConfig.aspectRatio is not supported");
      width = ratios[i].width;
      height = ratios[i].height;
    }
  if (image_size && (g_str_equal (image_size, "2K") || g_str_equal (image_size, "4K")))
    scale = image_size[0] - '0';
  else if (image_size && !g_str_equal (image_size, "1K"))
    return bad (req, "imageConfig.imageSize must be 1K, 2K or 4K");
  files = json_array ();
  why = read_contents (json_object_get (params, "contents"), prompt, files);
  if (why)
    {
      json_decref (files);
      return bad (req, why);
    }
  sim_received_add ("/v1beta/models/generateContent",
                    json_pack ("{s:s, s:s, s:O*, s:s}", "model", model, "prompt", prompt->str,
                               "generationConfig", config, "auth", auth_used (req)),
                    files);
  if (strstr (prompt->str, sim.reject_marker))
    return sim_images_reply (req,
                             json_pack ("{s:{s:s}, s:o, s:s, s:s}", "promptFeedback", "blockReason",
                                        "PROHIBITED_CONTENT", "usageMetadata", usage (0),
                                        "modelVersion", model, "responseId", req->request_id));
  candidates = json_array ();
  if (strstr (prompt->str, sim.fail_marker))
    json_array_append_new (candidates,
                           json_pack ("{s:s, s:i, s:s}", "finishReason", "IMAGE_SAFETY", "index", 0,
                                      "finishMessage",
                                      "Unable to show the generated image: it was blocked."));
  else if (!wants_image (config))
    json_array_append_new (candidates,
                           json_pack ("{s:{s:s, s:[{s:s}]}, s:s, s:i}", "content", "role", "model",
                                      "parts", "text", "Here is a description of the picture.",
                                      "finishReason", "STOP", "index", 0));
  else
    {
      pictures = sim_pictures_make (req->request_id, "image/png", width * scale, height * scale,
                                    (guint)n, strstr (prompt->str, "#noise") != NULL, &error);
      if (!pictures)
        {
          json_decref (candidates);
          return sim_reply_gemini_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "INTERNAL", "%s",
                                         error->message);
        }
      for (guint i = 0; i < pictures->len; i++)
        {
          gsize len;
          const guint8 *bytes = g_bytes_get_data (g_ptr_array_index (pictures, i), &len);
          g_autofree char *b64 = g_base64_encode (bytes, len);

          json_array_append_new (
              candidates, json_pack ("{s:{s:s, s:[{s:s}, {s:{s:s, s:s}}]}, s:s, s:i}", "content",
                                     "role", "model", "parts", "text", "Here is your picture.",
                                     "inlineData", "mimeType", "image/png", "data", b64,
                                     "finishReason", "STOP", "index", (int)i));
        }
    }
  return sim_images_reply (req, json_pack ("{s:o, s:o, s:s, s:s}", "candidates", candidates,
                                           "usageMetadata", usage ((int)n), "modelVersion", model,
                                           "responseId", req->request_id));
}
