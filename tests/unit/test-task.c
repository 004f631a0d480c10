/* test-task.c: API JSON into the task model, pages, ids and error bodies. */
#include "vf-task.h"
#include "vf-error.h"

#include <errno.h>
#include <string.h>

/* The answer on the Tokenhot page for POST /v1/videos/, byte for byte. */
static const char tokenhot_sample[] = "{\n"
                                      "    \"id\": \"sora-2-123456\",\n"
                                      "    \"object\": \"video\",\n"
                                      "    \"model\": \"sora-2\",\n"
                                      "    \"status\": \"queued\",\n"
                                      "    \"progress\": 0,\n"
                                      "    \"created_at\": 1764347090922,\n"
                                      "    \"seconds\": \"8\"\n"
                                      "}";

static json_t *
parse (const char *text)
{
  json_error_t json_error;
  json_t *value = json_loads (text, JSON_DECODE_ANY, &json_error);

  if (!value)
    g_error ("test JSON does not parse: %s: %s", json_error.text, text);
  return value;
}

static gint64
time_of (const char *text)
{
  g_autoptr (json_t) value = parse (text);

  return vf_time_to_seconds (value);
}

static void
test_time (void)
{
  g_assert_cmpint (vf_time_to_seconds (NULL), ==, 0);
  g_assert_cmpint (time_of ("1764347090"), ==, 1764347090);
  g_assert_cmpint (time_of ("1764347090922"), ==, 1764347090);
  g_assert_cmpint (time_of ("1764347090.5"), ==, 1764347090);
  g_assert_cmpint (time_of ("1764347090922.0"), ==, 1764347090);
  /* 1e11 itself is seconds (year 5138); one more is milliseconds. */
  g_assert_cmpint (time_of ("100000000000"), ==, 100000000000);
  g_assert_cmpint (time_of ("100000000001"), ==, 100000000);
  g_assert_cmpint (time_of ("1"), ==, 1);
  g_assert_cmpint (time_of ("\"1764347090\""), ==, 1764347090);
  g_assert_cmpint (time_of ("\"1764347090922\""), ==, 1764347090);
  g_assert_cmpint (time_of ("\" 1764347090 \""), ==, 1764347090);
  g_assert_cmpint (time_of ("\"1764347090.25\""), ==, 1764347090);
  g_assert_cmpint (time_of ("\"2025-11-28T16:24:50Z\""), ==, 1764347090);
  g_assert_cmpint (time_of ("\"2025-11-28T18:24:50+02:00\""), ==, 1764347090);
  /* Garbage of every kind is 0. */
  g_assert_cmpint (time_of ("null"), ==, 0);
  g_assert_cmpint (time_of ("0"), ==, 0);
  g_assert_cmpint (time_of ("-5"), ==, 0);
  g_assert_cmpint (time_of ("-1764347090922"), ==, 0);
  g_assert_cmpint (time_of ("1e300"), ==, 0);
  g_assert_cmpint (time_of ("-1e300"), ==, 0);
  g_assert_cmpint (time_of ("true"), ==, 0);
  g_assert_cmpint (time_of ("false"), ==, 0);
  g_assert_cmpint (time_of ("\"\""), ==, 0);
  g_assert_cmpint (time_of ("\"  \""), ==, 0);
  g_assert_cmpint (time_of ("\"soon\""), ==, 0);
  g_assert_cmpint (time_of ("\"12abc\""), ==, 0);
  g_assert_cmpint (time_of ("\"-12\""), ==, 0);
  g_assert_cmpint (time_of ("\"99999999999999999999999\""), ==, 0);
  g_assert_cmpint (time_of ("\"2025-13-45T99:00:00Z\""), ==, 0);
  g_assert_cmpint (time_of ("[1764347090]"), ==, 0);
  g_assert_cmpint (time_of ("{\"t\": 1764347090}"), ==, 0);
}

static void
test_openai_tokenhot_sample (void)
{
  g_autoptr (json_t) object = parse (tokenhot_sample);
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = vf_task_from_openai (object, &error);

  g_assert_no_error (error);
  g_assert_nonnull (task);
  g_assert_cmpstr (task->id, ==, "sora-2-123456");
  g_assert_cmpint (task->protocol, ==, VF_PROTO_OPENAI);
  g_assert_cmpint (task->state, ==, VF_STATE_QUEUED);
  g_assert_cmpstr (task->state_word, ==, "queued");
  g_assert_cmpint (task->progress, ==, 0);
  g_assert_cmpstr (task->model, ==, "sora-2");
  g_assert_null (task->prompt);
  g_assert_cmpstr (task->seconds, ==, "8");
  g_assert_null (task->size);
  g_assert_null (task->remixed_from);
  /* Milliseconds on the wire, seconds in the model. */
  g_assert_cmpint (task->created_at, ==, 1764347090);
  g_assert_cmpint (task->completed_at, ==, 0);
  g_assert_cmpint (task->expires_at, ==, 0);
  g_assert_null (task->error_code);
  g_assert_null (task->error_message);
  g_assert_null (task->video_url);
  g_assert_null (task->last_frame_url);
  g_assert_cmpint (task->poll_after_ms, ==, -1);
  /* raw is the object itself, with a reference of its own. */
  g_assert_true (task->raw == object);
  g_assert_cmpint (object->refcount, ==, 2);
}

static void
test_openai_full (void)
{
  g_autoptr (json_t) object
      = parse ("{\"id\": \"video_68d7512d07848190b3e45da0ecbebcde\", \"object\": \"video\","
               " \"model\": \"sora-2-pro\", \"status\": \"completed\", \"progress\": 100,"
               " \"created_at\": 1758941485, \"completed_at\": 1758941612,"
               " \"expires_at\": 1758945212, \"prompt\": \"A calico cat playing a piano\","
               " \"remixed_from_video_id\": \"video_abc\", \"seconds\": \"12\","
               " \"size\": \"1792x1024\", \"error\": null}");
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = vf_task_from_openai (object, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (task->id, ==, "video_68d7512d07848190b3e45da0ecbebcde");
  g_assert_cmpint (task->state, ==, VF_STATE_COMPLETED);
  g_assert_cmpstr (task->state_word, ==, "completed");
  g_assert_cmpint (task->progress, ==, 100);
  g_assert_cmpstr (task->model, ==, "sora-2-pro");
  g_assert_cmpstr (task->prompt, ==, "A calico cat playing a piano");
  g_assert_cmpstr (task->remixed_from, ==, "video_abc");
  g_assert_cmpstr (task->seconds, ==, "12");
  g_assert_cmpstr (task->size, ==, "1792x1024");
  g_assert_cmpint (task->created_at, ==, 1758941485);
  g_assert_cmpint (task->completed_at, ==, 1758941612);
  g_assert_cmpint (task->expires_at, ==, 1758945212);
  g_assert_null (task->error_code);
  g_assert_null (task->error_message);
  g_assert_null (task->video_url);
}

static void
test_openai_failed (void)
{
  g_autoptr (json_t) object
      = parse ("{\"id\": \"video_1\", \"status\": \"failed\", \"progress\": 37,"
               " \"created_at\": \"1758941485000\", \"completed_at\": null,"
               " \"expires_at\": \"never\","
               " \"error\": {\"code\": \"moderation_blocked\","
               " \"message\": \"Your request was blocked by our moderation system.\"}}");
  g_autoptr (VfTask) task = vf_task_from_openai (object, NULL);

  g_assert_cmpint (task->state, ==, VF_STATE_FAILED);
  g_assert_cmpint (task->progress, ==, 37);
  g_assert_cmpint (task->created_at, ==, 1758941485);
  g_assert_cmpint (task->completed_at, ==, 0);
  g_assert_cmpint (task->expires_at, ==, 0);
  g_assert_cmpstr (task->error_code, ==, "moderation_blocked");
  g_assert_cmpstr (task->error_message, ==, "Your request was blocked by our moderation system.");
  g_assert_null (task->model);
  g_assert_null (task->seconds);
}

static VfTask *
openai_of (const char *text)
{
  g_autoptr (json_t) object = parse (text);
  g_autoptr (GError) error = NULL;
  VfTask *task = vf_task_from_openai (object, &error);

  g_assert_no_error (error);
  return task;
}

static void
test_openai_fields (void)
{
  static const struct
  {
    const char *seconds_json;
    const char *seconds;
  } seconds_table[] = {
    { "\"4\"", "4" }, { "8", "8" },     { "12.0", "12" }, { "4.5", "4.5" }, { "null", NULL },
    { "\"\"", NULL }, { "true", NULL }, { "[8]", NULL },  { "-4", "-4" },   { "\"20\"", "20" },
  };
  static const struct
  {
    const char *progress_json;
    int progress;
  } progress_table[] = {
    { "0", 0 },      { "55", 55 },     { "100", 100 },    { "150", 100 }, { "-3", -1 },
    { "42.9", 42 },  { "\"42\"", 42 }, { "\"x\"", -1 },   { "\"\"", -1 }, { "null", -1 },
    { "false", -1 }, { "{}", -1 },     { "\"nan\"", -1 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (seconds_table); i++)
    {
      g_autofree char *text
          = g_strdup_printf ("{\"id\": \"v\", \"seconds\": %s}", seconds_table[i].seconds_json);
      g_autoptr (VfTask) task = openai_of (text);

      g_test_message ("%s", text);
      g_assert_cmpstr (task->seconds, ==, seconds_table[i].seconds);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (progress_table); i++)
    {
      g_autofree char *text
          = g_strdup_printf ("{\"id\": \"v\", \"progress\": %s}", progress_table[i].progress_json);
      g_autoptr (VfTask) task = openai_of (text);

      g_test_message ("%s", text);
      g_assert_cmpint (task->progress, ==, progress_table[i].progress);
    }

  {
    /* Nothing but an id: every field at its "absent" value. */
    g_autoptr (VfTask) task = openai_of ("{\"id\": \"v\"}");

    g_assert_cmpint (task->state, ==, VF_STATE_UNKNOWN);
    g_assert_null (task->state_word);
    g_assert_cmpint (task->progress, ==, -1);
    g_assert_null (task->model);
    g_assert_null (task->prompt);
    g_assert_null (task->seconds);
    g_assert_null (task->size);
    g_assert_null (task->remixed_from);
    g_assert_cmpint (task->created_at, ==, 0);
    g_assert_cmpint (task->completed_at, ==, 0);
    g_assert_cmpint (task->expires_at, ==, 0);
    g_assert_null (task->error_code);
    g_assert_null (task->error_message);
    g_assert_cmpint (task->poll_after_ms, ==, -1);
  }
  {
    /* Wrong types are absent, not fatal. */
    g_autoptr (VfTask) task
        = openai_of ("{\"id\": \"v\", \"status\": 3, \"model\": 5, \"prompt\": [\"x\"],"
                     " \"size\": {}, \"remixed_from_video_id\": null,"
                     " \"error\": {\"code\": 429, \"message\": 7}}");

    g_assert_cmpint (task->state, ==, VF_STATE_UNKNOWN);
    g_assert_null (task->state_word);
    g_assert_null (task->model);
    g_assert_null (task->prompt);
    g_assert_null (task->size);
    g_assert_null (task->remixed_from);
    g_assert_cmpstr (task->error_code, ==, "429");
    g_assert_null (task->error_message);
  }
  {
    g_autoptr (VfTask) task
        = openai_of ("{\"id\": \"v\", \"error\": {\"code\": null, \"message\": \"boom\"}}");

    g_assert_null (task->error_code);
    g_assert_cmpstr (task->error_message, ==, "boom");
  }
  {
    /* UTF-8 and newlines in a prompt are kept as sent. */
    g_autoptr (VfTask) task
        = openai_of ("{\"id\": \"v\", \"prompt\": \"\\u732b\\u304c\\nline two\"}");

    g_assert_cmpstr (task->prompt, ==, "\xe7\x8c\xab\xe3\x81\x8c\nline two");
  }
}

static void
test_openai_refused (void)
{
  static const struct
  {
    const char *json;
    int code;
  } table[] = {
    { "[]", VF_ERROR_PROTOCOL },
    { "\"video_1\"", VF_ERROR_PROTOCOL },
    { "null", VF_ERROR_PROTOCOL },
    { "{}", VF_ERROR_PROTOCOL },
    { "{\"id\": null}", VF_ERROR_PROTOCOL },
    { "{\"id\": 12}", VF_ERROR_PROTOCOL },
    { "{\"id\": \"\"}", VF_ERROR_BAD_ID },
    { "{\"id\": \"..\"}", VF_ERROR_BAD_ID },
    { "{\"id\": \"../../etc/passwd\"}", VF_ERROR_BAD_ID },
    { "{\"id\": \"a\\u0007b\"}", VF_ERROR_BAD_ID },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_autoptr (json_t) object = parse (table[i].json);
      g_autoptr (GError) error = NULL;

      g_test_message ("%s", table[i].json);
      g_assert_null (vf_task_from_openai (object, &error));
      g_assert_error (error, VF_ERROR, table[i].code);
      g_clear_error (&error);
      g_assert_null (vf_task_from_ark (object, &error));
      g_assert_error (error, VF_ERROR, table[i].code);
      /* Nothing kept a reference (null is a singleton without a count). */
      if (!json_is_null (object))
        g_assert_cmpint (object->refcount, ==, 1);
    }
  g_assert_null (vf_task_from_openai (NULL, NULL));
  g_assert_null (vf_task_from_ark (NULL, NULL));
}

static void
test_state_openai (void)
{
  static const struct
  {
    const char *word;
    VfState state;
  } table[] = {
    { "queued", VF_STATE_QUEUED },
    { "in_progress", VF_STATE_IN_PROGRESS },
    { "completed", VF_STATE_COMPLETED },
    { "failed", VF_STATE_FAILED },
    { "pending", VF_STATE_QUEUED },
    { "processing", VF_STATE_IN_PROGRESS },
    { "Completed", VF_STATE_COMPLETED },
    { "running", VF_STATE_UNKNOWN },
    { "succeeded", VF_STATE_UNKNOWN },
    { "cancelled", VF_STATE_UNKNOWN },
    { "expired", VF_STATE_UNKNOWN },
    { "in progress", VF_STATE_UNKNOWN },
    { "", VF_STATE_UNKNOWN },
    { "rendering", VF_STATE_UNKNOWN },
  };

  g_assert_cmpint (vf_state_from_openai (NULL), ==, VF_STATE_UNKNOWN);
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_autofree char *text
          = g_strdup_printf ("{\"id\": \"video_1\", \"status\": \"%s\"}", table[i].word);
      g_autoptr (VfTask) task = openai_of (text);

      g_test_message ("%s", table[i].word);
      g_assert_cmpint (vf_state_from_openai (table[i].word), ==, table[i].state);
      g_assert_cmpint (task->state, ==, table[i].state);
      /* The word is kept as sent, known or not. */
      g_assert_cmpstr (task->state_word, ==, table[i].word);
    }
}

static VfTask *
ark_of (const char *text)
{
  g_autoptr (json_t) object = parse (text);
  g_autoptr (GError) error = NULL;
  VfTask *task = vf_task_from_ark (object, &error);

  g_assert_no_error (error);
  return task;
}

static void
test_state_ark (void)
{
  static const struct
  {
    const char *word;
    VfState state;
    const char *error_code;
    int progress;
  } table[] = {
    { "queued", VF_STATE_QUEUED, NULL, 0 },
    { "running", VF_STATE_IN_PROGRESS, NULL, -1 },
    { "succeeded", VF_STATE_COMPLETED, NULL, 100 },
    { "failed", VF_STATE_FAILED, NULL, -1 },
    { "cancelled", VF_STATE_FAILED, "cancelled", -1 },
    { "expired", VF_STATE_FAILED, "expired", -1 },
    { "in_progress", VF_STATE_UNKNOWN, NULL, -1 },
    { "completed", VF_STATE_UNKNOWN, NULL, -1 },
    { "paused", VF_STATE_UNKNOWN, NULL, -1 },
    { "", VF_STATE_UNKNOWN, NULL, -1 },
  };

  g_assert_cmpint (vf_state_from_ark (NULL), ==, VF_STATE_UNKNOWN);
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_autofree char *text
          = g_strdup_printf ("{\"id\": \"cgt-1\", \"status\": \"%s\"}", table[i].word);
      g_autoptr (VfTask) task = ark_of (text);

      g_test_message ("%s", table[i].word);
      g_assert_cmpint (vf_state_from_ark (table[i].word), ==, table[i].state);
      g_assert_cmpint (task->state, ==, table[i].state);
      g_assert_cmpstr (task->state_word, ==, table[i].word);
      g_assert_cmpstr (task->error_code, ==, table[i].error_code);
      g_assert_cmpint (task->progress, ==, table[i].progress);
      g_assert_cmpint (task->protocol, ==, VF_PROTO_ARK);
    }
}

static void
test_state_name (void)
{
  g_assert_cmpstr (vf_state_name (VF_STATE_UNKNOWN), ==, "unknown");
  g_assert_cmpstr (vf_state_name (VF_STATE_QUEUED), ==, "queued");
  g_assert_cmpstr (vf_state_name (VF_STATE_IN_PROGRESS), ==, "in_progress");
  g_assert_cmpstr (vf_state_name (VF_STATE_COMPLETED), ==, "completed");
  g_assert_cmpstr (vf_state_name (VF_STATE_FAILED), ==, "failed");
  g_assert_cmpstr (vf_state_name ((VfState)42), ==, "unknown");
}

static void
test_ark_succeeded (void)
{
  g_autoptr (json_t) object = parse (
      "{\"id\": \"cgt-20250612172542-6nbt2\", \"model\": \"doubao-seedance-1-0-pro-250528\","
      " \"status\": \"succeeded\", \"error\": null,"
      " \"content\": {\"video_url\": \"https://ark-content.example/v.mp4?X-Tos-Signature=abc\","
      " \"last_frame_url\": \"https://ark-content.example/last.png?sig=1\"},"
      " \"usage\": {\"completion_tokens\": 246840, \"total_tokens\": 246840},"
      " \"created_at\": 1749720342, \"updated_at\": 1749720399, \"seed\": 10,"
      " \"resolution\": \"1080p\", \"ratio\": \"16:9\", \"duration\": 5,"
      " \"framespersecond\": 24}");
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTask) task = vf_task_from_ark (object, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (task->id, ==, "cgt-20250612172542-6nbt2");
  g_assert_cmpint (task->protocol, ==, VF_PROTO_ARK);
  g_assert_cmpint (task->state, ==, VF_STATE_COMPLETED);
  g_assert_cmpstr (task->state_word, ==, "succeeded");
  g_assert_cmpint (task->progress, ==, 100);
  g_assert_cmpstr (task->model, ==, "doubao-seedance-1-0-pro-250528");
  g_assert_null (task->prompt);
  g_assert_cmpstr (task->seconds, ==, "5");
  g_assert_null (task->remixed_from);
  g_assert_cmpint (task->created_at, ==, 1749720342);
  g_assert_cmpint (task->completed_at, ==, 1749720399);
  g_assert_cmpint (task->expires_at, ==, 0);
  g_assert_cmpstr (task->video_url, ==, "https://ark-content.example/v.mp4?X-Tos-Signature=abc");
  g_assert_cmpstr (task->last_frame_url, ==, "https://ark-content.example/last.png?sig=1");
  g_assert_null (task->error_code);
  g_assert_null (task->error_message);
  g_assert_cmpint (task->poll_after_ms, ==, -1);
  g_assert_true (task->raw == object);
}

static void
test_ark_fields (void)
{
  {
    /* Running: updated_at is no completion time; timestamps in ms. */
    g_autoptr (VfTask) task
        = ark_of ("{\"id\": \"cgt-2\", \"status\": \"running\", \"created_at\": 1749720342000,"
                  " \"updated_at\": 1749720350000, \"content\": {}}");

    g_assert_cmpint (task->state, ==, VF_STATE_IN_PROGRESS);
    g_assert_cmpint (task->progress, ==, -1);
    g_assert_cmpint (task->created_at, ==, 1749720342);
    g_assert_cmpint (task->completed_at, ==, 0);
    g_assert_null (task->video_url);
    g_assert_null (task->last_frame_url);
  }
  {
    g_autoptr (VfTask) task = ark_of (
        "{\"id\": \"cgt-3\", \"status\": \"failed\", \"updated_at\": 1749720399,"
        " \"error\": {\"code\": \"OutputVideoSensitiveContentDetected\","
        " \"message\": \"The request failed because the output video may contain sensitive "
        "information.\"}}");

    g_assert_cmpint (task->state, ==, VF_STATE_FAILED);
    g_assert_cmpint (task->completed_at, ==, 0);
    g_assert_cmpstr (task->error_code, ==, "OutputVideoSensitiveContentDetected");
    g_assert_cmpstr (task->error_message, ==,
                     "The request failed because the output video may contain sensitive "
                     "information.");
  }
  {
    /* A code the server gave wins over the word. */
    g_autoptr (VfTask) task
        = ark_of ("{\"id\": \"cgt-4\", \"status\": \"cancelled\","
                  " \"error\": {\"code\": \"UserCancelled\", \"message\": \"by you\"}}");

    g_assert_cmpstr (task->error_code, ==, "UserCancelled");
    g_assert_cmpstr (task->error_message, ==, "by you");
  }
  {
    /* The request's content list, where a reseller echoes it. */
    g_autoptr (VfTask) task = ark_of (
        "{\"id\": \"cgt-5\", \"status\": \"queued\", \"model\": \"doubao-seedance-2.0\","
        " \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"https://x/a.png\"}},"
        " {\"type\": \"text\", \"text\": \"a red fox --ratio 16:9 --duration 5\"},"
        " {\"type\": \"text\", \"text\": \"second\"}], \"duration\": \"10\"}");

    g_assert_cmpstr (task->prompt, ==, "a red fox --ratio 16:9 --duration 5");
    g_assert_cmpstr (task->seconds, ==, "10");
    g_assert_cmpint (task->progress, ==, 0);
    g_assert_null (task->video_url);
  }
  {
    /* The create answer: only an id. */
    g_autoptr (VfTask) task = ark_of ("{\"id\": \"cgt-20250612172542-6nbt2\"}");

    g_assert_cmpint (task->state, ==, VF_STATE_UNKNOWN);
    g_assert_null (task->state_word);
    g_assert_cmpint (task->progress, ==, -1);
    g_assert_null (task->error_code);
    g_assert_null (task->model);
  }
  {
    /* A reseller's progress and expiry are taken. */
    g_autoptr (VfTask) task = ark_of ("{\"id\": \"cgt-6\", \"status\": \"running\","
                                      " \"progress\": 60, \"expires_at\": \"1749806799\"}");

    g_assert_cmpint (task->progress, ==, 60);
    g_assert_cmpint (task->expires_at, ==, 1749806799);
  }
}

static void
test_copy (void)
{
  g_autoptr (json_t) object
      = parse ("{\"id\": \"cgt-7\", \"model\": \"m\", \"status\": \"succeeded\","
               " \"content\": {\"video_url\": \"https://v\", \"last_frame_url\": \"https://f\"},"
               " \"created_at\": 10, \"updated_at\": 20, \"expires_at\": 30, \"duration\": 5,"
               " \"error\": {\"code\": \"c\", \"message\": \"m\"},"
               " \"content_list\": [{\"type\": \"text\", \"text\": \"p\"}]}");
  g_autoptr (VfTask) task = vf_task_from_ark (object, NULL);
  g_autoptr (VfTask) copy = NULL;

  task->prompt = g_strdup ("p");
  task->size = g_strdup ("1280x720");
  task->remixed_from = g_strdup ("r");
  task->poll_after_ms = 2500;
  copy = vf_task_copy (task);

  g_assert_true (copy != task);
  g_assert_cmpstr (copy->id, ==, "cgt-7");
  g_assert_true (copy->id != task->id);
  g_assert_cmpint (copy->protocol, ==, VF_PROTO_ARK);
  g_assert_cmpint (copy->state, ==, VF_STATE_COMPLETED);
  g_assert_cmpstr (copy->state_word, ==, "succeeded");
  g_assert_cmpint (copy->progress, ==, 100);
  g_assert_cmpstr (copy->model, ==, "m");
  g_assert_cmpstr (copy->prompt, ==, "p");
  g_assert_cmpstr (copy->seconds, ==, "5");
  g_assert_cmpstr (copy->size, ==, "1280x720");
  g_assert_cmpstr (copy->remixed_from, ==, "r");
  g_assert_cmpint (copy->created_at, ==, 10);
  g_assert_cmpint (copy->completed_at, ==, 20);
  g_assert_cmpint (copy->expires_at, ==, 30);
  g_assert_cmpstr (copy->error_code, ==, "c");
  g_assert_cmpstr (copy->error_message, ==, "m");
  g_assert_cmpstr (copy->video_url, ==, "https://v");
  g_assert_cmpstr (copy->last_frame_url, ==, "https://f");
  g_assert_cmpint (copy->poll_after_ms, ==, 2500);
  /* The copy's raw is its own: equal, not shared. */
  g_assert_true (copy->raw != object);
  g_assert_true (json_equal (copy->raw, object));
  g_assert_cmpint (object->refcount, ==, 2);

  g_clear_pointer (&task, vf_task_free);
  g_assert_cmpint (object->refcount, ==, 1);
  g_assert_cmpstr (copy->video_url, ==, "https://v");

  g_assert_null (vf_task_copy (NULL));
  vf_task_free (NULL);
}

static void
test_new (void)
{
  g_autoptr (VfTask) task = vf_task_new ();
  g_autoptr (VfTask) copy = vf_task_copy (task);

  g_assert_null (task->id);
  g_assert_cmpint (task->state, ==, VF_STATE_UNKNOWN);
  g_assert_cmpint (task->progress, ==, -1);
  g_assert_cmpint (task->poll_after_ms, ==, -1);
  g_assert_null (task->raw);
  g_assert_null (copy->raw);
  g_assert_cmpint (copy->progress, ==, -1);
}

static void
assert_bad_id (const char *id, const char *shown)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (vf_id_check (id, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_BAD_ID);
  g_test_message ("%s", error->message);
  /* The message is printable ASCII, one line, and short. */
  for (const char *p = error->message; *p; p++)
    g_assert_true (*p >= 0x20 && *p < 0x7f);
  g_assert_cmpuint (strlen (error->message), <, 64 + 64);
  if (shown)
    g_assert_nonnull (strstr (error->message, shown));
  g_assert_false (vf_id_check (id, NULL));
}

static void
test_id_check (void)
{
  g_autofree char *id200 = g_strnfill (200, 'a');
  g_autofree char *id201 = g_strnfill (201, 'a');
  g_autofree char *id_utf8 = NULL;
  GString *utf8 = g_string_new (NULL);

  g_assert_true (vf_id_check ("video_68d7512d07848190b3e45da0ecbebcde", NULL));
  g_assert_true (vf_id_check ("sora-2-123456", NULL));
  g_assert_true (vf_id_check ("cgt-20250612172542-6nbt2", NULL));
  g_assert_true (vf_id_check ("...", NULL));
  g_assert_true (vf_id_check (".hidden", NULL));
  g_assert_true (vf_id_check ("a b", NULL));
  g_assert_true (vf_id_check ("\xe8\xa7\x86\xe9\xa2\x91-1", NULL));
  g_assert_true (vf_id_check (id200, NULL));

  /* 200 bytes counted as bytes: 66 three-byte characters and two more. */
  for (int i = 0; i < 66; i++)
    g_string_append (utf8, "\xe8\xa7\x86");
  g_string_append (utf8, "ab");
  g_assert_cmpuint (utf8->len, ==, 200);
  g_assert_true (vf_id_check (utf8->str, NULL));
  g_string_append_c (utf8, 'c');
  id_utf8 = g_string_free (utf8, FALSE);
  assert_bad_id (id_utf8, "longer than 200 bytes");

  assert_bad_id (NULL, "empty");
  assert_bad_id ("", "empty");
  assert_bad_id (".", "\".\"");
  assert_bad_id ("..", "\"..\"");
  assert_bad_id ("/", "'/'");
  assert_bad_id ("a/b", "\"a/b\"");
  assert_bad_id ("../../etc/passwd", "'/'");
  assert_bad_id (id201, "longer than 200 bytes");
  assert_bad_id ("abc\x01", "abc\\x01");
  assert_bad_id ("line\nbreak", "line\\x0abreak");
  assert_bad_id ("tab\there", "control");
  assert_bad_id ("esc\x1b[31m", "esc\\x1b[31m");
  assert_bad_id ("del\x7f", "del\\x7f");
  /* U+0085 (NEL), a C1 control, valid UTF-8. */
  assert_bad_id ("nel\xc2\x85", "control");
  assert_bad_id ("bad\xff", "bad\\xff");
  assert_bad_id ("\xc3\x28", "UTF-8");
  assert_bad_id ("trunc\xe8\xa7", "UTF-8");
  assert_bad_id ("quote\"back\\slash/", "quote\\x22back\\x5cslash/");

  {
    /* A long hostile id is cut in the message. */
    g_autofree char *hostile = g_strnfill (300, '\x01');
    g_autoptr (GError) error = NULL;
    const char *open;
    const char *close;

    g_assert_false (vf_id_check (hostile, &error));
    open = strchr (error->message, '"');
    close = strrchr (error->message, '"');
    g_assert_nonnull (open);
    g_assert_cmpuint (close - open - 1, <=, 64);
    g_assert_nonnull (strstr (error->message, "...\""));
  }
  {
    /* 64 shown characters fit whole; 65 do not. */
    g_autofree char *fits = g_strnfill (64, '/');
    g_autofree char *over = g_strnfill (65, '/');
    g_autofree char *want_fits = g_strdup_printf ("\"%s\"", fits);
    g_autofree char *want_over = g_strdup_printf ("\"%.61s...\"", over);
    g_autoptr (GError) error = NULL;

    g_assert_false (vf_id_check (fits, &error));
    g_assert_nonnull (strstr (error->message, want_fits));
    g_clear_error (&error);
    g_assert_false (vf_id_check (over, &error));
    g_assert_nonnull (strstr (error->message, want_over));
  }
}

static VfTaskPage *
openai_page_of (const char *text, GError **error)
{
  g_autoptr (json_t) object = parse (text);

  return vf_task_page_from_openai (object, error);
}

static void
test_page_openai (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTaskPage) page = NULL;
  VfTask *task;

  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*entry 1 skipped*unfit*");
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*entry 3 skipped*no id*");
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*entry 4 skipped*not a JSON*");
  page
      = openai_page_of ("{\"object\": \"list\", \"data\": ["
                        "{\"id\": \"video_a\", \"status\": \"completed\", \"progress\": 100},"
                        "{\"id\": \"../../x\", \"status\": \"queued\"},"
                        "{\"id\": \"video_b\", \"status\": \"in_progress\", \"progress\": 12,"
                        " \"created_at\": 1764347090922},"
                        "{\"status\": \"queued\"}, 17,"
                        "{\"id\": \"video_c\", \"status\": \"failed\"}],"
                        " \"first_id\": \"video_a\", \"last_id\": \"video_c\", \"has_more\": true}",
                        &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_cmpuint (page->tasks->len, ==, 3);
  task = g_ptr_array_index (page->tasks, 0);
  g_assert_cmpstr (task->id, ==, "video_a");
  g_assert_cmpint (task->state, ==, VF_STATE_COMPLETED);
  task = g_ptr_array_index (page->tasks, 1);
  g_assert_cmpstr (task->id, ==, "video_b");
  g_assert_cmpint (task->progress, ==, 12);
  g_assert_cmpint (task->created_at, ==, 1764347090);
  task = g_ptr_array_index (page->tasks, 2);
  g_assert_cmpstr (task->id, ==, "video_c");
  g_assert_cmpint (task->state, ==, VF_STATE_FAILED);
  g_assert_true (page->has_more);
  g_assert_cmpstr (page->next_cursor, ==, "video_c");
  g_assert_cmpint (page->total, ==, -1);
  g_clear_pointer (&page, vf_task_page_free);

  /* The last page. */
  page = openai_page_of ("{\"data\": [{\"id\": \"video_d\"}], \"first_id\": \"video_d\","
                         " \"last_id\": \"video_d\", \"has_more\": false}",
                         &error);
  g_assert_no_error (error);
  g_assert_cmpuint (page->tasks->len, ==, 1);
  g_assert_false (page->has_more);
  g_assert_null (page->next_cursor);
  g_clear_pointer (&page, vf_task_page_free);

  /* An empty account. */
  page = openai_page_of ("{\"object\": \"list\", \"data\": [], \"first_id\": null,"
                         " \"last_id\": null, \"has_more\": false}",
                         &error);
  g_assert_no_error (error);
  g_assert_cmpuint (page->tasks->len, ==, 0);
  g_assert_false (page->has_more);
  g_assert_null (page->next_cursor);
  g_clear_pointer (&page, vf_task_page_free);

  /* The cursor is the last id sent even when that entry was skipped. */
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*entry 1 skipped*");
  page = openai_page_of ("{\"data\": [{\"id\": \"video_e\"}, {\"id\": \"x/y\"}],"
                         " \"has_more\": true}",
                         &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_cmpuint (page->tasks->len, ==, 1);
  g_assert_true (page->has_more);
  g_assert_cmpstr (page->next_cursor, ==, "x/y");
  g_clear_pointer (&page, vf_task_page_free);

  /* has_more with no way on stops rather than loops. */
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*has_more*");
  page = openai_page_of ("{\"data\": [], \"has_more\": true, \"last_id\": null}", &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_false (page->has_more);
  g_assert_null (page->next_cursor);
  g_clear_pointer (&page, vf_task_page_free);

  /* has_more must be the boolean true. */
  page = openai_page_of ("{\"data\": [], \"has_more\": \"true\", \"last_id\": \"v\"}", &error);
  g_assert_false (page->has_more);
  g_assert_null (page->next_cursor);
  g_clear_pointer (&page, vf_task_page_free);

  g_assert_null (openai_page_of ("{\"has_more\": false}", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_null (openai_page_of ("{\"data\": {}}", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_null (openai_page_of ("[]", &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_null (vf_task_page_from_openai (NULL, NULL));
  vf_task_page_free (NULL);
}

static VfTaskPage *
ark_page_of (const char *text, int page_num, int page_size, GError **error)
{
  g_autoptr (json_t) object = parse (text);

  return vf_task_page_from_ark (object, page_num, page_size, error);
}

static void
test_page_ark (void)
{
  static const char three[]
      = "{\"total\": 25, \"items\": [{\"id\": \"cgt-1\", \"status\": \"succeeded\","
        " \"content\": {\"video_url\": \"https://v/1\"}}, {\"id\": \"cgt-2\", \"status\":"
        " \"running\"}, {\"id\": \"cgt-3\", \"status\": \"queued\"}]}";
  static const struct
  {
    int page_num;
    int page_size;
    gboolean has_more;
  } table[] = {
    { 1, 10, TRUE }, { 2, 10, TRUE }, { 3, 10, FALSE }, { 1, 25, FALSE },
    { 1, 24, TRUE }, { 5, 5, FALSE }, { 4, 5, TRUE },   { 0, 10, FALSE },
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (VfTaskPage) page = NULL;
  VfTask *task;

  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    {
      page = ark_page_of (three, table[i].page_num, table[i].page_size, &error);
      g_assert_no_error (error);
      g_test_message ("page %d of %d", table[i].page_num, table[i].page_size);
      g_assert_cmpint (page->has_more, ==, table[i].has_more);
      g_assert_cmpint (page->total, ==, 25);
      g_assert_null (page->next_cursor);
      g_assert_cmpuint (page->tasks->len, ==, 3);
      g_clear_pointer (&page, vf_task_page_free);
    }

  page = ark_page_of (three, 1, 10, &error);
  task = g_ptr_array_index (page->tasks, 0);
  g_assert_cmpstr (task->id, ==, "cgt-1");
  g_assert_cmpint (task->protocol, ==, VF_PROTO_ARK);
  g_assert_cmpint (task->state, ==, VF_STATE_COMPLETED);
  g_assert_cmpstr (task->video_url, ==, "https://v/1");
  task = g_ptr_array_index (page->tasks, 1);
  g_assert_cmpint (task->state, ==, VF_STATE_IN_PROGRESS);
  task = g_ptr_array_index (page->tasks, 2);
  g_assert_cmpint (task->progress, ==, 0);
  g_clear_pointer (&page, vf_task_page_free);

  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*entry 0 skipped*unfit*");
  page = ark_page_of ("{\"total\": 2, \"items\": [{\"id\": \"..\"}, {\"id\": \"cgt-9\"}]}", 1, 10,
                      &error);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (page->tasks->len, ==, 1);
  g_assert_cmpstr (((VfTask *)g_ptr_array_index (page->tasks, 0))->id, ==, "cgt-9");
  g_assert_false (page->has_more);
  g_clear_pointer (&page, vf_task_page_free);

  /* No tasks at all: items may be null or absent. */
  page = ark_page_of ("{\"total\": 0, \"items\": null}", 1, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (page->tasks->len, ==, 0);
  g_assert_cmpint (page->total, ==, 0);
  g_assert_false (page->has_more);
  g_clear_pointer (&page, vf_task_page_free);
  page = ark_page_of ("{\"total\": 0}", 1, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (page->tasks->len, ==, 0);
  g_clear_pointer (&page, vf_task_page_free);

  /* Without a total, a full page may have a successor. */
  page = ark_page_of ("{\"items\": [{\"id\": \"a\"}, {\"id\": \"b\"}]}", 1, 2, &error);
  g_assert_cmpint (page->total, ==, -1);
  g_assert_true (page->has_more);
  g_clear_pointer (&page, vf_task_page_free);
  page = ark_page_of ("{\"items\": [{\"id\": \"a\"}]}", 1, 2, &error);
  g_assert_false (page->has_more);
  g_clear_pointer (&page, vf_task_page_free);

  g_assert_null (ark_page_of ("{\"total\": 1, \"items\": {}}", 1, 10, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_null (ark_page_of ("\"list\"", 1, 10, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_PROTOCOL);
  g_clear_error (&error);
}

static GError *
body_error (int status, const char *body)
{
  return vf_error_from_body (status, body, body ? strlen (body) : 0, "req_abc");
}

static void
assert_one_line (const char *text, gsize max)
{
  g_assert_true (g_utf8_validate (text, -1, NULL));
  g_assert_cmpuint (strlen (text), <=, max);
  for (const char *p = text; *p; p++)
    g_assert_true ((guchar)*p >= 0x20 && *p != 0x7f);
}

static void
test_body_openai (void)
{
  GError *error
      = body_error (401, "{\n  \"error\": {\n    \"message\": \"Incorrect API key provided\",\n"
                         "    \"type\": \"invalid_request_error\",\n    \"param\": null,\n"
                         "    \"code\": \"invalid_api_key\"\n  }\n}\n");

  g_assert_error (error, VF_ERROR, VF_ERROR_AUTH);
  g_assert_cmpstr (error->message, ==, "HTTP 401: Incorrect API key provided (invalid_api_key)");
  g_assert_cmpint (vf_error_http_status (error), ==, 401);
  g_assert_cmpstr (vf_error_api_code (error), ==, "invalid_api_key");
  g_assert_cmpstr (vf_error_api_message (error), ==, "Incorrect API key provided");
  g_assert_cmpstr (vf_error_request_id (error), ==, "req_abc");
  g_assert_true (vf_error_maybe_sent (error));
  g_assert_cmpint (vf_error_to_errno (error), ==, EACCES);
  g_error_free (error);

  /* code null: the type names the kind instead, api_code stays unset. */
  error = body_error (400, "{\"error\": {\"message\": \"Invalid value for 'seconds'.\","
                           " \"type\": \"invalid_request_error\", \"param\": \"seconds\","
                           " \"code\": null}}");
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==,
                   "HTTP 400: Invalid value for 'seconds'. (invalid_request_error)");
  g_assert_null (vf_error_api_code (error));
  g_assert_cmpint (vf_error_to_errno (error), ==, EINVAL);
  g_error_free (error);

  /* A numeric code. */
  error = body_error (429, "{\"error\": {\"message\": \"Rate limit reached\", \"code\": 1302}}");
  g_assert_error (error, VF_ERROR, VF_ERROR_RATE_LIMITED);
  g_assert_cmpstr (error->message, ==, "HTTP 429: Rate limit reached (1302)");
  g_assert_cmpstr (vf_error_api_code (error), ==, "1302");
  g_assert_cmpint (vf_error_to_errno (error), ==, EAGAIN);
  g_error_free (error);

  /* The message is mandatory for nothing. */
  error = body_error (409, "{\"error\": {\"code\": \"video_not_ready\"}}");
  g_assert_error (error, VF_ERROR, VF_ERROR_CONFLICT);
  g_assert_cmpstr (error->message, ==, "HTTP 409: video_not_ready");
  g_assert_null (vf_error_api_message (error));
  g_error_free (error);

  error = body_error (404, "{\"error\": {\"message\": \"Video not found\", \"code\": \"\"}}");
  g_assert_error (error, VF_ERROR, VF_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, "HTTP 404: Video not found");
  g_assert_null (vf_error_api_code (error));
  g_error_free (error);

  /* No request id: none recorded. */
  error = vf_error_from_body (500, "{}", 2, NULL);
  g_assert_error (error, VF_ERROR, VF_ERROR_SERVER);
  g_assert_cmpstr (error->message, ==, "HTTP 500: {}");
  g_assert_null (vf_error_request_id (error));
  g_error_free (error);
}

static void
test_body_ark (void)
{
  GError *error = body_error (
      400, "{\"error\":{\"code\":\"InvalidParameter\",\"message\":\"The parameter `content` "
           "specified in the request is not valid. Request id: 0217496\",\"param\":\"content\","
           "\"type\":\"BadRequest\"}}");

  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==,
                   "HTTP 400: The parameter `content` specified in the request is not valid. "
                   "Request id: 0217496 (InvalidParameter)");
  g_assert_cmpstr (vf_error_api_code (error), ==, "InvalidParameter");
  g_error_free (error);

  error = body_error (401, "{\"error\":{\"code\":\"AuthenticationError\",\"message\":\"The API "
                           "key or AK/SK in the request is missing or invalid.\","
                           "\"param\":\"\",\"type\":\"Unauthorized\"}}");
  g_assert_error (error, VF_ERROR, VF_ERROR_AUTH);
  g_assert_cmpstr (error->message, ==,
                   "HTTP 401: The API key or AK/SK in the request is missing or invalid. "
                   "(AuthenticationError)");
  g_error_free (error);

  error = body_error (429, "{\"error\":{\"code\":\"QuotaExceeded\",\"message\":\"too many\"}}");
  g_assert_error (error, VF_ERROR, VF_ERROR_RATE_LIMITED);
  g_assert_cmpstr (vf_error_api_code (error), ==, "QuotaExceeded");
  g_error_free (error);
}

static void
test_body_other_shapes (void)
{
  static const struct
  {
    int status;
    const char *body;
    int code;
    const char *message;
  } table[] = {
    { 400, "{\"message\": \"prompt is required\"}", VF_ERROR_INVALID,
      "HTTP 400: prompt is required" },
    { 400, "{\"code\": 40001, \"message\": \"bad model\"}", VF_ERROR_INVALID,
      "HTTP 400: bad model (40001)" },
    { 502, "{\"error\": \"upstream timeout\"}", VF_ERROR_SERVER, "HTTP 502: upstream timeout" },
    { 422, "{\"detail\": \"field required\"}", VF_ERROR_INVALID, "HTTP 422: field required" },
    { 500, "{\"msg\": \"internal\", \"code\": \"E500\"}", VF_ERROR_SERVER,
      "HTTP 500: internal (E500)" },
    { 500, "[1, 2]", VF_ERROR_SERVER, "HTTP 500: [1, 2]" },
    { 503, "upstream connect error or disconnect/reset before headers", VF_ERROR_SERVER,
      "HTTP 503: upstream connect error or disconnect/reset before headers" },
    { 403, "Forbidden\r\n\r\n  go   away\t now\n", VF_ERROR_AUTH,
      "HTTP 403: Forbidden go away now" },
    { 502,
      "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
      "Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
      VF_ERROR_SERVER, "HTTP 502: 502 Bad Gateway" },
    { 504, "<!DOCTYPE html><html><body>gone</body></html>", VF_ERROR_SERVER,
      "HTTP 504: <!DOCTYPE html><html><body>gone</body></html>" },
    { 410, "", VF_ERROR_NOT_FOUND, "HTTP 410: Gone" },
    { 503, "   \n ", VF_ERROR_SERVER, "HTTP 503: Service Unavailable" },
    { 599, "", VF_ERROR_SERVER, "HTTP 599" },
    { 418, "", VF_ERROR_INVALID, "HTTP 418" },
    { 200, "{\"error\": {\"message\": \"quota\"}}", VF_ERROR_PROTOCOL, "HTTP 200: quota" },
    { 408, "{\"error\": {\"message\": \"\", \"code\": null}}", VF_ERROR_TIMEOUT,
      "HTTP 408: {\"error\": {\"message\": \"\", \"code\": null}}" },
    { 413, "{\"error\": {\"message\": \"line one\\nline two\\u0000\"}}", VF_ERROR_TOO_LARGE,
      "HTTP 413: line one line two" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    {
      GError *error = body_error (table[i].status, table[i].body);

      g_test_message ("%s", table[i].body);
      g_assert_error (error, VF_ERROR, table[i].code);
      g_assert_cmpstr (error->message, ==, table[i].message);
      g_assert_cmpint (vf_error_http_status (error), ==, table[i].status);
      g_error_free (error);
    }
}

static void
test_body_empty_and_odd (void)
{
  GError *error = vf_error_from_body (502, NULL, 0, NULL);

  g_assert_error (error, VF_ERROR, VF_ERROR_SERVER);
  g_assert_cmpstr (error->message, ==, "HTTP 502: Bad Gateway");
  g_assert_null (vf_error_api_message (error));
  g_assert_null (vf_error_api_code (error));
  g_error_free (error);

  /* A length with a NULL body is ignored. */
  error = vf_error_from_body (401, NULL, 100, NULL);
  g_assert_cmpstr (error->message, ==, "HTTP 401: Unauthorized");
  g_error_free (error);

  /* The body is not NUL-terminated: only len bytes count. */
  error = vf_error_from_body (500, "overloadedGARBAGE", 10, NULL);
  g_assert_cmpstr (error->message, ==, "HTTP 500: overloaded");
  g_error_free (error);

  /* NUL bytes, invalid UTF-8 and control characters. */
  {
    static const char body[] = "bad\0bytes\xff\xfe here\x1b[0m";
    g_autofree char *want = g_strdup ("HTTP 500: bad bytes\xef\xbf\xbd\xef\xbf\xbd here [0m");

    error = vf_error_from_body (500, body, sizeof body - 1, NULL);
    g_assert_cmpstr (error->message, ==, want);
    assert_one_line (error->message, 310);
    g_error_free (error);
  }
}

static void
test_body_huge (void)
{
  const gsize size = 4 * 1024 * 1024;
  g_autofree char *text = g_malloc (size);
  g_autofree char *json = NULL;
  GError *error;

  /* Plain text, multi-byte characters cut on a boundary. */
  for (gsize i = 0; i + 3 <= size; i += 3)
    memcpy (text + i, "\xe8\xa7\x86", 3);
  error = vf_error_from_body (500, text, size - size % 3, NULL);
  g_assert_error (error, VF_ERROR, VF_ERROR_SERVER);
  g_assert_true (g_str_has_prefix (error->message, "HTTP 500: \xe8\xa7\x86"));
  g_assert_true (g_str_has_suffix (error->message, "..."));
  assert_one_line (error->message, strlen ("HTTP 500: ") + 300);
  assert_one_line (vf_error_api_message (error), 300);
  g_error_free (error);

  /* A JSON error with a huge message and a huge code. */
  memset (text, 'm', 100000);
  text[100000] = '\0';
  json = g_strdup_printf ("{\"error\": {\"message\": \"%s\", \"code\": \"%s\"}}", text, text);
  error = vf_error_from_body (400, json, strlen (json), NULL);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  assert_one_line (error->message, strlen ("HTTP 400: ") + 300);
  assert_one_line (vf_error_api_message (error), 300);
  assert_one_line (vf_error_api_code (error), 64);
  g_error_free (error);

  /* Over the JSON cap: read as text, still short. */
  g_free (json);
  json = g_malloc (size + 1);
  memset (json, ' ', size);
  memcpy (json, "{\"error\": {\"message\": \"x\"}}", 27);
  json[size] = '\0';
  error = vf_error_from_body (500, json, size, NULL);
  assert_one_line (error->message, strlen ("HTTP 500: ") + 300);
  g_error_free (error);
}

static void
test_body_redaction (void)
{
  static const struct
  {
    const char *body;
    const char *secret;
    const char *message;
  } table[] = {
    { "{\"error\": {\"message\": \"Incorrect API key provided: "
      "sk-proj-AbCdEf0123456789AbCdEf0123456789. You can find your API key at "
      "https://platform.openai.com/account/api-keys.\", \"code\": \"invalid_api_key\"}}",
      "AbCdEf0123456789",
      "HTTP 401: Incorrect API key provided: sk-[redacted]. You can find your API key at "
      "https://platform.openai.com/account/api-keys. (invalid_api_key)" },
    { "{\"error\": {\"message\": \"Incorrect API key provided: sk-abc**********wxyz.\"}}", "wxyz",
      "HTTP 401: Incorrect API key provided: sk-[redacted]." },
    { "{\"message\": \"bad header Authorization: Bearer tok_SECRET123\"}", "tok_SECRET123",
      "HTTP 401: bad header Authorization: Bearer [redacted]" },
    { "Authorization: bearer   tok.SECRET/456==\r\nHost: x", "SECRET",
      "HTTP 401: Authorization: bearer [redacted] Host: x" },
    { "{\"headers\": {\"authorization\": \"Bearer eyJhbGciOi.SECRET.sig\"}}", "SECRET",
      "HTTP 401: {\"headers\": {\"authorization\": \"Bearer [redacted]\"}}" },
    { "{\"error\": {\"message\": \"denied\", \"code\": \"Bearer SECRETCODE\"}}", "SECRETCODE",
      "HTTP 401: denied (Bearer [redacted])" },
    { "{\"error\": {\"message\": \"key\\nBearer\\tSECRET\\u0000 rest\"}}", "SECRET",
      "HTTP 401: key Bearer [redacted] rest" },
    { "{\"error\": {\"message\": \"risk-free task-sk is fine\"}}", NULL,
      "HTTP 401: risk-free task-sk is fine" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    {
      GError *error = body_error (401, table[i].body);

      g_test_message ("%s", table[i].body);
      g_assert_cmpstr (error->message, ==, table[i].message);
      if (table[i].secret)
        {
          g_assert_null (strstr (error->message, table[i].secret));
          if (vf_error_api_message (error))
            g_assert_null (strstr (vf_error_api_message (error), table[i].secret));
          if (vf_error_api_code (error))
            g_assert_null (strstr (vf_error_api_code (error), table[i].secret));
        }
      g_error_free (error);
    }

  {
    /* A token past the work window cannot leak through the cut either. */
    g_autofree char *spaces = g_strnfill (4086, ' ');
    g_autofree char *body = g_strdup_printf ("x%sBearer SECRETSECRET", spaces);
    GError *error = body_error (401, body);

    g_assert_cmpstr (error->message, ==, "HTTP 401: x Bearer [redacted]");
    g_error_free (error);
  }
}

static void
test_id_nul (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (json_t) object = NULL;
  g_autoptr (VfTask) task = NULL;
  json_error_t jerr;

  /* "video_1\u0000../x" must not be read as the fit id "video_1". */
  object = json_loads ("{\"id\": \"video_1\\u0000../x\", \"status\": \"queued\"}", JSON_ALLOW_NUL,
                       &jerr);
  g_assert_nonnull (object);
  task = vf_task_from_openai (object, &error);
  g_assert_null (task);
  g_assert_error (error, VF_ERROR, VF_ERROR_BAD_ID);
}

/* A new-api gateway's Video: seconds, completed_at filled in while it runs,
 * its own status words and "50%", a Seedance result in metadata.url. */
static void
test_newapi_gateway (void)
{
  static const struct
  {
    const char *word;
    VfState state;
  } words[] = {
    { "NOT_START", VF_STATE_QUEUED },  { "SUBMITTED", VF_STATE_QUEUED },
    { "QUEUED", VF_STATE_QUEUED },     { "IN_PROGRESS", VF_STATE_IN_PROGRESS },
    { "SUCCESS", VF_STATE_COMPLETED }, { "FAILURE", VF_STATE_FAILED },
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (json_t) running
      = parse ("{\"id\": \"task_0123456789abcdefABCDEF0123456789\", \"object\": \"video\","
               " \"status\": \"in_progress\", \"progress\": \"50%\","
               " \"created_at\": 1764347090, \"completed_at\": 1764347150}");
  g_autoptr (json_t) done
      = parse ("{\"id\": \"task_0123456789abcdefABCDEF0123456789\", \"status\": \"completed\","
               " \"model\": \"doubao-seedance-1-0-pro\", \"created_at\": 1764347090,"
               " \"completed_at\": 1764347150,"
               " \"metadata\": {\"url\": \"https://cdn.example/v.mp4?sig=1\"}}");
  g_autoptr (VfTask) task = vf_task_from_openai (running, &error);
  g_autoptr (VfTask) seedance = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (task->state, ==, VF_STATE_IN_PROGRESS);
  g_assert_cmpint (task->progress, ==, 50);
  g_assert_cmpint (task->created_at, ==, 1764347090);
  g_assert_cmpint (task->completed_at, ==, 0);
  g_assert_null (task->video_url);
  for (gsize i = 0; i < G_N_ELEMENTS (words); i++)
    g_assert_cmpint (vf_state_from_openai (words[i].word), ==, words[i].state);

  seedance = vf_task_from_newapi (done, &error);
  g_assert_no_error (error);
  g_assert_cmpint (seedance->protocol, ==, VF_PROTO_NEWAPI);
  g_assert_cmpint (seedance->state, ==, VF_STATE_COMPLETED);
  g_assert_cmpint (seedance->completed_at, ==, 1764347150);
  g_assert_cmpstr (seedance->video_url, ==, "https://cdn.example/v.mp4?sig=1");
  g_assert_cmpstr (seedance->model, ==, "doubao-seedance-1-0-pro");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/task/time", test_time);
  g_test_add_func ("/task/openai/tokenhot-sample", test_openai_tokenhot_sample);
  g_test_add_func ("/task/openai/full", test_openai_full);
  g_test_add_func ("/task/openai/failed", test_openai_failed);
  g_test_add_func ("/task/openai/fields", test_openai_fields);
  g_test_add_func ("/task/openai/refused", test_openai_refused);
  g_test_add_func ("/task/state/openai", test_state_openai);
  g_test_add_func ("/task/state/ark", test_state_ark);
  g_test_add_func ("/task/state/name", test_state_name);
  g_test_add_func ("/task/ark/succeeded", test_ark_succeeded);
  g_test_add_func ("/task/ark/fields", test_ark_fields);
  g_test_add_func ("/task/new", test_new);
  g_test_add_func ("/task/copy", test_copy);
  g_test_add_func ("/task/id-check", test_id_check);
  g_test_add_func ("/task/id-nul", test_id_nul);
  g_test_add_func ("/task/page/openai", test_page_openai);
  g_test_add_func ("/task/page/ark", test_page_ark);
  g_test_add_func ("/task/body/openai", test_body_openai);
  g_test_add_func ("/task/body/ark", test_body_ark);
  g_test_add_func ("/task/body/other-shapes", test_body_other_shapes);
  g_test_add_func ("/task/body/empty-and-odd", test_body_empty_and_odd);
  g_test_add_func ("/task/body/huge", test_body_huge);
  g_test_add_func ("/task/body/redaction", test_body_redaction);
  g_test_add_func ("/task/newapi-gateway", test_newapi_gateway);
  return g_test_run ();
}
