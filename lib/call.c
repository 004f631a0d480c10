/* call.c: one JSON exchange with an API, retried; error answers as errors. */
#include "call-private.h"

#include <string.h>

#include "vf-error.h"
#include "vf-task.h"

char *
vf_call_escape (const char *text)
{
  return g_uri_escape_string (text, NULL, FALSE);
}

/* ----- errors ----- */

static int
parse_should_retry (const char *value)
{
  if (!value)
    return -1;
  if (g_ascii_strcasecmp (value, "true") == 0)
    return 1;
  if (g_ascii_strcasecmp (value, "false") == 0)
    return 0;
  return -1;
}

/* Servers echo credentials back; the token never goes into a message. */
static char *
redact (const char *text, const char *token)
{
  GString *s;

  if (!text || !token || !*token || !strstr (text, token))
    return NULL;
  s = g_string_new (text);
  g_string_replace (s, token, "[token]", 0);
  return g_string_free (s, FALSE);
}

GError *
vf_call_error_from_response (const VfEndpoint *endpoint, const char *method, const char *url,
                             const VfHttpResponse *response)
{
  const char *body = response->body ? (const char *)response->body->data : NULL;
  gsize len = response->body ? response->body->len : 0;
  g_autofree char *shown = vf_http_url_for_message (url);
  g_autofree char *message = NULL;
  g_autofree char *api_message = NULL;
  GError *e;
  gint64 hint;

  e = vf_error_from_body (response->status, body, len,
                          vf_http_response_header (response, "x-request-id"));
  vf_error_set_maybe_sent (e, TRUE);
  hint = vf_retry_parse_hint (vf_http_response_header (response, "retry-after-ms"),
                              vf_http_response_header (response, "retry-after"),
                              vf_retry_now_ms (endpoint->retry));
  vf_error_set_retry_hints (
      e, hint, parse_should_retry (vf_http_response_header (response, "x-should-retry")));

  message = redact (e->message, endpoint->token);
  if (message)
    {
      g_free (e->message);
      e->message = g_steal_pointer (&message);
    }
  api_message = redact (vf_error_api_message (e), endpoint->token);
  if (api_message)
    {
      g_autofree char *code = g_strdup (vf_error_api_code (e));
      g_autofree char *rid = g_strdup (vf_error_request_id (e));

      vf_error_set_http (e, response->status, code, api_message, rid);
    }

  g_prefix_error (&e, "%s %s: ", method, shown);
  return e;
}

/* ----- retries ----- */

gboolean
vf_call_with_retries (const VfRetryPolicy *retry, gboolean idempotent, VfCallAttempt attempt,
                      gpointer data, GError **error)
{
  for (int n = 0;; n++)
    {
      g_autoptr (GError) local = NULL;
      gint64 delay;

      if (attempt (data, &local))
        return TRUE;
      if (!vf_retry_should (retry, local, idempotent, n))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      delay = vf_retry_delay_ms (retry, local, n);
      g_info ("%s; trying again in %" G_GINT64_FORMAT " ms", local->message, delay);
      vf_retry_sleep (retry, delay);
    }
}

/* A NUL inside an id would cut it short wherever it is read as a C string,
 * making it look like another, fit id; turned into a control character it
 * fails vf_id_check () as it should.  (Other strings are merely cut.) */
static void
defuse_nul_ids (json_t *json)
{
  const char *key;
  json_t *value;
  size_t i;

  if (json_is_array (json))
    json_array_foreach (json, i, value) defuse_nul_ids (value);
  if (!json_is_object (json))
    return;
  json_object_foreach (json, key, value)
  {
    if (strcmp (key, "id") == 0 && json_is_string (value)
        && strlen (json_string_value (value)) != json_string_length (value))
      {
        gsize len = json_string_length (value);
        g_autofree char *copy = g_memdup2 (json_string_value (value), len);

        for (gsize j = 0; j < len; j++)
          if (copy[j] == '\0')
            copy[j] = '\x01';
        json_string_setn_nocheck (value, copy, len);
      }
    else
      defuse_nul_ids (value);
  }
}

typedef struct
{
  const VfEndpoint *endpoint;
  const VfCall *call;
  char *body_text;
  VfHttpResponse *response;
  json_t *answer;
} CallState;

static const char *const json_headers[] = { "Accept: application/json", NULL };

static gboolean
call_attempt (gpointer data, GError **error)
{
  CallState *st = data;
  const VfEndpoint *endpoint = st->endpoint;
  const VfCall *call = st->call;
  VfHttpRequest request = { 0 };
  json_error_t jerr;
  json_t *answer;

  request.method = call->method;
  request.url = call->url;
  request.bearer = endpoint->token;
  request.extra_headers = json_headers;
  if (call->parts)
    {
      request.parts = call->parts;
      request.n_parts = call->n_parts;
    }
  else if (st->body_text)
    {
      request.body = st->body_text;
      request.body_len = strlen (st->body_text);
      request.content_type = "application/json";
    }

  vf_http_response_clear (st->response);
  if (!vf_http_perform (endpoint->http, &request, st->response, error))
    return FALSE;
  vf_budget_note (endpoint->budget,
                  vf_http_response_header (st->response, "x-ratelimit-limit-requests"),
                  vf_http_response_header (st->response, "x-ratelimit-remaining-requests"),
                  vf_http_response_header (st->response, "x-ratelimit-reset-requests"),
                  g_get_monotonic_time ());

  if (st->response->status < 200 || st->response->status > 299)
    {
      g_propagate_error (
          error, vf_call_error_from_response (endpoint, call->method, call->url, st->response));
      return FALSE;
    }

  if (st->response->body->len == 0)
    answer = json_object ();
  else
    answer = json_loadb ((const char *)st->response->body->data, st->response->body->len,
                         JSON_ALLOW_NUL, &jerr);
  if (answer)
    defuse_nul_ids (answer);
  if (!answer)
    {
      g_autofree char *shown = vf_http_url_for_message (call->url);
      /* jansson quotes what it read, which may stop inside a character. */
      g_autofree char *why = g_utf8_make_valid (jerr.text, -1);
      GError *e
          = g_error_new (VF_ERROR, VF_ERROR_PROTOCOL, "%s %s: the answer is not JSON: %s (line %d)",
                         call->method, shown, why, jerr.line);

      vf_error_set_http (e, st->response->status, NULL, NULL,
                         vf_http_response_header (st->response, "x-request-id"));
      g_propagate_error (error, e);
      return FALSE;
    }
  st->answer = answer;
  return TRUE;
}

json_t *
vf_call_json (const VfEndpoint *endpoint, const VfCall *call, VfHttpResponse *response,
              GError **error)
{
  CallState st = { 0 };
  gboolean ok;

  st.endpoint = endpoint;
  st.call = call;
  st.response = response;
  if (call->body && !call->parts)
    st.body_text = json_dumps (call->body, JSON_COMPACT | JSON_ENCODE_ANY);
  ok = vf_call_with_retries (endpoint->retry, call->idempotent, call_attempt, &st, error);
  free (st.body_text);
  return ok ? st.answer : NULL;
}
