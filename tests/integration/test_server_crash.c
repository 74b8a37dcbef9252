/*
 * Crash safety of parleyd (DESIGN.md section 4; docs/protocol.md,
 * "Messages"): a burst of 12,000 messages from alice to bob's two devices,
 * the server killed with SIGKILL in the middle, restarted; every message
 * alice holds an ack for must reach both of bob's devices (exactly once
 * after dedupe by id), one of them online and acking during the burst.
 * Then the same with SIGTERM, which must exit cleanly and lose nothing.
 * Arguments: the parleyd and parleyctl programs.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "crypto/crypto.h"
#include "srvtest.h"
#include "unit/check.h"

enum { BURST = 12000, TERM_BURST = 5000, WINDOW = 400, MAXID = BURST + TERM_BURST };

static st_server S;
static st_dev alice, bob1, bob2;
static unsigned char acked[MAXID], got1[MAXID], got2[MAXID];
static volatile int acks_total;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int id_of(const parley_stanza *m)
{
    const char *id = parley_stanza_attr(m, "id");
    if (id == NULL || id[0] != 'c')
        return -1;
    int v = atoi(id + 1);
    return v >= 0 && v < MAXID ? v : -1;
}

static int send_one(st_client *c, int i)
{
    char xml[512];
    snprintf(xml, sizeof xml,
             "<message id=\"c%d\" to=\"bob@gk.example\"><participants>"
             "<to jid=\"bob@gk.example/1\"><enc v=\"2\" type=\"msg\">QUJDREVGR0g=</enc></to>"
             "<to jid=\"bob@gk.example/2\"><enc v=\"2\" type=\"msg\">QUJDREVGR0g=</enc></to>"
             "</participants></message>",
             i);
    return st_send(c, xml);
}

typedef struct {
    int first, count;
} burst_arg;

/* Pipelined sends with a window; stops when the connection dies. */
static void *sender(void *p)
{
    burst_arg *b = p;
    st_client c;
    if (!st_login(&c, &S, &alice))
        return NULL;
    int next = b->first, end = b->first + b->count, outstanding = 0;
    for (;;) {
        while (outstanding < WINDOW && next < end) {
            if (send_one(&c, next) < 0)
                goto done;
            next++;
            outstanding++;
        }
        if (outstanding == 0)
            break;
        parley_stanza *s = NULL;
        int rr = st_recv(&c, 2000, &s);
        if (rr < 0)
            break;
        if (rr == 1 && parley_stanza_is(s, "ack")) {
            const char *cls = parley_stanza_attr(s, "class");
            int id = id_of(s);
            outstanding--;
            if (id >= 0 && cls != NULL && strcmp(cls, "message") == 0 &&
                parley_stanza_attr(s, "error") == NULL) {
                acked[id] = 1;
                __atomic_add_fetch(&acks_total, 1, __ATOMIC_RELAXED);
            }
        }
        parley_stanza_free(s);
    }
done:
    st_close(&c);
    return NULL;
}

/* Receive, record, ack: until the connection ends or quiet_ms pass silently. */
static void drain(st_client *c, unsigned char *got, int quiet_ms, int *dups)
{
    for (;;) {
        parley_stanza *m = NULL;
        int rr = st_recv(c, quiet_ms, &m);
        if (rr != 1)
            break;
        if (parley_stanza_is(m, "message")) {
            int id = id_of(m);
            uint64_t sid = 0;
            if (id >= 0) {
                if (got[id] && dups != NULL)
                    (*dups)++;
                got[id] = 1;
            }
            if (parley_stanza_attr_u64(m, "sid", &sid) == 0) {
                char ack[96];
                snprintf(ack, sizeof ack, "<ack class=\"message\" sid=\"%llu\"/>",
                         (unsigned long long)sid);
                if (st_send(c, ack) < 0) {
                    parley_stanza_free(m);
                    break;
                }
            }
        }
        parley_stanza_free(m);
    }
}

static void *receiver(void *p)
{
    st_client *c = p;
    drain(c, got1, 20000, NULL);
    return NULL;
}

static int setup_users(void)
{
    st_client c, c2;
    char code[64];
    st_dev_new(&alice, "alice@gk.example");
    st_dev_new(&bob1, "bob@gk.example");
    st_dev_new(&bob2, "bob@gk.example");
    if (st_user_add(&S, "alice@gk.example", code) != 0 || !st_register(&c, &S, &alice, code) ||
        st_upload_keys(&c, &alice, 1, 1) != 0)
        return 0;
    st_close(&c);
    if (st_user_add(&S, "bob@gk.example", code) != 0 || !st_register(&c, &S, &bob1, code) ||
        st_upload_keys(&c, &bob1, 1, 1) != 0)
        return 0;
    parley_stanza *r = st_iq(&c, "<iq id=\"lc\" type=\"set\"><link-code/></iq>", "lc");
    parley_stanza *lc = r != NULL ? parley_stanza_child(r, "link-code") : NULL;
    snprintf(code, sizeof code, "%s", lc != NULL ? parley_stanza_attr(lc, "code") : "x");
    parley_stanza_free(r);
    int ok = st_link(&c2, &S, &bob2, code) && st_upload_keys(&c2, &bob2, 1, 1) == 0;
    st_close(&c2);
    st_close(&c);
    return ok;
}

static void check_delivered(int first, int count, const char *what)
{
    int n_acked = 0, lost1 = 0, lost2 = 0;
    for (int i = first; i < first + count; i++) {
        if (!acked[i])
            continue;
        n_acked++;
        lost1 += !got1[i];
        lost2 += !got2[i];
    }
    fprintf(stderr, "%s: %d acked, lost at bob/1: %d, at bob/2: %d\n", what, n_acked, lost1, lost2);
    CHECK(n_acked > 0);
    CHECK(lost1 == 0);
    CHECK(lost2 == 0);
}

static void run_burst(int first, int count, int sig, int after_acks)
{
    st_client b1;
    pthread_t ts, tr;
    burst_arg ba = {first, count};
    int receiving = st_login(&b1, &S, &bob1);
    CHECK(receiving);
    acks_total = 0;
    if (receiving)
        pthread_create(&tr, NULL, receiver, &b1);
    pthread_create(&ts, NULL, sender, &ba);
    /* Bounded wait for the burst to be well under way. */
    for (int i = 0; i < 3000 && acks_total < after_acks; i++)
        sleep_ms(10);
    CHECK(acks_total >= after_acks);
    int st = st_stop(&S, sig);
    if (sig == SIGTERM)
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    else
        CHECK(WIFSIGNALED(st));
    pthread_join(ts, NULL);
    if (receiving) {
        pthread_join(tr, NULL);
        st_close(&b1);
    }
    CHECK(st_start(&S) == 0);
    /* After the restart both devices get what is left, and ack it. */
    int dups = 0;
    CHECK(st_login(&b1, &S, &bob1));
    drain(&b1, got1, 1500, &dups);
    st_close(&b1);
    st_client b2;
    CHECK(st_login(&b2, &S, &bob2));
    drain(&b2, got2, 1500, NULL);
    st_close(&b2);
    /* Everything was acked by the devices: nothing is left queued. */
    CHECK(st_login(&b2, &S, &bob2));
    parley_stanza *m = st_expect(&b2, "message", 1500);
    CHECK(m == NULL);
    parley_stanza_free(m);
    st_close(&b2);
}

int main(int argc, char **argv)
{
    if (st_args(argc, argv, "PARLEYD PARLEYCTL") != 0)
        return 2;
    CHECK(pc_init() == 0);
    CHECK(st_setup(&S, argv[1], argv[2], "rate = 1000000\nburst = 1000000\n") == 0);
    CHECK(st_start(&S) == 0);
    if (S.port > 0 && setup_users()) {
        run_burst(0, BURST, SIGKILL, 4000);
        check_delivered(0, BURST, "SIGKILL");
        run_burst(BURST, TERM_BURST, SIGTERM, 1000);
        check_delivered(BURST, TERM_BURST, "SIGTERM");
        /* No plaintext body in the log (the test bodies are base64 of "ABCDEFGH"). */
        char cmd[512];
        snprintf(cmd, sizeof cmd, "grep -q 'QUJDREVGR0g\\|ABCDEFGH' %s", S.log);
        CHECK(system(cmd) != 0);
        st_stop(&S, SIGTERM);
    } else {
        CHECK(0);
    }
    st_cleanup(&S, check_failed);
    TEST_MAIN_END();
}
