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
  g_autofree char *config_home = fuzz_options_init (&mountpoint);
  g_autofree char *dir = g_build_filename (config_home, "videofs", NULL);

  fuzz_assert (g_mkdir_with_parents (dir, 0700) == 0);
  config_path = g_build_filename (dir, "config", NULL);
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
