/* responder.h: a tiny HTTP server on 127.0.0.1 for redirect tests.  It
 * answers every request by a rule and remembers what it was sent. */
#pragma once

#include <gio/gio.h>

typedef enum
{
  RESPONDER_TO_OTHER,    /* 307 to target + the same path */
  RESPONDER_SAME_ORIGIN, /* /v1/...: 307 to /v2/... here; /v2/...: 200 with a video */
  RESPONDER_LOOP,        /* 302 to itself, for ever */
  RESPONDER_TO_TARGET,   /* 302 to target exactly */
} ResponderMode;

typedef struct
{
  char *method;
  char *path;
  char *authorization; /* or NULL */
} ResponderRequest;

typedef struct _Responder Responder;

Responder *responder_start (ResponderMode mode, const char *target);
int responder_port (Responder *responder);
/* A copy of what it was sent so far (of ResponderRequest*). */
GPtrArray *responder_requests (Responder *responder);
void responder_stop (Responder *responder);
