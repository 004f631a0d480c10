/* fuzz-options.c: the command line and the option values.
 *
 * Input: arguments, one a line ("-o", "model=...,seconds=...", "-f", ...),
 * given as "videofs ARGS... MOUNTPOINT" to fuse_opt_parse with our table,
 * then finished with no config file: see options-check.h for what must
 * hold.
 */
#include <stdlib.h>
#include <string.h>

#include "options-check.h"

#define MAX_ARGS 32

static char *mountpoint;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_free (fuzz_options_init (&mountpoint));
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *)data, size);
  g_auto (GStrv) lines = g_strsplit (text, "\n", MAX_ARGS);
  char *argv[MAX_ARGS + 3];
  int argc = 0;
  struct fuse_args args;
  VfOptions opts = { 0 };

  argv[argc++] = (char *)"videofs";
  for (guint i = 0; lines[i]; i++)
    if (*lines[i])
      argv[argc++] = lines[i];
  argv[argc++] = mountpoint;
  argv[argc] = NULL;
  args = (struct fuse_args)FUSE_ARGS_INIT (argc, argv);

  if (vf_options_parse (&args, &opts) == 0)
    {
      if (opts.n_args >= 1 && !opts.bad && strcmp (opts.args[opts.n_args - 1], mountpoint) == 0)
        fuzz_check_options (&opts, mountpoint);
      else
        {
          VfSettings set = { 0 };
          g_autoptr (GError) error = NULL;

          vf_options_finish (&opts, &set, &error);
          vf_options_clear (&opts, &set);
        }
    }
  else
    {
      VfSettings set = { 0 };
      vf_options_clear (&opts, &set);
    }
  fuse_opt_free_args (&args);
  return 0;
}
