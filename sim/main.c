/* main.c: videofs-sim, OpenAI's Videos API and Ark's task API on loopback.
 *
 * Options are parsed and checked, the base media made (ffmpeg when present)
 * in a private temporary directory, SIGINT/SIGTERM blocked so that every
 * server thread inherits the mask and only this one waits for them; then
 * the server starts, the base URL goes to stdout, and a signal tears all
 * down in reverse.
 */
#include "shape.h"
#include "sim.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static gboolean
parse_seconds (const char *option, const char *value, gint64 *us, GError **error)
{
  char *end = NULL;
  double s;

  if (!value)
    return TRUE;
  s = g_ascii_strtod (value, &end);
  if (!*value || *end || !(s >= 0) || s > 1e7)
    {
      g_set_error (error, SIM_ERROR, 0, "%s: “%s” is not a number of seconds", option, value);
      return FALSE;
    }
  *us = (gint64)(s * 1e6 + 0.5);
  return TRUE;
}

static gboolean
parse_count (const char *option, const char *value, guint64 max, guint64 *out, GError **error)
{
  if (value && !g_ascii_string_to_unsigned (value, 10, 0, max, out, error))
    {
      g_prefix_error (error, "%s: ", option);
      return FALSE;
    }
  return TRUE;
}

static void
remove_tmpdir (void)
{
  GDir *dir;
  const char *name;

  if (!sim.tmpdir)
    return;
  dir = g_dir_open (sim.tmpdir, 0, NULL);
  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *path = g_build_filename (sim.tmpdir, name, NULL);
      unlink (path);
    }
  if (dir)
    g_dir_close (dir);
  rmdir (sim.tmpdir);
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *duration = NULL, *queue = NULL, *video_bytes = NULL, *style = NULL;
  g_autofree char *refresh = NULL, *url_ttl = NULL;
  g_autofree char *latency = NULL, *rate = NULL, *rate_total = NULL;
  guint64 latency_ms = 0, rate_bytes = 0, rate_total_bytes = 0;
  int rate_limit = 0;
  g_auto (GStrv) fault_specs = NULL;
  gboolean version = FALSE;
  int port = 0;
  struct MHD_Daemon *daemon;
  sigset_t signals;
  int sig = 0;
  GOptionEntry entries[] = {
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "TCP port on 127.0.0.1; 0 picks a free one", "N" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &sim.token, "The only bearer accepted", "T" },
    { "duration", 0, 0, G_OPTION_ARG_STRING, &duration,
      "Seconds from in_progress to completed (10)", "S" },
    { "queue", 0, 0, G_OPTION_ARG_STRING, &queue, "Seconds a new job stays queued (1)", "S" },
    { "video-bytes", 0, 0, G_OPTION_ARG_STRING, &video_bytes,
      "Size of every video content (1048576)", "N" },
    { "moov-at-end", 0, 0, G_OPTION_ARG_NONE, &sim.moov_at_end,
      "The video's moov box last (no faststart), its frames spread over the file", NULL },
    { "latency", 0, 0, G_OPTION_ARG_STRING, &latency,
      "Milliseconds before each answer, twice on a new connection (0)", "MS" },
    { "rate", 0, 0, G_OPTION_ARG_STRING, &rate, "Body bytes a second per connection (0: no cap)",
      "N" },
    { "rate-total", 0, 0, G_OPTION_ARG_STRING, &rate_total,
      "Body bytes a second over all connections (0: no cap)", "N" },
    { "fail-marker", 0, 0, G_OPTION_ARG_STRING, &sim.fail_marker,
      "A prompt containing STR fails with moderation_blocked (#fail)", "STR" },
    { "fail-message", 0, 0, G_OPTION_ARG_STRING, &sim.fail_message,
      "The message of a failed job's error (each API's own)", "STR" },
    { "reject-marker", 0, 0, G_OPTION_ARG_STRING, &sim.reject_marker,
      "A prompt containing STR is refused at create (#reject)", "STR" },
    { "style", 0, 0, G_OPTION_ARG_STRING, &style,
      "openai; tokenhot (ms times, sora-2-N ids); or newapi (a reseller gateway: task_ ids, no "
      "list or delete, status refreshed every --gateway-refresh, content a proxy that ignores "
      "variant, Seedance through /videos)",
      "STYLE" },
    { "gateway-refresh", 0, 0, G_OPTION_ARG_STRING, &refresh,
      "Seconds between the newapi gateway's refreshes of its copy of each job (15)", "S" },
    { "image-url-ttl", 0, 0, G_OPTION_ARG_STRING, &url_ttl,
      "Seconds an image API's URL answer serves its picture (3600)", "S" },
    { "rate-limit", 0, 0, G_OPTION_ARG_INT, &rate_limit,
      "API requests allowed per minute, with x-ratelimit-* headers (0: no limit)", "N" },
    { "fault", 0, 0, G_OPTION_ARG_STRING_ARRAY, &fault_specs, "Switch a fault on (repeatable)",
      "SPEC" },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
    { NULL },
  };

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, "Serves OpenAI's Videos API and Volcengine Ark's task API "
                                         "on 127.0.0.1, for testing videofs.");
  g_option_context_add_main_entries (context, entries, NULL);
  sim.duration_us = 10 * G_USEC_PER_SEC;
  sim.queue_us = 1 * G_USEC_PER_SEC;
  sim.video_bytes = 1048576;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    goto usage;
  if (version)
    {
      printf ("videofs-sim %s\n", PACKAGE_VERSION);
      return 0;
    }
  if (argc > 1)
    {
      g_set_error (&error, SIM_ERROR, 0, "unexpected argument “%s”", argv[1]);
      goto usage;
    }
  if (port < 0 || port > 65535)
    {
      g_set_error (&error, SIM_ERROR, 0, "--port: %d is not a port", port);
      goto usage;
    }
  if (!parse_seconds ("--duration", duration, &sim.duration_us, &error)
      || !parse_seconds ("--queue", queue, &sim.queue_us, &error))
    goto usage;
  if (video_bytes
      && !g_ascii_string_to_unsigned (video_bytes, 10, 64, G_GUINT64_CONSTANT (1) << 40,
                                      &sim.video_bytes, &error))
    {
      g_prefix_error (&error, "--video-bytes: ");
      goto usage;
    }
  if (!parse_count ("--latency", latency, 600000, &latency_ms, &error)
      || !parse_count ("--rate", rate, G_GUINT64_CONSTANT (1) << 40, &rate_bytes, &error)
      || !parse_count ("--rate-total", rate_total, G_GUINT64_CONSTANT (1) << 40, &rate_total_bytes,
                       &error))
    goto usage;
  sim_shape_set ((gint64)latency_ms * 1000, rate_bytes, rate_total_bytes);
  if (style && !g_str_equal (style, "openai") && !g_str_equal (style, "tokenhot")
      && !g_str_equal (style, "newapi"))
    {
      g_set_error (&error, SIM_ERROR, 0, "--style: “%s” is not openai, tokenhot or newapi", style);
      goto usage;
    }
  sim.tokenhot = style && g_str_equal (style, "tokenhot");
  sim.newapi = style && g_str_equal (style, "newapi");
  sim.gateway_refresh_us = 15 * G_USEC_PER_SEC;
  if (!parse_seconds ("--gateway-refresh", refresh, &sim.gateway_refresh_us, &error))
    goto usage;
  if (sim.gateway_refresh_us <= 0)
    {
      g_set_error (&error, SIM_ERROR, 0, "--gateway-refresh: it must be more than 0");
      goto usage;
    }
  sim.image_url_ttl_us = (gint64)3600 * G_USEC_PER_SEC;
  if (!parse_seconds ("--image-url-ttl", url_ttl, &sim.image_url_ttl_us, &error))
    goto usage;
  if (sim.token && !*sim.token)
    g_clear_pointer (&sim.token, g_free);
  if (!sim.fail_marker)
    sim.fail_marker = g_strdup ("#fail");
  if (!sim.reject_marker)
    sim.reject_marker = g_strdup ("#reject");
  if (rate_limit < 0)
    {
      g_set_error (&error, SIM_ERROR, 0, "--rate-limit: %d is not a number of requests",
                   rate_limit);
      goto usage;
    }
  sim_ratelimit_set ((guint64)rate_limit);
  for (char **f = fault_specs; f && *f; f++)
    if (!sim_faults_add (*f, NULL, &error))
      {
        g_prefix_error (&error, "--fault %s: ", *f);
        goto usage;
      }
  for (gsize i = 0; i < sizeof sim.sig_key - 1; i++)
    sim.sig_key[i] = "0123456789abcdef"[g_random_int_range (0, 16)];

  sim.tmpdir = g_dir_make_tmp ("videofs-sim-XXXXXX", &error);
  if (!sim.tmpdir)
    {
      g_printerr ("videofs-sim: %s\n", error->message);
      return 1;
    }
  sim_jobs_init ();
  if (!sim_content_init (&error))
    {
      g_printerr ("videofs-sim: %s\n", error->message);
      goto out1;
    }

  signal (SIGPIPE, SIG_IGN);
  sigemptyset (&signals);
  sigaddset (&signals, SIGINT);
  sigaddset (&signals, SIGTERM);
  pthread_sigmask (SIG_BLOCK, &signals, NULL);

  daemon = sim_server_start ((guint16)port, &error);
  if (!daemon)
    {
      g_printerr ("videofs-sim: %s\n", error->message);
      goto out1;
    }
  printf ("http://127.0.0.1:%u/v1\n", sim.port);
  fflush (stdout);

  while (sigwait (&signals, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
    ;

  sim_server_stop (daemon);
  sim_pictures_cleanup ();
  sim_content_cleanup ();
  sim_jobs_shutdown ();
  sim_faults_clear ();
  remove_tmpdir ();
  g_free (sim.tmpdir);
  g_free (sim.token);
  g_free (sim.fail_marker);
  g_free (sim.fail_message);
  g_free (sim.reject_marker);
  return 0;

out1:
  sim_content_cleanup ();
  sim_jobs_shutdown ();
  remove_tmpdir ();
  g_free (sim.tmpdir);
  return 1;

usage:
  g_printerr ("videofs-sim: %s\n(see videofs-sim --help)\n", error->message);
  return 2;
}
