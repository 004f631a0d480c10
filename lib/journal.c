/* journal.c */
#include "vf-error.h"
