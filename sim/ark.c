/* ark.c: Volcengine Ark's content-generation tasks
 * (/api/v3/contents/generations/tasks), as the Seedance models serve them. */
#include "sim.h"

static const char *const known_keys[] = { "model",
                                          "content",
                                          "callback_url",
                                          "return_last_frame",
                                          "ratio",
                                          "duration",
                                          "frames",
                                          "resolution",
                                          "seed",
                                          "camera_fixed",
                                          "camerafixed",
                                          "watermark",
                                          "generate_audio",
                                          "service_tier",
                                          "execution_expires_after",
                                          "draft",
                                          "framespersecond",
                                          NULL };

static const char *
state_word (enum sim_state state)
{
  switch (state)
    {
    case SIM_STATE_QUEUED:
      return "queued";
    case SIM_STATE_IN_PROGRESS:
      return "running";
    case SIM_STATE_COMPLETED:
      return "succeeded";
    case SIM_STATE_FAILED:
      return "failed";
    case SIM_STATE_CANCELLED:
    default:
      return "cancelled";
    }
}

json_t *
sim_ark_task_json (const struct sim_job_view *view, const char *word)
{
  json_t *o = json_object ();

  json_object_set_new (o, "id", json_stringn (view->id, view->id_len));
  json_object_set_new (o, "model", json_string (view->model ? view->model : ""));
  json_object_set_new (o, "status", json_string (word ? word : state_word (view->state)));
  if (view->state == SIM_STATE_FAILED)
    json_object_set_new (
        o, "error",
        json_pack ("{s:s, s:s}", "code", "moderation_blocked", "message",
                   sim.fail_message ? sim.fail_message
                                    : "The generated video was blocked by content moderation."));
  else
    json_object_set_new (o, "error", json_null ());
  if (view->state == SIM_STATE_COMPLETED)
    {
      g_autofree char *video_url = sim_presigned_url (view->id, view->id_len, "mp4");
      g_autofree char *frame_url = sim_presigned_url (view->id, view->id_len, "png");
      json_t *content = json_object ();

      json_object_set_new (content, "video_url", json_string (video_url));
      if (view->return_last_frame)
        json_object_set_new (content, "last_frame_url", json_string (frame_url));
      json_object_set_new (o, "content", content);
      json_object_set_new (
          o, "usage",
          json_pack ("{s:i, s:i}", "completion_tokens", 108900, "total_tokens", 108900));
    }
  json_object_set_new (o, "seed", json_integer (view->seed));
  json_object_set_new (o, "resolution", json_string (view->resolution ? view->resolution : ""));
  json_object_set_new (o, "ratio", json_string (view->ratio ? view->ratio : ""));
  json_object_set_new (o, "duration", json_integer (view->duration));
  json_object_set_new (o, "framespersecond", json_integer (24));
  json_object_set_new (o, "created_at", json_integer (view->created_ms / 1000));
  json_object_set_new (o, "updated_at", json_integer (view->updated_ms / 1000));
  return o;
}

static enum MHD_Result
bad_param (struct sim_request *req, const char *param, const char *message)
{
  return sim_reply_ark_error (req, MHD_HTTP_BAD_REQUEST, "InvalidParameter", "BadRequest", param,
                              "The parameter `%s` specified in the request is not valid: %s.",
                              param, message);
}

static enum MHD_Result
not_found (struct sim_request *req)
{
  return sim_reply_ark_error (req, MHD_HTTP_NOT_FOUND, "ResourceNotFound", "NotFound", NULL,
                              "The specified task `%s` is not found.", req->id);
}

static void
replace_str (char **target, const char *value)
{
  g_free (*target);
  *target = g_strdup (value);
}

/* "--ratio 16:9 --dur 5 ..." in the prompt text */
static void
text_params (const char *text, char **ratio, char **resolution, gint64 *duration)
{
  g_auto (GStrv) words = g_strsplit_set (text, " \t\n", -1);

  for (char **w = words; *w && w[1]; w++)
    {
      const char *v = w[1];
      guint64 n = 0;

      if (g_str_equal (*w, "--ratio") || g_str_equal (*w, "--rt"))
        replace_str (ratio, v);
      else if (g_str_equal (*w, "--resolution") || g_str_equal (*w, "--rs"))
        replace_str (resolution, v);
      else if ((g_str_equal (*w, "--duration") || g_str_equal (*w, "--dur"))
               && g_ascii_string_to_unsigned (v, 10, 1, 3600, &n, NULL))
        *duration = (gint64)n;
    }
}

guint8 *
sim_data_url_bytes (const char *url, char **type, gsize *len)
{
  const char *comma = strchr (url, ',');
  const char *semi = strstr (url, ";base64,");

  if (!g_str_has_prefix (url, "data:") || !comma || semi != comma - 7)
    return NULL;
  *type = g_strndup (url + 5, semi - (url + 5));
  return g_base64_decode (comma + 1, len);
}

/* The media items of content: roles as Seedance takes them, data URLs of
 * pictures decoded and described into `files`.  NULL when all is well,
 * else the reason (static) and *param the item at fault. */
static const char *
check_media (json_t *content, json_t *files, const char **param)
{
  guint frames = 0, refs = 0, images = 0, videos = 0, audios = 0, last = 0, first = 0;
  json_t *item;
  size_t i;

  json_array_foreach (content, i, item)
  {
    const char *type = json_string_value (json_object_get (item, "type"));
    const char *role = json_string_value (json_object_get (item, "role"));
    const char *url;

    if (g_str_equal (type, "text"))
      continue;
    *param = "content.role";
    if (g_str_equal (type, "image_url"))
      {
        g_autofree char *media_type = NULL;
        g_autofree guint8 *data = NULL;
        gsize len = 0;

        url = json_string_value (json_object_get (json_object_get (item, "image_url"), "url"));
        if (!role || g_str_equal (role, "first_frame"))
          first++, frames++;
        else if (g_str_equal (role, "last_frame"))
          last++, frames++;
        else if (g_str_equal (role, "reference_image"))
          refs++;
        else
          return "expected first_frame, last_frame or reference_image";
        images++;
        data = sim_data_url_bytes (url, &media_type, &len);
        if (data)
          {
            json_t *d = sim_received_describe (role ? role : "first_frame", NULL, media_type, data,
                                               len, NULL, NULL);

            json_array_append_new (files, d);
            if (!json_is_string (json_object_get (d, "type")))
              {
                *param = "content.image_url.url";
                return "the data URL holds no PNG, JPEG or WebP picture";
              }
          }
        else if (g_str_has_prefix (url, "data:"))
          {
            *param = "content.image_url.url";
            return "a data URL must be data:image/<format>;base64,<data>";
          }
      }
    else if (g_str_equal (type, "video_url") || g_str_equal (type, "audio_url"))
      {
        gboolean video = g_str_equal (type, "video_url");

        url = json_string_value (json_object_get (json_object_get (item, type), "url"));
        *param = video ? "content.video_url.url" : "content.audio_url.url";
        if (!url || !(g_str_has_prefix (url, "https://") || g_str_has_prefix (url, "http://")))
          return "expected an http(s) URL";
        *param = "content.role";
        if (g_strcmp0 (role, video ? "reference_video" : "reference_audio") != 0)
          return video ? "a video_url item has the role reference_video"
                       : "an audio_url item has the role reference_audio";
        if (video)
          videos++;
        else
          audios++;
        refs++;
      }
  }
  *param = "content";
  if (frames && refs)
    return "first/last frames and references exclude each other";
  if (first > 1 || last > 1 || (last && !first))
    return "one first_frame, and at most one last_frame after it";
  if (images > 9 || videos > 3 || audios > 3 || images + videos + audios > 12)
    return "at most 9 images, 3 videos and 3 audios, 12 items in all";
  return NULL;
}

enum MHD_Result
sim_ark_create (struct sim_request *req)
{
  struct sim_job_spec spec = { .api = SIM_API_ARK };
  g_autoptr (SimJobView) view = NULL;
  g_autoptr (json_t) body = NULL;
  g_autoptr (GString) prompt = g_string_new (NULL);
  g_autofree char *ratio = g_strdup ("16:9");
  g_autofree char *resolution = g_strdup ("720p");
  gint64 duration = 5;
  struct sim_fault_hit hit;
  json_error_t jerr;
  const char *key, *word;
  json_t *value, *content;
  size_t i;

  if (req->form)
    return sim_reply_ark_error (req, MHD_HTTP_BAD_REQUEST, "InvalidParameter", "BadRequest", NULL,
                                "The request body must be JSON.");
  body = sim_request_json (req, &jerr);
  if (!body || !json_is_object (body))
    return sim_reply_ark_error (req, MHD_HTTP_BAD_REQUEST, "InvalidParameter", "BadRequest", NULL,
                                "The request body is not a valid JSON object.");
  json_object_foreach (body, key, value) if (!g_strv_contains (known_keys, key)) return bad_param (
      req, key, "unknown parameter");

  value = json_object_get (body, "model");
  if (!json_is_string (value) || json_string_length (value) == 0)
    return sim_reply_ark_error (req, MHD_HTTP_BAD_REQUEST, "MissingParameter", "BadRequest",
                                "model", "The request failed because it is missing `model`.");
  content = json_object_get (body, "content");
  if (!json_is_array (content) || json_array_size (content) == 0)
    return bad_param (req, "content", "expected a non-empty array");
  json_array_foreach (content, i, value)
  {
    const char *type = json_string_value (json_object_get (value, "type"));

    if (!type)
      return bad_param (req, "content.type", "missing");
    if (g_str_equal (type, "text"))
      {
        const char *text = json_string_value (json_object_get (value, "text"));
        if (!text)
          return bad_param (req, "content.text", "expected a string");
        if (prompt->len)
          g_string_append_c (prompt, '\n');
        g_string_append (prompt, text);
      }
    else if (g_str_equal (type, "image_url"))
      {
        if (!json_is_string (json_object_get (json_object_get (value, "image_url"), "url")))
          return bad_param (req, "content.image_url.url", "expected a string");
      }
    else if (!g_str_equal (type, "video_url") && !g_str_equal (type, "audio_url"))
      return bad_param (req, "content.type", "expected text, image_url, video_url or audio_url");
  }
  {
    json_t *fields = json_deep_copy (body);
    json_t *files = json_array ();
    const char *param = NULL;
    const char *why = check_media (content, files, &param);
    json_t *item;
    size_t j;

    /* The pictures' bytes are in `files`; the fields keep the rest. */
    json_array_foreach (json_object_get (fields, "content"), j, item)
    {
      json_t *image = json_object_get (item, "image_url");
      const char *url = json_string_value (json_object_get (image, "url"));

      if (url && g_str_has_prefix (url, "data:"))
        json_object_set_new (image, "url", json_string ("data:..."));
    }
    sim_received_add (req->url, fields, files);
    if (why)
      return bad_param (req, param, why);
  }
  text_params (prompt->str, &ratio, &resolution, &duration);
  value = json_object_get (body, "ratio");
  if (value && !json_is_string (value))
    return bad_param (req, "ratio", "expected a string");
  if (value)
    replace_str (&ratio, json_string_value (value));
  value = json_object_get (body, "resolution");
  if (value && !json_is_string (value))
    return bad_param (req, "resolution", "expected a string");
  if (value)
    replace_str (&resolution, json_string_value (value));
  value = json_object_get (body, "duration");
  if (value
      && (!json_is_integer (value) || json_integer_value (value) < 1
          || json_integer_value (value) > 3600))
    return bad_param (req, "duration", "expected an integer number of seconds");
  if (value)
    duration = json_integer_value (value);
  value = json_object_get (body, "return_last_frame");
  if (value && !json_is_boolean (value))
    return bad_param (req, "return_last_frame", "expected a boolean");

  if (sim.reject_marker && *sim.reject_marker && strstr (prompt->str, sim.reject_marker))
    return sim_reply_ark_error (req, MHD_HTTP_BAD_REQUEST, "moderation_blocked", "BadRequest", NULL,
                                "The request failed because the input text may contain "
                                "sensitive information.");

  spec.prompt = prompt->str;
  spec.model = json_string_value (json_object_get (body, "model"));
  spec.ratio = ratio;
  spec.resolution = resolution;
  spec.duration = duration;
  spec.return_last_frame = json_is_true (json_object_get (body, "return_last_frame"));
  spec.hostile
      = sim_faults_take (SIM_FAULT_HOSTILE_ID, req->call, &hit) ? hit.hostile : SIM_HOSTILE_NONE;
  view = sim_jobs_create (&spec);
  if (!sim_create_faults (req))
    return MHD_NO;
  word = sim_faults_take (SIM_FAULT_UNKNOWN_STATE, req->call, &hit) ? hit.word : NULL;
  if (word)
    return sim_reply_object (
        req, json_pack ("{s:o, s:s}", "id", json_stringn (view->id, view->id_len), "status", word),
        -1);
  return sim_reply_object (req, json_pack ("{s:o}", "id", json_stringn (view->id, view->id_len)),
                           -1);
}

enum MHD_Result
sim_ark_retrieve (struct sim_request *req)
{
  g_autoptr (SimJobView) view = sim_jobs_get (SIM_API_ARK, req->id);
  struct sim_fault_hit hit;
  const char *word;

  if (!view)
    return not_found (req);
  word = sim_faults_take (SIM_FAULT_UNKNOWN_STATE, req->call, &hit) ? hit.word : NULL;
  return sim_reply_object (req, sim_ark_task_json (view, word), -1);
}

static gboolean
page_arg (struct sim_request *req, const char *key, guint64 fallback, guint64 *out)
{
  const char *s = sim_request_arg (req, key);

  *out = fallback;
  return !s || g_ascii_string_to_unsigned (s, 10, 1, 500, out, NULL);
}

enum MHD_Result
sim_ark_list (struct sim_request *req)
{
  static const char *const states[]
      = { "queued", "running", "cancelled", "succeeded", "failed", NULL };
  const char *status = sim_request_arg (req, "filter.status");
  const char *model = sim_request_arg (req, "filter.model");
  const char *ids_arg = sim_request_arg (req, "filter.task_ids");
  g_auto (GStrv) ids = NULL;
  g_autoptr (GPtrArray) views = NULL;
  struct sim_fault_hit hit;
  const char *word;
  guint64 page_num, page_size, total = 0, skip;
  json_t *items;

  if (!page_arg (req, "page_num", 1, &page_num))
    return bad_param (req, "page_num", "expected an integer from 1 to 500");
  if (!page_arg (req, "page_size", 10, &page_size))
    return bad_param (req, "page_size", "expected an integer from 1 to 500");
  if (status && *status && !g_strv_contains (states, status))
    return bad_param (req, "filter.status", "unknown status");
  if (ids_arg && *ids_arg)
    ids = g_strsplit (ids_arg, ",", -1);

  word = sim_faults_take (SIM_FAULT_UNKNOWN_STATE, req->call, &hit) ? hit.word : NULL;
  views = sim_jobs_list (SIM_API_ARK, FALSE, NULL, NULL);
  items = json_array ();
  skip = (page_num - 1) * page_size;
  for (guint i = 0; i < views->len; i++)
    {
      const struct sim_job_view *v = g_ptr_array_index (views, i);

      if (status && *status && !g_str_equal (status, state_word (v->state)))
        continue;
      if (model && *model && g_strcmp0 (model, v->model))
        continue;
      if (ids && !g_strv_contains ((const char *const *)ids, v->id))
        continue;
      if (total >= skip && total < skip + page_size)
        json_array_append_new (items, sim_ark_task_json (v, word));
      total++;
    }
  return sim_reply_object (
      req, json_pack ("{s:I, s:o}", "total", (json_int_t)total, "items", items), -1);
}

enum MHD_Result
sim_ark_delete (struct sim_request *req)
{
  switch (sim_jobs_delete (SIM_API_ARK, req->id))
    {
    case SIM_DELETE_DELETED:
    case SIM_DELETE_CANCELLED:
      return sim_reply_json (req, MHD_HTTP_OK, json_object ());
    case SIM_DELETE_BUSY:
      return sim_reply_ark_error (req, MHD_HTTP_CONFLICT, "InvalidAction.TaskRunning", "Conflict",
                                  NULL, "The task `%s` is running and cannot be deleted.", req->id);
    case SIM_DELETE_NOT_FOUND:
    default:
      return not_found (req);
    }
}
