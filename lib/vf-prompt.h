/* vf-prompt.h: prompt files, from the bytes a user writes to a request body.
 *
 * Two stages, as the contract wants: what can be seen while bytes arrive is
 * checked at write() time (VfPromptCheck: NUL bytes, invalid UTF-8, more
 * than VF_PROMPT_MAX bytes), the rest when the file is closed
 * (vf_prompt_parse: front matter, JSON, field types).
 */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

#define VF_PROMPT_MAX (32 * 1024)

/* Whether `name` (a base name in jobs/) is a prompt file: not starting with
 * '.', ending in ".txt" or ".json" with a non-empty stem.  On TRUE, *stem
 * (may be NULL) gets the job name, newly allocated. */
gboolean vf_prompt_name (const char *name, char **stem);

/* Incremental checker.  Feed it writes at their offsets; it keeps the state
 * of a UTF-8 sequence cut at the end of a write.  A write at an offset other
 * than where the last one ended resets the UTF-8 state (the whole file is
 * checked again at close anyway). */
typedef struct
{
  guint8 pending[4];
  guint n_pending;
  gint64 next_offset;
} VfPromptCheck;

void vf_prompt_check_init (VfPromptCheck *check);
/* Fails with VF_ERROR_INVALID (NUL, bad UTF-8) or VF_ERROR_TOO_LARGE. */
gboolean vf_prompt_check_write (VfPromptCheck *check, gint64 offset, const void *data, gsize len,
                                GError **error);

typedef struct
{
  const char *model;   /* default "sora-2" */
  const char *seconds; /* default "4" */
  const char *size;    /* default "720x1280" */
} VfPromptDefaults;

/* Turns a whole prompt file into a request body.  `is_json` for NAME.json
 * (a body sent as is, plus defaults it lacks).  For .txt: optional front
 * matter (---, key: value lines, ---), the rest is the prompt (trailing
 * newlines trimmed).  `seconds` must be a whole number (1 to 60), `size` WxH.
 * Defaults fill what is missing; seconds and size only for models other
 * than doubao-seedance-*.  A NULL `defaults` (or field) means the default.
 * The body is in OpenAI shape {model, prompt, seconds, size, ...}; for a
 * doubao-seedance-* model use vf_prompt_to_ark() on it.
 * Fails with VF_ERROR_INVALID and a readable reason, or VF_ERROR_TOO_LARGE.
 * Returns a new reference. */
json_t *vf_prompt_parse (const char *data, gsize len, gboolean is_json,
                         const VfPromptDefaults *defaults, GError **error);

/* An OpenAI-shaped body as an Ark task body: the prompt becomes a text
 * content item with --duration/--ratio/--resolution flags where given.
 * A body that already has `content` comes back as a copy.  Returns a new
 * reference; `body` is not changed. */
json_t *vf_prompt_to_ark (json_t *body);

G_END_DECLS
