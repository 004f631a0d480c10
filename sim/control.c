/* control.c: /_sim/, the endpoints tests use to read counters, switch
 * faults and fetch the exact bytes a video should have. */
#include "sim.h"

static gboolean
is (struct sim_request *req, const char *method)
{
  return g_str_equal (req->method, method);
}

static enum MHD_Result
bad_method (struct sim_request *req)
{
  return sim_reply_openai_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", NULL,
                                 "method_not_allowed", "Method not allowed (%s %s)", req->method,
                                 req->url);
}

static enum MHD_Result
faults (struct sim_request *req)
{
  if (is (req, "GET") || is (req, "HEAD"))
    return sim_reply_json (req, MHD_HTTP_OK, sim_faults_to_json ());
  if (is (req, "DELETE"))
    return sim_reply_json (req, MHD_HTTP_OK, json_pack ("{s:i}", "cleared", sim_faults_clear ()));
  if (is (req, "POST"))
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
  return bad_method (req);
}

static enum MHD_Result
truth (struct sim_request *req, const char *id)
{
  const char *name = sim_request_arg (req, "variant");
  enum sim_variant variant = SIM_VARIANT_VIDEO;

  if (!is (req, "GET") && !is (req, "HEAD"))
    return bad_method (req);
  if (name && !sim_variant_from_name (name, &variant))
    return sim_reply_openai_error (req, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "variant",
                                   "invalid_value", "Unknown variant '%s'.", name);
  return sim_content_reply (req, id, variant, NULL, 0);
}

static enum MHD_Result
job_action (struct sim_request *req, const char *rest)
{
  g_autofree char *id = NULL;
  gboolean ok;

  if (g_str_has_suffix (rest, "/complete") && strlen (rest) > strlen ("/complete"))
    {
      id = g_strndup (rest, strlen (rest) - strlen ("/complete"));
      if (!is (req, "POST"))
        return bad_method (req);
      ok = sim_jobs_complete_now (id);
    }
  else if (g_str_has_suffix (rest, "/expire") && strlen (rest) > strlen ("/expire"))
    {
      id = g_strndup (rest, strlen (rest) - strlen ("/expire"));
      if (!is (req, "POST"))
        return bad_method (req);
      ok = sim_jobs_expire_now (id);
    }
  else
    return sim_reply_openai_error (req, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL, NULL,
                                   "Invalid URL (%s %s)", req->method, req->url);
  if (!ok)
    return sim_reply_openai_error (req, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL,
                                   "job_not_found", "No job with id '%s'.", id);
  return sim_reply_json (req, MHD_HTTP_OK, json_pack ("{s:b}", "ok", 1));
}

enum MHD_Result
sim_control (struct sim_request *req)
{
  const char *path = req->url + strlen ("/_sim/");

  if (g_str_equal (path, "stats"))
    {
      if (!is (req, "GET") && !is (req, "HEAD"))
        return bad_method (req);
      return sim_reply_json (req, MHD_HTTP_OK, sim_stats_to_json ());
    }
  if (g_str_equal (path, "stats/reset"))
    {
      if (!is (req, "POST"))
        return bad_method (req);
      sim_stats_reset ();
      return sim_reply_json (req, MHD_HTTP_OK, sim_stats_to_json ());
    }
  if (g_str_equal (path, "faults"))
    return faults (req);
  if (g_str_has_prefix (path, "truth/") && path[6])
    return truth (req, path + 6);
  if (g_str_has_prefix (path, "jobs/"))
    return job_action (req, path + 5);
  return sim_reply_openai_error (req, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL, NULL,
                                 "Invalid URL (%s %s)", req->method, req->url);
}
