/* Integration-test helpers for parleyd (srvtest.h). */
#include "srvtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "crypto/crypto.h"
#include "parley/signal.h"
#include "parley/xeddsa.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint8_t *st_capture;
size_t st_capture_max;

static int check_hex32(uint8_t out[32], const char *hex)
{
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int run(char *out, size_t max, char *const argv[])
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    char buf[4096];
    ssize_t r;
    while ((r = read(p[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (out != NULL && max > 0) {
        char *nl = strchr(buf, '\n');
        if (nl != NULL)
            *nl = '\0';
        snprintf(out, max, "%s", buf);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int st_ctl(st_server *s, char *out, size_t max, const char *a1, const char *a2, const char *a3,
           const char *a4)
{
    char *argv[] = {(char *)s->parleyctl, "--db", s->db, (char *)a1, (char *)a2, (char *)a3,
                    (char *)a4, NULL};
    return run(out, max, argv);
}

int st_user_add(st_server *s, const char *user, char code[64])
{
    return st_ctl(s, code, 64, "user", "add", user, NULL);
}

int st_setup(st_server *s, const char *parleyd, const char *parleyctl, const char *extra)
{
    memset(s, 0, sizeof *s);
    s->parleyd = parleyd;
    s->parleyctl = parleyctl;
    snprintf(s->dir, sizeof s->dir, "/tmp/parleyd-test-XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return -1;
    snprintf(s->db, sizeof s->db, "%s/parleyd.db", s->dir);
    snprintf(s->key, sizeof s->key, "%s/server.key", s->dir);
    snprintf(s->cert, sizeof s->cert, "%s/server.cert", s->dir);
    snprintf(s->root, sizeof s->root, "%s/root.key", s->dir);
    snprintf(s->conf, sizeof s->conf, "%s/parleyd.ini", s->dir);
    snprintf(s->log, sizeof s->log, "%s/parleyd.log", s->dir);
    char line[256];
    char *rk[] = {(char *)parleyctl, "root-key", s->root, NULL};
    if (run(line, sizeof line, rk) != 0)
        return -1;
    const char *hex = strrchr(line, ' ');
    if (hex == NULL || check_hex32(s->root_pub, hex + 1) != 0)
        return -1;
    char *ci[] = {(char *)parleyctl, "cert", "issue", "--root", s->root, "--key", s->key,
                  "--out", s->cert, NULL};
    if (run(NULL, 0, ci) != 0)
        return -1;
    FILE *f = fopen(s->conf, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "[server]\nlisten = 127.0.0.1:0\ndb = %s\nkey = %s\ncert = %s\nworkers = 2\n%s\n",
            s->db, s->key, s->cert, extra != NULL ? extra : "");
    fclose(f);
    return 0;
}

int st_start(st_server *s)
{
    int logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (logfd < 0)
        return -1;
    off_t start = lseek(logfd, 0, SEEK_END);
    pid_t pid = fork();
    if (pid == 0) {
        /* The server never outlives a test that died. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(logfd, 2);
        close(logfd);
        execl(s->parleyd, s->parleyd, "-c", s->conf, (char *)NULL);
        _exit(127);
    }
    close(logfd);
    s->pid = pid;
    /* Wait (bounded) for the line that names the port. */
    for (int i = 0; i < 1000; i++) {
        char buf[8192];
        int fd = open(s->log, O_RDONLY);
        if (fd >= 0) {
            ssize_t n = pread(fd, buf, sizeof buf - 1, start);
            close(fd);
            if (n > 0) {
                buf[n] = '\0';
                const char *p = strstr(buf, "listening on 127.0.0.1:");
                if (p != NULL) {
                    s->port = atoi(p + strlen("listening on 127.0.0.1:"));
                    return s->port > 0 ? 0 : -1;
                }
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    return -1;
}

int st_stop(st_server *s, int sig)
{
    int st = -1;
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    for (int i = 0; i < 3000; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return st;
        }
        sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return -1;
}

enum { ST_LOG_TAIL = 16384 };

static void dump_log_tail(const st_server *s)
{
    static char buf[ST_LOG_TAIL + 1];
    int fd = open(s->log, O_RDONLY);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > ST_LOG_TAIL ? end - ST_LOG_TAIL : 0;
    ssize_t n = pread(fd, buf, ST_LOG_TAIL, from);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    fprintf(stderr, "---- end of %s ----\n%s---- (log ends) ----\n", s->log, buf);
}

parley_stanza *st_expect_ack(st_client *c, const char *id, int ms)
{
    for (int i = 0; i < 100; i++) {
        parley_stanza *a = st_expect(c, "ack", ms);
        if (a == NULL)
            return NULL;
        const char *aid = parley_stanza_attr(a, "id");
        if (aid != NULL && strcmp(aid, id) == 0)
            return a;
        parley_stanza_free(a);
    }
    return NULL;
}

/* An ack's error code, 0 for success; -1 for no ack. */
static int ack_code(const parley_stanza *a)
{
    uint64_t err = 0;
    if (a == NULL)
        return -1;
    return parley_stanza_attr_u64(a, "error", &err) == 0 ? (int)err : 0;
}

int st_ack_code(st_client *c, const char *id, int ms)
{
    parley_stanza *a = st_expect_ack(c, id, ms);
    int rc = ack_code(a);
    parley_stanza_free(a);
    return rc;
}

int st_log_has(const st_server *s, const char *what)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "grep -q -- '%s' %s", what, s->log);
    return system(cmd) == 0;
}

int st_wait_log(const st_server *s, const char *what, int ms)
{
    for (int i = 0; i < ms / 20; i++) {
        if (st_log_has(s, what))
            return 1;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

void st_cleanup(st_server *s, int failed)
{
    if (s->pid > 0)
        st_stop(s, SIGKILL);
    if (failed > 0)
        dump_log_tail(s);
    const char *keep = getenv("PARLEY_TEST_KEEP");
    if (keep != NULL && keep[0] == '1') {
        fprintf(stderr, "kept %s\n", s->dir);
        return;
    }
    char path[400];
    const char *names[] = {"parleyd.db",        "parleyd.db-wal", "parleyd.db-shm",
                           "parleyd.db-devgen", "server.key",     "server.cert",
                           "root.key",          "parleyd.ini",    "parleyd.log"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", s->dir, names[i]);
        unlink(path);
    }
    rmdir(s->dir);
}

long st_rss_kib(const st_server *s)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)s->pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    fclose(f);
    return kib;
}

void st_dev_new(st_dev *d, const char *user)
{
    uint8_t pub[32];
    memset(d, 0, sizeof *d);
    if (pc_x25519_keygen(d->noise_pub, d->noise_priv) < 0 || pc_x25519_keygen(pub, d->id_priv) < 0)
        abort();
    parley_key_encode(d->id_pub, pub);
    snprintf(d->user, sizeof d->user, "%s", user);
}

/* ---- the client ---- */

static int flush_out(st_client *c)
{
    const uint8_t *p;
    size_t n;
    parley_noise_conn_output(c->nc, &p, &n);
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pf = {c->fd, POLLOUT, 0};
            poll(&pf, 1, 1000);
            continue;
        }
        if (w <= 0)
            return -1;
        if (c->cap != NULL && c->caplen + (size_t)w <= c->capmax) {
            memcpy(c->cap + c->caplen, p, (size_t)w);
            c->caplen += (size_t)w;
        }
        parley_noise_conn_consume(c->nc, (size_t)w);
        parley_noise_conn_output(c->nc, &p, &n);
    }
    return 0;
}

/* Read what is there (waiting up to timeout_ms); < 0 on EOF or error. */
static int pump(st_client *c, int timeout_ms)
{
    struct pollfd pf = {c->fd, POLLIN, 0};
    int r = poll(&pf, 1, timeout_ms);
    if (r <= 0)
        return 0;
    uint8_t buf[65536];
    size_t space = parley_noise_conn_input_space(c->nc);
    if (space == 0)
        return 0;
    ssize_t n = recv(c->fd, buf, space < sizeof buf ? space : sizeof buf, 0);
    if (n <= 0) {
        c->closed = 1;
        return -1;
    }
    if (parley_noise_conn_feed(c->nc, buf, (size_t)n) < 0)
        return -1;
    return 1;
}

int st_connect(st_client *c, const st_server *s, const st_dev *d, const char *login,
               parley_stanza **first)
{
    memset(c, 0, sizeof *c);
    c->cap = st_capture;
    c->capmax = st_capture_max;
    *first = NULL;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    parley_noise_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.static_priv = d->noise_priv;
    cfg.static_pub = d->noise_pub;
    cfg.root_pub = s->root_pub;
    cfg.login = (const uint8_t *)login;
    cfg.login_len = strlen(login);
    if (parley_noise_conn_new_client(&c->nc, &cfg) < 0 ||
        parley_stanza_parser_new(&c->parser, NULL) < 0)
        return -1;
    if (parley_noise_conn_start(c->nc, (uint64_t)now_ms()) < 0 || flush_out(c) < 0)
        return -1;
    long deadline = now_ms() + 10000;
    while (!parley_noise_conn_established(c->nc)) {
        parley_noise_event ev;
        if (now_ms() > deadline)
            return -1;
        if (pump(c, 100) < 0)
            return -1;
        if (parley_noise_conn_next(c->nc, &ev) < 0 || flush_out(c) < 0)
            return -1;
        if (ev.type == PARLEY_NOISE_EV_FRAME) {
            /* not expected before the handshake is done */
            return -1;
        }
    }
    return st_recv(c, 10000, first) == 1 ? 0 : -1;
}

static int login_with(st_client *c, const st_server *s, st_dev *d, const char *xml)
{
    parley_stanza *first = NULL;
    int ok = 0;
    if (st_connect(c, s, d, xml, &first) == 0 && first != NULL &&
        parley_stanza_is(first, "success")) {
        uint64_t dev = 0;
        if (parley_stanza_attr_u64(first, "device", &dev) == 0) {
            d->device = (uint32_t)dev;
            ok = 1;
        }
    }
    parley_stanza_free(first);
    return ok;
}

int st_login(st_client *c, const st_server *s, st_dev *d)
{
    char xml[512];
    snprintf(xml, sizeof xml, "<login user=\"%s\" device=\"%u\" client=\"test/1\"/>", d->user,
             d->device);
    return login_with(c, s, d, xml);
}

int st_register(st_client *c, const st_server *s, st_dev *d, const char *code)
{
    char xml[512];
    snprintf(xml, sizeof xml, "<register user=\"%s\" code=\"%s\" client=\"test/1\"/>", d->user,
             code);
    return login_with(c, s, d, xml);
}

int st_signup(st_client *c, st_server *s, st_dev *d, const char *user)
{
    char code[64];
    st_dev_new(d, user);
    if (st_user_add(s, user, code) != 0)
        return 0;
    return st_register(c, s, d, code);
}

int st_link(st_client *c, const st_server *s, st_dev *d, const char *code)
{
    char xml[512];
    snprintf(xml, sizeof xml, "<link user=\"%s\" code=\"%s\" client=\"test/1\"/>", d->user, code);
    return login_with(c, s, d, xml);
}

void st_close(st_client *c)
{
    if (c->fd > 0)
        close(c->fd);
    c->fd = -1;
    parley_noise_conn_free(c->nc);
    c->nc = NULL;
    parley_stanza_parser_free(c->parser);
    c->parser = NULL;
}

int st_send_raw(st_client *c, const uint8_t *p, size_t n)
{
    for (;;) {
        int rc = parley_noise_conn_send(c->nc, p, n);
        if (rc == PARLEY_ERR_BUFFER) {
            if (flush_out(c) < 0)
                return -1;
            continue;
        }
        if (rc < 0)
            return rc;
        return flush_out(c);
    }
}

int st_send(st_client *c, const char *xml)
{
    return st_send_raw(c, (const uint8_t *)xml, strlen(xml));
}

int st_recv(st_client *c, int timeout_ms, parley_stanza **out)
{
    long deadline = now_ms() + timeout_ms;
    *out = NULL;
    for (;;) {
        parley_noise_event ev;
        if (parley_noise_conn_next(c->nc, &ev) < 0)
            return -1;
        if (flush_out(c) < 0)
            return -1;
        if (ev.type == PARLEY_NOISE_EV_FRAME) {
            if (parley_stanza_parser_parse(c->parser, ev.data, ev.len, out) < 0)
                return -1;
            return 1;
        }
        if (ev.type != PARLEY_NOISE_EV_NONE)
            continue;
        long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        if (pump(c, (int)(left < 100 ? left : 100)) < 0)
            return -1;
    }
}

parley_stanza *st_expect(st_client *c, const char *name, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        parley_stanza *st = NULL;
        long left = deadline - now_ms();
        if (left <= 0 || st_recv(c, (int)left, &st) != 1)
            return NULL;
        if (parley_stanza_is(st, name))
            return st;
        parley_stanza_free(st);
    }
}

parley_stanza *st_iq(st_client *c, const char *xml, const char *id)
{
    if (st_send(c, xml) < 0)
        return NULL;
    long deadline = now_ms() + 10000;
    for (;;) {
        parley_stanza *st = NULL;
        long left = deadline - now_ms();
        if (left <= 0 || st_recv(c, (int)left, &st) != 1)
            return NULL;
        const char *sid = parley_stanza_attr(st, "id");
        if (parley_stanza_is(st, "iq") && sid != NULL && strcmp(sid, id) == 0)
            return st;
        parley_stanza_free(st);
    }
}

int st_iq_code(const parley_stanza *r)
{
    const char *type = r != NULL ? parley_stanza_attr(r, "type") : NULL;
    if (type == NULL)
        return -1;
    if (strcmp(type, "result") == 0)
        return 0;
    const parley_stanza *e = parley_stanza_child(r, "error");
    uint64_t code = 0;
    if (e == NULL || parley_stanza_attr_u64(e, "code", &code) < 0)
        return -1;
    return (int)code;
}

char *st_b64(const uint8_t *p, size_t n)
{
    parley_stanza *e = NULL;
    char *out = NULL;
    if (parley_stanza_new(&e, "x") == 0 && parley_stanza_set_bytes(e, p, n) == 0) {
        const char *t = parley_stanza_text(e, NULL);
        out = strdup(t != NULL ? t : "");
    }
    parley_stanza_free(e);
    return out;
}

int st_upload_keys(st_client *c, const st_dev *d, uint32_t first, uint32_t n)
{
    return st_upload_keys_as(c, d, d->id_pub, first, n);
}

int st_upload_keys_as(st_client *c, const st_dev *d, const uint8_t id_pub[33], uint32_t first,
                      uint32_t n)
{
    uint8_t spub[32], spriv[32], spk[33], sig[64];
    size_t cap = 1024 + (size_t)n * 96, len;
    char *xml = malloc(cap);
    int rc = -1;
    if (xml == NULL)
        return -1;
    if (pc_x25519_keygen(spub, spriv) < 0)
        goto out;
    parley_key_encode(spk, spub);
    if (parley_xeddsa_sign(sig, d->id_priv, spk, sizeof spk) < 0)
        goto out;
    char *ik = st_b64(id_pub, 33), *sk = st_b64(spk, 33), *sg = st_b64(sig, 64);
    len = (size_t)snprintf(xml, cap,
                           "<iq id=\"keys\" type=\"set\"><keys><identity>%s</identity>"
                           "<registration>%u</registration><signed id=\"1\" sig=\"%s\">%s</signed>",
                           ik, 1000 + d->device, sg, sk);
    free(ik);
    free(sk);
    free(sg);
    if (n > 0) {
        len += (size_t)snprintf(xml + len, cap - len, "<prekeys>");
        for (uint32_t i = 0; i < n; i++) {
            uint8_t pp[32], pv[32], pk[33];
            if (pc_x25519_keygen(pp, pv) < 0)
                goto out;
            parley_key_encode(pk, pp);
            char *b = st_b64(pk, 33);
            len += (size_t)snprintf(xml + len, cap - len, "<pk id=\"%u\">%s</pk>", first + i, b);
            free(b);
        }
        len += (size_t)snprintf(xml + len, cap - len, "</prekeys>");
    }
    snprintf(xml + len, cap - len, "</keys></iq>");
    parley_stanza *r = st_iq(c, xml, "keys");
    rc = st_iq_code(r);
    parley_stanza_free(r);
out:
    free(xml);
    return rc;
}

int st_sign_devices(st_client *c, const st_dev *primary, uint32_t version)
{
    char q[512];
    uint8_t blob[4096], sig[64];
    size_t o = 0;
    int rc = -1;
    snprintf(q, sizeof q, "<iq id=\"dl\" type=\"get\"><devices user=\"%s\"/></iq>", primary->user);
    parley_stanza *r = st_iq(c, q, "dl");
    parley_stanza *l = r != NULL ? parley_stanza_child(r, "devices") : NULL;
    if (l == NULL)
        goto out;
    static const char tag[] = "parley-devices-v1";
    memcpy(blob, tag, sizeof tag);
    o = sizeof tag;
    size_t ul = strlen(primary->user);
    memcpy(blob + o, primary->user, ul + 1);
    o += ul + 1;
    blob[o++] = (uint8_t)(version >> 24);
    blob[o++] = (uint8_t)(version >> 16);
    blob[o++] = (uint8_t)(version >> 8);
    blob[o++] = (uint8_t)version;
    for (parley_stanza *d = parley_stanza_child(l, "device"); d != NULL;
         d = parley_stanza_next_named(d)) {
        uint64_t id = 0;
        const char *ik = parley_stanza_attr(d, "identity");
        parley_stanza *tmp = NULL;
        size_t kl = 0;
        if (parley_stanza_attr_u64(d, "id", &id) < 0 || ik == NULL || o + 37 > sizeof blob)
            goto out;
        blob[o++] = (uint8_t)(id >> 24);
        blob[o++] = (uint8_t)(id >> 16);
        blob[o++] = (uint8_t)(id >> 8);
        blob[o++] = (uint8_t)id;
        if (parley_stanza_new(&tmp, "x") < 0 || parley_stanza_set_text(tmp, ik, strlen(ik)) < 0 ||
            parley_stanza_get_bytes(tmp, blob + o, 33, &kl) < 0 || kl != 33) {
            parley_stanza_free(tmp);
            goto out;
        }
        parley_stanza_free(tmp);
        o += 33;
    }
    if (parley_xeddsa_sign(sig, primary->id_priv, blob, o) < 0)
        goto out;
    char *bl = st_b64(blob, o), *sg = st_b64(sig, 64);
    char *xml = malloc(o * 2 + 512);
    if (xml != NULL) {
        snprintf(xml, o * 2 + 512,
                 "<iq id=\"ds\" type=\"set\"><devices version=\"%u\" sig=\"%s\">%s</devices></iq>",
                 version, sg, bl);
        parley_stanza *a = st_iq(c, xml, "ds");
        rc = st_iq_code(a);
        parley_stanza_free(a);
    }
    free(xml);
    free(bl);
    free(sg);
out:
    parley_stanza_free(r);
    return rc;
}

int st_wait_ack(st_client *c, const char *id, parley_stanza **keep)
{
    parley_stanza *a = st_expect_ack(c, id, 10000);
    int rc = ack_code(a);
    if (keep != NULL && a != NULL)
        *keep = a;
    else
        parley_stanza_free(a);
    return rc;
}

int st_args(int argc, char **argv, const char *names)
{
    int need = 2;
    for (const char *q = names; *q != '\0'; q++)
        need += *q == ' ';
    if (argc < need) {
        fprintf(stderr, "usage: %s %s\n", argv[0], names);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

