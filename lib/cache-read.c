/* cache-read.c: how a read waits for its bytes (the essay is above
 * cache_entry_read_fd()). */
#include "cache-private.h"

#include <errno.h>
#include <fcntl.h>

static void
on_read_cancelled (GCancellable *cancellable, gpointer data)
{
  Entry *e = data;

  g_mutex_lock (&e->cache->lock);
  cache_entry_broadcast_locked (e);
  g_mutex_unlock (&e->cache->lock);
}

/* How far ahead of a stream a read joins it rather than start its own: the
 * join distance, or what it fetches in a quarter of a second when it is
 * running faster, so that the kernel's read-ahead, which asks far ahead
 * when read_ahead_kb is large, does not split a fast download. */
static gint64
join_reach (VfCache *cache, const Stream *s)
{
  if (s->state != STREAM_RUNNING && s->state != STREAM_QUEUED)
    return cache->config.join_distance;
  return MAX (cache->config.join_distance, s->rate / 4);
}

/* The stream a reader of byte g should wait for, or NULL. */
static Stream *
find_joinable_locked (VfCache *cache, Entry *e, gint64 g)
{
  Stream *best = NULL;

  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *s = e->streams->pdata[i];

      if (e->no_ranges)
        {
          if (s->whole && cache_stream_active (s))
            return s;
          continue;
        }
      if (s->whole || (s->prefetch && s->state == STREAM_QUEUED))
        continue;
      if (s->pos > g || g - s->pos > join_reach (cache, s))
        continue;
      if (!best || (cache_stream_active (s) && !cache_stream_active (best))
          || (cache_stream_active (s) == cache_stream_active (best) && s->pos > best->pos))
        best = s;
    }
  return best;
}

/* Makes sure some stream will fetch every missing byte of [offset, end),
 * and waits on them (a reference each, in `mine`). */
static void
claim_gaps_locked (VfCache *cache, Entry *e, gint64 offset, gint64 end, GPtrArray *mine)
{
  gint64 p = offset;

  while (p < end)
    {
      gint64 g = vf_range_set_next_gap (e->present, p, end);
      gint64 ge;
      Stream *s;

      if (g >= end)
        break;
      ge = vf_range_set_next_present (e->present, g, end);
      s = find_joinable_locked (cache, e, g);
      if (!s)
        {
          cache_entry_prune_idle_locked (e);
          s = cache_stream_new_locked (cache, e, g, ge - g, FALSE);
        }
      if (s->state == STREAM_IDLE)
        {
          if (!s->whole && g > s->pos)
            s->pos = g;
          if (s->chunk_start >= 0)
            s->chunk = cache_next_chunk_locked (cache, s);
          cache_kick_locked (cache, s, 0);
        }
      s->want = MAX (s->want, ge);
      s->waiters++;
      s->ref++;
      g_ptr_array_add (mine, s);
      p = ge;
    }
}

static void
release_mine_locked (GPtrArray *mine)
{
  for (guint i = 0; i < mine->len; i++)
    {
      Stream *s = mine->pdata[i];

      s->waiters--;
      cache_stream_unref_locked (s);
    }
  g_ptr_array_set_size (mine, 0);
}

/* A read served from the cache tells the downloads near it how far their
 * reader got: one that stopped is started again once the reader is past
 * the middle of its last request (read-ahead, as the kernel does it). */
static void
note_read_locked (VfCache *cache, Entry *e, gint64 offset, gint64 end)
{
  if (cache->closing)
    return;
  for (guint i = 0; i < e->streams->len; i++)
    {
      Stream *s = e->streams->pdata[i];
      gint64 g;

      if (s->whole || s->chunk_start < 0 || offset < s->chunk_start
          || offset > s->req_end + cache->config.join_distance)
        continue;
      s->want = MAX (s->want, end);
      if (s->state != STREAM_IDLE || end <= s->chunk_start + (s->req_end - s->chunk_start) / 2)
        continue;
      g = vf_range_set_next_gap (e->present, s->pos, e->total);
      if (g >= e->total || g > s->pos + cache->config.join_distance
          || cache_owner_locked (cache, e, s, g))
        continue;
      s->pos = g;
      s->chunk = cache_next_chunk_locked (cache, s);
      cache_kick_locked (cache, s, 1);
    }
}

/* Hands out `len` present bytes of `fd` as a descriptor of their own. */
static gssize
hand_out (int fd, gsize len, int *fd_out, const char *path, GError **error)
{
  *fd_out = fcntl (fd, F_DUPFD_CLOEXEC, 0);
  if (*fd_out < 0)
    {
      cache_set_disk_error (error, errno, "Cannot duplicate the descriptor of", path);
      return -1;
    }
  return len;
}

/*
 * How a read waits for a download.
 *
 * A read needs [offset, end).  Under the lock it looks at the entry's range
 * set: if every byte is present it notes how far it got (which may start
 * the read-ahead of the stream it follows) and, outside the lock, hands
 * out a descriptor of the file to pread() or splice the bytes from.
 * Otherwise it walks the gaps of its range and, for each, finds the stream
 * that will fetch that byte: an active stream at most join_distance below
 * it (the stream reaches it soon, sooner than a new request would), else an
 * idle one there, which it starts again; else it makes a new stream at the
 * gap.  It raises each stream's `want` to the end of its gap, so the stream
 * keeps going past its current request when needed, counts itself a
 * waiter, and sleeps on the entry's condition.
 *
 * Writers wake it: a download broadcasts when the run of present bytes it
 * extends reaches the smallest end any waiter needs (`wake_at`), and
 * whenever a stream stops, fails or finishes a request.  Woken readers
 * forget their streams and look again from the start, so a stream that
 * went idle, was absorbed by another or lost its bytes to a reset is
 * simply replaced.  A reader leaves with the error of a stream it waited
 * on that failed, with the reason when a reset could make no new file
 * (nothing is served from the old one), or at once when its GCancellable
 * fires (a handler broadcasts the condition); the download goes on for
 * the others.
 */
gssize
cache_entry_read_fd (VfCache *cache, Entry *e, gsize len, gint64 offset, int *fd_out,
                     GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) mine = NULL;
  gulong handler = 0;
  gboolean connected = FALSE;
  gssize result = -1;
  gint64 end = offset;
  int fd = -1;

  if (offset < 0)
    {
      vf_set_error (error, VF_ERROR_INVALID, "negative offset");
      return -1;
    }
  if (g_atomic_int_get (&e->whole))
    {
      if (offset >= e->total)
        return 0;
      end = MIN (offset + (gint64)MIN (len, G_MAXSSIZE), e->total);
      return hand_out (e->fd, end - offset, fd_out, e->whole_path, error);
    }

  mine = g_ptr_array_new ();
  g_mutex_lock (&cache->lock);
  for (;;)
    {
      if (e->dropped)
        {
          vf_set_error (error, VF_ERROR_NOT_FOUND, "%s was removed", e->key);
          break;
        }
      if (e->fd_error)
        {
          g_propagate_error (error, g_error_copy (e->fd_error));
          break;
        }
      if (offset >= e->total)
        {
          result = 0;
          break;
        }
      end = MIN (offset + (gint64)MIN (len, G_MAXSSIZE), e->total);
      if (vf_range_set_contains (e->present, offset, end))
        {
          note_read_locked (cache, e, offset, end);
          fd = e->fd;
          result = end - offset;
          break;
        }
      for (guint i = 0; i < mine->len && result < 0; i++)
        {
          Stream *s = mine->pdata[i];

          if (s->state == STREAM_FAILED)
            {
              g_propagate_error (error, g_error_copy (s->error));
              goto out;
            }
        }
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        break;
      if (cache->closing)
        {
          vf_set_error (error, VF_ERROR_FAILED, "the cache is closing");
          break;
        }
      if (cancellable && !connected)
        {
          g_mutex_unlock (&cache->lock);
          handler = g_cancellable_connect (cancellable, G_CALLBACK (on_read_cancelled), e, NULL);
          connected = TRUE;
          g_mutex_lock (&cache->lock);
          continue;
        }
      release_mine_locked (mine);
      claim_gaps_locked (cache, e, offset, end, mine);
      e->wake_at = MIN (e->wake_at, end);
      g_cond_wait (&e->cond, &cache->lock);
    }
out:
  release_mine_locked (mine);
  g_mutex_unlock (&cache->lock);
  if (connected)
    g_cancellable_disconnect (cancellable, handler);

  if (result > 0)
    return hand_out (fd, result, fd_out, e->part_path, error);
  return result;
}
