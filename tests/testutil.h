/* testutil.h: small things every test program needs. */
#pragma once

#include <glib.h>

/* rm -r PATH: symlinks are removed, not followed. */
void remove_tree (const char *path);

/* A field of /proc/self/status in KiB ("VmRSS:", "VmHWM:"), or -1. */
gint64 status_kib (const char *field);
