/* moov.c: the --moov-at-end layout.
 *
 * Every sample of the base's one track becomes a chunk of its own (stsc: one
 * entry of one sample a chunk), placed in the mdat at a share of the filler
 * proportional to its index; stco (co64 when offsets pass 4 GiB) lists the
 * new places, and the boxes on the way to it get their new sizes.
 */
#include "moov.h"

#include <string.h>

struct box
{
  const guint8 *p; /* the box, header included */
  gsize len;
  gsize head; /* 8 */
  char type[5];
};

static guint32
be32 (const guint8 *p)
{
  return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

static void
put_be32 (GByteArray *out, guint32 v)
{
  guint8 b[4] = { v >> 24, v >> 16, v >> 8, v };

  g_byte_array_append (out, b, 4);
}

/* The box at p (of at most `left` bytes); FALSE at the end or on a box
 * that does not fit (64-bit sizes are not used by the bases). */
static gboolean
box_at (const guint8 *p, gsize left, struct box *b)
{
  guint32 size;

  if (left < 8)
    return FALSE;
  size = be32 (p);
  if (size == 0)
    size = (guint32)MIN (left, G_MAXUINT32);
  if (size < 8 || size > left)
    return FALSE;
  b->p = p;
  b->len = size;
  b->head = 8;
  memcpy (b->type, p + 4, 4);
  b->type[4] = 0;
  return TRUE;
}

static gboolean
is_container (const char *type)
{
  static const char *const containers[] = { "moov", "trak", "mdia", "minf", "stbl" };

  for (gsize i = 0; i < G_N_ELEMENTS (containers); i++)
    if (g_str_equal (type, containers[i]))
      return TRUE;
  return FALSE;
}

/* The sample tables of the one track, found under moov. */
struct tables
{
  struct box stsz, stsc, stco;
  int tracks, stcos, stszs, stscs;
};

static void
find_tables (const guint8 *p, gsize len, struct tables *t)
{
  struct box b;

  while (box_at (p, len, &b))
    {
      if (g_str_equal (b.type, "trak"))
        t->tracks++;
      if (is_container (b.type))
        find_tables (b.p + b.head, b.len - b.head, t);
      else if (g_str_equal (b.type, "stsz"))
        t->stsz = b, t->stszs++;
      else if (g_str_equal (b.type, "stsc"))
        t->stsc = b, t->stscs++;
      else if (g_str_equal (b.type, "stco"))
        t->stco = b, t->stcos++;
      p += b.len;
      len -= b.len;
    }
}

/* Offsets and sizes of the base's samples, from stsz, stsc and stco. */
static gboolean
samples_of (const struct tables *t, gsize base_len, GArray *offsets, GArray *sizes)
{
  const guint8 *sz = t->stsz.p + 12, *sc = t->stsc.p + 12, *co = t->stco.p + 12;
  guint32 fixed, count, entries, chunks;

  if (t->stsz.len < 20 || t->stsc.len < 16 || t->stco.len < 16)
    return FALSE;
  fixed = be32 (sz);
  count = be32 (sz + 4);
  entries = be32 (sc);
  chunks = be32 (co);
  if ((!fixed && t->stsz.len < 20 + (guint64)count * 4) || t->stsc.len < 16 + (guint64)entries * 12
      || t->stco.len < 16 + (guint64)chunks * 4 || !count || !entries)
    return FALSE;
  for (guint32 c = 0, e = 0, s = 0; c < chunks && s < count; c++)
    {
      guint64 at = be32 (co + 4 + c * 4);
      guint32 per;

      while (e + 1 < entries && be32 (sc + 4 + (e + 1) * 12) <= c + 1)
        e++;
      per = be32 (sc + 4 + e * 12 + 4);
      for (guint32 k = 0; k < per && s < count; k++, s++)
        {
          guint64 size = fixed ? fixed : be32 (sz + 8 + s * 4);
          if (at + size > base_len)
            return FALSE;
          g_array_append_val (offsets, at);
          g_array_append_val (sizes, size);
          at += size;
        }
    }
  return offsets->len == count;
}

/* The moov with every box on the way to the tables resized, stsc made one
 * sample a chunk and stco (or co64) holding `offsets`. */
static void
rewrite (const guint8 *p, gsize len, GArray *offsets, gboolean wide, GByteArray *out)
{
  struct box b;

  while (box_at (p, len, &b))
    {
      guint at = out->len;

      if (is_container (b.type))
        {
          g_byte_array_append (out, b.p, 8);
          rewrite (b.p + b.head, b.len - b.head, offsets, wide, out);
        }
      else if (g_str_equal (b.type, "stsc"))
        {
          g_byte_array_append (out, b.p, 12);
          put_be32 (out, 1);
          put_be32 (out, 1);
          put_be32 (out, 1);
          put_be32 (out, 1);
        }
      else if (g_str_equal (b.type, "stco"))
        {
          g_byte_array_append (out, (const guint8 *)(wide ? "\0\0\0\0co64" : "\0\0\0\0stco"), 8);
          g_byte_array_append (out, b.p + 8, 4);
          put_be32 (out, offsets->len);
          for (guint i = 0; i < offsets->len; i++)
            {
              guint64 o = g_array_index (offsets, guint64, i);
              if (wide)
                put_be32 (out, (guint32)(o >> 32));
              put_be32 (out, (guint32)o);
            }
        }
      else
        g_byte_array_append (out, b.p, (guint)b.len);
      out->data[at] = (out->len - at) >> 24;
      out->data[at + 1] = (out->len - at) >> 16;
      out->data[at + 2] = (out->len - at) >> 8;
      out->data[at + 3] = (out->len - at);
      p += b.len;
      len -= b.len;
    }
}

static void
add_piece (GArray *pieces, const guint8 *data, guint64 len)
{
  struct sim_piece piece = { data, len };

  if (len)
    g_array_append_val (pieces, piece);
}

struct sim_moov_plan *
sim_moov_plan_new (GBytes *base, guint64 size)
{
  gsize base_len = 0;
  const guint8 *p = g_bytes_get_data (base, &base_len);
  struct box ftyp = { 0 }, moov = { 0 }, b;
  struct tables t = { 0 };
  g_autoptr (GArray) offsets = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr (GArray) sizes = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr (GArray) placed = g_array_new (FALSE, FALSE, sizeof (guint64));
  GByteArray *new_moov, *head;
  struct sim_moov_plan *plan;
  guint64 frames = 0, moov_len, head_len, mdat_len, filler, at;
  gboolean wide = size > G_MAXUINT32;
  guint n;

  for (gsize off = 0; box_at (p + off, base_len - off, &b); off += b.len)
    if (g_str_equal (b.type, "ftyp"))
      ftyp = b;
    else if (g_str_equal (b.type, "moov"))
      moov = b;
  if (!ftyp.p || !moov.p)
    return NULL;
  find_tables (moov.p + 8, moov.len - 8, &t);
  if (t.tracks != 1 || t.stcos != 1 || t.stszs != 1 || t.stscs != 1
      || !samples_of (&t, base_len, offsets, sizes))
    return NULL;
  n = offsets->len;
  for (guint i = 0; i < n; i++)
    frames += g_array_index (sizes, guint64, i);
  moov_len = moov.len - t.stsc.len + 28 - t.stco.len + 16 + (guint64)n * (wide ? 8 : 4);
  if (size < ftyp.len + 16 + frames + moov_len)
    return NULL;
  mdat_len = size - ftyp.len - moov_len;
  head_len = ftyp.len + (mdat_len > G_MAXUINT32 ? 16 : 8);
  filler = size - head_len - frames - moov_len;

  /* sample i after i/n of the filler */
  at = head_len;
  for (guint i = 0; i < n; i++)
    {
      guint64 o = at + (guint64)((double)filler * i / n);
      g_array_append_val (placed, o);
      at += g_array_index (sizes, guint64, i);
    }
  new_moov = g_byte_array_new ();
  rewrite (moov.p, moov.len, placed, wide, new_moov);
  g_assert (new_moov->len == moov_len);

  head = g_byte_array_new ();
  g_byte_array_append (head, ftyp.p, (guint)ftyp.len);
  if (mdat_len > G_MAXUINT32)
    {
      put_be32 (head, 1);
      g_byte_array_append (head, (const guint8 *)"mdat", 4);
      put_be32 (head, (guint32)(mdat_len >> 32));
      put_be32 (head, (guint32)mdat_len);
    }
  else
    {
      put_be32 (head, (guint32)mdat_len);
      g_byte_array_append (head, (const guint8 *)"mdat", 4);
    }

  plan = g_new0 (struct sim_moov_plan, 1);
  plan->head = g_byte_array_free_to_bytes (head);
  plan->moov = g_byte_array_free_to_bytes (new_moov);
  plan->pieces = g_array_new (FALSE, FALSE, sizeof (struct sim_piece));
  add_piece (plan->pieces, g_bytes_get_data (plan->head, NULL), head_len);
  at = head_len;
  for (guint i = 0; i < n; i++)
    {
      guint64 o = g_array_index (placed, guint64, i), len = g_array_index (sizes, guint64, i);

      add_piece (plan->pieces, NULL, o - at);
      add_piece (plan->pieces, p + g_array_index (offsets, guint64, i), len);
      at = o + len;
    }
  add_piece (plan->pieces, NULL, size - moov_len - at);
  add_piece (plan->pieces, g_bytes_get_data (plan->moov, NULL), moov_len);
  return plan;
}

void
sim_moov_plan_free (struct sim_moov_plan *plan)
{
  if (!plan)
    return;
  g_array_unref (plan->pieces);
  g_bytes_unref (plan->head);
  g_bytes_unref (plan->moov);
  g_free (plan);
}
