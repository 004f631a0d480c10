/* images-common.h: what the image tests share: a VfImages on a simulator,
 * a scratch directory, pictures made to send, the simulator's truth.
 *
 * Ownership: everything returned belongs to the caller (a directory's name
 * is freed by images_test_rmdir); the simulator is borrowed.  A failure is
 * a failed assertion, never an error return. */
#pragma once

#include "vf-images.h"
#include "sim.h"
#include "vf-task.h" /* json_t's g_autoptr */

/* A client of the simulator's three image APIs, with `token`; `openai`
 * overrides the OpenAI base (NULL: the simulator's). */
VfImages *images_test_client (Sim *sim, const char *token, const char *openai, long timeout_s);
/* A new empty directory (the caller removes it with images_test_rmdir). */
char *images_test_dir (void);
void images_test_rmdir (char *dir);
/* How many entries `dir` holds. */
guint images_test_count (const char *dir);
/* A PNG of w x h made with GdkPixbuf, its colour from `seed`. */
GBytes *images_test_png (int w, int h, guint seed);
/* The bytes the simulator made: picture n (from 1) of request `rid`. */
GBytes *images_test_truth (Sim *sim, const char *rid, guint n);
/* The file's bytes. */
GBytes *images_test_file (const char *path);
