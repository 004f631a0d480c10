/* task-page.c: list answers of both APIs into pages of tasks. */
#include "vf-task.h"
#include "vf-error.h"

void
vf_task_page_free (VfTaskPage *page)
{
  if (!page)
    return;
  if (page->tasks)
    g_ptr_array_unref (page->tasks);
  g_free (page->next_cursor);
  g_free (page);
}

static VfTaskPage *
page_new (void)
{
  VfTaskPage *page = g_new0 (VfTaskPage, 1);

  page->tasks = g_ptr_array_new_with_free_func ((GDestroyNotify)vf_task_free);
  page->total = -1;
  return page;
}

typedef VfTask *(*TaskParser) (json_t *object, GError **error);

/* Adds the tasks of a list; an entry that cannot be a task is logged and
 * left out, so that one hostile entry cannot hide the others. */
static void
page_add_tasks (VfTaskPage *page, json_t *list, TaskParser parse)
{
  json_t *item;
  size_t i;

  json_array_foreach (list, i, item)
  {
    g_autoptr (GError) local_error = NULL;
    VfTask *task = parse (item, &local_error);

    if (!task)
      {
        g_message ("list entry %zu skipped: %s", i, local_error->message);
        continue;
      }
    g_ptr_array_add (page->tasks, task);
  }
}

VfTaskPage *
vf_task_page_from_openai (json_t *object, GError **error)
{
  g_autoptr (VfTaskPage) page = NULL;
  json_t *data;
  const char *cursor;

  if (!json_is_object (object))
    {
      vf_set_error (error, VF_ERROR_PROTOCOL, "list answer is not a JSON object");
      return NULL;
    }
  data = json_object_get (object, "data");
  if (!json_is_array (data))
    {
      vf_set_error (error, VF_ERROR_PROTOCOL, "list answer has no data array");
      return NULL;
    }

  page = page_new ();
  page_add_tasks (page, data, vf_task_from_openai);
  page->has_more = json_is_true (json_object_get (object, "has_more"));
  if (!page->has_more)
    return g_steal_pointer (&page);

  /* The cursor is the last id the server sent, whether or not its entry was
   * fit to show; without one there is no way on. */
  cursor = json_string_value (json_object_get (object, "last_id"));
  if (!cursor && json_array_size (data) > 0)
    cursor = json_string_value (
        json_object_get (json_array_get (data, json_array_size (data) - 1), "id"));
  if (cursor && *cursor)
    page->next_cursor = g_strdup (cursor);
  else
    {
      g_message ("list answer says has_more but gives no last id; stopping there");
      page->has_more = FALSE;
    }
  return g_steal_pointer (&page);
}

VfTaskPage *
vf_task_page_from_ark (json_t *object, int page_num, int page_size, GError **error)
{
  g_autoptr (VfTaskPage) page = NULL;
  json_t *items;
  json_t *total;

  if (!json_is_object (object))
    {
      vf_set_error (error, VF_ERROR_PROTOCOL, "list answer is not a JSON object");
      return NULL;
    }
  items = json_object_get (object, "items");
  if (items && !json_is_array (items) && !json_is_null (items))
    {
      vf_set_error (error, VF_ERROR_PROTOCOL, "list answer's items is not an array");
      return NULL;
    }

  page = page_new ();
  if (json_is_array (items))
    page_add_tasks (page, items, vf_task_from_ark);

  total = json_object_get (object, "total");
  if (json_is_integer (total) && json_integer_value (total) >= 0)
    {
      page->total = json_integer_value (total);
      page->has_more
          = page_num > 0 && page_size > 0 && (gint64)page_num * (gint64)page_size < page->total;
    }
  else
    /* No total: a full page may have a successor. */
    page->has_more = page_size > 0 && json_array_size (items) >= (size_t)page_size;
  return g_steal_pointer (&page);
}
