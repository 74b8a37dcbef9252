/*
 * Address filter for the media proxy (docs/media.md "Address filter").
 * Ranges from the IANA IPv4 and IPv6 Special-Purpose Address Registries
 * (RFC 6890 and updates). IPv6 is allowed only inside 2000::/3 (global
 * unicast) and outside its special blocks; forms that carry an IPv4
 * address are judged by that address.
 */
#include "mediahost/addrfilter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

typedef struct {
    uint32_t net;
    unsigned bits;
    pmh_addr_class cls;
} v4_range;

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static const v4_range v4_ranges[] = {
    {IP4(255, 255, 255, 255), 32, PMH_ADDR_BROADCAST},
    {IP4(0, 0, 0, 0), 8, PMH_ADDR_UNSPECIFIED},        /* "this network" */
    {IP4(10, 0, 0, 0), 8, PMH_ADDR_PRIVATE},
    {IP4(100, 64, 0, 0), 10, PMH_ADDR_CGNAT},
    {IP4(127, 0, 0, 0), 8, PMH_ADDR_LOOPBACK},
    {IP4(169, 254, 0, 0), 16, PMH_ADDR_LINK_LOCAL},
    {IP4(172, 16, 0, 0), 12, PMH_ADDR_PRIVATE},
    {IP4(192, 0, 0, 0), 24, PMH_ADDR_RESERVED},        /* IETF protocol assignments */
    {IP4(192, 0, 2, 0), 24, PMH_ADDR_DOCUMENTATION},   /* TEST-NET-1 */
    {IP4(192, 31, 196, 0), 24, PMH_ADDR_RESERVED},     /* AS112-v4 */
    {IP4(192, 52, 193, 0), 24, PMH_ADDR_RESERVED},     /* AMT */
    {IP4(192, 88, 99, 0), 24, PMH_ADDR_RESERVED},      /* 6to4 relay anycast */
    {IP4(192, 168, 0, 0), 16, PMH_ADDR_PRIVATE},
    {IP4(192, 175, 48, 0), 24, PMH_ADDR_RESERVED},     /* direct delegation AS112 */
    {IP4(198, 18, 0, 0), 15, PMH_ADDR_RESERVED},       /* benchmarking */
    {IP4(198, 51, 100, 0), 24, PMH_ADDR_DOCUMENTATION}, /* TEST-NET-2 */
    {IP4(203, 0, 113, 0), 24, PMH_ADDR_DOCUMENTATION}, /* TEST-NET-3 */
    {IP4(224, 0, 0, 0), 4, PMH_ADDR_MULTICAST},
    {IP4(240, 0, 0, 0), 4, PMH_ADDR_RESERVED},         /* future use */
};

pmh_addr_class pmh_addr_classify4(const uint8_t a[4])
{
    uint32_t x = IP4(a[0], a[1], a[2], a[3]);
    for (size_t i = 0; i < sizeof v4_ranges / sizeof v4_ranges[0]; i++) {
        uint32_t mask = v4_ranges[i].bits == 0 ? 0 : 0xffffffffu << (32 - v4_ranges[i].bits);
        if ((x & mask) == v4_ranges[i].net)
            return v4_ranges[i].cls;
    }
    return PMH_ADDR_PUBLIC;
}

/* 1 when the first `bits` bits of a equal those of p. */
static int prefix(const uint8_t a[16], const uint8_t p[16], unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, p, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (p[full] & mask);
}

static pmh_addr_class worst(pmh_addr_class a, pmh_addr_class b)
{
    return a != PMH_ADDR_PUBLIC ? a : b;
}

pmh_addr_class pmh_addr_classify6(const uint8_t a[16])
{
    static const uint8_t zero[16] = {0};
    static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t translated[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const uint8_t nat64[16] = {0x00, 0x64, 0xff, 0x9b};
    static const uint8_t nat64_local[16] = {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};
    static const uint8_t sixto4[16] = {0x20, 0x02};
    static const uint8_t teredo[16] = {0x20, 0x01, 0x00, 0x00};
    static const uint8_t discard[16] = {0x01, 0x00};
    static const uint8_t ietf[16] = {0x20, 0x01, 0x00, 0x00};
    static const uint8_t benchmark[16] = {0x20, 0x01, 0x00, 0x02, 0x00, 0x00};
    static const uint8_t orchid[16] = {0x20, 0x01, 0x00, 0x10};
    static const uint8_t orchid2[16] = {0x20, 0x01, 0x00, 0x20};
    static const uint8_t doc[16] = {0x20, 0x01, 0x0d, 0xb8};
    static const uint8_t doc2[16] = {0x3f, 0xff};
    static const uint8_t ula[16] = {0xfc};
    static const uint8_t linklocal[16] = {0xfe, 0x80};
    static const uint8_t sitelocal[16] = {0xfe, 0xc0};
    static const uint8_t multicast[16] = {0xff};
    static const uint8_t global[16] = {0x20};
    uint8_t v4[4];

    if (memcmp(a, zero, 16) == 0)
        return PMH_ADDR_UNSPECIFIED;
    if (memcmp(a, zero, 15) == 0 && a[15] == 1)
        return PMH_ADDR_LOOPBACK;
    /* ::ffff:a.b.c.d, ::ffff:0:a.b.c.d, ::a.b.c.d and 64:ff9b::a.b.c.d are
     * the IPv4 address itself as far as routing is concerned. */
    if (prefix(a, mapped, 96) || prefix(a, translated, 96) || prefix(a, zero, 96) ||
        prefix(a, nat64, 96))
        return pmh_addr_classify4(a + 12);
    if (prefix(a, nat64_local, 48))
        return PMH_ADDR_RESERVED;
    if (prefix(a, sixto4, 16)) /* 2002:AABB:CCDD::/48 */
        return worst(pmh_addr_classify4(a + 2), PMH_ADDR_PUBLIC);
    if (prefix(a, teredo, 32)) {
        /* 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC, client address inverted */
        for (int i = 0; i < 4; i++)
            v4[i] = (uint8_t)~a[12 + i];
        return worst(pmh_addr_classify4(a + 4), pmh_addr_classify4(v4));
    }
    if (prefix(a, discard, 64))
        return PMH_ADDR_RESERVED;
    if (prefix(a, benchmark, 48) || prefix(a, orchid, 28) || prefix(a, orchid2, 28))
        return PMH_ADDR_RESERVED;
    if (prefix(a, ietf, 23))
        return PMH_ADDR_RESERVED; /* 2001::/23 IETF protocol assignments */
    if (prefix(a, doc, 32) || prefix(a, doc2, 20))
        return PMH_ADDR_DOCUMENTATION;
    if (prefix(a, ula, 7) || prefix(a, sitelocal, 10))
        return PMH_ADDR_PRIVATE;
    if (prefix(a, linklocal, 10))
        return PMH_ADDR_LINK_LOCAL;
    if (prefix(a, multicast, 8))
        return PMH_ADDR_MULTICAST;
    if (!prefix(a, global, 3))
        return PMH_ADDR_RESERVED;
    return PMH_ADDR_PUBLIC;
}

const char *pmh_addr_class_name(pmh_addr_class c)
{
    switch (c) {
    case PMH_ADDR_PUBLIC:
        return "public";
    case PMH_ADDR_LOOPBACK:
        return "loopback";
    case PMH_ADDR_PRIVATE:
        return "private";
    case PMH_ADDR_LINK_LOCAL:
        return "link-local";
    case PMH_ADDR_CGNAT:
        return "cgnat";
    case PMH_ADDR_MULTICAST:
        return "multicast";
    case PMH_ADDR_BROADCAST:
        return "broadcast";
    case PMH_ADDR_UNSPECIFIED:
        return "unspecified";
    case PMH_ADDR_DOCUMENTATION:
        return "documentation";
    case PMH_ADDR_RESERVED:
    default:
        return "reserved";
    }
}

static int class_allowed(pmh_addr_class c, int allow_loopback)
{
    return c == PMH_ADDR_PUBLIC || (allow_loopback && c == PMH_ADDR_LOOPBACK);
}

int pmh_addr_allowed(const struct sockaddr *sa, int allow_loopback)
{
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        uint8_t a[4];
        memcpy(a, &s4->sin_addr, 4);
        return class_allowed(pmh_addr_classify4(a), allow_loopback);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        return class_allowed(pmh_addr_classify6(s6->sin6_addr.s6_addr), allow_loopback);
    }
    return 0;
}

pmh_addr_class pmh_addr_classify_str(const char *ip)
{
    uint8_t a[16];
    if (ip == NULL)
        return PMH_ADDR_RESERVED;
    if (inet_pton(AF_INET, ip, a) == 1)
        return pmh_addr_classify4(a);
    if (inet_pton(AF_INET6, ip, a) == 1)
        return pmh_addr_classify6(a);
    return PMH_ADDR_RESERVED;
}

int pmh_addr_allowed_str(const char *ip, int allow_loopback)
{
    uint8_t a[16];
    if (ip == NULL)
        return 0;
    if (inet_pton(AF_INET, ip, a) != 1 && inet_pton(AF_INET6, ip, a) != 1)
        return 0;
    return class_allowed(pmh_addr_classify_str(ip), allow_loopback);
}
