/* cache-common.c: what the cache tests share. */
#include "cache-common.h"

#include <jansson.h>

VfClient *
cache_test_client (Sim *sim, int max_retries)
{
  g_autoptr (GError) error = NULL;
  VfClientConfig config;
  VfClient *client;

  vf_client_config_init (&config);
  config.endpoint = sim->base;
  config.ark_endpoint = sim->ark_base;
  config.token = "test-token";
  if (max_retries >= 0)
    config.retry.max_retries = max_retries;
  client = vf_client_new (&config, &error);
  g_assert_no_error (error);
  return client;
}

VfTask *
cache_test_new_job (VfClient *client, Sim *sim, const char *prompt)
{
  g_autoptr (json_t) body = json_pack ("{s:s, s:s}", "model", "sora-2", "prompt", prompt);
  VfCreateRequest request = { body, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) created = vf_client_create (client, &request, &error);
  VfTask *task;

  g_assert_no_error (error);
  if (created->state != VF_STATE_COMPLETED)
    sim_complete (sim, created->id);
  task = vf_client_retrieve (client, VF_PROTO_OPENAI, created->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (task->state, ==, VF_STATE_COMPLETED);
  return task;
}
