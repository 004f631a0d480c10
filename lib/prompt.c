/* prompt.c */
#include "vf-error.h"
