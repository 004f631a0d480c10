/* image-openai.c: OpenAI's Images API: POST /images/generations (JSON),
 * or POST /images/edits (multipart: `image`, or `image[]` for several,
 * and `mask`) when pictures are given; answers' data[] items carry
 * b64_json or a url, and dall-e-3's revised_prompt (image-wire.c reads them). */
#include "image-private.h"

#include <string.h>

/* A body member as a form field's text. */
static char *
field_text (json_t *value)
{
  if (json_is_string (value))
    return g_strdup (json_string_value (value));
  return json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
}

static gboolean
openai_build (const VfEndpoint *endpoint, const VfImageRequest *request, VfImageCall *call,
              GError **error)
{
  const char *key;
  json_t *value;

  if (!request->n_images && request->mask)
    {
      vf_set_error (error, VF_ERROR_INVALID, "a mask needs a picture to edit (image:)");
      return FALSE;
    }
  if (!request->n_images)
    {
      call->url = g_strconcat (endpoint->base, "/images/generations", NULL);
      call->body = json_deep_copy (request->body);
      return TRUE;
    }
  call->url = g_strconcat (endpoint->base, "/images/edits", NULL);
  json_object_foreach (request->body, key, value)
  {
    char *text = field_text (value);

    vf_image_call_add_field (call, key, text);
    free (text);
  }
  for (gsize i = 0; i < request->n_images; i++)
    vf_image_call_add_file (call, request->n_images == 1 ? "image" : "image[]",
                            &request->images[i]);
  if (request->mask)
    vf_image_call_add_file (call, "mask", request->mask);
  return TRUE;
}

static const char *const openai_keys[] = { "b64_json", NULL };

const VfImageOps vf_image_openai_ops = {
  .name = "openai",
  .title = "OpenAI Images",
  .default_models = "gpt-image-* dall-e-*",
  .picture_keys = openai_keys,
  .build = openai_build,
  .parse = vf_image_parse_data_items,
};
