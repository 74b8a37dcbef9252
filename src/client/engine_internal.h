/* Shared by engine.c and messages.c: the client object and its helpers. */
#ifndef PARLEY_CLIENT_ENGINE_INTERNAL_H
#define PARLEY_CLIENT_ENGINE_INTERNAL_H

#include "client/client_internal.h"
#include "parley/content.h"

struct parley_client {
    pcl_store st;
    parley_signal_store *sstore;
    parley_signal *sig; /* NULL until registered or linked */
    char user[PARLEY_CLIENT_ADDR_MAX];
    uint32_t device;
    char server[256];
    uint8_t root[32];
    pcl_net net;
    int connected;
    /* stanzas that arrived while waiting for an answer, handled next */
    parley_stanza *queue[PCL_STANZA_QUEUE_MAX];
    size_t q_head, q_len;
    int last_code;
    char last_reason[64];
    void (*log)(void *arg, const char *line);
    void *log_arg;
    unsigned prekey_batch;
    parley_client_event_cb cb;
    void *cb_arg;
    /* attachments (attach.c) */
    parley_client_media_transport media_tr;
    parley_client_progress_fn progress;
    void *progress_arg;
    char media_dir[1024];
    int media_auto;
};

void pcl_log(parley_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pcl_emit(parley_client *c, parley_client_event_type type, const char *from, const char *peer,
              const char *id, const char *text, uint64_t t);
void pcl_new_id(char out[25]);
PARLEY_MUST_CHECK int pcl_split_addr(const char *addr, char *user, size_t max, uint32_t *device);

PARLEY_MUST_CHECK int pcl_attr_b64_set(parley_stanza *e, const char *name, const uint8_t *p,
                                       size_t n);
PARLEY_MUST_CHECK int pcl_attr_b64_get(const parley_stanza *e, const char *name, uint8_t *out,
                                       size_t max, size_t *len);
PARLEY_MUST_CHECK int pcl_iq_new(parley_stanza **out, const char *type, const char *child,
                                 parley_stanza **child_out, char id[25]);
PARLEY_MUST_CHECK int pcl_iq(parley_client *c, parley_stanza *req, const char *id,
                             parley_stanza **res);
PARLEY_MUST_CHECK int pcl_wait_ack(parley_client *c, const char *id, parley_stanza **res);
PARLEY_MUST_CHECK int pcl_connect(parley_client *c);
void pcl_disconnect(parley_client *c);
void pcl_drain_acks(parley_client *c);
/* Rolls the store back and drops the Signal layer's session cache, which
 * would otherwise run ahead of what the store kept. */
void pcl_rollback(parley_client *c);
PARLEY_MUST_CHECK int pcl_cached_list(parley_client *c, const char *user, parley_device_list *l);
PARLEY_MUST_CHECK int pcl_fetch_list(parley_client *c, const char *user, parley_device_list *l);
PARLEY_MUST_CHECK int pcl_primary_key(parley_client *c, const char *user, uint8_t key[32],
                                      int *pending);

void pcl_emit_ev(parley_client *c, const parley_client_event *ev);

/* attach.c */
PARLEY_MUST_CHECK int pcl_attach_schema(parley_client *c);
/* The <media> child of a login <success>: remembered for uploads and fetches. */
PARLEY_MUST_CHECK int pcl_attach_login(parley_client *c, const parley_stanza *success);
/* In the open transaction of a received message: keep its attachments. */
PARLEY_MUST_CHECK int pcl_attach_store(parley_client *c, const char *from, const char *peer,
                                       const char *id, const parley_content *msg);
/* After the message event: download (auto) or announce its attachments. */
void pcl_attach_after(parley_client *c, const char *from, const char *id);
/* At the start of receiving: the attachments a crash left untouched. */
void pcl_attach_pending(parley_client *c);

/* thirdparty.c (and the two engine.c entry points it uses) */
PARLEY_MUST_CHECK int pcl_tp_login_extra(parley_client *c, parley_stanza *login);
PARLEY_MUST_CHECK int pcl_setup_identity(parley_client *c, const char *server,
                                         const uint8_t root_pub[32], const char *user);
PARLEY_MUST_CHECK int pcl_connect_kind(parley_client *c, const char *kind);

/* messages.c */
/* Sends a message content (id and timestamp set) and its sync copy. */
PARLEY_MUST_CHECK int pcl_send_content(parley_client *c, const char *recipient,
                                       const parley_content *ct, const char *history_text,
                                       char *id_out);
PARLEY_MUST_CHECK int pcl_handle(parley_client *c, parley_stanza *st);
PARLEY_MUST_CHECK int pcl_flush_outbox(parley_client *c);
PARLEY_MUST_CHECK int pcl_replay_unshown(parley_client *c);
PARLEY_MUST_CHECK int pcl_resign_list(parley_client *c);
PARLEY_MUST_CHECK int pcl_resign_if_needed(parley_client *c);
/* Keeps the inbox mode the server announced (thirdparty.c). */
PARLEY_MUST_CHECK int pcl_inbox_remember(parley_client *c, const char *mode);
PARLEY_MUST_CHECK int pcl_rotate_signed_if_due(parley_client *c);
PARLEY_MUST_CHECK int pcl_subscribe_contacts(parley_client *c);
PARLEY_MUST_CHECK int pcl_upload_keys(parley_client *c, int first, unsigned prekeys);

#endif
