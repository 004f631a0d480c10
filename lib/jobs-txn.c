/* jobs-txn.c: a change to the job table, and the lock order it follows.
 *
 * Every change goes the same way: take the journal lock, then the table
 * lock; change the table and gather the records, events and notes the
 * change makes; release the table lock; append the records (so they land
 * in the order the table changed, while readers of the table go on); release
 * the journal lock; and last, with no lock held, tell fs/ what changed, so
 * that it may read the table again.  This file is the only place that
 * takes the two locks together.
 */
#include "jobs-private.h"
#include "vf-error.h"

typedef struct
{
  char *name;
  guint what;
} Note;

static void
begin (VfTxn *txn, VfJobs *jobs, gboolean journaled)
{
  txn->jobs = jobs;
  txn->journaled = journaled;
  txn->sync = FALSE;
  txn->urgent = FALSE;
  txn->broken = FALSE;
  txn->events_elsewhere = FALSE;
  txn->records = g_ptr_array_new_with_free_func ((GDestroyNotify)json_decref);
  txn->notes = g_array_new (FALSE, FALSE, sizeof (Note));
  if (journaled)
    g_mutex_lock (&jobs->journal_lock);
  g_mutex_lock (&jobs->lock);
}

void
vf_txn_begin (VfTxn *txn, VfJobs *jobs)
{
  begin (txn, jobs, TRUE);
}

void
vf_txn_begin_unjournaled (VfTxn *txn, VfJobs *jobs)
{
  begin (txn, jobs, FALSE);
}

void
vf_txn_record (VfTxn *txn, json_t *record, gboolean sync)
{
  g_return_if_fail (txn->journaled);

  if (!record)
    {
      txn->broken = TRUE;
      return;
    }
  g_ptr_array_add (txn->records, record);
  txn->sync |= sync;
}

void
vf_txn_urgent (VfTxn *txn)
{
  txn->urgent = TRUE;
}

void
vf_txn_note (VfTxn *txn, const char *name, guint what)
{
  Note note;

  for (guint i = 0; i < txn->notes->len; i++)
    {
      Note *old = &g_array_index (txn->notes, Note, i);

      if (g_strcmp0 (old->name, name) == 0)
        {
          old->what |= what;
          return;
        }
    }
  note.name = g_strdup (name);
  note.what = what;
  g_array_append_val (txn->notes, note);
}

void
vf_txn_event (VfTxn *txn, const Job *job, const char *event, json_t *extra)
{
  VfJobs *log = txn->jobs->events_to;

  if (!log)
    {
      vf_events_add_locked (txn->jobs, job, event, extra);
      vf_txn_note (txn, NULL, VF_CHANGE_EVENTS);
      return;
    }
  /* a picture's events go to the one events log, saying whose they are */
  if (!extra)
    extra = json_object ();
  json_object_set_new (extra, "dir", json_string ("images"));
  g_mutex_lock (&log->lock);
  vf_events_add_locked (log, job, event, extra);
  g_mutex_unlock (&log->lock);
  txn->events_elsewhere = TRUE;
}

void
vf_txn_table_changed (VfTxn *txn)
{
  txn->jobs->table_changed_us = g_get_real_time ();
}

static gboolean
append_records (VfTxn *txn, GError **error)
{
  VfJobs *jobs = txn->jobs;

  if (txn->broken)
    {
      vf_set_error (error, VF_ERROR_INVALID,
                    "a journal record cannot be made of text that is not "
                    "UTF-8; nothing was written");
      return FALSE;
    }
  for (guint i = 0; i < txn->records->len; i++)
    {
      gboolean last = i + 1 == txn->records->len;

      if (!vf_jobs_journal_append (jobs, txn->records->pdata[i], txn->sync && last, txn->urgent,
                                   error))
        return FALSE;
    }
  return TRUE;
}

gboolean
vf_txn_commit (VfTxn *txn, GError **error)
{
  VfJobs *jobs = txn->jobs;
  g_autoptr (GError) local = NULL;
  gboolean ok = TRUE;

  g_mutex_unlock (&jobs->lock);
  if (txn->journaled)
    {
      ok = append_records (txn, &local);
      g_mutex_unlock (&jobs->journal_lock);
    }
  g_clear_pointer (&txn->records, g_ptr_array_unref);

  for (guint i = 0; i < txn->notes->len; i++)
    {
      Note *note = &g_array_index (txn->notes, Note, i);

      if (jobs->changed && note->what)
        jobs->changed (note->name, note->what, jobs->user_data);
      g_free (note->name);
    }
  g_clear_pointer (&txn->notes, g_array_unref);
  if (txn->events_elsewhere && jobs->events_to->changed)
    jobs->events_to->changed (NULL, VF_CHANGE_EVENTS, jobs->events_to->user_data);

  if (ok)
    return TRUE;
  if (!error)
    g_message ("cannot write the journal in %s: %s", jobs->state_dir, local->message);
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}
