/* log.c: the -d output.
 *
 * It exists only with -d, which implies -f, so it always goes to stderr.
 */
#include <stdarg.h>
#include <stdio.h>

#include "videofs.h"

gboolean vf_debugging;

void
vf_debug_print (const char *format, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  fprintf (stderr, "videofs: %s\n", msg);
}
