/* fuzz-error-body.c: error answers of both APIs (error.c).
 *
 * Input: two bytes of HTTP status, then the body.  Never fails: every body
 * (JSON of either API, HTML, bytes) gives a VF_ERROR of the code of its
 * status and whose message can be shown (UTF-8, one line).
 */
#include <string.h>

#include "fuzz.h"
#include "vf-error.h"
#include "vf-task.h"

int
LLVMFuzzerTestOneInput (const uint8_t *input, size_t size)
{
  g_autoptr (GError) error = NULL;
  int status;

  if (size < 2)
    return 0;
  status = 100 + (input[0] | input[1] << 8) % 500;
  error = vf_error_from_body (status, (const char *)input + 2, size - 2,
                              (input[0] & 1) ? "req_123" : NULL);
  fuzz_assert (error != NULL && error->domain == VF_ERROR);
  fuzz_assert (error->message && g_utf8_validate (error->message, -1, NULL));
  fuzz_assert (!strchr (error->message, '\n'));
  fuzz_assert (error->code == (int)vf_error_code_for_status (status));
  fuzz_assert (vf_error_to_errno (error) > 0);
  return 0;
}
