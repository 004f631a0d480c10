/* main.c: the videofs FUSE driver (placeholder until the mount lands). */
#include <stdio.h>
#include <string.h>
#include <fuse.h>

int
main (int argc, char **argv)
{
  if (argc > 1 && (strcmp (argv[1], "-V") == 0 || strcmp (argv[1], "--version") == 0))
    {
      printf ("videofs version %s\n", PACKAGE_VERSION);
      printf ("FUSE library version %s\n", fuse_pkgversion ());
      return 0;
    }
  fprintf (stderr, "videofs: the mount is not built yet\n");
  return 1;
}
