/* glib-tsan.c: tells ThreadSanitizer what GLib's locks do.
 *
 * GLib's GMutex and GCond are futexes, which ThreadSanitizer does not see
 * as synchronisation, so every access made under a GMutex would be
 * reported as a race.  Linked into a test built with -fsanitize=thread,
 * these definitions take the place of GLib's for the program's own calls:
 * each calls GLib's function and tells ThreadSanitizer that the lock was
 * acquired or released.  The thread pool hands its data from the pushing
 * thread to a worker: a push releases the pool, and the pool's own queue
 * lock, seen here through g_async_queue, does the rest.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <glib.h>
#include <sanitizer/tsan_interface.h>

/* GLib's own function of that name, as a pointer of its type. */
#define REAL(name)                                                                                 \
  static __typeof__ (&name) real_##name;                                                           \
  if (!real_##name)                                                                                \
  real_##name = (__typeof__ (&name))dlsym (RTLD_NEXT, #name)

void
g_mutex_lock (GMutex *mutex)
{
  REAL (g_mutex_lock);
  real_g_mutex_lock (mutex);
  __tsan_acquire (mutex);
}

gboolean
g_mutex_trylock (GMutex *mutex)
{
  REAL (g_mutex_trylock);
  if (!real_g_mutex_trylock (mutex))
    return FALSE;
  __tsan_acquire (mutex);
  return TRUE;
}

void
g_mutex_unlock (GMutex *mutex)
{
  REAL (g_mutex_unlock);
  __tsan_release (mutex);
  real_g_mutex_unlock (mutex);
}

void
g_cond_wait (GCond *cond, GMutex *mutex)
{
  REAL (g_cond_wait);
  __tsan_release (mutex);
  real_g_cond_wait (cond, mutex);
  __tsan_acquire (mutex);
}

gboolean
g_cond_wait_until (GCond *cond, GMutex *mutex, gint64 end_time)
{
  gboolean woken;

  REAL (g_cond_wait_until);
  __tsan_release (mutex);
  woken = real_g_cond_wait_until (cond, mutex, end_time);
  __tsan_acquire (mutex);
  return woken;
}

gboolean
g_thread_pool_push (GThreadPool *pool, gpointer data, GError **error)
{
  REAL (g_thread_pool_push);
  __tsan_release (data);
  return real_g_thread_pool_push (pool, data, error);
}

/* The pool's function is called on a worker with what a push handed over. */
typedef struct
{
  GFunc func;
  gpointer user_data;
} PoolFunc;

static void
pool_func (gpointer data, gpointer user_data)
{
  PoolFunc *f = user_data;

  __tsan_acquire (data);
  f->func (data, f->user_data);
}

GThreadPool *
g_thread_pool_new (GFunc func, gpointer user_data, gint max_threads, gboolean exclusive,
                   GError **error)
{
  PoolFunc *f = g_new (PoolFunc, 1); /* lives as long as the program */

  REAL (g_thread_pool_new);
  f->func = func;
  f->user_data = user_data;
  return real_g_thread_pool_new (pool_func, f, max_threads, exclusive, error);
}
