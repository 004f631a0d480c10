/* client.c */
#include "vf-error.h"
