/* cache-common.h: what the cache tests share. */
#pragma once

#include "vf-client.h"

#include "../client/sim.h"

/* A client of the simulator; `max_retries` < 0 keeps the default. */
VfClient *cache_test_client (Sim *sim, int max_retries);

/* A completed job on the simulator, as the client retrieves it. */
VfTask *cache_test_new_job (VfClient *client, Sim *sim, const char *prompt);
