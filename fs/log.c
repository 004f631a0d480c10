/* log.c: where a running mount's messages go.
 *
 * Before fuse_daemonize() every failure is one line on stderr, printed by
 * main().  After it, what lib/ logs (g_message for a failed write or a
 * download started again, g_warning and worse for what should not happen)
 * and what libfuse logs goes:
 * - with -f (and -d): to stderr, through GLib's default writer;
 * - in the background, where stderr is /dev/null: to syslog(3), facility
 *   daemon, ident "videofs" with the pid.  On a systemd machine journald
 *   reads the syslog socket itself, so the messages reach the journal
 *   with the same ident and priority; one path serves both kinds of
 *   system, and there is no fallback to get wrong.
 * g_info and g_debug stay out unless G_MESSAGES_DEBUG asks for them, as
 * GLib's default writer has it.  The -d output (vf_debug) is separate: it
 * exists only with -d, which implies -f, so it always goes to stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <fuse_log.h>

#include "videofs.h"

gboolean vf_debugging;

void
vf_debug_print (const char *format, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  fprintf (stderr, "videofs: %s\n", msg);
}

/* The priorities GLib gives the levels when it writes to the journal
 * (GLib 2.80 has a syslog writer of its own; we build with older ones). */
static int
syslog_priority (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return LOG_ERR;
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    return LOG_WARNING;
  if (level & G_LOG_LEVEL_MESSAGE)
    return LOG_NOTICE;
  if (level & G_LOG_LEVEL_INFO)
    return LOG_INFO;
  if (level & G_LOG_LEVEL_DEBUG)
    return LOG_DEBUG;
  return LOG_NOTICE;
}

static GLogWriterOutput
syslog_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *domain = NULL;
  const char *message = "";
  gssize message_len = -1;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp (fields[i].key, "MESSAGE") == 0)
        {
          message = fields[i].value;
          message_len = fields[i].length;
        }
      else if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
    }
  if (g_log_writer_default_would_drop (level, domain))
    return G_LOG_WRITER_HANDLED;
  if (message_len < 0)
    message_len = (gssize)strlen (message);
  /* our own domain goes without a prefix; GLib's and GIO's name theirs */
  if (domain && strcmp (domain, G_LOG_DOMAIN) != 0)
    syslog (syslog_priority (level), "%s: %.*s", domain, (int)message_len, message);
  else
    syslog (syslog_priority (level), "%.*s", (int)message_len, message);
  return G_LOG_WRITER_HANDLED;
}

/* libfuse's levels are syslog's. */
static void
fuse_syslog (enum fuse_log_level level, const char *format, va_list ap)
{
  vsyslog ((int)level, format, ap);
}

void
vf_log_start (gboolean foreground)
{
  if (foreground)
    return;
  openlog ("videofs", LOG_PID, LOG_DAEMON);
  g_log_set_writer_func (syslog_writer, NULL, NULL);
  fuse_set_log_func (fuse_syslog);
}
