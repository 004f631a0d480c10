/* config.c: the one configuration of videofs-sim.  main.c fills it from
 * the command line before the server starts; every other file only reads
 * it, except `stopping`.  It lives here rather than in main.c so that the
 * files reading it do not depend on the one that starts them. */
#include "sim.h"

struct sim_config sim;
