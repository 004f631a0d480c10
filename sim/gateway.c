/* gateway.c: --style newapi, a reseller gateway of the new-api (one-api)
 * family in front of the Videos API, bending it as such gateways do.
 *
 * The gateway keeps its own copy of each job and refreshes it every
 * --gateway-refresh seconds, on one clock for all jobs: a retrieve answers
 * the job as it stood at the last refresh, so its status lags the truth.
 * The content call is a proxy that answers 400 until the gateway has seen
 * the job finish at a refresh before the current one (so a retrieve may
 * already say `completed` while the content still answers 400), ignores
 * `variant` (every answer is the MP4) and forwards Range.  Seedance models
 * go through POST /videos with a `metadata` object, and their result URL
 * comes back in `metadata.url`.  Its own counters (GET /_sim/gateway) say
 * which variants the content proxy was asked for and how many of those
 * answers were 400.
 */
#include "sim.h"

static GMutex gateway_lock;
static guint64 asked[4]; /* video, thumbnail, spritesheet, anything else */
static guint64 not_ready;

static gint64
last_refresh (void)
{
  gint64 now = g_get_monotonic_time ();

  return now - now % MAX (sim.gateway_refresh_us, 1);
}

struct sim_job_view *
sim_gateway_view (const char *id)
{
  return sim_jobs_get_at (SIM_API_OPENAI, id, last_refresh ());
}

struct sim_job_view *
sim_gateway_content_view (const char *id)
{
  return sim_jobs_get_at (SIM_API_OPENAI, id, last_refresh () - sim.gateway_refresh_us);
}

void
sim_gateway_count_content (const char *variant, gboolean ready)
{
  static const char *const names[] = { "video", "thumbnail", "spritesheet" };
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&gateway_lock);
  guint i = 0;

  while (i < G_N_ELEMENTS (names) && g_strcmp0 (variant ? variant : "video", names[i]) != 0)
    i++;
  asked[i]++;
  if (!ready)
    not_ready++;
}

enum MHD_Result
sim_control_gateway (struct sim_request *req)
{
  json_t *body;

  g_mutex_lock (&gateway_lock);
  body = json_pack ("{s:{s:I, s:I, s:I, s:I}, s:I}", "content", "video", (json_int_t)asked[0],
                    "thumbnail", (json_int_t)asked[1], "spritesheet", (json_int_t)asked[2], "other",
                    (json_int_t)asked[3], "not_ready", (json_int_t)not_ready);
  g_mutex_unlock (&gateway_lock);
  return sim_reply_json (req, MHD_HTTP_OK, body);
}

gboolean
sim_gateway_is_seedance (const char *model)
{
  return model && g_str_has_prefix (model, "doubao-seedance");
}

/* The text of the first text item of a content list, or NULL. */
static const char *
content_text (json_t *content)
{
  json_t *item;
  size_t i;

  json_array_foreach (content, i, item)
  {
    if (g_strcmp0 (json_string_value (json_object_get (item, "type")), "text") == 0)
      return json_string_value (json_object_get (item, "text"));
  }
  return NULL;
}

/* A duration given as a number or a numeric string, or -1. */
static gint64
duration_of (json_t *value)
{
  gint64 n;

  if (json_is_integer (value))
    return json_integer_value (value);
  if (json_is_string (value)
      && g_ascii_string_to_signed (json_string_value (value), 10, 1, 60, &n, NULL))
    return n;
  return -1;
}

gboolean
sim_gateway_seedance_spec (json_t *params, struct sim_job_spec *spec, const char **bad)
{
  static const char *const known[]
      = { "model", "prompt", "seconds", "duration", "image", "images", "metadata", NULL };
  json_t *metadata = json_object_get (params, "metadata");
  json_t *content = json_object_get (metadata, "content");
  json_t *value;
  const char *key;
  gint64 duration = -1;

  json_object_foreach (params, key, value)
  {
    if (!g_strv_contains (known, key))
      {
        *bad = key;
        return FALSE;
      }
  }
  if (metadata && !json_is_object (metadata))
    {
      *bad = "metadata";
      return FALSE;
    }
  if (content && (!json_is_array (content) || json_array_size (content) == 0))
    {
      *bad = "metadata.content";
      return FALSE;
    }
  spec->prompt = json_string_value (json_object_get (params, "prompt"));
  if (!spec->prompt)
    spec->prompt = content_text (content);
  if (!spec->prompt || !*spec->prompt)
    {
      *bad = "prompt";
      return FALSE;
    }
  duration = duration_of (json_object_get (params, "duration"));
  if (duration < 0)
    duration = duration_of (json_object_get (params, "seconds"));
  if (duration < 0)
    duration = duration_of (json_object_get (metadata, "duration"));
  spec->model = json_string_value (json_object_get (params, "model"));
  spec->duration = duration > 0 ? duration : 5;
  spec->ratio = json_string_value (json_object_get (metadata, "ratio"));
  spec->resolution = json_string_value (json_object_get (metadata, "resolution"));
  spec->ratio = spec->ratio ? spec->ratio : "16:9";
  spec->resolution = spec->resolution ? spec->resolution : "720p";
  return TRUE;
}

void
sim_gateway_video_fields (const struct sim_job_view *view, json_t *video)
{
  /* The gateway fills in the time a job is expected to end as soon as it
   * runs. */
  if (view->state == SIM_STATE_IN_PROGRESS)
    json_object_set_new (video, "completed_at",
                         json_integer ((view->updated_ms + sim.duration_us / 1000) / 1000));
  if (sim_gateway_is_seedance (view->model))
    {
      json_t *metadata = json_pack ("{s:s?, s:s?, s:I}", "ratio", view->ratio, "resolution",
                                    view->resolution, "duration", (json_int_t)view->duration);

      if (view->state == SIM_STATE_COMPLETED && !view->expired)
        {
          g_autofree char *url = sim_presigned_url (view->id, view->id_len, "mp4");

          json_object_set_new (metadata, "url", json_string (url));
        }
      json_object_set_new (video, "metadata", metadata);
    }
}
