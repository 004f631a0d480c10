/* sim.c: a videofs-sim child process for the client tests. */
#include "sim.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *
read_first_line (int fd, int timeout_ms)
{
  GString *line = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;

  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      char c;
      ssize_t n;

      if (left <= 0)
        break;
      if (poll (&pfd, 1, (int)left) <= 0)
        continue;
      n = read (fd, &c, 1);
      if (n == 0)
        break;
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (c == '\n')
        return g_string_free (line, FALSE);
      g_string_append_c (line, c);
    }
  g_string_free (line, TRUE);
  return NULL;
}

/* A test that fails aborts without its teardown: the simulator must not
 * outlive it (and hold its output open). */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

Sim *
sim_start (const char *const *args)
{
  const char *exe = g_getenv ("VIDEOFS_SIM");
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *line = NULL;
  Sim *sim = g_new0 (Sim, 1);
  const char *port_text;

  g_assert_nonnull (exe);
  g_ptr_array_add (argv, (char *)exe);
  g_ptr_array_add (argv, (char *)"--port");
  g_ptr_array_add (argv, (char *)"0");
  for (const char *const *a = args; a && *a; a++)
    g_ptr_array_add (argv, (char *)*a);
  g_ptr_array_add (argv, NULL);

  g_spawn_async_with_pipes (NULL, (char **)argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                            die_with_parent, NULL, &sim->pid, NULL, &sim->stdout_fd, NULL, &error);
  g_assert_no_error (error);

  line = read_first_line (sim->stdout_fd, 10000);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "http://127.0.0.1:"));
  g_assert_true (g_str_has_suffix (line, "/v1"));
  port_text = line + strlen ("http://127.0.0.1:");
  sim->port = (int)g_ascii_strtoll (port_text, NULL, 10);
  g_assert_cmpint (sim->port, >, 0);
  sim->root = g_strdup_printf ("http://127.0.0.1:%d", sim->port);
  sim->base = g_strdup (line);
  sim->ark_base = g_strdup_printf ("%s/api/v3", sim->root);
  return sim;
}

void
sim_stop (Sim *sim)
{
  int status = 0;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  pid_t done = 0;

  if (!sim)
    return;
  kill (sim->pid, SIGTERM);
  while (g_get_monotonic_time () < deadline)
    {
      done = waitpid (sim->pid, &status, WNOHANG);
      if (done != 0)
        break;
      g_usleep (10000);
    }
  if (done == 0)
    {
      kill (sim->pid, SIGKILL);
      waitpid (sim->pid, &status, 0);
      g_error ("videofs-sim did not stop on SIGTERM");
    }
  g_spawn_close_pid (sim->pid);
  close (sim->stdout_fd);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_free (sim->root);
  g_free (sim->base);
  g_free (sim->ark_base);
  g_free (sim);
}

static size_t
append_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
  g_byte_array_append (user_data, (const guint8 *)data, size * nmemb);
  return size * nmemb;
}

char *
sim_control (Sim *sim, const char *method, const char *path, const char *body, long *status,
             gsize *len)
{
  CURL *curl = curl_easy_init ();
  g_autofree char *url = g_strdup_printf ("%s%s", sim->root, path);
  GByteArray *bytes = g_byte_array_new ();
  CURLcode res;

  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
  if (body)
    {
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long)strlen (body));
    }
  else if (strcmp (method, "POST") == 0)
    {
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, append_cb);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, bytes);
  res = curl_easy_perform (curl);
  if (res != CURLE_OK)
    g_error ("%s %s: %s", method, url, curl_easy_strerror (res));
  if (status)
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup (curl);
  if (len)
    *len = bytes->len;
  g_byte_array_append (bytes, (const guint8 *)"", 1);
  return (char *)g_byte_array_free (bytes, FALSE);
}

static json_t *
control_json (Sim *sim, const char *method, const char *path, const char *body)
{
  long status = 0;
  g_autofree char *answer = sim_control (sim, method, path, body, &status, NULL);
  json_error_t jerr;
  json_t *json;

  if (status != 200)
    g_error ("%s %s: status %ld: %s", method, path, status, answer);
  json = json_loads (answer, 0, &jerr);
  if (!json)
    g_error ("%s %s: not JSON: %s", method, path, answer);
  return json;
}

json_t *
sim_stats (Sim *sim)
{
  return control_json (sim, "GET", "/_sim/stats", NULL);
}

gint64
sim_requests (Sim *sim, const char *call)
{
  json_t *stats = sim_stats (sim);
  json_t *value = json_object_get (json_object_get (stats, "requests"), call);
  gint64 n;

  g_assert_true (json_is_integer (value));
  n = json_integer_value (value);
  json_decref (stats);
  return n;
}

gint64
sim_counter (Sim *sim, const char *name)
{
  json_t *stats = sim_stats (sim);
  json_t *value = json_object_get (stats, name);
  gint64 n;

  g_assert_true (json_is_integer (value));
  n = json_integer_value (value);
  json_decref (stats);
  return n;
}

void
sim_reset_stats (Sim *sim)
{
  json_decref (control_json (sim, "POST", "/_sim/stats/reset", NULL));
}

void
sim_fault (Sim *sim, const char *spec)
{
  json_decref (control_json (sim, "POST", "/_sim/faults", spec));
}

void
sim_clear_faults (Sim *sim)
{
  long status = 0;
  g_autofree char *answer G_GNUC_UNUSED
      = sim_control (sim, "DELETE", "/_sim/faults", NULL, &status, NULL);

  g_assert_cmpint (status, ==, 200);
}

static void
job_action (Sim *sim, const char *id, const char *action)
{
  g_autofree char *escaped = g_uri_escape_string (id, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/_sim/jobs/%s/%s", escaped, action);
  long status = 0;
  g_autofree char *answer = sim_control (sim, "POST", path, NULL, &status, NULL);

  if (status != 200)
    g_error ("POST %s: status %ld: %s", path, status, answer);
}

void
sim_complete (Sim *sim, const char *id)
{
  job_action (sim, id, "complete");
}

void
sim_expire (Sim *sim, const char *id)
{
  job_action (sim, id, "expire");
}

GBytes *
sim_truth (Sim *sim, const char *id, const char *variant)
{
  g_autofree char *escaped = g_uri_escape_string (id, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/_sim/truth/%s?variant=%s", escaped, variant);
  long status = 0;
  gsize len = 0;
  char *answer = sim_control (sim, "GET", path, NULL, &status, &len);

  if (status != 200)
    g_error ("GET %s: status %ld", path, status);
  return g_bytes_new_take (answer, len);
}
