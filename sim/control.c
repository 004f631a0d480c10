/* control.c: the /_sim/ endpoints tests use to read and reset counters,
 * switch faults, fetch the exact bytes a video should have and move a
 * job's clock.  routes.c decides which one a request is for; none of them
 * needs a bearer or is ever faulted. */
#include "sim.h"

enum MHD_Result
sim_control_stats (struct sim_request *req)
{
  return sim_reply_json (req, MHD_HTTP_OK, sim_stats_to_json ());
}

enum MHD_Result
sim_control_stats_reset (struct sim_request *req)
{
  sim_stats_reset ();
  sim_received_reset ();
  return sim_reply_json (req, MHD_HTTP_OK, sim_stats_to_json ());
}

enum MHD_Result
sim_control_faults_list (struct sim_request *req)
{
  return sim_reply_json (req, MHD_HTTP_OK, sim_faults_to_json ());
}

enum MHD_Result
sim_control_faults_clear (struct sim_request *req)
{
  return sim_reply_json (req, MHD_HTTP_OK, json_pack ("{s:i}", "cleared", sim_faults_clear ()));
}

enum MHD_Result
sim_control_faults_add (struct sim_request *req)
{
  g_autofree char *spec = NULL;
  g_autoptr (GError) error = NULL;
  guint id = 0;

  if (req->body)
    spec = g_strndup ((const char *)req->body->data, req->body->len);
  if (!spec || !g_utf8_validate (spec, -1, NULL) || !*g_strstrip (spec))
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL,
                                   "invalid_fault", "The body must be one fault SPEC.");
  if (!sim_faults_add (spec, &id, &error))
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL,
                                   "invalid_fault", "%s", error->message);
  return sim_reply_json (req, MHD_HTTP_OK, json_pack ("{s:i}", "id", id));
}

enum MHD_Result
sim_control_ratelimit (struct sim_request *req)
{
  g_autofree char *text = NULL;
  guint64 n;

  if (req->body)
    text = g_strndup ((const char *)req->body->data, req->body->len);
  if (!text || !g_ascii_string_to_unsigned (g_strstrip (text), 10, 0, 1000000, &n, NULL))
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL,
                                   "invalid_value",
                                   "The body must be the requests per minute (0: no limit).");
  sim_ratelimit_set (n);
  return sim_reply_json (req, MHD_HTTP_OK, json_pack ("{s:I}", "per_minute", (json_int_t)n));
}

enum MHD_Result
sim_control_truth (struct sim_request *req)
{
  const char *name = sim_request_arg (req, "variant");
  enum sim_variant variant = SIM_VARIANT_VIDEO;

  if (name && !sim_variant_from_name (name, &variant))
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "variant",
                                   "invalid_value", "Unknown variant '%s'.", name);
  return sim_content_reply (req, req->id, variant, NULL, 0);
}

static enum MHD_Result
job_action_reply (struct sim_request *req, gboolean ok)
{
  if (!ok)
    return sim_reply_openai_error (req, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL,
                                   "job_not_found", "No job with id '%s'.", req->id);
  return sim_reply_json (req, MHD_HTTP_OK, json_pack ("{s:b}", "ok", 1));
}

enum MHD_Result
sim_control_complete (struct sim_request *req)
{
  return job_action_reply (req, sim_jobs_complete_now (req->id));
}

enum MHD_Result
sim_control_expire (struct sim_request *req)
{
  return job_action_reply (req, sim_jobs_expire_now (req->id));
}

/* POST /_sim/jobs {"count": N, "prompt": P, "state": "queued"|"completed"}:
 * N Sora jobs made as creates would make them, without counting as
 * creates, so a test can put thousands of jobs in a journal with ids the
 * simulator knows.  Answers {"data": [video, ...]}, oldest first. */
enum MHD_Result
sim_control_seed (struct sim_request *req)
{
  json_error_t jerr;
  g_autoptr (json_t) params = sim_request_json (req, &jerr);
  json_int_t count = json_integer_value (json_object_get (params, "count"));
  const char *prompt = json_string_value (json_object_get (params, "prompt"));
  const char *state = json_string_value (json_object_get (params, "state"));
  gboolean completed = g_strcmp0 (state, "completed") == 0;
  json_t *data;

  if (!params || count < 1 || count > 100000
      || (state && !completed && g_strcmp0 (state, "queued") != 0))
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL,
                                   "invalid_value",
                                   "The body must be {\"count\": 1..100000, \"prompt\": TEXT, "
                                   "\"state\": \"queued\" or \"completed\"}.");
  data = json_array ();
  for (json_int_t i = 0; i < count; i++)
    {
      struct sim_job_spec spec = {
        .api = SIM_API_OPENAI,
        .prompt = prompt ? prompt : "a seeded job",
        .model = "sora-2",
        .seconds = "4",
        .size = "720x1280",
      };
      g_autoptr (SimJobView) view = sim_jobs_create (&spec);
      g_autoptr (SimJobView) now = NULL;

      if (completed)
        {
          g_autofree char *id = g_strndup (view->id, view->id_len);

          sim_jobs_complete_now (id);
          now = sim_jobs_get (SIM_API_OPENAI, id);
        }
      json_array_append_new (data, sim_openai_video_json (now ? now : view, NULL));
    }
  return sim_reply_json (req, MHD_HTTP_OK, json_pack ("{s:o}", "data", data));
}
