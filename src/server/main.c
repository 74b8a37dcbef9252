/*
 * parleyd — the gatekeeper's chat server (docs/operations.md).
 *
 *   parleyd [-c FILE] [--listen HOST:PORT] [--db PATH] [--key FILE]
 *           [--cert FILE] [--workers N] [-v]
 *
 * Runs in the foreground, logs to stderr, tells systemd it is ready
 * (Type=notify) when NOTIFY_SOCKET is set, and shuts down cleanly on
 * SIGTERM or SIGINT: no new connections, every message already durable is
 * acked, then the connections and the store are closed. SIGUSR1 logs the
 * counters.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "crypto/crypto.h"
#include "parley/noise_cert.h"
#include "server/keyfile.h"
#include "server/server.h"
#include "util/safety.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: parleyd [-c FILE] [--listen HOST:PORT] [--db PATH] [--key FILE]\n"
               "               [--cert FILE] [--workers N] [--sync full|normal] [-v]\n");
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

static int load_keys(srv *s)
{
    int rc;
    size_t n = 0;
    parley_noise_cert_info info;
    GUARD(srv_keyfile_read(s->cfg.key, s->static_priv, sizeof s->static_priv));
    GUARD(pc_x25519_public(s->static_pub, s->static_priv));
    GUARD(srv_file_read(s->cfg.cert, s->cert, sizeof s->cert, &n));
    ENSURE(n == PARLEY_CERT_LEN, PARLEY_ERR_CERT_INVALID);
    GUARD(parley_noise_cert_decode(s->cert, n, &info));
    /* A certificate for another key would make every client refuse us. */
    ENSURE(memcmp(info.server_key, s->static_pub, 32) == 0, PARLEY_ERR_CERT_KEY_MISMATCH);
    uint64_t now = srv_now_ms() / 1000;
    if (now > info.not_after)
        srv_log("warning: certificate expired (serial %llu)", (unsigned long long)info.serial);
    else
        srv_log("certificate serial %llu valid for %llu more days",
                (unsigned long long)info.serial,
                (unsigned long long)((info.not_after - now) / 86400));
    rc = PARLEY_OK;
out:
    return rc;
}

static void log_stats(srv *s)
{
    srv_log("stats: connections=%llu logins=%llu messages=%llu pushes=%llu acks=%llu "
            "refused_logins=%llu",
            (unsigned long long)s->st_conns, (unsigned long long)s->st_logins,
            (unsigned long long)s->st_msgs, (unsigned long long)s->st_pushes,
            (unsigned long long)s->st_acks, (unsigned long long)s->st_refused);
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
    pstore_sqlite_config scfg = {s.cfg.sync_normal ? PSTORE_SYNC_NORMAL : PSTORE_SYNC_FULL, 0, 0};
    GUARD(pstore_open_sqlite(&s.store, s.cfg.db, &scfg));
    GUARD(srvdb_open(&s.db, s.cfg.db));
    GUARD(srv_reg_init(&s));
    GUARD(srv_start(&s));
    srv_log("listening on %s:%d with %d worker%s", s.cfg.listen_host, s.port, s.nworkers,
            s.nworkers == 1 ? "" : "s");
    notify_systemd("READY=1\nSTATUS=serving");

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR1) {
            log_stats(&s);
            continue;
        }
        if (sig == SIGHUP)
            continue;
        break;
    }
    srv_log("shutting down");
    notify_systemd("STOPPING=1");
    srv_stop(&s);
    log_stats(&s);
    rc = PARLEY_OK;
out:
    if (rc < 0)
        srv_log("fatal: %s", parley_strerror(rc));
    srv_watch_free();
    srv_reg_free(&s);
    srvdb_close(s.db);
    if (s.store != NULL)
        pstore_close(s.store);
    pc_wipe(s.static_priv, sizeof s.static_priv);
    return rc < 0 ? 1 : 0;
}
