/* fuzz-config.c: the config file, ~/.config/videofs/config.
 *
 * Input: the file.  The mount is given only its mount point, so every
 * value comes from the [videofs] section: see options-check.h for what
 * must hold.
 */
#include <glib/gstdio.h>
#include <stdlib.h>

#include "options-check.h"

static char *config_path;
static char *mountpoint;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autofree char *config_home = NULL;
  g_autofree char *dir = NULL;

  fuzz_quiet ();
  /* before GLib first reads them: it keeps what it read */
  config_home = g_build_filename (fuzz_dir (), "config", NULL);
  g_setenv ("XDG_CONFIG_HOME", config_home, TRUE);
  g_setenv ("XDG_STATE_HOME", fuzz_dir (), TRUE);
  g_setenv ("XDG_CACHE_HOME", fuzz_dir (), TRUE);
  dir = g_build_filename (config_home, "videofs", NULL);
  fuzz_assert (g_mkdir_with_parents (dir, 0700) == 0);
  config_path = g_build_filename (dir, "config", NULL);
  mountpoint = g_build_filename (fuzz_dir (), "mnt", NULL);
  fuzz_assert (g_mkdir_with_parents (mountpoint, 0700) == 0);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  VfOptions opts = { 0 };

  fuzz_write_file (config_path, data, size);
  opts.args[0] = g_strdup (mountpoint);
  opts.n_args = 1;
  fuzz_check_options (&opts, mountpoint);
  return 0;
}
