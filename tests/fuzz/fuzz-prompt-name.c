/* fuzz-prompt-name.c: prompt file names and their renames.
 *
 * Input: a name, a NUL, a new job name.  A name taken as a prompt file
 * gives a non-empty stem that, with the name's extension, is the name
 * again; the prompt file of a job renamed is a prompt file whose stem is
 * the new name.
 */
#include <string.h>

#include "fuzz.h"
#include "vf-prompt.h"

int
LLVMFuzzerTestOneInput (const uint8_t *input, size_t size)
{
  g_autofree char *text = g_strndup ((const char *)input, size);
  const char *sep = memchr (input, '\0', size);
  g_autofree char *to = sep ? g_strndup (sep + 1, size - (sep + 1 - (const char *)input)) : NULL;
  g_autofree char *stem = NULL;
  gboolean is_prompt = vf_prompt_name (text, &stem);

  fuzz_assert (is_prompt == vf_prompt_name (text, NULL));
  if (is_prompt)
    {
      const char *ext = g_str_has_suffix (text, ".txt") ? ".txt" : ".json";
      g_autofree char *again = g_strconcat (stem, ext, NULL);

      fuzz_assert (*stem && text[0] != '.' && !strchr (text, '/'));
      fuzz_assert (strcmp (again, text) == 0);
    }
  else
    fuzz_assert (stem == NULL);

  if (to && *to && to[0] != '.' && !strchr (to, '/'))
    {
      g_autofree char *renamed = vf_prompt_file_rename (is_prompt ? text : NULL, to);
      g_autofree char *new_stem = NULL;

      fuzz_assert (vf_prompt_name (renamed, &new_stem));
      fuzz_assert (strcmp (new_stem, to) == 0);
      if (is_prompt)
        fuzz_assert (
            g_str_has_suffix (renamed, g_str_has_suffix (text, ".txt") ? ".txt" : ".json"));
      else
        fuzz_assert (g_str_has_suffix (renamed, ".txt"));
    }
  return 0;
}
