/*
 * parleyd as an operator runs it (docs/operations.md): it tells systemd
 * it is ready and stopping over $NOTIFY_SOCKET (Type=notify), SIGHUP
 * loads a newly issued certificate for new connections while existing
 * ones carry on (also once idle long enough to have been trimmed), a
 * certificate for another key is refused and the current one stays, and
 * SIGUSR1 logs the counters with memory and commit queue,
 * device_cache bounds the device lists kept, and max_store_mb bounds the
 * database: past it senders get 507 while recipients' acks make room.
 * Arguments: the parleyd and parleyctl programs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "parley/noise_cert.h"
#include "srvtest.h"
#include "unit/check.h"

static st_server S;

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int wait_log(const char *what, int ms) { return st_wait_log(&S, what, ms); }

/* Every datagram on fd within ms, appended to buf. */
static void read_notify(int fd, char *buf, size_t max, int ms)
{
    size_t n = strlen(buf);
    for (int i = 0; i < ms / 20 && n + 1 < max; i++) {
        ssize_t r = recv(fd, buf + n, max - n - 1, MSG_DONTWAIT);
        if (r > 0) {
            n += (size_t)r;
            buf[n++] = '\n';
            buf[n] = '\0';
            continue;
        }
        nap_ms(20);
    }
}

static uint64_t serial_of(const st_client *c)
{
    parley_noise_cert_info info;
    if (parley_noise_conn_cert_info(c->nc, &info) != 0)
        return 0;
    return info.serial;
}

static int issue(const char *key, const char *out, const char *days)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "'%s' cert issue --root '%s' --key '%s' --out '%s' --days %s "
             ">/dev/null 2>&1",
             S.parleyctl, S.root, key, out, days);
    return system(cmd);
}

static int ping_ok(st_client *c)
{
    parley_stanza *r = st_iq(c, "<iq id=\"p\" type=\"get\"><ping/></iq>", "p");
    int ok = st_iq_code(r) == 0;
    parley_stanza_free(r);
    return ok;
}

/* A message from c to user's device `dev`: its ack, 0 or the error code
 * (-1 for none). */
static int message_ack(st_client *c, const char *id, const char *user, unsigned dev)
{
    char xml[512];
    snprintf(xml, sizeof xml,
             "<message id=\"%s\" to=\"%s\"><participants><to jid=\"%s/%u\"><enc v=\"2\" "
             "type=\"msg\">QUJD</enc></to></participants></message>",
             id, user, user, dev);
    if (st_send(c, xml) != 0)
        return -1;
    return st_ack_code(c, id, 10000);
}

/* A message with an enc of n base64 characters from c to user/1: its ack
 * (the caller frees it), or NULL. */
static parley_stanza *big_message(st_client *c, const char *id, const char *user, size_t n)
{
    static char xml[60000];
    size_t o = (size_t)snprintf(xml, sizeof xml,
                                "<message id=\"%s\" to=\"%s\"><participants><to jid=\"%s/1\">"
                                "<enc v=\"2\" type=\"msg\">",
                                id, user, user);
    if (o + n + 64 > sizeof xml)
        return NULL;
    memset(xml + o, 'Q', n);
    snprintf(xml + o + n, sizeof xml - o - n, "</enc></to></participants></message>");
    if (st_send(c, xml) != 0)
        return NULL;
    return st_expect_ack(c, id, 10000);
}

/* max_store_mb: at the bound a message is refused with 507 store-full
 * (logged, not once per message), and so is a prekey upload once nothing
 * fits; every message acked before reaches its recipient, whose acks
 * still commit, and the room they free takes new messages. */
static void test_store_bound(const char *parleyd, const char *parleyctl)
{
    enum { MAX = 80, PAYLOAD = 48000 };
    st_dev erin, finn;
    st_client ec, fc;
    char id[32], ack[96];
    static int accepted_ids[MAX];
    CHECK(st_setup(&S, parleyd, parleyctl, "[store]\nmax_store_mb = 1") == 0);
    CHECK(st_start(&S) == 0);
    CHECK(st_signup(&ec, &S, &erin, "erin@example.org"));
    CHECK(st_signup(&fc, &S, &finn, "finn@example.org"));
    st_close(&fc); /* finn is offline: everything for him is queued */

    int accepted = 0, full = 0, other = 0;
    for (int i = 0; i < MAX && !full; i++) {
        snprintf(id, sizeof id, "big%d", i);
        parley_stanza *a = big_message(&ec, id, finn.user, PAYLOAD);
        const char *err = a ? parley_stanza_attr(a, "error") : "none";
        if (a != NULL && err == NULL) {
            accepted_ids[accepted++] = i;
        } else if (err != NULL && strcmp(err, "507") == 0) {
            const char *why = parley_stanza_attr(a, "reason");
            CHECK(why != NULL && strcmp(why, "store-full") == 0);
            full = 1;
        } else {
            other++;
        }
        parley_stanza_free(a);
    }
    CHECK(full);
    CHECK(other == 0);
    CHECK(accepted > 0);
    CHECK(wait_log("store full: refusing", 3000));
    /* A second refusal is not logged again within the interval. */
    parley_stanza *a = big_message(&ec, "big-again", finn.user, PAYLOAD);
    CHECK(a != NULL && parley_stanza_attr(a, "error") != NULL &&
          strcmp(parley_stanza_attr(a, "error"), "507") == 0);
    parley_stanza_free(a);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "test $(grep -c 'store full: refusing' %s) -eq 1", S.log);
    CHECK(system(cmd) == 0);

    /* Small messages take what room is left until none fits either; then
     * a prekey upload, which needs pages of its own, gets 507 as well. */
    int small = 0, small_full = 0;
    for (int i = 0; i < 1000 && !small_full; i++) {
        snprintf(id, sizeof id, "small%d", i);
        a = big_message(&ec, id, finn.user, 64);
        const char *err = a ? parley_stanza_attr(a, "error") : "none";
        if (a != NULL && err == NULL)
            small++;
        else if (err != NULL && strcmp(err, "507") == 0)
            small_full = 1;
        else
            other++;
        parley_stanza_free(a);
    }
    CHECK(small_full);
    CHECK(other == 0);
    CHECK(st_upload_keys(&ec, &erin, 5000, 100) == 507);

    /* finn comes back: every accepted message, in order, and his acks. */
    CHECK(st_login(&fc, &S, &finn));
    int got = 0, in_order = 1;
    for (int k = 0; k < accepted + small; k++) {
        parley_stanza *m = st_expect(&fc, "message", 10000);
        if (m == NULL)
            break;
        if (k < accepted)
            snprintf(id, sizeof id, "big%d", accepted_ids[k]);
        else
            snprintf(id, sizeof id, "small%d", k - accepted);
        const char *mid = parley_stanza_attr(m, "id"), *sid = parley_stanza_attr(m, "sid");
        in_order &= mid != NULL && strcmp(mid, id) == 0;
        snprintf(ack, sizeof ack, "<ack class=\"message\" sid=\"%s\"/>", sid ? sid : "0");
        CHECK(st_send(&fc, ack) == 0);
        parley_stanza_free(m);
        got++;
    }
    CHECK(got == accepted + small);
    CHECK(in_order);
    /* Behind his acks in the commit queue, so after them: room again. */
    a = big_message(&ec, "after", finn.user, PAYLOAD);
    CHECK(a != NULL && parley_stanza_attr(a, "error") == NULL);
    parley_stanza_free(a);
    parley_stanza *m = st_expect(&fc, "message", 10000);
    CHECK(m != NULL && strcmp(parley_stanza_attr(m, "id"), "after") == 0);
    parley_stanza_free(m);
    st_close(&ec);
    st_close(&fc);
    CHECK(st_stop(&S, SIGTERM) >= 0);
    st_cleanup(&S, check_failed);
}

/* Each value of flag makes parleyd exit with status 2 before anything is
 * opened (the database path does not exist). */
static void flag_refused(const char *parleyd, const char *flag, const char *const *values,
                         size_t n)
{
    char cmd[1024];
    for (size_t i = 0; i < n; i++) {
        snprintf(cmd, sizeof cmd,
                 "%s --listen 127.0.0.1:0 --db /nonexistent/p.db %s '%s' >/dev/null 2>&1",
                 parleyd, flag, values[i]);
        int st = system(cmd);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    }
}

/* max_store_mb out of range, or not a number, exits with status 2. */
static void test_store_bound_refused(const char *parleyd)
{
    static const char *const values[] = {"-1", "16777217", "1G", ""};
    flag_refused(parleyd, "--max-store-mb", values, sizeof values / sizeof *values);
}

/* A gather window out of range, in a flag or in the file, exits with
 * status 2 before anything is opened (the database path does not exist). */
static void test_commit_delay_refused(const char *parleyd)
{
    static const char *const values[] = {"-1", "100001", "5ms", ""};
    char cmd[1024], ini[64];
    flag_refused(parleyd, "--commit-delay-us", values, sizeof values / sizeof *values);
    snprintf(ini, sizeof ini, "/tmp/parley-ops-XXXXXX");
    int fd = mkstemp(ini);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    static const char body[] = "[store]\ncommit_delay_us = 200000\n";
    CHECK(write(fd, body, sizeof body - 1) == (ssize_t)(sizeof body - 1));
    close(fd);
    snprintf(cmd, sizeof cmd, "%s -c %s --db /nonexistent/p.db 2>&1 | grep -q commit_delay_us",
             parleyd, ini);
    CHECK(system(cmd) == 0); /* names the key */
    snprintf(cmd, sizeof cmd, "%s -c %s --db /nonexistent/p.db >/dev/null 2>&1", parleyd, ini);
    int st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    unlink(ini);
}

/* device_cache bounds the lists kept: four users through a cache of two
 * leave two entries, and every check is still answered from the truth. */
static void test_device_cache_bound(const char *parleyd, const char *parleyctl)
{
    static const char *const names[] = {"u0@example.org", "u1@example.org", "u2@example.org",
                                        "u3@example.org"};
    st_dev u[4];
    st_client c;
    CHECK(st_setup(&S, parleyd, parleyctl, "device_cache = 2") == 0);
    CHECK(st_start(&S) == 0);
    for (int i = 0; i < 4; i++) {
        CHECK(st_signup(&c, &S, &u[i], names[i]));
        st_close(&c);
    }
    CHECK(st_login(&c, &S, &u[0]));
    for (int round = 0; round < 2; round++) {
        for (int i = 1; i < 4; i++) {
            char id[16];
            snprintf(id, sizeof id, "r%di%d", round, i);
            CHECK(message_ack(&c, id, names[i], 1) == 0);
            snprintf(id, sizeof id, "s%di%d", round, i);
            CHECK(message_ack(&c, id, names[i], 2) == 409);
        }
    }
    st_close(&c);
    CHECK(kill(S.pid, SIGUSR1) == 0);
    CHECK(wait_log("device_cache=2 device_cache_max=2 device_cache_kib=[1-9]", 3000));
    /* The sender's own list stays the most recent: looked up after each recipient's. */
    CHECK(wait_log("device_cache_hits=[1-9][0-9]* device_cache_misses=[1-9]", 3000));
    CHECK(st_stop(&S, SIGTERM) >= 0);
    st_cleanup(&S, check_failed);
}

/* A generations file parleyd cannot use (another size) turns the cache
 * off rather than leaving it blind to other processes: every list is read
 * from the store, and messages are still checked against the truth. */
static void test_device_cache_off(const char *parleyd, const char *parleyctl)
{
    st_dev a, b;
    st_client c;
    char path[400];
    CHECK(st_setup(&S, parleyd, parleyctl, NULL) == 0);
    snprintf(path, sizeof path, "%s-devgen", S.db);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL && fputs("not the generations", f) >= 0);
    if (f != NULL)
        fclose(f);
    CHECK(st_start(&S) == 0);
    CHECK(wait_log("device_cache: no shared device generations", 3000));
    CHECK(st_signup(&c, &S, &b, "b@example.org"));
    st_close(&c);
    CHECK(st_signup(&c, &S, &a, "a@example.org"));
    CHECK(message_ack(&c, "o1", b.user, 1) == 0);
    CHECK(message_ack(&c, "o2", b.user, 2) == 409);
    CHECK(st_ctl(&S, NULL, 0, "device", "remove", b.user, "1") == 0);
    CHECK(message_ack(&c, "o3", b.user, 1) == 409);
    st_close(&c);
    CHECK(kill(S.pid, SIGUSR1) == 0);
    CHECK(wait_log("device_cache=0 device_cache_max=0 ", 3000));
    CHECK(st_stop(&S, SIGTERM) >= 0);
    st_cleanup(&S, check_failed);
}

int main(int argc, char **argv)
{
    if (st_args(argc, argv, "PARLEYD PARLEYCTL") != 0)
        return 2;
    CHECK(pc_init() == 0);
    CHECK(st_setup(&S, argv[1], argv[2], NULL) == 0);

    /* A notify socket as systemd makes it, in the test's directory. */
    char npath[400];
    snprintf(npath, sizeof npath, "%s/notify", S.dir);
    int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    CHECK(strlen(npath) < sizeof sa.sun_path);
    memcpy(sa.sun_path, npath, strlen(npath) < sizeof sa.sun_path ? strlen(npath) : 0);
    CHECK(nfd >= 0 && bind(nfd, (struct sockaddr *)&sa, sizeof sa) == 0);
    setenv("NOTIFY_SOCKET", npath, 1);
    CHECK(st_start(&S) == 0);
    unsetenv("NOTIFY_SOCKET");
    char notes[2048] = "";
    read_notify(nfd, notes, sizeof notes, 1000);
    CHECK(strstr(notes, "READY=1") != NULL);
    CHECK(strstr(notes, "STOPPING=1") == NULL);

    st_dev alice, bob;
    st_client a, b;
    CHECK(st_signup(&a, &S, &alice, "alice@example.org"));
    /* bob's connections see the rotations; alice's stays open throughout
     * (one connection per device: a second login of alice's would replace it). */
    CHECK(st_signup(&b, &S, &bob, "bob@example.org"));
    st_close(&b);
    uint64_t first = serial_of(&a);
    CHECK(first != 0);

    /* Rotation: a new certificate for the same key, then SIGHUP. The
     * serial is the issue time in seconds: wait for it to move on. */
    nap_ms(1100);
    char next[400];
    snprintf(next, sizeof next, "%s/next.cert", S.dir);
    CHECK(issue(S.key, next, "30") == 0);
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", next, S.cert);
    CHECK(system(cmd) == 0);
    CHECK(kill(S.pid, SIGHUP) == 0);
    CHECK(wait_log("certificate serial [0-9]* loaded, valid for \\(29\\|30\\) more days", 3000));
    CHECK(st_login(&b, &S, &bob));
    uint64_t second = serial_of(&b);
    CHECK(second != 0 && second != first);
    st_close(&b);

    /* A certificate for another server key is refused; the one loaded stays. */
    nap_ms(1100);
    char other_key[400], other_cert[400];
    snprintf(other_key, sizeof other_key, "%s/other.key", S.dir);
    snprintf(other_cert, sizeof other_cert, "%s/other.cert", S.dir);
    CHECK(issue(other_key, other_cert, "30") == 0);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", other_cert, S.cert);
    CHECK(system(cmd) == 0);
    CHECK(kill(S.pid, SIGHUP) == 0);
    CHECK(wait_log("certificate not reloaded", 3000));
    CHECK(st_login(&b, &S, &bob));
    CHECK(serial_of(&b) == second);
    st_close(&b);
    /* The connection made before the rotations still works, also after
     * idling through two trim sweeps (SRV_TRIM_INTERVAL_S = 5), which
     * gave back its buffers and cipher contexts. */
    nap_ms(10500);
    CHECK(ping_ok(&a));
    CHECK(ping_ok(&a));
    st_close(&a);

    /* SIGUSR1: the counters, with memory and the commit queue. */
    CHECK(kill(S.pid, SIGUSR1) == 0);
    CHECK(wait_log("open_connections=.*rss_kib=[1-9]", 3000));
    CHECK(wait_log("logins=[1-9]", 3000));

    int st = st_stop(&S, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    read_notify(nfd, notes, sizeof notes, 200);
    CHECK(strstr(notes, "STOPPING=1") != NULL);
    close(nfd);
    st_cleanup(&S, check_failed);

    /* idle_timeout_s: a connection silent both ways that long is closed
     * with 408 idle-timeout; one that pings stays (sweeps every 5 s). The
     * store gathers writes for 20 ms here: registration and everything
     * after it work the same, only later. */
    CHECK(st_setup(&S, argv[1], argv[2], "idle_timeout_s = 6\ncommit_delay_us = 20000") == 0);
    CHECK(st_start(&S) == 0);
    st_dev carol, dave;
    st_client cc, dc;
    CHECK(st_signup(&cc, &S, &carol, "carol@example.org"));
    CHECK(st_signup(&dc, &S, &dave, "dave@example.org"));
    parley_stanza *e = NULL;
    for (int i = 0; i < 10 && e == NULL; i++) { /* dave pings every 2 s, carol is silent */
        CHECK(ping_ok(&dc));
        e = st_expect(&cc, "error", 2000);
    }
    CHECK(e != NULL && strcmp(parley_stanza_attr(e, "code"), "408") == 0 &&
          strcmp(parley_stanza_attr(e, "reason"), "idle-timeout") == 0);
    parley_stanza_free(e);
    CHECK(ping_ok(&dc));
    st_close(&cc);
    st_close(&dc);
    CHECK(st_stop(&S, SIGTERM) >= 0);
    st_cleanup(&S, check_failed);

    test_device_cache_bound(argv[1], argv[2]);
    test_device_cache_off(argv[1], argv[2]);
    test_commit_delay_refused(argv[1]);
    test_store_bound(argv[1], argv[2]);
    test_store_bound_refused(argv[1]);
    TEST_MAIN_END();
}
