/* image-gemini.c: Google's Gemini image models, POST
 * /models/{model}:generateContent at the Gemini base (which includes
 * /v1beta): the prompt and pictures as contents[0].parts[] (text,
 * inlineData), n as candidateCount, size as imageConfig's imageSize (1K,
 * 2K, 4K) or aspectRatio (W:H, or WxH reduced); pictures come back as
 * inlineData parts; a refusal is a 200 with promptFeedback.blockReason or
 * a candidate's finishReason and no picture.  The token goes as the bearer
 * in a header (sent to the base's own origin only), never as ?key=. */
#include "image-private.h"

#include <string.h>

#include "vf-prompt.h"

/* size: "1K" | "2K" | "4K" | "W:H" | "WxH". */
static gboolean
image_config (const char *size, const char *ratio, json_t *config, GError **error)
{
  guint64 w, h;
  g_auto (GStrv) wh = NULL;

  if (ratio)
    json_object_set_new (config, "aspectRatio", json_string (ratio));
  if (!size || g_str_equal (size, "auto"))
    return TRUE;
  if (g_str_equal (size, "1K") || g_str_equal (size, "2K") || g_str_equal (size, "4K"))
    {
      json_object_set_new (config, "imageSize", json_string (size));
      return TRUE;
    }
  if (strchr (size, ':'))
    {
      json_object_set_new (config, "aspectRatio", json_string (size));
      return TRUE;
    }
  wh = g_strsplit (size, "x", 3);
  if (g_strv_length (wh) != 2 || !g_ascii_string_to_unsigned (wh[0], 10, 1, 16384, &w, NULL)
      || !g_ascii_string_to_unsigned (wh[1], 10, 1, 16384, &h, NULL))
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "Gemini's size is 1K, 2K, 4K, a ratio W:H or WxH, not \"%s\"", size);
      return FALSE;
    }
  if (!ratio)
    json_object_set_new (config, "aspectRatio",
                         json_sprintf ("%u:%u", (guint)(w / vf_prompt_gcd (w, h)),
                                       (guint)(h / vf_prompt_gcd (w, h))));
  json_object_set_new (config, "imageSize",
                       json_string (MAX (w, h) <= 1536   ? "1K"
                                    : MAX (w, h) <= 3072 ? "2K"
                                                         : "4K"));
  return TRUE;
}

static const char *const known[] = { "model", "prompt", "n", "size", "aspect_ratio", NULL };

static gboolean
gemini_build (const VfEndpoint *endpoint, const VfImageRequest *request, VfImageCall *call,
              GError **error)
{
  json_t *body = request->body, *parts, *config, *images, *value;
  const char *model = json_string_value (json_object_get (body, "model"));
  const char *prompt = json_string_value (json_object_get (body, "prompt"));
  json_int_t n = json_integer_value (json_object_get (body, "n"));
  g_autofree char *escaped = NULL;
  const char *key;

  if (request->mask)
    {
      vf_set_error (error, VF_ERROR_INVALID, "Gemini takes no mask");
      return FALSE;
    }
  json_object_foreach (body, key, value)
  {
    if (!g_strv_contains (known, key))
      {
        vf_set_error (error, VF_ERROR_INVALID, "Gemini's image models take no \"%s\"", key);
        return FALSE;
      }
  }
  if (!model || !prompt)
    {
      vf_set_error (error, VF_ERROR_INVALID, "a Gemini request needs a model and a prompt");
      return FALSE;
    }
  images = json_object ();
  if (!image_config (json_string_value (json_object_get (body, "size")),
                     json_string_value (json_object_get (body, "aspect_ratio")), images, error))
    {
      json_decref (images);
      return FALSE;
    }
  parts = json_pack ("[{s:s}]", "text", prompt);
  for (gsize i = 0; i < request->n_images; i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (request->images[i].bytes, &len);
      g_autofree char *base64 = g_base64_encode (data, len);

      json_array_append_new (parts, json_pack ("{s:{s:s, s:s}}", "inlineData", "mimeType",
                                               request->images[i].content_type, "data", base64));
    }
  config = json_pack ("{s:[s, s]}", "responseModalities", "TEXT", "IMAGE");
  if (n > 1)
    json_object_set_new (config, "candidateCount", json_integer (n));
  if (json_object_size (images))
    json_object_set_new (config, "imageConfig", images);
  else
    json_decref (images);
  call->body = json_pack ("{s:[{s:s, s:o}], s:o}", "contents", "role", "user", "parts", parts,
                          "generationConfig", config);
  escaped = g_uri_escape_string (model, NULL, FALSE);
  call->url = g_strconcat (endpoint->base, "/models/", escaped, ":generateContent", NULL);
  return TRUE;
}

/* A refusal, in the manner of an API's error: VF_ERROR_INVALID with the
 * reason as the API code. */
static void
set_refusal (GError **error, const char *reason, const char *message)
{
  GError *e = g_error_new (VF_ERROR, VF_ERROR_INVALID, "Gemini refused it: %s%s%s", reason,
                           message ? ": " : "", message ? message : "");

  vf_error_set_http (e, 200, reason, message ? message : reason, NULL);
  vf_error_set_maybe_sent (e, TRUE);
  g_propagate_error (error, e);
}

static gboolean
gemini_parse (json_t *answer, VfImageFound *found, GError **error)
{
  const char *block = json_string_value (
      json_object_get (json_object_get (answer, "promptFeedback"), "blockReason"));
  json_t *candidates = json_object_get (answer, "candidates"), *candidate;
  const char *refused = NULL, *refused_message = NULL;
  GString *text = g_string_new (NULL);
  size_t i, j;

  if (block)
    {
      g_string_free (text, TRUE);
      set_refusal (error, block, NULL);
      return FALSE;
    }
  json_array_foreach (candidates, i, candidate)
  {
    json_t *parts = json_object_get (json_object_get (candidate, "content"), "parts"), *part;
    const char *finish = json_string_value (json_object_get (candidate, "finishReason"));
    guint before = found->refs->len;

    json_array_foreach (parts, j, part)
    {
      json_t *inline_data = json_object_get (part, "inlineData");
      const char *t = json_string_value (json_object_get (part, "text"));
      VfImageRef ref = { -1, NULL };

      if (t)
        g_string_append (text, t);
      ref.taken = vf_image_taken_index (json_string_value (json_object_get (inline_data, "data")));
      if (ref.taken >= 0)
        g_array_append_val (found->refs, ref);
    }
    if (found->refs->len == before && finish && !g_str_equal (finish, "STOP")
        && !g_str_equal (finish, "MAX_TOKENS"))
      {
        refused = finish;
        refused_message = json_string_value (json_object_get (candidate, "finishMessage"));
      }
  }
  if (text->len)
    found->text = g_strdup (text->str);
  g_string_free (text, TRUE);
  if (!found->refs->len && refused)
    {
      set_refusal (error, refused, refused_message);
      return FALSE;
    }
  if (!found->refs->len)
    {
      vf_set_error (error, VF_ERROR_PROTOCOL, "the answer holds no picture%s%s",
                    found->text ? ", only text: " : "", found->text ? found->text : "");
      return FALSE;
    }
  return TRUE;
}

static const char *const gemini_keys[] = { "data", NULL };

const VfImageOps vf_image_gemini_ops = {
  .name = "gemini",
  .title = "Gemini",
  .default_models = "gemini-*",
  .picture_keys = gemini_keys,
  .build = gemini_build,
  .parse = gemini_parse,
};
