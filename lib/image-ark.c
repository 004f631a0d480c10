/* image-ark.c: Ark's Seedream, POST /images/generations at the Ark base:
 * OpenAI's body with the pictures as data URLs in `image` (one, or a list),
 * n as sequential_image_generation with its max_images, and b64_json
 * unless response_format says otherwise; data[] answers as OpenAI's. */
#include "image-private.h"

static char *
data_url (const VfImageFile *file)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (file->bytes, &len);
  g_autofree char *base64 = g_base64_encode (data, len);

  return g_strconcat ("data:", file->content_type, ";base64,", base64, NULL);
}

static gboolean
ark_build (const VfEndpoint *endpoint, const VfImageRequest *request, VfImageCall *call,
           GError **error)
{
  json_t *body;
  json_int_t n;

  if (request->mask)
    {
      vf_set_error (error, VF_ERROR_INVALID, "Seedream takes no mask");
      return FALSE;
    }
  if (request->n_images > 14)
    {
      vf_set_error (error, VF_ERROR_INVALID, "Seedream takes at most 14 pictures, not %zu",
                    request->n_images);
      return FALSE;
    }
  body = json_deep_copy (request->body);
  call->body = body;
  n = json_integer_value (json_object_get (body, "n"));
  json_object_del (body, "n");
  if (n > 1)
    {
      json_object_set_new (body, "sequential_image_generation", json_string ("auto"));
      json_object_set_new (body, "sequential_image_generation_options",
                           json_pack ("{s:I}", "max_images", n));
    }
  if (!json_object_get (body, "response_format"))
    json_object_set_new (body, "response_format", json_string ("b64_json"));
  if (request->n_images == 1)
    {
      g_autofree char *url = data_url (&request->images[0]);

      json_object_set_new (body, "image", json_string (url));
    }
  else if (request->n_images > 1)
    {
      json_t *list = json_array ();

      for (gsize i = 0; i < request->n_images; i++)
        {
          g_autofree char *url = data_url (&request->images[i]);

          json_array_append_new (list, json_string (url));
        }
      json_object_set_new (body, "image", list);
    }
  call->url = g_strconcat (endpoint->base, "/images/generations", NULL);
  return TRUE;
}

static const char *const ark_keys[] = { "b64_json", NULL };

const VfImageOps vf_image_ark_ops = {
  .name = "ark",
  .title = "Ark Seedream",
  .default_models = "doubao-seedream-*",
  .picture_keys = ark_keys,
  .build = ark_build,
  .parse = vf_image_parse_data_items,
};
