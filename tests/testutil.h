/* testutil.h: small things every test program needs. */
#pragma once

/* rm -r PATH: symlinks are removed, not followed. */
void remove_tree (const char *path);
