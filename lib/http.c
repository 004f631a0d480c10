/* http.c */
#include "vf-error.h"
