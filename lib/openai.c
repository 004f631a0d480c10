/* openai.c: the OpenAI Videos API (Sora), as OpenAI and resellers serve it.
 * Exports one table, vf_openai_ops (proto-private.h). */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "vf-error.h"
#include "proto-private.h"
#include "vf-variant.h"

/* openai-poll-after-ms: how long the server would like us to wait. */
static void
take_poll_hint (VfTask *task, const VfHttpResponse *response)
{
  const char *value = vf_http_response_header (response, "openai-poll-after-ms");
  guint64 ms;

  if (value && g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT64, &ms, NULL))
    task->poll_after_ms = (gint64)ms;
}

static VfTask *
task_from_answer (json_t *answer, const VfHttpResponse *response, GError **error)
{
  VfTask *task = vf_task_from_openai (answer, error);

  if (task)
    take_poll_hint (task, response);
  return task;
}

static const char *
image_type (const char *path)
{
  g_autofree char *lower = g_ascii_strdown (path, -1);

  if (g_str_has_suffix (lower, ".jpg") || g_str_has_suffix (lower, ".jpeg"))
    return "image/jpeg";
  if (g_str_has_suffix (lower, ".png"))
    return "image/png";
  if (g_str_has_suffix (lower, ".webp"))
    return "image/webp";
  return "application/octet-stream";
}

static VfTask *openai_remix (const VfEndpoint *endpoint, const char *id, const char *prompt,
                             GError **error);

/* The body's fields as form fields: strings as they are, anything else as
 * its JSON text; the inputs' descriptions stay out, and so does size for an
 * extension (it keeps its source's). */
static void
add_fields (GArray *parts, GPtrArray *values, json_t *body, gboolean extend)
{
  const char *key;
  json_t *value;

  json_object_foreach (body, key, value)
  {
    VfHttpPart field = { 0 };
    char *text;

    if (json_is_null (value) || strcmp (key, "input_reference") == 0 || strcmp (key, "extend") == 0
        || (extend && strcmp (key, "size") == 0))
      continue;
    if (json_is_string (value))
      text = strdup (json_string_value (value));
    else
      text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
    g_ptr_array_add (values, text);
    field.name = key;
    field.value = text;
    g_array_append_val (parts, field);
  }
}

static VfTask *
openai_create (const VfEndpoint *endpoint, const VfCreateRequest *request, GError **error)
{
  json_t *reference = json_object_get (request->body, "input_reference");
  const char *remix
      = json_string_value (json_object_get (json_object_get (request->body, "remix"), "id"));
  const char *extend
      = json_string_value (json_object_get (json_object_get (request->body, "extend"), "id"));
  const VfCreateFile *file = NULL;
  g_autofree char *url = NULL;
  g_autoptr (GArray) parts = NULL;
  g_autoptr (GPtrArray) values = NULL;
  g_autoptr (json_t) answer = NULL;
  VfHttpResponse response = { 0 };
  VfCall call = { 0 };
  VfTask *task = NULL;

  if (remix)
    return openai_remix (endpoint, remix,
                         json_string_value (json_object_get (request->body, "prompt")), error);
  if (json_is_object (reference))
    {
      file = vf_proto_request_file (request, reference);
      if (!file)
        {
          vf_set_error (error, VF_ERROR_INVALID, "the bytes of input_reference are not at hand");
          return NULL;
        }
    }

  url = g_strdup_printf (extend ? "%s/videos/extensions" : "%s/videos", endpoint->base);
  call.method = "POST";
  call.url = url;
  call.idempotent = FALSE;

  if (request->image_path || file || extend)
    {
      VfHttpPart part = { 0 };

      /* Checked here, so that a missing file sends nothing. */
      if (request->image_path
          && (!g_file_test (request->image_path, G_FILE_TEST_IS_REGULAR)
              || g_access (request->image_path, R_OK) != 0))
        {
          vf_set_error (error, VF_ERROR_INVALID, "cannot read the image %s", request->image_path);
          return NULL;
        }

      parts = g_array_new (FALSE, TRUE, sizeof (VfHttpPart));
      values = g_ptr_array_new_with_free_func (free);
      add_fields (parts, values, request->body, extend != NULL);
      if (extend)
        {
          part.name = "video[id]";
          part.value = extend;
          g_array_append_val (parts, part);
        }
      else if (file)
        {
          part.name = "input_reference";
          part.data = file->bytes;
          part.filename = file->filename;
          part.content_type = file->content_type;
          g_array_append_val (parts, part);
        }
      else
        {
          part.name = "input_reference";
          part.path = request->image_path;
          part.content_type = image_type (request->image_path);
          g_array_append_val (parts, part);
        }
      call.parts = (const VfHttpPart *)parts->data;
      call.n_parts = parts->len;
    }
  else
    call.body = request->body;

  answer = vf_call_json (endpoint, &call, &response, error);
  if (answer)
    task = task_from_answer (answer, &response, error);
  else if (extend && error && g_error_matches (*error, VF_ERROR, VF_ERROR_NOT_FOUND)
           && g_strcmp0 (vf_error_api_code (*error), "video_not_found") != 0)
    vf_error_set_http (*error, 404, "extensions_not_offered",
                       "this API offers no video extensions (POST /videos/extensions answered 404)",
                       vf_error_request_id (*error));
  vf_http_response_clear (&response);
  return task;
}

static VfTask *
openai_retrieve (const VfEndpoint *endpoint, const char *id, GError **error)
{
  g_autofree char *escaped = vf_call_escape (id);
  g_autofree char *url = g_strdup_printf ("%s/videos/%s", endpoint->base, escaped);
  g_autoptr (json_t) answer = NULL;
  VfHttpResponse response = { 0 };
  VfCall call = { .method = "GET", .url = url, .idempotent = TRUE };
  VfTask *task = NULL;

  answer = vf_call_json (endpoint, &call, &response, error);
  if (answer)
    task = task_from_answer (answer, &response, error);
  vf_http_response_clear (&response);
  return task;
}

static VfTaskPage *
openai_list (const VfEndpoint *endpoint, const char *cursor, int limit, GError **error)
{
  GString *url = g_string_new (NULL);
  g_autoptr (json_t) answer = NULL;
  VfHttpResponse response = { 0 };
  VfCall call = { .method = "GET", .idempotent = TRUE };
  VfTaskPage *page = NULL;

  g_string_printf (url, "%s/videos?order=desc", endpoint->base);
  if (limit > 0)
    g_string_append_printf (url, "&limit=%d", limit);
  if (cursor && *cursor)
    {
      g_autofree char *escaped = vf_call_escape (cursor);

      g_string_append_printf (url, "&after=%s", escaped);
    }
  call.url = url->str;

  answer = vf_call_json (endpoint, &call, &response, error);
  if (answer)
    page = vf_task_page_from_openai (answer, error);
  vf_http_response_clear (&response);
  g_string_free (url, TRUE);
  return page;
}

static gboolean
openai_delete (const VfEndpoint *endpoint, const char *id, GError **error)
{
  g_autofree char *escaped = vf_call_escape (id);
  g_autofree char *url = g_strdup_printf ("%s/videos/%s", endpoint->base, escaped);
  g_autoptr (json_t) answer = NULL;
  VfHttpResponse response = { 0 };
  VfCall call = { .method = "DELETE", .url = url, .idempotent = TRUE };

  answer = vf_call_json (endpoint, &call, &response, error);
  vf_http_response_clear (&response);
  if (!answer)
    return FALSE;
  if (json_is_false (json_object_get (answer, "deleted")))
    {
      vf_set_error (error, VF_ERROR_FAILED, "DELETE of %s: the server says it did not delete it",
                    id);
      return FALSE;
    }
  return TRUE;
}

static VfTask *
openai_remix (const VfEndpoint *endpoint, const char *id, const char *prompt, GError **error)
{
  g_autofree char *escaped = vf_call_escape (id);
  g_autofree char *url = g_strdup_printf ("%s/videos/%s/remix", endpoint->base, escaped);
  g_autoptr (json_t) body = json_pack ("{s:s}", "prompt", prompt);
  g_autoptr (json_t) answer = NULL;
  VfHttpResponse response = { 0 };
  VfCall call = { .method = "POST", .url = url, .body = body, .idempotent = FALSE };
  VfTask *task = NULL;

  if (!body)
    {
      vf_set_error (error, VF_ERROR_INVALID, "the remix prompt is not valid UTF-8");
      return NULL;
    }
  answer = vf_call_json (endpoint, &call, &response, error);
  if (answer)
    task = task_from_answer (answer, &response, error);
  vf_http_response_clear (&response);
  return task;
}

static char *
openai_content_url (const VfEndpoint *endpoint, const VfTask *task, VfVariant variant,
                    GError **error)
{
  g_autofree char *escaped = NULL;

  if (!vf_id_check (task->id, error))
    return NULL;
  escaped = vf_call_escape (task->id);
  return g_strdup_printf ("%s/videos/%s/content?variant=%s", endpoint->base, escaped,
                          vf_variant_name (variant));
}

static const VfVariant openai_variants[]
    = { VF_VARIANT_VIDEO, VF_VARIANT_THUMBNAIL, VF_VARIANT_SPRITESHEET };

const VfProtoOps vf_openai_ops = {
  .name = "openai",
  .title = "OpenAI",
  .default_models = NULL,
  .create = openai_create,
  .retrieve = openai_retrieve,
  .list = openai_list,
  .delete = openai_delete,
  .remix = openai_remix,
  .body_from_prompt = NULL,
  .task_from_json = vf_task_from_openai,
  .content_url = openai_content_url,
  .content_bearer = TRUE,
  .variants = openai_variants,
  .n_variants = G_N_ELEMENTS (openai_variants),
};
