/* submit-image.c: a picture's submission (images/).
 *
 * The picture APIs answer the request itself, after up to a minute or two,
 * and cannot be asked about it afterwards: they have no task to retrieve
 * and no list.  So a submission goes:
 *
 *   1. the local checks (the prompt, its input pictures), then a directory
 *      of its own in the cache dir, named by the time of the intent;
 *   2. the intent and the "sending" mark, each synced (submit-journal.c):
 *      a crash before the mark loads as never sent, after it as unknown;
 *   3. the request, from a thread of its own, so that close() need not
 *      hold an editor for a minute: the caller waits at most image_wait_s
 *      for the answer, and hears a refusal that came by then as an errno;
 *   4. the pictures, written and synced in that directory as the answer
 *      streams in (vf_images_generate()), and only then the outcome record,
 *      synced, that says completed and names them.
 *
 * An answer that was lost (a cut, a time-out, the mount stopping) leaves
 * the job unknown, for the API may have made and billed it; nothing is
 * ever sent again on its own.  A new take is a save under a new name.
 */
#include "jobs-private.h"
#include "vf-error.h"
#include "vf-fdio.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct
{
  int ref; /* under the table lock */
  VfJobs *jobs;
  Job *job;          /* a reference */
  json_t *request;   /* what is sent: the body without the inputs' descriptions */
  VfInputs *inputs;  /* their bytes */
  gboolean has_mask; /* the last file is the mask */
  gboolean done;     /* under the table lock: the outcome is in the table */
  GError *error;     /* the outcome's error, once done */
} Pending;

static void
pending_unref_locked (Pending *p)
{
  if (--p->ref > 0)
    return;
  vf_job_unref_locked (p->job);
  json_decref (p->request);
  vf_inputs_free (p->inputs);
  g_clear_error (&p->error);
  g_free (p);
}

void
vf_jobs_pictures_remove (const char *dir)
{
  g_autoptr (GDir) d = dir ? g_dir_open (dir, 0, NULL) : NULL;
  const char *name;

  if (!d)
    return;
  while ((name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (dir);
}

/* A directory of its own for the pictures of a new job. */
static char *
make_pictures_dir (VfJobs *jobs, GError **error)
{
  gint64 key = g_get_real_time ();

  for (int tries = 0; tries < 100; tries++, key++)
    {
      g_autofree char *dir = g_strdup_printf ("%s/p%" G_GINT64_MODIFIER "x", jobs->cache_dir, key);

      if (g_mkdir (dir, 0700) == 0)
        return g_steal_pointer (&dir);
      if (errno != EEXIST)
        {
          vf_set_io_error (error, errno, "cannot create", dir);
          return NULL;
        }
    }
  vf_set_error (error, VF_ERROR_FAILED, "cannot find a free directory in %s", jobs->cache_dir);
  return NULL;
}

static json_t *
pictures_json (const VfImageResult *result)
{
  json_t *list = json_array ();

  for (gsize i = 0; i < result->n_pictures; i++)
    {
      const VfImagePicture *pic = &result->pictures[i];
      g_autofree char *file = g_path_get_basename (pic->path);

      json_array_append_new (list,
                             json_pack ("{s:s, s:s, s:I, s:i, s:i, s:s}", "file", file, "type",
                                        pic->content_type, "size", (json_int_t)pic->size, "width",
                                        pic->width, "height", pic->height, "sha256", pic->sha256));
    }
  return list;
}

/* The answer came but made nothing to show: no picture in it, or a URL
 * that no longer serves its picture. */
static gboolean
answered_without_picture (const GError *error)
{
  return g_error_matches (error, VF_ERROR, VF_ERROR_EXPIRED)
         || (g_error_matches (error, VF_ERROR, VF_ERROR_PROTOCOL) && !vf_error_maybe_sent (error));
}

/* Nothing was made: the API refused or answered with an error (an answer
 * of its own, which these APIs do not bill), or the request never left. */
static gboolean
nothing_made (const GError *error)
{
  return vf_image_error_is_refusal (error) || vf_error_http_status (error) >= 400
         || !vf_error_maybe_sent (error);
}

/* The id of a job the API gave none: its directory's name. */
static const char *
dir_key (const Job *job)
{
  return strrchr (job->pictures_dir, '/') + 1;
}

/* The outcome, journaled and synced; the waiting caller hears it. */
static void
journal_outcome (Pending *p, VfImageResult *result, const GError *error, gboolean cancelled)
{
  VfJobs *jobs = p->jobs;
  Job *job = p->job;
  VfTxn txn;

  /* before the caller hears of it: nothing of a failed request is kept */
  if (!result)
    vf_jobs_pictures_remove (job->pictures_dir);
  vf_txn_begin (&txn, jobs);
  job->changed_us = g_get_real_time ();
  job->sending = FALSE;
  if (result)
    {
      job->phase = VF_JOB_LIVE;
      job->id = g_strdup (result->request_id ? result->request_id : dir_key (job));
      job->pictures = pictures_json (result);
      job->revised_prompt = g_strdup (result->revised_prompt);
      job->probed = TRUE;
      vf_job_set_task_text (job, vf_picture_task (job, NULL, NULL),
                            vf_json_pretty (result->answer));
      vf_txn_event (&txn, job, "completed", NULL);
      vf_txn_record (&txn, vf_job_record (job, "created"), TRUE);
    }
  else if (!cancelled && answered_without_picture (error))
    {
      g_autofree char *message = vf_one_line (error->message);
      const char *code
          = g_error_matches (error, VF_ERROR, VF_ERROR_EXPIRED) ? "expired" : "no_picture";

      job->phase = VF_JOB_LIVE;
      job->id = g_strdup (dir_key (job));
      job->probed = TRUE;
      vf_job_set_task_text (job, vf_picture_task (job, code, message), NULL);
      vf_txn_event (&txn, job, "failed", NULL);
      vf_txn_record (&txn, vf_job_record (job, "created"), TRUE);
    }
  else if (!cancelled && nothing_made (error))
    {
      job->phase = VF_JOB_REJECTED;
      job->reason = vf_refusal_reason (error);
      vf_txn_event (&txn, job, "rejected", NULL);
      vf_txn_record (&txn, vf_job_record (job, "rejected"), TRUE);
    }
  else
    {
      job->phase = VF_JOB_UNKNOWN;
      job->reason = cancelled ? g_strdup ("videofs stopped before the answer came")
                              : vf_one_line (error->message);
      vf_txn_event (&txn, job, "unknown", NULL);
      vf_txn_record (&txn, vf_job_record (job, "lost"), TRUE);
    }
  vf_txn_note (&txn, job->name, VF_CHANGE_STATUS | VF_CHANGE_CONTENT);
  p->done = TRUE;
  /* as for a video, close() tells the answer to the request: one the API
   * answered and made is no error there, whatever became of its pictures */
  if (error && job->phase != VF_JOB_LIVE)
    p->error = g_error_copy (error);
  g_cond_broadcast (&jobs->pictures_cond);
  vf_txn_commit (&txn, NULL);
}

static void
send_request (Pending *p)
{
  VfJobs *jobs = p->jobs;
  GArray *files = p->inputs->files;
  gsize n_images = files->len - (p->has_mask ? 1 : 0);
  g_autofree VfImageFile *images = g_new0 (VfImageFile, files->len + 1);
  g_autoptr (VfImageResult) result = NULL;
  g_autoptr (GError) error = NULL;
  VfImageRequest request = { 0 };

  for (guint i = 0; i < files->len; i++)
    {
      const VfCreateFile *f = &g_array_index (files, VfCreateFile, i);

      images[i] = (VfImageFile){ f->filename, f->content_type, f->bytes };
    }
  request.body = p->request;
  request.images = images;
  request.n_images = n_images;
  request.mask = p->has_mask ? &images[n_images] : NULL;
  request.dir = p->job->pictures_dir;
  result = vf_images_generate (jobs->images, &request, jobs->pictures_cancel, &error);
  journal_outcome (p, result, error, g_cancellable_is_cancelled (jobs->pictures_cancel));
}

static gpointer
request_thread (gpointer data)
{
  Pending *p = data;
  VfJobs *jobs = p->jobs;

  send_request (p);
  g_mutex_lock (&jobs->lock);
  pending_unref_locked (p);
  jobs->pictures_in_flight--;
  g_cond_broadcast (&jobs->pictures_cond);
  g_mutex_unlock (&jobs->lock);
  return NULL;
}

gboolean
vf_jobs_submit_picture (VfJobs *jobs, const char *name, const char *prompt_file, const char *data,
                        gsize len, json_t *body, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (VfInputs) inputs = NULL;
  g_autofree char *dir = NULL;
  const char *model = json_string_value (json_object_get (body, "model"));
  VfImageProtocol protocol = vf_images_protocol_for_model (jobs->images, model);
  gboolean has_mask;
  GThread *thread;
  gboolean ok = TRUE;
  gint64 deadline;
  Pending *p;
  Job *job;

  inputs
      = vf_inputs_take_pictures (body, jobs->open_input, jobs->open_input_data, &has_mask, &local);
  if (inputs && !(dir = make_pictures_dir (jobs, &local)))
    g_clear_pointer (&inputs, vf_inputs_free);
  if (!inputs)
    {
      vf_jobs_reject_locally (jobs, name, prompt_file, data, len, local);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  json_object_set_new (body, "protocol", json_string (vf_image_protocol_name (protocol)));

  job = vf_jobs_journal_intent (jobs, name, prompt_file, data, len, VF_PROTO_OPENAI, body, dir,
                                error);
  if (!job || !vf_jobs_journal_sending (jobs, job, error))
    {
      vf_jobs_pictures_remove (dir);
      return FALSE;
    }

  p = g_new0 (Pending, 1);
  p->ref = 2; /* the thread's and ours */
  p->jobs = jobs;
  p->job = job;
  p->request = json_deep_copy (body);
  json_object_del (p->request, "image");
  json_object_del (p->request, "mask");
  json_object_del (p->request, "protocol");
  p->inputs = g_steal_pointer (&inputs);
  p->has_mask = has_mask;

  g_mutex_lock (&jobs->lock);
  jobs->pictures_in_flight++;
  g_mutex_unlock (&jobs->lock);
  thread = g_thread_try_new ("videofs-picture", request_thread, p, NULL);
  if (thread)
    g_thread_unref (thread);
  else
    request_thread (p); /* no thread to be had: the caller waits for the answer */

  deadline = g_get_monotonic_time () + (gint64)(jobs->image_wait_s * G_USEC_PER_SEC);
  g_mutex_lock (&jobs->lock);
  while (!p->done)
    if (!g_cond_wait_until (&jobs->pictures_cond, &jobs->lock, deadline))
      break;
  if (p->done && p->error)
    {
      g_propagate_error (error, g_error_copy (p->error));
      ok = FALSE;
    }
  pending_unref_locked (p);
  g_mutex_unlock (&jobs->lock);
  return ok;
}

void
vf_jobs_pictures_drain (VfJobs *jobs, double grace_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)(grace_s * G_USEC_PER_SEC);

  g_mutex_lock (&jobs->lock);
  while (jobs->pictures_in_flight > 0)
    if (!g_cond_wait_until (&jobs->pictures_cond, &jobs->lock, deadline))
      break;
  if (jobs->pictures_in_flight > 0)
    g_cancellable_cancel (jobs->pictures_cancel);
  while (jobs->pictures_in_flight > 0)
    g_cond_wait (&jobs->pictures_cond, &jobs->lock);
  g_mutex_unlock (&jobs->lock);
}
