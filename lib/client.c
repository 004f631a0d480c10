/* client.c: the table of protocols, configuration, model routing, and the
 * calls of vf-client.h handed to the protocol of each. */
#include "vf-client.h"

#include <string.h>

#include "call-private.h"
#include "vf-content.h"
#include "vf-error.h"
#include "proto-private.h"

/* The table of tables: one line per protocol. */
static const VfProtoOps *const protocols[VF_N_PROTOCOLS] = {
  [VF_PROTO_OPENAI] = &vf_openai_ops,
  [VF_PROTO_ARK] = &vf_ark_ops,
  [VF_PROTO_NEWAPI] = &vf_newapi_ops,
};

/* Where nothing else routes a model. */
#define DEFAULT_PROTOCOL VF_PROTO_OPENAI

typedef struct
{
  char *glob;
  VfProtocol protocol;
} VfRoute;

struct vf_client
{
  char *bases[VF_N_PROTOCOLS]; /* without a trailing slash, or NULL */
  char *token;                 /* or NULL */
  GArray *routes;              /* of VfRoute */
  VfHttp *http;
  VfRetryPolicy retry;
  VfEndpoint endpoints[VF_N_PROTOCOLS]; /* pointing into the above */
  /* atomic: the base answered a list with 404, 405 or 501, so it is not
   * asked again (a gateway's) */
  gint no_list[VF_N_PROTOCOLS];
};

/* NULL for a value that is not a VfProtocol. */
static const VfProtoOps *
ops_of (VfProtocol protocol)
{
  return (guint)protocol < VF_N_PROTOCOLS ? protocols[protocol] : NULL;
}

static const VfProtoOps *
ops_or_error (VfProtocol protocol, GError **error)
{
  const VfProtoOps *ops = ops_of (protocol);

  if (!ops)
    vf_set_error (error, VF_ERROR_INVALID, "no protocol %d", (int)protocol);
  return ops;
}

const char *
vf_protocol_name (VfProtocol protocol)
{
  const VfProtoOps *ops = ops_of (protocol);

  return ops ? ops->name : NULL;
}

gboolean
vf_protocol_from_name (const char *name, VfProtocol *protocol)
{
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    if (name && g_ascii_strcasecmp (name, protocols[p]->name) == 0)
      {
        *protocol = (VfProtocol)p;
        return TRUE;
      }
  return FALSE;
}

const VfVariant *
vf_protocol_variants (VfProtocol protocol, gsize *n_variants)
{
  const VfProtoOps *ops = ops_of (protocol);

  *n_variants = ops ? ops->n_variants : 0;
  return ops ? ops->variants : NULL;
}

gboolean
vf_protocol_has_variant (VfProtocol protocol, VfVariant variant)
{
  gsize n;
  const VfVariant *variants = vf_protocol_variants (protocol, &n);

  for (gsize i = 0; i < n; i++)
    if (variants[i] == variant)
      return TRUE;
  return FALSE;
}

json_t *
vf_protocol_create_body (VfProtocol protocol, json_t *body)
{
  const VfProtoOps *ops = ops_of (protocol);

  if (ops && ops->body_from_prompt)
    return ops->body_from_prompt (body);
  return json_incref (body);
}

VfTask *
vf_protocol_task_from_json (VfProtocol protocol, json_t *object, GError **error)
{
  const VfProtoOps *ops = ops_or_error (protocol, error);

  return ops ? ops->task_from_json (object, error) : NULL;
}

void
vf_client_config_init (VfClientConfig *config)
{
  memset (config, 0, sizeof *config);
  config->endpoint = "https://api.openai.com/v1";
  config->ark_endpoint = "https://ark.cn-beijing.volces.com/api/v3";
  config->token = NULL;
  config->routes = NULL;
  vf_http_config_init (&config->http);
  vf_retry_policy_init (&config->retry);
}

static void
route_clear (gpointer data)
{
  VfRoute *route = data;

  g_free (route->glob);
}

static char *
endpoint_dup (const char *url)
{
  char *copy = g_strdup (url);
  gsize len = strlen (copy);

  while (len > 0 && copy[len - 1] == '/')
    copy[--len] = '\0';
  return copy;
}

/* The protocols' names for a message: "openai|ark", "openai or ark". */
static char *
protocol_names (const char *separator, const char *last_separator)
{
  GString *names = g_string_new (NULL);

  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    {
      if (p > 0)
        g_string_append (names, p == VF_N_PROTOCOLS - 1 ? last_separator : separator);
      g_string_append (names, protocols[p]->name);
    }
  return g_string_free (names, FALSE);
}

static gboolean
parse_route (const char *spec, VfRoute *route, GError **error)
{
  const char *eq = strrchr (spec, '=');

  if (!eq || eq == spec)
    {
      g_autofree char *names = protocol_names ("|", "|");

      vf_set_error (error, VF_ERROR_INVALID, "bad route \"%s\": want MODEL-GLOB=%s", spec, names);
      return FALSE;
    }
  if (!vf_protocol_from_name (eq + 1, &route->protocol))
    {
      g_autofree char *names = protocol_names (", ", " or ");

      vf_set_error (error, VF_ERROR_INVALID, "bad route \"%s\": the protocol is %s, not \"%s\"",
                    spec, names, eq + 1);
      return FALSE;
    }
  route->glob = g_strndup (spec, eq - spec);
  return TRUE;
}

VfClient *
vf_client_new (const VfClientConfig *config, GError **error)
{
  /* The option that sets each protocol's base URL. */
  const struct
  {
    const char *url;
    const char *option;
  } bases[VF_N_PROTOCOLS] = {
    [VF_PROTO_OPENAI] = { config->endpoint, "endpoint" },
    [VF_PROTO_ARK] = { config->ark_endpoint, "ark_endpoint" },
    [VF_PROTO_NEWAPI] = { config->endpoint, "endpoint" },
  };
  g_autoptr (VfClient) client = g_new0 (VfClient, 1);

  client->routes = g_array_new (FALSE, TRUE, sizeof (VfRoute));
  g_array_set_clear_func (client->routes, route_clear);

  if (!bases[DEFAULT_PROTOCOL].url)
    {
      vf_set_error (error, VF_ERROR_INVALID, "no %s", bases[DEFAULT_PROTOCOL].option);
      return NULL;
    }
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    if (bases[p].url && !vf_http_url_allowed (bases[p].url, error))
      {
        g_prefix_error (error, "%s: ", bases[p].option);
        return NULL;
      }
  if (config->token)
    for (const char *p = config->token; *p; p++)
      if ((guchar)*p < 0x20 || *p == 0x7f)
        {
          /* It would end up in a header line: refuse, without showing it. */
          vf_set_error (error, VF_ERROR_INVALID, "the token holds a control character");
          return NULL;
        }

  for (const char *const *r = config->routes; r && *r; r++)
    {
      VfRoute route = { 0 };

      if (!parse_route (*r, &route, error))
        return NULL;
      g_array_append_val (client->routes, route);
    }

  client->token = config->token && *config->token ? g_strdup (config->token) : NULL;
  client->retry = config->retry;
  client->http = vf_http_new (&config->http);
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    {
      client->bases[p] = bases[p].url ? endpoint_dup (bases[p].url) : NULL;
      client->endpoints[p].base = client->bases[p];
      client->endpoints[p].token = client->token;
      client->endpoints[p].http = client->http;
      client->endpoints[p].retry = &client->retry;
      client->endpoints[p].budget = vf_budget_new ();
    }
  return g_steal_pointer (&client);
}

void
vf_client_free (VfClient *client)
{
  if (!client)
    return;
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    {
      g_free (client->bases[p]);
      vf_budget_free (client->endpoints[p].budget);
    }
  if (client->token)
    {
      memset (client->token, 0, strlen (client->token));
      g_free (client->token);
    }
  if (client->routes)
    g_array_unref (client->routes);
  if (client->http)
    vf_http_free (client->http);
  g_free (client);
}

gint64
vf_client_budget_wait_us (VfClient *client, VfProtocol protocol)
{
  if (!ops_of (protocol))
    return 0;
  return vf_budget_wait_us (client->endpoints[protocol].budget, g_get_monotonic_time ());
}

VfProtocol
vf_client_protocol_for_model (VfClient *client, const char *model)
{
  if (!model)
    return DEFAULT_PROTOCOL;
  for (guint i = 0; i < client->routes->len; i++)
    {
      const VfRoute *route = &g_array_index (client->routes, VfRoute, i);

      if (g_pattern_match_simple (route->glob, model))
        return route->protocol;
    }
  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    if (protocols[p]->default_models
        && g_pattern_match_simple (protocols[p]->default_models, model))
      return (VfProtocol)p;
  return DEFAULT_PROTOCOL;
}

/* ----- calls ----- */

VfTask *
vf_client_create (VfClient *client, const VfCreateRequest *request, GError **error)
{
  VfProtocol protocol;

  if (!json_is_object (request->body))
    {
      vf_set_error (error, VF_ERROR_INVALID, "the request body is not a JSON object");
      return NULL;
    }
  protocol = vf_client_protocol_for_model (
      client, json_string_value (json_object_get (request->body, "model")));
  return protocols[protocol]->create (&client->endpoints[protocol], request, error);
}

VfTask *
vf_client_retrieve (VfClient *client, VfProtocol protocol, const char *id, GError **error)
{
  const VfProtoOps *ops = ops_or_error (protocol, error);

  if (!ops || !vf_id_check (id, error))
    return NULL;
  return ops->retrieve (&client->endpoints[protocol], id, error);
}

gboolean
vf_error_means_no_list (const GError *error)
{
  int status = vf_error_http_status (error);

  return status == 404 || status == 405 || status == 501;
}

/* A list answered 404, 405 or 501: the base has none (a gateway's), for
 * every protocol served there; said once. */
static void
learn_no_list (VfClient *client, VfProtocol protocol)
{
  gboolean said = FALSE;

  for (int p = 0; p < VF_N_PROTOCOLS; p++)
    if (g_strcmp0 (client->bases[p], client->bases[protocol]) == 0)
      said |= !g_atomic_int_compare_and_exchange (&client->no_list[p], 0, 1);
  if (!said)
    {
      g_autofree char *shown = vf_http_url_for_message (client->bases[protocol]);

      g_message ("%s has no list of tasks: each job's status is asked on its own, and videos/ "
                 "shows the jobs made here",
                 shown);
    }
}

VfTaskPage *
vf_client_list (VfClient *client, VfProtocol protocol, const char *cursor, int limit,
                GError **error)
{
  const VfProtoOps *ops = ops_or_error (protocol, error);
  g_autoptr (GError) local = NULL;
  VfTaskPage *page;

  if (!ops)
    return NULL;
  if (g_atomic_int_get (&client->no_list[protocol]))
    {
      GError *e = g_error_new (VF_ERROR, VF_ERROR_NOT_FOUND, "%s lists no tasks here", ops->title);

      vf_error_set_http (e, 404, "no_list", e->message, NULL);
      g_propagate_error (error, e);
      return NULL;
    }
  page = ops->list (&client->endpoints[protocol], cursor, limit, &local);
  if (!page)
    {
      if (vf_error_means_no_list (local))
        learn_no_list (client, protocol);
      g_propagate_error (error, g_steal_pointer (&local));
    }
  return page;
}

gboolean
vf_client_delete (VfClient *client, VfProtocol protocol, const char *id, GError **error)
{
  const VfProtoOps *ops = ops_or_error (protocol, error);

  if (!ops || !vf_id_check (id, error))
    return FALSE;
  return ops->delete (&client->endpoints[protocol], id, error);
}

VfTask *
vf_client_remix (VfClient *client, VfProtocol protocol, const char *id, const char *prompt,
                 GError **error)
{
  const VfProtoOps *ops = ops_or_error (protocol, error);

  if (!ops || !vf_id_check (id, error))
    return NULL;
  if (!ops->remix)
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s has no remix", ops->title);
      return NULL;
    }
  if (!prompt || !*prompt)
    {
      vf_set_error (error, VF_ERROR_INVALID, "a remix needs a prompt");
      return NULL;
    }
  return ops->remix (&client->endpoints[protocol], id, prompt, error);
}

/* ----- content ----- */

/* The URL of a variant of a task, and whether it takes the bearer. */
static const VfEndpoint *
content_url (VfClient *client, const VfTask *task, VfVariant variant, char **url, gboolean *bearer,
             GError **error)
{
  const VfProtoOps *ops;

  if (!task || !task->id)
    {
      vf_set_error (error, VF_ERROR_INVALID, "no task");
      return NULL;
    }
  ops = ops_or_error (task->protocol, error);
  if (!ops)
    return NULL;
  if (!vf_protocol_has_variant (task->protocol, variant))
    {
      vf_set_error (error, VF_ERROR_NOT_FOUND, "%s tasks have no %s", ops->title,
                    vf_variant_name (variant));
      return NULL;
    }
  *url = ops->content_url (&client->endpoints[task->protocol], task, variant, error);
  *bearer = ops->content_bearer;
  return *url ? &client->endpoints[task->protocol] : NULL;
}

gboolean
vf_client_content (VfClient *client, const VfTask *task, VfVariant variant, gint64 offset,
                   gint64 length, const char *if_range, VfContentSink sink, gpointer user_data,
                   VfContentInfo *info, GCancellable *cancellable, GError **error)
{
  g_autofree char *url = NULL;
  const VfEndpoint *endpoint;
  gboolean bearer = FALSE;

  if (info)
    vf_content_info_clear (info);
  endpoint = content_url (client, task, variant, &url, &bearer, error);
  if (!endpoint)
    return FALSE;
  return vf_content_get (endpoint, url, bearer, offset, length, if_range, sink, user_data, info,
                         cancellable, error);
}

gboolean
vf_client_content_probe (VfClient *client, const VfTask *task, VfVariant variant,
                         VfContentInfo *info, GError **error)
{
  g_autofree char *url = NULL;
  const VfEndpoint *endpoint;
  gboolean bearer = FALSE;

  vf_content_info_clear (info);
  endpoint = content_url (client, task, variant, &url, &bearer, error);
  if (!endpoint || !vf_content_probe (endpoint, url, bearer, info, error))
    return FALSE;
  if (vf_variant_bytes_fit (variant, info->content_type, info->head, info->head_len))
    return TRUE;
  /* A gateway that ignores `variant` answers the MP4 for every one: a
   * picture that is not one is absent, a video that is not one an error. */
  vf_set_error (error, variant == VF_VARIANT_VIDEO ? VF_ERROR_PROTOCOL : VF_ERROR_NOT_FOUND,
                "the %s of %s is not what %s holds (it came as %s)", vf_variant_name (variant),
                task->id, vf_variant_file_name (variant),
                info->content_type ? info->content_type : "no content type");
  return FALSE;
}
