/*
 * parleyd — the gatekeeper's chat server (docs/operations.md).
 *
 *   parleyd [-c FILE] [--listen HOST:PORT] [--db PATH] [--key FILE]
 *           [--cert FILE] [--workers N] [--processes N] [-v]
 *
 * Runs in the foreground, logs to stderr, tells systemd it is ready
 * (Type=notify) when NOTIFY_SOCKET is set, and shuts down cleanly on
 * SIGTERM or SIGINT: no new connections, every message already durable is
 * acked, then the connections and the store are closed. SIGUSR1 logs the
 * counters; SIGHUP loads the certificate file again (rotation).
 *
 * With --processes N (N > 1) this process only supervises: it fixes the
 * port, forks N servers that share it (SO_REUSEPORT) and the database,
 * and route to each other through peers_dir (peer.c); it reports ready
 * once all of them listen, passes SIGTERM/SIGINT/SIGUSR1 on, starts a
 * server again if one dies, and exits when all have stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "crypto/crypto.h"
#include "parley/noise_cert.h"
#include "server/keyfile.h"
#include "server/server.h"
#include "util/safety.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: parleyd [-c FILE] [--listen HOST:PORT] [--db PATH] [--key FILE]\n"
               "               [--cert FILE] [--workers N] [--processes N] [--sync full|normal]\n"
               "               [--commit-delay-us N] [--delivery-hold-ms N] [--max-store-mb N] [-v]\n");
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void notify_systemd(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof sa.sun_path)
        return;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* an abstract socket */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    ssize_t r = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    (void)r;
    close(fd);
}

/* ---- --processes: the supervisor ---- */

enum {
    SUP_READY_TIMEOUT_MS = 60000,
    SUP_RESTARTS_MAX = 5, /* within SUP_RESTART_WINDOW_S, then give up */
    SUP_RESTART_WINDOW_S = 60,
};

/* Bind (without listening) so that the port is fixed, ephemeral or not,
 * before the servers bind it too with SO_REUSEPORT. */
static int reserve_port(srv_config *c, int *out_fd)
{
    struct addrinfo hints, *ai = NULL;
    char port[16];
    int fd = -1, one = 1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    snprintf(port, sizeof port, "%d", c->listen_port);
    if (getaddrinfo(c->listen_host, port, &hints, &ai) != 0)
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        srv_log("cannot reserve %s:%d: %s", c->listen_host, c->listen_port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    c->listen_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                              : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out_fd = fd;
    return 0;
}

/* 0 in the parent (pid set), 1 in the new server process, -1 on failure. */
static int spawn(srv_config *c, int ready_w, int reserve_fd, int ready_r, pid_t *pid)
{
    pid_t p = fork();
    if (p < 0) {
        srv_log("fork: %s", strerror(errno));
        return -1;
    }
    if (p == 0) {
        /* A server never outlives its supervisor. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            _exit(1);
        if (reserve_fd >= 0)
            close(reserve_fd);
        close(ready_r);
        unsetenv("NOTIFY_SOCKET"); /* only the supervisor speaks to systemd */
        c->ready_fd = ready_w;
        return 1;
    }
    *pid = p;
    return 0;
}

static void signal_all(const pid_t *pids, int n, int sig)
{
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], sig);
}

/*
 * Returns 1 in a server process (which carries on as a server), or the
 * supervisor's exit status (>= 0 as 0 or 1) once it is done.
 */
static int supervise(srv_config *c, int *exit_code)
{
    pid_t pids[SRV_PROCESSES_MAX];
    int n = c->processes, reserve_fd = -1, ready[2] = {-1, -1}, failed = 0;
    time_t restarts[SUP_RESTARTS_MAX];
    int nrestarts = 0;
    memset(pids, 0, sizeof pids);
    srv_log_with_pid(1);
    if (c->peers_dir[0] == '\0' && snprintf(c->peers_dir, sizeof c->peers_dir, "%s.peers", c->db) >=
                                       (int)sizeof c->peers_dir) {
        srv_log("peers_dir: path too long");
        *exit_code = 1;
        return 0;
    }
    if (reserve_port(c, &reserve_fd) < 0 || pipe(ready) != 0) {
        *exit_code = 1;
        return 0;
    }
    fcntl(ready[0], F_SETFD, FD_CLOEXEC);
    fcntl(ready[1], F_SETFD, FD_CLOEXEC);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < n; i++) {
        int r = spawn(c, ready[1], reserve_fd, ready[0], &pids[i]);
        if (r == 1)
            return 1;
        if (r < 0) {
            failed = 1;
            break;
        }
    }
    /* Every server listening (or one gone): then the port needs no holder. */
    int up = 0;
    uint64_t deadline = srv_mono_ms() + SUP_READY_TIMEOUT_MS;
    while (!failed && up < n && srv_mono_ms() < deadline) {
        struct pollfd pf = {ready[0], POLLIN, 0};
        char b[SRV_PROCESSES_MAX];
        if (poll(&pf, 1, 100) > 0) {
            ssize_t r = read(ready[0], b, sizeof b);
            if (r > 0)
                up += (int)r;
        }
        int st;
        if (waitpid(-1, &st, WNOHANG) > 0)
            failed = 1;
    }
    close(reserve_fd);
    if (failed || up < n) {
        srv_log("not all %d processes started; stopping", n);
        signal_all(pids, n, SIGTERM);
        while (wait(NULL) > 0)
            ;
        *exit_code = 1;
        return 0;
    }
    srv_log("listening on %s:%d with %d processes", c->listen_host, c->listen_port, n);
    notify_systemd("READY=1\nSTATUS=serving");
    int stopping = 0, alive = n;
    while (alive > 0) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR1 || sig == SIGHUP) {
            signal_all(pids, n, sig);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            if (!stopping) {
                srv_log("shutting down %d processes", alive);
                notify_systemd("STOPPING=1");
            }
            stopping = 1;
            signal_all(pids, n, SIGTERM);
            continue;
        }
        /* SIGCHLD: reap, and start again what died on its own. */
        pid_t p;
        int st;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
            for (int i = 0; i < n; i++) {
                if (pids[i] != p)
                    continue;
                pids[i] = 0;
                alive--;
                /* A server killed outright leaves its peer socket behind. */
                char sock[sizeof c->peers_dir + 32];
                snprintf(sock, sizeof sock, "%s/%ld.sock", c->peers_dir, (long)p);
                unlink(sock);
                if (stopping && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                    failed = 1; /* a clean stop is each server's clean exit */
                if (stopping)
                    break;
                srv_log("process %ld ended (%s %d)", (long)p, WIFSIGNALED(st) ? "signal" : "status",
                        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
                time_t now = time(NULL);
                if (nrestarts == SUP_RESTARTS_MAX && now - restarts[0] < SUP_RESTART_WINDOW_S) {
                    srv_log("too many restarts; stopping");
                    stopping = 1;
                    signal_all(pids, n, SIGTERM);
                    break;
                }
                if (nrestarts == SUP_RESTARTS_MAX) {
                    memmove(restarts, restarts + 1, sizeof restarts[0] * (SUP_RESTARTS_MAX - 1));
                    nrestarts--;
                }
                restarts[nrestarts++] = now;
                int r = spawn(c, ready[1], -1, ready[0], &pids[i]);
                if (r == 1)
                    return 1;
                if (r == 0)
                    alive++;
                break;
            }
        }
    }
    srv_log("all processes stopped");
    close(ready[0]);
    close(ready[1]);
    *exit_code = failed ? 1 : 0;
    return 0;
}

/* Reads and checks the certificate file into out (the server key is loaded). */
static int read_cert(srv *s, uint8_t out[PARLEY_CERT_LEN], parley_noise_cert_info *info)
{
    int rc;
    size_t n = 0;
    GUARD(srv_file_read(s->cfg.cert, out, PARLEY_CERT_LEN, &n));
    ENSURE(n == PARLEY_CERT_LEN, PARLEY_ERR_CERT_INVALID);
    GUARD(parley_noise_cert_decode(out, n, info));
    /* A certificate for another key would make every client refuse us. */
    ENSURE(memcmp(info->server_key, s->static_pub, 32) == 0, PARLEY_ERR_CERT_KEY_MISMATCH);
    rc = PARLEY_OK;
out:
    return rc;
}

/*
 * SIGHUP: certificate rotation without a restart (operations.md). The new
 * certificate must be for the same server key; it goes to the slot that is
 * not in use, then new connections get it. Reloads closer than a second
 * apart are refused, so a slot is never rewritten while a connection that
 * read the old pointer may still be copying it.
 */
static void reload_cert(srv *s)
{
    static uint64_t last;
    parley_noise_cert_info info;
    uint64_t now = srv_mono_ms();
    if (last != 0 && now - last < 1000) {
        srv_log("certificate not reloaded: the last reload was under a second ago");
        return;
    }
    last = now;
    uint8_t *slot = s->cert_now == s->cert ? s->cert_next : s->cert;
    int rc = read_cert(s, slot, &info);
    if (rc < 0) {
        srv_log("certificate not reloaded (%s): %s; the current one stays", s->cfg.cert,
                parley_strerror(rc));
        return;
    }
    __atomic_store_n(&s->cert_now, slot, __ATOMIC_RELEASE);
    uint64_t t = srv_now_ms() / 1000;
    srv_log("certificate serial %llu loaded, valid for %lld more days",
            (unsigned long long)info.serial,
            (long long)((int64_t)info.not_after - (int64_t)t) / 86400);
}

static int load_keys(srv *s)
{
    int rc;
    parley_noise_cert_info info;
    GUARD(srv_keyfile_read(s->cfg.key, s->static_priv, sizeof s->static_priv));
    GUARD(pc_x25519_public(s->static_pub, s->static_priv));
    GUARD(read_cert(s, s->cert, &info));
    s->cert_now = s->cert;
    uint64_t now = srv_now_ms() / 1000;
    if (now > info.not_after)
        srv_log("warning: certificate expired (serial %llu)", (unsigned long long)info.serial);
    else
        srv_log("certificate serial %llu valid for %llu more days", (unsigned long long)info.serial,
                (unsigned long long)((info.not_after - now) / 86400));
    rc = PARLEY_OK;
out:
    return rc;
}

/* Resident memory of this process, KiB (0 when /proc is not there). */
static long rss_kib(void)
{
    char line[256];
    long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

static void log_stats(srv *s)
{
    size_t online = 0;
    pstore_stats q;
    srv_devcache_info dc;
    for (int i = 0; i < s->nworkers; i++)
        online += __atomic_load_n(&s->workers[i].count, __ATOMIC_RELAXED);
    pstore_get_stats(s->store, &q);
    srv_log("stats: connections=%llu logins=%llu messages=%llu pushes=%llu acks=%llu "
            "acked_before_stored=%llu refused_logins=%llu",
            (unsigned long long)s->st_conns, (unsigned long long)s->st_logins,
            (unsigned long long)s->st_msgs, (unsigned long long)s->st_pushes,
            (unsigned long long)s->st_acks, (unsigned long long)s->st_unstored,
            (unsigned long long)s->st_refused);
    srv_log("stats: open_connections=%zu rss_kib=%ld commit_queue=%zu commit_queue_bytes=%zu "
            "batches=%llu batched_ops=%llu largest_batch=%zu",
            online, rss_kib(), q.pending_ops, q.pending_bytes, (unsigned long long)q.batches,
            (unsigned long long)q.ops, q.largest_batch);
    srv_devcache_stats(s, &dc);
    srv_log("stats: device_cache=%zu device_cache_max=%zu device_cache_kib=%zu "
            "device_cache_hits=%llu device_cache_misses=%llu",
            dc.entries, dc.max, (dc.bytes + 1023) / 1024, (unsigned long long)dc.hits,
            (unsigned long long)dc.misses);
}

int main(int argc, char **argv)
{
    static srv s;
    int rc;
    const char *conf = NULL;
    srv_config_default(&s.cfg);
    /* The file first, then the flags over it. */
    for (int i = 1; i < argc; i++)
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            conf = argv[i + 1];
    if (conf != NULL && srv_config_load(&s.cfg, conf) < 0)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (strcmp(a, "-v") == 0) {
            s.cfg.verbose++;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
            ;
        else if (strcmp(a, "--listen") == 0)
            ok = srv_config_listen(&s.cfg, v) == 0;
        else if (strcmp(a, "--db") == 0)
            ok = snprintf(s.cfg.db, sizeof s.cfg.db, "%s", v) < (int)sizeof s.cfg.db;
        else if (strcmp(a, "--key") == 0)
            ok = snprintf(s.cfg.key, sizeof s.cfg.key, "%s", v) < (int)sizeof s.cfg.key;
        else if (strcmp(a, "--cert") == 0)
            ok = snprintf(s.cfg.cert, sizeof s.cfg.cert, "%s", v) < (int)sizeof s.cfg.cert;
        else if (strcmp(a, "--workers") == 0) {
            s.cfg.workers = atoi(v);
            ok = s.cfg.workers >= 1 && s.cfg.workers <= SRV_WORKERS_MAX;
        } else if (strcmp(a, "--processes") == 0) {
            s.cfg.processes = atoi(v);
            ok = s.cfg.processes >= 1 && s.cfg.processes <= SRV_PROCESSES_MAX;
        } else if (strcmp(a, "--commit-delay-us") == 0) {
            ok = srv_config_key(&s.cfg, "commit_delay_us", v) == 0;
        } else if (strcmp(a, "--delivery-hold-ms") == 0) {
            ok = srv_config_key(&s.cfg, "delivery_hold_ms", v) == 0;
        } else if (strcmp(a, "--max-store-mb") == 0) {
            ok = srv_config_key(&s.cfg, "max_store_mb", v) == 0;
        } else if (strcmp(a, "--sync") == 0) {
            ok = strcmp(v, "full") == 0 || strcmp(v, "normal") == 0;
            s.cfg.sync_normal = strcmp(v, "normal") == 0;
        } else
            ok = 0;
        if (!ok) {
            usage(stderr);
            return 2;
        }
        i++;
    }

    /* Each connection is a descriptor: take all the hard limit allows
     * (systemd: LimitNOFILE). */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
    }

    if (s.cfg.processes > 1) {
        int code = 0;
        if (supervise(&s.cfg, &code) == 0)
            return code;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    /* Blocked in every thread; the main thread takes them with sigwait. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    GUARD(pc_init());
    GUARD(load_keys(&s));
    pstore_sqlite_config scfg = {
        .sync = s.cfg.sync_normal ? PSTORE_SYNC_NORMAL : PSTORE_SYNC_FULL,
        .commit_delay_us = s.cfg.commit_delay_us,
        .max_size_bytes = s.cfg.max_store_mb << 20,
    };
    GUARD(pstore_open_sqlite(&s.store, s.cfg.db, &scfg));
    GUARD(srvdb_open(&s.db, s.cfg.db));
    GUARD(srv_reg_init(&s));
    GUARD(srv_devcache_init(&s));
    if (s.cfg.ready_fd >= 0 || s.cfg.peers_dir[0] != '\0')
        srv_log_with_pid(1);
    GUARD(srv_peers_start(&s));
    GUARD(srv_start(&s));
    srv_log("listening on %s:%d with %d worker%s", s.cfg.listen_host, s.port, s.nworkers,
            s.nworkers == 1 ? "" : "s");
    notify_systemd("READY=1\nSTATUS=serving");
    if (s.cfg.ready_fd >= 0) {
        /* Tell the supervisor (--processes) that this one listens. */
        ssize_t r = write(s.cfg.ready_fd, "r", 1);
        (void)r;
        close(s.cfg.ready_fd);
        s.cfg.ready_fd = -1;
    }

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR1) {
            log_stats(&s);
            continue;
        }
        if (sig == SIGHUP) {
            reload_cert(&s);
            continue;
        }
        break;
    }
    srv_log("shutting down");
    notify_systemd("STOPPING=1");
    srv_peers_stop_receiving(&s);
    srv_stop(&s);
    srv_peers_free(&s);
    log_stats(&s);
    rc = PARLEY_OK;
out:
    if (rc < 0)
        srv_log("fatal: %s", parley_strerror(rc));
    srv_watch_free();
    srv_peers_free(&s);
    srv_reg_free(&s);
    srv_devcache_free(&s);
    srvdb_close(s.db);
    if (s.store != NULL)
        pstore_close(s.store);
    pc_wipe(s.static_priv, sizeof s.static_priv);
    return rc < 0 ? 1 : 0;
}
