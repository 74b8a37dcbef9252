/*
 * Handshake patterns as data (spec sections 7.4, 7.5, 7.6) and the
 * protocol-name parser with the psk (section 9.3) and fallback (section
 * 10.2) modifiers. Each pattern is written in the spec's own notation:
 * the initiator's and responder's pre-messages, then the messages
 * separated by '|' (the first one the initiator's, then alternating).
 */
#include "noise/noise_internal.h"

#include <string.h>
#include "util/safety.h"

typedef struct {
    const char *name;
    const char *pre_i;
    const char *pre_r;
    const char *msgs;
} pattern_def;

static const pattern_def patterns[] = {
    /* One-way (7.4) */
    {"N", "", "s", "e es"},
    {"K", "s", "s", "e es ss"},
    {"X", "", "s", "e es s ss"},
    /* Interactive, fundamental (7.5) */
    {"NN", "", "", "e|e ee"},
    {"NK", "", "s", "e es|e ee"},
    {"NX", "", "", "e|e ee s es"},
    {"KN", "s", "", "e|e ee se"},
    {"KK", "s", "s", "e es ss|e ee se"},
    {"KX", "s", "", "e|e ee se s es"},
    {"XN", "", "", "e|e ee|s se"},
    {"XK", "", "s", "e es|e ee|s se"},
    {"XX", "", "", "e|e ee s es|s se"},
    {"IN", "", "", "e s|e ee se"},
    {"IK", "", "s", "e es s ss|e ee se"},
    {"IX", "", "", "e s|e ee se s es"},
    /* Interactive, deferred (7.6) */
    {"NK1", "", "s", "e|e ee es"},
    {"NX1", "", "", "e|e ee s|es"},
    {"X1N", "", "", "e|e ee|s|se"},
    {"X1K", "", "s", "e es|e ee|s|se"},
    {"XK1", "", "s", "e|e ee es|s se"},
    {"X1K1", "", "s", "e|e ee es|s|se"},
    {"X1X", "", "", "e|e ee s es|s|se"},
    {"XX1", "", "", "e|e ee s|es s se"},
    {"X1X1", "", "", "e|e ee s|es s|se"},
    {"K1N", "s", "", "e|e ee|se"},
    {"K1K", "s", "s", "e es|e ee|se"},
    {"KK1", "s", "s", "e|e ee se es"},
    {"K1K1", "s", "s", "e|e ee es|se"},
    {"K1X", "s", "", "e|e ee s es|se"},
    {"KX1", "s", "", "e|e ee se s|es"},
    {"K1X1", "s", "", "e|e ee s|se es"},
    {"I1N", "", "", "e s|e ee|se"},
    {"I1K", "", "s", "e es s|e ee|se"},
    {"IK1", "", "s", "e s|e ee se es"},
    {"I1K1", "", "s", "e s|e ee es|se"},
    {"I1X", "", "", "e s|e ee s es|se"},
    {"IX1", "", "", "e s|e ee se s|es"},
    {"I1X1", "", "", "e s|e ee s|se es"},
};

static int token_of(const char *w, size_t n)
{
    static const struct {
        const char *s;
        noise_token t;
    } words[] = {{"e", NT_E},   {"s", NT_S},   {"ee", NT_EE},  {"es", NT_ES},
                 {"se", NT_SE}, {"ss", NT_SS}, {"psk", NT_PSK}};
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(words); i++)
        if (strlen(words[i].s) == n && memcmp(words[i].s, w, n) == 0)
            return (int)words[i].t;
    return -1;
}

/* Tokens of one space-separated list into out; returns the count or -1. */
static int parse_tokens(const char *p, size_t len, uint8_t *out, size_t max)
{
    size_t count = 0, i = 0;
    while (i < len) {
        while (i < len && p[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && p[i] != ' ')
            i++;
        if (i == start)
            break;
        int t = token_of(p + start, i - start);
        if (t < 0 || count == max)
            return -1;
        out[count++] = (uint8_t)t;
    }
    return (int)count;
}

static int load_def(const pattern_def *d, noise_pattern *p)
{
    int n;
    memset(p, 0, sizeof *p);
    if ((n = parse_tokens(d->pre_i, strlen(d->pre_i), p->pre_i, NP_MAX_PRE)) < 0)
        return PARLEY_ERR_INVALID_ARG;
    p->n_pre_i = (uint8_t)n;
    if ((n = parse_tokens(d->pre_r, strlen(d->pre_r), p->pre_r, NP_MAX_PRE)) < 0)
        return PARLEY_ERR_INVALID_ARG;
    p->n_pre_r = (uint8_t)n;
    const char *m = d->msgs;
    for (;;) {
        const char *bar = strchr(m, '|');
        size_t len = bar ? (size_t)(bar - m) : strlen(m);
        if (p->n_msgs == NP_MAX_MSGS)
            return PARLEY_ERR_INVALID_ARG;
        if ((n = parse_tokens(m, len, p->msg[p->n_msgs], NP_MAX_TOKENS)) < 0)
            return PARLEY_ERR_INVALID_ARG;
        p->msg_len[p->n_msgs++] = (uint8_t)n;
        if (bar == NULL)
            break;
        m = bar + 1;
    }
    p->one_way = strlen(d->name) == 1;
    return PARLEY_OK;
}

/* pskN (spec 9.3): psk0 at the start of the first message, pskN at the end of message N. */
static int apply_psk(noise_pattern *p, unsigned n)
{
    if (n == 0) {
        if (p->msg_len[0] == NP_MAX_TOKENS)
            return PARLEY_ERR_INVALID_ARG;
        memmove(p->msg[0] + 1, p->msg[0], p->msg_len[0]);
        p->msg[0][0] = NT_PSK;
        p->msg_len[0]++;
    } else {
        if (n > p->n_msgs || p->msg_len[n - 1] == NP_MAX_TOKENS)
            return PARLEY_ERR_INVALID_ARG;
        p->msg[n - 1][p->msg_len[n - 1]++] = NT_PSK;
    }
    p->psk_mode = 1;
    p->n_psk++;
    return PARLEY_OK;
}

/*
 * fallback (spec 10.2): Alice's first message becomes a pre-message and
 * Bob initiates the rest. Stored canonically, the roles swap: the new
 * initiator's pre-message is the old responder's, the new responder's is
 * the old initiator's plus the first message, and in the remaining
 * messages "es" and "se" trade places (spec 7.2).
 */
static int apply_fallback(noise_pattern *p)
{
    noise_pattern q;
    if (p->one_way || p->n_msgs < 2)
        return PARLEY_ERR_INVALID_ARG;
    memset(&q, 0, sizeof q);
    for (uint8_t i = 0; i < p->msg_len[0]; i++)
        if (p->msg[0][i] != NT_E && p->msg[0][i] != NT_S)
            return PARLEY_ERR_INVALID_ARG;
    if (p->n_pre_i + p->msg_len[0] > NP_MAX_PRE)
        return PARLEY_ERR_INVALID_ARG;
    memcpy(q.pre_i, p->pre_r, p->n_pre_r);
    q.n_pre_i = p->n_pre_r;
    memcpy(q.pre_r, p->pre_i, p->n_pre_i);
    memcpy(q.pre_r + p->n_pre_i, p->msg[0], p->msg_len[0]);
    q.n_pre_r = (uint8_t)(p->n_pre_i + p->msg_len[0]);
    for (uint8_t m = 1; m < p->n_msgs; m++) {
        for (uint8_t i = 0; i < p->msg_len[m]; i++) {
            uint8_t t = p->msg[m][i];
            q.msg[m - 1][i] = t == NT_ES ? NT_SE : t == NT_SE ? NT_ES : t;
        }
        q.msg_len[m - 1] = p->msg_len[m];
    }
    q.n_msgs = (uint8_t)(p->n_msgs - 1);
    q.psk_mode = p->psk_mode;
    q.n_psk = p->n_psk;
    *p = q;
    return PARLEY_OK;
}

int noise_pattern_parse(const char *name, noise_pattern *out)
{
    static const char prefix[] = "Noise_";
    static const char suffix[] = "_25519_AESGCM_SHA256";
    size_t len = strnlen(name, PARLEY_NOISE_MAX_NAME + 1);
    const size_t pl = sizeof prefix - 1, sl = sizeof suffix - 1;

    if (len > PARLEY_NOISE_MAX_NAME || len <= pl + sl)
        return PARLEY_ERR_INVALID_ARG;
    if (memcmp(name, prefix, pl) != 0 || memcmp(name + len - sl, suffix, sl) != 0)
        return PARLEY_ERR_INVALID_ARG;
    const char *pat = name + pl;
    size_t pat_len = len - pl - sl;

    /* Base name: upper-case letters and digits; modifiers follow in lower case. */
    size_t base = 0;
    while (base < pat_len &&
           ((pat[base] >= 'A' && pat[base] <= 'Z') || (pat[base] >= '0' && pat[base] <= '9')))
        base++;
    const pattern_def *d = NULL;
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(patterns); i++)
        if (strlen(patterns[i].name) == base && memcmp(patterns[i].name, pat, base) == 0)
            d = &patterns[i];
    if (d == NULL || load_def(d, out) < 0)
        return PARLEY_ERR_INVALID_ARG;

    size_t i = base;
    if (i == pat_len)
        return PARLEY_OK;
    for (;;) {
        size_t start = i;
        while (i < pat_len && pat[i] != '+')
            i++;
        const char *mod = pat + start;
        size_t mlen = i - start;
        int rc;
        if (mlen == 4 && memcmp(mod, "psk", 3) == 0 && mod[3] >= '0' && mod[3] <= '9')
            rc = apply_psk(out, (unsigned)(mod[3] - '0'));
        else if (mlen == 8 && memcmp(mod, "fallback", 8) == 0)
            rc = apply_fallback(out);
        else
            rc = PARLEY_ERR_INVALID_ARG;
        if (rc < 0)
            return rc;
        if (i == pat_len)
            break;
        i++; /* '+' */
        if (i == pat_len)
            return PARLEY_ERR_INVALID_ARG;
    }
    if (out->n_psk > PARLEY_NOISE_MAX_PSKS)
        return PARLEY_ERR_INVALID_ARG;
    return PARLEY_OK;
}
