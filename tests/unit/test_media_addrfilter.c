/*
 * The media proxy's address filter (src/mediahost/addrfilter.c), as a
 * table; nothing here connects anywhere.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "check.h"
#include "mediahost/addrfilter.h"

static const struct {
    const char *ip;
    pmh_addr_class cls;
} table[] = {
    /* IPv4 */
    {"0.0.0.0", PMH_ADDR_UNSPECIFIED},
    {"0.1.2.3", PMH_ADDR_UNSPECIFIED},
    {"10.0.0.1", PMH_ADDR_PRIVATE},
    {"10.255.255.255", PMH_ADDR_PRIVATE},
    {"100.64.0.1", PMH_ADDR_CGNAT},
    {"100.127.255.254", PMH_ADDR_CGNAT},
    {"100.128.0.1", PMH_ADDR_PUBLIC},
    {"100.63.255.255", PMH_ADDR_PUBLIC},
    {"127.0.0.1", PMH_ADDR_LOOPBACK},
    {"127.255.1.2", PMH_ADDR_LOOPBACK},
    {"169.254.169.254", PMH_ADDR_LINK_LOCAL}, /* cloud metadata */
    {"172.16.0.1", PMH_ADDR_PRIVATE},
    {"172.31.255.255", PMH_ADDR_PRIVATE},
    {"172.15.255.255", PMH_ADDR_PUBLIC},
    {"172.32.0.0", PMH_ADDR_PUBLIC},
    {"192.0.0.8", PMH_ADDR_RESERVED},
    {"192.0.2.1", PMH_ADDR_DOCUMENTATION},
    {"192.88.99.1", PMH_ADDR_RESERVED},
    {"192.168.1.1", PMH_ADDR_PRIVATE},
    {"198.18.0.1", PMH_ADDR_RESERVED},
    {"198.19.255.255", PMH_ADDR_RESERVED},
    {"198.51.100.7", PMH_ADDR_DOCUMENTATION},
    {"203.0.113.9", PMH_ADDR_DOCUMENTATION},
    {"224.0.0.1", PMH_ADDR_MULTICAST},
    {"239.255.255.250", PMH_ADDR_MULTICAST},
    {"240.0.0.1", PMH_ADDR_RESERVED},
    {"255.255.255.255", PMH_ADDR_BROADCAST},
    {"1.1.1.1", PMH_ADDR_PUBLIC},
    {"8.8.8.8", PMH_ADDR_PUBLIC},
    {"93.184.216.34", PMH_ADDR_PUBLIC},
    {"223.255.255.255", PMH_ADDR_PUBLIC},
    /* IPv6 */
    {"::", PMH_ADDR_UNSPECIFIED},
    {"::1", PMH_ADDR_LOOPBACK},
    {"fc00::1", PMH_ADDR_PRIVATE},
    {"fd12:3456::1", PMH_ADDR_PRIVATE},
    {"fec0::1", PMH_ADDR_PRIVATE},
    {"fe80::1", PMH_ADDR_LINK_LOCAL},
    {"febf::1", PMH_ADDR_LINK_LOCAL},
    {"ff02::1", PMH_ADDR_MULTICAST},
    {"ff0e::1", PMH_ADDR_MULTICAST},
    {"2001:db8::1", PMH_ADDR_DOCUMENTATION},
    {"3fff::1", PMH_ADDR_DOCUMENTATION},
    {"100::1", PMH_ADDR_RESERVED},
    {"2001:2::1", PMH_ADDR_RESERVED},
    {"2001:10::1", PMH_ADDR_RESERVED},
    {"64:ff9b:1::1", PMH_ADDR_RESERVED},
    {"4000::1", PMH_ADDR_RESERVED},     /* outside 2000::/3 */
    {"::2", PMH_ADDR_UNSPECIFIED},      /* IPv4-compatible 0.0.0.2 */
    {"2606:4700::1111", PMH_ADDR_PUBLIC},
    {"2a00:1450:4001::1", PMH_ADDR_PUBLIC},
    /* IPv4-mapped, -compatible, -translated */
    {"::ffff:127.0.0.1", PMH_ADDR_LOOPBACK},
    {"::ffff:10.1.2.3", PMH_ADDR_PRIVATE},
    {"::ffff:169.254.169.254", PMH_ADDR_LINK_LOCAL},
    {"::ffff:100.64.1.1", PMH_ADDR_CGNAT},
    {"::ffff:0.0.0.0", PMH_ADDR_UNSPECIFIED},
    {"::ffff:8.8.8.8", PMH_ADDR_PUBLIC},
    {"::127.0.0.1", PMH_ADDR_LOOPBACK},
    {"::192.168.0.1", PMH_ADDR_PRIVATE},
    {"::ffff:0:127.0.0.1", PMH_ADDR_LOOPBACK},
    {"::ffff:0:8.8.4.4", PMH_ADDR_PUBLIC},
    /* NAT64 well-known prefix */
    {"64:ff9b::127.0.0.1", PMH_ADDR_LOOPBACK},
    {"64:ff9b::10.0.0.1", PMH_ADDR_PRIVATE},
    {"64:ff9b::a9fe:a9fe", PMH_ADDR_LINK_LOCAL},
    {"64:ff9b::224.0.0.1", PMH_ADDR_MULTICAST},
    {"64:ff9b::8.8.8.8", PMH_ADDR_PUBLIC},
    /* 6to4: 2002:AABB:CCDD:: */
    {"2002:7f00:1::1", PMH_ADDR_LOOPBACK},
    {"2002:c0a8:101::1", PMH_ADDR_PRIVATE},
    {"2002:a9fe:a9fe::", PMH_ADDR_LINK_LOCAL},
    {"2002:808:808::1", PMH_ADDR_PUBLIC},
    /* Teredo: server 4..7, client inverted at 12..15 */
    {"2001:0:808:808:0:0:80ff:fffe", PMH_ADDR_LOOPBACK}, /* client ~ = 127.0.0.1 */
    {"2001:0:808:808:0:0:f5ff:fefe", PMH_ADDR_PRIVATE},  /* client 10.0.1.1 */
    {"2001:0:a00:1:0:0:f7f7:f7f7", PMH_ADDR_PRIVATE},    /* server 10.0.0.1 */
    {"2001:0:808:808:0:0:f7f7:f7f7", PMH_ADDR_PUBLIC},   /* client 8.8.8.8 */
};

int main(void)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        pmh_addr_class c = pmh_addr_classify_str(table[i].ip);
        if (c != table[i].cls)
            fprintf(stderr, "%s: got %s want %s\n", table[i].ip, pmh_addr_class_name(c),
                    pmh_addr_class_name(table[i].cls));
        CHECK(c == table[i].cls);
        /* only public passes by default; loopback only when allowed */
        CHECK(pmh_addr_allowed_str(table[i].ip, 0) == (table[i].cls == PMH_ADDR_PUBLIC));
        CHECK(pmh_addr_allowed_str(table[i].ip, 1) ==
              (table[i].cls == PMH_ADDR_PUBLIC || table[i].cls == PMH_ADDR_LOOPBACK));
    }
    /* allow_loopback opens loopback only, never private or link-local */
    CHECK(pmh_addr_allowed_str("127.0.0.1", 1) == 1);
    CHECK(pmh_addr_allowed_str("::1", 1) == 1);
    CHECK(pmh_addr_allowed_str("10.0.0.1", 1) == 0);
    CHECK(pmh_addr_allowed_str("169.254.169.254", 1) == 0);
    /* unparsable strings are refused */
    CHECK(pmh_addr_allowed_str("localhost", 1) == 0);
    CHECK(pmh_addr_allowed_str("", 0) == 0);
    CHECK(pmh_addr_allowed_str("1.2.3", 0) == 0);
    CHECK(pmh_addr_allowed_str(NULL, 0) == 0);
    /* through sockaddrs, as the proxy's connect check sees them */
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
    CHECK(pmh_addr_allowed((struct sockaddr *)&s4, 0) == 0);
    CHECK(pmh_addr_allowed((struct sockaddr *)&s4, 1) == 1);
    inet_pton(AF_INET, "9.9.9.9", &s4.sin_addr);
    CHECK(pmh_addr_allowed((struct sockaddr *)&s4, 0) == 1);
    inet_pton(AF_INET6, "::ffff:192.168.0.1", &s6.sin6_addr);
    CHECK(pmh_addr_allowed((struct sockaddr *)&s6, 1) == 0);
    inet_pton(AF_INET6, "2620:fe::fe", &s6.sin6_addr);
    CHECK(pmh_addr_allowed((struct sockaddr *)&s6, 0) == 1);
    struct sockaddr un = {.sa_family = AF_UNIX};
    CHECK(pmh_addr_allowed(&un, 1) == 0);
    CHECK(pmh_addr_allowed(NULL, 1) == 0);
    TEST_MAIN_END();
}
