/* vf-prompt.h: prompt files, from the bytes a user writes to a request body.
 *
 * Two stages, as the contract wants: what can be seen while bytes arrive is
 * checked at write() time (VfPromptCheck: NUL bytes, invalid UTF-8, more
 * than VF_PROMPT_MAX bytes), the rest when the file is closed
 * (vf_prompt_parse: front matter, JSON, field types).  The job defaults
 * and their limits live here too, so that a mount option and a front
 * matter line are held to the same rule.
 *
 * Ownership: strings passed in are borrowed; returned strings and json_t
 * references belong to the caller.  No state, no locks.
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

/* Whether `name` may be made in jobs/ (a prompt, scratch file or job
 * directory): UTF-8, so that the journal can keep it, and no control
 * character (U+0000 to U+001F, U+007F to U+009F), so that no name can end
 * or bend a line of `status` or `events`.  Fails with VF_ERROR_INVALID. */
gboolean vf_prompt_name_check (const char *name, GError **error);

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

/* The job defaults: what a prompt file that does not say gets.  The mount
 * options model=, seconds= and size= set them; fields are borrowed. */
typedef struct
{
  const char *model;
  const char *seconds;
  const char *size;
  /* A picture's request (images/): no seconds, no size unless asked, and
   * a size may also be `auto`, `1K`, `2K` or `4K`. */
  gboolean picture;
} VfPromptDefaults;

#define VF_PROMPT_DEFAULT_MODEL "sora-2"
#define VF_PROMPT_DEFAULT_SECONDS "4"
#define VF_PROMPT_DEFAULT_SIZE "720x1280"

/* Fills every field with its default. */
void vf_prompt_defaults_init (VfPromptDefaults *defaults);
/* Whether front matter would take these values: a non-empty model, seconds
 * a whole number from 1 to 60, size WxH with sides from 1 to 100000.  NULL
 * fields are the defaults and pass.  Fails with VF_ERROR_INVALID and a
 * reason that starts with the option, such as "seconds=0: ...". */
gboolean vf_prompt_defaults_check (const VfPromptDefaults *defaults, GError **error);

/* "WxH" with sides from 1 to 100000, as size= and front matter take it. */
gboolean vf_prompt_parse_size (const char *s, guint *w, guint *h);

/* The prompt file of a job renamed to `name`: `prompt_file`'s extension on
 * the new name ("A.json", "B" -> "B.json"), ".txt" when it has none or is
 * NULL.  Returns a new string. */
char *vf_prompt_file_rename (const char *prompt_file, const char *name);

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

/* The greatest common divisor: W:H of a size in lowest terms. */
guint vf_prompt_gcd (guint a, guint b);

G_END_DECLS
