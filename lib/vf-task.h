/* vf-task.h: the one task model both protocols map into, and the only
 * module that turns API JSON into C structs (task.c: tasks, error bodies,
 * id checks; task-page.c: list pages).
 *
 * Ownership: the parsers borrow the JSON they read and return new objects
 * the caller frees; a VfTask holds its own reference to the raw JSON object
 * it came from (for status.json), and a VfTaskPage owns its tasks.
 */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)

typedef enum
{
  VF_PROTO_OPENAI, /* OpenAI Videos API (Sora) */
  VF_PROTO_ARK,    /* Volcengine Ark content-generation tasks (Seedance) */
  VF_PROTO_NEWAPI, /* Seedance through a new-api gateway's /videos */
} VfProtocol;

/* How many there are: the size of arrays indexed by VfProtocol. */
#define VF_N_PROTOCOLS (VF_PROTO_NEWAPI + 1)

typedef enum
{
  VF_STATE_UNKNOWN, /* a word this code does not know: treated as still running */
  VF_STATE_QUEUED,
  VF_STATE_IN_PROGRESS,
  VF_STATE_COMPLETED,
  VF_STATE_FAILED,
} VfState;

typedef struct
{
  char *id;
  VfProtocol protocol;
  VfState state;
  char *state_word;   /* the server's own word, as sent */
  int progress;       /* 0..100, or -1 when the server gave none */
  char *model;        /* or NULL */
  char *prompt;       /* or NULL */
  char *seconds;      /* or NULL; OpenAI sends a string */
  char *size;         /* or NULL */
  char *remixed_from; /* or NULL */
  gint64 created_at;  /* unix seconds, 0 when absent */
  gint64 completed_at;
  gint64 expires_at;
  char *error_code;    /* or NULL */
  char *error_message; /* or NULL */
  char *video_url;     /* Ark: content.video_url; newapi: metadata.url; pre-signed */
  char *last_frame_url;
  gint64 poll_after_ms; /* openai-poll-after-ms of the answer, or -1 */
  json_t *raw;          /* the object as received */
} VfTask;

VfTask *vf_task_new (void);
VfTask *vf_task_copy (const VfTask *task);
void vf_task_free (VfTask *task);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfTask, vf_task_free)

/* Parse one task object.  Fails with VF_ERROR_PROTOCOL when the object lacks
 * an id or is not an object, and with VF_ERROR_BAD_ID for an unfit id. */
VfTask *vf_task_from_openai (json_t *object, GError **error);
VfTask *vf_task_from_ark (json_t *object, GError **error);
/* A gateway's Video object of a Seedance task: as OpenAI's, with the
 * result URL in metadata.url. */
VfTask *vf_task_from_newapi (json_t *object, GError **error);

VfState vf_state_from_openai (const char *word);
VfState vf_state_from_ark (const char *word);
const char *vf_state_name (VfState state); /* "queued", "in_progress", ... */

/* A timestamp in seconds, whatever unit the server used: numbers above 1e11
 * are milliseconds; numeric strings and ISO 8601 dates are accepted;
 * anything else is 0. */
gint64 vf_time_to_seconds (const json_t *value);

/* An id is fit for a file name: not empty, no '/', no NUL, not "." or "..",
 * at most 200 bytes, valid UTF-8, no control characters. */
gboolean vf_id_check (const char *id, GError **error);

/* One page of a list call. */
typedef struct
{
  GPtrArray *tasks; /* of VfTask*, owned */
  gboolean has_more;
  char *next_cursor; /* OpenAI: last_id; Ark: NULL (page numbers) */
  gint64 total;      /* Ark: total; OpenAI: -1 */
} VfTaskPage;

void vf_task_page_free (VfTaskPage *page);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfTaskPage, vf_task_page_free)

/* Entries with unfit ids are skipped with a g_message, not fatal. */
VfTaskPage *vf_task_page_from_openai (json_t *object, GError **error);
VfTaskPage *vf_task_page_from_ark (json_t *object, int page_num, int page_size, GError **error);

/* An error body ({"error": {...}} of either API, or anything else) as a
 * GError with the given HTTP status; never fails. `body` may be NULL. */
GError *vf_error_from_body (int http_status, const char *body, gsize len, const char *request_id);

G_END_DECLS
