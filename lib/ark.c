/* ark.c */
#include "vf-error.h"
