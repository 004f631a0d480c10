/* routes.c: every path videofs-sim answers, as one table, and the steps a
 * request takes before its route's handler.
 *
 * The first row whose method and path match is the request's route: it
 * names the handler, the API (whose bearer is checked and whose error
 * shapes are used) and the call the request is counted as in the stats.
 * Each path ends with a row for any other method (405) and each API's
 * prefix with one for any other path (404), so every request has a route
 * and is counted once, as it arrives.
 */
#include "sim.h"

#define VIDEOS "/v1/videos"
#define TASKS "/api/v3/contents/generations/tasks"

#define OPENAI SIM_ROUTE_OPENAI
#define ARK SIM_ROUTE_ARK
#define GEMINI SIM_ROUTE_GEMINI
#define PLAIN SIM_ROUTE_PLAIN
#define CONTROL SIM_ROUTE_CONTROL

static const struct sim_route routes[] = {
  /* method, path, handler, api, call */
  { "GET", "/_sim/stats", sim_control_stats, CONTROL, SIM_CALL_CONTROL },
  { NULL, "/_sim/stats", sim_reply_bad_method, CONTROL, SIM_CALL_CONTROL },
  { "POST", "/_sim/stats/reset", sim_control_stats_reset, CONTROL, SIM_CALL_CONTROL },
  { NULL, "/_sim/stats/reset", sim_reply_bad_method, CONTROL, SIM_CALL_CONTROL },
  { "GET", "/_sim/received", sim_control_received, CONTROL, SIM_CALL_CONTROL },
  { NULL, "/_sim/received", sim_reply_bad_method, CONTROL, SIM_CALL_CONTROL },
  { "GET", "/_sim/faults", sim_control_faults_list, CONTROL, SIM_CALL_CONTROL },
  { "POST", "/_sim/faults", sim_control_faults_add, CONTROL, SIM_CALL_CONTROL },
  { "DELETE", "/_sim/faults", sim_control_faults_clear, CONTROL, SIM_CALL_CONTROL },
  { NULL, "/_sim/faults", sim_reply_bad_method, CONTROL, SIM_CALL_CONTROL },
  { "POST", "/_sim/ratelimit", sim_control_ratelimit, CONTROL, SIM_CALL_CONTROL },
  { NULL, "/_sim/ratelimit", sim_reply_bad_method, CONTROL, SIM_CALL_CONTROL },
  /* truth is never counted: tests read it between counts */
  { "GET", "/_sim/truth/{id}", sim_control_truth, CONTROL, SIM_CALL_NONE },
  { NULL, "/_sim/truth/{id}", sim_reply_bad_method, CONTROL, SIM_CALL_NONE },
  { NULL, "/_sim/truth/*", sim_reply_not_found, CONTROL, SIM_CALL_NONE },
  { "POST", "/_sim/jobs", sim_control_seed, CONTROL, SIM_CALL_CONTROL },
  { NULL, "/_sim/jobs", sim_reply_bad_method, CONTROL, SIM_CALL_CONTROL },
  { "POST", "/_sim/jobs/{id}/complete", sim_control_complete, CONTROL, SIM_CALL_CONTROL },
  { NULL, "/_sim/jobs/{id}/complete", sim_reply_bad_method, CONTROL, SIM_CALL_CONTROL },
  { "POST", "/_sim/jobs/{id}/expire", sim_control_expire, CONTROL, SIM_CALL_CONTROL },
  { NULL, "/_sim/jobs/{id}/expire", sim_reply_bad_method, CONTROL, SIM_CALL_CONTROL },
  { "GET", "/_sim/gateway", sim_control_gateway, CONTROL, SIM_CALL_CONTROL },
  /* the list behind any gateway, for tests */
  { "GET", "/_sim/videos", sim_openai_list, CONTROL, SIM_CALL_CONTROL },
  { NULL, "/_sim/videos", sim_reply_bad_method, CONTROL, SIM_CALL_CONTROL },
  { NULL, "/_sim/gateway", sim_reply_bad_method, CONTROL, SIM_CALL_CONTROL },
  { "GET", "/_sim/images/{id}", sim_control_images, CONTROL, SIM_CALL_NONE },
  { NULL, "/_sim/images/{id}", sim_reply_bad_method, CONTROL, SIM_CALL_NONE },
  { NULL, "/_sim/*", sim_reply_not_found, CONTROL, SIM_CALL_CONTROL },

  { "GET", "/files/?", sim_files_index, PLAIN, SIM_CALL_OTHER },
  { NULL, "/files/?", sim_reply_bad_method, PLAIN, SIM_CALL_OTHER },
  { "GET", "/files/{id}", sim_files_get, PLAIN, SIM_CALL_FILE },
  { NULL, "/files/{id}", sim_reply_bad_method, PLAIN, SIM_CALL_OTHER },

  { "GET", "/images/{id}", sim_pictures_file, PLAIN, SIM_CALL_IMAGE_FILE },
  { NULL, "/images/{id}", sim_reply_bad_method, PLAIN, SIM_CALL_OTHER },

  { "POST", "/v1/images/generations", sim_images_generate, OPENAI, SIM_CALL_IMAGE_GENERATE },
  { NULL, "/v1/images/generations", sim_reply_bad_method, OPENAI, SIM_CALL_OTHER },
  { "POST", "/v1/images/edits", sim_images_edit, OPENAI, SIM_CALL_IMAGE_EDIT },
  { NULL, "/v1/images/edits", sim_reply_bad_method, OPENAI, SIM_CALL_OTHER },
  { "POST", VIDEOS "/?", sim_openai_create, OPENAI, SIM_CALL_CREATE },
  { "POST", VIDEOS "/extensions", sim_openai_extend, OPENAI, SIM_CALL_EXTEND },
  { NULL, VIDEOS "/extensions", sim_reply_bad_method, OPENAI, SIM_CALL_OTHER },
  { "GET", VIDEOS "/?", sim_openai_list, OPENAI, SIM_CALL_LIST },
  { NULL, VIDEOS "/?", sim_reply_bad_method, OPENAI, SIM_CALL_OTHER },
  { "GET", VIDEOS "/{id}/content", sim_openai_content, OPENAI, SIM_CALL_CONTENT },
  { NULL, VIDEOS "/{id}/content", sim_reply_bad_method, OPENAI, SIM_CALL_OTHER },
  { "POST", VIDEOS "/{id}/remix", sim_openai_remix, OPENAI, SIM_CALL_REMIX },
  { NULL, VIDEOS "/{id}/remix", sim_reply_bad_method, OPENAI, SIM_CALL_OTHER },
  { "GET", VIDEOS "/{id}", sim_openai_retrieve, OPENAI, SIM_CALL_RETRIEVE },
  { "DELETE", VIDEOS "/{id}", sim_openai_delete, OPENAI, SIM_CALL_DELETE },
  { NULL, VIDEOS "/{id}", sim_reply_bad_method, OPENAI, SIM_CALL_OTHER },
  { NULL, "/v1/*", sim_reply_not_found, OPENAI, SIM_CALL_OTHER },

  { "POST", TASKS "/?", sim_ark_create, ARK, SIM_CALL_ARK_CREATE },
  { "GET", TASKS "/?", sim_ark_list, ARK, SIM_CALL_ARK_LIST },
  { NULL, TASKS "/?", sim_reply_bad_method, ARK, SIM_CALL_OTHER },
  { "GET", TASKS "/{id}", sim_ark_retrieve, ARK, SIM_CALL_ARK_RETRIEVE },
  { "DELETE", TASKS "/{id}", sim_ark_delete, ARK, SIM_CALL_ARK_DELETE },
  { NULL, TASKS "/{id}", sim_reply_bad_method, ARK, SIM_CALL_OTHER },
  { "POST", "/api/v3/images/generations", sim_ark_images, ARK, SIM_CALL_ARK_IMAGE },
  { NULL, "/api/v3/images/generations", sim_reply_bad_method, ARK, SIM_CALL_OTHER },
  { NULL, "/api/v3/*", sim_reply_not_found, ARK, SIM_CALL_OTHER },

  { "POST", "/v1beta/models/{id}:generateContent", sim_gemini_generate, GEMINI,
    SIM_CALL_GEMINI_IMAGE },
  { NULL, "/v1beta/models/{id}:generateContent", sim_reply_bad_method, GEMINI, SIM_CALL_OTHER },
  { NULL, "/v1beta/*", sim_reply_not_found, GEMINI, SIM_CALL_OTHER },

  { NULL, "*", sim_reply_not_found, PLAIN, SIM_CALL_OTHER },
};

static gboolean
method_matches (const char *want, const char *method)
{
  if (!want || g_str_equal (want, method))
    return TRUE;
  return g_str_equal (want, "GET") && g_str_equal (method, "HEAD");
}

static gboolean
path_matches (const char *pattern, const char *url, char **id)
{
  const char *hole = strstr (pattern, "{id}");
  gsize n = strlen (pattern), u = strlen (url);

  if (hole)
    {
      const char *suffix = hole + strlen ("{id}");
      gsize p = (gsize)(hole - pattern), s = strlen (suffix);

      if (u <= p + s || strncmp (url, pattern, p) != 0 || !g_str_equal (url + u - s, suffix))
        return FALSE;
      *id = g_strndup (url + p, u - p - s);
      return TRUE;
    }
  if (g_str_has_suffix (pattern, "/?"))
    return strncmp (url, pattern, n - 2) == 0 && (u == n - 2 || (u == n - 1 && url[n - 2] == '/'));
  if (g_str_has_suffix (pattern, "*"))
    return strncmp (url, pattern, n - 1) == 0;
  return g_str_equal (url, pattern);
}

const struct sim_route *
sim_route_find (const char *method, const char *url, char **id)
{
  *id = NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (routes); i++)
    if (method_matches (routes[i].method, method) && path_matches (routes[i].path, url, id))
      return &routes[i];
  g_assert_not_reached ();
  return NULL;
}

static gboolean
bearer_ok (struct sim_request *req)
{
  const char *auth;

  if (!sim.token)
    return TRUE;
  auth = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (req->route->api == SIM_ROUTE_GEMINI && !auth)
    return g_strcmp0 (MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "x-goog-api-key"),
                      sim.token)
           == 0;
  return auth && g_ascii_strncasecmp (auth, "Bearer ", 7) == 0 && g_str_equal (auth + 7, sim.token);
}

/* The 429 and 5xx faults; TRUE when one fired and was answered.  They
 * never fire on `other`, so the 404 and 405 rows are never faulted. */
static gboolean
error_fault (struct sim_request *req, enum MHD_Result *ret)
{
  struct sim_fault_hit hit, retry;
  gboolean rate_limit, have_retry;

  if (sim_faults_take (SIM_FAULT_429, req->call, &hit))
    rate_limit = TRUE;
  else if (sim_faults_take (SIM_FAULT_5XX, req->call, &hit))
    rate_limit = FALSE;
  else
    return FALSE;
  have_retry = sim_faults_take (SIM_FAULT_SHOULD_RETRY, req->call, &retry);
  *ret = sim_reply_fault (req, rate_limit, &hit, have_retry ? &retry : NULL);
  return TRUE;
}

enum MHD_Result
sim_route_answer (struct sim_request *req)
{
  const struct sim_route *route = req->route;
  enum MHD_Result ret;

  if (route->api == SIM_ROUTE_CONTROL)
    return route->handler (req);
  if (route->api != SIM_ROUTE_PLAIN && !bearer_ok (req))
    {
      sim_stats_unauthorized ();
      return sim_reply_unauthorized (req);
    }
  if (req->body_too_large)
    return sim_reply_too_large (req);
  if ((route->call == SIM_CALL_FILE || route->call == SIM_CALL_IMAGE_FILE)
      && MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION))
    sim_stats_bearer_on_presigned ();
  if (error_fault (req, &ret))
    return ret;
  if (route->api != SIM_ROUTE_PLAIN)
    {
      gint64 retry_ms;

      if (!sim_ratelimit_take (&retry_ms))
        {
          struct sim_fault_hit hit = { .retry_after = -1, .retry_after_ms = retry_ms };

          sim_stats_limited (req->call);
          return sim_reply_fault (req, TRUE, &hit, NULL);
        }
    }
  return route->handler (req);
}
