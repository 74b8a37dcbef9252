/*
 * parley — the client engine: one device of one account.
 *
 * A parley_client owns a local store (one SQLite file, mode 0600, WAL, in a
 * data directory) holding the device's identity and prekeys, its Signal
 * sessions, the signed device lists of its contacts and of its own account,
 * the contacts with their trusted identity, the message history (bodies
 * sealed under a local key kept beside the database, never in it) and the
 * outgoing messages not yet acknowledged by the server.
 *
 * It speaks the chat protocol of docs/protocol.md over the Noise
 * transport (parley/noise_conn.h): XX on first contact, IK afterwards with
 * the cached server key. Calls block; one thread uses a client at a time.
 * docs/client.md describes the store, the states and the retries.
 *
 * Results: PARLEY_OK or a negative code from parley/result.h;
 * PARLEY_ERR_CLIENT_REFUSED when the server refused (see
 * parley_client_last_error for its reason), PARLEY_ERR_UNTRUSTED_IDENTITY
 * when a contact's identity changed and was not yet accepted.
 */
#ifndef PARLEY_CLIENT_H
#define PARLEY_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PARLEY_CLIENT_ADDR_MAX     256 /* bytes of "local@domain/N" */
#define PARLEY_CLIENT_ID_MAX       64  /* bytes of a stanza or message id */
#define PARLEY_CLIENT_PREKEY_BATCH 100
#define PARLEY_CLIENT_VERSION      "parley/0.1"

typedef struct parley_client parley_client;

/*
 * Opens (creating when absent, mode 0700) the data directory dir and the
 * store in it. A fresh store has no account: register or link next.
 */
PARLEY_MUST_CHECK int parley_client_open(parley_client **out, const char *dir);
void parley_client_free(parley_client *c);

/* The account ("local@domain") and device id, or NULL/0 before registering. */
const char *parley_client_user(const parley_client *c);
uint32_t parley_client_device(const parley_client *c);

/* The last refusal from the server: its numeric code (HTTP-like) and reason. */
void parley_client_last_error(const parley_client *c, int *code, const char **reason);

/* One-time prekeys made at register/link (default and maximum
 * PARLEY_CLIENT_PREKEY_BATCH; fewer lets tests reach the last resort). */
void parley_client_set_prekey_batch(parley_client *c, unsigned n);

/* Quiet by default; a stream receives one line per connection event. */
void parley_client_set_log(parley_client *c, void (*log)(void *arg, const char *line), void *arg);

/*
 * Registers the first device of user with the one-time code from the
 * operator: makes the identity, signed prekey and PARLEY_CLIENT_PREKEY_BATCH
 * one-time prekeys, logs in with <register>, uploads the keys and signs the
 * account's device list. server is "host:port"; root_pub the pinned
 * gatekeeper root key (32 bytes).
 */
PARLEY_MUST_CHECK int parley_client_register(parley_client *c, const char *server,
                                             const uint8_t root_pub[32], const char *user,
                                             const char *code);
/* The same for a further device with a link code made by an existing one. */
PARLEY_MUST_CHECK int parley_client_link(parley_client *c, const char *server,
                                         const uint8_t root_pub[32], const char *user,
                                         const char *code);
/* On an existing device: a new link code and its expiry (Unix ms). */
PARLEY_MUST_CHECK int parley_client_link_code(parley_client *c, char *code, size_t code_max,
                                              uint64_t *expires);

/* ---- events ------------------------------------------------------------- */

typedef enum {
    PARLEY_CLIENT_EV_MESSAGE = 1, /* a text message: from, peer, id, t, text */
    PARLEY_CLIENT_EV_SENT,        /* a copy of a message another own device sent to peer */
    PARLEY_CLIENT_EV_RECEIPT,     /* receipt (text "delivery"/"read") from `from` for id */
    PARLEY_CLIENT_EV_PRESENCE,    /* peer is text ("available"/"unavailable") */
    PARLEY_CLIENT_EV_DEVICES,     /* a device list changed (peer) */
    PARLEY_CLIENT_EV_IDENTITY,    /* peer's identity changed: sends blocked until verify */
    PARLEY_CLIENT_EV_PREKEYS,     /* one-time prekeys were topped up */
    PARLEY_CLIENT_EV_ERROR,       /* a message from `from` could not be processed: text */
    PARLEY_CLIENT_EV_CONNECTED,
    PARLEY_CLIENT_EV_DISCONNECTED,
    PARLEY_CLIENT_EV_ATTACHMENT,  /* a file of message id: saved (text: path), failed (text:
                                   * why) or available for `download`; details in attachment */
    PARLEY_CLIENT_EV_PROVIDER,    /* a third-party provider became available: id, text (its
                                   * name), protocol; chats with it need `consent` first */
} parley_client_event_type;

/* One attachment of a received message (PARLEY_CLIENT_EV_ATTACHMENT). */
typedef struct {
    size_t index;          /* 0-based within its message */
    size_t count;          /* attachments of the message */
    const char *file_name; /* as the sender named it, or NULL */
    const char *mime_type; /* or NULL */
    int media_type;        /* parley_media_type (parley/content.h) */
    uint64_t size;         /* plaintext bytes */
    const char *state;     /* "saved", "failed" or "available" */
    const char *path;      /* saved: where the file is, else NULL */
    const char *error;     /* failed: why, else NULL */
} parley_client_attachment_info;

typedef struct {
    parley_client_event_type type;
    const char *from; /* sending device "local@domain/N" or NULL */
    const char *peer; /* the conversation: the other account "local@domain" */
    const char *id;   /* message id or NULL */
    const char *text; /* body, receipt type, presence or error text, or NULL */
    uint64_t t;       /* sender's time, Unix ms */
    size_t attachments; /* MESSAGE, SENT: how many files the message carries */
    const parley_client_attachment_info *attachment; /* ATTACHMENT, else NULL */
    const char *protocol; /* PROVIDER: the end-to-end protocol its clients speak, else NULL */
} parley_client_event;

typedef void (*parley_client_event_cb)(const parley_client_event *ev, void *arg);

/* ---- messaging ---------------------------------------------------------- */

/*
 * Sends text to recipient ("local@domain"): one message fanned out to every
 * device in the recipient's signed device list and to the other devices of
 * this account, durably queued before it is sent, so that a crash re-sends
 * the same ciphertext with the same id. Waits for the server's ack; on a
 * 409 refreshes the device lists and tries again. id_out (at least
 * PARLEY_CLIENT_ID_MAX + 1 bytes) receives the message id; may be NULL.
 */
PARLEY_MUST_CHECK int parley_client_send_text(parley_client *c, const char *recipient,
                                              const char *text, char *id_out);

/*
 * Connects, re-sends anything unacknowledged, and handles what arrives
 * until idle_ms pass without a stanza (idle_ms < 0: until *stop becomes
 * non-zero, reconnecting with exponential backoff and jitter when the
 * connection drops). Every incoming message is stored before it is
 * acknowledged.
 */
PARLEY_MUST_CHECK int parley_client_receive(parley_client *c, int idle_ms,
                                            parley_client_event_cb cb, void *arg,
                                            volatile sig_atomic_t *stop);

/* ---- attachments (docs/client.md, "Attachments"; docs/media.md) ---------- */

#define PARLEY_CLIENT_FILE_MAX (256ull << 20) /* largest file sent */
#define PARLEY_CLIENT_URL_MAX 2048

/*
 * The HTTP side of media, supplied by the program (libparley itself does
 * no HTTP; the parley program uses parley_mediahost's client). Both return
 * PARLEY_OK, PARLEY_ERR_CLIENT_REFUSED (the host said no: err receives its
 * reason) or PARLEY_ERR_IO.
 *   upload: size bytes of fd (read with pread from offset 0) to the media
 *     host at base_url with the bearer token; url_out receives the
 *     download URL. progress (may be NULL) reports bytes sent.
 *   download: GET url (token NULL: none) handing the body to sink as it
 *     arrives; a non-zero sink result stops the transfer.
 */
typedef struct {
    int (*upload)(void *ctx, const char *base_url, const char *token, int fd, uint64_t size,
                  const uint8_t sha256[32], char *url_out, size_t url_max, char *err,
                  size_t err_max, void (*progress)(void *parg, uint64_t done, uint64_t total),
                  void *parg);
    int (*download)(void *ctx, const char *url, const char *token,
                    int (*sink)(void *sarg, const uint8_t *p, size_t n), void *sarg, char *err,
                    size_t err_max);
    void *ctx;
} parley_client_media_transport;

void parley_client_set_media_transport(parley_client *c, const parley_client_media_transport *t);

/* Progress of transfers: name is the file's name, upload 1 or 0. */
typedef void (*parley_client_progress_fn)(void *arg, const char *name, int upload, uint64_t done,
                                          uint64_t total);
void parley_client_set_progress(parley_client *c, parley_client_progress_fn fn, void *arg);

/*
 * Where received files are saved (created with mode 0700 when missing).
 * With auto_download, parley_client_receive downloads each attachment as
 * its message arrives; otherwise it announces them as "available".
 */
PARLEY_MUST_CHECK int parley_client_set_media_dir(parley_client *c, const char *dir,
                                                  int auto_download);

/*
 * The media host (and its upload token) and the media proxy to use instead
 * of those the server announces at login: a third-party user names its
 * provider's host here. NULL or "" clears a setting. Kept in the store.
 */
PARLEY_MUST_CHECK int parley_client_set_media_config(parley_client *c, const char *host,
                                                     const char *token, const char *proxy);
/* The media host, proxy and whether a token is known, as they apply now. */
PARLEY_MUST_CHECK int parley_client_media_config(parley_client *c, char *host, size_t host_max,
                                                 char *proxy, size_t proxy_max, int *have_token);

/* A file encrypted and uploaded, ready to be attached to messages. */
typedef struct parley_client_file parley_client_file;

/*
 * Reads path once: detects its type from its first bytes and its name
 * (images, video, audio, other files), encrypts it while reading under a
 * fresh media key into an unlinked temporary blob, and uploads that to the
 * sender's media host (connecting first to learn it). Errors:
 * PARLEY_ERR_IO (unreadable, not a regular file), PARLEY_ERR_BUFFER (over
 * PARLEY_CLIENT_FILE_MAX), PARLEY_ERR_STATE (no media host or transport
 * known), PARLEY_ERR_CLIENT_REFUSED (see parley_client_last_error).
 */
PARLEY_MUST_CHECK int parley_client_file_upload(parley_client *c, const char *path,
                                                parley_client_file **out);
void parley_client_file_free(parley_client_file *f); /* wipes the key */
const char *parley_client_file_name(const parley_client_file *f);
const char *parley_client_file_mime(const parley_client_file *f);
int parley_client_file_media_type(const parley_client_file *f);
uint64_t parley_client_file_size(const parley_client_file *f);

/*
 * As parley_client_send_text with files attached (n may be 0; text may be
 * NULL or "" when files are attached).
 */
PARLEY_MUST_CHECK int parley_client_send_message(parley_client *c, const char *recipient,
                                                 const char *text,
                                                 parley_client_file *const *files, size_t n,
                                                 char *id_out);

/*
 * Downloads the attachments of received message id that are not saved yet
 * into the media directory, verifying both hashes and the size before a
 * file gets its name; one PARLEY_CLIENT_EV_ATTACHMENT event per file.
 * PARLEY_ERR_NOT_FOUND when no attachment has that message id;
 * PARLEY_ERR_INVALID_MAC when a blob failed verification (nothing saved
 * for it); *saved and *failed (may be NULL) count the files.
 */
PARLEY_MUST_CHECK int parley_client_download(parley_client *c, const char *id,
                                             parley_client_event_cb cb, void *arg, size_t *saved,
                                             size_t *failed);

/* ---- devices, contacts, trust -------------------------------------------- */

typedef struct {
    uint32_t id;
    uint8_t identity[33];
    int signed_list; /* 1 when in the account's verified signed list */
    int self;        /* this device */
} parley_client_device_info;

/* The account's devices as the server lists them (at most max, *n set). */
PARLEY_MUST_CHECK int parley_client_devices(parley_client *c, parley_client_device_info *out,
                                            size_t max, size_t *n);
/* Removes device id from the account (the primary re-signs the list). */
PARLEY_MUST_CHECK int parley_client_remove_device(parley_client *c, uint32_t id);

typedef struct {
    const char *user;
    const uint8_t *trusted; /* 32 bytes: the primary's identity key */
    int pending;            /* 1: a changed identity waits for verify */
    int verified;           /* 1: accepted by the user after comparing numbers */
} parley_client_contact;

/* Calls cb for each contact, in order of address. */
PARLEY_MUST_CHECK int parley_client_contacts(parley_client *c,
                                             void (*cb)(const parley_client_contact *ct, void *arg),
                                             void *arg);

/*
 * The safety number with contact (60 digits and NUL) and the scannable
 * form for a QR code, over the two accounts' primary identity keys. Uses
 * the changed identity when one is pending (*pending set to 1). Fetches the
 * contact's device list when it is not yet known.
 */
PARLEY_MUST_CHECK int parley_client_safety_number(parley_client *c, const char *contact,
                                                  char display[61], uint8_t scannable[80],
                                                  size_t *scannable_len, int *pending);
/* Accepts the contact's pending (or current) identity as verified. */
PARLEY_MUST_CHECK int parley_client_verify(parley_client *c, const char *contact);

/* ---- pieces exposed for tests -------------------------------------------- */

/*
 * The signed device list (docs/protocol.md, "Device list"):
 * "parley-devices-v1" 0x00 user 0x00 u32be version (u32be id, 33-byte key)*
 * in increasing id order.
 */
#define PARLEY_CLIENT_MAX_DEVICES 64
typedef struct {
    uint32_t version;
    size_t count;
    uint32_t ids[PARLEY_CLIENT_MAX_DEVICES];
    uint8_t keys[PARLEY_CLIENT_MAX_DEVICES][33];
} parley_device_list;

/* Encodes l for user into out (malloc'd). PARLEY_ERR_INVALID_ARG when ids
 * are not strictly increasing. */
PARLEY_MUST_CHECK int parley_device_list_encode(const parley_device_list *l, const char *user,
                                                uint8_t **out, size_t *out_len);
/* Parses a list and checks it names user and is in order; then, when sig
 * is not NULL, that device 1's key signed it (XEdDSA): PARLEY_ERR_DECODE,
 * PARLEY_ERR_CLIENT_DEVICES (no device 1, wrong user, disorder) or
 * PARLEY_ERR_INVALID_SIGNATURE. */
PARLEY_MUST_CHECK int parley_device_list_verify(parley_device_list *l, const char *user,
                                                const uint8_t *data, size_t len,
                                                const uint8_t *sig);

#ifdef __cplusplus
}
#endif
#endif
