/* task.c */
#include "vf-error.h"
