/* vf-journal.h: the crash-safe record log behind the state dir.
 *
 * A journal is one append-only file of records, each a JSON object framed
 * by its length and a CRC-32, so a record torn by a crash is detected on
 * load and dropped (with everything after it) while the rest loads.
 * vf_journal_append() with sync = TRUE returns only once the record is on
 * disk (fdatasync).  vf_journal_rewrite() compacts: it writes the given
 * records to a new file, fsyncs it, renames it over the old one and fsyncs
 * the directory, so a crash leaves either the old or the new file whole.
 *
 * The journal knows nothing of jobs: records are opaque JSON objects.
 * A VfJournal is not thread-safe; its owner serialises calls.
 *
 * Ownership: records given to it are borrowed (it writes them and keeps
 * nothing); records it replays are lent to the callback for the call.
 */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

typedef struct vf_journal VfJournal;

/* Called for each intact record, in order; the record is borrowed. */
typedef void (*VfJournalFunc) (json_t *record, gpointer user_data);

/* Opens (creating if needed) `path`, calls `func` for every intact record
 * as it reads it, truncates a torn tail away, and leaves the file open for
 * appending.  On failure `func` may have seen records: drop what it made.
 * *n_dropped (may be NULL) is set to the number of bytes dropped. */
VfJournal *vf_journal_open (const char *path, VfJournalFunc func, gpointer user_data,
                            gsize *n_dropped, GError **error);
void vf_journal_close (VfJournal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfJournal, vf_journal_close)

gboolean vf_journal_append (VfJournal *journal, json_t *record, gboolean sync, GError **error);
/* Replaces the whole journal by `records` (GPtrArray of json_t*). */
gboolean vf_journal_rewrite (VfJournal *journal, GPtrArray *records, GError **error);
/* Bytes in the file now (to decide when to compact). */
gsize vf_journal_size (VfJournal *journal);

/* A lock on a directory, held while the returned fd is open: fails with
 * G_IO_ERROR_BUSY and a message naming the holder's pid when another
 * process holds it. */
int vf_dir_lock (const char *dir, GError **error);
/* Write the calling process's pid into the lock held by fd: after a fork
 * (going to the background) the lock stays but the pid changed. */
gboolean vf_dir_lock_update_pid (int fd, GError **error);

G_END_DECLS
