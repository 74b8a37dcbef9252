/*
 * Inside the content area: the object around the generated protobuf-c
 * message, and the allocator every part of it comes from.
 */
#ifndef PARLEY_CONTENT_INTERNAL_H
#define PARLEY_CONTENT_INTERNAL_H

#include <protobuf-c/protobuf-c.h>

#include "content.pb-c.h"
#include "parley/content.h"

/*
 * A budgeted allocator: protobuf-c allocates a decoded message's every field
 * through it before parley can look at the counts, so the budget is what
 * bounds the memory a hostile encoding can cost. Frees wipe, since contents
 * hold plaintext and media keys.
 */
typedef struct {
    size_t used;
    size_t max;
    int exceeded; /* an allocation was refused for the budget */
} pcn_budget;

struct parley_content {
    Parley__Content *msg;
    pcn_budget budget;
    ProtobufCAllocator alloc;
};

/* Budgets: for decoding (what protobuf-c may allocate, temporaries
 * included), and for contents a program builds or changes afterwards. */
#define PCN_DECODE_BUDGET ((size_t)4 * 1024 * 1024)
#define PCN_BUILD_BUDGET ((size_t)64 * 1024 * 1024)

void *pcn_alloc(parley_content *c, size_t n);
void pcn_free(parley_content *c, void *p);
char *pcn_strdup(parley_content *c, const char *s);
/* An empty content with its allocator; the message is not yet allocated. */
parley_content *pcn_shell(size_t budget);

/* Check every schema rule (and the limits, unless NULL). */
int pcn_validate(const Parley__Content *m, const parley_content_limits *lim, int nested);
/* Well-formed UTF-8 (RFC 3629) without NUL. */
int pcn_utf8_ok(const char *s, size_t n);
/* 1..64 bytes of 0x21..0x7e. */
int pcn_id_ok(const char *s);

#endif
