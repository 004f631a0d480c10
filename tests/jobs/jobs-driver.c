/* jobs-driver.c: opens a job table and submits prompts p00.txt ... as a
 * user would after a crash: every prompt that has no job yet (or only a
 * rejected one) is saved again.  test-crash kills it at random moments.
 *
 * usage: jobs-driver STATE_DIR CACHE_DIR BASE_URL ARK_URL N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vf-client.h"
#include "vf-error.h"
#include "vf-jobs.h"

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfClient) client = NULL;
  g_autoptr (VfJobs) jobs = NULL;
  VfClientConfig client_config;
  VfJobsConfig config;
  guint64 n = 0;

  if (argc != 6 || !g_ascii_string_to_unsigned (argv[5], 10, 1, 100, &n, NULL))
    {
      fprintf (stderr, "usage: jobs-driver STATE_DIR CACHE_DIR BASE_URL ARK_URL N\n");
      return 2;
    }
  vf_client_config_init (&client_config);
  client_config.endpoint = argv[3];
  client_config.ark_endpoint = argv[4];
  client_config.token = "sk-test-token";
  client_config.retry.base_ms = 50;
  client = vf_client_new (&client_config, &error);
  if (!client)
    {
      fprintf (stderr, "jobs-driver: %s\n", error->message);
      return 1;
    }

  vf_jobs_config_init (&config);
  config.client = client;
  config.state_dir = argv[1];
  config.cache_dir = argv[2];
  config.poll_s = 0.2;
  config.prefetch = FALSE;
  jobs = vf_jobs_open (&config, &error);
  if (!jobs)
    {
      fprintf (stderr, "jobs-driver: %s\n", error->message);
      return 1;
    }
  vf_jobs_start (jobs);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *prompt_file = g_strdup_printf ("p%02u.txt", i);
      g_autofree char *name = g_strdup_printf ("p%02u", i);
      g_autofree char *text = g_strdup_printf ("crash prompt %u", i);
      g_autoptr (VfJobInfo) info = vf_jobs_get (jobs, name);
      g_autoptr (GError) local = NULL;

      if (info && info->phase != VF_JOB_REJECTED)
        continue;
      if (!vf_jobs_submit (jobs, prompt_file, text, strlen (text), &local))
        printf ("%s: %s\n", name, local->message);
      else
        printf ("%s: submitted\n", name);
      fflush (stdout);
    }
  return 0;
}
