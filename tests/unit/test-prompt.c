/* test-prompt.c: prompt file names, the write-time checker, parsing, the
 * job defaults and the Ark conversion. */
#include <string.h>

#include "vf-error.h"
#include "vf-prompt.h"
#include "vf-task.h"

static void
test_names (void)
{
  static const struct
  {
    const char *name;
    const char *stem; /* NULL: not a prompt file */
  } cases[] = {
    { "kitten.txt", "kitten" },
    { "kitten.json", "kitten" },
    { "a b.txt", "a b" },
    { "take.2.txt", "take.2" },
    { "caf\xc3\xa9.json", "caf\xc3\xa9" },
    { ".x.txt", NULL },
    { ".kitten.txt.swp", NULL },
    { "a.txt.swp", NULL },
    { "kitten.txt~", NULL },
    { "#kitten.txt#", NULL },
    { "4913", NULL },
    { ".goutputstream-ABC123", NULL },
    { ".kitten.txt.Gx81Ab", NULL },
    { "x.TXT", NULL },
    { "x.Json", NULL },
    { ".txt", NULL },
    { ".json", NULL },
    { "txt", NULL },
    { "kitten", NULL },
    { "kittentxt", NULL },
    { "a/b.txt", NULL },
    { "", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *stem = NULL;
      gboolean is_prompt = vf_prompt_name (cases[i].name, &stem);

      g_test_message ("name '%s'", cases[i].name);
      g_assert_cmpint (is_prompt, ==, cases[i].stem != NULL);
      g_assert_cmpstr (stem, ==, cases[i].stem);
      g_assert_cmpint (vf_prompt_name (cases[i].name, NULL), ==, is_prompt);
    }
}

/* Names that may be made in jobs/: UTF-8, and nothing that ends or bends
 * a line of `status` or `events` (the control characters of Unicode). */
static void
test_name_check (void)
{
  static const struct
  {
    const char *name;
    const char *why; /* NULL: allowed; else a word of the reason */
  } cases[] = {
    { "kitten.txt", NULL },
    { "a b.txt", NULL },
    { "caf\xc3\xa9.txt", NULL },
    { "\xe2\x80\xa8.txt", NULL }, /* U+2028 is no control character */
    { "4913", NULL },
    { ".kitten.txt.swp", NULL },
    { "caf\xe9.txt", "UTF-8" },
    { "caf\xc3.txt", "UTF-8" },
    { "\xed\xa0\x80.txt", "UTF-8" }, /* a surrogate */
    { "a\nfake  completed  100%  video_fake.txt", "control" },
    { "tab\there.txt", "control" },
    { "\r.txt", "control" },
    { "esc\x1b[31m.txt", "control" },
    { "del\x7f.txt", "control" },
    { "csi\xc2\x9b.txt", "control" }, /* U+009B */
    { "nel\xc2\x85", "control" },     /* U+0085, even in a scratch name */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean ok = vf_prompt_name_check (cases[i].name, &error);

      g_test_message ("name %zu", i);
      if (!cases[i].why)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          continue;
        }
      g_assert_false (ok);
      g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, cases[i].why));
      /* the reason is printable itself */
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      g_assert_null (strchr (error->message, '\n'));
    }
}

/* Feeds the writes; returns the error of the first that fails, or NULL. */
static GError *
check_writes (VfPromptCheck *check, const char *data, const gsize *cuts, gsize n_cuts, gsize len)
{
  GError *error = NULL;
  gsize start = 0;

  for (gsize i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : len;
      if (!vf_prompt_check_write (check, start, data + start, end - start, &error))
        return error;
      start = end;
    }
  return NULL;
}

static void
assert_check_ok (const char *data, gsize len)
{
  VfPromptCheck check;
  GError *error = NULL;

  vf_prompt_check_init (&check);
  g_assert_true (vf_prompt_check_write (&check, 0, data, len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (check.n_pending, ==, 0);
}

static void
assert_check_fails (const char *data, gsize len, int code, const char *message)
{
  VfPromptCheck check;
  GError *error = NULL;

  vf_prompt_check_init (&check);
  g_assert_false (vf_prompt_check_write (&check, 0, data, len, &error));
  g_assert_error (error, VF_ERROR, code);
  g_assert_cmpstr (error->message, ==, message);
  g_clear_error (&error);
}

static void
test_check_split (void)
{
  /* "a", U+1F600 (4 bytes), U+20AC (3), U+00E9 (2), "b" */
  const char *text = "a\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9z";
  gsize len = strlen (text);

  /* Two writes, cut at every point. */
  for (gsize cut = 0; cut <= len; cut++)
    {
      VfPromptCheck check;
      GError *error;

      vf_prompt_check_init (&check);
      error = check_writes (&check, text, &cut, 1, len);
      g_assert_no_error (error);
      g_assert_cmpuint (check.n_pending, ==, 0);
      g_assert_cmpint (check.next_offset, ==, len);
    }

  /* Every pair of cuts inside the 4-byte character, and one byte at a time. */
  for (gsize a = 1; a <= 5; a++)
    for (gsize b = a; b <= 5; b++)
      {
        VfPromptCheck check;
        gsize cuts[2] = { a, b };
        GError *error;

        vf_prompt_check_init (&check);
        error = check_writes (&check, text, cuts, 2, len);
        g_assert_no_error (error);
        g_assert_cmpuint (check.n_pending, ==, 0);
      }
  {
    VfPromptCheck check;
    gsize cuts[16];
    GError *error;

    for (gsize i = 0; i < len - 1; i++)
      cuts[i] = i + 1;
    vf_prompt_check_init (&check);
    error = check_writes (&check, text, cuts, len - 1, len);
    g_assert_no_error (error);
    g_assert_cmpuint (check.n_pending, ==, 0);
  }
}

static void
test_check_pending (void)
{
  VfPromptCheck check;
  GError *error = NULL;

  /* An incomplete sequence waits for the next write... */
  vf_prompt_check_init (&check);
  g_assert_true (vf_prompt_check_write (&check, 0, "a\xf0\x9f", 3, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (check.n_pending, ==, 2);
  g_assert_cmpint (check.next_offset, ==, 3);

  /* ...which must complete it: the error names the start of the sequence. */
  g_assert_false (vf_prompt_check_write (&check, 3, "bc", 2, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==, "invalid UTF-8 at offset 1");
  g_clear_error (&error);

  /* A refused write changes nothing: the right bytes still complete it. */
  g_assert_cmpuint (check.n_pending, ==, 2);
  g_assert_true (vf_prompt_check_write (&check, 3, "\x98\x80!", 3, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (check.n_pending, ==, 0);
  g_assert_cmpint (check.next_offset, ==, 6);

  /* A write elsewhere forgets the pending bytes: its continuation bytes
   * then stand alone. */
  vf_prompt_check_init (&check);
  g_assert_true (vf_prompt_check_write (&check, 0, "\xf0\x9f", 2, &error));
  g_assert_false (vf_prompt_check_write (&check, 10, "\x98\x80", 2, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==, "invalid UTF-8 at offset 10");
  g_clear_error (&error);
  g_assert_true (vf_prompt_check_write (&check, 10, "ok", 2, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (check.n_pending, ==, 0);

  /* An empty write at the end keeps what is pending. */
  vf_prompt_check_init (&check);
  g_assert_true (vf_prompt_check_write (&check, 0, "\xe2\x82", 2, &error));
  g_assert_true (vf_prompt_check_write (&check, 2, "", 0, &error));
  g_assert_cmpuint (check.n_pending, ==, 2);
  g_assert_true (vf_prompt_check_write (&check, 2, "\xac", 1, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (check.n_pending, ==, 0);
}

static void
test_check_invalid (void)
{
  static const struct
  {
    const char *data;
    gsize len;
    const char *message;
  } bad[] = {
    { "ab\0c", 4, "prompt contains a NUL byte at offset 2" },
    { "\0", 1, "prompt contains a NUL byte at offset 0" },
    { "ab\xc0\xaf", 4, "invalid UTF-8 at offset 2" },         /* overlong '/' */
    { "\xc1\xbf", 2, "invalid UTF-8 at offset 0" },           /* overlong */
    { "x\xe0\x80\xaf", 4, "invalid UTF-8 at offset 1" },      /* overlong 3-byte */
    { "\xe0\x9f\xbf", 3, "invalid UTF-8 at offset 0" },       /* overlong 3-byte */
    { "xy\xf0\x80\x80\xaf", 6, "invalid UTF-8 at offset 2" }, /* overlong 4-byte */
    { "\xf0\x8f\xbf\xbf", 4, "invalid UTF-8 at offset 0" },   /* overlong 4-byte */
    { "\xed\xa0\x80", 3, "invalid UTF-8 at offset 0" },       /* U+D800 */
    { "\xed\xbf\xbf", 3, "invalid UTF-8 at offset 0" },       /* U+DFFF */
    { "\xf4\x90\x80\x80", 4, "invalid UTF-8 at offset 0" },   /* U+110000 */
    { "\xf5\x80\x80\x80", 4, "invalid UTF-8 at offset 0" },
    { "\xff", 1, "invalid UTF-8 at offset 0" },
    { "\xfe", 1, "invalid UTF-8 at offset 0" },
    { "abc\x80", 4, "invalid UTF-8 at offset 3" },  /* stray continuation */
    { "\xc3\x28", 2, "invalid UTF-8 at offset 0" }, /* cut short */
    { "\xe2\x82\x28", 3, "invalid UTF-8 at offset 0" },
    { "\xc3\x00", 2, "invalid UTF-8 at offset 0" },
    /* Already impossible as a prefix: refused at once, not left pending. */
    { "\xed\xa0", 2, "invalid UTF-8 at offset 0" },
    { "\xf4\x90", 2, "invalid UTF-8 at offset 0" },
    { "\xe0\x80", 2, "invalid UTF-8 at offset 0" },
  };
  static const char *const good[] = {
    "\x7f",         "\xc2\x80",     "\xdf\xbf",         "\xe0\xa0\x80",     "\xed\x9f\xbf",
    "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "line\r\n\ttab",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("bad case %" G_GSIZE_FORMAT, i);
      assert_check_fails (bad[i].data, bad[i].len, VF_ERROR_INVALID, bad[i].message);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    assert_check_ok (good[i], strlen (good[i]));

  /* Offsets count from the start of the file. */
  {
    VfPromptCheck check;
    GError *error = NULL;

    vf_prompt_check_init (&check);
    g_assert_false (vf_prompt_check_write (&check, 100, "abc\0", 4, &error));
    g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
    g_assert_cmpstr (error->message, ==, "prompt contains a NUL byte at offset 103");
    g_clear_error (&error);
  }
}

static void
test_check_size (void)
{
  g_autofree char *big = g_malloc (VF_PROMPT_MAX + 1);
  VfPromptCheck check;
  GError *error = NULL;

  memset (big, 'a', VF_PROMPT_MAX + 1);
  g_assert_cmpint (VF_PROMPT_MAX, ==, 32768);

  assert_check_ok (big, VF_PROMPT_MAX);
  assert_check_fails (big, VF_PROMPT_MAX + 1, VF_ERROR_TOO_LARGE, "prompt is larger than 32 KiB");

  vf_prompt_check_init (&check);
  g_assert_true (vf_prompt_check_write (&check, VF_PROMPT_MAX - 1, "a", 1, &error));
  g_assert_no_error (error);
  g_assert_true (vf_prompt_check_write (&check, VF_PROMPT_MAX, "", 0, &error));
  g_assert_no_error (error);
  g_assert_false (vf_prompt_check_write (&check, VF_PROMPT_MAX, "a", 1, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_TOO_LARGE);
  g_assert_cmpstr (error->message, ==, "prompt is larger than 32 KiB");
  g_clear_error (&error);
  g_assert_false (vf_prompt_check_write (&check, VF_PROMPT_MAX - 2, "abc", 3, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_TOO_LARGE);
  g_clear_error (&error);
  g_assert_false (vf_prompt_check_write (&check, G_MAXINT64 - 1, "abc", 3, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_TOO_LARGE);
  g_clear_error (&error);
}

/* Parses and compares with the expected body as compact JSON. */
static void
assert_parse (const char *data, gboolean is_json, const VfPromptDefaults *defaults,
              const char *expected)
{
  GError *error = NULL;
  g_autoptr (json_t) body = vf_prompt_parse (data, strlen (data), is_json, defaults, &error);
  g_autofree char *got = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (body);
  got = json_dumps (body, JSON_COMPACT);
  g_assert_cmpstr (got, ==, expected);
}

static void
assert_parse_fails_len (const char *data, gsize len, gboolean is_json, int code,
                        const char *message)
{
  GError *error = NULL;
  json_t *body = vf_prompt_parse (data, len, is_json, NULL, &error);

  g_assert_null (body);
  g_assert_error (error, VF_ERROR, code);
  g_assert_cmpstr (error->message, ==, message);
  g_clear_error (&error);
}

static void
assert_parse_fails (const char *data, gboolean is_json, const char *message)
{
  assert_parse_fails_len (data, strlen (data), is_json, VF_ERROR_INVALID, message);
}

static void
test_parse_txt (void)
{
  const VfPromptDefaults custom = { "sora-2-pro", "8", "1280x720" };
  const VfPromptDefaults partial = { NULL, "12", NULL };

  assert_parse ("A kitten plays with yarn.\n", FALSE, NULL,
                "{\"model\":\"sora-2\",\"prompt\":\"A kitten plays with yarn.\","
                "\"seconds\":\"4\",\"size\":\"720x1280\"}");
  assert_parse ("A kitten", FALSE, &custom,
                "{\"model\":\"sora-2-pro\",\"prompt\":\"A kitten\",\"seconds\":\"8\","
                "\"size\":\"1280x720\"}");
  assert_parse ("A kitten", FALSE, &partial,
                "{\"model\":\"sora-2\",\"prompt\":\"A kitten\",\"seconds\":\"12\","
                "\"size\":\"720x1280\"}");
  /* Leading blank lines and trailing white space go; the rest stays. */
  assert_parse ("\n  \n\r\n  Line one\n\nline \"two\"\t\n\n \r\n", FALSE, NULL,
                "{\"model\":\"sora-2\",\"prompt\":\"  Line one\\n\\nline \\\"two\\\"\","
                "\"seconds\":\"4\",\"size\":\"720x1280\"}");
  /* A byte-order mark is not part of the prompt. */
  assert_parse ("\xef\xbb\xbfHi", FALSE, NULL,
                "{\"model\":\"sora-2\",\"prompt\":\"Hi\",\"seconds\":\"4\",\"size\":\"720x1280\"}");
  /* "---" not on the first line: no front matter. */
  assert_parse ("Hello\n---\nseconds: 8\n---\n", FALSE, NULL,
                "{\"model\":\"sora-2\",\"prompt\":\"Hello\\n---\\nseconds: 8\\n---\","
                "\"seconds\":\"4\",\"size\":\"720x1280\"}");
  assert_parse ("---- not a fence\nHi", FALSE, NULL,
                "{\"model\":\"sora-2\",\"prompt\":\"---- not a fence\\nHi\",\"seconds\":\"4\","
                "\"size\":\"720x1280\"}");
}

static void
test_parse_front_matter (void)
{
  assert_parse ("---\n"
                "model: sora-2-pro\n"
                "seconds: 8\n"
                "size: 1792x1024\n"
                "seed: 42\n"
                "offset: -3\n"
                "watermark: false\n"
                "audio: true\n"
                "style: film noir: rainy\n"
                "quoted: \"42\"\n"
                "single: 'true'\n"
                "empty: \"\"\n"
                "\n"
                "---\n"
                "\n"
                "A kitten\n",
                FALSE, NULL,
                "{\"model\":\"sora-2-pro\",\"prompt\":\"A kitten\",\"seconds\":\"8\","
                "\"size\":\"1792x1024\",\"seed\":42,\"offset\":-3,\"watermark\":false,"
                "\"audio\":true,\"style\":\"film noir: rainy\",\"quoted\":\"42\","
                "\"single\":\"true\",\"empty\":\"\"}");
  /* CRLF, trailing blanks on fences, spaces around keys and values, a
   * value normalised. */
  assert_parse ("--- \r\n  seconds :  08 \r\n size: 1280x720\r\n---\t\r\nHello\r\n", FALSE, NULL,
                "{\"model\":\"sora-2\",\"prompt\":\"Hello\",\"seconds\":\"8\","
                "\"size\":\"1280x720\"}");
  /* Quoted seconds are fine too. */
  assert_parse ("---\nseconds: \"12\"\n---\nHi", FALSE, NULL,
                "{\"model\":\"sora-2\",\"prompt\":\"Hi\",\"seconds\":\"12\","
                "\"size\":\"720x1280\"}");
  /* Empty front matter. */
  assert_parse ("---\n---\nHi", FALSE, NULL,
                "{\"model\":\"sora-2\",\"prompt\":\"Hi\",\"seconds\":\"4\",\"size\":\"720x1280\"}");
  /* Seedance: no seconds or size unless asked for. */
  assert_parse ("---\nmodel: doubao-seedance-1-0-pro-250528\n---\nA cat\n", FALSE, NULL,
                "{\"model\":\"doubao-seedance-1-0-pro-250528\",\"prompt\":\"A cat\"}");
  assert_parse ("---\nmodel: doubao-seedance-1-0-lite-t2v\nseconds: 5\n---\nA cat\n", FALSE, NULL,
                "{\"model\":\"doubao-seedance-1-0-lite-t2v\",\"prompt\":\"A cat\","
                "\"seconds\":\"5\"}");
}

static void
test_parse_errors (void)
{
  assert_parse_fails ("", FALSE, "the prompt is empty");
  assert_parse_fails (" \n\t\r\n\n", FALSE, "the prompt is empty");
  assert_parse_fails ("---\nseconds: 8\n---\n\n  \n", FALSE, "the prompt is empty");
  assert_parse_fails ("---\nseconds: 8\n---", FALSE, "the prompt is empty");
  assert_parse_fails ("---\nseconds: 8\nA kitten\n", FALSE,
                      "front matter line 3 has no ':' (lines there are key: value)");
  assert_parse_fails ("---\nseconds: 8\nsize: 1280x720\n", FALSE,
                      "front matter is not closed (a line \"---\" must end it)");
  assert_parse_fails ("---", FALSE, "front matter is not closed (a line \"---\" must end it)");
  assert_parse_fails ("---\n\n: 8\n---\nHi", FALSE, "front matter line 3 has an empty key");
  assert_parse_fails ("---\nseed: 1\nmodel: a\nseed: 2\n---\nHi", FALSE,
                      "front matter line 4 repeats the key \"seed\"");
  assert_parse_fails ("---\nseed:\n---\nHi", FALSE, "front matter line 2: \"seed\" has no value");
  assert_parse_fails ("---\nmodel: \"\"\n---\nHi", FALSE,
                      "front matter line 2: model must be a non-empty name");
  assert_parse_fails ("---\nprompt: hi\n---\nHi", FALSE,
                      "front matter line 2: \"prompt\" cannot be set here: the prompt is the text "
                      "after the front matter");
  assert_parse_fails ("---\ncontent: x\n---\nHi", FALSE,
                      "front matter line 2: \"content\" cannot be set here: the prompt is the text "
                      "after the front matter");

  {
    static const char *const seconds[] = { "0", "61", "4.5", "-4", "+4", "abc", "4s", "1e1" };
    for (gsize i = 0; i < G_N_ELEMENTS (seconds); i++)
      {
        g_autofree char *text = g_strdup_printf ("---\nseconds: %s\n---\nHi", seconds[i]);
        g_autofree char *message = g_strdup_printf (
            "front matter line 2: seconds must be a whole number from 1 to 60, not %s", seconds[i]);
        assert_parse_fails (text, FALSE, message);
      }
    assert_parse ("---\nseconds: 60\n---\nHi", FALSE, NULL,
                  "{\"model\":\"sora-2\",\"prompt\":\"Hi\",\"seconds\":\"60\","
                  "\"size\":\"720x1280\"}");
    assert_parse ("---\nseconds: 1\n---\nHi", FALSE, NULL,
                  "{\"model\":\"sora-2\",\"prompt\":\"Hi\",\"seconds\":\"1\","
                  "\"size\":\"720x1280\"}");
  }
  {
    static const char *const sizes[]
        = { "1280",      "x720",       "1280x",     "0x720", "1280X720", "16:9",
            "1280x720x", "1280 x 720", "-1280x720", "a*b",   "720p" };
    for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
      {
        g_autofree char *text = g_strdup_printf ("---\nsize: %s\n---\nHi", sizes[i]);
        g_autofree char *message = g_strdup_printf (
            "front matter line 2: size must be WIDTHxHEIGHT, like 1280x720, not %s", sizes[i]);
        assert_parse_fails (text, FALSE, message);
      }
  }

  /* What the checker refuses is refused here too, for both kinds. */
  for (int is_json = 0; is_json <= 1; is_json++)
    {
      g_autofree char *big = g_malloc (VF_PROMPT_MAX + 1);

      assert_parse_fails_len ("Hi\0there", 8, is_json, VF_ERROR_INVALID,
                              "prompt contains a NUL byte at offset 2");
      assert_parse_fails_len ("Hi \xed\xa0\x80", 6, is_json, VF_ERROR_INVALID,
                              "invalid UTF-8 at offset 3");
      assert_parse_fails_len ("Hi \xf0\x9f\x98", 6, is_json, VF_ERROR_INVALID,
                              "invalid UTF-8 at offset 3");
      memset (big, ' ', VF_PROMPT_MAX + 1);
      big[0] = is_json ? '{' : 'a';
      assert_parse_fails_len (big, VF_PROMPT_MAX + 1, is_json, VF_ERROR_TOO_LARGE,
                              "prompt is larger than 32 KiB");
    }
}

static void
test_parse_size_limit (void)
{
  g_autofree char *big = g_malloc (VF_PROMPT_MAX);
  g_autoptr (json_t) body = NULL;
  GError *error = NULL;

  memset (big, 'a', VF_PROMPT_MAX);
  body = vf_prompt_parse (big, VF_PROMPT_MAX, FALSE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_string_length (json_object_get (body, "prompt")), ==, VF_PROMPT_MAX);
  g_clear_pointer (&body, json_decref);

  /* A JSON body of exactly the limit. */
  memcpy (big, "{\"prompt\":\"", 11);
  memcpy (big + VF_PROMPT_MAX - 2, "\"}", 2);
  body = vf_prompt_parse (big, VF_PROMPT_MAX, TRUE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_string_length (json_object_get (body, "prompt")), ==, VF_PROMPT_MAX - 13);
}

static void
test_parse_json (void)
{
  const VfPromptDefaults custom = { "sora-2-pro", "8", "1280x720" };

  /* Defaults for what is missing, after the user's keys. */
  assert_parse ("{\"prompt\": \"A cat\"}", TRUE, NULL,
                "{\"prompt\":\"A cat\",\"model\":\"sora-2\",\"seconds\":\"4\","
                "\"size\":\"720x1280\"}");
  assert_parse ("{\"size\": \"1280x720\", \"prompt\": \"A cat\"}", TRUE, &custom,
                "{\"size\":\"1280x720\",\"prompt\":\"A cat\",\"model\":\"sora-2-pro\","
                "\"seconds\":\"8\"}");
  /* What is given is kept as is, other fields included. */
  assert_parse ("{\"model\": \"sora-2\", \"prompt\": \" A cat \\n\", \"seconds\": \"12\", "
                "\"size\": \"1024x1792\", \"input\": {\"x\": [1, null]}}",
                TRUE, NULL,
                "{\"model\":\"sora-2\",\"prompt\":\" A cat \\n\",\"seconds\":\"12\","
                "\"size\":\"1024x1792\",\"input\":{\"x\":[1,null]}}");
  /* seconds as a number becomes the string the API wants. */
  assert_parse ("{\"prompt\": \"A cat\", \"seconds\": 8}", TRUE, NULL,
                "{\"prompt\":\"A cat\",\"seconds\":\"8\",\"model\":\"sora-2\","
                "\"size\":\"720x1280\"}");
  assert_parse ("{\"prompt\": \"A cat\", \"seconds\": 12.0}", TRUE, NULL,
                "{\"prompt\":\"A cat\",\"seconds\":\"12\",\"model\":\"sora-2\","
                "\"size\":\"720x1280\"}");
  /* Seedance: no seconds or size added. */
  assert_parse ("{\"model\": \"doubao-seedance-1-0-pro\", \"prompt\": \"A cat\"}", TRUE, NULL,
                "{\"model\":\"doubao-seedance-1-0-pro\",\"prompt\":\"A cat\"}");
  /* Ark-shaped bodies pass as they are, with a model if they lack one. */
  assert_parse ("{\"model\": \"doubao-seedance-1-0-pro\", \"content\": [{\"type\": \"image_url\", "
                "\"image_url\": {\"url\": \"https://x/y.png\"}}, {\"type\": \"text\", \"text\": "
                "\"A cat --ratio 16:9\"}]}",
                TRUE, NULL,
                "{\"model\":\"doubao-seedance-1-0-pro\",\"content\":[{\"type\":\"image_url\","
                "\"image_url\":{\"url\":\"https://x/y.png\"}},{\"type\":\"text\",\"text\":"
                "\"A cat --ratio 16:9\"}]}");
  assert_parse ("{\"content\": [{\"type\": \"text\", \"text\": \"A cat\"}]}", TRUE, NULL,
                "{\"content\":[{\"type\":\"text\",\"text\":\"A cat\"}],\"model\":\"sora-2\"}");
  assert_parse ("\xef\xbb\xbf{\"prompt\": \"A cat\"}", TRUE, NULL,
                "{\"prompt\":\"A cat\",\"model\":\"sora-2\",\"seconds\":\"4\","
                "\"size\":\"720x1280\"}");
}

static void
test_parse_json_errors (void)
{
  GError *error = NULL;
  json_t *body;

  /* jansson's position and words. */
  body = vf_prompt_parse ("{\n  \"prompt\": \"A cat\",\n}", 24, TRUE, NULL, &error);
  g_assert_null (body);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_true (g_str_has_prefix (error->message, "invalid JSON at line 3, column 1: "));
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  body = vf_prompt_parse ("A cat", 5, TRUE, NULL, &error);
  g_assert_null (body);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_true (g_str_has_prefix (error->message, "invalid JSON at line 1, column 1: "));
  g_clear_error (&error);

  body = vf_prompt_parse ("{\"prompt\": \"a\", \"prompt\": \"b\"}", 30, TRUE, NULL, &error);
  g_assert_null (body);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_true (g_str_has_prefix (error->message, "invalid JSON at line 1, column "));
  g_assert_nonnull (strstr (error->message, "duplicate"));
  g_clear_error (&error);

  /* jansson quotes the bytes it read, which can end inside a character:
   * the reason is kept in the journal, which takes only UTF-8. */
  static const char cut[] = "{\"p--\\\xef\xbb\xbf\nu";
  body = vf_prompt_parse (cut, sizeof cut - 1, TRUE, NULL, &error);
  g_assert_null (body);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_true (g_str_has_prefix (error->message, "invalid JSON at line 1, column "));
  g_clear_error (&error);

  assert_parse_fails ("", TRUE,
                      "invalid JSON at line 1, column 0: '[' or '{' expected near end of file");
  assert_parse_fails ("[\"A cat\"]", TRUE, "the request body must be a JSON object");
  assert_parse_fails ("{}", TRUE, "the request body needs a \"prompt\" string");
  assert_parse_fails ("{\"prompt\": 5}", TRUE, "the request body needs a \"prompt\" string");
  assert_parse_fails ("{\"prompt\": \"\"}", TRUE, "the prompt is empty");
  assert_parse_fails ("{\"prompt\": \" \\n \"}", TRUE, "the prompt is empty");
  assert_parse_fails ("{\"prompt\": \"a\", \"model\": \"\"}", TRUE,
                      "\"model\" must be a non-empty string");
  assert_parse_fails ("{\"prompt\": \"a\", \"model\": 2}", TRUE,
                      "\"model\" must be a non-empty string");
  assert_parse_fails ("{\"prompt\": \"a\", \"seconds\": 8.5}", TRUE,
                      "seconds must be a whole number from 1 to 60, not 8.5");
  assert_parse_fails ("{\"prompt\": \"a\", \"seconds\": 0}", TRUE,
                      "seconds must be a whole number from 1 to 60, not 0");
  assert_parse_fails ("{\"prompt\": \"a\", \"seconds\": \"four\"}", TRUE,
                      "seconds must be a whole number from 1 to 60, not \"four\"");
  assert_parse_fails ("{\"prompt\": \"a\", \"seconds\": null}", TRUE,
                      "seconds must be a whole number from 1 to 60, not null");
  assert_parse_fails ("{\"prompt\": \"a\", \"size\": \"big\"}", TRUE,
                      "size must be WIDTHxHEIGHT, like 1280x720, not \"big\"");
  assert_parse_fails ("{\"prompt\": \"a\", \"size\": [1280, 720]}", TRUE,
                      "size must be WIDTHxHEIGHT, like 1280x720, not [1280,720]");
  assert_parse_fails ("{\"content\": []}", TRUE,
                      "\"content\" must be an array with a {\"type\": \"text\"} item");
  assert_parse_fails ("{\"content\": \"A cat\"}", TRUE,
                      "\"content\" must be an array with a {\"type\": \"text\"} item");
  assert_parse_fails ("{\"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}", TRUE,
                      "\"content\" must be an array with a {\"type\": \"text\"} item");
}

static void
assert_ark (const char *body_json, const char *expected)
{
  g_autoptr (json_t) body = json_loads (body_json, 0, NULL);
  g_autoptr (json_t) before = json_deep_copy (body);
  g_autoptr (json_t) ark = NULL;
  g_autofree char *got = NULL;

  g_assert_nonnull (body);
  ark = vf_prompt_to_ark (body);
  g_assert_nonnull (ark);
  g_assert_true (ark != body);
  got = json_dumps (ark, JSON_COMPACT);
  g_assert_cmpstr (got, ==, expected);
  /* The body is left alone. */
  g_assert_true (json_equal (body, before));
}

static void
test_to_ark (void)
{
  assert_ark ("{\"model\":\"doubao-seedance-1-0-pro\",\"prompt\":\"A cat\",\"seconds\":\"5\","
              "\"size\":\"1280x720\",\"seed\":42,\"watermark\":false}",
              "{\"model\":\"doubao-seedance-1-0-pro\",\"content\":[{\"type\":\"text\",\"text\":"
              "\"A cat --duration 5 --ratio 16:9 --resolution 720p\"}],\"seed\":42,"
              "\"watermark\":false}");
  assert_ark ("{\"model\":\"m\",\"prompt\":\"A cat\",\"size\":\"720x1280\"}",
              "{\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":"
              "\"A cat --ratio 9:16 --resolution 720p\"}]}");
  assert_ark ("{\"model\":\"m\",\"prompt\":\"A cat\",\"size\":\"1920x1080\"}",
              "{\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":"
              "\"A cat --ratio 16:9 --resolution 1080p\"}]}");
  assert_ark ("{\"model\":\"m\",\"prompt\":\"A cat\",\"size\":\"640x480\"}",
              "{\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":"
              "\"A cat --ratio 4:3 --resolution 480p\"}]}");
  assert_ark ("{\"model\":\"m\",\"prompt\":\"A cat\",\"size\":\"1024x1792\"}",
              "{\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":"
              "\"A cat --ratio 4:7\"}]}");
  assert_ark ("{\"model\":\"m\",\"prompt\":\"A cat\",\"size\":\"960x960\",\"seconds\":10}",
              "{\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":"
              "\"A cat --duration 10 --ratio 1:1\"}]}");
  assert_ark ("{\"model\":\"m\",\"prompt\":\"A cat --fps 24\"}",
              "{\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"A cat --fps 24\"}]}");
  /* Already Ark-shaped: a copy, unchanged. */
  assert_ark ("{\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"A cat\"}],"
              "\"seconds\":\"5\",\"callback_url\":\"http://x\"}",
              "{\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"A cat\"}],"
              "\"seconds\":\"5\",\"callback_url\":\"http://x\"}");
}

/* The whole way from a .txt file to an Ark body. */
static void
test_txt_to_ark (void)
{
  const char *text = "---\nmodel: doubao-seedance-1-0-pro-250528\nseconds: 5\nsize: 1280x720\n"
                     "camera_fixed: true\n---\nA red fox runs through snow.\n";
  GError *error = NULL;
  g_autoptr (json_t) body = vf_prompt_parse (text, strlen (text), FALSE, NULL, &error);
  g_autoptr (json_t) ark = NULL;
  g_autofree char *got = NULL;

  g_assert_no_error (error);
  ark = vf_prompt_to_ark (body);
  got = json_dumps (ark, JSON_COMPACT);
  g_assert_cmpstr (got, ==,
                   "{\"model\":\"doubao-seedance-1-0-pro-250528\",\"content\":[{\"type\":\"text\","
                   "\"text\":\"A red fox runs through snow. --duration 5 --ratio 16:9 "
                   "--resolution 720p\"}],\"camera_fixed\":true}");
}

static void
assert_defaults_fail (const VfPromptDefaults *defaults, const char *message)
{
  GError *error = NULL;

  g_assert_false (vf_prompt_defaults_check (defaults, &error));
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==, message);
  g_clear_error (&error);
}

static void
test_defaults (void)
{
  VfPromptDefaults d;
  const VfPromptDefaults none = { NULL, NULL, NULL };
  const VfPromptDefaults edges = { "m", "60", "100000x1" };
  const VfPromptDefaults low = { "m", "1", "1x100000" };
  GError *error = NULL;

  vf_prompt_defaults_init (&d);
  g_assert_cmpstr (d.model, ==, "sora-2");
  g_assert_cmpstr (d.seconds, ==, "4");
  g_assert_cmpstr (d.size, ==, "720x1280");
  g_assert_true (vf_prompt_defaults_check (&d, &error));
  g_assert_no_error (error);
  g_assert_true (vf_prompt_defaults_check (&none, &error));
  g_assert_true (vf_prompt_defaults_check (&edges, &error));
  g_assert_true (vf_prompt_defaults_check (&low, &error));
  g_assert_no_error (error);

  assert_defaults_fail (&(VfPromptDefaults){ "", NULL, NULL }, "model=: want a model name");
  assert_defaults_fail (&(VfPromptDefaults){ NULL, "0", NULL },
                        "seconds=0: want a whole number from 1 to 60");
  assert_defaults_fail (&(VfPromptDefaults){ NULL, "999", NULL },
                        "seconds=999: want a whole number from 1 to 60");
  assert_defaults_fail (&(VfPromptDefaults){ NULL, "4.5", NULL },
                        "seconds=4.5: want a whole number from 1 to 60");
  assert_defaults_fail (&(VfPromptDefaults){ NULL, NULL, "0x0" },
                        "size=0x0: want WIDTHxHEIGHT with sides from 1 to 100000, like 1280x720");
  assert_defaults_fail (
      &(VfPromptDefaults){ NULL, NULL, "1280x0" },
      "size=1280x0: want WIDTHxHEIGHT with sides from 1 to 100000, like 1280x720");
  assert_defaults_fail (&(VfPromptDefaults){ NULL, NULL, "100001x720" },
                        "size=100001x720: want WIDTHxHEIGHT with sides from 1 to 100000, like "
                        "1280x720");
}

/* A default is taken exactly when a front matter line with the same value
 * would be. */
static void
test_defaults_match_front_matter (void)
{
  static const char *const seconds[]
      = { "1", "4", "08", "60", "0", "61", "999", "-1", "4.5", "four", "1234567890" };
  static const char *const sizes[] = { "720x1280",   "1x1",  "100000x100000", "0x0", "1280x0",
                                       "100001x720", "1280", "1280x720x1",    "axb", "x720" };

  for (gsize i = 0; i < G_N_ELEMENTS (seconds) + G_N_ELEMENTS (sizes); i++)
    {
      gboolean is_seconds = i < G_N_ELEMENTS (seconds);
      const char *value = is_seconds ? seconds[i] : sizes[i - G_N_ELEMENTS (seconds)];
      VfPromptDefaults d = { NULL, is_seconds ? value : NULL, is_seconds ? NULL : value };
      g_autofree char *text
          = g_strdup_printf ("---\n%s: %s\n---\nHi", is_seconds ? "seconds" : "size", value);
      g_autoptr (GError) e1 = NULL;
      g_autoptr (GError) e2 = NULL;
      g_autoptr (json_t) body = vf_prompt_parse (text, strlen (text), FALSE, NULL, &e2);

      g_test_message ("%s", text);
      g_assert_cmpint (vf_prompt_defaults_check (&d, &e1), ==, body != NULL);
    }
}

/* A picture's request: no seconds or size of its own, the size words of
 * the picture APIs kept as written, any other size still WxH. */
static void
test_parse_picture (void)
{
  VfPromptDefaults d = { .model = "gpt-image-1", .picture = TRUE };
  GError *error = NULL;
  json_t *body;

  assert_parse ("a fox", FALSE, &d, "{\"model\":\"gpt-image-1\",\"prompt\":\"a fox\"}");
  assert_parse ("---\nsize: auto\nn: 3\n---\na fox", FALSE, &d,
                "{\"model\":\"gpt-image-1\",\"prompt\":\"a fox\",\"size\":\"auto\",\"n\":3}");
  assert_parse ("---\nsize: 4K\n---\na fox", FALSE, &d,
                "{\"model\":\"gpt-image-1\",\"prompt\":\"a fox\",\"size\":\"4K\"}");
  assert_parse ("{\"prompt\":\"a fox\",\"size\":\"2K\"}", TRUE, &d,
                "{\"prompt\":\"a fox\",\"size\":\"2K\",\"model\":\"gpt-image-1\"}");
  body = vf_prompt_parse ("---\nsize: big\n---\na fox", 25, FALSE, &d, &error);
  g_assert_null (body);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);
  /* not for a video */
  body = vf_prompt_parse ("---\nsize: auto\n---\na fox", 25, FALSE, NULL, &error);
  g_assert_null (body);
  g_assert_error (error, VF_ERROR, VF_ERROR_INVALID);
  g_clear_error (&error);
}

static void
test_file_rename (void)
{
  static const struct
  {
    const char *old, *name, *want;
  } cases[] = {
    { "a.txt", "b", "b.txt" }, { "a.json", "b", "b.json" }, { "a.b.json", "c", "c.json" },
    { NULL, "b", "b.txt" },    { "a", "b", "b.txt" },       { "a.txt", "b.c", "b.c.txt" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *got = vf_prompt_file_rename (cases[i].old, cases[i].name);
      g_assert_cmpstr (got, ==, cases[i].want);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/prompt/names", test_names);
  g_test_add_func ("/prompt/name-check", test_name_check);
  g_test_add_func ("/prompt/check/split", test_check_split);
  g_test_add_func ("/prompt/check/pending", test_check_pending);
  g_test_add_func ("/prompt/check/invalid", test_check_invalid);
  g_test_add_func ("/prompt/check/size", test_check_size);
  g_test_add_func ("/prompt/parse/txt", test_parse_txt);
  g_test_add_func ("/prompt/parse/front-matter", test_parse_front_matter);
  g_test_add_func ("/prompt/parse/errors", test_parse_errors);
  g_test_add_func ("/prompt/parse/size-limit", test_parse_size_limit);
  g_test_add_func ("/prompt/parse/json", test_parse_json);
  g_test_add_func ("/prompt/parse/json-errors", test_parse_json_errors);
  g_test_add_func ("/prompt/parse/picture", test_parse_picture);
  g_test_add_func ("/prompt/to-ark", test_to_ark);
  g_test_add_func ("/prompt/txt-to-ark", test_txt_to_ark);
  g_test_add_func ("/prompt/defaults", test_defaults);
  g_test_add_func ("/prompt/defaults/match-front-matter", test_defaults_match_front_matter);
  g_test_add_func ("/prompt/file-rename", test_file_rename);
  return g_test_run ();
}
