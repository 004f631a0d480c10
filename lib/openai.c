/* openai.c */
#include "vf-error.h"
