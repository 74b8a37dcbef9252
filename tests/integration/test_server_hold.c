/*
 * Copies held before storage (docs/storage.md, "Delivery before storage"):
 * a copy for a connected device is pushed at once under a temporary queue
 * id and written to the queue only if the device has not acked it within
 * delivery_hold_ms. Checked against a real parleyd with one worker and
 * with two:
 *   - acked in time: never stored, the sender acked, nothing on a reconnect;
 *   - not acked: stored, the sender acked, delivered again under a queue id;
 *   - acked after it was stored: the late ack of the temporary id deletes it;
 *   - an ack of the temporary id from another device cancels nothing;
 *   - receipts are held the same way;
 *   - SIGTERM writes every held copy before the sender is acked and the
 *     server exits; kill -9 loses only copies whose senders were not acked;
 *   - a device whose output is full gets every copy intact from its queue
 *     when it logs in again (the copies that could not be pushed are
 *     stored as they were);
 *   - delivery_hold_ms = 0 stores every copy first; bad values are refused.
 * Arguments: the parleyd and parleyctl programs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "srvtest.h"
#include "unit/check.h"

#define HOLD_BIT (1ULL << 62)

static st_server S;
static st_dev alice, bob, carol;

static int log_has(const char *what)
{
    return st_log_has(&S, what);
}
static int wait_log(const char *what, int ms)
{
    return st_wait_log(&S, what, ms);
}

static int send_to_bob(st_client *c, const char *id)
{
    char xml[512];
    snprintf(xml, sizeof xml,
             "<message id=\"%s\" to=\"bob@example.org\"><participants><to "
             "jid=\"bob@example.org/1\"><enc v=\"2\" type=\"msg\">QUJD</enc></to>"
             "</participants></message>",
             id);
    return st_send(c, xml);
}

/* The next message on c with this id, and its sid; 0 when none came. */
static int next_copy(st_client *c, const char *id, int ms, uint64_t *sid)
{
    for (;;) {
        parley_stanza *m = st_expect(c, "message", ms);
        if (m == NULL)
            return 0;
        const char *mid = parley_stanza_attr(m, "id");
        int match =
            mid != NULL && strcmp(mid, id) == 0 && parley_stanza_attr_u64(m, "sid", sid) == 0;
        parley_stanza_free(m);
        if (match)
            return 1;
    }
}

static int send_ack(st_client *c, const char *cls, uint64_t sid)
{
    char ack[128];
    snprintf(ack, sizeof ack, "<ack class=\"%s\" sid=\"%llu\"/>", cls, (unsigned long long)sid);
    return st_send(c, ack);
}

/* Log bob in again: the copy of id his queue still holds (its sid), or 0
 * when there is none. The queue is read again until a deleting ack has
 * committed, for at most about 30 s. */
static uint64_t queued_for_bob(const char *id, int want_empty)
{
    st_client b;
    uint64_t sid = 0;
    for (int i = 0; i < 100; i++) {
        sid = 0;
        if (!st_login(&b, &S, &bob))
            return UINT64_MAX;
        int got = next_copy(&b, id, 400, &sid);
        st_close(&b);
        if (!got)
            return 0;
        if (!want_empty)
            return sid;
    }
    return sid;
}

static void test_hold(void)
{
    st_client a, b, c;
    uint64_t sid = 0, sid2 = 0;
    CHECK(st_signup(&a, &S, &alice, "alice@example.org"));
    CHECK(st_signup(&b, &S, &bob, "bob@example.org"));
    CHECK(st_signup(&c, &S, &carol, "carol@example.org"));

    /* Acked in time: pushed under a temporary id, never stored. */
    CHECK(send_to_bob(&a, "h1") == 0);
    CHECK(next_copy(&b, "h1", 5000, &sid));
    CHECK((sid & HOLD_BIT) != 0);
    CHECK(send_ack(&b, "message", sid) == 0);
    CHECK(st_ack_code(&a, "h1", 5000) == 0);
    CHECK(kill(S.pid, SIGUSR1) == 0);
    CHECK(wait_log("acked_before_stored=1 ", 3000));
    st_close(&b);
    CHECK(queued_for_bob("h1", 1) == 0);
    CHECK(st_login(&b, &S, &bob));

    /* Not acked: written to the queue, and the sender acked after that. */
    CHECK(send_to_bob(&a, "h2") == 0);
    CHECK(next_copy(&b, "h2", 5000, &sid));
    CHECK((sid & HOLD_BIT) != 0);
    CHECK(st_ack_code(&a, "h2", 10000) == 0);
    st_close(&b);
    sid2 = queued_for_bob("h2", 0);
    CHECK(sid2 != 0 && sid2 != UINT64_MAX && (sid2 & HOLD_BIT) == 0);
    CHECK(st_login(&b, &S, &bob));
    CHECK(next_copy(&b, "h2", 5000, &sid2));
    CHECK((sid2 & HOLD_BIT) == 0);
    CHECK(send_ack(&b, "message", sid2) == 0);
    st_close(&b);
    CHECK(queued_for_bob("h2", 1) == 0);

    /* Acked only after it was written: the temporary id still deletes it. */
    CHECK(st_login(&b, &S, &bob));
    CHECK(send_to_bob(&a, "h3") == 0);
    CHECK(next_copy(&b, "h3", 5000, &sid));
    CHECK((sid & HOLD_BIT) != 0);
    CHECK(st_ack_code(&a, "h3", 10000) == 0); /* written by now */
    CHECK(send_ack(&b, "message", sid) == 0);
    st_close(&b);
    CHECK(queued_for_bob("h3", 1) == 0);

    /* Another device acking bob's temporary id cancels nothing. */
    CHECK(st_login(&b, &S, &bob));
    CHECK(send_to_bob(&a, "h4") == 0);
    CHECK(next_copy(&b, "h4", 5000, &sid));
    CHECK(send_ack(&c, "message", sid) == 0);
    CHECK(st_ack_code(&a, "h4", 10000) == 0);
    st_close(&b);
    sid2 = queued_for_bob("h4", 0);
    CHECK(sid2 != 0 && sid2 != UINT64_MAX);
    CHECK(st_login(&b, &S, &bob));
    CHECK(next_copy(&b, "h4", 5000, &sid2));
    CHECK(send_ack(&b, "message", sid2) == 0);

    /* A receipt is held and acked the same way. */
    CHECK(st_send(&b, "<receipt id=\"r1\" to=\"alice@example.org\" type=\"delivery\">"
                      "<item id=\"h4\"/></receipt>") == 0);
    parley_stanza *r = st_expect(&a, "receipt", 5000);
    CHECK(r != NULL && parley_stanza_attr_u64(r, "sid", &sid) == 0 && (sid & HOLD_BIT) != 0);
    parley_stanza_free(r);
    CHECK(send_ack(&a, "receipt", sid) == 0);
    parley_stanza *ra = st_expect(&b, "ack", 5000);
    CHECK(ra != NULL && parley_stanza_attr(ra, "error") == NULL &&
          strcmp(parley_stanza_attr(ra, "class"), "receipt") == 0);
    parley_stanza_free(ra);
    CHECK(kill(S.pid, SIGUSR1) == 0);
    CHECK(wait_log("acked_before_stored=2 ", 3000));

    /* SIGTERM with a copy held: it is written, then the sender acked,
     * before the server exits; after the restart bob gets it. */
    CHECK(send_to_bob(&a, "h5") == 0);
    CHECK(next_copy(&b, "h5", 5000, &sid));
    CHECK((sid & HOLD_BIT) != 0);
    CHECK(kill(S.pid, SIGTERM) == 0);
    CHECK(st_ack_code(&a, "h5", 1000) == 0); /* written at once, not after the hold */
    int st = st_stop(&S, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st_close(&a);
    st_close(&b);
    st_close(&c);
    CHECK(st_start(&S) == 0);
    sid2 = queued_for_bob("h5", 0);
    CHECK(sid2 != 0 && sid2 != UINT64_MAX && (sid2 & HOLD_BIT) == 0);

    /* kill -9 with a copy held: its sender had no ack (the hold is 1.5 s),
     * so nothing acked is lost; the sender sends it again. */
    CHECK(st_login(&a, &S, &alice));
    CHECK(st_login(&b, &S, &bob));
    CHECK(next_copy(&b, "h5", 5000, &sid2));
    CHECK(send_ack(&b, "message", sid2) == 0);
    CHECK(send_to_bob(&a, "h6") == 0);
    CHECK(next_copy(&b, "h6", 5000, &sid));
    CHECK(st_ack_code(&a, "h6", 200) == -1);
    CHECK(kill(S.pid, SIGKILL) == 0);
    (void)st_stop(&S, SIGKILL);
    st_close(&a);
    st_close(&b);
    CHECK(st_start(&S) == 0);
    CHECK(st_login(&a, &S, &alice));
    CHECK(send_to_bob(&a, "h6") == 0);
    CHECK(st_ack_code(&a, "h6", 10000) == 0);
    sid2 = queued_for_bob("h6", 0);
    CHECK(sid2 != 0 && sid2 != UINT64_MAX);
    st_close(&a);
    st = st_stop(&S, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Bob never reads: once his output is full, copies are not pushed and go
 * to the queue. Each must be stored as it was built, and every one must
 * reach him when he logs in again. */
static void test_full_output(const char *parleyd, const char *parleyctl)
{
    enum { TOTAL = 300, BODY = 6000 };
    st_client a, b;
    static char xml[BODY + 512];
    static unsigned char seen[TOTAL];
    CHECK(st_setup(&S, parleyd, parleyctl,
                   "workers = 1\ndelivery_hold_ms = 1500\nslow_reader_timeout_ms = 60000") == 0);
    CHECK(st_start(&S) == 0);
    CHECK(st_signup(&a, &S, &alice, "alice@example.org"));
    CHECK(st_signup(&b, &S, &bob, "bob@example.org"));
    int small = 4096;
    setsockopt(b.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    for (int i = 0; i < TOTAL; i++) {
        int o = snprintf(xml, sizeof xml,
                         "<message id=\"f%d\" to=\"bob@example.org\"><participants><to "
                         "jid=\"bob@example.org/1\"><enc v=\"2\" type=\"msg\">",
                         i);
        for (int k = 0; k < BODY; k += 4)
            memcpy(xml + o + k, "QUJD", 4);
        snprintf(xml + o + BODY, sizeof xml - (size_t)o - BODY,
                 "</enc></to></participants></message>");
        CHECK(st_send(&a, xml) == 0);
    }
    /* Copies pushed and held are acked after the hold, the others as
     * soon as they are stored: the acks come in any order. */
    int acked = 0;
    while (acked < TOTAL) {
        parley_stanza *ak = st_expect(&a, "ack", 10000);
        if (ak == NULL)
            break;
        const char *id = parley_stanza_attr(ak, "id");
        int k = id != NULL && id[0] == 'f' ? atoi(id + 1) : -1;
        if (k >= 0 && k < TOTAL && !seen[k] && parley_stanza_attr(ak, "error") == NULL) {
            seen[k] = 1;
            acked++;
        }
        parley_stanza_free(ak);
    }
    CHECK(acked == TOTAL);
    memset(seen, 0, sizeof seen);
    st_close(&b);
    CHECK(st_login(&b, &S, &bob));
    int got = 0, intact = 0;
    for (;;) {
        parley_stanza *m = st_expect(&b, "message", 3000);
        if (m == NULL)
            break;
        const char *id = parley_stanza_attr(m, "id");
        const parley_stanza *enc = parley_stanza_child(m, "enc");
        size_t len = 0;
        int k = id != NULL && id[0] == 'f' ? atoi(id + 1) : -1;
        uint64_t sid = 0;
        if (k >= 0 && k < TOTAL && !seen[k]) {
            seen[k] = 1;
            got++;
            intact += enc != NULL && parley_stanza_text(enc, &len) != NULL && len == BODY;
        }
        if (parley_stanza_attr_u64(m, "sid", &sid) == 0)
            (void)send_ack(&b, "message", sid);
        parley_stanza_free(m);
    }
    fprintf(stderr, "full output: %d of %d copies after a new login, %d intact\n", got, TOTAL,
            intact);
    CHECK(got == TOTAL);
    CHECK(intact == TOTAL);
    st_close(&a);
    st_close(&b);
    int st = st_stop(&S, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st_cleanup(&S, check_failed);
}

/* delivery_hold_ms = 0: every copy is stored before it is pushed. */
static void test_no_hold(const char *parleyd, const char *parleyctl)
{
    st_client a, b;
    uint64_t sid = 0;
    CHECK(st_setup(&S, parleyd, parleyctl, "delivery_hold_ms = 0") == 0);
    CHECK(st_start(&S) == 0);
    CHECK(st_signup(&a, &S, &alice, "alice@example.org"));
    CHECK(st_signup(&b, &S, &bob, "bob@example.org"));
    CHECK(send_to_bob(&a, "n1") == 0);
    CHECK(st_ack_code(&a, "n1", 5000) == 0);
    CHECK(next_copy(&b, "n1", 5000, &sid));
    CHECK(sid != 0 && (sid & HOLD_BIT) == 0);
    st_close(&a);
    st_close(&b);
    int st = st_stop(&S, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st_cleanup(&S, check_failed);
}

static void test_bad_values(const char *parleyd)
{
    static const char *const values[] = {"-1", "10001", "5ms", ""};
    char cmd[1024];
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        snprintf(cmd, sizeof cmd,
                 "%s --listen 127.0.0.1:0 --db /nonexistent/p.db --delivery-hold-ms '%s' "
                 ">/dev/null 2>&1",
                 parleyd, values[i]);
        int st = system(cmd);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    }
}

int main(int argc, char **argv)
{
    if (st_args(argc, argv, "PARLEYD PARLEYCTL") != 0)
        return 2;
    CHECK(pc_init() == 0);
    /* One worker: every copy is pushed and held on the sender's loop. Two:
     * bob's connections land on either, so pushes and acks also cross
     * between loops. */
    for (int workers = 1; workers <= 2; workers++) {
        char conf[96];
        snprintf(conf, sizeof conf, "workers = %d\ndelivery_hold_ms = 1500", workers);
        CHECK(st_setup(&S, argv[1], argv[2], conf) == 0);
        CHECK(st_start(&S) == 0);
        CHECK(log_has(workers == 1 ? "with 1 worker$" : "with 2 workers$"));
        if (S.port > 0)
            test_hold();
        st_cleanup(&S, check_failed);
    }
    test_full_output(argv[1], argv[2]);
    test_no_hold(argv[1], argv[2]);
    test_bad_values(argv[1]);
    TEST_MAIN_END();
}
