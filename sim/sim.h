/* sim.h: what crosses files inside videofs-sim.
 *
 * Ownership: functions returning json_t* or char* give the caller a new
 * reference it must release; the sim_reply_*() functions consume the JSON
 * body they are given; views of jobs are copies the caller frees with
 * sim_job_view_free().  A struct sim_request belongs to the thread of its
 * connection (libmicrohttpd runs one per connection) from the request's
 * first callback until it completes (server.c frees it then); handlers
 * never keep it.  The route table is static and read-only.
 *
 * Locking: one global configuration (`sim`) is set up by main.c before the
 * server starts and only read afterwards, except `stopping` (atomic).
 * stats.c, faults.c, jobs.c and content.c each guard their own state with
 * one private mutex that is taken only inside their functions and never
 * held across a call into another file, so no two locks are ever held
 * together and there is no lock order to keep.
 */
#pragma once

#include <string.h>
#include <glib.h>
#include <jansson.h>
#include <microhttpd.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)

struct sim_config
{
  guint16 port; /* the bound port */
  char *token;  /* NULL: any bearer (or none) is accepted */
  gint64 duration_us;
  gint64 queue_us;
  guint64 video_bytes;
  gboolean moov_at_end; /* the video's moov last, its samples spread over mdat */
  char *fail_marker;
  char *fail_message; /* NULL: each API's own */
  char *reject_marker;
  gboolean tokenhot;
  gboolean newapi;           /* --style newapi: a reseller gateway (gateway.c) */
  gint64 gateway_refresh_us; /* how often the gateway's copy of a job is refreshed */
  gint64 image_url_ttl_us;   /* how long an image API's URL answer serves its picture */
  char *tmpdir;
  char sig_key[33]; /* secret behind the ?sig= of pre-signed URLs */
  gint stopping;    /* atomic: set when the server shuts down */
};

extern struct sim_config sim; /* config.c */

/* ratelimit.c: --rate-limit, a budget of API requests per minute. */
void sim_ratelimit_set (guint64 per_minute);
/* FALSE when the budget is spent, with the wait until it is whole. */
gboolean sim_ratelimit_take (gint64 *retry_ms);
/* The x-ratelimit-*-requests headers of an API answer (none when off). */
void sim_ratelimit_headers (struct MHD_Response *response);

#define SIM_ERROR (g_quark_from_static_string ("videofs-sim"))

/* One HTTP request; see server.c. */
struct sim_request;

/* --- stats.c: request counters --- */

enum sim_call
{
  SIM_CALL_CREATE,
  SIM_CALL_RETRIEVE,
  SIM_CALL_LIST,
  SIM_CALL_DELETE,
  SIM_CALL_CONTENT,
  SIM_CALL_REMIX,
  SIM_CALL_EXTEND,
  SIM_CALL_ARK_CREATE,
  SIM_CALL_ARK_RETRIEVE,
  SIM_CALL_ARK_LIST,
  SIM_CALL_ARK_DELETE,
  SIM_CALL_IMAGE_GENERATE,
  SIM_CALL_IMAGE_EDIT,
  SIM_CALL_ARK_IMAGE,
  SIM_CALL_GEMINI_IMAGE,
  SIM_CALL_IMAGE_FILE,
  SIM_CALL_FILE,
  SIM_CALL_CONTROL,
  SIM_CALL_OTHER,
  SIM_CALL_COUNT,
  SIM_CALL_NONE = SIM_CALL_COUNT, /* not counted (truth) */
};

const char *sim_call_name (enum sim_call call);
gboolean sim_call_from_name (const char *name, enum sim_call *call);
void sim_stats_count (enum sim_call call);
void sim_stats_add_content_bytes (guint64 n);
void sim_stats_bearer_on_presigned (void);
void sim_stats_unauthorized (void);
/* A request refused by --rate-limit (it is counted in requests too). */
void sim_stats_limited (enum sim_call call);
void sim_stats_reset (void);
json_t *sim_stats_to_json (void);

/* --- faults.c: switchable misbehaviour --- */

enum sim_fault_kind
{
  SIM_FAULT_429,
  SIM_FAULT_5XX,
  SIM_FAULT_SHOULD_RETRY,
  SIM_FAULT_CUT,
  SIM_FAULT_JSON_CONTENT,
  SIM_FAULT_SLOW,
  SIM_FAULT_HANG_CREATE,
  SIM_FAULT_DROP_CREATE,
  SIM_FAULT_UNKNOWN_STATE,
  SIM_FAULT_HOSTILE_ID,
  SIM_FAULT_OVERSIZE_JSON,
  SIM_FAULT_BAD_RANGE,
  SIM_FAULT_NO_RANGES,
  SIM_FAULT_WRONG_LENGTH,
  SIM_FAULT_REFUSE_POLL_HINT,
  SIM_FAULT_NO_EXTENSIONS,
  SIM_FAULT_KIND_COUNT,
};

enum sim_hostile_kind
{
  SIM_HOSTILE_NONE,
  SIM_HOSTILE_SLASH,
  SIM_HOSTILE_DOTDOT,
  SIM_HOSTILE_LONG,
  SIM_HOSTILE_NUL,
};

/* The parameters of a fault that fired (a plain copy, nothing to free). */
struct sim_fault_hit
{
  guint id;
  int status;            /* 5xx */
  gint64 retry_after;    /* 429: seconds, -1 unset */
  gint64 retry_after_ms; /* 429: -1 unset */
  gboolean value;        /* should_retry */
  guint64 number;        /* cut: after; slow: rate; oversize_json: bytes; wrong_length: short */
  gint64 seconds_ms;     /* hang_create: -1 until cleared */
  enum sim_hostile_kind hostile;
  char word[64]; /* unknown_state */
};

gboolean sim_faults_add (const char *spec, guint *id, GError **error);
guint sim_faults_clear (void);
/* Bumped by every sim_faults_clear(). */
guint sim_faults_generation (void);
json_t *sim_faults_to_json (void);
/* Finds the first live fault of `kind` that applies to `call`, spends one of
 * its count and copies its parameters to *hit. */
gboolean sim_faults_take (enum sim_fault_kind kind, enum sim_call call, struct sim_fault_hit *hit);
/* Held answers: create calls run the hang_create / drop_create faults
 * through this after the job was recorded.  Returns FALSE when the
 * connection must be dropped with no answer. */
gboolean sim_create_faults (struct sim_request *req);
/* Waits `ms` milliseconds, or less when the server stops; FALSE if it stopped. */
gboolean sim_sleep_ms (gint64 ms);

/* --- jobs.c: the job store and its clock --- */

enum sim_api
{
  SIM_API_OPENAI,
  SIM_API_ARK,
};

enum sim_state
{
  SIM_STATE_QUEUED,
  SIM_STATE_IN_PROGRESS,
  SIM_STATE_COMPLETED,
  SIM_STATE_FAILED,
  SIM_STATE_CANCELLED,
};

struct sim_job_spec
{
  enum sim_api api;
  const char *prompt;
  const char *model;
  const char *seconds; /* OpenAI */
  const char *size;    /* OpenAI */
  const char *remixed_from;
  const char *ratio;      /* Ark */
  const char *resolution; /* Ark */
  gint64 duration;        /* Ark */
  gboolean return_last_frame;
  enum sim_hostile_kind hostile;
};

/* A job as it stands at the moment the view was taken. */
struct sim_job_view
{
  char *id; /* may hold a NUL byte (hostile ids): use id_len on the wire */
  gsize id_len;
  enum sim_api api;
  enum sim_state state;
  int progress;
  char *prompt;
  char *model;
  char *seconds;
  char *size;
  char *remixed_from;
  char *ratio;
  char *resolution;
  gint64 duration;
  gboolean return_last_frame;
  gint64 seed;
  gint64 created_ms; /* wall clock, unix milliseconds */
  gint64 updated_ms;
  gint64 completed_ms; /* 0 unless completed */
  gint64 expires_ms;   /* 0 unless completed */
  gboolean expired;
  gint64 next_change_ms; /* until the state or progress moves; -1 when final */
};

void sim_job_view_free (struct sim_job_view *view);
typedef struct sim_job_view SimJobView;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SimJobView, sim_job_view_free)

void sim_jobs_init (void);
void sim_jobs_shutdown (void);
struct sim_job_view *sim_jobs_create (const struct sim_job_spec *spec);
/* NULL for unknown or deleted ids, or ids of the other API. */
struct sim_job_view *sim_jobs_get (enum sim_api api, const char *id);
/* The same, as the job stood at monotonic time `mono` (a job made later
 * reads as queued). */
struct sim_job_view *sim_jobs_get_at (enum sim_api api, const char *id, gint64 mono);
/* Live jobs of `api` in creation order (oldest first), or from `after` on
 * (exclusive; *after_found tells whether it was known). */
GPtrArray *sim_jobs_list (enum sim_api api, gboolean ascending, const char *after,
                          gboolean *after_found);
enum sim_delete_result
{
  SIM_DELETE_DELETED,
  SIM_DELETE_CANCELLED,
  SIM_DELETE_NOT_FOUND,
  SIM_DELETE_BUSY,
};
/* OpenAI: deletes in any state.  Ark: cancels a queued task, deletes a
 * finished one, refuses a running one. */
enum sim_delete_result sim_jobs_delete (enum sim_api api, const char *id);
gboolean sim_jobs_complete_now (const char *id);
gboolean sim_jobs_expire_now (const char *id);
guint sim_jobs_count (void);
/* Views of every live job whose video can be fetched (completed, not expired). */
GPtrArray *sim_jobs_finished (void);

/* --- content.c: deterministic bytes in files --- */

enum sim_variant
{
  SIM_VARIANT_VIDEO,
  SIM_VARIANT_THUMBNAIL,
  SIM_VARIANT_SPRITESHEET,
  SIM_VARIANT_LAST_FRAME, /* Ark's last_frame_url */
};

gboolean sim_variant_from_name (const char *name, enum sim_variant *variant);
const char *sim_variant_type (enum sim_variant variant);
gboolean sim_content_init (GError **error);
void sim_content_cleanup (void);
/* Unlinks the materialised files of an id. */
void sim_content_forget (const char *id);
/* An open descriptor on the bytes of (id, variant), made if need be. */
int sim_content_open (const char *id, enum sim_variant variant, GError **error);
/* A strong ETag, quotes included, into etag[size]. */
void sim_content_etag (const char *id, enum sim_variant variant, char *etag, gsize size);

/* --- serve.c: answers carrying content bytes --- */

struct sim_content_faults
{
  gboolean json_content;
  gboolean no_ranges;
  gboolean bad_range;
  gint64 cut_after;  /* -1: none */
  guint64 slow_rate; /* 0: none */
  gint64 short_by;   /* -1: none */
};

/* Answers with the bytes of (id, variant): Range, If-Range, ETag,
 * sendfile; `faults` may be NULL. `last_modified_ms` > 0 adds Last-Modified. */
enum MHD_Result sim_content_reply (struct sim_request *req, const char *id,
                                   enum sim_variant variant,
                                   const struct sim_content_faults *faults,
                                   gint64 last_modified_ms);
/* Takes the content faults for `call` from the fault table. */
void sim_content_take_faults (enum sim_call call, struct sim_content_faults *faults);

/* builtin.c */
extern const guint8 sim_builtin_mp4[];
extern const gsize sim_builtin_mp4_len;
extern const guint8 sim_builtin_webp[];
extern const gsize sim_builtin_webp_len;
extern const guint8 sim_builtin_jpeg[];
extern const gsize sim_builtin_jpeg_len;

/* --- routes.c: the route table and the steps before a handler --- */

typedef enum MHD_Result (*sim_handler) (struct sim_request *req);

/* Which API a route belongs to: whose bearer is checked and whose error
 * shapes it answers in. */
enum sim_route_api
{
  SIM_ROUTE_OPENAI,
  SIM_ROUTE_ARK,
  SIM_ROUTE_GEMINI,  /* the bearer or x-goog-api-key; Google's error shape */
  SIM_ROUTE_PLAIN,   /* /files and unknown paths: no bearer, OpenAI's error shape */
  SIM_ROUTE_CONTROL, /* /_sim/: no bearer, no forms, no body limit, no faults */
};

struct sim_route
{
  const char *method; /* NULL: any; "GET" matches HEAD too */
  /* An exact path, or one ending in "/?" (with or without that slash) or
   * "*" (any rest), or holding "{id}" (one or more bytes, slashes too). */
  const char *path;
  sim_handler handler;
  enum sim_route_api api;
  enum sim_call call; /* what the request is counted as in the stats */
};

/* The first route matching `method` and `url` (there always is one); the
 * {id} it holds, if any, goes to *id (the caller frees it). */
const struct sim_route *sim_route_find (const char *method, const char *url, char **id);
/* Answers a request whose body is all in: bearer, body limit, the 429 and
 * 5xx faults, then the route's handler. */
enum MHD_Result sim_route_answer (struct sim_request *req);

/* --- received.c: what creates received, for tests (GET /_sim/received) --- */

/* {field or role, filename, content_type (as sent), type (by its bytes, or
 * null), size, sha256, width, height (null when unreadable)}; *width and
 * *height (may be NULL) get the dimensions, 0 when unknown. */
json_t *sim_received_describe (const char *field, const char *filename, const char *content_type,
                               const guint8 *data, gsize len, int *width, int *height);
/* Appends {route, fields, files} (consumed) to the log of creates. */
void sim_received_add (const char *route, json_t *fields, json_t *files);
void sim_received_reset (void);
enum MHD_Result sim_control_received (struct sim_request *req);

/* --- server.c: the HTTP side --- */

struct sim_request
{
  struct MHD_Connection *conn;
  const char *method;
  const char *url;
  gboolean is_head;
  char request_id[40];
  enum sim_call call; /* its route's */
  const struct sim_route *route;
  char *id;         /* the id in the path, if any */
  GByteArray *body; /* raw body (not for form posts) */
  gboolean body_too_large;
  struct MHD_PostProcessor *post;
  GHashTable *form; /* form field name -> value (files: "" and in `files`) */
  char *form_error; /* first unsupported form field */
  gboolean form_has_file;
  GPtrArray *files; /* struct sim_file, the form's files in their order */
  /* a sendfile answer, counted in content_bytes when it ends */
  guint64 fd_body_len;
  guint64 acked_at_start;
};

/* A file part of a form: kept whole (up to the upload cap) for checks and
 * for /_sim/received. */
struct sim_file
{
  char *field;
  char *filename;
  char *content_type;
  GByteArray *data;
};

struct MHD_Daemon *sim_server_start (guint16 port, GError **error);
void sim_server_stop (struct MHD_Daemon *daemon);

/* --- request.c: what handlers read of a request --- */

const char *sim_request_arg (struct sim_request *req, const char *key);
/* The request body parsed as JSON (form posts: NULL). */
json_t *sim_request_json (struct sim_request *req, json_error_t *error);
/* The bytes the peer of `conn` has acknowledged so far (TCP_INFO). */
guint64 sim_bytes_acked (struct MHD_Connection *conn);

/* --- reply.c: JSON answers and error bodies --- */

/* Queue an answer; each adds x-request-id.  `body` is consumed. */
enum MHD_Result sim_reply_json (struct sim_request *req, unsigned int status, json_t *body);
enum MHD_Result sim_reply_json_with (struct sim_request *req, unsigned int status, json_t *body,
                                     const char *header, const char *value);
/* 200 with a JSON object (consumed), padded by oversize_json, with an
 * openai-poll-after-ms hint when poll_after_ms >= 0. */
enum MHD_Result sim_reply_object (struct sim_request *req, json_t *object, gint64 poll_after_ms);
enum MHD_Result sim_reply_response (struct sim_request *req, unsigned int status,
                                    struct MHD_Response *response);
/* OpenAI-shaped error: {"error": {message, type, param, code}}. */
enum MHD_Result sim_reply_openai_error (struct sim_request *req, unsigned int status,
                                        const char *type, const char *param, const char *code,
                                        const char *format, ...) G_GNUC_PRINTF (6, 7);
/* Ark-shaped error: {"error": {code, message, param, type}}. */
enum MHD_Result sim_reply_ark_error (struct sim_request *req, unsigned int status, const char *code,
                                     const char *type, const char *param, const char *format, ...)
    G_GNUC_PRINTF (6, 7);
/* Google's error shape: {"error": {code, message, status}}. */
enum MHD_Result sim_reply_gemini_error (struct sim_request *req, unsigned int status,
                                        const char *status_word, const char *format, ...)
    G_GNUC_PRINTF (4, 5);
/* The answers the route table and its steps give, in the shape of the
 * request's route: 404, 405, 401 and 413. */
enum MHD_Result sim_reply_not_found (struct sim_request *req);
enum MHD_Result sim_reply_bad_method (struct sim_request *req);
enum MHD_Result sim_reply_unauthorized (struct sim_request *req);
enum MHD_Result sim_reply_too_large (struct sim_request *req);
/* The answer of a 429 (rate_limit) or 5xx fault that fired as `hit`, with
 * x-should-retry when `should_retry` (may be NULL) fired too. */
enum MHD_Result sim_reply_fault (struct sim_request *req, gboolean rate_limit,
                                 const struct sim_fault_hit *hit,
                                 const struct sim_fault_hit *should_retry);
/* Pads a JSON object with a "_padding" string so it dumps to `bytes`. */
char *sim_dump_padded (json_t *object, guint64 bytes, gsize *len);
char *sim_dump (json_t *value, gsize *len);

/* openai.c */
enum MHD_Result sim_openai_create (struct sim_request *req);
enum MHD_Result sim_openai_retrieve (struct sim_request *req);
enum MHD_Result sim_openai_list (struct sim_request *req);
enum MHD_Result sim_openai_delete (struct sim_request *req);
enum MHD_Result sim_openai_content (struct sim_request *req);
enum MHD_Result sim_openai_remix (struct sim_request *req);
enum MHD_Result sim_openai_extend (struct sim_request *req);
json_t *sim_openai_video_json (const struct sim_job_view *view, const char *state_word);

/* ark.c */
/* A data URL's bytes: "data:image/<fmt>;base64,..."; NULL if it is not one. */
guint8 *sim_data_url_bytes (const char *url, char **type, gsize *len);
enum MHD_Result sim_ark_create (struct sim_request *req);
enum MHD_Result sim_ark_retrieve (struct sim_request *req);
enum MHD_Result sim_ark_list (struct sim_request *req);
enum MHD_Result sim_ark_delete (struct sim_request *req);
json_t *sim_ark_task_json (const struct sim_job_view *view, const char *state_word);

/* gateway.c: --style newapi */
/* The job as the gateway's copy has it (last refresh), and as the content
 * proxy sees it (the refresh before). */
struct sim_job_view *sim_gateway_view (const char *id);
struct sim_job_view *sim_gateway_content_view (const char *id);
/* Counts a content request asking for `variant` (NULL: none), answered 400
 * when !ready. */
void sim_gateway_count_content (const char *variant, gboolean ready);
enum MHD_Result sim_control_gateway (struct sim_request *req);
gboolean sim_gateway_is_seedance (const char *model);
/* A Seedance create's parameters into *spec (borrowing from `params`);
 * FALSE with the bad parameter's name in *bad. */
gboolean sim_gateway_seedance_spec (json_t *params, struct sim_job_spec *spec, const char **bad);
/* What the gateway adds to a Video object: an early completed_at, and a
 * Seedance job's metadata (with its url once completed). */
void sim_gateway_video_fields (const struct sim_job_view *view, json_t *video);

/* pictures.c: what the image APIs make, kept per request id */
/* "image/png" for png (and anything else), jpeg, jpg, webp. */
const char *sim_picture_mime (const char *format);
/* n pictures of `mime`, width x height, unique to `rid`, kept for
 * /_sim/images and URL answers; an array of GBytes. */
GPtrArray *sim_pictures_make (const char *rid, const char *mime, int width, int height, guint n,
                              gboolean noise, GError **error);
/* http://127.0.0.1:PORT/images/RID-N.EXT (index from 0) */
char *sim_picture_url (const char *rid, guint index, const char *mime);
enum MHD_Result sim_pictures_file (struct sim_request *req);
enum MHD_Result sim_control_images (struct sim_request *req);
void sim_pictures_cleanup (void);

/* images.c: the image APIs */
/* 200 with `body` (consumed), after the held-answer faults (hang_create,
 * drop_create), through the cut and slow faults. */
enum MHD_Result sim_images_reply (struct sim_request *req, json_t *body);
enum MHD_Result sim_images_generate (struct sim_request *req);
enum MHD_Result sim_images_edit (struct sim_request *req);
enum MHD_Result sim_ark_images (struct sim_request *req);
enum MHD_Result sim_gemini_generate (struct sim_request *req);

/* files.c: pre-signed downloads and the HTML index */
enum MHD_Result sim_files_index (struct sim_request *req);
enum MHD_Result sim_files_get (struct sim_request *req);
/* http://127.0.0.1:PORT/files/ID.EXT?sig=HEX */
char *sim_presigned_url (const char *id, gsize id_len, const char *ext);
gboolean sim_sig_ok (const char *id, const char *sig);

/* control.c: the /_sim/ endpoints */
enum MHD_Result sim_control_stats (struct sim_request *req);
enum MHD_Result sim_control_stats_reset (struct sim_request *req);
enum MHD_Result sim_control_faults_list (struct sim_request *req);
enum MHD_Result sim_control_faults_add (struct sim_request *req);
enum MHD_Result sim_control_ratelimit (struct sim_request *req);
enum MHD_Result sim_control_faults_clear (struct sim_request *req);
enum MHD_Result sim_control_truth (struct sim_request *req);
enum MHD_Result sim_control_complete (struct sim_request *req);
enum MHD_Result sim_control_expire (struct sim_request *req);
enum MHD_Result sim_control_seed (struct sim_request *req);
