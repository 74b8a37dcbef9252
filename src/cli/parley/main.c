/*
 * parley — the command-line client, in the manner of signal-cli:
 *   parley -a ACCOUNT [--config DIR] COMMAND [OPTIONS]
 * Commands, options and exit codes are in docs/parley.1.
 */
#include <errno.h>
#include <getopt.h>
#include <qrencode.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "parley/client.h"
#include "parley/stanza.h"
#include "util/buf.h"
#include "util/json.h"

enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,
    EXIT_NETWORK = 2,
    EXIT_REFUSED = 3,
    EXIT_UNTRUSTED = 4,
    EXIT_LOCAL = 5,
    EXIT_NOT_REGISTERED = 6,
};

static volatile sig_atomic_t stop_flag;
static int opt_verbose;
static int opt_json;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void log_line(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "parley: %s\n", line);
}

static const char usage_main[] =
    "usage: parley [-a ACCOUNT] [--config DIR] [-v] COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  register --server HOST:PORT --root-key B64 --code CODE\n"
    "  link --server HOST:PORT --root-key B64 --code CODE\n"
    "  link-code                      make a code for a new device (text and QR)\n"
    "  send -m TEXT RECIPIENT...\n"
    "  receive [--timeout S] [--json]\n"
    "  daemon [--json]\n"
    "  devices\n"
    "  remove-device N\n"
    "  contacts\n"
    "  safety-number CONTACT\n"
    "  verify [--yes] CONTACT\n"
    "\n"
    "exit status: 0 ok, 1 usage, 2 network, 3 refused by the server,\n"
    "4 untrusted identity, 5 local store, 6 not registered. See parley(1).\n";

struct cmd_help {
    const char *name;
    const char *text;
};

static const struct cmd_help helps[] = {
    {"register", "usage: parley -a ACCOUNT register --server HOST:PORT --root-key B64 --code CODE\n"
                 "Registers this device as the first (primary) device of ACCOUNT with the\n"
                 "one-time code from the operator (parleyctl user add), pinning the\n"
                 "gatekeeper's root key (base64 or hex). --prekeys N uploads N one-time\n"
                 "prekeys instead of 100.\n"},
    {"link", "usage: parley -a ACCOUNT link --server HOST:PORT --root-key B64 --code CODE\n"
             "Adds this device to ACCOUNT with a code made by `parley link-code` on an\n"
             "existing device. The primary device signs the new device list the next\n"
             "time it receives.\n"},
    {"link-code", "usage: parley -a ACCOUNT link-code\n"
                  "Prints a one-time link code for a new device, as text and as a QR code.\n"},
    {"send", "usage: parley -a ACCOUNT send -m TEXT RECIPIENT...\n"
             "Sends TEXT to each RECIPIENT (local@domain), encrypted for every device\n"
             "of the recipient and copied to this account's other devices. Prints the\n"
             "message id per recipient. Exit 4 when a recipient's identity changed.\n"},
    {"receive", "usage: parley -a ACCOUNT receive [--timeout S] [--json]\n"
                "Connects, fetches everything waiting and prints it; returns after S\n"
                "seconds (default 5) without new traffic. --json: one object per line.\n"},
    {"daemon", "usage: parley -a ACCOUNT daemon [--json]\n"
               "Stays connected and prints events until SIGINT or SIGTERM, reconnecting\n"
               "with exponential backoff.\n"},
    {"devices", "usage: parley -a ACCOUNT devices\n"
                "Lists the account's devices; `signed` marks those in the verified list.\n"},
    {"remove-device",
     "usage: parley -a ACCOUNT remove-device N\n"
     "Removes device N from the account (from the primary, or device N itself).\n"},
    {"contacts", "usage: parley -a ACCOUNT contacts\n"
                 "Lists contacts with their trust state (trusted, verified, CHANGED).\n"},
    {"safety-number", "usage: parley -a ACCOUNT safety-number CONTACT\n"
                      "Prints the 60-digit safety number with CONTACT and its QR code.\n"},
    {"verify", "usage: parley -a ACCOUNT verify [--yes] CONTACT\n"
               "Shows the safety number and, once confirmed (typing YES, or --yes),\n"
               "accepts CONTACT's current identity; this unblocks sending after a change.\n"},
};

static int want_help(int argc, char **argv, const char *cmd)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            for (size_t k = 0; k < sizeof helps / sizeof helps[0]; k++)
                if (strcmp(helps[k].name, cmd) == 0)
                    fputs(helps[k].text, stdout);
            return 1;
        }
    return 0;
}

static int exit_for(parley_client *c, int rc)
{
    int code = 0;
    const char *reason = "";
    if (rc == PARLEY_OK)
        return EXIT_OK;
    if (c)
        parley_client_last_error(c, &code, &reason);
    switch (rc) {
    case PARLEY_ERR_CLIENT_REFUSED:
        fprintf(stderr, "parley: refused by the server: %s (%d)\n", reason, code);
        return EXIT_REFUSED;
    case PARLEY_ERR_UNTRUSTED_IDENTITY:
        fprintf(stderr,
                "parley: the contact's identity key changed; compare the safety number and run "
                "`parley verify CONTACT` to accept it\n");
        return EXIT_UNTRUSTED;
    case PARLEY_ERR_CLIENT_NOT_REGISTERED:
        fprintf(stderr, "parley: this account is not registered here (run register or link)\n");
        return EXIT_NOT_REGISTERED;
    case PARLEY_ERR_IO:
    case PARLEY_ERR_TIMEOUT:
    case PARLEY_ERR_CLIENT_CLOSED:
    case PARLEY_ERR_NOISE_HANDSHAKE:
    case PARLEY_ERR_NOISE_DECRYPT:
    case PARLEY_ERR_CERT_INVALID:
    case PARLEY_ERR_CERT_EXPIRED:
    case PARLEY_ERR_CERT_KEY_MISMATCH:
    case PARLEY_ERR_PROLOGUE:
        fprintf(stderr, "parley: network: %s\n", parley_strerror(rc));
        return EXIT_NETWORK;
    case PARLEY_ERR_INVALID_ARG:
        fprintf(stderr, "parley: invalid argument\n");
        return EXIT_USAGE;
    default:
        fprintf(stderr, "parley: %s\n", parley_strerror(rc));
        return EXIT_LOCAL;
    }
}

/* ---- output ---- */

static void print_qr_data(const uint8_t *data, size_t n)
{
    QRcode *qr = QRcode_encodeData((int)n, data, 0, QR_ECLEVEL_L);
    if (!qr) {
        fprintf(stderr, "parley: QR encoding failed\n");
        return;
    }
    int w = qr->width, quiet = 2;
    /* Two rows per line with half blocks: light modules print as ink, so
     * that the code reads on a dark terminal. */
    for (int y = -quiet; y < w + quiet; y += 2) {
        for (int x = -quiet; x < w + quiet; x++) {
            int top = y >= 0 && y < w && x >= 0 && x < w && (qr->data[y * w + x] & 1);
            int bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w && (qr->data[(y + 1) * w + x] & 1);
            fputs(top ? (bot ? " " : "\xe2\x96\x84") : (bot ? "\xe2\x96\x80" : "\xe2\x96\x88"),
                  stdout);
        }
        fputc('\n', stdout);
    }
    QRcode_free(qr);
}

static void print_event(const parley_client_event *ev, void *arg)
{
    static const char *names[] = {"",         "message",   "sent",        "receipt",
                                  "presence", "devices",   "identity",    "prekeys",
                                  "error",    "connected", "disconnected"};
    (void)arg;
    if (opt_json) {
        pbuf b;
        pjson_w w;
        pbuf_init(&b, 1u << 20);
        pjson_w_init(&w, &b);
        pjson_w_begin(&w);
        pjson_w_string(&w, "event", names[ev->type]);
        if (ev->from)
            pjson_w_string(&w, "from", ev->from);
        if (ev->peer)
            pjson_w_string(&w, "peer", ev->peer);
        if (ev->id)
            pjson_w_string(&w, "id", ev->id);
        if (ev->text)
            pjson_w_string(&w,
                           ev->type == PARLEY_CLIENT_EV_MESSAGE || ev->type == PARLEY_CLIENT_EV_SENT
                               ? "text"
                               : "detail",
                           ev->text);
        pjson_w_int(&w, "t", (int64_t)ev->t);
        pjson_w_end(&w);
        if (pjson_w_status(&w) == PARLEY_OK) {
            fwrite(b.data, 1, b.len, stdout);
            fputc('\n', stdout);
        }
        pbuf_free(&b);
    } else {
        switch (ev->type) {
        case PARLEY_CLIENT_EV_MESSAGE:
            printf("Message from %s (id %s, t %llu):\n  %s\n", ev->from, ev->id,
                   (unsigned long long)ev->t, ev->text);
            break;
        case PARLEY_CLIENT_EV_SENT:
            printf("Sent by %s to %s (id %s):\n  %s\n", ev->from, ev->peer, ev->id, ev->text);
            break;
        case PARLEY_CLIENT_EV_RECEIPT:
            printf("Receipt (%s) from %s for %s\n", ev->text, ev->from, ev->id);
            break;
        case PARLEY_CLIENT_EV_IDENTITY:
            printf("IDENTITY CHANGED for %s: sending is blocked until `parley verify %s`\n",
                   ev->peer, ev->peer);
            break;
        case PARLEY_CLIENT_EV_ERROR:
            printf("Error for message %s from %s: %s\n", ev->id ? ev->id : "?",
                   ev->from ? ev->from : "?", ev->text);
            break;
        case PARLEY_CLIENT_EV_CONNECTED:
        case PARLEY_CLIENT_EV_DISCONNECTED:
            if (opt_verbose)
                fprintf(stderr, "parley: %s\n", names[ev->type]);
            break;
        default:
            printf("%s: %s %s\n", names[ev->type], ev->peer ? ev->peer : "",
                   ev->text ? ev->text : "");
        }
    }
    fflush(stdout);
}

/* ---- commands ---- */

/* The root key as parleyctl prints it (64 hex digits) or in base64. */
static int decode_b64(const char *in, uint8_t *out, size_t max, size_t *len)
{
    if (strlen(in) == 64 && strspn(in, "0123456789abcdefABCDEF") == 64 && max >= 32) {
        for (size_t i = 0; i < 32; i++) {
            unsigned v;
            if (sscanf(in + 2 * i, "%2x", &v) != 1)
                return PARLEY_ERR_DECODE;
            out[i] = (uint8_t)v;
        }
        *len = 32;
        return PARLEY_OK;
    }
    parley_stanza *tmp = NULL;
    int rc = parley_stanza_new(&tmp, "k");
    if (rc == PARLEY_OK)
        rc = parley_stanza_set_text(tmp, in, strlen(in));
    if (rc == PARLEY_OK)
        rc = parley_stanza_get_bytes(tmp, out, max, len);
    parley_stanza_free(tmp);
    return rc;
}

static int cmd_register(parley_client *c, int argc, char **argv, int link)
{
    static const struct option lo[] = {{"server", 1, 0, 's'},
                                       {"root-key", 1, 0, 'r'},
                                       {"code", 1, 0, 'c'},
                                       {"prekeys", 1, 0, 'p'},
                                       {0}};
    const char *server = NULL, *root = NULL, *code = NULL, *user = parley_client_user(c);
    uint8_t key[32];
    size_t kl = 0;
    int o, rc;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:r:c:p:", lo, NULL)) != -1) {
        if (o == 's')
            server = optarg;
        else if (o == 'r')
            root = optarg;
        else if (o == 'c')
            code = optarg;
        else if (o == 'p')
            parley_client_set_prekey_batch(c, (unsigned)strtoul(optarg, NULL, 10));
        else
            return EXIT_USAGE;
    }
    if (!server || !root || !code) {
        fputs(helps[link ? 1 : 0].text, stderr);
        return EXIT_USAGE;
    }
    if (decode_b64(root, key, sizeof key, &kl) != PARLEY_OK || kl != 32) {
        fprintf(stderr, "parley: --root-key must be 32 bytes in base64 or hex\n");
        return EXIT_USAGE;
    }
    user = argv[0]; /* the account, passed in by main */
    rc = link ? parley_client_link(c, server, key, user, code)
              : parley_client_register(c, server, key, user, code);
    if (rc == PARLEY_OK)
        printf("%s %s/%u\n", link ? "Linked" : "Registered", parley_client_user(c),
               (unsigned)parley_client_device(c));
    return exit_for(c, rc);
}

static int cmd_link_code(parley_client *c)
{
    char code[256];
    uint64_t expires = 0;
    int rc = parley_client_link_code(c, code, sizeof code, &expires);
    if (rc != PARLEY_OK)
        return exit_for(c, rc);
    printf("%s\n", code);
    if (!opt_json)
        print_qr_data((const uint8_t *)code, strlen(code));
    return EXIT_OK;
}

static int cmd_send(parley_client *c, int argc, char **argv)
{
    static const struct option lo[] = {{"message", 1, 0, 'm'}, {0}};
    const char *text = NULL;
    int o, worst = EXIT_OK;
    optind = 1;
    while ((o = getopt_long(argc, argv, "m:", lo, NULL)) != -1) {
        if (o == 'm')
            text = optarg;
        else
            return EXIT_USAGE;
    }
    if (!text || optind >= argc) {
        fputs(helps[3].text, stderr);
        return EXIT_USAGE;
    }
    for (int i = optind; i < argc; i++) {
        char id[PARLEY_CLIENT_ID_MAX + 1];
        int rc = parley_client_send_text(c, argv[i], text, id);
        if (rc == PARLEY_OK) {
            printf("%s %s\n", argv[i], id);
        } else {
            fprintf(stderr, "parley: sending to %s failed\n", argv[i]);
            int e = exit_for(c, rc);
            if (worst == EXIT_OK)
                worst = e;
        }
    }
    return worst;
}

static int cmd_receive(parley_client *c, int argc, char **argv, int daemon)
{
    static const struct option lo[] = {{"timeout", 1, 0, 't'}, {"json", 0, 0, 'j'}, {0}};
    double timeout = 5.0;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "t:j", lo, NULL)) != -1) {
        if (o == 't' && !daemon) {
            char *end;
            timeout = strtod(optarg, &end);
            if (*end || timeout < 0 || timeout > 86400)
                return EXIT_USAGE;
        } else if (o == 'j') {
            opt_json = 1;
        } else {
            return EXIT_USAGE;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = parley_client_receive(c, daemon ? -1 : (int)(timeout * 1000), print_event, NULL,
                                   &stop_flag);
    return exit_for(c, rc);
}

static int cmd_devices(parley_client *c)
{
    parley_client_device_info d[PARLEY_CLIENT_MAX_DEVICES];
    size_t n = 0;
    int rc = parley_client_devices(c, d, PARLEY_CLIENT_MAX_DEVICES, &n);
    if (rc != PARLEY_OK)
        return exit_for(c, rc);
    for (size_t i = 0; i < n; i++) {
        printf("%u%s%s identity ", (unsigned)d[i].id, d[i].id == 1 ? " primary" : "",
               d[i].self ? " (this device)" : "");
        for (size_t k = 1; k < 9; k++)
            printf("%02x", d[i].identity[k]);
        printf(" %s\n", d[i].signed_list ? "signed" : "unsigned");
    }
    return EXIT_OK;
}

static int cmd_remove(parley_client *c, int argc, char **argv)
{
    char *end;
    unsigned long n;
    if (argc != 2)
        return EXIT_USAGE;
    n = strtoul(argv[1], &end, 10);
    if (*end || n < 1 || n > UINT32_MAX)
        return EXIT_USAGE;
    int rc = parley_client_remove_device(c, (uint32_t)n);
    if (rc == PARLEY_OK)
        printf("Removed device %lu\n", n);
    return exit_for(c, rc);
}

static void print_contact(const parley_client_contact *ct, void *arg)
{
    (void)arg;
    printf("%s ", ct->user);
    for (size_t k = 0; k < 8; k++)
        printf("%02x", ct->trusted[k]);
    printf(" %s\n", ct->pending ? "CHANGED (run verify)" : ct->verified ? "verified" : "trusted");
}

static int show_safety(parley_client *c, const char *contact, int *pending)
{
    char digits[61];
    uint8_t scan[80];
    size_t scan_len = 0;
    int rc = parley_client_safety_number(c, contact, digits, scan, &scan_len, pending);
    if (rc != PARLEY_OK)
        return rc;
    if (*pending)
        printf("The identity of %s CHANGED. New safety number:\n", contact);
    for (int i = 0; i < 60; i += 5)
        printf("%.5s%s", digits + i, i == 25 ? "\n" : i == 55 ? "\n" : " ");
    print_qr_data(scan, scan_len);
    return PARLEY_OK;
}

static int cmd_safety(parley_client *c, int argc, char **argv)
{
    int pending = 0;
    if (argc != 2)
        return EXIT_USAGE;
    return exit_for(c, show_safety(c, argv[1], &pending));
}

static int cmd_verify(parley_client *c, int argc, char **argv)
{
    static const struct option lo[] = {{"yes", 0, 0, 'y'}, {0}};
    int yes = 0, o, pending = 0, rc;
    optind = 1;
    while ((o = getopt_long(argc, argv, "y", lo, NULL)) != -1) {
        if (o == 'y')
            yes = 1;
        else
            return EXIT_USAGE;
    }
    if (optind != argc - 1)
        return EXIT_USAGE;
    rc = show_safety(c, argv[optind], &pending);
    if (rc != PARLEY_OK)
        return exit_for(c, rc);
    if (!yes) {
        char line[32];
        printf("Compare this number with %s's device. Type YES to accept it: ", argv[optind]);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin) || strncmp(line, "YES", 3) != 0) {
            fprintf(stderr, "parley: not accepted\n");
            return EXIT_UNTRUSTED;
        }
    }
    rc = parley_client_verify(c, argv[optind]);
    if (rc == PARLEY_OK)
        printf("%s verified\n", argv[optind]);
    return exit_for(c, rc);
}

static int data_dir(const char *account, const char *config, char *out, size_t max)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char base[3072];
    if (config)
        return snprintf(out, max, "%s", config) < (int)max ? 0 : -1;
    if (xdg && *xdg)
        snprintf(base, sizeof base, "%s", xdg);
    else if (home && *home)
        snprintf(base, sizeof base, "%s/.local/share", home);
    else
        return -1;
    /* create the parents; the account directory itself is made 0700 by the engine */
    char tmp[3200];
    snprintf(tmp, sizeof tmp, "%s", base);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            (void)mkdir(tmp, 0700);
            *p = '/';
        }
    (void)mkdir(tmp, 0700);
    snprintf(tmp, sizeof tmp, "%s/parley", base);
    (void)mkdir(tmp, 0700);
    return snprintf(out, max, "%s/parley/%s", base, account) < (int)max ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *account = NULL, *config = NULL;
    char dir[4096];
    parley_client *c = NULL;
    int i, rc, ex;
    for (i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-a") == 0 || strcmp(argv[i], "--account") == 0) && i + 1 < argc)
            account = argv[++i];
        else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
            opt_verbose = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_main, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            puts(PARLEY_CLIENT_VERSION);
            return EXIT_OK;
        } else
            break;
    }
    if (i >= argc) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[i];
    int cargc = argc - i;
    char **cargv = argv + i;
    if (want_help(cargc, cargv, cmd))
        return EXIT_OK;
    static const char *known[] = {"register", "link",          "link-code", "send",
                                  "receive",  "daemon",        "devices",   "remove-device",
                                  "contacts", "safety-number", "verify"};
    int ok = 0;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        ok |= strcmp(known[k], cmd) == 0;
    if (!ok) {
        fprintf(stderr, "parley: unknown command %s\n", cmd);
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    if (!account || !strchr(account, '@') || strchr(account, '/') || account[0] == '.') {
        fprintf(stderr, "parley: -a ACCOUNT (local@domain) is required\n");
        return EXIT_USAGE;
    }
    if (data_dir(account, config, dir, sizeof dir) != 0) {
        fprintf(stderr, "parley: no data directory (set --config, XDG_DATA_HOME or HOME)\n");
        return EXIT_USAGE;
    }
    rc = parley_client_open(&c, dir);
    if (rc != PARLEY_OK) {
        fprintf(stderr, "parley: cannot open the store in %s: %s\n", dir, parley_strerror(rc));
        return EXIT_LOCAL;
    }
    if (opt_verbose)
        parley_client_set_log(c, log_line, NULL);
    if (strcmp(cmd, "register") != 0 && strcmp(cmd, "link") != 0 && parley_client_device(c) == 0) {
        ex = exit_for(c, PARLEY_ERR_CLIENT_NOT_REGISTERED);
    } else if (strcmp(cmd, "register") == 0 || strcmp(cmd, "link") == 0) {
        cargv[0] = (char *)account;
        ex = cmd_register(c, cargc, cargv, strcmp(cmd, "link") == 0);
    } else if (parley_client_user(c) && strcmp(parley_client_user(c), account) != 0) {
        fprintf(stderr, "parley: %s holds account %s\n", dir, parley_client_user(c));
        ex = EXIT_USAGE;
    } else if (strcmp(cmd, "link-code") == 0) {
        ex = cmd_link_code(c);
    } else if (strcmp(cmd, "send") == 0) {
        ex = cmd_send(c, cargc, cargv);
    } else if (strcmp(cmd, "receive") == 0) {
        ex = cmd_receive(c, cargc, cargv, 0);
    } else if (strcmp(cmd, "daemon") == 0) {
        ex = cmd_receive(c, cargc, cargv, 1);
    } else if (strcmp(cmd, "devices") == 0) {
        ex = cmd_devices(c);
    } else if (strcmp(cmd, "remove-device") == 0) {
        ex = cmd_remove(c, cargc, cargv);
    } else if (strcmp(cmd, "contacts") == 0) {
        rc = parley_client_contacts(c, print_contact, NULL);
        ex = exit_for(c, rc);
    } else if (strcmp(cmd, "safety-number") == 0) {
        ex = cmd_safety(c, cargc, cargv);
    } else {
        ex = cmd_verify(c, cargc, cargv);
    }
    parley_client_free(c);
    return ex;
}
