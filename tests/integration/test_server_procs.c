/*
 * parleyd --processes: several server processes on one port and one
 * database. A message from a device connected to one process reaches a
 * device that is online on the other one at once (peer announcements),
 * every process sees a change to a user's devices made on another one
 * (or by parleyctl) at the next message, a server that dies is started
 * again and serves, and SIGTERM stops them all cleanly, leaving no peer
 * socket behind.
 * Arguments: the parleyd and parleyctl programs.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit/check.h"
#include "crypto/crypto.h"
#include "srvtest.h"

static st_server S;

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *read_log(void)
{
    FILE *f = fopen(S.log, "r");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b != NULL) {
        size_t r = fread(b, 1, (size_t)n, f);
        b[r] = '\0';
    }
    fclose(f);
    return b;
}

/* How often `what` appears in the log. */
static int log_count(const char *what)
{
    char *b = read_log();
    int n = 0;
    for (const char *p = b; p != NULL && (p = strstr(p, what)) != NULL; p++)
        n++;
    free(b);
    return n;
}

static int wait_log(const char *what, int at_least, int ms)
{
    for (int i = 0; i < ms / 20; i++) {
        if (log_count(what) >= at_least)
            return 1;
        nap_ms(20);
    }
    return 0;
}

/* The pid of the process that logged the last login of jid, or 0. */
static long login_pid(const char *jid)
{
    char pat[256];
    long pid = 0;
    snprintf(pat, sizeof pat, "]: login %s\n", jid);
    for (int i = 0; i < 100 && pid == 0; i++) {
        char *b = read_log();
        const char *last = NULL;
        for (const char *p = b; p != NULL && (p = strstr(p, pat)) != NULL; p++)
            last = p;
        if (last != NULL) {
            const char *open = last;
            while (open > b && *open != '[')
                open--;
            pid = strtol(open + 1, NULL, 10);
        }
        free(b);
        if (pid == 0)
            nap_ms(20);
    }
    return pid;
}

static int send_msg(st_client *c, const char *id, const char *to, const char *jid)
{
    char xml[512];
    snprintf(xml, sizeof xml,
             "<message id=\"%s\" to=\"%s\"><participants><to jid=\"%s\"><enc v=\"2\" "
             "type=\"msg\">QUJDREVGR0g=</enc></to></participants></message>",
             id, to, jid);
    return st_send(c, xml);
}

/* The message with this client id arrives on c within ms; acked back. */
static int receive(st_client *c, const char *id, int ms)
{
    for (int i = 0; i < 20; i++) {
        parley_stanza *m = st_expect(c, "message", ms);
        if (m == NULL)
            return 0;
        const char *mid = parley_stanza_attr(m, "id");
        const char *sid = parley_stanza_attr(m, "sid");
        int match = mid != NULL && strcmp(mid, id) == 0;
        if (sid != NULL) {
            char ack[128];
            snprintf(ack, sizeof ack, "<ack class=\"message\" sid=\"%s\"/>", sid);
            (void)st_send(c, ack);
        }
        parley_stanza_free(m);
        if (match)
            return 1;
    }
    return 0;
}

/* Log in d with the first of several connections that lands on a process
 * other than not_pid: the kernel picks the listener, not the client. */
static int login_elsewhere(st_client *c, st_dev *d, long not_pid, long *pid)
{
    char jid[200], pat[256];
    snprintf(jid, sizeof jid, "%s/%u", d->user, d->device);
    snprintf(pat, sizeof pat, "]: login %s\n", jid);
    for (int i = 0; i < 40; i++) {
        int before = log_count(pat);
        if (!st_login(c, &S, d))
            return 0;
        if (!wait_log(pat, before + 1, 2000))
            return 0;
        *pid = login_pid(jid);
        if (*pid != 0 && *pid != not_pid)
            return 1;
        st_close(c);
    }
    return 0;
}

static int peer_sockets(void)
{
    char dir[400];
    int n = 0;
    snprintf(dir, sizeof dir, "%s.peers", S.db);
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".sock") != NULL)
            n++;
    closedir(d);
    return n;
}

static void test_cross_process(void)
{
    st_dev alice, bob;
    st_client a, b;
    char code[64];
    long pa = 0, pb = 0;
    st_dev_new(&alice, "alice@example.org");
    st_dev_new(&bob, "bob@example.org");
    CHECK(st_user_add(&S, alice.user, code) == 0);
    CHECK(st_register(&a, &S, &alice, code));
    st_close(&a);
    CHECK(st_user_add(&S, bob.user, code) == 0);
    CHECK(st_register(&b, &S, &bob, code));
    st_close(&b);

    char bjid[200];
    snprintf(bjid, sizeof bjid, "%s/%u", bob.user, bob.device);
    CHECK(st_login(&b, &S, &bob));
    pb = login_pid(bjid);
    CHECK(pb != 0);
    /* alice on the other process: the copy for bob is committed there. */
    int apart = login_elsewhere(&a, &alice, pb, &pa);
    CHECK(apart);
    if (!apart)
        return;
    CHECK(pa != pb);
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "x%d", i);
        CHECK(send_msg(&a, id, bob.user, bjid) == 0);
        /* Pushed live: well before any reconnect could have fetched it. */
        CHECK(receive(&b, id, 3000));
    }
    /* And the other way round. */
    char ajid[200];
    snprintf(ajid, sizeof ajid, "%s/%u", alice.user, alice.device);
    CHECK(send_msg(&b, "y1", alice.user, ajid) == 0);
    CHECK(receive(&a, "y1", 3000));
    /* bob logs in again on alice's process: his older connection on the
     * other process is closed, as a second login on one process would be. */
    {
        st_client b2;
        long pb2 = 0;
        CHECK(login_elsewhere(&b2, &bob, pb, &pb2));
        CHECK(pb2 != 0 && pb2 != pb);
        parley_stanza *e = st_expect(&b, "error", 3000);
        CHECK(e != NULL && strcmp(parley_stanza_attr(e, "code"), "409") == 0);
        parley_stanza_free(e);
        /* the newer connection stays and gets bob's messages */
        CHECK(send_msg(&a, "z1", bob.user, bjid) == 0);
        CHECK(receive(&b2, "z1", 3000));
        st_close(&b2);
    }
    st_close(&a);
    st_close(&b);
    CHECK(log_count("peers: ") >= 2);
}

/* A message to `to` addressed to the given devices. */
static int send_to(st_client *c, const char *id, const char *to, const char *const *jids, size_t n)
{
    char xml[2048];
    size_t o =
        (size_t)snprintf(xml, sizeof xml, "<message id=\"%s\" to=\"%s\"><participants>", id, to);
    for (size_t i = 0; i < n && o < sizeof xml; i++)
        o += (size_t)snprintf(xml + o, sizeof xml - o,
                              "<to jid=\"%s\"><enc v=\"2\" type=\"msg\">QUJDREVGR0g=</enc></to>",
                              jids[i]);
    if (o >= sizeof xml)
        return -1;
    snprintf(xml + o, sizeof xml - o, "</participants></message>");
    return st_send(c, xml);
}


/* The refusal names exactly one device, jid, as `what` (missing or stale). */
static int refused_for(st_client *c, const char *id, const char *what, const char *jid)
{
    parley_stanza *a = NULL;
    int ok = st_wait_ack(c, id, &a) == 409 && a != NULL && parley_stanza_child_count(a) == 1;
    const parley_stanza *e = ok ? parley_stanza_child(a, what) : NULL;
    ok = e != NULL && parley_stanza_attr(e, "jid") != NULL &&
         strcmp(parley_stanza_attr(e, "jid"), jid) == 0;
    parley_stanza_free(a);
    return ok;
}

/* Link a new device d of user, with a code asked for on c (a device of user). */
static int link_device(st_client *c, st_dev *d, const char *user)
{
    st_client n;
    parley_stanza *r = st_iq(c, "<iq id=\"lc\" type=\"set\"><link-code/></iq>", "lc");
    parley_stanza *lc = r != NULL ? parley_stanza_child(r, "link-code") : NULL;
    const char *code = lc != NULL ? parley_stanza_attr(lc, "code") : NULL;
    int ok = 0;
    st_dev_new(d, user);
    if (code != NULL && st_link(&n, &S, d, code)) {
        ok = 1;
        st_close(&n);
    }
    parley_stanza_free(r);
    return ok;
}

/*
 * The device lists each process keeps (devcache.c) follow every change,
 * whichever process or program made it: dave's process has cached erin's
 * list and its own when erin links and removes devices on the other
 * process and parleyctl removes one; the next message is checked against
 * the new list each time.
 */
static void test_device_changes(void)
{
    st_dev dave, erin, erin2, erin3, dave2;
    st_client d, e;
    char code[64], ej1[200], ej2[200], ej3[200], dj2[200];
    long pd = 0, pe = 0;
    st_dev_new(&dave, "dave@example.org");
    st_dev_new(&erin, "erin@example.org");
    CHECK(st_user_add(&S, dave.user, code) == 0);
    CHECK(st_register(&d, &S, &dave, code));
    st_close(&d);
    CHECK(st_user_add(&S, erin.user, code) == 0);
    CHECK(st_register(&e, &S, &erin, code));
    st_close(&e);
    snprintf(ej1, sizeof ej1, "%s/1", erin.user);
    CHECK(st_login(&e, &S, &erin));
    pe = login_pid(ej1);
    CHECK(pe != 0);
    int apart = login_elsewhere(&d, &dave, pe, &pd);
    CHECK(apart);
    if (!apart)
        return;
    const char *one[] = {ej1};
    /* Both lists are now cached on dave's process. */
    CHECK(send_to(&d, "d1", erin.user, one, 1) == 0);
    CHECK(st_wait_ack(&d, "d1", NULL) == 0);
    CHECK(receive(&e, "d1", 3000));
    CHECK(send_to(&d, "d2", erin.user, one, 1) == 0);
    CHECK(st_wait_ack(&d, "d2", NULL) == 0);
    CHECK(receive(&e, "d2", 3000));

    /* Linked: the new device is required at once. */
    CHECK(link_device(&e, &erin2, erin.user));
    CHECK(erin2.device == 2);
    snprintf(ej2, sizeof ej2, "%s/2", erin.user);
    CHECK(send_to(&d, "d3", erin.user, one, 1) == 0);
    CHECK(refused_for(&d, "d3", "missing", ej2));
    const char *both[] = {ej1, ej2};
    CHECK(send_to(&d, "d4", erin.user, both, 2) == 0);
    CHECK(st_wait_ack(&d, "d4", NULL) == 0);
    CHECK(receive(&e, "d4", 3000));

    /* Removed on erin's process: stale on dave's at once. */
    parley_stanza *r = st_iq(&e, "<iq id=\"rm\" type=\"set\"><remove-device id=\"2\"/></iq>", "rm");
    CHECK(st_iq_code(r) == 0);
    parley_stanza_free(r);
    CHECK(send_to(&d, "d5", erin.user, both, 2) == 0);
    CHECK(refused_for(&d, "d5", "stale", ej2));
    CHECK(send_to(&d, "d6", erin.user, one, 1) == 0);
    CHECK(st_wait_ack(&d, "d6", NULL) == 0);
    CHECK(receive(&e, "d6", 3000));

    /* Removed by parleyctl, a program of its own. */
    CHECK(link_device(&e, &erin3, erin.user));
    CHECK(erin3.device == 3);
    snprintf(ej3, sizeof ej3, "%s/3", erin.user);
    const char *with3[] = {ej1, ej3};
    CHECK(send_to(&d, "d7", erin.user, with3, 2) == 0);
    CHECK(st_wait_ack(&d, "d7", NULL) == 0);
    CHECK(st_ctl(&S, NULL, 0, "device", "remove", erin.user, "3") == 0);
    CHECK(send_to(&d, "d8", erin.user, with3, 2) == 0);
    CHECK(refused_for(&d, "d8", "stale", ej3));

    /* The sender's own list: a device linked to dave is missing too. */
    CHECK(link_device(&d, &dave2, dave.user));
    snprintf(dj2, sizeof dj2, "%s/%u", dave.user, dave2.device);
    CHECK(send_to(&d, "d9", erin.user, one, 1) == 0);
    CHECK(refused_for(&d, "d9", "missing", dj2));
    const char *fan[] = {ej1, dj2};
    CHECK(send_to(&d, "d10", erin.user, fan, 2) == 0);
    CHECK(st_wait_ack(&d, "d10", NULL) == 0);
    CHECK(receive(&e, "d10", 3000));
    st_close(&d);
    st_close(&e);
}

static long first_child_pid(void)
{
    char *b = read_log();
    long pid = 0;
    const char *p = b != NULL ? strstr(b, "with 1 worker") : NULL;
    if (p == NULL)
        p = b != NULL ? strstr(b, "with 2 workers") : NULL;
    if (p != NULL) {
        while (p > b && *p != '[')
            p--;
        pid = strtol(p + 1, NULL, 10);
    }
    free(b);
    return pid;
}

static void test_restart(void)
{
    long child = first_child_pid();
    CHECK(child > 0);
    if (child <= 0)
        return;
    int listening = log_count("listening on 127.0.0.1:");
    CHECK(kill((pid_t)child, SIGKILL) == 0);
    CHECK(wait_log("ended (signal 9)", 1, 5000));
    /* The replacement listens again on the same port. */
    CHECK(wait_log("listening on 127.0.0.1:", listening + 1, 10000));
    st_dev carol;
    st_client c;
    char code[64];
    st_dev_new(&carol, "carol@example.org");
    CHECK(st_user_add(&S, carol.user, code) == 0);
    for (int i = 0; i < 6; i++) {
        /* Several connections, so both processes take some. */
        if (i == 0)
            CHECK(st_register(&c, &S, &carol, code));
        else
            CHECK(st_login(&c, &S, &carol));
        st_close(&c);
    }
}

int main(int argc, char **argv)
{
    if (st_args(argc, argv, "PARLEYD PARLEYCTL") != 0)
        return 2;
    CHECK(pc_init() == 0);
    CHECK(st_setup(&S, argv[1], argv[2], "processes = 2\nverbose = 1\n") == 0);
    CHECK(st_start(&S) == 0);
    CHECK(wait_log("with 2 processes", 1, 20000));
    CHECK(peer_sockets() == 2);
    if (S.port > 0) {
        test_cross_process();
        test_device_changes();
        test_restart();
    }
    int st = st_stop(&S, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(log_count("all processes stopped") == 1);
    CHECK(peer_sockets() == 0);
    /* No message body in the log. */
    CHECK(log_count("QUJDREVGR0g") == 0);
    st_cleanup(&S, check_failed);
    TEST_MAIN_END();
}
