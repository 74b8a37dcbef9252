/*
 * Stanza parse and write throughput, as ratios of raw expat's parse speed on
 * the same bytes, measured in the same run (issue 3, "Performance").
 *
 * The reference is expat itself, reset and fed one frame at a time (each
 * frame a document of its own, the plain way to parse framed XML), with
 * trivial handlers (they count events; "no handlers" is printed too).
 * parley's parse does everything a connection needs: the UTF-8 and
 * character checks, the limits, building the tree, freeing it; it keeps
 * one expat document running across frames and resets it every 64.
 * parley's write serialises a ready tree into a caller buffer.
 *
 *   bench_stanza [SECONDS_PER_MODE_AND_STANZA]      (default 1.0)
 */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parley/stanza.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A fan-out message to five devices, ~200 base64 characters each. */
static size_t make_fanout(char *out, size_t max)
{
    static const char *const devs[] = {"bob@example.net/1", "bob@example.net/2", "bob@example.net/3",
                                       "alice@provider.example/2", "alice@provider.example/3"};
    size_t n = (size_t)snprintf(out, max,
                                "<message id=\"3EB0C8A1F2D4\" to=\"bob@example.net\" type=\"text\" "
                                "t=\"1764000000\"><participants>");
    for (int d = 0; d < 5; d++) {
        n += (size_t)snprintf(out + n, max - n, "<to jid=\"%s\"><enc v=\"2\" type=\"%s\">", devs[d],
                              d == 0 ? "pkmsg" : "msg");
        for (int i = 0; i < 200; i++)
            out[n++] = b64[(i * 7 + d * 13) % 64];
        n += (size_t)snprintf(out + n, max - n, "</enc></to>");
    }
    n += (size_t)snprintf(out + n, max - n, "</participants></message>");
    return n;
}

struct sample {
    const char *name;
    char data[4096];
    size_t len;
};

static unsigned long events;

static void XMLCALL t_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    (void)ud, (void)name, (void)atts;
    events++;
}

static void XMLCALL t_end(void *ud, const XML_Char *name)
{
    (void)ud, (void)name;
    events++;
}

static void XMLCALL t_text(void *ud, const XML_Char *s, int len)
{
    (void)ud, (void)s;
    events += (unsigned long)len;
}

enum mode { EXPAT_BARE, EXPAT_TRIVIAL, EXPAT_SALTED, PARLEY_PARSE, PARLEY_WRITE, MODES };

struct bench {
    XML_Parser xp;
    parley_stanza_parser *pp;
    parley_stanza *tree;
    const struct sample *s;
};

/* MB/s of one run of about `secs` in mode m. */
static double run(struct bench *b, enum mode m, double secs)
{
    static uint8_t out[8192];
    const struct sample *s = b->s;
    unsigned long iters = 0;
    double t0 = now(), t1;
    do {
        for (int k = 0; k < 64; k++) {
            if (m == EXPAT_BARE || m == EXPAT_TRIVIAL || m == EXPAT_SALTED) {
                XML_ParserReset(b->xp, "UTF-8");
                if (m == EXPAT_SALTED)
                    XML_SetHashSalt(b->xp, 0x5a17ed5a17edul);
                if (m != EXPAT_BARE) {
                    XML_SetElementHandler(b->xp, t_start, t_end);
                    XML_SetCharacterDataHandler(b->xp, t_text);
                }
                if (XML_Parse(b->xp, s->data, (int)s->len, XML_TRUE) != XML_STATUS_OK)
                    exit(1);
            } else if (m == PARLEY_PARSE) {
                parley_stanza *t = NULL;
                if (parley_stanza_parser_parse(b->pp, (const uint8_t *)s->data, s->len, &t) !=
                    PARLEY_OK)
                    exit(1);
                parley_stanza_free(t);
            } else {
                size_t n = 0;
                if (parley_stanza_write(b->tree, out, sizeof out, &n) != PARLEY_OK || n != s->len)
                    exit(1);
            }
        }
        iters += 64;
        t1 = now();
    } while (t1 - t0 < secs);
    return (double)iters * (double)s->len / (t1 - t0) / 1e6;
}

/*
 * The machine may be shared: the modes run interleaved, in short turns,
 * and each keeps its best turn, so that all see the same conditions.
 */
static void measure(const struct sample *s, double secs, double best[MODES])
{
    struct bench b = {XML_ParserCreate("UTF-8"), NULL, NULL, s};
    if (b.xp == NULL || parley_stanza_parser_new(&b.pp, NULL) != PARLEY_OK)
        exit(1);
    /* The sample must be canonical, so that write reproduces it exactly. */
    if (parley_stanza_parse(&b.tree, (const uint8_t *)s->data, s->len, NULL) != PARLEY_OK)
        exit(1);
    for (int m = 0; m < MODES; m++)
        best[m] = 0;
    for (int turn = 0; turn < 10; turn++)
        for (int m = 0; m < MODES; m++) {
            double r = run(&b, (enum mode)m, secs / 10);
            if (r > best[m])
                best[m] = r;
        }
    parley_stanza_free(b.tree);
    parley_stanza_parser_free(b.pp);
    XML_ParserFree(b.xp);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    static struct sample samples[3];
    samples[0].name = "fan-out message (5 devices)";
    samples[0].len = make_fanout(samples[0].data, sizeof samples[0].data);
    samples[1].name = "ack";
    samples[1].len = (size_t)snprintf(samples[1].data, sizeof samples[1].data,
                                      "<ack id=\"3EB0C8A1F2D4\" class=\"message\" t=\"1764000001\"/>");
    samples[2].name = "receipt";
    samples[2].len = (size_t)snprintf(samples[2].data, sizeof samples[2].data,
                                      "<receipt id=\"3EB0C8A1F2D4\" from=\"bob@example.net/1\" "
                                      "to=\"alice@provider.example\" type=\"read\" t=\"1764000002\"/>");
    printf("stanza throughput, MB/s (best of 10 interleaved turns of %.3fs per mode)\n"
           "  expat    raw expat, no handlers, reset per frame\n"
           "  expat+h  raw expat with trivial handlers: the reference (x)\n"
           "  expat+s  expat+h with the hash salt set once, as parley sets it (x*)\n",
           secs / 10);
    printf("%-28s %6s %8s %8s %8s %8s %8s %8s %8s %8s\n", "stanza", "bytes", "expat", "expat+h",
           "expat+s", "parse", "write", "parse/x", "write/x", "parse/x*");
    double worst_parse = 1e9, worst_write = 1e9, worst_salted = 1e9;
    for (int i = 0; i < 3; i++) {
        const struct sample *s = &samples[i];
        double best[MODES];
        measure(s, secs, best);
        double bare = best[EXPAT_BARE], triv = best[EXPAT_TRIVIAL], salted = best[EXPAT_SALTED];
        double parse = best[PARLEY_PARSE], write = best[PARLEY_WRITE];
        printf("%-28s %6zu %8.1f %8.1f %8.1f %8.1f %8.1f %7.2fx %7.2fx %7.2fx\n", s->name, s->len,
               bare, triv, salted, parse, write, parse / triv, write / triv, parse / salted);
        if (parse / triv < worst_parse)
            worst_parse = parse / triv;
        if (write / triv < worst_write)
            worst_write = write / triv;
        if (parse / salted < worst_salted)
            worst_salted = parse / salted;
    }
    printf("worst ratios: parse %.2fx, write %.2fx, parse against salted expat %.2fx "
           "(target >= 0.50x): %s\n",
           worst_parse, worst_write, worst_salted,
           worst_parse >= 0.5 && worst_write >= 0.5 ? "met" : "NOT met");
    (void)events;
    return 0;
}
