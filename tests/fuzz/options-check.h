/* options-check.h: what the config and option harnesses check of the
 * settings fs/options.c makes.
 *
 * Ownership: everything is borrowed, but what fuzz_options_init returns.  No state, no locks.
 */
#pragma once

#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "vf-error.h"
#include "videofs.h"

/* Points GLib's config, state and cache homes into the scratch dir (before
 * GLib first reads them: it keeps what it read) and makes the mount point;
 * returns the config home and sets *mountpoint, both new. */
static inline char *
fuzz_options_init (char **mountpoint)
{
  char *config_home = g_build_filename (fuzz_dir (), "config", NULL);

  g_setenv ("XDG_CONFIG_HOME", config_home, TRUE);
  g_setenv ("XDG_STATE_HOME", fuzz_dir (), TRUE);
  g_setenv ("XDG_CACHE_HOME", fuzz_dir (), TRUE);
  *mountpoint = g_build_filename (fuzz_dir (), "mnt", NULL);
  fuzz_assert (g_mkdir_with_parents (*mountpoint, 0700) == 0);
  return config_home;
}

/* Finishes `opts` with `mountpoint` as its last argument and checks the
 * outcome: a refusal is VF_ERROR_INVALID with a reason; settings taken are
 * in range, and the defaults they give make a prompt parse, as front
 * matter with the same values would. */
static inline void
fuzz_check_options (VfOptions *opts, const char *mountpoint)
{
  VfSettings set = { 0 };
  g_autoptr (GError) error = NULL;

  if (vf_options_finish (opts, &set, &error))
    {
      g_autoptr (GError) parse_error = NULL;
      g_autoptr (json_t) body = NULL;

      fuzz_assert (error == NULL);
      fuzz_assert (set.mountpoint && strcmp (set.mountpoint, mountpoint) == 0);
      fuzz_assert (isfinite (set.poll_s) && set.poll_s > 0 && set.poll_s <= 86400);
      fuzz_assert (opts->endpoint && !g_str_has_suffix (opts->endpoint, "/"));
      fuzz_assert (opts->ark_endpoint && !g_str_has_suffix (opts->ark_endpoint, "/"));
      fuzz_assert (opts->state_dir && g_path_is_absolute (opts->state_dir));
      fuzz_assert (opts->cache_dir && g_path_is_absolute (opts->cache_dir));
      fuzz_assert (vf_prompt_defaults_check (&set.defaults, NULL));
      body = vf_prompt_parse ("a cat", 5, FALSE, &set.defaults, &parse_error);
      if (!body)
        fuzz_fail ("defaults taken as options refuse a prompt: %s", parse_error->message);
    }
  else
    {
      fuzz_assert (error && error->message && *error->message);
      fuzz_assert (g_error_matches (error, VF_ERROR, VF_ERROR_INVALID));
    }
  vf_options_clear (opts, &set);
}
