/* fuzz-jobs.c: journal records through the job table, and a reopen.
 *
 * Input: JSON objects, one a line: the records of a journal (as job.c
 * writes them: op job/task/rename/forget, name, prompt_file, phase, ...).
 * They are framed into STATE_DIR/journal, the table opens it (and
 * compacts it), closes, and opens the compacted journal again: the two
 * loads must show the same jobs with the same names, prompt files,
 * phases, ids, states, errors and prompt bytes.  The client points at a
 * loopback port nobody listens on and the poller is never started, so
 * nothing is sent.
 */
#include <string.h>

#include <glib/gstdio.h>

#include "fuzz.h"
#include "vf-jobs.h"
#include "vf-journal.h"

static VfClient *client;
static char *state_dir;
static char *cache_dir;
static char *journal_path;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  VfClientConfig config;
  g_autoptr (GError) error = NULL;

  vf_client_config_init (&config);
  config.endpoint = "http://127.0.0.1:9/v1";
  config.ark_endpoint = "http://127.0.0.1:9/api/v3";
  config.token = "sk-fuzz";
  config.retry.max_retries = 0;
  client = vf_client_new (&config, &error);
  if (!client)
    fuzz_fail ("client: %s", error->message);
  state_dir = g_build_filename (fuzz_dir (), "state", NULL);
  cache_dir = g_build_filename (fuzz_dir (), "cache", NULL);
  journal_path = g_build_filename (state_dir, "journal", NULL);
  return 0;
}

static void
clear_dir (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (!dir)
    return;
  while ((name = g_dir_read_name (dir)))
    {
      g_autofree char *sub = g_build_filename (path, name, NULL);
      if (g_file_test (sub, G_FILE_TEST_IS_DIR))
        clear_dir (sub);
      g_remove (sub);
    }
}

static void
write_journal (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfJournal) journal = vf_journal_open (journal_path, NULL, NULL, NULL, &error);
  const char *p = (const char *)data, *end = p + size;

  if (!journal)
    fuzz_fail ("journal: %s", error->message);
  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);
      const char *line_end = nl ? nl : end;
      g_autoptr (json_t) record = json_loadb (p, line_end - p, JSON_ALLOW_NUL, NULL);

      if (json_is_object (record) && !vf_journal_append (journal, record, FALSE, &error))
        fuzz_fail ("append: %s", error->message);
      p = nl ? nl + 1 : end;
    }
}

static VfJobs *
open_jobs (void)
{
  VfJobsConfig config;
  g_autoptr (GError) error = NULL;
  VfJobs *jobs;

  vf_jobs_config_init (&config);
  config.client = client;
  config.state_dir = state_dir;
  config.cache_dir = cache_dir;
  config.prefetch = FALSE;
  jobs = vf_jobs_open (&config, &error);
  if (!jobs)
    fuzz_fail ("open: %s", error->message);
  return jobs;
}

/* One line per job: what a reopen must show again. */
static GString *
snapshot (VfJobs *jobs)
{
  g_autoptr (GPtrArray) names = vf_jobs_names (jobs);
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < names->len; i++)
    {
      const char *name = names->pdata[i];
      g_autoptr (VfJobInfo) info = vf_jobs_get (jobs, name);
      g_autoptr (GBytes) prompt = NULL;

      if (i > 0)
        fuzz_assert (strcmp (names->pdata[i - 1], name) < 0);
      if (!info)
        fuzz_fail ("job '%s' is listed but not found", name);
      fuzz_assert (strcmp (info->name, name) == 0);
      fuzz_assert (info->status && g_str_has_suffix (info->status, "\n"));
      g_string_append_printf (s, "%s|%s|%d|%d|%d|%s|%s|", info->name,
                              info->prompt_file ? info->prompt_file : "-", info->phase,
                              info->protocol, info->state, info->id ? info->id : "-",
                              info->error ? info->error : "-");
      if (info->prompt_file)
        prompt = vf_jobs_get_prompt (jobs, info->prompt_file);
      if (prompt)
        {
          gsize len;
          const char *bytes = g_bytes_get_data (prompt, &len);
          g_autofree char *hex
              = g_compute_checksum_for_data (G_CHECKSUM_SHA1, (const guchar *)bytes, len);
          g_string_append (s, hex);
        }
      g_string_append_c (s, '\n');
    }
  return s;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GString) first = NULL;
  g_autoptr (GString) second = NULL;
  VfJobs *jobs;

  clear_dir (fuzz_dir ());
  fuzz_assert (g_mkdir_with_parents (state_dir, 0700) == 0);
  write_journal (data, size);

  jobs = open_jobs ();
  first = snapshot (jobs);
  vf_jobs_close (jobs);

  jobs = open_jobs ();
  second = snapshot (jobs);
  vf_jobs_close (jobs);

  if (!g_string_equal (first, second))
    fuzz_fail ("the reopen differs:\n--- first\n%s--- second\n%s", first->str, second->str);
  return 0;
}
