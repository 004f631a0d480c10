/* openai.c: OpenAI's Videos API (/v1/videos), shapes and errors as the
 * official SDKs expect them. */
#include "sim.h"

static const char *const known_seconds[] = { "4", "8", "12", "16", "20", NULL };
static const char *const known_sizes[]
    = { "720x1280", "1280x720", "1024x1792", "1792x1024", "1920x1080", "1080x1920", NULL };

static json_t *
time_json (gint64 ms)
{
  if (ms <= 0)
    return json_null ();
  return json_integer (sim.tokenhot ? ms : ms / 1000);
}

static const char *
state_word (enum sim_state state)
{
  switch (state)
    {
    case SIM_STATE_QUEUED:
      return "queued";
    case SIM_STATE_IN_PROGRESS:
      return "in_progress";
    case SIM_STATE_COMPLETED:
      return "completed";
    case SIM_STATE_FAILED:
    case SIM_STATE_CANCELLED:
    default:
      return "failed";
    }
}

static json_t *
nullable (const char *s)
{
  return s ? json_string (s) : json_null ();
}

json_t *
sim_openai_video_json (const struct sim_job_view *view, const char *word)
{
  json_t *o = json_object ();

  json_object_set_new (o, "id", json_stringn (view->id, view->id_len));
  json_object_set_new (o, "object", json_string ("video"));
  json_object_set_new (o, "created_at", time_json (view->created_ms));
  json_object_set_new (o, "status", json_string (word ? word : state_word (view->state)));
  json_object_set_new (o, "completed_at", time_json (view->completed_ms));
  if (view->state == SIM_STATE_FAILED)
    json_object_set_new (o, "error",
                         json_pack ("{s:s, s:s}", "code", "moderation_blocked", "message",
                                    sim.fail_message
                                        ? sim.fail_message
                                        : "The video was blocked by our moderation system."));
  else
    json_object_set_new (o, "error", json_null ());
  json_object_set_new (o, "expires_at", time_json (view->expires_ms));
  json_object_set_new (o, "model", nullable (view->model));
  json_object_set_new (o, "progress", json_integer (view->progress));
  json_object_set_new (o, "prompt", nullable (view->prompt));
  json_object_set_new (o, "remixed_from_video_id", nullable (view->remixed_from));
  json_object_set_new (o, "seconds", nullable (view->seconds));
  json_object_set_new (o, "size", nullable (view->size));
  if (sim.newapi)
    sim_gateway_video_fields (view, o);
  return o;
}

/* The word unknown_state shows for this request, or NULL. */
static const char *
take_state_word (struct sim_request *req, struct sim_fault_hit *hit)
{
  return sim_faults_take (SIM_FAULT_UNKNOWN_STATE, req->call, hit) ? hit->word : NULL;
}

static enum MHD_Result
not_found (struct sim_request *req)
{
  return sim_reply_openai_error (req, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL,
                                 "video_not_found", "Video with id '%s' not found.", req->id);
}

static const char *
json_type_name (const json_t *v)
{
  switch (json_typeof (v))
    {
    case JSON_OBJECT:
      return "an object";
    case JSON_ARRAY:
      return "an array";
    case JSON_STRING:
      return "a string";
    case JSON_INTEGER:
      return "an integer";
    case JSON_REAL:
      return "a decimal";
    case JSON_TRUE:
    case JSON_FALSE:
      return "a boolean";
    case JSON_NULL:
    default:
      return "null";
    }
}

/* The request's parameters as a JSON object, from a JSON body or a form;
 * NULL after answering 400. */
static json_t *
request_params (struct sim_request *req, enum MHD_Result *ret)
{
  json_error_t jerr;
  json_t *params;

  if (req->form)
    {
      GHashTableIter iter;
      gpointer key, value;

      if (req->form_error)
        {
          *ret = sim_reply_openai_error (
              req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", req->form_error,
              "invalid_multipart", "Invalid multipart form data (field '%s').", req->form_error);
          return NULL;
        }
      params = json_object ();
      g_hash_table_iter_init (&iter, req->form);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          GString *s = value;
          json_t *v = g_utf8_validate (s->str, (gssize)s->len, NULL) ? json_stringn (s->str, s->len)
                                                                     : json_string ("");
          if (g_str_has_prefix (key, "input_reference["))
            key = (gpointer) "input_reference";
          json_object_set_new (params, key, v ? v : json_string (""));
        }
      return params;
    }

  params = sim_request_json (req, &jerr);
  if (!params)
    {
      *ret = sim_reply_openai_error (
          req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL, NULL,
          "We could not parse the JSON body of your request. (HINT: This likely means you "
          "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but "
          "what was sent was not valid JSON.)");
      return NULL;
    }
  if (!json_is_object (params))
    {
      *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL,
                                     "invalid_type",
                                     "Invalid type for request body: expected an object, but got "
                                     "%s instead.",
                                     json_type_name (params));
      json_decref (params);
      return NULL;
    }
  return params;
}

/* Checks keys against `known`; the optional string parameters against
 * their types and value lists.  FALSE after answering 400. */
static gboolean
check_params (struct sim_request *req, json_t *params, const char *const *known,
              enum MHD_Result *ret)
{
  const char *key;
  json_t *value;

  json_object_foreach (params, key, value)
  {
    if (!g_strv_contains (known, key))
      {
        *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", key,
                                       "unknown_parameter", "Unknown parameter: '%s'.", key);
        return FALSE;
      }
    if (!g_str_equal (key, "input_reference") && !json_is_string (value))
      {
        *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", key,
                                       "invalid_type",
                                       "Invalid type for '%s': expected a string, but got %s "
                                       "instead.",
                                       key, json_type_name (value));
        return FALSE;
      }
  }

  value = json_object_get (params, "prompt");
  if (!value)
    {
      *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "prompt",
                                     "missing_required_parameter",
                                     "Missing required parameter: 'prompt'.");
      return FALSE;
    }
  if (json_string_length (value) == 0)
    {
      *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "prompt",
                                     "empty_string",
                                     "Invalid 'prompt': empty string. Expected a string with "
                                     "minimum length 1, but got an empty string instead.");
      return FALSE;
    }
  if (strlen (json_string_value (value)) != json_string_length (value))
    {
      *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "prompt",
                                     "invalid_value", "Invalid 'prompt': contains a NUL byte.");
      return FALSE;
    }

  value = json_object_get (params, "seconds");
  if (value && !g_strv_contains (known_seconds, json_string_value (value)))
    {
      *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "seconds",
                                     "invalid_value",
                                     "Invalid value: '%s'. Supported values are: '4', '8', '12', "
                                     "'16', and '20'.",
                                     json_string_value (value));
      return FALSE;
    }
  value = json_object_get (params, "size");
  if (value && !g_strv_contains (known_sizes, json_string_value (value)))
    {
      *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "size",
                                     "invalid_value",
                                     "Invalid value: '%s'. Supported values are: '720x1280', "
                                     "'1280x720', '1024x1792', '1792x1024', '1920x1080', and "
                                     "'1080x1920'.",
                                     json_string_value (value));
      return FALSE;
    }
  value = json_object_get (params, "model");
  if (value && json_string_length (value) == 0)
    {
      *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "model",
                                     "empty_string", "Invalid 'model': empty string.");
      return FALSE;
    }
  return TRUE;
}

static const char *
string_or (json_t *params, const char *key, const char *fallback)
{
  const char *s = json_string_value (json_object_get (params, key));

  return s ? s : fallback;
}

/* Records what a create received; checks its input_reference file as the
 * API does (a picture by its bytes, of the requested size).  FALSE after
 * answering 400. */
static gboolean
check_reference (struct sim_request *req, json_t *params, enum MHD_Result *ret)
{
  g_autoptr (json_t) files = json_array ();
  json_t *fields = json_deep_copy (params);
  const char *size = string_or (params, "size", "720x1280");
  gboolean ok = TRUE;

  for (guint i = 0; req->files && i < req->files->len; i++)
    {
      struct sim_file *file = g_ptr_array_index (req->files, i);
      int w, h;
      json_t *d = sim_received_describe (file->field, file->filename, file->content_type,
                                         file->data->data, file->data->len, &w, &h);
      g_autofree char *dims = g_strdup_printf ("%dx%d", w, h);

      json_object_del (fields, file->field);
      if (ok && !json_is_string (json_object_get (d, "type")))
        {
          *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error",
                                         file->field, "invalid_image_format",
                                         "Invalid file format. Supported formats are: "
                                         "'image/jpeg', 'image/png', and 'image/webp'.");
          ok = FALSE;
        }
      else if (ok && w > 0 && !g_str_equal (dims, size))
        {
          *ret = sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error",
                                         file->field, "invalid_value",
                                         "Inpaint image must match the requested width and "
                                         "height");
          ok = FALSE;
        }
      json_array_append_new (files, d);
    }
  sim_received_add (req->url, fields, g_steal_pointer (&files));
  return ok;
}

/* Records the job, runs the create faults, answers the new job. */
static enum MHD_Result
create_and_answer (struct sim_request *req, struct sim_job_spec *spec)
{
  g_autoptr (SimJobView) view = NULL;
  struct sim_fault_hit hit;
  const char *word;

  if (sim.reject_marker && *sim.reject_marker && strstr (spec->prompt, sim.reject_marker))
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "prompt",
                                   "moderation_blocked",
                                   "Your request was blocked by our moderation system.");
  spec->hostile
      = sim_faults_take (SIM_FAULT_HOSTILE_ID, req->call, &hit) ? hit.hostile : SIM_HOSTILE_NONE;
  view = sim_jobs_create (spec);
  if (!sim_create_faults (req))
    return MHD_NO;
  word = take_state_word (req, &hit);
  return sim_reply_object (req, sim_openai_video_json (view, word), -1);
}

/* A Seedance model through the gateway: {model, prompt, seconds|duration,
 * image|images, metadata: {content, ratio, resolution, ...}}. */
static enum MHD_Result
gateway_seedance_create (struct sim_request *req, json_t *params)
{
  struct sim_job_spec spec = { .api = SIM_API_OPENAI };
  g_autofree char *seconds = NULL;
  const char *bad = NULL;

  if (!sim_gateway_seedance_spec (params, &spec, &bad))
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", bad,
                                   "invalid_value", "Invalid '%s'.", bad);
  sim_received_add (req->url, json_deep_copy (params), NULL);
  seconds = g_strdup_printf ("%" G_GINT64_FORMAT, spec.duration);
  spec.seconds = seconds;
  return create_and_answer (req, &spec);
}

enum MHD_Result
sim_openai_create (struct sim_request *req)
{
  static const char *const known[]
      = { "prompt", "model", "seconds", "size", "input_reference", NULL };
  struct sim_job_spec spec = { .api = SIM_API_OPENAI };
  g_autoptr (json_t) params = NULL;
  enum MHD_Result ret = MHD_NO;

  params = request_params (req, &ret);
  if (!params)
    return ret;
  if (sim.newapi && sim_gateway_is_seedance (string_or (params, "model", NULL)))
    return gateway_seedance_create (req, params);
  if (!check_params (req, params, known, &ret))
    return ret;
  if (!check_reference (req, params, &ret))
    return ret;
  spec.prompt = json_string_value (json_object_get (params, "prompt"));
  spec.model = string_or (params, "model", "sora-2");
  spec.seconds = string_or (params, "seconds", "4");
  spec.size = string_or (params, "size", "720x1280");
  return create_and_answer (req, &spec);
}

/* The parameters of a remix or extension, checked and recorded; NULL after
 * answering 400. */
static json_t *
source_params (struct sim_request *req, const char *const *known, enum MHD_Result *ret)
{
  json_t *params = request_params (req, ret);

  if (!params)
    return NULL;
  if (!check_params (req, params, known, ret))
    {
      json_decref (params);
      return NULL;
    }
  sim_received_add (req->url, json_deep_copy (params), NULL);
  return params;
}

static enum MHD_Result
not_ready (struct sim_request *req, const char *id, const char *done)
{
  return sim_reply_openai_error (
      req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL, "video_not_ready",
      "Video '%s' is not completed; only completed videos can be %s.", id, done);
}

enum MHD_Result
sim_openai_remix (struct sim_request *req)
{
  static const char *const known[] = { "prompt", NULL };
  struct sim_job_spec spec = { .api = SIM_API_OPENAI };
  g_autoptr (SimJobView) source = NULL;
  g_autoptr (json_t) params = NULL;
  enum MHD_Result ret = MHD_NO;

  source = sim_jobs_get (SIM_API_OPENAI, req->id);
  if (!source)
    return not_found (req);
  params = source_params (req, known, &ret);
  if (!params)
    return ret;
  if (source->state != SIM_STATE_COMPLETED)
    return not_ready (req, req->id, "remixed");
  spec.prompt = json_string_value (json_object_get (params, "prompt"));
  spec.model = source->model;
  spec.seconds = source->seconds;
  spec.size = source->size;
  spec.remixed_from = source->id;
  return create_and_answer (req, &spec);
}

/* POST /videos/extensions, multipart {prompt, seconds, video[id]}: a new
 * video continuing a completed one, `seconds` more. */
enum MHD_Result
sim_openai_extend (struct sim_request *req)
{
  static const char *const known[] = { "prompt", "model", "seconds", "video[id]", NULL };
  struct sim_job_spec spec = { .api = SIM_API_OPENAI };
  g_autoptr (SimJobView) source = NULL;
  g_autoptr (json_t) params = NULL;
  struct sim_fault_hit hit;
  enum MHD_Result ret = MHD_NO;
  g_autofree char *total = NULL;
  const char *id;

  if (sim_faults_take (SIM_FAULT_NO_EXTENSIONS, req->call, &hit))
    return sim_reply_not_found (req);
  params = source_params (req, known, &ret);
  if (!params)
    return ret;
  id = json_string_value (json_object_get (params, "video[id]"));
  if (!id)
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "video",
                                   "missing_required_parameter",
                                   "Missing required parameter: 'video'.");
  source = sim_jobs_get (SIM_API_OPENAI, id);
  if (!source)
    return sim_reply_openai_error (req, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL,
                                   "video_not_found", "Video with id '%s' not found.", id);
  if (source->state != SIM_STATE_COMPLETED)
    return not_ready (req, id, "extended");
  spec.prompt = json_string_value (json_object_get (params, "prompt"));
  spec.model = source->model;
  total = g_strdup_printf ("%" G_GINT64_FORMAT,
                           g_ascii_strtoll (source->seconds, NULL, 10)
                               + g_ascii_strtoll (string_or (params, "seconds", "4"), NULL, 10));
  spec.seconds = total;
  spec.size = source->size;
  return create_and_answer (req, &spec);
}

enum MHD_Result
sim_openai_retrieve (struct sim_request *req)
{
  g_autoptr (SimJobView) view
      = sim.newapi ? sim_gateway_view (req->id) : sim_jobs_get (SIM_API_OPENAI, req->id);
  struct sim_fault_hit hit;
  const char *word;
  gint64 hint = -1;

  if (!view)
    return not_found (req);
  word = take_state_word (req, &hit);
  if (view->next_change_ms >= 0 && !sim.newapi
      && !sim_faults_take (SIM_FAULT_REFUSE_POLL_HINT, req->call, &hit))
    hint = CLAMP (view->next_change_ms, 100, 1000);
  return sim_reply_object (req, sim_openai_video_json (view, word), hint);
}

enum MHD_Result
sim_openai_list (struct sim_request *req)
{
  const char *after = sim_request_arg (req, "after");
  const char *limit_arg = sim_request_arg (req, "limit");
  const char *order = sim_request_arg (req, "order");
  g_autoptr (GPtrArray) views = NULL;
  struct sim_fault_hit hit;
  const char *word;
  guint64 limit = 20;
  gboolean found = FALSE;
  json_t *data, *page;
  guint n;

  if (sim.newapi && req->route->api != SIM_ROUTE_CONTROL)
    return sim_reply_not_found (req);
  if (limit_arg && !g_ascii_string_to_unsigned (limit_arg, 10, 1, 100, &limit, NULL))
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "limit",
                                   "invalid_value",
                                   "Invalid 'limit': expected an integer from 1 to 100, but got "
                                   "'%s'.",
                                   limit_arg);
  if (order && !g_str_equal (order, "asc") && !g_str_equal (order, "desc"))
    return sim_reply_openai_error (
        req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "order", "invalid_value",
        "Invalid value: '%s'. Supported values are: 'asc' and 'desc'.", order);
  if (after && !*after)
    after = NULL;
  views = sim_jobs_list (SIM_API_OPENAI, order && g_str_equal (order, "asc"), after, &found);
  if (!found)
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "after",
                                   "invalid_value", "Invalid 'after': no video with id '%s'.",
                                   after);

  word = take_state_word (req, &hit);
  n = MIN (views->len, (guint)limit);
  data = json_array ();
  for (guint i = 0; i < n; i++)
    json_array_append_new (data, sim_openai_video_json (g_ptr_array_index (views, i), word));
  page = json_object ();
  json_object_set_new (page, "object", json_string ("list"));
  json_object_set_new (page, "data", data);
  if (n)
    {
      const struct sim_job_view *first = g_ptr_array_index (views, 0);
      const struct sim_job_view *last = g_ptr_array_index (views, n - 1);
      json_object_set_new (page, "first_id", json_stringn (first->id, first->id_len));
      json_object_set_new (page, "last_id", json_stringn (last->id, last->id_len));
    }
  else
    {
      json_object_set_new (page, "first_id", json_null ());
      json_object_set_new (page, "last_id", json_null ());
    }
  json_object_set_new (page, "has_more", json_boolean (views->len > n));
  return sim_reply_object (req, page, -1);
}

enum MHD_Result
sim_openai_delete (struct sim_request *req)
{
  g_autoptr (SimJobView) view = sim_jobs_get (SIM_API_OPENAI, req->id);

  if (sim.newapi)
    return sim_reply_not_found (req);
  if (!view || sim_jobs_delete (SIM_API_OPENAI, req->id) != SIM_DELETE_DELETED)
    return not_found (req);
  return sim_reply_json (req, MHD_HTTP_OK,
                         json_pack ("{s:o, s:s, s:b}", "id", json_stringn (view->id, view->id_len),
                                    "object", "video.deleted", "deleted", 1));
}

/* The bytes of a completed job, unless they expired. */
static enum MHD_Result
completed_content (struct sim_request *req, const struct sim_job_view *view,
                   enum sim_variant variant)
{
  struct sim_content_faults faults;

  if (view->expired)
    return sim_reply_openai_error (req, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL,
                                   "video_expired", "The content of video '%s' has expired.",
                                   req->id);
  sim_content_take_faults (req->call, &faults);
  return sim_content_reply (req, req->id, variant, &faults, view->completed_ms);
}

/* The gateway's proxy: any variant is the video, and only once its copy
 * saw the job finish. */
static enum MHD_Result
gateway_content (struct sim_request *req)
{
  g_autoptr (SimJobView) view = sim_gateway_content_view (req->id);
  gboolean ready = view && view->state == SIM_STATE_COMPLETED;

  if (view)
    sim_gateway_count_content (sim_request_arg (req, "variant"), ready);
  if (!view)
    return not_found (req);
  if (!ready)
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL,
                                   "task_not_completed", "task is not completed yet");
  return completed_content (req, view, SIM_VARIANT_VIDEO);
}

enum MHD_Result
sim_openai_content (struct sim_request *req)
{
  g_autoptr (SimJobView) view = sim_jobs_get (SIM_API_OPENAI, req->id);
  const char *name = sim_request_arg (req, "variant");
  enum sim_variant variant = SIM_VARIANT_VIDEO;

  if (sim.newapi)
    return gateway_content (req);
  if (name && (!sim_variant_from_name (name, &variant) || variant == SIM_VARIANT_LAST_FRAME))
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "variant",
                                   "invalid_value",
                                   "Invalid value: '%s'. Supported values are: 'video', "
                                   "'thumbnail', and 'spritesheet'.",
                                   name);
  if (!view)
    return not_found (req);
  if (view->state == SIM_STATE_FAILED)
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL,
                                   "video_failed", "Video '%s' failed; it has no content.",
                                   req->id);
  if (view->state != SIM_STATE_COMPLETED)
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL,
                                   "video_not_ready",
                                   "Video is not ready yet, use GET /v1/videos/%s to check "
                                   "status.",
                                   req->id);
  return completed_content (req, view, variant);
}
