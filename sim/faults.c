/* faults.c: the fault table.  A fault is switched on by a SPEC,
 * NAME[:key=value[,key=value...]], from --fault or POST /_sim/faults; it
 * fires on the requests it applies to until its count is spent.  Also the
 * waits of the faults that hold an answer (hang_create, drop_create, and
 * the pacing of slow), which end early when the server stops. */
#include "sim.h"

#define CALL_BIT(c) (1u << (c))
#define API_CALLS                                                                                  \
  (CALL_BIT (SIM_CALL_CREATE) | CALL_BIT (SIM_CALL_RETRIEVE) | CALL_BIT (SIM_CALL_LIST)            \
   | CALL_BIT (SIM_CALL_DELETE) | CALL_BIT (SIM_CALL_CONTENT) | CALL_BIT (SIM_CALL_REMIX)          \
   | CALL_BIT (SIM_CALL_EXTEND) | CALL_BIT (SIM_CALL_ARK_CREATE)                                   \
   | CALL_BIT (SIM_CALL_ARK_RETRIEVE) | CALL_BIT (SIM_CALL_ARK_LIST)                               \
   | CALL_BIT (SIM_CALL_ARK_DELETE) | CALL_BIT (SIM_CALL_FILE) | IMAGE_CALLS                       \
   | CALL_BIT (SIM_CALL_IMAGE_FILE))
#define IMAGE_CALLS                                                                                \
  (CALL_BIT (SIM_CALL_IMAGE_GENERATE) | CALL_BIT (SIM_CALL_IMAGE_EDIT)                             \
   | CALL_BIT (SIM_CALL_ARK_IMAGE) | CALL_BIT (SIM_CALL_GEMINI_IMAGE))
#define BYTE_CALLS (CALL_BIT (SIM_CALL_CONTENT) | CALL_BIT (SIM_CALL_FILE))
#define CREATE_CALLS                                                                               \
  (CALL_BIT (SIM_CALL_CREATE) | CALL_BIT (SIM_CALL_REMIX) | CALL_BIT (SIM_CALL_EXTEND)             \
   | CALL_BIT (SIM_CALL_ARK_CREATE))
#define OBJECT_CALLS                                                                               \
  (CREATE_CALLS | CALL_BIT (SIM_CALL_RETRIEVE) | CALL_BIT (SIM_CALL_LIST)                          \
   | CALL_BIT (SIM_CALL_ARK_RETRIEVE) | CALL_BIT (SIM_CALL_ARK_LIST))
#define READ_CALLS                                                                                 \
  (CALL_BIT (SIM_CALL_RETRIEVE) | CALL_BIT (SIM_CALL_LIST) | CALL_BIT (SIM_CALL_ARK_RETRIEVE)      \
   | CALL_BIT (SIM_CALL_ARK_LIST))

struct fault_kind_info
{
  const char *name;
  guint calls;      /* the calls it can fire on */
  const char *keys; /* its own keys, space-separated */
};

static const struct fault_kind_info kinds[SIM_FAULT_KIND_COUNT] = {
  [SIM_FAULT_429] = { "429", API_CALLS, "retry_after retry_after_ms" },
  [SIM_FAULT_5XX] = { "5xx", API_CALLS, "status" },
  [SIM_FAULT_SHOULD_RETRY] = { "should_retry", API_CALLS, "value" },
  [SIM_FAULT_CUT] = { "cut", BYTE_CALLS | IMAGE_CALLS, "after" },
  [SIM_FAULT_JSON_CONTENT] = { "json_content", BYTE_CALLS, "" },
  [SIM_FAULT_SLOW] = { "slow", BYTE_CALLS | IMAGE_CALLS, "rate" },
  [SIM_FAULT_HANG_CREATE] = { "hang_create", CREATE_CALLS | IMAGE_CALLS, "seconds" },
  [SIM_FAULT_DROP_CREATE] = { "drop_create", CREATE_CALLS | IMAGE_CALLS, "" },
  [SIM_FAULT_UNKNOWN_STATE] = { "unknown_state", OBJECT_CALLS, "word" },
  [SIM_FAULT_HOSTILE_ID] = { "hostile_id", CREATE_CALLS, "kind" },
  [SIM_FAULT_OVERSIZE_JSON] = { "oversize_json", READ_CALLS, "bytes" },
  [SIM_FAULT_BAD_RANGE] = { "bad_range", BYTE_CALLS, "" },
  [SIM_FAULT_NO_RANGES] = { "no_ranges", BYTE_CALLS, "" },
  [SIM_FAULT_WRONG_LENGTH] = { "wrong_length", BYTE_CALLS, "short" },
  [SIM_FAULT_REFUSE_POLL_HINT] = { "refuse_poll_hint", CALL_BIT (SIM_CALL_RETRIEVE), "" },
  [SIM_FAULT_NO_EXTENSIONS] = { "no_extensions", CALL_BIT (SIM_CALL_EXTEND), "" },
};

struct fault
{
  enum sim_fault_kind kind;
  char *spec;
  gint64 remaining; /* -1: for ever */
  gboolean has_call;
  enum sim_call call;
  struct sim_fault_hit hit;
};

static GMutex faults_lock;
static GPtrArray *faults; /* of struct fault*, in the order they were added */
static guint next_id = 1;
static guint generation;

static void
fault_free (struct fault *fault)
{
  g_free (fault->spec);
  g_free (fault);
}

static gboolean
parse_number (const char *key, const char *value, guint64 min, guint64 max, guint64 *out,
              GError **error)
{
  g_autoptr (GError) local = NULL;

  if (!g_ascii_string_to_unsigned (value, 10, min, max, out, &local))
    {
      g_set_error (error, SIM_ERROR, 0, "%s: %s", key, local->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_seconds (const char *key, const char *value, gint64 *ms, GError **error)
{
  char *end = NULL;
  double seconds = g_ascii_strtod (value, &end);

  if (!*value || *end || !(seconds >= 0) || seconds > 1e6)
    {
      g_set_error (error, SIM_ERROR, 0, "%s: “%s” is not a number of seconds", key, value);
      return FALSE;
    }
  *ms = (gint64)(seconds * 1000.0 + 0.5);
  return TRUE;
}

static gboolean
set_key (struct fault *fault, const char *key, const char *value, GError **error)
{
  const struct fault_kind_info *info = &kinds[fault->kind];
  struct sim_fault_hit *hit = &fault->hit;
  g_auto (GStrv) own = NULL;
  guint64 n = 0;

  if (g_str_equal (key, "count"))
    {
      if (!parse_number (key, value, 1, G_MAXINT64, &n, error))
        return FALSE;
      fault->remaining = (gint64)n;
      return TRUE;
    }
  if (g_str_equal (key, "call"))
    {
      if (!sim_call_from_name (value, &fault->call))
        {
          g_set_error (error, SIM_ERROR, 0, "call: unknown call “%s”", value);
          return FALSE;
        }
      if (!(info->calls & CALL_BIT (fault->call)))
        {
          g_set_error (error, SIM_ERROR, 0, "call: %s never fires on %s", info->name, value);
          return FALSE;
        }
      fault->has_call = TRUE;
      return TRUE;
    }
  own = g_strsplit (info->keys, " ", -1);
  if (!g_strv_contains ((const char *const *)own, key))
    {
      g_set_error (error, SIM_ERROR, 0, "%s takes no key “%s”", info->name, key);
      return FALSE;
    }

  if (g_str_equal (key, "retry_after"))
    {
      if (!parse_number (key, value, 0, 86400, &n, error))
        return FALSE;
      hit->retry_after = (gint64)n;
    }
  else if (g_str_equal (key, "retry_after_ms"))
    {
      if (!parse_number (key, value, 0, 86400000, &n, error))
        return FALSE;
      hit->retry_after_ms = (gint64)n;
    }
  else if (g_str_equal (key, "status"))
    {
      if (!parse_number (key, value, 500, 599, &n, error))
        return FALSE;
      hit->status = (int)n;
    }
  else if (g_str_equal (key, "value"))
    {
      if (g_str_equal (value, "true"))
        hit->value = TRUE;
      else if (g_str_equal (value, "false"))
        hit->value = FALSE;
      else
        {
          g_set_error (error, SIM_ERROR, 0, "value: “%s” is neither true nor false", value);
          return FALSE;
        }
    }
  else if (g_str_equal (key, "after") || g_str_equal (key, "bytes"))
    {
      if (!parse_number (key, value, 0, G_MAXINT64, &hit->number, error))
        return FALSE;
    }
  else if (g_str_equal (key, "rate") || g_str_equal (key, "short"))
    {
      if (!parse_number (key, value, 1, G_MAXINT64, &hit->number, error))
        return FALSE;
    }
  else if (g_str_equal (key, "seconds"))
    {
      if (!parse_seconds (key, value, &hit->seconds_ms, error))
        return FALSE;
    }
  else if (g_str_equal (key, "word"))
    {
      gsize len = strlen (value);
      if (len == 0 || len >= sizeof hit->word)
        {
          g_set_error (error, SIM_ERROR, 0, "word: must be 1 to %zu bytes", sizeof hit->word - 1);
          return FALSE;
        }
      memcpy (hit->word, value, len + 1);
    }
  else if (g_str_equal (key, "kind"))
    {
      if (g_str_equal (value, "slash"))
        hit->hostile = SIM_HOSTILE_SLASH;
      else if (g_str_equal (value, "dotdot"))
        hit->hostile = SIM_HOSTILE_DOTDOT;
      else if (g_str_equal (value, "long"))
        hit->hostile = SIM_HOSTILE_LONG;
      else if (g_str_equal (value, "nul"))
        hit->hostile = SIM_HOSTILE_NUL;
      else
        {
          g_set_error (error, SIM_ERROR, 0, "kind: “%s” is not slash, dotdot, long or nul", value);
          return FALSE;
        }
    }
  return TRUE;
}

static void
set_defaults (struct fault *fault)
{
  struct sim_fault_hit *hit = &fault->hit;

  fault->remaining = -1;
  hit->status = 500;
  hit->retry_after = -1;
  hit->retry_after_ms = -1;
  hit->value = FALSE;
  hit->seconds_ms = -1;
  hit->hostile = SIM_HOSTILE_SLASH;
  memcpy (hit->word, "pondering", sizeof "pondering");
  switch (fault->kind)
    {
    case SIM_FAULT_CUT:
    case SIM_FAULT_SLOW:
      hit->number = 65536;
      break;
    case SIM_FAULT_OVERSIZE_JSON:
      hit->number = 2 * 1024 * 1024;
      break;
    case SIM_FAULT_WRONG_LENGTH:
      hit->number = 1;
      break;
    default:
      hit->number = 0;
      break;
    }
}

gboolean
sim_faults_add (const char *spec, guint *id, GError **error)
{
  g_autofree char *text = g_strstrip (g_strdup (spec));
  g_autofree char *name = NULL;
  g_auto (GStrv) pairs = NULL;
  struct fault *fault;
  const char *colon;
  int kind = -1;

  colon = strchr (text, ':');
  name = colon ? g_strndup (text, colon - text) : g_strdup (text);
  for (int i = 0; i < SIM_FAULT_KIND_COUNT; i++)
    if (g_str_equal (name, kinds[i].name))
      kind = i;
  if (kind < 0)
    {
      g_set_error (error, SIM_ERROR, 0, "unknown fault “%s”", name);
      return FALSE;
    }

  fault = g_new0 (struct fault, 1);
  fault->kind = kind;
  fault->spec = g_strdup (text);
  set_defaults (fault);
  if (colon && colon[1])
    {
      pairs = g_strsplit (colon + 1, ",", -1);
      for (char **p = pairs; *p; p++)
        {
          char *eq = strchr (*p, '=');
          if (!eq || eq == *p)
            {
              g_set_error (error, SIM_ERROR, 0, "“%s” is not key=value", *p);
              fault_free (fault);
              return FALSE;
            }
          *eq = '\0';
          if (!set_key (fault, *p, eq + 1, error))
            {
              fault_free (fault);
              return FALSE;
            }
        }
    }

  g_mutex_lock (&faults_lock);
  if (!faults)
    faults = g_ptr_array_new_with_free_func ((GDestroyNotify)fault_free);
  fault->hit.id = next_id++;
  g_ptr_array_add (faults, fault);
  if (id)
    *id = fault->hit.id;
  g_mutex_unlock (&faults_lock);
  return TRUE;
}

guint
sim_faults_clear (void)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&faults_lock);
  guint n = faults ? faults->len : 0;

  if (faults)
    g_ptr_array_set_size (faults, 0);
  generation++;
  return n;
}

guint
sim_faults_generation (void)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&faults_lock);

  return generation;
}

json_t *
sim_faults_to_json (void)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&faults_lock);
  json_t *list = json_array ();

  for (guint i = 0; faults && i < faults->len; i++)
    {
      struct fault *fault = g_ptr_array_index (faults, i);
      json_t *o = json_pack ("{s:I, s:s, s:s}", "id", (json_int_t)fault->hit.id, "name",
                             kinds[fault->kind].name, "spec", fault->spec);
      json_object_set_new (o, "remaining",
                           fault->remaining < 0 ? json_null () : json_integer (fault->remaining));
      json_object_set_new (
          o, "call", fault->has_call ? json_string (sim_call_name (fault->call)) : json_null ());
      json_array_append_new (list, o);
    }
  return list;
}

gboolean
sim_faults_take (enum sim_fault_kind kind, enum sim_call call, struct sim_fault_hit *hit)
{
  g_autoptr (GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&faults_lock);

  if (call >= SIM_CALL_COUNT || !(kinds[kind].calls & CALL_BIT (call)))
    return FALSE;
  for (guint i = 0; faults && i < faults->len; i++)
    {
      struct fault *fault = g_ptr_array_index (faults, i);

      if (fault->kind != kind || (fault->has_call && fault->call != call))
        continue;
      *hit = fault->hit;
      if (fault->remaining > 0 && --fault->remaining == 0)
        g_ptr_array_remove_index (faults, i);
      return TRUE;
    }
  return FALSE;
}

/* --- faults that hold an answer --- */

gboolean
sim_sleep_ms (gint64 ms)
{
  gint64 until = g_get_monotonic_time () + ms * 1000;

  while (!g_atomic_int_get (&sim.stopping))
    {
      gint64 left = until - g_get_monotonic_time ();
      if (left <= 0)
        return TRUE;
      g_usleep (MIN (left, 20000));
    }
  return FALSE;
}

gboolean
sim_create_faults (struct sim_request *req)
{
  struct sim_fault_hit hit;

  if (sim_faults_take (SIM_FAULT_DROP_CREATE, req->call, &hit))
    return FALSE;
  if (sim_faults_take (SIM_FAULT_HANG_CREATE, req->call, &hit))
    {
      guint cleared = sim_faults_generation ();
      gint64 t0 = g_get_monotonic_time ();

      while (!g_atomic_int_get (&sim.stopping))
        {
          if (hit.seconds_ms >= 0 && g_get_monotonic_time () - t0 >= hit.seconds_ms * 1000)
            break;
          if (sim_faults_generation () != cleared)
            break;
          g_usleep (20000);
        }
      if (g_atomic_int_get (&sim.stopping))
        return FALSE;
    }
  return TRUE;
}
