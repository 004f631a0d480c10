/* images.c: the table of image protocols, their configuration and model
 * routing, and the one call of vf-images.h: the request sent once, its
 * answer streamed into files, URL answers fetched at once with no token. */
#include "vf-images.h"

#include <errno.h>
#include <fcntl.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "image-private.h"
#include "vf-fdio.h"
#include "vf-inputs.h"

/* The table of tables: one line per protocol. */
static const VfImageOps *const protocols[VF_N_IMAGE_PROTOCOLS] = {
  [VF_IMAGE_OPENAI] = &vf_image_openai_ops,
  [VF_IMAGE_ARK] = &vf_image_ark_ops,
  [VF_IMAGE_GEMINI] = &vf_image_gemini_ops,
};

#define DEFAULT_PROTOCOL VF_IMAGE_OPENAI
/* The JSON of an answer without its pictures. */
#define MAX_REST (1024 * 1024)

typedef struct
{
  char *glob;
  VfImageProtocol protocol;
} Route;

struct vf_images
{
  char *bases[VF_N_IMAGE_PROTOCOLS];
  char *token;
  GArray *routes; /* of Route */
  VfHttp *http;
  VfRetryPolicy retry;
  long answer_timeout_s;
  VfEndpoint endpoints[VF_N_IMAGE_PROTOCOLS];
  const char *token_header[VF_N_IMAGE_PROTOCOLS]; /* static; NULL: Authorization: Bearer */
};

void
vf_images_config_init (VfImagesConfig *config)
{
  memset (config, 0, sizeof *config);
  config->endpoint = "https://api.openai.com/v1";
  config->ark_endpoint = "https://ark.cn-beijing.volces.com/api/v3";
  config->gemini_endpoint = "https://generativelanguage.googleapis.com/v1beta";
  config->answer_timeout_s = 300;
  vf_http_config_init (&config->http);
  vf_retry_policy_init (&config->retry);
}

const char *
vf_image_protocol_name (VfImageProtocol protocol)
{
  return (guint)protocol < VF_N_IMAGE_PROTOCOLS ? protocols[protocol]->name : NULL;
}

static void
route_clear (gpointer data)
{
  g_free (((Route *)data)->glob);
}

static gboolean
parse_route (const char *spec, Route *route, GError **error)
{
  const char *eq = strrchr (spec, '=');

  for (int p = 0; eq && eq != spec && p < VF_N_IMAGE_PROTOCOLS; p++)
    if (g_ascii_strcasecmp (eq + 1, protocols[p]->name) == 0)
      {
        route->glob = g_strndup (spec, eq - spec);
        route->protocol = (VfImageProtocol)p;
        return TRUE;
      }
  vf_set_error (error, VF_ERROR_INVALID,
                "bad image route \"%s\": want MODEL-GLOB=openai|ark|gemini", spec);
  return FALSE;
}

static char *
base_dup (const char *url)
{
  char *copy = g_strdup (url);
  gsize len = copy ? strlen (copy) : 0;

  while (len > 0 && copy[len - 1] == '/')
    copy[--len] = '\0';
  return copy;
}

/* Google's own API takes an API key as x-goog-api-key (a bearer must be
 * an OAuth token there); resellers take it as the bearer. */
static gboolean
gemini_token_header (const VfImagesConfig *config, const char **header, GError **error)
{
  g_autofree char *host = NULL;
  const char *auth = config->gemini_auth;

  if (!auth && config->gemini_endpoint
      && g_uri_split (config->gemini_endpoint, G_URI_FLAGS_NONE, NULL, NULL, &host, NULL, NULL,
                      NULL, NULL, NULL)
      && host)
    auth = g_str_has_suffix (host, ".googleapis.com") ? "key" : "bearer";
  if (!auth || g_str_equal (auth, "bearer"))
    *header = NULL;
  else if (g_str_equal (auth, "key"))
    *header = "x-goog-api-key";
  else
    {
      vf_set_error (error, VF_ERROR_INVALID, "gemini_auth=%s: want bearer or key", auth);
      return FALSE;
    }
  return TRUE;
}

VfImages *
vf_images_new (const VfImagesConfig *config, GError **error)
{
  const char *urls[VF_N_IMAGE_PROTOCOLS] = {
    [VF_IMAGE_OPENAI] = config->endpoint,
    [VF_IMAGE_ARK] = config->ark_endpoint,
    [VF_IMAGE_GEMINI] = config->gemini_endpoint,
  };
  g_autoptr (VfImages) images = g_new0 (VfImages, 1);

  images->routes = g_array_new (FALSE, TRUE, sizeof (Route));
  g_array_set_clear_func (images->routes, route_clear);
  for (int p = 0; p < VF_N_IMAGE_PROTOCOLS; p++)
    {
      if (urls[p] && !vf_http_url_allowed (urls[p], error))
        {
          g_prefix_error (error, "%s: ", protocols[p]->title);
          return NULL;
        }
      images->bases[p] = base_dup (urls[p]);
    }
  for (const char *const *r = config->routes; r && *r; r++)
    {
      Route route = { 0 };

      if (!parse_route (*r, &route, error))
        return NULL;
      g_array_append_val (images->routes, route);
    }
  if (!gemini_token_header (config, &images->token_header[VF_IMAGE_GEMINI], error))
    return NULL;
  images->token = g_strdup (config->token);
  images->retry = config->retry;
  images->answer_timeout_s = config->answer_timeout_s > 0 ? config->answer_timeout_s : 300;
  images->http = vf_http_new (&config->http);
  for (int p = 0; p < VF_N_IMAGE_PROTOCOLS; p++)
    images->endpoints[p]
        = (VfEndpoint){ images->bases[p], images->token, images->http, &images->retry, NULL };
  return g_steal_pointer (&images);
}

void
vf_images_free (VfImages *images)
{
  if (!images)
    return;
  for (int p = 0; p < VF_N_IMAGE_PROTOCOLS; p++)
    g_free (images->bases[p]);
  if (images->token)
    memset (images->token, 0, strlen (images->token));
  g_free (images->token);
  if (images->routes)
    g_array_unref (images->routes);
  if (images->http)
    vf_http_free (images->http);
  g_free (images);
}

static gboolean
globs_match (const char *globs, const char *model)
{
  g_auto (GStrv) list = g_strsplit (globs, " ", -1);

  for (char **g = list; *g; g++)
    if (**g && g_pattern_match_simple (*g, model))
      return TRUE;
  return FALSE;
}

VfImageProtocol
vf_images_protocol_for_model (VfImages *images, const char *model)
{
  if (!model)
    return DEFAULT_PROTOCOL;
  for (guint i = 0; i < images->routes->len; i++)
    {
      Route *route = &g_array_index (images->routes, Route, i);

      if (g_pattern_match_simple (route->glob, model))
        return route->protocol;
    }
  for (int p = 0; p < VF_N_IMAGE_PROTOCOLS; p++)
    if (globs_match (protocols[p]->default_models, model))
      return (VfImageProtocol)p;
  return DEFAULT_PROTOCOL;
}

void
vf_image_result_free (VfImageResult *result)
{
  if (!result)
    return;
  for (gsize i = 0; i < result->n_pictures; i++)
    {
      g_free (result->pictures[i].path);
      g_free (result->pictures[i].content_type);
      g_free (result->pictures[i].sha256);
    }
  g_free (result->pictures);
  g_free (result->revised_prompt);
  g_free (result->text);
  g_free (result->request_id);
  if (result->answer)
    json_decref (result->answer);
  g_free (result);
}

static const char *const refusal_codes[] = {
  "moderation_blocked",
  "content_policy_violation",
  "InputTextSensitiveContentDetected",
  "InputImageSensitiveContentDetected",
  "OutputImageSensitiveContentDetected",
  "OutputTextSensitiveContentDetected",
  "SensitiveContentDetected",
  /* Gemini's block and finish reasons */
  "SAFETY",
  "IMAGE_SAFETY",
  "PROHIBITED_CONTENT",
  "IMAGE_PROHIBITED_CONTENT",
  "BLOCKLIST",
  "SPII",
  NULL,
};

gboolean
vf_image_error_is_refusal (const GError *error)
{
  const char *code = vf_error_api_code (error);

  return error && error->domain == VF_ERROR && error->code == VF_ERROR_INVALID && code
         && g_strv_contains (refusal_codes, code);
}

/* ----- the exchange ----- */

typedef struct
{
  VfImages *images;
  const VfImageOps *ops;
  const VfEndpoint *endpoint;
  const char *token_header;
  const VfImageRequest *request;
  const VfImageCall *call;
  char *body_text;
  GCancellable *cancellable;
  VfHttpResponse response;
  VfImageStream *stream;
} Exchange;

static gboolean
stream_data (const void *data, gsize len, gpointer user_data, GError **error)
{
  return vf_image_stream_feed (user_data, data, len, error);
}

static const char *const json_headers[] = { "Accept: application/json", NULL };

static gboolean
exchange_attempt (gpointer data, GError **error)
{
  Exchange *x = data;
  VfHttpRequest request = { 0 };

  g_clear_pointer (&x->stream, vf_image_stream_free);
  x->stream = vf_image_stream_new (x->ops->picture_keys, x->request->dir, MAX_REST);
  request.method = "POST";
  request.url = x->call->url;
  request.bearer = x->endpoint->token;
  request.token_header = x->token_header;
  request.extra_headers = json_headers;
  if (x->call->parts)
    {
      request.parts = (const VfHttpPart *)x->call->parts->data;
      request.n_parts = x->call->parts->len;
    }
  else
    {
      request.body = x->body_text;
      request.body_len = strlen (x->body_text);
      request.content_type = "application/json";
    }
  request.on_data = stream_data;
  request.user_data = x->stream;
  request.low_speed_time_s = x->images->answer_timeout_s;
  request.cancellable = x->cancellable;
  vf_http_response_clear (&x->response);
  if (!vf_http_perform (x->endpoint->http, &request, &x->response, error))
    {
      g_prefix_error (error, "%s: POST %s: ", x->ops->title, x->call->url);
      return FALSE;
    }
  if (x->response.status < 200 || x->response.status > 299)
    {
      g_propagate_error (
          error, vf_call_error_from_response (x->endpoint, "POST", x->call->url, &x->response));
      return FALSE;
    }
  return TRUE;
}

/* Refused here, before anything left. */
static void
never_sent (GError **error)
{
  if (error && *error)
    vf_error_set_maybe_sent (*error, FALSE);
}

/* A lost or broken answer: the API may have made and billed it. */
static void
answer_lost (GError **error, const char *title)
{
  if (error && *error)
    {
      vf_error_set_maybe_sent (*error, TRUE);
      g_prefix_error (error,
                      "%s: the answer was lost (the API may have made and billed it): ", title);
    }
}

typedef struct
{
  int fd;
  gint64 offset;
  const char *path;
} Sink;

static gboolean
fetch_data (const void *data, gsize len, gpointer user_data, GError **error)
{
  Sink *sink = user_data;
  int e = vf_pwrite_all (sink->fd, data, len, sink->offset);

  if (e)
    return vf_set_io_error (error, e, "cannot write", sink->path);
  sink->offset += (gint64)len;
  return TRUE;
}

/* A URL answer's picture, fetched with no token, into a new file. */
static char *
fetch_url (Exchange *x, const char *url, GError **error)
{
  VfHttpRequest request = { 0 };
  VfHttpResponse response = { 0 };
  g_autofree char *path = NULL;
  g_autofree char *shown = vf_http_url_for_message (url);
  Sink sink = { -1, 0, NULL };
  int fd;
  gboolean ok;

  if (!vf_http_url_allowed (url, error))
    {
      g_prefix_error (error, "the picture's URL: ");
      return NULL;
    }
  fd = vf_image_part_open (x->request->dir, &path, error);
  if (fd < 0)
    return NULL;
  request.method = "GET";
  request.url = url;
  request.on_data = fetch_data;
  sink.fd = fd;
  sink.path = path;
  request.user_data = &sink;
  request.cancellable = x->cancellable;
  ok = vf_http_perform (x->endpoint->http, &request, &response, error);
  if (ok && (response.status < 200 || response.status > 299))
    {
      if (response.status == 403 || response.status == 404 || response.status == 410)
        vf_set_error (error, VF_ERROR_EXPIRED,
                      "GET %s: %d: the picture's URL no longer serves it (it expired before it "
                      "was fetched)",
                      shown, response.status);
      else
        g_propagate_error (error, vf_call_error_from_response (x->endpoint, "GET", url, &response));
      ok = FALSE;
    }
  vf_http_response_clear (&response);
  if (ok && vf_fsync_noeintr (fd) != 0)
    ok = vf_set_io_error (error, errno, "cannot sync", path);
  close (fd);
  if (!ok)
    {
      g_unlink (path);
      return NULL;
    }
  return g_steal_pointer (&path);
}

/* Checks the picture at `part`, names it dir/image[-N].EXT and describes it. */
static gboolean
settle (const char *dir, char *part, gsize index, VfImagePicture *picture, GError **error)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 buf[64 * 1024], head[16] = { 0 };
  gsize head_len = 0;
  gint64 size = 0;
  const char *ext = NULL, *type;
  g_autofree char *name = NULL;
  int fd = vf_open_noeintr (part, O_RDONLY, 0);
  ssize_t n;

  if (fd < 0)
    return vf_set_io_error (error, errno, "cannot open", part);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      if (head_len < sizeof head)
        {
          gsize k = MIN (sizeof head - head_len, (gsize)n);

          memcpy (head + head_len, buf, k);
          head_len += k;
        }
      g_checksum_update (sum, buf, n);
      size += n;
    }
  close (fd);
  type = vf_inputs_sniff (head, head_len);
  if (type)
    ext = strchr (type, '/') + 1;
  if (!type)
    {
      vf_set_error (error, VF_ERROR_PROTOCOL,
                    "picture %zu of the answer is not a PNG, JPEG or WebP (%" G_GINT64_FORMAT
                    " bytes)",
                    index + 1, size);
      return FALSE;
    }
  name = index ? g_strdup_printf ("image-%zu.%s", index + 1, ext)
               : g_strdup_printf ("image.%s", ext);
  picture->path = g_build_filename (dir, name, NULL);
  if (g_rename (part, picture->path) != 0)
    return vf_set_io_error (error, errno, "cannot rename", part);
  picture->content_type = g_strdup (type);
  picture->size = size;
  picture->sha256 = g_strdup (g_checksum_get_string (sum));
  if (!gdk_pixbuf_get_file_info (picture->path, &picture->width, &picture->height))
    picture->width = picture->height = 0;
  return TRUE;
}

static gboolean
sync_dir (const char *dir, GError **error)
{
  int fd = vf_open_noeintr (dir, O_RDONLY | O_DIRECTORY, 0);
  gboolean ok = fd >= 0 && vf_fsync_noeintr (fd) == 0;

  if (!ok)
    vf_set_io_error (error, errno, "cannot sync", dir);
  if (fd >= 0)
    close (fd);
  return ok;
}

static VfImageResult *
collect (Exchange *x, json_t *answer, GError **error)
{
  g_autoptr (VfImageResult) result = g_new0 (VfImageResult, 1);
  VfImageFound found;
  const char *rid = vf_http_response_header (&x->response, "x-request-id");

  vf_image_found_init (&found);
  if (!x->ops->parse (answer, &found, error))
    {
      vf_image_found_clear (&found);
      json_decref (answer);
      return NULL;
    }
  result->answer = answer;
  result->request_id
      = g_strdup (rid ? rid : json_string_value (json_object_get (answer, "responseId")));
  result->revised_prompt = g_steal_pointer (&found.revised_prompt);
  result->text = g_steal_pointer (&found.text);
  result->pictures = g_new0 (VfImagePicture, found.refs->len);
  for (guint i = 0; i < found.refs->len; i++)
    {
      VfImageRef *ref = &g_array_index (found.refs, VfImageRef, i);
      g_autofree char *part = ref->url ? fetch_url (x, ref->url, error)
                                       : vf_image_stream_take_path (x->stream, ref->taken);

      if (!part && error && !*error)
        vf_set_error (error, VF_ERROR_PROTOCOL, "picture %u of the answer is missing", i + 1);
      if (!part || !settle (x->request->dir, part, i, &result->pictures[i], error))
        {
          if (part)
            g_unlink (part);
          for (gsize k = 0; k < result->n_pictures; k++)
            g_unlink (result->pictures[k].path);
          vf_image_found_clear (&found);
          return NULL;
        }
      result->n_pictures++;
    }
  vf_image_found_clear (&found);
  if (!sync_dir (x->request->dir, error))
    {
      for (gsize k = 0; k < result->n_pictures; k++)
        g_unlink (result->pictures[k].path);
      return NULL;
    }
  return g_steal_pointer (&result);
}

VfImageResult *
vf_images_generate (VfImages *images, const VfImageRequest *request, GCancellable *cancellable,
                    GError **error)
{
  const char *model = json_string_value (json_object_get (request->body, "model"));
  VfImageProtocol protocol = vf_images_protocol_for_model (images, model);
  Exchange x = { 0 };
  VfImageCall call = { 0 };
  VfImageResult *result = NULL;
  json_t *answer;

  x.images = images;
  x.ops = protocols[protocol];
  x.endpoint = &images->endpoints[protocol];
  x.token_header = images->token_header[protocol];
  x.request = request;
  x.call = &call;
  x.cancellable = cancellable;
  if (!x.endpoint->base)
    {
      vf_set_error (error, VF_ERROR_INVALID, "no %s endpoint is configured", x.ops->title);
      never_sent (error);
      return NULL;
    }
  if (!x.ops->build (x.endpoint, request, &call, error))
    {
      never_sent (error);
      goto out;
    }
  if (call.body)
    x.body_text = json_dumps (call.body, JSON_COMPACT);
  /* Not idempotent: tried again only when it provably never left. */
  if (!vf_call_with_retries (&images->retry, FALSE, exchange_attempt, &x, error))
    {
      /* not an error answer of the API's: a transport failure after it left */
      if (x.response.status < 300 && error && *error && vf_error_maybe_sent (*error))
        answer_lost (error, x.ops->title);
      goto out;
    }
  answer = vf_image_stream_finish (x.stream, error);
  if (!answer)
    {
      answer_lost (error, x.ops->title);
      goto out;
    }
  result = collect (&x, answer, error);
  if (result)
    result->protocol = protocol;

out:
  vf_image_stream_free (x.stream);
  vf_http_response_clear (&x.response);
  free (x.body_text);
  vf_image_call_clear (&call);
  return result;
}
