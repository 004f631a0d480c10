/* fuzz-prompt.c: the close-time parser of prompt files and the Ark body.
 *
 * Input: one byte (bit 0: NAME.json rather than NAME.txt; bits 1-2: which
 * mount defaults), then the file.  A body that parses must be an object
 * with a model and a prompt (txt), be sent as JSON that reads back equal,
 * and turn into an Ark body with a content array, which turns into itself.
 * A refusal must be VF_ERROR_INVALID or TOO_LARGE with a UTF-8 reason.
 * It may span lines (jansson quotes the text near a JSON error, newline
 * and all): the job table makes it one line before any file shows it.
 */
#include <string.h>

#include "fuzz.h"
#include "vf-error.h"
#include "vf-prompt.h"

static const VfPromptDefaults defaults_table[] = {
  { NULL, NULL, NULL },
  { "doubao-seedance-1-0-pro-250528", NULL, NULL },
  { "sora-2-pro", "12", "1280x720" },
  { "sora-2", "60", "1x100000" },
};

static void
check_round_trip (json_t *body)
{
  g_autofree char *text = json_dumps (body, JSON_COMPACT | JSON_SORT_KEYS);
  g_autoptr (json_t) again = NULL;

  fuzz_assert (text != NULL);
  again = json_loads (text, 0, NULL);
  fuzz_assert (again != NULL && json_equal (again, body));
}

int
LLVMFuzzerTestOneInput (const uint8_t *input, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (json_t) body = NULL;
  g_autoptr (json_t) ark = NULL;
  g_autoptr (json_t) ark2 = NULL;
  const VfPromptDefaults *defaults;
  gboolean is_json;
  const char *model;

  if (size < 1)
    return 0;
  is_json = input[0] & 1;
  defaults = &defaults_table[(input[0] >> 1) & 3];

  body = vf_prompt_parse ((const char *)input + 1, size - 1, is_json, defaults, &error);
  if (!body)
    {
      fuzz_assert (error != NULL);
      fuzz_assert (g_error_matches (error, VF_ERROR, VF_ERROR_INVALID)
                   || g_error_matches (error, VF_ERROR, VF_ERROR_TOO_LARGE));
      fuzz_assert (g_utf8_validate (error->message, -1, NULL));
      return 0;
    }
  fuzz_assert (error == NULL);
  fuzz_assert (json_is_object (body));
  model = json_string_value (json_object_get (body, "model"));
  fuzz_assert (model != NULL && *model);
  if (!is_json)
    {
      const char *prompt = json_string_value (json_object_get (body, "prompt"));
      fuzz_assert (prompt != NULL && *prompt);
      if (!g_str_has_prefix (model, "doubao-seedance-"))
        fuzz_assert (json_object_get (body, "seconds") && json_object_get (body, "size"));
    }
  check_round_trip (body);

  ark = vf_prompt_to_ark (body);
  fuzz_assert (ark != NULL && json_is_object (ark));
  fuzz_assert (json_is_array (json_object_get (ark, "content")));
  check_round_trip (ark);
  ark2 = vf_prompt_to_ark (ark);
  fuzz_assert (ark2 != NULL && json_equal (ark, ark2));
  return 0;
}
