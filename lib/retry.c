/* retry.c */
#include "vf-error.h"
