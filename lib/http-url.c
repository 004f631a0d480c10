/* http-url.c: which URLs may be used, how they are shown, their origins. */
#include "vf-http.h"

#include <curl/curl.h>
#include <string.h>

#include "vf-error.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CURLU, curl_url_cleanup)

static gboolean
host_is_loopback (const char *host)
{
  g_autofree char *bare = NULL;
  g_autoptr (GInetAddress) address = NULL;
  gsize len = strlen (host);

  if (g_ascii_strcasecmp (host, "localhost") == 0 || g_ascii_strcasecmp (host, "localhost.") == 0)
    return TRUE;
  if (len > 2 && host[0] == '[' && host[len - 1] == ']')
    bare = g_strndup (host + 1, len - 2);
  else
    bare = g_strdup (host);
  address = g_inet_address_new_from_string (bare);
  return address && g_inet_address_get_is_loopback (address);
}

static CURLU *
parse_url (const char *url)
{
  CURLU *u = curl_url ();

  if (curl_url_set (u, CURLUPART_URL, url, 0) != CURLUE_OK)
    {
      curl_url_cleanup (u);
      return NULL;
    }
  return u;
}

static char *
url_part (CURLU *u, CURLUPart part, unsigned flags)
{
  char *value = NULL;
  char *copy;

  if (curl_url_get (u, part, &value, flags) != CURLUE_OK)
    return NULL;
  copy = g_strdup (value);
  curl_free (value);
  return copy;
}

char *
vf_http_url_for_message (const char *url)
{
  g_autoptr (CURLU) u = parse_url (url);
  char *shown;

  if (!u)
    return g_strdup ("(bad URL)");
  curl_url_set (u, CURLUPART_USER, NULL, 0);
  curl_url_set (u, CURLUPART_PASSWORD, NULL, 0);
  curl_url_set (u, CURLUPART_QUERY, NULL, 0);
  curl_url_set (u, CURLUPART_FRAGMENT, NULL, 0);
  shown = url_part (u, CURLUPART_URL, 0);
  return shown ? shown : g_strdup ("(bad URL)");
}

gboolean
vf_http_url_allowed (const char *url, GError **error)
{
  g_autoptr (CURLU) u = url ? parse_url (url) : NULL;
  g_autofree char *scheme = NULL;
  g_autofree char *host = NULL;

  if (!u)
    {
      vf_set_error (error, VF_ERROR_INVALID, "not a URL: %s", url ? url : "(none)");
      return FALSE;
    }
  scheme = url_part (u, CURLUPART_SCHEME, 0);
  host = url_part (u, CURLUPART_HOST, 0);
  if (!scheme || !host || !*host)
    {
      vf_set_error (error, VF_ERROR_INVALID, "not a URL with a host: %s", url);
      return FALSE;
    }
  if (g_ascii_strcasecmp (scheme, "https") == 0)
    return TRUE;
  if (g_ascii_strcasecmp (scheme, "http") == 0)
    {
      if (host_is_loopback (host))
        return TRUE;
      vf_set_error (error, VF_ERROR_INVALID,
                    "plain http:// is allowed only to a loopback address, not to %s: use https://",
                    host);
      return FALSE;
    }
  vf_set_error (error, VF_ERROR_INVALID, "unsupported URL scheme %s: in %s", scheme, url);
  return FALSE;
}

char *
vf_http_url_origin (const char *url)
{
  g_autoptr (CURLU) u = parse_url (url);
  g_autofree char *scheme = NULL;
  g_autofree char *host = NULL;
  g_autofree char *port = NULL;
  g_autofree char *origin = NULL;

  if (!u)
    return NULL;
  scheme = url_part (u, CURLUPART_SCHEME, 0);
  host = url_part (u, CURLUPART_HOST, 0);
  port = url_part (u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!scheme || !host)
    return NULL;
  origin = g_strdup_printf ("%s://%s:%s", scheme, host, port ? port : "");
  return g_ascii_strdown (origin, -1);
}
