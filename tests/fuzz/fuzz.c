/* fuzz.c: the scratch directory and the quiet log of the harnesses. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "fuzz.h"
#include "testutil.h"

static char *scratch;

static GLogWriterOutput
drop_log (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return g_log_writer_standard_streams (level, fields, n_fields, user_data);
  return G_LOG_WRITER_HANDLED;
}

/* Before LLVMFuzzerInitialize, so that no harness needs one for it. */
__attribute__ ((constructor)) static void
fuzz_quiet (void)
{
  if (!g_getenv ("FUZZ_VERBOSE"))
    g_log_set_writer_func (drop_log, NULL, NULL);
}

static void
remove_scratch (void)
{
  if (scratch)
    remove_tree (scratch);
}

const char *
fuzz_dir (void)
{
  if (!scratch)
    {
      const char *base = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : g_get_tmp_dir ();

      scratch = g_build_filename (base, "videofs-fuzz-XXXXXX", NULL);
      if (!g_mkdtemp (scratch))
        {
          fprintf (stderr, "cannot make %s: %s\n", scratch, strerror (errno));
          abort ();
        }
      atexit (remove_scratch);
    }
  return scratch;
}

void
fuzz_write_file (const char *path, const uint8_t *data, size_t size)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  if (fd < 0 || (size > 0 && write (fd, data, size) != (ssize_t)size) || close (fd) < 0)
    {
      fprintf (stderr, "cannot write %s: %s\n", path, strerror (errno));
      abort ();
    }
}
