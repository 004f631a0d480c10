/* cache-fetch.c: downloads.  A stream runs on a pool thread, one request
 * after another: it plans the next range under the lock, fetches it with
 * none held, and writes each piece of the answer to the part file before
 * it records it as present. */
#include "cache-private.h"

#include <string.h>

typedef struct
{
  VfCache *cache;
  Stream *s;
  Entry *e;
  VfTask *task;
  gint64 offset;
  gint64 length;
  char *if_range;
  gboolean ranged;
  int fd;
  guint gen;
  gboolean first;
  gint64 cursor;       /* where the next byte of the answer goes */
  gint64 limit;        /* where the answer ends */
  gint64 written;      /* bytes it added to the cache */
  gboolean superseded; /* stopped on purpose: others fetch the rest */
  gboolean final;      /* failed in a way no retry mends */
  gboolean finished;   /* it completed the file */
  gboolean broken;     /* a reset made no new file: a failure, not a stop */
  VfContentInfo info;
  gint64 started; /* monotonic µs when the request was sent */
  char *batch;    /* bytes that arrived and are not written yet */
  gsize batch_len;
  gsize batched; /* bytes of the answer written through the batch */
} Fetch;

static void
fetch_clear (Fetch *f)
{
  vf_task_free (f->task);
  g_free (f->if_range);
  g_free (f->batch);
  vf_content_info_clear (&f->info);
}

/* Chooses the stream's next request.  FALSE: nothing for it to do. */
static gboolean
plan_locked (VfCache *cache, Stream *s, Fetch *f)
{
  Entry *e = s->entry;
  gint64 g;
  gint64 end;
  gboolean wrapped = FALSE;

  if (!e->task || e->fd < 0 || vf_range_set_contains (e->present, 0, e->total))
    return FALSE;
  if (e->no_ranges || s->whole)
    {
      for (guint i = 0; i < e->streams->len; i++)
        {
          Stream *u = e->streams->pdata[i];

          if (u != s && u->whole && u->state == STREAM_RUNNING)
            return FALSE;
        }
      s->whole = TRUE;
      s->pos = 0;
      s->chunk_start = 0;
      s->req_end = e->total;
      f->offset = 0;
      f->length = -1;
      f->ranged = FALSE;
    }
  else
    {
      g = vf_range_set_next_gap (e->present, s->pos, e->total);
      for (;;)
        {
          Stream *u;

          if (g >= e->total)
            {
              if (!s->prefetch || wrapped)
                return FALSE;
              wrapped = TRUE;
              g = vf_range_set_next_gap (e->present, 0, e->total);
              continue;
            }
          u = cache_owner_locked (cache, e, s, g);
          if (!u)
            break;
          if (!s->prefetch)
            return FALSE;
          /* A prefetch leaves the neighbourhood of other downloads to them. */
          g = vf_range_set_next_gap (
              e->present, MAX (u->req_end, u->pos + cache->config.join_distance + 1), e->total);
        }
      if (!s->prefetch && s->chunk_start >= 0 && g > s->pos + cache->config.join_distance)
        return FALSE;
      end = vf_range_set_next_present (e->present, g, e->total);
      for (guint i = 0; i < e->streams->len; i++)
        {
          Stream *u = e->streams->pdata[i];

          if (u != s && cache_stream_active (u) && !(u->prefetch && u->state == STREAM_QUEUED)
              && u->pos > g)
            end = MIN (end, u->pos);
        }
      end = MIN (end, g + (s->prefetch ? cache->config.max_chunk : s->chunk));
      s->pos = g;
      s->chunk_start = g;
      s->req_end = end;
      f->offset = g;
      f->length = end - g;
      f->ranged = TRUE;
    }
  f->task = vf_task_copy (e->task);
  f->if_range = f->ranged ? g_strdup (e->etag) : NULL;
  f->fd = e->fd;
  f->gen = e->gen;
  f->first = TRUE;
  f->started = g_get_monotonic_time ();
  f->cursor = f->offset;
  f->limit = f->length >= 0 ? f->offset + f->length : e->total;
  return TRUE;
}

static gboolean
stop_error (Fetch *f, GError **error)
{
  f->superseded = TRUE;
  vf_set_error (error, VF_ERROR_FAILED, "download superseded");
  return FALSE;
}

/* The answer's headers, once known (at its first byte). */
static gboolean
fetch_check_answer_locked (Fetch *f, GError **error)
{
  Entry *e = f->e;
  Stream *s = f->s;
  const VfContentInfo *info = &f->info;

  if (info->total_size >= 0 && info->total_size != e->total)
    {
      f->final = TRUE;
      vf_set_error (error, VF_ERROR_PROTOCOL,
                    "%s: the server has %" G_GINT64_FORMAT " bytes, %" G_GINT64_FORMAT
                    " were announced",
                    e->key, info->total_size, e->total);
      return FALSE;
    }
  if (info->etag && f->gen == e->gen)
    {
      if (!e->etag && cache_etag_storable (info->etag))
        e->etag = g_strdup (info->etag);
      else if (e->etag && strcmp (e->etag, info->etag) != 0)
        {
          if (!cache_entry_reset_locked (e, info->etag, "the content changed", error))
            {
              f->final = f->broken = TRUE;
              return FALSE;
            }
          vf_set_error (error, VF_ERROR_PROTOCOL, "%s: the content changed", e->key);
          return FALSE;
        }
    }
  if (info->status == 200)
    {
      f->cursor = 0;
      f->limit = e->total;
      if (f->ranged && !e->no_ranges)
        {
          g_message ("%s: the server ignores Range; fetching it whole", e->key);
          e->no_ranges = TRUE;
        }
      s->whole = TRUE;
      s->pos = 0;
      s->chunk_start = 0;
      s->req_end = e->total;
      cache_entry_broadcast_locked (e);
      for (guint i = 0; i < e->streams->len; i++)
        {
          Stream *u = e->streams->pdata[i];

          if (u != s && u->whole && u->state == STREAM_RUNNING)
            return stop_error (f, error);
        }
    }
  return TRUE;
}

/* Whether another download has this stream's next bytes in hand; queued
 * ones that start inside what it is fetching are absorbed. */
static gboolean
fetch_superseded_locked (Fetch *f, gsize len)
{
  Entry *e = f->e;
  Stream *s = f->s;
  gint64 c = f->cursor;

  if (s->whole)
    return FALSE;
  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *u = e->streams->pdata[i];

      if (u == s || u->whole)
        continue;
      if (u->state == STREAM_RUNNING && u->chunk_start > s->chunk_start && u->chunk_start <= c
          && c < u->req_end)
        return TRUE;
      if (u->state == STREAM_QUEUED && !u->prefetch && u->pos >= s->chunk_start
          && u->pos < c + (gint64)len && u->pos < f->limit)
        {
          u->state = STREAM_IDLE;
          s->want = MAX (s->want, u->want);
          cache_entry_broadcast_locked (e);
        }
    }
  return vf_range_set_contains (e->present, c, c + len)
         && vf_range_set_run_end (e->present, c) - c >= SKIP_LIMIT;
}

static gboolean
fetch_commit (Fetch *f, const void *data, gsize len, GError **error)
{
  VfCache *cache = f->cache;
  Entry *e = f->e;
  const char *bytes = data;
  gint64 start, end, pos;
  gint64 elapsed;
  gboolean wake = FALSE;

  g_mutex_lock (&cache->lock);
  if (f->first)
    {
      f->first = FALSE;
      f->s->wait = g_get_monotonic_time () - f->started;
      if (!fetch_check_answer_locked (f, error))
        goto fail;
    }
  if (cache->closing || e->dropped || f->gen != e->gen || fetch_superseded_locked (f, len))
    {
      stop_error (f, error);
      goto fail;
    }
  start = f->cursor;
  end = start + (gint64)len;
  if (end > f->limit)
    {
      vf_set_error (error, VF_ERROR_PROTOCOL, "%s: more bytes than asked for", e->key);
      goto fail;
    }
  for (pos = start; pos < end;)
    {
      gint64 g = vf_range_set_next_gap (e->present, pos, end);
      gint64 ge;
      int errsv;

      if (g >= end)
        break;
      ge = vf_range_set_next_present (e->present, g, end);
      g_mutex_unlock (&cache->lock);
      errsv = vf_pwrite_all (f->fd, bytes + (g - start), ge - g, g);
      g_mutex_lock (&cache->lock);
      if (errsv)
        {
          f->final = TRUE;
          cache_set_disk_error (error, errsv, "Cannot write", e->part_path);
          goto fail;
        }
      if (e->dropped || f->gen != e->gen)
        {
          stop_error (f, error);
          goto fail;
        }
      /* Recorded only now that the bytes are written. */
      vf_range_set_add (e->present, g, ge);
      cache_entry_set_disk_bytes_locked (e, e->disk_bytes + (ge - g));
      e->unsaved += ge - g;
      f->written += ge - g;
      wake = wake || vf_range_set_run_end (e->present, g) >= e->wake_at;
      pos = ge;
    }
  f->cursor = end;
  f->s->pos = end;
  elapsed = g_get_monotonic_time () - f->started;
  if (elapsed >= 10000)
    f->s->rate = (end - f->offset) * G_USEC_PER_SEC / elapsed;
  if (cache_note_complete_locked (cache, e))
    f->finished = TRUE;
  else if (e->unsaved >= SAVE_EVERY)
    cache_flush_queue_locked (cache, e);
  if (wake)
    cache_entry_broadcast_locked (e);
  g_mutex_unlock (&cache->lock);
  return TRUE;

fail:
  g_mutex_unlock (&cache->lock);
  return FALSE;
}

/* The answer arrives in pieces of any size: small ones are written (and
 * shown to the readers) a batch at a time, big ones as they are, with no
 * copy.  The first piece goes at once, and batches grow with the answer,
 * so that its first bytes are not held back. */
static gboolean
fetch_sink (const void *data, gsize len, gpointer user_data, GError **error)
{
  Fetch *f = user_data;
  const char *p = data;

  if (f->first)
    {
      f->batched += len;
      return fetch_commit (f, p, len, error);
    }
  while (len > 0)
    {
      gsize size = CLAMP (f->batched, 1, WRITE_BATCH);
      gsize n;

      if (f->batch_len == 0 && len >= MIN (size, WRITE_DIRECT))
        {
          f->batched += len;
          return fetch_commit (f, p, len, error);
        }
      if (!f->batch)
        f->batch = g_malloc (WRITE_BATCH);
      n = MIN (len, size - f->batch_len);
      memcpy (f->batch + f->batch_len, p, n);
      f->batch_len += n;
      p += n;
      len -= n;
      if (f->batch_len == size)
        {
          f->batch_len = 0;
          f->batched += size;
          if (!fetch_commit (f, f->batch, size, error))
            return FALSE;
        }
    }
  return TRUE;
}

static gboolean
error_is_final (const GError *error)
{
  if (error->domain != VF_ERROR)
    return TRUE;
  if (vf_error_should_retry (error) == 0)
    return TRUE;
  switch (error->code)
    {
    case VF_ERROR_PROTOCOL:
    case VF_ERROR_SERVER:
    case VF_ERROR_NETWORK:
    case VF_ERROR_TIMEOUT:
    case VF_ERROR_RATE_LIMITED:
    case VF_ERROR_CONFLICT:
      return FALSE;
    default:
      return TRUE;
    }
}

/* Waits before a retry; FALSE when the cache closes or the entry goes. */
static gboolean
backoff_locked (VfCache *cache, Entry *e, gint64 ms)
{
  gint64 deadline = g_get_monotonic_time () + ms * 1000;

  while (!cache->closing && !e->dropped)
    if (!g_cond_wait_until (&cache->closing_cond, &cache->lock, deadline))
      break;
  return !cache->closing && !e->dropped;
}

static void
stream_fail_locked (Stream *s, GError *error)
{
  Entry *e = s->entry;

  s->state = STREAM_FAILED;
  s->error = error;
  if (g_ptr_array_remove (e->streams, s))
    cache_stream_unref_locked (s);
  cache_entry_broadcast_locked (e);
}

/* Runs requests for one stream until it has nothing more to do, fails, or
 * should make room for others in the pool (then it queues itself again).
 * Returns the error to report, if it failed. */
static GError *
run_stream_locked (VfCache *cache, Stream *s, gboolean *finished)
{
  Entry *e = s->entry;

  s->state = STREAM_RUNNING;
  for (;;)
    {
      Fetch f = { 0 };
      g_autoptr (GError) error = NULL;
      gboolean ok;
      gboolean progress;
      gboolean stopped;

      f.cache = cache;
      f.s = s;
      f.e = e;
      if (cache->closing || e->dropped || !plan_locked (cache, s, &f))
        {
          fetch_clear (&f);
          s->state = STREAM_IDLE;
          cache_entry_broadcast_locked (e);
          return NULL;
        }
      g_debug ("%s: GET %" G_GINT64_FORMAT "+%" G_GINT64_FORMAT, e->key, f.offset, f.length);
      g_mutex_unlock (&cache->lock);
      ok = vf_client_content (cache->client, f.task, e->variant, f.offset, f.length, f.if_range,
                              fetch_sink, &f, &f.info, s->cancellable, &error);
      /* What arrived counts, even from an answer cut short. */
      if (f.batch_len > 0)
        {
          g_autoptr (GError) batch_error = NULL;
          gsize n = f.batch_len;

          f.batch_len = 0;
          if (!fetch_commit (&f, f.batch, n, &batch_error) && ok)
            {
              ok = FALSE;
              g_propagate_error (&error, g_steal_pointer (&batch_error));
            }
        }
      g_mutex_lock (&cache->lock);

      progress = f.written > 0;
      if (f.finished)
        *finished = TRUE;
      stopped = f.superseded || cache->closing || e->dropped || (f.gen != e->gen && !f.broken)
                || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      if (!ok && !stopped)
        {
          gint64 delay;

          if (progress)
            s->tries = 0;
          s->tries++;
          /* An answer refused before its body may still say the content
           * changed. */
          if (f.info.etag && e->etag && f.gen == e->gen && strcmp (f.info.etag, e->etag) != 0)
            {
              g_autoptr (GError) reset_error = NULL;

              if (!cache_entry_reset_locked (e, f.info.etag, "the content changed", &reset_error))
                {
                  g_clear_error (&error);
                  error = g_steal_pointer (&reset_error);
                  f.final = TRUE;
                }
            }
          if (f.final || error_is_final (error) || s->tries >= cache->config.max_tries)
            {
              g_info ("%s: giving up at byte %" G_GINT64_FORMAT ": %s", e->key, s->pos,
                      error->message);
              fetch_clear (&f);
              stream_fail_locked (s, g_error_copy (error));
              return g_steal_pointer (&error);
            }
          g_debug ("%s: try %d failed: %s", e->key, s->tries, error->message);
          delay = progress ? 0 : vf_retry_delay_ms (&cache->config.retry, error, s->tries - 1);
          fetch_clear (&f);
          if (delay > 0 && !backoff_locked (cache, e, delay))
            continue;
          s->chunk_start = -1; /* a retry picks up where it stopped, however far */
          continue;
        }
      fetch_clear (&f);
      if (ok)
        s->tries = 0;

      /* A request ended (done, or stopped because others have the rest). */
      if (cache_note_complete_locked (cache, e))
        *finished = TRUE;
      if (e->unsaved > 0)
        cache_flush_queue_locked (cache, e);
      cache_evict_locked (cache);
      cache_entry_broadcast_locked (e);

      if (cache->closing || e->dropped || g_atomic_int_get (&e->whole) || s->whole
          || (stopped && !f.superseded))
        {
          s->state = STREAM_IDLE;
          return NULL;
        }
      if (s->prefetch || s->want > s->chunk_start + (s->req_end - s->chunk_start) / 2
          || (s->waiters > 0 && s->want > s->pos))
        {
          /* Readers follow it: the next request is bigger, and goes to the
           * back of the queue so that other files get their turn. */
          s->chunk = cache_next_chunk_locked (cache, s);
          cache_kick_locked (cache, s, s->waiters > 0 ? 0 : 1);
          return NULL;
        }
      s->state = STREAM_IDLE;
      cache_entry_prune_idle_locked (e);
      return NULL;
    }
}

/* Each request waits a round trip for its first byte: a request that
 * lasts ROUND_TRIPS of them loses at most 1/ROUND_TRIPS of the link to it,
 * which on a slow or distant link takes bigger steps than doubling. */
#define ROUND_TRIPS 32

gint64
cache_next_chunk_locked (VfCache *cache, Stream *s)
{
  gint64 chunk = s->chunk * 2;

  if (s->rate > 0 && s->wait > 0)
    chunk = MAX (chunk, (gint64)((double)s->rate * s->wait / G_USEC_PER_SEC * ROUND_TRIPS));
  return MIN (chunk, cache->config.max_chunk);
}

void
cache_pool_run (gpointer data, gpointer user_data)
{
  Stream *s = data;
  Entry *e = s->entry;
  VfCache *cache = user_data;
  GError *error = NULL;
  gboolean finished = FALSE;
  VfCacheDoneFunc done = cache->config.done;

  g_mutex_lock (&cache->lock);
  s->in_pool = FALSE;
  if (s->state == STREAM_QUEUED)
    {
      if (cache->closing || e->dropped)
        s->state = STREAM_IDLE;
      else
        error = run_stream_locked (cache, s, &finished);
    }
  g_mutex_unlock (&cache->lock);

  if (done && finished)
    done (e->id, e->variant, NULL, cache->config.user_data);
  if (done && error)
    done (e->id, e->variant, error, cache->config.user_data);
  g_clear_error (&error);

  g_mutex_lock (&cache->lock);
  cache_stream_unref_locked (s);
  cache_entry_unref_locked (e);
  g_mutex_unlock (&cache->lock);
}
