/* fuzz-prompt-check.c: the write-time check of prompt files.
 *
 * Input: one byte that picks where the writes are cut, then the file.
 * The file is checked whole and in pieces at consecutive offsets: both
 * must agree, the pieces must pass exactly when the bytes are valid UTF-8
 * with no NUL (an unfinished sequence at the end is left to the close),
 * and the close-time parser must then refuse for its bytes exactly the
 * files the check refused or left unfinished.
 */
#include <string.h>

#include "fuzz.h"
#include "vf-error.h"
#include "vf-prompt.h"

static gboolean
check_in_pieces (const guint8 *data, gsize len, guint cut, VfPromptCheck *check)
{
  gsize off = 0;

  vf_prompt_check_init (check);
  while (off < len)
    {
      gsize n = MIN (len - off, 1 + (cut + off * 7) % 5);
      g_autoptr (GError) error = NULL;

      if (!vf_prompt_check_write (check, off, data + off, n, &error))
        {
          fuzz_assert (g_error_matches (error, VF_ERROR, VF_ERROR_INVALID));
          return FALSE;
        }
      off += n;
    }
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *input, size_t size)
{
  VfPromptCheck whole, pieces;
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) parse_error = NULL;
  g_autoptr (json_t) body = NULL;
  const guint8 *data;
  gsize len;
  gboolean ok, ok_pieces;

  if (size < 1)
    return 0;
  data = input + 1;
  len = size - 1;

  vf_prompt_check_init (&whole);
  ok = vf_prompt_check_write (&whole, 0, data, len, &error);
  if (!ok)
    fuzz_assert (g_error_matches (error, VF_ERROR, VF_ERROR_INVALID)
                 || g_error_matches (error, VF_ERROR, VF_ERROR_TOO_LARGE));
  if (len > VF_PROMPT_MAX)
    {
      fuzz_assert (!ok && g_error_matches (error, VF_ERROR, VF_ERROR_TOO_LARGE));
      return 0;
    }

  ok_pieces = check_in_pieces (data, len, input[0], &pieces);
  if (ok != ok_pieces)
    fuzz_fail ("whole %d, in pieces %d", ok, ok_pieces);
  if (ok)
    {
      fuzz_assert (whole.n_pending < 4 && whole.n_pending == pieces.n_pending);
      fuzz_assert (whole.next_offset == (gint64)len);
      fuzz_assert (g_utf8_validate_len ((const char *)data, len - whole.n_pending, NULL));
    }
  else
    fuzz_assert (!g_utf8_validate_len ((const char *)data, len, NULL));

  /* A write somewhere else starts the UTF-8 state again. */
  if (ok && whole.n_pending && len > 0)
    {
      VfPromptCheck again = whole;
      g_autoptr (GError) e2 = NULL;
      vf_prompt_check_write (&again, 0, "a", 1, &e2);
    }

  body = vf_prompt_parse ((const char *)data, len, input[0] & 1, NULL, &parse_error);
  if (!ok || whole.n_pending)
    {
      fuzz_assert (body == NULL);
      fuzz_assert (g_error_matches (parse_error, VF_ERROR, VF_ERROR_INVALID));
    }
  else if (!body)
    {
      /* Refused for its content, never for bytes the check let through. */
      fuzz_assert (parse_error);
      fuzz_assert (!g_str_has_prefix (parse_error->message, "invalid UTF-8 at offset")
                   && !g_str_has_prefix (parse_error->message, "prompt contains a NUL byte"));
    }
  return 0;
}
