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
#include <unistd.h>

#include "mediahost/mediahost.h"
#include "cli/parley/provider.h"
#include "parley/client.h"
#include "parley/client_interop.h"
#include "parley/content.h"
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
    EXIT_MEDIA = 7, /* an attachment could not be sent, fetched or verified */
};

static volatile sig_atomic_t stop_flag;
static int opt_verbose;
static int opt_json;
static char data_path[4096];  /* the account's data directory */
static size_t media_failures; /* attachments refused while receiving */
static void progress_end_line(void);

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
    "  register --server HOST:PORT --root-key B64 --provider URL --password-file F\n"
    "  link --server HOST:PORT --root-key B64 --code CODE\n"
    "  link-code                      make a code for a new device (text and QR)\n"
    "  send [-m TEXT] [-a FILE]... RECIPIENT...\n"
    "  receive [--timeout S] [--json] [--media-dir DIR] [--no-download]\n"
    "  daemon [--json] [--media-dir DIR] [--no-download]\n"
    "  download [--media-dir DIR] MESSAGE-ID\n"
    "  media-config [--host URL --token T] [--proxy URL] [--clear]\n"
    "  devices\n"
    "  remove-device N\n"
    "  contacts\n"
    "  safety-number CONTACT\n"
    "  verify [--yes] CONTACT\n"
    "  providers                      third-party providers and your consent\n"
    "  consent PROVIDER on|off\n"
    "  inbox separate|combined\n"
    "  requests                       pending message requests\n"
    "  accept|decline USER\n"
    "  block|unblock USER\n"
    "  report [--reason R] [--attach MESSAGE-ID]... USER\n"
    "  renew --password-file F        a fresh attestation from the provider\n"
    "  wait --password-file F [--timeout S]  wait for a wake-up from the provider\n"
    "\n"
    "exit status: 0 ok, 1 usage, 2 network, 3 refused by the server,\n"
    "4 untrusted identity, 5 local store, 6 not registered, 7 attachment\n"
    "refused or failed verification. See parley(1).\n";

struct cmd_help {
    const char *name;
    const char *text;
};

static const struct cmd_help helps[] = {
    {"register", "usage: parley -a ACCOUNT register --server HOST:PORT --root-key B64 --code CODE\n"
                 "Registers this device as the first (primary) device of ACCOUNT with the\n"
                 "one-time code from the operator (parleyctl user add), pinning the\n"
                 "gatekeeper's root key (base64 or hex). --prekeys N uploads N one-time\n"
                 "prekeys instead of 100.\n"
                 "A third-party account (user@provider-domain) registers with its provider\n"
                 "instead of a code: --provider URL (the provider's HTTP API) and\n"
                 "--password-file F (the account's password, first line); the provider\n"
                 "attests the new device's keys and the device enlists with the gatekeeper.\n"},
    {"providers", "usage: parley -a ACCOUNT providers\n"
                  "Lists the third-party providers the gatekeeper offers, the protocol each\n"
                  "speaks and whether you enabled it, and your inbox mode.\n"},
    {"consent", "usage: parley -a ACCOUNT consent PROVIDER on|off\n"
                "Enables or disables messages from (and to) users of PROVIDER. Off until\n"
                "you enable it; the server refuses their messages meanwhile.\n"},
    {"inbox", "usage: parley -a ACCOUNT inbox separate|combined\n"
              "Keeps third-party chats in a separate inbox or with the others.\n"},
    {"requests", "usage: parley -a ACCOUNT requests\n"
                 "Lists third-party users whose first messages wait for your answer.\n"},
    {"accept", "usage: parley -a ACCOUNT accept USER\n"
               "Accepts USER's message request: later messages arrive as usual.\n"},
    {"decline", "usage: parley -a ACCOUNT decline USER\n"
                "Declines USER's message request, which also blocks USER.\n"},
    {"block", "usage: parley -a ACCOUNT block USER\n"
              "The server refuses USER's messages to you (and yours to USER).\n"},
    {"unblock", "usage: parley -a ACCOUNT unblock USER\n"},
    {"wait", "usage: parley -a ACCOUNT wait --password-file F [--timeout S]\n"
             "A third-party account: waits up to S seconds (default 25, at most 30) for\n"
             "the provider to relay the gatekeeper's wake-up for this device, and prints\n"
             "how many messages wait (then run `receive`).\n"},
    {"renew", "usage: parley -a ACCOUNT renew --password-file F\n"
              "A third-party account: logs in to its provider again and replaces the\n"
              "device's attestation (they last a few days; the gatekeeper refuses a\n"
              "login with an expired one).\n"},
    {"report", "usage: parley -a ACCOUNT report [--reason R] [--attach MESSAGE-ID]... USER\n"
               "Reports USER to the gatekeeper's operator. Each --attach adds the text of\n"
               "a message you received from USER (up to 20); nothing else is disclosed.\n"},
    {"link", "usage: parley -a ACCOUNT link --server HOST:PORT --root-key B64 --code CODE\n"
             "Adds this device to ACCOUNT with a code made by `parley link-code` on an\n"
             "existing device. The primary device signs the new device list the next\n"
             "time it receives.\n"},
    {"link-code", "usage: parley -a ACCOUNT link-code\n"
                  "Prints a one-time link code for a new device, as text and as a QR code.\n"},
    {"send", "usage: parley -a ACCOUNT send [-m TEXT] [-a FILE]... RECIPIENT...\n"
             "Sends TEXT to each RECIPIENT (local@domain), encrypted for every device\n"
             "of the recipient and copied to this account's other devices. Prints the\n"
             "message id per recipient. Exit 4 when a recipient's identity changed.\n"
             "-a/--attach FILE (repeatable) attaches files: each is encrypted while it\n"
             "is read, uploaded once to your media host and sent to every recipient;\n"
             "TEXT is then the caption. Exit 7 when a file cannot be read or uploaded.\n"},
    {"receive", "usage: parley -a ACCOUNT receive [--timeout S] [--json] [--media-dir DIR]\n"
                "                      [--no-download]\n"
                "Connects, fetches everything waiting and prints it; returns after S\n"
                "seconds (default 5) without new traffic. --json: one object per line.\n"
                "Attachments are downloaded, verified and saved in DIR (default: media/\n"
                "in the account's directory); --no-download leaves them for `download`.\n"
                "Exit 7 when an attachment was refused.\n"},
    {"daemon", "usage: parley -a ACCOUNT daemon [--json] [--media-dir DIR] [--no-download]\n"
               "Stays connected and prints events until SIGINT or SIGTERM, reconnecting\n"
               "with exponential backoff. Attachments as for receive.\n"},
    {"download", "usage: parley -a ACCOUNT download [--media-dir DIR] [--json] MESSAGE-ID\n"
                 "Downloads the attachments of a received message that are not saved yet,\n"
                 "verifies them and prints where each file went. Exit 7 when one was\n"
                 "refused (a tampered, truncated or extended blob is never saved).\n"},
    {"media-config", "usage: parley -a ACCOUNT media-config [--host URL --token T] [--proxy URL]\n"
                     "                           [--clear]\n"
                     "Shows the media host and proxy in use. The server announces them at\n"
                     "login; --host/--token (a third-party account: its provider's media\n"
                     "host and upload token) and --proxy override that; --clear drops the\n"
                     "overrides.\n"},
    {"devices", "usage: parley -a ACCOUNT devices\n"
                "Lists the account's devices; `signed` marks those in the verified list.\n"},
    {"remove-device",
     "usage: parley -a ACCOUNT remove-device N\n"
     "Removes device N from the account (from the primary, or device N itself).\n"
     "Removing the primary (1) removes every device; the account then needs a new\n"
     "registration code from the operator.\n"},
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

/* Unix seconds as "YYYY-MM-DD HH:MM:SS UTC". */
static const char *utc_time(char *buf, size_t max, uint64_t secs)
{
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, max, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, max, "%llu", (unsigned long long)secs);
    return buf;
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
    case PARLEY_ERR_CLIENT_REFUSED: {
        /* Message refusals already name the code ("message refused (403: …)"). */
        char cs[16];
        snprintf(cs, sizeof cs, "%d", code);
        if (reason[0] != '\0' && strstr(reason, cs) != NULL)
            fprintf(stderr, "parley: refused by the server: %s\n", reason);
        else
            fprintf(stderr, "parley: refused by the server: %s (%d)\n", reason, code);
        return EXIT_REFUSED;
    }
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

/* The client whose events are printed, for naming third-party chats. */
static parley_client *tag_client;

/* A chat with a third-party side: the provider and the end-to-end protocol
 * it uses (for a gatekeeper user, from the provider list last fetched by
 * `providers`, `consent` or `requests`). 0 for a chat within the gatekeeper. */
static int interop_tag(const char *peer, char *prov, size_t prov_max, char *proto,
                       size_t proto_max)
{
    if (tag_client == NULL || peer == NULL)
        return 0;
    if (parley_client_is_third_party(tag_client)) {
        const char *at = strrchr(parley_client_user(tag_client), '@');
        snprintf(prov, prov_max, "%s", at ? at + 1 : "?");
        snprintf(proto, proto_max, "signal"); /* what parley itself speaks */
        return 1;
    }
    return parley_client_provider_of(tag_client, peer, prov, prov_max, proto, proto_max) ==
               PARLEY_OK &&
           prov[0] != '\0';
}

static void print_event(const parley_client_event *ev, void *arg)
{
    char tag_prov[80], tag_proto[40];
    int tagged = (ev->type == PARLEY_CLIENT_EV_MESSAGE || ev->type == PARLEY_CLIENT_EV_SENT) &&
                 interop_tag(ev->peer, tag_prov, sizeof tag_prov, tag_proto, sizeof tag_proto);
    static const char *names[] = {"",         "message",   "sent",         "receipt",
                                  "presence", "devices",   "identity",     "prekeys",
                                  "error",    "connected", "disconnected", "attachment",
                                  "provider"};
    (void)arg;
    progress_end_line();
    if (ev->type == PARLEY_CLIENT_EV_ATTACHMENT && ev->attachment &&
        strcmp(ev->attachment->state, "failed") == 0) {
        media_failures++;
        /* on stderr as well, whatever the output format */
        fprintf(stderr, "parley: attachment %zu of message %s REFUSED: %s\n",
                ev->attachment->index + 1, ev->id ? ev->id : "?", ev->attachment->error);
    }
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
        if (tagged) {
            pjson_w_string(&w, "provider", tag_prov);
            pjson_w_string(&w, "protocol", tag_proto);
        }
        if (ev->id)
            pjson_w_string(&w, "id", ev->id);
        if (ev->text && ev->type != PARLEY_CLIENT_EV_ATTACHMENT)
            pjson_w_string(&w,
                           ev->type == PARLEY_CLIENT_EV_MESSAGE || ev->type == PARLEY_CLIENT_EV_SENT
                               ? "text"
                           : ev->type == PARLEY_CLIENT_EV_PROVIDER ? "name"
                                                                   : "detail",
                           ev->text);
        if (ev->protocol)
            pjson_w_string(&w, "protocol", ev->protocol);
        if (ev->attachments)
            pjson_w_int(&w, "attachments", (int64_t)ev->attachments);
        if (ev->attachment) {
            const parley_client_attachment_info *a = ev->attachment;
            pjson_w_int(&w, "index", (int64_t)a->index);
            pjson_w_string(&w, "state", a->state);
            if (a->path)
                pjson_w_string(&w, "path", a->path);
            if (a->error)
                pjson_w_string(&w, "error", a->error);
            if (a->file_name)
                pjson_w_string(&w, "file_name", a->file_name);
            if (a->mime_type)
                pjson_w_string(&w, "mime_type", a->mime_type);
            pjson_w_int(&w, "size", (int64_t)a->size);
        }
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
            if (tagged)
                printf("  [third-party chat: %s, protocol %s]\n", tag_prov, tag_proto);
            if (ev->attachments)
                printf("  (%zu attachment%s)\n", ev->attachments, ev->attachments == 1 ? "" : "s");
            break;
        case PARLEY_CLIENT_EV_ATTACHMENT: {
            const parley_client_attachment_info *a = ev->attachment;
            if (!a)
                break;
            if (strcmp(a->state, "saved") == 0)
                printf("Attachment %zu/%zu of %s (%s, %llu bytes) saved to %s\n", a->index + 1,
                       a->count, ev->id, a->mime_type ? a->mime_type : "?",
                       (unsigned long long)a->size, a->path);
            else if (strcmp(a->state, "available") == 0)
                printf("Attachment %zu/%zu of %s: %s (%s, %llu bytes); fetch it with `parley "
                       "download %s`\n",
                       a->index + 1, a->count, ev->id, a->file_name ? a->file_name : "(no name)",
                       a->mime_type ? a->mime_type : "?", (unsigned long long)a->size, ev->id);
            else
                printf("Attachment %zu/%zu of %s REFUSED: %s\n", a->index + 1, a->count, ev->id,
                       a->error);
            break;
        }
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
        case PARLEY_CLIENT_EV_PROVIDER:
            printf("New provider available: %s (%s, protocol %s); enable chats with `parley "
                   "consent %s on`\n",
                   ev->text ? ev->text : ev->id, ev->id, ev->protocol ? ev->protocol : "?",
                   ev->id);
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

/* ---- media: progress on a terminal, HTTP through parley_mediahost ---- */

static int progress_tty;  /* stderr is a terminal */
static int progress_open; /* a progress line is on the screen */

static void human(char *out, size_t max, uint64_t n)
{
    if (n >= (1u << 20))
        snprintf(out, max, "%.1f MiB", (double)n / (1u << 20));
    else if (n >= 1024)
        snprintf(out, max, "%.1f KiB", (double)n / 1024);
    else
        snprintf(out, max, "%llu B", (unsigned long long)n);
}

static void progress_end_line(void)
{
    if (progress_open) {
        fputc('\n', stderr);
        progress_open = 0;
    }
}

/* One line per transfer, redrawn at most every 100 ms and at the end. */
static void on_progress(void *arg, const char *name, int upload, uint64_t done, uint64_t total)
{
    static uint64_t last_ms;
    struct timespec ts;
    char a[32], b[32], bar[31];
    (void)arg;
    if (!progress_tty || total == 0)
        return;
    if (done > total)
        done = total;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    if (done < total && progress_open && now - last_ms < 100)
        return;
    if (done == total && !progress_open && last_ms != 0 && now - last_ms < 100)
        return; /* the same end reported twice */
    last_ms = now;
    unsigned pct = (unsigned)(done * 100 / total);
    size_t fill = (size_t)(done * 30 / total);
    memset(bar, '#', fill);
    memset(bar + fill, '-', 30 - fill);
    bar[30] = 0;
    human(a, sizeof a, done);
    human(b, sizeof b, total);
    fprintf(stderr, "\r%s %-24.24s [%s] %3u%% %s / %s\033[K", upload ? "upload  " : "download",
            name, bar, pct, a, b);
    progress_open = 1;
    if (done == total)
        progress_end_line();
    fflush(stderr);
}

static int tr_upload(void *ctx, const char *base_url, const char *token, int fd, uint64_t size,
                     const uint8_t sha256[32], char *url_out, size_t url_max, char *err,
                     size_t err_max, void (*progress)(void *parg, uint64_t done, uint64_t total),
                     void *parg)
{
    (void)ctx;
    /* the whole blob in one PATCH, resumed from the host's offset up to 5 times */
    return pmh_client_upload_progress(base_url, token, fd, size, sha256, 0, 5, NULL, NULL, 0,
                                      url_out, url_max, progress, parg, err, err_max);
}

static int tr_download(void *ctx, const char *url, const char *token,
                       int (*sink)(void *sarg, const uint8_t *p, size_t n), void *sarg, char *err,
                       size_t err_max)
{
    long status = 0;
    char reason[64] = "";
    (void)ctx;
    int rc = pmh_client_get_sink(url, token, NULL, sink, sarg, &status, reason, sizeof reason);
    if (rc == PARLEY_ERR_CLIENT_REFUSED)
        snprintf(err, err_max, "%s (%ld)", reason[0] ? reason : "refused", status);
    else if (rc != PARLEY_OK)
        snprintf(err, err_max, "transfer failed");
    return rc;
}

static void media_setup(parley_client *c)
{
    static const parley_client_media_transport tr = {tr_upload, tr_download, NULL};
    parley_client_set_media_transport(c, &tr);
    progress_tty = isatty(STDERR_FILENO);
    parley_client_set_progress(c, on_progress, NULL);
}

static int media_dir_set(parley_client *c, const char *dir, int auto_download)
{
    char def[4200];
    if (!dir) {
        snprintf(def, sizeof def, "%s/media", data_path);
        dir = def;
    }
    if (parley_client_set_media_dir(c, dir, auto_download) != PARLEY_OK) {
        fprintf(stderr, "parley: --media-dir: path too long\n");
        return EXIT_USAGE;
    }
    return EXIT_OK;
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

static int cmd_enlist(parley_client *c, const char *server, const uint8_t root[32],
                      const char *user, const char *provider, const char *pwfile);

static int cmd_register(parley_client *c, int argc, char **argv, int link)
{
    static const struct option lo[] = {{"server", 1, 0, 's'},
                                       {"root-key", 1, 0, 'r'},
                                       {"code", 1, 0, 'c'},
                                       {"prekeys", 1, 0, 'p'},
                                       {"provider", 1, 0, 'P'},
                                       {"password-file", 1, 0, 'W'},
                                       {0}};
    const char *server = NULL, *root = NULL, *code = NULL, *user = parley_client_user(c);
    const char *provider = NULL, *pwfile = NULL;
    uint8_t key[32];
    size_t kl = 0;
    int o, rc;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:r:c:p:P:W:", lo, NULL)) != -1) {
        if (o == 'P' && !link)
            provider = optarg;
        else if (o == 'W' && !link)
            pwfile = optarg;
        else if (o == 's')
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
    if (!server || !root || (!code && !provider) || (provider && (code || !pwfile))) {
        fputs(helps[link ? 1 : 0].text, stderr);
        return EXIT_USAGE;
    }
    if (decode_b64(root, key, sizeof key, &kl) != PARLEY_OK || kl != 32) {
        fprintf(stderr, "parley: --root-key must be 32 bytes in base64 or hex\n");
        return EXIT_USAGE;
    }
    user = argv[0]; /* the account, passed in by main */
    if (provider)
        return cmd_enlist(c, server, key, user, provider, pwfile);
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
    static const struct option lo[] = {{"message", 1, 0, 'm'}, {"attach", 1, 0, 'a'}, {0}};
    const char *text = NULL;
    const char *paths[PARLEY_CONTENT_MAX_ATTACHMENTS];
    parley_client_file *files[PARLEY_CONTENT_MAX_ATTACHMENTS];
    size_t nfiles = 0, up = 0;
    int o, worst = EXIT_OK;
    optind = 1;
    while ((o = getopt_long(argc, argv, "m:a:", lo, NULL)) != -1) {
        if (o == 'm') {
            text = optarg;
        } else if (o == 'a') {
            if (nfiles == PARLEY_CONTENT_MAX_ATTACHMENTS) {
                fprintf(stderr, "parley: at most %d attachments per message\n",
                        PARLEY_CONTENT_MAX_ATTACHMENTS);
                return EXIT_USAGE;
            }
            paths[nfiles++] = optarg;
        } else {
            return EXIT_USAGE;
        }
    }
    if ((!text && nfiles == 0) || optind >= argc) {
        fputs(helps[3].text, stderr);
        return EXIT_USAGE;
    }
    /* Each file is uploaded once, whatever the number of recipients. */
    media_setup(c);
    for (up = 0; up < nfiles; up++) {
        int rc = parley_client_file_upload(c, paths[up], &files[up]);
        if (rc != PARLEY_OK) {
            int code = 0;
            const char *reason = "";
            progress_end_line();
            parley_client_last_error(c, &code, &reason);
            fprintf(stderr, "parley: cannot attach %s%s%s\n", paths[up],
                    code == 0 && reason[0] ? ": " : "", code == 0 ? reason : "");
            /* the file or the media host (a reason, no server code): 7;
             * the chat server or the network: their own status */
            worst = code == 0 && reason[0] ? EXIT_MEDIA : exit_for(c, rc);
            goto out;
        }
    }
    for (int i = optind; i < argc; i++) {
        char id[PARLEY_CLIENT_ID_MAX + 1];
        int rc = nfiles ? parley_client_send_message(c, argv[i], text, files, nfiles, id)
                        : parley_client_send_text(c, argv[i], text, id);
        if (rc == PARLEY_OK) {
            printf("%s %s\n", argv[i], id);
        } else {
            fprintf(stderr, "parley: sending to %s failed\n", argv[i]);
            int e = exit_for(c, rc);
            if (worst == EXIT_OK)
                worst = e;
        }
    }
out:
    for (size_t k = 0; k < up; k++)
        parley_client_file_free(files[k]);
    return worst;
}

static int cmd_receive(parley_client *c, int argc, char **argv, int daemon)
{
    static const struct option lo[] = {{"timeout", 1, 0, 't'},
                                       {"json", 0, 0, 'j'},
                                       {"media-dir", 1, 0, 'd'},
                                       {"no-download", 0, 0, 'n'},
                                       {0}};
    double timeout = 5.0;
    const char *media_dir = NULL;
    int o, auto_download = 1, ex;
    optind = 1;
    while ((o = getopt_long(argc, argv, "t:j", lo, NULL)) != -1) {
        if (o == 't' && !daemon) {
            char *end;
            timeout = strtod(optarg, &end);
            if (*end || timeout < 0 || timeout > 86400)
                return EXIT_USAGE;
        } else if (o == 'j') {
            opt_json = 1;
        } else if (o == 'd') {
            media_dir = optarg;
        } else if (o == 'n') {
            auto_download = 0;
        } else {
            return EXIT_USAGE;
        }
    }
    media_setup(c);
    if ((ex = media_dir_set(c, media_dir, auto_download)) != EXIT_OK)
        return ex;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = parley_client_receive(c, daemon ? -1 : (int)(timeout * 1000), print_event, NULL,
                                   &stop_flag);
    ex = exit_for(c, rc);
    return ex == EXIT_OK && media_failures ? EXIT_MEDIA : ex;
}

static int cmd_download(parley_client *c, int argc, char **argv)
{
    static const struct option lo[] = {{"media-dir", 1, 0, 'd'}, {"json", 0, 0, 'j'}, {0}};
    const char *media_dir = NULL;
    size_t saved = 0, failed = 0;
    int o, ex, rc;
    optind = 1;
    while ((o = getopt_long(argc, argv, "j", lo, NULL)) != -1) {
        if (o == 'd')
            media_dir = optarg;
        else if (o == 'j')
            opt_json = 1;
        else
            return EXIT_USAGE;
    }
    if (optind != argc - 1) {
        fputs(helps[6].text, stderr);
        return EXIT_USAGE;
    }
    media_setup(c);
    if ((ex = media_dir_set(c, media_dir, 1)) != EXIT_OK)
        return ex;
    rc = parley_client_download(c, argv[optind], print_event, NULL, &saved, &failed);
    if (rc == PARLEY_ERR_NOT_FOUND) {
        fprintf(stderr, "parley: no attachment with message id %s\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (rc == PARLEY_OK && saved == 0 && failed == 0 && !opt_json)
        printf("Every attachment of %s is already saved\n", argv[optind]);
    if (failed || rc == PARLEY_ERR_INVALID_MAC)
        return EXIT_MEDIA;
    return exit_for(c, rc);
}

static int cmd_media_config(parley_client *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"host", 1, 0, 'H'}, {"token", 1, 0, 'T'}, {"proxy", 1, 0, 'P'}, {"clear", 0, 0, 'C'}, {0}};
    const char *host = NULL, *token = NULL, *proxy = NULL;
    char h[1024], p[1024];
    int o, clear = 0, have_token = 0, rc;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (o == 'H')
            host = optarg;
        else if (o == 'T')
            token = optarg;
        else if (o == 'P')
            proxy = optarg;
        else if (o == 'C')
            clear = 1;
        else
            return EXIT_USAGE;
    }
    if (optind != argc || (!host != !token) || (clear && (host || proxy))) {
        fputs(helps[7].text, stderr);
        return EXIT_USAGE;
    }
    if (clear || host || proxy) {
        rc = parley_client_set_media_config(c, host, token, proxy);
        if (rc == PARLEY_ERR_INVALID_ARG) {
            fprintf(stderr, "parley: URLs must be http:// or https:// without spaces\n");
            return EXIT_USAGE;
        }
        if (rc != PARLEY_OK)
            return exit_for(c, rc);
    }
    rc = parley_client_media_config(c, h, sizeof h, p, sizeof p, &have_token);
    if (rc != PARLEY_OK)
        return exit_for(c, rc);
    printf("media host: %s%s\nmedia proxy: %s\n", h[0] ? h : "(none)",
           h[0] && !have_token ? " (no upload token)" : "", p[0] ? p : "(none)");
    return EXIT_OK;
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

/*
 * `contacts` lists chats as the user's inbox mode says: in a separate inbox
 * the gatekeeper's own contacts come first and the third-party ones follow
 * under their own heading; combined, one list. Third-party contacts name
 * their provider and protocol either way.
 */
typedef struct {
    int third_party; /* print only contacts of this kind; -1: all */
    size_t shown;
} contact_pass;

static void print_contact(const parley_client_contact *ct, void *arg)
{
    contact_pass *cp = arg;
    char prov[80], proto[40];
    /* A third-party account's chats are all with the gatekeeper: no tags. */
    int tp = tag_client != NULL && !parley_client_is_third_party(tag_client) &&
             interop_tag(ct->user, prov, sizeof prov, proto, sizeof proto);
    if (cp->third_party >= 0 && cp->third_party != tp)
        return;
    if (cp->third_party == 1 && cp->shown == 0)
        printf("Third-party chats (separate inbox):\n");
    cp->shown++;
    printf("%s ", ct->user);
    for (size_t k = 0; k < 8; k++)
        printf("%02x", ct->trusted[k]);
    printf(" %s", ct->pending ? "CHANGED (run verify)" : ct->verified ? "verified" : "trusted");
    if (tp)
        printf(" [%s, protocol %s]", prov, proto);
    printf("\n");
}

static int cmd_contacts(parley_client *c)
{
    char mode[16];
    int rc = parley_client_inbox_mode(c, mode, sizeof mode);
    if (rc != PARLEY_OK)
        return exit_for(c, rc);
    if (strcmp(mode, "combined") == 0) {
        contact_pass all = {-1, 0};
        rc = parley_client_contacts(c, print_contact, &all);
    } else {
        contact_pass own = {0, 0}, tp = {1, 0};
        rc = parley_client_contacts(c, print_contact, &own);
        if (rc == PARLEY_OK)
            rc = parley_client_contacts(c, print_contact, &tp);
    }
    return exit_for(c, rc);
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

/* ---- third-party accounts and consent (docs/parts/thirdparty.md) ---- */

/* The first line of a file, without its newline (a password). */
static int read_secret(const char *path, char *out, size_t max)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int ok = fgets(out, (int)max, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] != '\0' ? 0 : -1;
}

static int cmd_enlist(parley_client *c, const char *server, const uint8_t root[32],
                      const char *user, const char *provider, const char *pwfile)
{
    char password[512], err[512];
    uint8_t noise[32], identity[33], att[600];
    size_t alen = 0;
    uint64_t expires = 0;
    int rc;
    if (read_secret(pwfile, password, sizeof password) != 0) {
        fprintf(stderr, "parley: cannot read a password from %s\n", pwfile);
        return EXIT_USAGE;
    }
    rc = parley_client_prepare(c, server, root, user);
    if (rc == PARLEY_OK)
        rc = parley_client_device_keys(c, noise, identity);
    if (rc != PARLEY_OK) {
        memset(password, 0, sizeof password);
        return exit_for(c, rc);
    }
    rc = pv_attest(provider, user, password, noise, identity, att, sizeof att, &alen, &expires,
                   err, sizeof err);
    memset(password, 0, sizeof password);
    if (rc != 0) {
        fprintf(stderr, "parley: provider: %s\n", err);
        return EXIT_REFUSED;
    }
    if (parley_client_set_value(c, "provider_url", provider) != PARLEY_OK)
        return EXIT_LOCAL;
    rc = parley_client_enlist(c, att, alen);
    if (rc == PARLEY_OK) {
        char when[40];
        printf("Enlisted %s/%u through %s (attestation valid until %s)\n", parley_client_user(c),
               (unsigned)parley_client_device(c), provider, utc_time(when, sizeof when, expires));
    }
    return exit_for(c, rc);
}

static void print_provider(const parley_client_provider *p, void *arg)
{
    (void)arg;
    printf("%-16s %-8s %-9s %-24s %s\n", p->id, p->enabled ? "on" : "off", p->protocol,
           p->domain ? p->domain : "-", p->name);
}

static void print_request(const char *from, uint64_t t, void *arg)
{
    parley_client *c = arg;
    char id[80], proto[40], when[40];
    if (parley_client_provider_of(c, from, id, sizeof id, proto, sizeof proto) != PARLEY_OK)
        id[0] = proto[0] = '\0';
    /* t is in milliseconds, as every time on the wire. */
    printf("%s  since %s%s%s%s%s%s\n", from, utc_time(when, sizeof when, t / 1000),
           id[0] ? "  (via " : "", id, id[0] ? ", " : "", proto, id[0] ? ")" : "");
}

static int is_consent_cmd(const char *cmd)
{
    static const char *names[] = {"providers", "consent", "inbox",  "requests", "accept",
                                  "decline",   "block",   "unblock", "report",  "renew",
                                  "wait"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(cmd, names[i]) == 0)
            return 1;
    return 0;
}

static int cmd_consent(parley_client *c, const char *cmd, int argc, char **argv)
{
    int rc;
    if (strcmp(cmd, "providers") == 0 && argc == 1) {
        char inbox[16];
        printf("%-16s %-8s %-9s %-24s %s\n", "PROVIDER", "CONSENT", "PROTOCOL", "DOMAIN", "NAME");
        rc = parley_client_providers(c, print_provider, NULL, inbox, sizeof inbox);
        if (rc == PARLEY_OK)
            printf("inbox: %s\n", inbox);
        return exit_for(c, rc);
    }
    if (strcmp(cmd, "consent") == 0 && argc == 3 &&
        (strcmp(argv[2], "on") == 0 || strcmp(argv[2], "off") == 0)) {
        rc = parley_client_consent(c, argv[1], strcmp(argv[2], "on") == 0);
        if (rc == PARLEY_OK)
            printf("%s %s\n", argv[1], strcmp(argv[2], "on") == 0 ? "enabled" : "disabled");
        /* Refresh the provider list that names third-party chats. */
        if (rc == PARLEY_OK && parley_client_providers(c, NULL, NULL, NULL, 0) != PARLEY_OK)
            fprintf(stderr, "parley: the provider list is not available\n");
        return exit_for(c, rc);
    }
    if (strcmp(cmd, "inbox") == 0 && argc == 2) {
        rc = parley_client_inbox(c, argv[1]);
        return exit_for(c, rc);
    }
    if (strcmp(cmd, "requests") == 0 && argc == 1) {
        if (parley_client_providers(c, NULL, NULL, NULL, 0) != PARLEY_OK) /* names protocols */
            fprintf(stderr, "parley: the provider list is not available\n");
        rc = parley_client_requests(c, print_request, c);
        return exit_for(c, rc);
    }
    if ((strcmp(cmd, "accept") == 0 || strcmp(cmd, "decline") == 0) && argc == 2) {
        rc = parley_client_answer_request(c, argv[1], cmd[0] == 'a');
        if (rc == PARLEY_OK)
            printf("%s %s\n", cmd[0] == 'a' ? "Accepted" : "Declined and blocked", argv[1]);
        return exit_for(c, rc);
    }
    if ((strcmp(cmd, "block") == 0 || strcmp(cmd, "unblock") == 0) && argc == 2) {
        rc = parley_client_block(c, argv[1], cmd[0] == 'b');
        if (rc == PARLEY_OK)
            printf("%s %s\n", cmd[0] == 'b' ? "Blocked" : "Unblocked", argv[1]);
        return exit_for(c, rc);
    }
    if (strcmp(cmd, "wait") == 0 && (argc == 3 || argc == 5) &&
        strcmp(argv[1], "--password-file") == 0) {
        char url[1100], password[512], err[512];
        uint64_t pending = 0;
        long timeout = 25;
        if (argc == 5) {
            char *end = NULL;
            timeout = strcmp(argv[3], "--timeout") == 0 ? strtol(argv[4], &end, 10) : -1;
            if (end == NULL || *end != '\0' || timeout < 1 || timeout > 30) {
                fputs("parley: --timeout takes 1 to 30 seconds\n", stderr);
                return EXIT_USAGE;
            }
        }
        if (!parley_client_is_third_party(c) ||
            parley_client_get_value(c, "provider_url", url, sizeof url) != PARLEY_OK) {
            fprintf(stderr, "parley: %s is not a third-party account\n", parley_client_user(c));
            return EXIT_USAGE;
        }
        if (read_secret(argv[2], password, sizeof password) != 0) {
            fprintf(stderr, "parley: cannot read a password from %s\n", argv[2]);
            return EXIT_USAGE;
        }
        rc = pv_wait(url, parley_client_user(c), password, parley_client_device(c), (int)timeout,
                     &pending, err, sizeof err);
        memset(password, 0, sizeof password);
        if (rc != 0) {
            fprintf(stderr, "parley: provider: %s\n", err);
            return EXIT_NETWORK;
        }
        if (pending > 0)
            printf("Wake-up: %llu message%s waiting\n", (unsigned long long)pending,
                   pending == 1 ? "" : "s");
        else
            printf("No wake-up\n");
        return EXIT_OK;
    }
    if (strcmp(cmd, "renew") == 0 && argc == 3 && strcmp(argv[1], "--password-file") == 0) {
        char url[1100], password[512], err[512];
        uint8_t noise[32], identity[33], att[600];
        size_t alen = 0;
        uint64_t expires = 0;
        if (!parley_client_is_third_party(c) ||
            parley_client_get_value(c, "provider_url", url, sizeof url) != PARLEY_OK) {
            fprintf(stderr, "parley: %s is not a third-party account\n", parley_client_user(c));
            return EXIT_USAGE;
        }
        if (read_secret(argv[2], password, sizeof password) != 0) {
            fprintf(stderr, "parley: cannot read a password from %s\n", argv[2]);
            return EXIT_USAGE;
        }
        rc = parley_client_device_keys(c, noise, identity);
        if (rc != PARLEY_OK) {
            memset(password, 0, sizeof password);
            return exit_for(c, rc);
        }
        rc = pv_attest(url, parley_client_user(c), password, noise, identity, att, sizeof att,
                       &alen, &expires, err, sizeof err);
        memset(password, 0, sizeof password);
        if (rc != 0) {
            fprintf(stderr, "parley: provider: %s\n", err);
            return EXIT_REFUSED;
        }
        rc = parley_client_set_attestation(c, att, alen);
        if (rc == PARLEY_OK) {
            char when[40];
            printf("Attestation renewed (valid until %s)\n", utc_time(when, sizeof when, expires));
        }
        return exit_for(c, rc);
    }
    if (strcmp(cmd, "report") == 0) {
        static const struct option lo[] = {{"reason", 1, 0, 'r'}, {"attach", 1, 0, 'A'}, {0}};
        const char *reason = "", *ids[20];
        size_t n = 0;
        uint64_t rid = 0;
        int o;
        optind = 1;
        while ((o = getopt_long(argc, argv, "r:A:", lo, NULL)) != -1) {
            if (o == 'r')
                reason = optarg;
            else if (o == 'A' && n < sizeof ids / sizeof ids[0])
                ids[n++] = optarg;
            else
                return EXIT_USAGE;
        }
        if (optind != argc - 1) {
            fputs("usage: parley -a ACCOUNT report [--reason R] [--attach MESSAGE-ID]... USER\n",
                  stderr);
            return EXIT_USAGE;
        }
        rc = parley_client_report(c, argv[optind], reason, ids, n, &rid);
        if (rc == PARLEY_OK)
            printf("Reported %s (report %llu, %zu message%s attached)\n", argv[optind],
                   (unsigned long long)rid, n, n == 1 ? "" : "s");
        return exit_for(c, rc);
    }
    for (size_t k = 0; k < sizeof helps / sizeof helps[0]; k++)
        if (strcmp(helps[k].name, cmd) == 0)
            fputs(helps[k].text, stderr);
    return EXIT_USAGE;
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
                                  "contacts", "safety-number", "verify",    "download",
                                  "media-config", "providers", "consent", "inbox", "requests",
                                  "accept", "decline", "block", "unblock", "report", "renew",
                                  "wait"};
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
    snprintf(data_path, sizeof data_path, "%s", dir);
    rc = parley_client_open(&c, dir);
    tag_client = rc == PARLEY_OK ? c : NULL;
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
    } else if (strcmp(cmd, "download") == 0) {
        ex = cmd_download(c, cargc, cargv);
    } else if (strcmp(cmd, "media-config") == 0) {
        ex = cmd_media_config(c, cargc, cargv);
    } else if (strcmp(cmd, "devices") == 0) {
        ex = cmd_devices(c);
    } else if (strcmp(cmd, "remove-device") == 0) {
        ex = cmd_remove(c, cargc, cargv);
    } else if (strcmp(cmd, "contacts") == 0) {
        ex = cmd_contacts(c);
    } else if (strcmp(cmd, "safety-number") == 0) {
        ex = cmd_safety(c, cargc, cargv);
    } else if (is_consent_cmd(cmd)) {
        ex = cmd_consent(c, cmd, cargc, cargv);
    } else {
        ex = cmd_verify(c, cargc, cargv);
    }
    parley_client_free(c);
    return ex;
}
