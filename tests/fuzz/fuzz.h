/* fuzz.h: what the libFuzzer harnesses of tests/fuzz share.
 *
 * Each harness is one LLVMFuzzerTestOneInput over one parser or loader of
 * lib/ (or fs/options.c), built with -fsanitize=fuzzer,address,undefined.
 * A property that does not hold calls fuzz_fail(), which aborts, so that
 * libFuzzer keeps the input as a crash like any sanitizer report.
 * g_message() and friends are silenced before the harness starts (lib/
 * logs what it skips; thousands of lines a second would slow the run
 * down) unless FUZZ_VERBOSE is set.
 *
 * Ownership: fuzz_dir() is the harness's scratch directory, made once and
 * removed at exit; the string is static.  No locks: libFuzzer calls the
 * harness from one thread.
 */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "vf-task.h" /* g_autoptr (json_t) */

G_BEGIN_DECLS

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define fuzz_fail(...)                                                                             \
  G_STMT_START                                                                                     \
  {                                                                                                \
    fprintf (stderr, "fuzz property failed at %s:%d: ", __FILE__, __LINE__);                       \
    fprintf (stderr, __VA_ARGS__);                                                                 \
    fputc ('\n', stderr);                                                                          \
    abort ();                                                                                      \
  }                                                                                                \
  G_STMT_END

#define fuzz_assert(cond)                                                                          \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (!(cond))                                                                                   \
      fuzz_fail ("%s", #cond);                                                                     \
  }                                                                                                \
  G_STMT_END

/* A scratch directory on tmpfs where there is one (the journal fsyncs). */
const char *fuzz_dir (void);

/* Writes `size` bytes to `path`, replacing it; aborts on failure. */
void fuzz_write_file (const char *path, const uint8_t *data, size_t size);

G_END_DECLS
