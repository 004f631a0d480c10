/* newapi.c: Seedance through a reseller gateway of the new-api (one-api)
 * family, which takes it at the OpenAI endpoint: POST /videos with the
 * Ark body in `metadata`, the Video object back, the result's URL in
 * metadata.url.  The calls are OpenAI's (vf_openai_ops), their tasks read
 * again as this protocol's.  Exports one table, vf_newapi_ops
 * (proto-private.h). */
#include <string.h>

#include "vf-error.h"
#include "vf-prompt.h"
#include "proto-private.h"

#define SEEDANCE_MODELS "doubao-seedance-*"

/* An OpenAI task of the gateway (consumed) as this protocol's. */
static VfTask *
relabel (VfTask *task, GError **error)
{
  VfTask *ours;

  if (!task)
    return NULL;
  ours = vf_task_from_newapi (task->raw, error);
  if (ours)
    ours->poll_after_ms = task->poll_after_ms;
  vf_task_free (task);
  return ours;
}

/* The text of the first text item of an Ark body's content. */
static const char *
content_text (json_t *body)
{
  json_t *item;
  size_t i;

  json_array_foreach (json_object_get (body, "content"), i, item)
  {
    if (g_strcmp0 (json_string_value (json_object_get (item, "type")), "text") == 0
        && json_is_string (json_object_get (item, "text")))
      return json_string_value (json_object_get (item, "text"));
  }
  return NULL;
}

/* {model, prompt, duration, metadata: {content, ratio, ...}} from an Ark
 * body (the pictures' bytes as data URLs); a new reference, or NULL. */
static json_t *
gateway_body (const VfCreateRequest *request, GError **error)
{
  g_autoptr (json_t) metadata = json_deep_copy (request->body);
  json_t *model = json_object_get (request->body, "model");
  json_t *duration = json_object_get (request->body, "duration");
  const char *prompt = content_text (request->body);
  json_t *body;

  if (!prompt)
    {
      vf_set_error (error, VF_ERROR_INVALID, "a Seedance request needs a text item in content");
      return NULL;
    }
  if (!vf_proto_pictures_inline (json_object_get (metadata, "content"), request, error))
    return NULL;
  json_object_del (metadata, "model");
  body = json_pack ("{s:s}", "prompt", prompt);
  if (model)
    json_object_set (body, "model", model);
  if (duration)
    json_object_set (body, "duration", duration);
  json_object_set (body, "metadata", metadata);
  return body;
}

static VfTask *
newapi_create (const VfEndpoint *endpoint, const VfCreateRequest *request, GError **error)
{
  g_autoptr (json_t) body = NULL;
  VfCreateRequest sent = { 0 };

  if (request->image_path)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "Seedance takes images as image_url items of content, not as a file");
      return NULL;
    }
  body = gateway_body (request, error);
  if (!body)
    return NULL;
  sent.body = body;
  return relabel (vf_openai_ops.create (endpoint, &sent, error), error);
}

static VfTask *
newapi_retrieve (const VfEndpoint *endpoint, const char *id, GError **error)
{
  return relabel (vf_openai_ops.retrieve (endpoint, id, error), error);
}

static VfTaskPage *
newapi_list (const VfEndpoint *endpoint, const char *cursor, int limit, GError **error)
{
  VfTaskPage *page = vf_openai_ops.list (endpoint, cursor, limit, error);

  /* Only the Seedance tasks of the listing are this protocol's. */
  for (guint i = 0; page && i < page->tasks->len;)
    {
      VfTask *task = page->tasks->pdata[i];

      if (task->model && g_pattern_match_simple (SEEDANCE_MODELS, task->model))
        {
          page->tasks->pdata[i] = relabel (task, NULL);
          if (page->tasks->pdata[i])
            {
              i++;
              continue;
            }
        }
      else
        vf_task_free (task);
      page->tasks->pdata[i] = NULL;
      g_ptr_array_remove_index (page->tasks, i);
    }
  return page;
}

static gboolean
newapi_delete (const VfEndpoint *endpoint, const char *id, GError **error)
{
  return vf_openai_ops.delete(endpoint, id, error);
}

static char *
newapi_content_url (const VfEndpoint *endpoint, const VfTask *task, VfVariant variant,
                    GError **error)
{
  if (!task->video_url)
    {
      vf_set_error (error, VF_ERROR_NOT_FOUND, "task %s has no metadata.url (yet)", task->id);
      return NULL;
    }
  if (!vf_http_url_allowed (task->video_url, error))
    {
      g_prefix_error (error, "the metadata.url of task %s: ", task->id);
      return NULL;
    }
  return g_strdup (task->video_url);
}

static const VfVariant newapi_variants[] = { VF_VARIANT_VIDEO };

const VfProtoOps vf_newapi_ops = {
  .name = "newapi",
  .title = "the gateway",
  .default_models = NULL,
  .create = newapi_create,
  .retrieve = newapi_retrieve,
  .list = newapi_list,
  .delete = newapi_delete,
  .remix = NULL,
  .body_from_prompt = vf_prompt_to_ark,
  .task_from_json = vf_task_from_newapi,
  .content_url = newapi_content_url,
  .content_bearer = FALSE,
  .variants = newapi_variants,
  .n_variants = G_N_ELEMENTS (newapi_variants),
};
