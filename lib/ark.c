/* ark.c: Volcengine Ark's content-generation tasks (Seedance).
 * Exports one table, vf_ark_ops (proto-private.h). */
#include <string.h>

#include "vf-error.h"
#include "vf-prompt.h"
#include "proto-private.h"

static gboolean
have_endpoint (const VfEndpoint *endpoint, GError **error)
{
  if (endpoint->base)
    return TRUE;
  vf_set_error (error, VF_ERROR_INVALID, "no Ark endpoint is configured (ark_endpoint=URL)");
  return FALSE;
}

static char *
tasks_url (const VfEndpoint *endpoint, const char *id)
{
  g_autofree char *escaped = NULL;

  if (!id)
    return g_strdup_printf ("%s/contents/generations/tasks", endpoint->base);
  escaped = vf_call_escape (id);
  return g_strdup_printf ("%s/contents/generations/tasks/%s", endpoint->base, escaped);
}

/* The body with every picture's description (vf-inputs.h) replaced by its
 * bytes as a data URL; NULL when some bytes are not at hand.  Returns a new
 * reference. */
static json_t *
body_with_pictures (const VfCreateRequest *request, GError **error)
{
  json_t *body = json_deep_copy (request->body);

  if (!vf_proto_pictures_inline (json_object_get (body, "content"), request, error))
    {
      json_decref (body);
      return NULL;
    }
  return body;
}

static VfTask *
ark_create (const VfEndpoint *endpoint, const VfCreateRequest *request, GError **error)
{
  g_autofree char *url = NULL;
  g_autoptr (json_t) answer = NULL;
  g_autoptr (json_t) body = NULL;
  VfHttpResponse response = { 0 };
  VfCall call = { .method = "POST", .idempotent = FALSE };
  VfTask *task = NULL;

  if (!have_endpoint (endpoint, error))
    return NULL;
  if (request->image_path)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "Ark takes images as image_url items of content, not as a file");
      return NULL;
    }
  body = request->n_files ? body_with_pictures (request, error) : json_incref (request->body);
  if (!body)
    return NULL;
  call.body = body;
  url = tasks_url (endpoint, NULL);
  call.url = url;

  answer = vf_call_json (endpoint, &call, &response, error);
  vf_http_response_clear (&response);
  if (!answer)
    return NULL;
  task = vf_task_from_ark (answer, error);
  if (!task)
    return NULL;

  /* The answer is only {"id": ...}: the rest is what was asked for. */
  if (!task->state_word)
    {
      task->state = VF_STATE_QUEUED;
      task->state_word = g_strdup ("queued");
      task->progress = 0;
    }
  if (!task->model)
    task->model = g_strdup (json_string_value (json_object_get (request->body, "model")));
  if (!task->prompt)
    {
      json_t *content = json_object_get (request->body, "content");
      json_t *item;
      size_t i;

      json_array_foreach (content, i, item)
      {
        if (g_strcmp0 (json_string_value (json_object_get (item, "type")), "text") == 0
            && json_is_string (json_object_get (item, "text")))
          {
            task->prompt = g_strdup (json_string_value (json_object_get (item, "text")));
            break;
          }
      }
    }
  return task;
}

static VfTask *
ark_retrieve (const VfEndpoint *endpoint, const char *id, GError **error)
{
  g_autofree char *url = NULL;
  g_autoptr (json_t) answer = NULL;
  VfHttpResponse response = { 0 };
  VfCall call = { .method = "GET", .idempotent = TRUE };

  if (!have_endpoint (endpoint, error))
    return NULL;
  url = tasks_url (endpoint, id);
  call.url = url;
  answer = vf_call_json (endpoint, &call, &response, error);
  vf_http_response_clear (&response);
  return answer ? vf_task_from_ark (answer, error) : NULL;
}

static VfTaskPage *
ark_list (const VfEndpoint *endpoint, const char *cursor, int limit, GError **error)
{
  g_autofree char *base = NULL;
  g_autofree char *url = NULL;
  g_autoptr (json_t) answer = NULL;
  VfHttpResponse response = { 0 };
  VfCall call = { .method = "GET", .idempotent = TRUE };
  guint64 page_num = 1;
  int page_size = limit > 0 ? limit : 10;
  VfTaskPage *page;

  if (!have_endpoint (endpoint, error))
    return NULL;
  if (cursor && *cursor
      && !g_ascii_string_to_unsigned (cursor, 10, 1, G_MAXINT / MAX (page_size, 1), &page_num,
                                      NULL))
    {
      vf_set_error (error, VF_ERROR_INVALID, "an Ark list cursor is a page number, not \"%s\"",
                    cursor);
      return NULL;
    }
  base = tasks_url (endpoint, NULL);
  url = g_strdup_printf ("%s?page_num=%d&page_size=%d", base, (int)page_num, page_size);
  call.url = url;

  answer = vf_call_json (endpoint, &call, &response, error);
  vf_http_response_clear (&response);
  if (!answer)
    return NULL;
  page = vf_task_page_from_ark (answer, (int)page_num, page_size, error);
  /* The next page's number is its cursor, so callers page both APIs alike. */
  if (page && page->has_more && !page->next_cursor)
    page->next_cursor = g_strdup_printf ("%d", (int)page_num + 1);
  return page;
}

static gboolean
ark_delete (const VfEndpoint *endpoint, const char *id, GError **error)
{
  g_autofree char *url = NULL;
  g_autoptr (json_t) answer = NULL;
  VfHttpResponse response = { 0 };
  VfCall call = { .method = "DELETE", .idempotent = TRUE };

  if (!have_endpoint (endpoint, error))
    return FALSE;
  url = tasks_url (endpoint, id);
  call.url = url;
  answer = vf_call_json (endpoint, &call, &response, error);
  vf_http_response_clear (&response);
  return answer != NULL;
}

static char *
ark_content_url (const VfEndpoint *endpoint, const VfTask *task, VfVariant variant, GError **error)
{
  gboolean last = variant == VF_VARIANT_LAST_FRAME;
  const char *url = last ? task->last_frame_url : task->video_url;
  const char *what = last ? "last_frame_url" : "video_url";

  if (!url)
    {
      vf_set_error (error, VF_ERROR_NOT_FOUND, "task %s has no %s (yet)", task->id, what);
      return NULL;
    }
  if (!vf_http_url_allowed (url, error))
    {
      g_prefix_error (error, "the %s of task %s: ", what, task->id);
      return NULL;
    }
  return g_strdup (url);
}

/* The pre-signed video_url, and last_frame_url when return_last_frame
 * asked for it (a task without one has no such variant). */
static const VfVariant ark_variants[] = { VF_VARIANT_VIDEO, VF_VARIANT_LAST_FRAME };

const VfProtoOps vf_ark_ops = {
  .name = "ark",
  .title = "Ark",
  .default_models = "doubao-seedance-*",
  .create = ark_create,
  .retrieve = ark_retrieve,
  .list = ark_list,
  .delete = ark_delete,
  .remix = NULL,
  .body_from_prompt = vf_prompt_to_ark,
  .task_from_json = vf_task_from_ark,
  .content_url = ark_content_url,
  .content_bearer = FALSE,
  .variants = ark_variants,
  .n_variants = G_N_ELEMENTS (ark_variants),
};
