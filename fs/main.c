/* main.c: start-up and teardown of the videofs mount.
 *
 * Start-up follows sshfs: parse the options (command line over the config
 * file), read the token, make the client, open the job table (which takes
 * the state-dir lock), ask the API one cheap question to check the token,
 * then fuse_new, signal handlers, fuse_mount, and only then go to the
 * background and start the threads.  Every failure before that point is
 * one line "videofs: ..." on stderr and exit status 1; after it, messages
 * go where log.c sends them.  Teardown is the set-up backwards, one label
 * per step, as in libfuse's helper.c.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vf-error.h"
#include "videofs.h"

/* One cheap request: a refused token ends the mount, an unreachable API
 * does not. */
static gboolean
check_token (VfClient *client, const char *endpoint, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (VfTaskPage) page = vf_client_list (client, VF_PROTO_OPENAI, NULL, 1, &local);

  if (page)
    return TRUE;
  if (g_error_matches (local, VF_ERROR, VF_ERROR_AUTH))
    {
      const char *msg = vf_error_api_message (local);
      vf_set_error (error, VF_ERROR_AUTH, "the API refused the token (HTTP %d): %s",
                    vf_error_http_status (local), msg ? msg : local->message);
      return FALSE;
    }
  fprintf (stderr, "videofs: warning: %s: %s; mounting anyway\n", endpoint, local->message);
  return TRUE;
}

/* jobs/ and images/, before their tables and stores are opened. */
static void
init_spaces (VfFs *fs)
{
  static const char *const dirs[VF_N_SPACES] = { "jobs", "images" };

  for (int i = 0; i < VF_N_SPACES; i++)
    {
      VfSpace *space = &fs->spaces[i];

      space->kind = (VfSpaceKind)i;
      space->dir = dirs[i];
      space->files_fd = -1;
      space->fs = fs;
    }
}

int
main (int argc, char **argv)
{
  struct fuse_args args = FUSE_ARGS_INIT (argc, argv);
  VfOptions opts = { 0 };
  VfSettings set = { 0 };
  VfFs fs = { 0 };
  g_autoptr (GError) error = NULL;
  char *token = NULL;
  VfClient *client = NULL;
  VfImages *images = NULL;
  g_autofree char *images_state = NULL;
  g_autofree char *images_cache = NULL;
  g_autofree char *jobs_files = NULL;
  g_autofree char *images_files = NULL;
  struct fuse *fuse;
  struct fuse_session *se;
  int ret = 1;
  int res;

  if (vf_options_parse (&args, &opts) == -1)
    {
      fprintf (stderr, "videofs: cannot parse the command line\n");
      goto out0;
    }
  if (opts.show_help)
    {
      vf_options_usage (argv[0]);
      printf ("FUSE options:\n");
      fuse_lib_help (&args);
      ret = 0;
      goto out0;
    }
  if (opts.show_version)
    {
      printf ("videofs version %s\n", PACKAGE_VERSION);
      printf ("FUSE library version %s\n", fuse_pkgversion ());
      ret = 0;
      goto out0;
    }
  vf_debugging = opts.debug;
  if (opts.debug)
    g_setenv ("G_MESSAGES_DEBUG", G_LOG_DOMAIN, FALSE);
  if (!vf_options_finish (&opts, &set, &error))
    goto out0;

  token = vf_options_token (&opts, &error);
  if (!token)
    goto out0;

  VfClientConfig cc;
  vf_client_config_init (&cc);
  cc.endpoint = opts.endpoint;
  cc.ark_endpoint = opts.ark_endpoint;
  cc.routes = set.routes;
  cc.token = token;
  client = vf_client_new (&cc, &error);
  if (!client)
    goto out1;

  VfImagesConfig ic;
  vf_images_config_init (&ic);
  ic.endpoint = opts.endpoint;
  ic.ark_endpoint = opts.ark_endpoint;
  ic.gemini_endpoint = opts.gemini_endpoint;
  ic.gemini_auth = opts.gemini_auth;
  ic.token = token;
  ic.routes = (const char *const *)set.image_routes;
  images = vf_images_new (&ic, &error);
  if (!images)
    goto out2;
  init_spaces (&fs);

  VfJobsConfig jc;
  vf_jobs_config_init (&jc);
  jc.client = client;
  jc.state_dir = opts.state_dir;
  jc.cache_dir = opts.cache_dir;
  jc.defaults = set.defaults;
  jc.poll_s = set.poll_s;
  jc.prefetch = set.prefetch;
  jc.delete_remote = set.delete_remote;
  jc.cache_max = set.cache_max;
  jc.events_max = set.events_max;
  jc.changed = vf_notify_changed;
  jc.user_data = &fs.spaces[VF_SPACE_JOBS];
  jc.open_input = vf_files_open_input;
  jc.open_input_data = &fs.spaces[VF_SPACE_JOBS];
  fs.uid = getuid ();
  fs.gid = getgid ();
  fs.mount_us = g_get_real_time ();
  vf_notify_init (&fs);
  vf_handles_init (&fs);
  fs.jobs = fs.spaces[VF_SPACE_JOBS].jobs = vf_jobs_open (&jc, &error);
  if (!fs.jobs)
    goto out2; /* G_IO_ERROR_BUSY: "state dir ... is in use by another videofs (pid N)" */
  /* images/: a table of its own, in STATE_DIR/images and CACHE_DIR/images */
  images_state = g_build_filename (opts.state_dir, "images", NULL);
  images_cache = g_build_filename (opts.cache_dir, "images", NULL);
  jc.state_dir = images_state;
  jc.cache_dir = images_cache;
  jc.defaults = (VfPromptDefaults){ .model = set.image_model, .picture = TRUE };
  jc.prefetch = FALSE;
  jc.images = images;
  jc.image_wait_s = set.image_wait_s;
  jc.events_to = fs.jobs;
  jc.user_data = jc.open_input_data = &fs.spaces[VF_SPACE_IMAGES];
  fs.spaces[VF_SPACE_IMAGES].jobs = vf_jobs_open (&jc, &error);
  if (!fs.spaces[VF_SPACE_IMAGES].jobs)
    goto out3;
  jobs_files = g_build_filename (opts.state_dir, "files", NULL);
  images_files = g_build_filename (images_state, "files", NULL);
  if (!vf_files_init (&fs.spaces[VF_SPACE_JOBS], jobs_files, &error)
      || !vf_files_init (&fs.spaces[VF_SPACE_IMAGES], images_files, &error))
    goto out4;
  if (!check_token (client, opts.endpoint, &error))
    goto out4;

  if (!vf_interrupt_init (&error))
    goto out4;
  fuse_opt_add_arg (&args, "-ofsname=videofs,subtype=videofs");
  fuse = fuse_new (&args, &vf_operations, sizeof vf_operations, &fs);
  if (!fuse)
    {
      fprintf (stderr, "videofs: cannot set up the file system\n");
      goto out5;
    }
  se = fuse_get_session (fuse);
  if (fuse_set_signal_handlers (se) != 0)
    {
      fprintf (stderr, "videofs: cannot set signal handlers\n");
      goto out6;
    }
  if (fuse_mount (fuse, set.mountpoint) != 0)
    {
      fprintf (stderr, "videofs: cannot mount on %s\n", set.mountpoint);
      goto out7;
    }
  if (fuse_daemonize (opts.foreground) != 0)
    {
      fprintf (stderr, "videofs: cannot go to the background\n");
      goto out8;
    }

  vf_log_start (opts.foreground);
  vf_interrupt_start (se);
  fs.fuse = fuse;
  vf_notify_ready (&fs);
  vf_watch_start (&fs, set.mountpoint, set.poll_s);
  vf_jobs_start (fs.jobs);
  vf_jobs_start (fs.spaces[VF_SPACE_IMAGES].jobs);
  vf_debug ("mounted %s on %s (state %s, cache %s)", opts.endpoint, set.mountpoint, opts.state_dir,
            opts.cache_dir);

  if (opts.singlethread)
    res = fuse_loop (fuse);
  else
    {
      struct fuse_loop_config lc = { .clone_fd = 0, .max_idle_threads = 10 };
      res = fuse_loop_mt (fuse, &lc);
    }
  /* stopped by fusermount -u, or by SIGTERM/SIGINT/SIGHUP: a clean exit */
  ret = res == 0 || res == SIGTERM || res == SIGINT || res == SIGHUP ? 0 : 1;
  vf_notify_stop (&fs);
  vf_watch_stop (&fs);
  vf_interrupt_stop ();
  vf_handles_release (&fs);

out8:
  fuse_unmount (fuse);
out7:
  fuse_remove_signal_handlers (se);
out6:
  fuse_destroy (fuse);
out5:
  vf_interrupt_shutdown ();
out4:
  vf_files_shutdown (&fs.spaces[VF_SPACE_JOBS]);
  vf_files_shutdown (&fs.spaces[VF_SPACE_IMAGES]);
out3:
  vf_jobs_close (fs.spaces[VF_SPACE_IMAGES].jobs);
  vf_jobs_close (fs.jobs);
  vf_watch_free (&fs); /* after the job tables: no more changes come */
out2:
  vf_handles_clear (&fs);
  vf_notify_clear (&fs);
  vf_images_free (images);
  vf_client_free (client);
out1:
  explicit_bzero (token, strlen (token));
  g_free (token);
out0:
  if (error)
    fprintf (stderr, "videofs: %s\n", error->message);
  vf_options_clear (&opts, &set);
  fuse_opt_free_args (&args);
  return ret;
}
