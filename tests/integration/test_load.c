/*
 * parley-load against a real parleyd: the load generator queues frames
 * per connection and writes each connection once per loop turn, and reads
 * a socket only until a short read. Every message it sends must still be
 * acked by the server and delivered to the partner, in both shapes of
 * traffic: many connections with a message or two per turn each, and a
 * few connections with many frames per turn (where a message and acks
 * share one write and one read carries many frames). With --warmup, the
 * messages of the warm-up are delivered like the others but give no
 * latency sample and are left out of the rates.
 * Arguments: the parleyd, parleyctl and parley-load programs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "unit/check.h"
#include "crypto/crypto.h"
#include "srvtest.h"

static st_server S;
static const char *LOAD;

typedef struct {
    int logins_ok, logins_failed;
    unsigned long long sent, acked, delivered, failures, refused, samples;
    double secs;
    int have_messages, have_totals;
} load_result;

/* Runs `parley-load run` with the given shape and parses its report. */
static int run_load(int first, int conns, int rate, double warmup, load_result *r)
{
    char hex[65], cmd[1024], line[512];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", S.root_pub[i]);
    snprintf(cmd, sizeof cmd,
             "%s run --connect 127.0.0.1:%d --root %s --conns %d --first %d --rate %d "
             "--duration 1.5 --warmup %.1f --drain 20",
             LOAD, S.port, hex, conns, first, rate, warmup);
    memset(r, 0, sizeof *r);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    while (fgets(line, sizeof line, p) != NULL) {
        fputs(line, stderr);
        if (sscanf(line, "logins: %d ok, %d failed", &r->logins_ok, &r->logins_failed) == 2)
            continue;
        if (strncmp(line, "messages: ", 10) == 0) {
            const char *q = strstr(line, "refused ");
            const char *n = strstr(line, "ms (");
            r->have_messages = q != NULL && sscanf(q, "refused %llu", &r->refused) == 1 &&
                               n != NULL &&
                               sscanf(n, "ms (%llu samples, %lf s)", &r->samples, &r->secs) == 2;
        }
        if (sscanf(line, "totals: sent %llu, acked by server %llu, delivered %llu, failures %llu",
                   &r->sent, &r->acked, &r->delivered, &r->failures) == 4)
            r->have_totals = 1;
    }
    int st = pclose(p);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void check_all_delivered(int first, int conns, int rate, double warmup)
{
    load_result r;
    CHECK(run_load(first, conns, rate, warmup, &r) == 0);
    CHECK(r.logins_ok == conns && r.logins_failed == 0);
    CHECK(r.have_messages && r.have_totals);
    /* About rate x 1.5 s were sent; a loaded machine may fall behind, not
     * below a third of it. */
    CHECK(r.sent >= (unsigned long long)rate / 2);
    CHECK(r.refused == 0 && r.failures == 0);
    CHECK(r.acked == r.sent);
    /* At least once: a copy may come twice after a reconnect, never less. */
    CHECK(r.delivered >= r.sent);
    /* The rates and samples cover the 1.5 s after the warm-up only; the
     * totals cover everything sent. */
    CHECK(r.secs >= 1.4 && r.secs < 1.5 + 0.5);
    CHECK(r.samples >= 1 && r.samples <= r.delivered);
    if (warmup > 0)
        CHECK(r.samples * 10 < r.sent * 9); /* 1.5 of 2.5 s: 60% */
}

int main(int argc, char **argv)
{
    if (st_args(argc, argv, "PARLEYD PARLEYCTL PARLEY-LOAD") != 0)
        return 2;
    LOAD = argv[3];
    CHECK(pc_init() == 0);
    /* Far above the per-connection stanza rate the few-connection shape
     * needs: a refusal would be a limit, not a loss. */
    CHECK(st_setup(&S, argv[1], argv[2], "sync = normal\nrate = 100000\nburst = 100000\n") == 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s provision --db %s --users 408 >/dev/null", LOAD, S.db);
    CHECK(system(cmd) == 0);
    CHECK(st_start(&S) == 0);
    if (S.port > 0) {
        /* Many connections, few frames each per turn. */
        check_all_delivered(0, 200, 1000, 0);
        /* Few connections, many frames each per turn. */
        check_all_delivered(200, 8, 2000, 0);
        /* A warm-up first, left out of the figures. */
        check_all_delivered(208, 200, 1000, 1.0);
    }
    int st = st_stop(&S, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st_cleanup(&S, check_failed);
    TEST_MAIN_END();
}
