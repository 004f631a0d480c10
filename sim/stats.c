/* stats.c: request counters of videofs-sim, read by tests through
 * GET /_sim/stats. */
#include "sim.h"

static const char *const call_names[SIM_CALL_COUNT] = {
  [SIM_CALL_CREATE] = "create",
  [SIM_CALL_RETRIEVE] = "retrieve",
  [SIM_CALL_LIST] = "list",
  [SIM_CALL_DELETE] = "delete",
  [SIM_CALL_CONTENT] = "content",
  [SIM_CALL_REMIX] = "remix",
  [SIM_CALL_EXTEND] = "extend",
  [SIM_CALL_ARK_CREATE] = "ark_create",
  [SIM_CALL_ARK_RETRIEVE] = "ark_retrieve",
  [SIM_CALL_ARK_LIST] = "ark_list",
  [SIM_CALL_ARK_DELETE] = "ark_delete",
  [SIM_CALL_IMAGE_GENERATE] = "image_generate",
  [SIM_CALL_IMAGE_EDIT] = "image_edit",
  [SIM_CALL_ARK_IMAGE] = "ark_image",
  [SIM_CALL_GEMINI_IMAGE] = "gemini_image",
  [SIM_CALL_IMAGE_FILE] = "image_file",
  [SIM_CALL_FILE] = "file",
  [SIM_CALL_CONTROL] = "control",
  [SIM_CALL_OTHER] = "other",
};

static GMutex stats_lock;
static guint64 requests[SIM_CALL_COUNT];
static guint64 content_bytes;
static guint64 bearer_on_presigned;
static guint64 unauthorized;
static guint64 limited[SIM_CALL_COUNT]; /* refused by --rate-limit */

const char *
sim_call_name (enum sim_call call)
{
  if (call >= SIM_CALL_COUNT)
    return "none";
  return call_names[call];
}

gboolean
sim_call_from_name (const char *name, enum sim_call *call)
{
  for (int i = 0; i < SIM_CALL_COUNT; i++)
    if (g_str_equal (name, call_names[i]))
      {
        *call = i;
        return TRUE;
      }
  return FALSE;
}

void
sim_stats_count (enum sim_call call)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&stats_lock);

  if (call < SIM_CALL_COUNT)
    requests[call]++;
}

void
sim_stats_add_content_bytes (guint64 n)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&stats_lock);

  content_bytes += n;
}

void
sim_stats_bearer_on_presigned (void)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&stats_lock);

  bearer_on_presigned++;
}

void
sim_stats_unauthorized (void)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&stats_lock);

  unauthorized++;
}

void
sim_stats_limited (enum sim_call call)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&stats_lock);

  if (call < SIM_CALL_COUNT)
    limited[call]++;
}

void
sim_stats_reset (void)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&stats_lock);

  memset (requests, 0, sizeof requests);
  memset (limited, 0, sizeof limited);
  content_bytes = 0;
  bearer_on_presigned = 0;
  unauthorized = 0;
}

json_t *
sim_stats_to_json (void)
{
  json_t *counts = json_object ();
  json_t *refused = json_object ();
  json_t *stats = json_object ();
  guint jobs = sim_jobs_count ();
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&stats_lock);

  for (int i = 0; i < SIM_CALL_COUNT; i++)
    {
      json_object_set_new (counts, call_names[i], json_integer ((json_int_t)requests[i]));
      json_object_set_new (refused, call_names[i], json_integer ((json_int_t)limited[i]));
    }
  json_object_set_new (stats, "requests", counts);
  json_object_set_new (stats, "limited", refused);
  json_object_set_new (stats, "content_bytes", json_integer ((json_int_t)content_bytes));
  json_object_set_new (stats, "bearer_on_presigned",
                       json_integer ((json_int_t)bearer_on_presigned));
  json_object_set_new (stats, "unauthorized", json_integer ((json_int_t)unauthorized));
  json_object_set_new (stats, "jobs", json_integer (jobs));
  return stats;
}
