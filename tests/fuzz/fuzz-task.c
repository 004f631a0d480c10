/* fuzz-task.c: the parsers of API answers (task.c, task-page.c).
 *
 * Input: one byte that picks the parser, then a JSON text: one task of
 * either API, a list page of either, or a timestamp.  What parses must
 * hold only ids fit for file names, states and progress in range, and
 * copy into an equal task; what does not must fail with PROTOCOL or
 * BAD_ID.
 */
#include <string.h>

#include "fuzz.h"
#include "vf-error.h"
#include "vf-task.h"

static void
check_task (const VfTask *task, VfProtocol protocol)
{
  g_autoptr (VfTask) copy = vf_task_copy (task);

  fuzz_assert (task->id && vf_id_check (task->id, NULL));
  fuzz_assert (task->protocol == protocol);
  fuzz_assert (task->state >= VF_STATE_UNKNOWN && task->state <= VF_STATE_FAILED);
  fuzz_assert (vf_state_name (task->state) != NULL);
  fuzz_assert (task->progress >= -1 && task->progress <= 100);
  fuzz_assert (task->raw && json_is_object (task->raw));
  fuzz_assert (copy && strcmp (copy->id, task->id) == 0 && copy->state == task->state);
  fuzz_assert (g_strcmp0 (copy->state_word, task->state_word) == 0);
  fuzz_assert (g_strcmp0 (copy->video_url, task->video_url) == 0);
  fuzz_assert (copy->created_at == task->created_at && copy->progress == task->progress);
  fuzz_assert (json_equal (copy->raw, task->raw));
}

static void
check_failure (const GError *error)
{
  fuzz_assert (error != NULL);
  fuzz_assert (g_error_matches (error, VF_ERROR, VF_ERROR_PROTOCOL)
               || g_error_matches (error, VF_ERROR, VF_ERROR_BAD_ID));
  fuzz_assert (g_utf8_validate (error->message, -1, NULL));
}

static void
check_page (json_t *json, VfProtocol protocol, int page_num, int page_size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTaskPage) page = protocol == VF_PROTO_OPENAI
                                    ? vf_task_page_from_openai (json, &error)
                                    : vf_task_page_from_ark (json, page_num, page_size, &error);

  if (!page)
    {
      check_failure (error);
      return;
    }
  fuzz_assert (page->tasks != NULL);
  for (guint i = 0; i < page->tasks->len; i++)
    check_task (page->tasks->pdata[i], protocol);
  if (protocol == VF_PROTO_OPENAI)
    fuzz_assert (page->total == -1);
  if (page->next_cursor)
    fuzz_assert (g_utf8_validate (page->next_cursor, -1, NULL));
}

int
LLVMFuzzerTestOneInput (const uint8_t *input, size_t size)
{
  g_autoptr (json_t) json = NULL;
  g_autoptr (GError) error = NULL;
  guint pick;

  if (size < 1)
    return 0;
  pick = input[0];
  json = json_loadb ((const char *)input + 1, size - 1, JSON_DECODE_ANY, NULL);
  if (!json)
    return 0;

  switch (pick % 6)
    {
    case 0:
    case 1:
      {
        VfProtocol protocol = pick % 6 == 0 ? VF_PROTO_OPENAI : VF_PROTO_ARK;
        g_autoptr (VfTask) task = protocol == VF_PROTO_OPENAI ? vf_task_from_openai (json, &error)
                                                              : vf_task_from_ark (json, &error);
        if (task)
          check_task (task, protocol);
        else
          check_failure (error);
        break;
      }
    case 2:
      check_page (json, VF_PROTO_OPENAI, 0, 0);
      break;
    case 3:
    case 4:
      check_page (json, VF_PROTO_ARK, 1 + (pick >> 4), 1 + (pick & 0xf) * 10);
      break;
    case 5:
      {
        gint64 t = vf_time_to_seconds (json);
        fuzz_assert (t == 0 || t >= G_MININT64 / 1000);
        break;
      }
    }
  return 0;
}
