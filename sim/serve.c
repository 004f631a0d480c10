/* serve.c: answering with content bytes: Range and If-Range, ETag, 416,
 * and the faults that alter a body.  Whole answers and ranges go out with
 * sendfile from the materialised file; answers whose body a fault alters
 * (cut, slow, wrong_length) or the link shaping paces go through a callback
 * reading that file.
 */
#include "shape.h"
#include "sim.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- Range --- */

enum range_result
{
  RANGE_NONE, /* absent or unusable: answer the whole */
  RANGE_OK,
  RANGE_UNSATISFIABLE,
};

static gboolean
parse_digits (const char *s, gsize n, guint64 *out)
{
  guint64 v = 0;

  if (n == 0 || n > 19)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
      v = v * 10 + (guint64)(s[i] - '0');
    }
  *out = v;
  return TRUE;
}

static enum range_result
parse_range (const char *header, guint64 size, guint64 *start, guint64 *len)
{
  const char *spec, *dash, *end;
  guint64 a, b;

  if (!header)
    return RANGE_NONE;
  while (*header == ' ' || *header == '\t')
    header++;
  if (g_ascii_strncasecmp (header, "bytes", 5) != 0)
    return RANGE_NONE;
  spec = header + 5;
  while (*spec == ' ')
    spec++;
  if (*spec != '=')
    return RANGE_NONE;
  spec++;
  while (*spec == ' ')
    spec++;
  if (strchr (spec, ','))
    return RANGE_NONE;
  dash = strchr (spec, '-');
  if (!dash)
    return RANGE_NONE;
  end = dash + 1 + strlen (dash + 1);
  while (end > dash + 1 && (end[-1] == ' ' || end[-1] == '\t'))
    end--;

  if (dash == spec)
    {
      if (!parse_digits (dash + 1, (gsize)(end - dash - 1), &b))
        return RANGE_NONE;
      if (b == 0)
        return RANGE_UNSATISFIABLE;
      *start = b < size ? size - b : 0;
      *len = size - *start;
      return RANGE_OK;
    }
  if (!parse_digits (spec, (gsize)(dash - spec), &a))
    return RANGE_NONE;
  if (end == dash + 1)
    b = G_MAXUINT64;
  else if (!parse_digits (dash + 1, (gsize)(end - dash - 1), &b))
    return RANGE_NONE;
  if (b < a)
    return RANGE_NONE;
  if (a >= size)
    return RANGE_UNSATISFIABLE;
  *start = a;
  *len = MIN (b, size - 1) - a + 1;
  return RANGE_OK;
}

/* --- bodies a fault alters --- */

struct stream
{
  int fd;
  guint64 offset;
  guint64 stop_at; /* body bytes to send before closing; the declared length when all */
  guint64 rate;
  gint64 t0;
  gboolean shaped;
  struct sim_pace pace;
};

static ssize_t
stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
  struct stream *s = cls;
  gsize n;
  ssize_t got;

  if (pos >= s->stop_at)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  n = (gsize)MIN ((guint64)max, s->stop_at - pos);
  if (s->rate)
    {
      gint64 due_us;

      n = (gsize)MIN ((guint64)n, MAX (s->rate / 20, 1));
      due_us = (gint64)((double)(pos + n) * 1e6 / (double)s->rate);
      if (!sim_sleep_ms ((due_us - (g_get_monotonic_time () - s->t0)) / 1000))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  if (s->shaped)
    {
      n = MIN (n, sim_shape_step ());
      if (!sim_shape_pace (&s->pace, n))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  do
    got = pread (s->fd, buf, n, (off_t)(s->offset + pos));
  while (got < 0 && errno == EINTR);
  if (got <= 0)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  sim_stats_add_content_bytes ((guint64)got);
  return got;
}

static void
stream_free (void *cls)
{
  struct stream *s = cls;

  close (s->fd);
  g_free (s);
}

void
sim_content_take_faults (enum sim_call call, struct sim_content_faults *f)
{
  struct sim_fault_hit hit;

  memset (f, 0, sizeof *f);
  f->cut_after = -1;
  f->short_by = -1;
  if (sim_faults_take (SIM_FAULT_JSON_CONTENT, call, &hit))
    {
      f->json_content = TRUE;
      return;
    }
  f->no_ranges = sim_faults_take (SIM_FAULT_NO_RANGES, call, &hit);
  f->bad_range = sim_faults_take (SIM_FAULT_BAD_RANGE, call, &hit);
  if (sim_faults_take (SIM_FAULT_CUT, call, &hit))
    f->cut_after = (gint64)hit.number;
  if (sim_faults_take (SIM_FAULT_SLOW, call, &hit))
    f->slow_rate = hit.number;
  if (sim_faults_take (SIM_FAULT_WRONG_LENGTH, call, &hit))
    f->short_by = (gint64)hit.number;
}

static void
add_common (struct MHD_Response *r, const char *content_type, const char *etag, gboolean ranges,
            gint64 last_modified_ms)
{
  MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  MHD_add_response_header (r, MHD_HTTP_HEADER_ETAG, etag);
  if (ranges)
    MHD_add_response_header (r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
  if (last_modified_ms > 0)
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (last_modified_ms / 1000);
      g_autofree char *date = t ? g_date_time_format (t, "%a, %d %b %Y %H:%M:%S GMT") : NULL;
      if (date)
        MHD_add_response_header (r, MHD_HTTP_HEADER_LAST_MODIFIED, date);
    }
}

enum MHD_Result
sim_content_reply (struct sim_request *req, const char *id, enum sim_variant variant,
                   const struct sim_content_faults *faults, gint64 last_modified_ms)
{
  static const struct sim_content_faults none = { .cut_after = -1, .short_by = -1 };
  g_autoptr (GError) error = NULL;
  struct MHD_Response *r;
  struct stat st;
  char etag[40];
  guint64 size, start = 0, len;
  enum range_result range = RANGE_NONE;
  unsigned int status = MHD_HTTP_OK;
  gboolean shaped
      = sim_shape_paced () && !req->is_head && req->route && req->route->api != SIM_ROUTE_CONTROL;
  int fd;

  if (!faults)
    faults = &none;
  if (faults->json_content)
    {
      g_autoptr (json_t) body
          = json_pack ("{s:{s:s, s:s, s:n, s:s}}", "error", "message",
                       "The server had an error while processing your request. Sorry about that!",
                       "type", "server_error", "param", "code", "server_error");
      return sim_reply_json (req, MHD_HTTP_OK, g_steal_pointer (&body));
    }

  fd = sim_content_open (id, variant, &error);
  if (fd < 0 || fstat (fd, &st) < 0)
    {
      if (fd >= 0)
        close (fd);
      return sim_reply_openai_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error", NULL,
                                     NULL, "%s", error ? error->message : "fstat failed");
    }
  size = (guint64)st.st_size;
  len = size;
  sim_content_etag (id, variant, etag, sizeof etag);

  if (!faults->no_ranges)
    {
      const char *header
          = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
      const char *if_range
          = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_RANGE);
      range = parse_range (header, size, &start, &len);
      if (range != RANGE_NONE && if_range && !g_str_equal (if_range, etag))
        {
          range = RANGE_NONE;
          start = 0;
          len = size;
        }
    }

  if (range == RANGE_UNSATISFIABLE)
    {
      g_autofree char *cr = g_strdup_printf ("bytes */%" G_GUINT64_FORMAT, size);
      g_autoptr (json_t) body = json_pack (
          "{s:{s:s, s:s, s:n, s:s}}", "error", "message", "Requested range not satisfiable.",
          "type", "invalid_request_error", "param", "code", "range_not_satisfiable");
      gsize blen = 0;
      char *text = sim_dump (body, &blen);

      close (fd);
      r = MHD_create_response_from_buffer (blen, text, MHD_RESPMEM_MUST_FREE);
      MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
      add_common (r, "application/json", etag, TRUE, 0);
      return sim_reply_response (req, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
    }
  if (range == RANGE_OK)
    status = MHD_HTTP_PARTIAL_CONTENT;
  if (faults->bad_range)
    {
      /* starts one byte after the asked start (at 0 when that is past the end) */
      start = start + 1 < size ? start + 1 : 0;
      len = MIN (len, size - start);
      status = MHD_HTTP_PARTIAL_CONTENT;
    }

  if (faults->cut_after >= 0 || faults->slow_rate || faults->short_by >= 0 || shaped)
    {
      struct stream *s = g_new0 (struct stream, 1);

      s->fd = fd;
      s->offset = start;
      s->stop_at = len;
      if (faults->cut_after >= 0)
        s->stop_at = MIN (s->stop_at, (guint64)faults->cut_after);
      if (faults->short_by >= 0)
        s->stop_at = (guint64)faults->short_by < s->stop_at ? s->stop_at - faults->short_by : 0;
      s->rate = faults->slow_rate;
      s->t0 = g_get_monotonic_time ();
      s->shaped = shaped;
      r = MHD_create_response_from_callback (len, 64 * 1024, stream_read, s, stream_free);
    }
  else
    {
      r = MHD_create_response_from_fd_at_offset64 (len, fd, start);
      if (r && !req->is_head && req->call != SIM_CALL_NONE)
        req->fd_body_len = len;
    }
  if (!r)
    {
      close (fd);
      return MHD_NO;
    }
  add_common (r, sim_variant_type (variant), etag, !faults->no_ranges, last_modified_ms);
  if (status == MHD_HTTP_PARTIAL_CONTENT)
    {
      g_autofree char *cr
          = g_strdup_printf ("bytes %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT,
                             start, start + len - 1, size);
      MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
  return sim_reply_response (req, status, r);
}
