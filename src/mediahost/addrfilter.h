/*
 * The media proxy's address filter (docs/media.md "Address filter"): which
 * IP addresses the gatekeeper may connect to on a user's behalf. Only
 * public unicast addresses pass; loopback passes too when the embedding
 * program sets allow_loopback (tests only). Addresses that embed an IPv4
 * address (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64, 6to4,
 * Teredo) are judged by the embedded address as well.
 */
#ifndef PARLEY_MEDIAHOST_ADDRFILTER_H
#define PARLEY_MEDIAHOST_ADDRFILTER_H

#include <stdint.h>
#include <sys/socket.h>

typedef enum {
    PMH_ADDR_PUBLIC = 0,
    PMH_ADDR_LOOPBACK,
    PMH_ADDR_PRIVATE,       /* RFC 1918, fc00::/7, fec0::/10 */
    PMH_ADDR_LINK_LOCAL,    /* 169.254/16, fe80::/10 */
    PMH_ADDR_CGNAT,         /* 100.64/10 (RFC 6598) */
    PMH_ADDR_MULTICAST,     /* 224/4, ff00::/8 */
    PMH_ADDR_BROADCAST,     /* 255.255.255.255 */
    PMH_ADDR_UNSPECIFIED,   /* 0/8, :: */
    PMH_ADDR_DOCUMENTATION, /* TEST-NETs, 2001:db8::/32, 3fff::/20 */
    PMH_ADDR_RESERVED,      /* every other special-purpose range */
} pmh_addr_class;

pmh_addr_class pmh_addr_classify4(const uint8_t a[4]);
pmh_addr_class pmh_addr_classify6(const uint8_t a[16]);
/* A stable lower-case name ("loopback", "private", ...). */
const char *pmh_addr_class_name(pmh_addr_class c);

/* 1 when the proxy may connect to this address, else 0 (also for a family
 * other than AF_INET/AF_INET6). */
int pmh_addr_allowed(const struct sockaddr *sa, int allow_loopback);
/* The same for a numeric address string; 0 when it does not parse. */
int pmh_addr_allowed_str(const char *ip, int allow_loopback);
/* The class of a numeric address string; PMH_ADDR_RESERVED if unparsable. */
pmh_addr_class pmh_addr_classify_str(const char *ip);

#endif
