/* options.c: the command line, the config file and the token.
 *
 * -o options come first, the [videofs] section of the config file fills
 * what they left out; vf_options_finish() then turns the strings into
 * settings, refusing any it cannot take with a one-line reason.  The token
 * is read last, from token_file or the environment, and the variables are
 * wiped so that nothing we start inherits them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vf-error.h"
#include "videofs.h"

#define DEFAULT_ENDPOINT "https://api.openai.com/v1"
#define DEFAULT_ARK_ENDPOINT "https://ark.cn-beijing.volces.com/api/v3"
#define DEFAULT_GEMINI_ENDPOINT "https://generativelanguage.googleapis.com/v1beta"
#define DEFAULT_IMAGE_MODEL "gpt-image-1"

/* clang-format off */
enum
{
  KEY_HELP,
  KEY_VERSION,
  KEY_FOREGROUND,
  KEY_DEBUG,
  KEY_SINGLE,
  KEY_DROP,
};

#define VF_OPT(t, p, v) { t, offsetof (VfOptions, p), v }

/* Every "key=%s" option can be set in the config file too. */
static const struct fuse_opt vf_opts[] = {
  VF_OPT ("endpoint=%s", endpoint, 0),
  VF_OPT ("token_file=%s", token_file, 0),
  VF_OPT ("model=%s", model, 0),
  VF_OPT ("seconds=%s", seconds, 0),
  VF_OPT ("size=%s", size, 0),
  VF_OPT ("poll=%s", poll, 0),
  VF_OPT ("state_dir=%s", state_dir, 0),
  VF_OPT ("cache_dir=%s", cache_dir, 0),
  VF_OPT ("prefetch=%s", prefetch, 0),
  VF_OPT ("cache_max=%s", cache_max, 0),
  VF_OPT ("events_max=%s", events_max, 0),
  VF_OPT ("ark_endpoint=%s", ark_endpoint, 0),
  VF_OPT ("delete_remote=%s", delete_remote, 0),
  VF_OPT ("seedance_via=%s", seedance_via, 0),
  VF_OPT ("image_model=%s", image_model, 0),
  VF_OPT ("image_routes=%s", image_routes, 0),
  VF_OPT ("image_wait=%s", image_wait, 0),
  VF_OPT ("gemini_endpoint=%s", gemini_endpoint, 0),
  VF_OPT ("gemini_auth=%s", gemini_auth, 0),
  FUSE_OPT_KEY ("-h", KEY_HELP),
  FUSE_OPT_KEY ("--help", KEY_HELP),
  FUSE_OPT_KEY ("-V", KEY_VERSION),
  FUSE_OPT_KEY ("--version", KEY_VERSION),
  FUSE_OPT_KEY ("-f", KEY_FOREGROUND),
  FUSE_OPT_KEY ("-d", KEY_DEBUG),
  FUSE_OPT_KEY ("debug", KEY_DEBUG),
  FUSE_OPT_KEY ("-s", KEY_SINGLE),
  /* what mount(8) and fstab lines add, meaningless here */
  FUSE_OPT_KEY ("defaults", KEY_DROP),
  FUSE_OPT_KEY ("auto", KEY_DROP),
  FUSE_OPT_KEY ("noauto", KEY_DROP),
  FUSE_OPT_KEY ("user", KEY_DROP),
  FUSE_OPT_KEY ("users", KEY_DROP),
  FUSE_OPT_KEY ("nouser", KEY_DROP),
  FUSE_OPT_KEY ("nofail", KEY_DROP),
  FUSE_OPT_KEY ("_netdev", KEY_DROP),
  FUSE_OPT_KEY ("relatime", KEY_DROP),
  FUSE_OPT_KEY ("norelatime", KEY_DROP),
  FUSE_OPT_KEY ("strictatime", KEY_DROP),
  FUSE_OPT_KEY ("nodiratime", KEY_DROP),
  FUSE_OPT_KEY ("comment=", KEY_DROP),
  FUSE_OPT_END
};

/* Mount options passed on to libfuse as they are.  The cache time-outs
 * are not among them: live files need them at 0 (see ops.c). */
static const char *const fuse_passed[] = {
  "allow_other", "allow_root", "auto_unmount", "default_permissions", "fsname=", "subtype=",
  "max_read=", "ro", "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime",
  "sync", "async", "dirsync", "umask=", "uid=", "gid=", "kernel_cache", "auto_cache",
  "noauto_cache", "no_rofd_flush", "noforget", "remember=", NULL,
};
/* clang-format on */

/* The field of string option `key`, or NULL when there is none. */
static char **
string_field (VfOptions *opts, const char *key)
{
  size_t n = strlen (key);

  for (const struct fuse_opt *o = vf_opts; o->templ; o++)
    if (strncmp (o->templ, key, n) == 0 && strcmp (o->templ + n, "=%s") == 0)
      return (char **)((char *)opts + o->offset);
  return NULL;
}

static gboolean
passed_to_fuse (const char *arg)
{
  for (const char *const *p = fuse_passed; *p; p++)
    {
      size_t n = strlen (*p);
      if ((*p)[n - 1] == '=' ? strncmp (arg, *p, n) == 0 : strcmp (arg, *p) == 0)
        return TRUE;
    }
  return FALSE;
}

static int
vf_opt_proc (void *data, const char *arg, int key, struct fuse_args *outargs)
{
  VfOptions *opts = data;

  switch (key)
    {
    case KEY_HELP:
      opts->show_help = 1;
      return 0;
    case KEY_VERSION:
      opts->show_version = 1;
      return 0;
    case KEY_FOREGROUND:
      opts->foreground = 1;
      return 0;
    case KEY_DEBUG:
      opts->debug = 1;
      opts->foreground = 1;
      return 1; /* libfuse's debug output too */
    case KEY_SINGLE:
      opts->singlethread = 1;
      return 0;
    case KEY_DROP:
      return 0;
    case FUSE_OPT_KEY_NONOPT:
      if (opts->n_args < 2)
        {
          opts->args[opts->n_args++] = g_strdup (arg);
          return 0;
        }
      if (!opts->bad)
        opts->bad = g_strdup_printf ("too many arguments: '%s'", arg);
      return 0;
    case FUSE_OPT_KEY_OPT:
      if (g_str_has_prefix (arg, "x-") || passed_to_fuse (arg))
        return g_str_has_prefix (arg, "x-") ? 0 : 1;
      if (!opts->bad)
        opts->bad = g_strdup_printf ("unknown option '%s' (see videofs -h)", arg);
      return 0;
    default:
      return 1;
    }
}

int
vf_options_parse (struct fuse_args *args, VfOptions *opts)
{
  return fuse_opt_parse (args, opts, vf_opts, vf_opt_proc);
}

void
vf_options_usage (const char *progname)
{
  printf ("usage: %s [options] MOUNTPOINT\n"
          "       fusermount3 -u MOUNTPOINT\n"
          "\n"
          "Mounts a video-generation API (OpenAI Videos, Volcengine Ark) as files.\n"
          "\n"
          "general options:\n"
          "    -o opt,[opt...]        mount options\n"
          "    -h   --help            print help\n"
          "    -V   --version         print version\n"
          "    -f                     stay in the foreground\n"
          "    -d   -o debug          debug output (implies -f)\n"
          "    -s                     single-threaded\n"
          "\n"
          "videofs options (also in $XDG_CONFIG_HOME/videofs/config, section [videofs]):\n"
          "    -o endpoint=URL        API base URL with /v1 (" DEFAULT_ENDPOINT ")\n"
          "    -o token_file=PATH     file holding the token (else $VIDEOFS_TOKEN,\n"
          "                           else $OPENAI_API_KEY); must be mode 600\n"
          "    -o model=M             default model (" VF_PROMPT_DEFAULT_MODEL ")\n"
          "    -o seconds=S           default length, 1 to 60 (" VF_PROMPT_DEFAULT_SECONDS ")\n"
          "    -o size=WxH            default size (" VF_PROMPT_DEFAULT_SIZE ")\n"
          "    -o poll=SECONDS        refresh unfinished jobs this often (5)\n"
          "    -o state_dir=DIR       jobs and the journal ($XDG_STATE_HOME/videofs/ENDPOINT)\n"
          "    -o cache_dir=DIR       downloaded bytes ($XDG_CACHE_HOME/videofs/ENDPOINT)\n"
          "    -o prefetch=yes|no     fetch a finished video at once (yes)\n"
          "    -o cache_max=SIZE      cap on the cache, suffixes K M G (unlimited)\n"
          "    -o events_max=SIZE     bytes of recent lines events keeps, 4K or more (4M)\n"
          "    -o ark_endpoint=URL    Ark task API base (" DEFAULT_ARK_ENDPOINT ")\n"
          "    -o delete_remote=yes|no  rm -r jobs/NAME deletes on the API too (no)\n"
          "    -o seedance_via=ark|gateway  Seedance to ark_endpoint, or to a gateway's\n"
          "                           POST /videos at endpoint (ark)\n"
          "    -o image_model=M       default model of images/ (" DEFAULT_IMAGE_MODEL ")\n"
          "    -o image_routes=GLOB=openai|ark|gemini[:...]  image models to protocols\n"
          "    -o image_wait=SECONDS  how long close() in images/ waits for the answer (2)\n"
          "    -o gemini_endpoint=URL Gemini API base (" DEFAULT_GEMINI_ENDPOINT ")\n"
          "    -o gemini_auth=bearer|key  the token as a bearer or as x-goog-api-key\n"
          "                           (key for Google's own host, else bearer)\n"
          "\n",
          progname);
}

static gboolean
parse_bool (const char *key, const char *value, gboolean *out, GError **error)
{
  if (g_ascii_strcasecmp (value, "yes") == 0 || g_ascii_strcasecmp (value, "true") == 0
      || g_ascii_strcasecmp (value, "on") == 0 || strcmp (value, "1") == 0)
    *out = TRUE;
  else if (g_ascii_strcasecmp (value, "no") == 0 || g_ascii_strcasecmp (value, "false") == 0
           || g_ascii_strcasecmp (value, "off") == 0 || strcmp (value, "0") == 0)
    *out = FALSE;
  else
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s=%s: want yes or no", key, value);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_size (const char *key, const char *value, guint64 *out, GError **error)
{
  char *end = NULL;
  guint64 n;
  guint shift = 0;

  errno = 0;
  n = g_ascii_strtoull (value, &end, 10);
  if (errno || end == value)
    goto bad;
  switch (g_ascii_toupper (*end))
    {
    case '\0':
      break;
    case 'K':
      shift = 10;
      break;
    case 'M':
      shift = 20;
      break;
    case 'G':
      shift = 30;
      break;
    case 'T':
      shift = 40;
      break;
    default:
      goto bad;
    }
  if (*end)
    {
      end++;
      if (g_ascii_strcasecmp (end, "iB") == 0 || g_ascii_strcasecmp (end, "B") == 0)
        end += strlen (end);
      if (*end)
        goto bad;
    }
  if (shift && n > (G_MAXUINT64 >> shift))
    goto bad;
  *out = n << shift;
  return TRUE;

bad:
  vf_set_error (error, VF_ERROR_INVALID, "%s=%s: want a size such as 500M or 2G", key, value);
  return FALSE;
}

/* One directory per endpoint: "https://api.openai.com/v1" -> "api.openai.com_v1". */
static char *
endpoint_slug (const char *endpoint)
{
  const char *p = strstr (endpoint, "://");
  GString *s = g_string_new (NULL);

  for (p = p ? p + 3 : endpoint; *p; p++)
    g_string_append_c (s, g_ascii_isalnum (*p) || *p == '.' || *p == '-' ? *p : '_');
  while (s->len > 0 && s->str[s->len - 1] == '_')
    g_string_truncate (s, s->len - 1);
  return g_string_free (s, FALSE);
}

static char *
state_home (void)
{
  const char *env = g_getenv ("XDG_STATE_HOME");
  if (env && g_path_is_absolute (env))
    return g_strdup (env);
  return g_build_filename (g_get_home_dir (), ".local", "state", NULL);
}

static gboolean
load_config (VfOptions *opts, GError **error)
{
  g_autofree char *path = g_build_filename (g_get_user_config_dir (), "videofs", "config", NULL);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) keys = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      vf_set_error (error, VF_ERROR_INVALID, "%s: %s", path, local->message);
      return FALSE;
    }
  if (!g_key_file_has_group (kf, "videofs"))
    return TRUE;
  keys = g_key_file_get_keys (kf, "videofs", NULL, NULL);
  for (guint i = 0; keys && keys[i]; i++)
    {
      char **field = string_field (opts, keys[i]);
      if (!field)
        {
          vf_set_error (error, VF_ERROR_INVALID, "%s: unknown key '%s'", path, keys[i]);
          return FALSE;
        }
      if (*field)
        continue; /* the command line wins */
      *field = g_key_file_get_string (kf, "videofs", keys[i], NULL);
    }
  return TRUE;
}

static char *
strip_slashes (char *url)
{
  size_t n = strlen (url);
  while (n > 0 && url[n - 1] == '/')
    url[--n] = '\0';
  return url;
}

static char *
absolute (const char *path)
{
  return g_canonicalize_filename (path, NULL);
}

gboolean
vf_options_finish (VfOptions *opts, VfSettings *set, GError **error)
{
  if (opts->bad)
    {
      vf_set_error (error, VF_ERROR_INVALID, "%s", opts->bad);
      return FALSE;
    }
  if (!load_config (opts, error))
    return FALSE;
  if (opts->n_args == 0)
    {
      vf_set_error (error, VF_ERROR_INVALID, "no mount point given (see videofs -h)");
      return FALSE;
    }

  /* mount.fuse3 calls "videofs SOURCE MOUNTPOINT -o ..." for fstab lines */
  const char *mp = opts->args[opts->n_args - 1];
  char real[PATH_MAX];
  if (!realpath (mp, real))
    {
      vf_set_error (error, VF_ERROR_INVALID, "bad mount point '%s': %s", mp, g_strerror (errno));
      return FALSE;
    }
  if (!g_file_test (real, G_FILE_TEST_IS_DIR))
    {
      vf_set_error (error, VF_ERROR_INVALID, "bad mount point '%s': Not a directory", mp);
      return FALSE;
    }
  set->mountpoint = g_strdup (real);

  if (!opts->endpoint)
    opts->endpoint = g_strdup (DEFAULT_ENDPOINT);
  strip_slashes (opts->endpoint);
  if (!opts->ark_endpoint)
    opts->ark_endpoint = g_strdup (DEFAULT_ARK_ENDPOINT);
  strip_slashes (opts->ark_endpoint);
  /* held to the rules of front matter now, not at every submission */
  vf_prompt_defaults_init (&set->defaults);
  if (opts->model)
    set->defaults.model = opts->model;
  if (opts->seconds)
    set->defaults.seconds = opts->seconds;
  if (opts->size)
    set->defaults.size = opts->size;
  if (!vf_prompt_defaults_check (&set->defaults, error))
    return FALSE;

  set->poll_s = 5;
  if (opts->poll)
    {
      char *end = NULL;
      set->poll_s = g_ascii_strtod (opts->poll, &end);
      if (end == opts->poll || *end || !isfinite (set->poll_s) || set->poll_s <= 0
          || set->poll_s > 86400)
        {
          vf_set_error (error, VF_ERROR_INVALID, "poll=%s: want seconds, such as 5 or 0.5",
                        opts->poll);
          return FALSE;
        }
    }
  set->prefetch = TRUE;
  if (opts->prefetch && !parse_bool ("prefetch", opts->prefetch, &set->prefetch, error))
    return FALSE;
  set->delete_remote = FALSE;
  if (opts->delete_remote
      && !parse_bool ("delete_remote", opts->delete_remote, &set->delete_remote, error))
    return FALSE;
  /* Seedance through a new-api gateway: its own protocol at the endpoint */
  set->routes = NULL;
  if (opts->seedance_via && strcmp (opts->seedance_via, "gateway") == 0)
    {
      static const char *const via_gateway[] = { "doubao-seedance-*=newapi", NULL };
      set->routes = via_gateway;
    }
  else if (opts->seedance_via && strcmp (opts->seedance_via, "ark") != 0)
    {
      vf_set_error (error, VF_ERROR_INVALID, "seedance_via=%s: want ark or gateway",
                    opts->seedance_via);
      return FALSE;
    }
  if (!opts->gemini_endpoint)
    opts->gemini_endpoint = g_strdup (DEFAULT_GEMINI_ENDPOINT);
  strip_slashes (opts->gemini_endpoint);
  set->image_model = opts->image_model ? opts->image_model : DEFAULT_IMAGE_MODEL;
  if (!*set->image_model)
    {
      vf_set_error (error, VF_ERROR_INVALID, "image_model= wants a model name");
      return FALSE;
    }
  set->image_routes = opts->image_routes ? g_strsplit (opts->image_routes, ":", -1) : NULL;
  set->image_wait_s = 2;
  if (opts->image_wait)
    {
      char *end = NULL;
      set->image_wait_s = g_ascii_strtod (opts->image_wait, &end);
      if (end == opts->image_wait || *end || !isfinite (set->image_wait_s) || set->image_wait_s < 0
          || set->image_wait_s > 600)
        {
          vf_set_error (error, VF_ERROR_INVALID,
                        "image_wait=%s: want seconds from 0 to 600, such as 2 or 0.5",
                        opts->image_wait);
          return FALSE;
        }
    }
  set->cache_max = 0;
  if (opts->cache_max && !parse_size ("cache_max", opts->cache_max, &set->cache_max, error))
    return FALSE;
  set->events_max = VF_JOBS_EVENTS_DEFAULT;
  if (opts->events_max)
    {
      if (!parse_size ("events_max", opts->events_max, &set->events_max, error))
        return FALSE;
      if (set->events_max < VF_JOBS_EVENTS_MIN || set->events_max > G_MAXSIZE / 2)
        {
          vf_set_error (error, VF_ERROR_INVALID, "events_max=%s: want %d bytes (4K) or more",
                        opts->events_max, VF_JOBS_EVENTS_MIN);
          return FALSE;
        }
    }

  g_autofree char *slug = endpoint_slug (opts->endpoint);
  char *dir;
  if (!opts->state_dir)
    {
      g_autofree char *home = state_home ();
      opts->state_dir = g_build_filename (home, "videofs", slug, NULL);
    }
  dir = absolute (opts->state_dir);
  g_free (opts->state_dir);
  opts->state_dir = dir;
  if (!opts->cache_dir)
    opts->cache_dir = g_build_filename (g_get_user_cache_dir (), "videofs", slug, NULL);
  dir = absolute (opts->cache_dir);
  g_free (opts->cache_dir);
  opts->cache_dir = dir;
  return TRUE;
}

/* The token: token_file, else $VIDEOFS_TOKEN, else $OPENAI_API_KEY.  Both
 * variables leave our environment, so nothing we start inherits them. */
char *
vf_options_token (const VfOptions *opts, GError **error)
{
  g_autofree char *env = NULL;
  char *token = NULL;

  static const char *const vars[] = { "VIDEOFS_TOKEN", "OPENAI_API_KEY" };
  for (gsize i = 0; i < G_N_ELEMENTS (vars); i++)
    {
      char *value = getenv (vars[i]);
      if (!value)
        continue;
      if (!env && *value)
        env = g_strdup (value);
      /* wiped where it lies too, so /proc/PID/environ does not show it */
      explicit_bzero (value, strlen (value));
      g_unsetenv (vars[i]);
    }

  if (opts->token_file)
    {
      struct stat st;
      char buf[4096];
      ssize_t n;
      int fd = open (opts->token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);

      if (fd < 0 || fstat (fd, &st) < 0)
        {
          int e = errno;
          if (fd >= 0)
            close (fd);
          vf_set_error (error, VF_ERROR_INVALID, "token file %s: %s", opts->token_file,
                        g_strerror (e));
          goto out;
        }
      if (!S_ISREG (st.st_mode))
        {
          close (fd);
          vf_set_error (error, VF_ERROR_INVALID, "token file %s is not a regular file",
                        opts->token_file);
          goto out;
        }
      if (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH))
        {
          close (fd);
          vf_set_error (error, VF_ERROR_INVALID,
                        "token file %s is readable or writable by group or others "
                        "(mode %04o); run chmod 600 %s",
                        opts->token_file, (unsigned)(st.st_mode & 07777), opts->token_file);
          goto out;
        }
      n = read (fd, buf, sizeof buf - 1);
      close (fd);
      if (n < 0)
        {
          vf_set_error (error, VF_ERROR_INVALID, "token file %s: %s", opts->token_file,
                        g_strerror (errno));
          goto out;
        }
      buf[n] = '\0';
      token = g_strstrip (g_strdup (buf));
      explicit_bzero (buf, sizeof buf);
      if (!*token || strpbrk (token, " \t\r\n"))
        {
          vf_set_error (error, VF_ERROR_INVALID, "token file %s does not hold a token on one line",
                        opts->token_file);
          explicit_bzero (token, strlen (token));
          g_clear_pointer (&token, g_free);
        }
      goto out;
    }
  if (env && *g_strstrip (env))
    {
      token = g_steal_pointer (&env);
      goto out;
    }
  vf_set_error (error, VF_ERROR_AUTH,
                "no token: give -o token_file=PATH, or set VIDEOFS_TOKEN or OPENAI_API_KEY");

out:
  if (env)
    explicit_bzero (env, strlen (env));
  return token;
}

void
vf_options_clear (VfOptions *opts, VfSettings *set)
{
  for (const struct fuse_opt *o = vf_opts; o->templ; o++)
    if (g_str_has_suffix (o->templ, "=%s"))
      {
        char **field = (char **)((char *)opts + o->offset);
        /* fuse_opt_parse allocates with malloc, the config with g_malloc */
        free (*field);
      }
  g_free (opts->args[0]);
  g_free (opts->args[1]);
  g_free (opts->bad);
  g_free (set->mountpoint);
  g_strfreev (set->image_routes);
}
