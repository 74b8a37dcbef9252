/*
 * The stanza parser: one frame, one element, on expat (docs/protocol.md,
 * "Stanzas"; DESIGN.md 3.3).
 *
 * Before expat sees a byte the whole frame is checked for size, for
 * well-formed UTF-8 and for characters XML forbids, so those refusals get
 * their own codes rather than expat's generic "not well-formed". expat is
 * then told to ignore every external and parameter entity, and handlers
 * stop it at the first DOCTYPE, entity declaration, processing instruction,
 * comment or XML declaration: no DTD is ever read, so no entity other than
 * the five predefined (and character references) can be expanded, and the
 * Billion Laughs and external-entity attacks have nothing to work with.
 * Every limit is checked in the handlers, before the node is allocated.
 *
 * The tree lives in one arena; on any error the arena is released whole,
 * so nothing leaks and no half-built tree escapes.
 *
 * A parser feeds its frames into one running expat document, as children
 * of a wrapper element, rather than resetting expat for each (see
 * parse_in_stream); any frame refused there is parsed again alone, so
 * every verdict is the one a frame gets as a document of its own.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Declares expat's Billion Laughs controls (expat >= 2.4.0, built with DTD
 * support as every distribution does); the defines only add prototypes. */
#ifndef XML_DTD
#define XML_DTD
#endif
#include <expat.h>

#include "stanza/stanza_internal.h"
#include "util/buf.h"
#include "util/reader.h"
#include "util/safety.h"

#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4)
#define PS_HAVE_BILLION_LAUGHS 1
#endif

struct parley_stanza_parser {
    XML_Parser xp;
    parley_stanza_limits lim;
    size_t max_depth;      /* lim.max_depth, clamped to what a tree may hold */
    unsigned long salt;    /* expat's hash salt for this parser; 0: expat's own */
    parley_stanza **stack; /* open elements, stack[0] the root */

    /* state of the current parse */
    const uint8_t *data;
    size_t len;
    int rc;
    parley_stanza *root;
    size_t depth;
    size_t elements;
    int closed;    /* the root element has ended */
    uint64_t base; /* expat's byte index of the frame's first byte */
    int wrapper;   /* the next start tag is the stream's wrapper, not a frame's */

    /* the running document (see parse_in_stream) */
    int streaming;          /* the wrapper is open; the next frame goes in as its child */
    unsigned stream_frames; /* frames in this document */
    uint64_t stream_bytes;  /* bytes in this document, the wrapper's included */
    pbuf text;              /* text seen so far in the innermost open leaf */
    int text_mixed;         /* that text has a non-whitespace character */
};

/* Record the first refusal and stop expat; later events are ignored. */
static void fail(parley_stanza_parser *p, int rc)
{
    if (p->rc == PARLEY_OK) {
        p->rc = rc;
        XML_StopParser(p->xp, XML_FALSE);
    }
}

static int is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_xml_space(s[i]))
            return 0;
    return 1;
}

/* strnlen's bound for "longer than max" (a limit may be SIZE_MAX). */
static size_t over(size_t max)
{
    return max < SIZE_MAX ? max + 1 : max;
}

static int check_name(const parley_stanza_parser *p, const char *name, size_t *len)
{
    size_t n = strnlen(name, over(p->lim.max_name));
    if (n > p->lim.max_name)
        return PARLEY_ERR_STANZA_NAME_TOO_LONG;
    if (!ps_name_ok(name, n))
        return PARLEY_ERR_STANZA_NAME;
    *len = n;
    return PARLEY_OK;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    parley_stanza_parser *p = ud;
    int rc = PARLEY_OK;
    size_t name_len;
    parley_stanza *parent = p->depth > 0 ? p->stack[p->depth - 1] : NULL;
    parley_stanza *e = NULL;
    if (p->rc != PARLEY_OK)
        return;
    if (p->wrapper) {
        p->wrapper = 0;
        return;
    }
    GUARD(check_name(p, name, &name_len));
    ENSURE(p->depth < p->max_depth, PARLEY_ERR_STANZA_TOO_DEEP);
    ENSURE(p->elements < p->lim.max_elements, PARLEY_ERR_STANZA_TOO_MANY_ELEMENTS);
    size_t natts = 0;
    while (atts[2 * natts] != NULL)
        natts++;
    ENSURE(natts <= p->lim.max_attrs, PARLEY_ERR_STANZA_TOO_MANY_ATTRS);

    if (parent == NULL) {
        /* The arena's first chunk sized from the frame: usually the only one. */
        GUARD(ps_tree_new(&p->root, name, name_len, p->len + p->len / 2 + 512));
        e = p->root;
    } else {
        ENSURE(parent->child_count < p->lim.max_children, PARLEY_ERR_STANZA_TOO_MANY_CHILDREN);
        /* Text only in leaves; whitespace before a child is layout, dropped. */
        ENSURE(!p->text_mixed, PARLEY_ERR_STANZA_MIXED);
        e = ps_element_new(parent->tree, name, name_len);
        ENSURE(e != NULL, PARLEY_ERR_NOMEM);
        ps_link_child(parent, e);
    }
    for (size_t i = 0; i < natts; i++) {
        const char *an = atts[2 * i], *av = atts[2 * i + 1];
        size_t an_len;
        GUARD(check_name(p, an, &an_len));
        size_t av_len = strnlen(av, over(p->lim.max_attr_len));
        ENSURE(av_len <= p->lim.max_attr_len, PARLEY_ERR_STANZA_ATTR_TOO_LONG);
        GUARD(ps_attr_append(e, an, an_len, av, av_len));
    }
    p->stack[p->depth++] = e;
    p->elements++;
    pbuf_reset(&p->text);
    p->text_mixed = 0;
out:
    if (rc != PARLEY_OK)
        fail(p, rc);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    parley_stanza_parser *p = ud;
    int rc = PARLEY_OK;
    (void)name; /* expat has matched it against the start tag */
    if (p->rc != PARLEY_OK || p->depth == 0)
        return;
    parley_stanza *e = p->stack[--p->depth];
    if (e->first == NULL && p->text.len > 0) {
        char *t = ps_arena_strndup(&e->tree->arena, (const char *)p->text.data, p->text.len);
        ENSURE(t != NULL, PARLEY_ERR_NOMEM);
        e->text = t;
        e->text_len = p->text.len;
    }
    pbuf_reset(&p->text);
    p->text_mixed = 0;
    if (p->depth == 0) {
        p->closed = 1;
        /* One frame, one element: the root's end tag must be the last byte. */
        XML_Index at = XML_GetCurrentByteIndex(p->xp);
        int count = XML_GetCurrentByteCount(p->xp);
        ENSURE(at >= 0 && count >= 0 && (uint64_t)at + (uint64_t)count == p->base + p->len,
               PARLEY_ERR_STANZA_TRAILING);
    }
out:
    if (rc != PARLEY_OK)
        fail(p, rc);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    parley_stanza_parser *p = ud;
    int rc = PARLEY_OK;
    if (p->rc != PARLEY_OK || p->depth == 0 || len <= 0)
        return;
    size_t n = (size_t)len;
    parley_stanza *e = p->stack[p->depth - 1];
    if (e->first != NULL) {
        /* After a child: only layout whitespace may follow. */
        ENSURE(all_space(s, n), PARLEY_ERR_STANZA_MIXED);
        goto out;
    }
    ENSURE(pbuf_append(&p->text, s, n) == PARLEY_OK, PARLEY_ERR_STANZA_TEXT_TOO_LONG);
    if (!p->text_mixed && !all_space(s, n))
        p->text_mixed = 1;
out:
    if (rc != PARLEY_OK)
        fail(p, rc);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    fail(ud, PARLEY_ERR_STANZA_DTD);
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_pe, const XML_Char *value,
                                   int value_len, const XML_Char *base, const XML_Char *sysid,
                                   const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_pe, (void)value, (void)value_len, (void)base;
    (void)sysid, (void)pubid, (void)notation;
    fail(ud, PARLEY_ERR_STANZA_ENTITY);
}

static void XMLCALL on_skipped_entity(void *ud, const XML_Char *name, int is_pe)
{
    (void)name, (void)is_pe;
    fail(ud, PARLEY_ERR_STANZA_ENTITY);
}

static int XMLCALL on_external_entity(XML_Parser xp, const XML_Char *context, const XML_Char *base,
                                      const XML_Char *sysid, const XML_Char *pubid)
{
    (void)xp, (void)context, (void)base, (void)sysid, (void)pubid;
    return XML_STATUS_ERROR; /* never fetched */
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target, (void)data;
    fail(ud, PARLEY_ERR_STANZA_PI);
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    fail(ud, PARLEY_ERR_STANZA_COMMENT);
}

static void XMLCALL on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                int standalone)
{
    (void)version, (void)encoding, (void)standalone;
    fail(ud, PARLEY_ERR_STANZA_XML_DECL);
}

/* Handlers and protections, again after every XML_ParserReset (which clears them). */
static void setup(parley_stanza_parser *p)
{
    XML_Parser xp = p->xp;
    XML_SetUserData(xp, p);
    XML_SetElementHandler(xp, on_start, on_end);
    XML_SetCharacterDataHandler(xp, on_text);
    XML_SetStartDoctypeDeclHandler(xp, on_doctype);
    XML_SetEntityDeclHandler(xp, on_entity_decl);
    XML_SetSkippedEntityHandler(xp, on_skipped_entity);
    XML_SetExternalEntityRefHandler(xp, on_external_entity);
    XML_SetProcessingInstructionHandler(xp, on_pi);
    XML_SetCommentHandler(xp, on_comment);
    XML_SetXmlDeclHandler(xp, on_xml_decl);
    XML_SetParamEntityParsing(xp, XML_PARAM_ENTITY_PARSING_NEVER);
    if (p->salt != 0)
        XML_SetHashSalt(xp, p->salt);
#ifdef PS_HAVE_BILLION_LAUGHS
    /* Unreachable with DTDs refused, but kept tight in case that ever changes. */
    (void)XML_SetBillionLaughsAttackProtectionMaximumAmplification(xp, 2.0f);
    (void)XML_SetBillionLaughsAttackProtectionActivationThreshold(xp, 1024);
#endif
}

int parley_stanza_parser_new(parley_stanza_parser **out, const parley_stanza_limits *limits)
{
    PARLEY_MISUSE(out != NULL);
    int rc;
    parley_stanza_parser *p = calloc(1, sizeof *p);
    *out = NULL;
    ENSURE(p != NULL, PARLEY_ERR_NOMEM);
    if (limits != NULL)
        p->lim = *limits;
    else
        parley_stanza_limits_default(&p->lim);
    ENSURE(p->lim.max_size > 0 && p->lim.max_depth > 0, PARLEY_ERR_INVALID_ARG);
    p->max_depth = p->lim.max_depth < PARLEY_STANZA_MAX_BUILD_DEPTH ? p->lim.max_depth
                                                                    : PARLEY_STANZA_MAX_BUILD_DEPTH;
    p->stack = calloc(p->max_depth, sizeof *p->stack);
    ENSURE(p->stack != NULL, PARLEY_ERR_NOMEM);
    p->xp = XML_ParserCreate("UTF-8");
    ENSURE(p->xp != NULL, PARLEY_ERR_NOMEM);
    /* expat salts its name hashes against collision flooding, and left to
     * itself draws a new salt from the kernel on every reset: one system
     * call per frame. One secret salt per parser (per connection) keeps the
     * protection at a fraction of the cost. It is not key material. */
    if (getrandom(&p->salt, sizeof p->salt, GRND_NONBLOCK) != (ssize_t)sizeof p->salt)
        p->salt = 0;
    pbuf_init(&p->text, p->lim.max_text);
    *out = p;
    p = NULL;
    rc = PARLEY_OK;
out:
    parley_stanza_parser_free(p);
    return rc;
}

void parley_stanza_parser_free(parley_stanza_parser *p)
{
    if (p == NULL)
        return;
    if (p->xp != NULL)
        XML_ParserFree(p->xp);
    pbuf_free(&p->text);
    free(p->stack);
    free(p);
}

/*
 * Is the name at r's cursor (up to a space, `/`, `>` or `=`) illegal? With
 * classify_name_error below, used only to label an error expat has already
 * found, so that `<1a>` or `<a 1b="">` reads as PARLEY_ERR_STANZA_NAME
 * rather than a bare syntax error.
 */
static int bad_name_at(preader *r)
{
    uint8_t c;
    const uint8_t *start = r->data + r->pos;
    size_t n = 0;
    while (preader_u8(r, &c) == PARLEY_OK) {
        if (is_xml_space((char)c) || c == '/' || c == '>' || c == '=') {
            r->pos--;
            break;
        }
        n++;
    }
    return n == 0 || !ps_name_ok((const char *)start, n);
}

static int classify_name_error(const parley_stanza_parser *p, XML_Index at)
{
    preader r;
    uint8_t c = 0, q;
    if (at < 0 || (size_t)at >= p->len)
        return 0;
    /* expat points at the offending byte, past the `<` of a tag whose name is
     * bad; the tag it is in starts at the last `<` before it (attribute values
     * cannot hold a raw `<`). */
    if (at == 0)
        return 0;
    size_t tag = (size_t)at - 1;
    while (tag > 0 && p->data[tag] != '<')
        tag--;
    preader_init(&r, p->data, p->len);
    r.pos = tag;
    if (preader_u8(&r, &c) != PARLEY_OK || c != '<' || preader_u8(&r, &c) != PARLEY_OK)
        return 0;
    if (c == '!' || c == '?')
        return 0;
    if (c == '/')
        return bad_name_at(&r);
    r.pos--;
    if (bad_name_at(&r))
        return 1;
    /* Attribute names: name = "value" pairs up to the end of the tag. */
    for (;;) {
        do {
            if (preader_u8(&r, &c) != PARLEY_OK)
                return 0;
        } while (is_xml_space((char)c));
        if (c == '/' || c == '>')
            return 0;
        r.pos--;
        if (bad_name_at(&r))
            return 1;
        do {
            if (preader_u8(&r, &c) != PARLEY_OK)
                return 0;
        } while (is_xml_space((char)c) || c == '=');
        if (c != '"' && c != '\'')
            return 0;
        q = c;
        do {
            if (preader_u8(&r, &c) != PARLEY_OK)
                return 0;
        } while (c != q);
    }
}

/* expat's verdict, when no handler has given a more precise one. */
static int map_expat_error(const parley_stanza_parser *p, enum XML_Error err)
{
    switch (err) {
    case XML_ERROR_NO_MEMORY:
        return PARLEY_ERR_NOMEM;
    case XML_ERROR_UNCLOSED_TOKEN:
    case XML_ERROR_PARTIAL_CHAR:
    case XML_ERROR_NO_ELEMENTS:
    case XML_ERROR_UNCLOSED_CDATA_SECTION:
        return PARLEY_ERR_STANZA_INCOMPLETE;
    case XML_ERROR_TAG_MISMATCH:
        return PARLEY_ERR_STANZA_TAG_MISMATCH;
    case XML_ERROR_DUPLICATE_ATTRIBUTE:
        return PARLEY_ERR_STANZA_DUPLICATE_ATTR;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_NOT_STANDALONE:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
    case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
        return PARLEY_ERR_STANZA_ENTITY;
    case XML_ERROR_BAD_CHAR_REF:
        return PARLEY_ERR_STANZA_CHAR;
    case XML_ERROR_MISPLACED_XML_PI:
    case XML_ERROR_XML_DECL:
    case XML_ERROR_TEXT_DECL:
        return PARLEY_ERR_STANZA_XML_DECL;
    case XML_ERROR_JUNK_AFTER_DOC_ELEMENT:
        return PARLEY_ERR_STANZA_TRAILING;
    case XML_ERROR_INVALID_TOKEN:
    case XML_ERROR_SYNTAX:
        if (classify_name_error(p, XML_GetCurrentByteIndex(p->xp)))
            return PARLEY_ERR_STANZA_NAME;
        return PARLEY_ERR_STANZA_SYNTAX;
    default:
        return PARLEY_ERR_STANZA_SYNTAX;
    }
}

/* Per-parse state, before each attempt. */
static void begin(parley_stanza_parser *p, const uint8_t *data, size_t len, uint64_t base)
{
    p->data = data;
    p->len = len;
    p->base = base;
    p->rc = PARLEY_OK;
    p->root = NULL;
    p->depth = 0;
    p->elements = 0;
    p->closed = 0;
    p->wrapper = 0;
    p->text_mixed = 0;
    pbuf_reset(&p->text);
}

/* Drops a half-built tree, if any. */
static void discard(parley_stanza_parser *p)
{
    if (p->root != NULL) {
        parley_stanza_free(p->root);
        p->root = NULL;
    }
}

/*
 * The running document. XML_ParserReset costs more than parsing a short
 * stanza (it frees and rebuilds expat's tables, and reads the environment),
 * so frames are fed, one after the other, as children of a wrapper element
 * that stays open: `<s>` then each frame with isFinal false. A frame that
 * parses here went through the same handlers and limits as alone, and its
 * root's end tag is its last byte (on_end checks that against the frame's
 * place in the document), so expat holds nothing back between frames.
 * Anything else (an error from expat or a handler, a frame that does not
 * close its root) ends the document: the frame is parsed again alone for
 * the verdict, which is then exactly what it always was.
 *
 * expat keeps every distinct element and attribute name of a document, so
 * the document is started over every PS_STREAM_FRAMES frames or
 * PS_STREAM_BYTES bytes: what it can hold is bounded by those, whatever
 * names the frames use.
 */
#define PS_STREAM_FRAMES 64u
#define PS_STREAM_BYTES  (256u * 1024u)

static const char ps_wrapper[] = "<s>";

/* PARLEY_OK with the tree in p->root, or < 0 with the document ended. */
static int parse_in_stream(parley_stanza_parser *p, const uint8_t *data, size_t len)
{
    if (!p->streaming || p->stream_frames >= PS_STREAM_FRAMES ||
        p->stream_bytes > PS_STREAM_BYTES) {
        p->streaming = 0;
        if (XML_ParserReset(p->xp, "UTF-8") != XML_TRUE)
            return PARLEY_ERR_NOMEM;
        setup(p);
        begin(p, NULL, 0, 0);
        p->wrapper = 1;
        if (XML_Parse(p->xp, ps_wrapper, (int)(sizeof ps_wrapper - 1), XML_FALSE) !=
                XML_STATUS_OK ||
            p->wrapper || p->rc != PARLEY_OK)
            return PARLEY_ERR_STANZA_SYNTAX;
        p->stream_bytes = sizeof ps_wrapper - 1;
        p->stream_frames = 0;
        p->streaming = 1;
    }
    begin(p, data, len, p->stream_bytes);
    p->stream_frames++;
    p->stream_bytes += len;
    enum XML_Status st = XML_Parse(p->xp, (const char *)data, (int)len, XML_FALSE);
    if (st != XML_STATUS_OK || p->rc != PARLEY_OK || !p->closed || p->root == NULL) {
        p->streaming = 0;
        discard(p);
        return p->rc != PARLEY_OK ? p->rc : PARLEY_ERR_STANZA_SYNTAX;
    }
    return PARLEY_OK;
}

/* The frame as a document of its own: the verdict on every refusal. */
static int parse_alone(parley_stanza_parser *p, const uint8_t *data, size_t len)
{
    int rc;
    p->streaming = 0;
    ENSURE(XML_ParserReset(p->xp, "UTF-8") == XML_TRUE, PARLEY_ERR_NOMEM);
    setup(p);
    begin(p, data, len, 0);
    enum XML_Status st = XML_Parse(p->xp, (const char *)data, (int)len, XML_TRUE);
    if (p->rc != PARLEY_OK) {
        rc = p->rc;
        goto out;
    }
    if (st != XML_STATUS_OK) {
        rc = map_expat_error(p, XML_GetErrorCode(p->xp));
        goto out;
    }
    ENSURE(p->closed && p->root != NULL, PARLEY_ERR_STANZA_INCOMPLETE);
    rc = PARLEY_OK;
out:
    if (rc != PARLEY_OK)
        discard(p);
    return rc;
}

/* stream: try the running document first (parse_in_stream). */
static int parse_frame(parley_stanza_parser *p, const uint8_t *data, size_t len,
                       parley_stanza **out, int stream)
{
    PARLEY_MISUSE(p != NULL && out != NULL && (data != NULL || len == 0));
    int rc;
    *out = NULL;
    begin(p, data, len, 0);

    ENSURE(len <= p->lim.max_size && len <= (size_t)INT32_MAX, PARLEY_ERR_STANZA_TOO_LARGE);
    GUARD(ps_utf8_check(data, len));
    /* No byte order mark, no leading space: the frame starts with the root. */
    ENSURE(len > 0 && data[0] == '<', PARLEY_ERR_STANZA_SYNTAX);

    /* A frame opening with `<!` or `<?` (a DOCTYPE, a comment, a declaration)
     * is refused, and alone it is refused by its own handler. */
    rc = PARLEY_ERR_STANZA_SYNTAX;
    if (stream && len > 1 && data[1] != '!' && data[1] != '?')
        rc = parse_in_stream(p, data, len);
    if (rc != PARLEY_OK)
        GUARD(parse_alone(p, data, len));
    *out = p->root;
    p->root = NULL;
    rc = PARLEY_OK;
out:
    discard(p);
    pbuf_reset(&p->text);
    p->data = NULL;
    p->len = 0;
    return rc;
}

int parley_stanza_parser_parse(parley_stanza_parser *p, const uint8_t *data, size_t len,
                               parley_stanza **out)
{
    return parse_frame(p, data, len, out, 1);
}

int ps_parser_parse_alone(parley_stanza_parser *p, const uint8_t *data, size_t len,
                          parley_stanza **out)
{
    return parse_frame(p, data, len, out, 0);
}

int parley_stanza_parse(parley_stanza **out, const uint8_t *data, size_t len,
                        const parley_stanza_limits *limits)
{
    PARLEY_MISUSE(out != NULL);
    int rc;
    parley_stanza_parser *p = NULL;
    *out = NULL;
    GUARD(parley_stanza_parser_new(&p, limits));
    GUARD(parley_stanza_parser_parse(p, data, len, out));
    rc = PARLEY_OK;
out:
    parley_stanza_parser_free(p);
    return rc;
}
