/*
 * The OpenSSL contexts a thread keeps between calls (hash.c, aes.c):
 * making one per call costs as much as hashing or encrypting a short
 * Signal message, so each thread makes them once. A thread-specific key
 * frees them when the thread ends; a server's event loops, the
 * gatekeeper's HTTP thread and a decryptor's hashing thread all come and
 * go while the process lives on.
 */
#include "crypto/crypto_internal.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;
static _Thread_local pc_thread_ctx *tl;

static void ctx_free(void *p)
{
    pc_thread_ctx *t = p;
    EVP_MD_CTX_free(t->md);
    EVP_CIPHER_CTX_free(t->cbc[0]);
    EVP_CIPHER_CTX_free(t->cbc[1]);
    free(t);
    tl = NULL; /* the thread's own copy, still there while it ends */
}

static void key_init(void)
{
    key_ok = pthread_key_create(&key, ctx_free) == 0;
}

pc_thread_ctx *pc_thread_ctx_get(void)
{
    if (tl != NULL)
        return tl;
    pthread_once(&key_once, key_init);
    pc_thread_ctx *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    /* Without the key nothing would free it: refuse rather than leak. */
    if (!key_ok || pthread_setspecific(key, t) != 0) {
        free(t);
        return NULL;
    }
    tl = t;
    return t;
}
