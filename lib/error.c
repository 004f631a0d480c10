/* error.c */
#include "vf-error.h"
