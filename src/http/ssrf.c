/*
 * The SSRF address classifier (threats.md A17): which addresses a server
 * may connect to on behalf of a remote party. Only globally routable
 * unicast addresses are public; IPv6 addresses that embed an IPv4 address
 * (IPv4-mapped, 6to4) take the class of the embedded address.
 */
#include "http/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

struct v4_range {
	uint8_t net[4];
	unsigned bits;
	enum ssrf_class cls;
};

/* IANA IPv4 Special-Purpose Address Registry, plus multicast and 240/4. */
static const struct v4_range v4_ranges[] = {
	{ { 0, 0, 0, 0 }, 8, SSRF_UNSPECIFIED },          /* "this network" */
	{ { 10, 0, 0, 0 }, 8, SSRF_PRIVATE },             /* RFC 1918 */
	{ { 100, 64, 0, 0 }, 10, SSRF_CGNAT },            /* RFC 6598 */
	{ { 127, 0, 0, 0 }, 8, SSRF_LOOPBACK },
	{ { 169, 254, 0, 0 }, 16, SSRF_LINK_LOCAL },      /* incl. 169.254.169.254 */
	{ { 172, 16, 0, 0 }, 12, SSRF_PRIVATE },          /* RFC 1918 */
	{ { 192, 0, 0, 0 }, 24, SSRF_RESERVED },          /* IETF protocol assignments */
	{ { 192, 0, 2, 0 }, 24, SSRF_DOCUMENTATION },     /* TEST-NET-1 */
	{ { 192, 88, 99, 0 }, 24, SSRF_RESERVED },        /* 6to4 relay anycast */
	{ { 192, 168, 0, 0 }, 16, SSRF_PRIVATE },         /* RFC 1918 */
	{ { 198, 18, 0, 0 }, 15, SSRF_RESERVED },         /* benchmarking */
	{ { 198, 51, 100, 0 }, 24, SSRF_DOCUMENTATION },  /* TEST-NET-2 */
	{ { 203, 0, 113, 0 }, 24, SSRF_DOCUMENTATION },   /* TEST-NET-3 */
	{ { 224, 0, 0, 0 }, 4, SSRF_MULTICAST },
	{ { 255, 255, 255, 255 }, 32, SSRF_BROADCAST },   /* before 240/4 */
	{ { 240, 0, 0, 0 }, 4, SSRF_RESERVED },
};

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (net[full] & mask);
}

enum ssrf_class http_ssrf_classify_v4(const uint8_t a[4])
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(v4_ranges); i++)
		if (prefix_match(a, v4_ranges[i].net, v4_ranges[i].bits))
			return v4_ranges[i].cls;
	return SSRF_PUBLIC;
}

struct v6_range {
	uint8_t net[16];
	unsigned bits;
	enum ssrf_class cls;
};

/* Checked in order; the first match wins. Embedded-IPv4 forms are handled
 * before this table. */
static const struct v6_range v6_ranges[] = {
	{ { 0 }, 128, SSRF_UNSPECIFIED },                                   /* :: */
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128, SSRF_LOOPBACK }, /* ::1 */
	{ { 0x00, 0x64, 0xff, 0x9b }, 96, SSRF_NAT64 },                     /* 64:ff9b::/96 */
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, SSRF_NAT64 },         /* 64:ff9b:1::/48 */
	{ { 0x01, 0x00 }, 64, SSRF_RESERVED },                              /* 100::/64 discard */
	{ { 0x20, 0x01, 0x00, 0x00 }, 32, SSRF_TEREDO },                    /* 2001::/32 */
	{ { 0x20, 0x01, 0x00, 0x02, 0x00, 0x00 }, 48, SSRF_RESERVED },      /* benchmarking */
	{ { 0x20, 0x01, 0x00, 0x10 }, 28, SSRF_RESERVED },                  /* ORCHID */
	{ { 0x20, 0x01, 0x00, 0x20 }, 28, SSRF_RESERVED },                  /* ORCHIDv2 */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, SSRF_DOCUMENTATION },             /* 2001:db8::/32 */
	{ { 0x3f, 0xff }, 20, SSRF_DOCUMENTATION },                         /* 3fff::/20 */
	{ { 0xfc }, 7, SSRF_PRIVATE },                                      /* ULA */
	{ { 0xfe, 0x80 }, 10, SSRF_LINK_LOCAL },
	{ { 0xfe, 0xc0 }, 10, SSRF_RESERVED },                              /* site-local */
	{ { 0xff }, 8, SSRF_MULTICAST },
};

enum ssrf_class http_ssrf_classify_v6(const uint8_t a[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	/* ::ffff:0:0/96 IPv4-mapped: the embedded address decides */
	if (memcmp(a, mapped, 12) == 0)
		return http_ssrf_classify_v4(a + 12);
	/* 2002::/16 6to4: bits 16..47 are the IPv4 address of the relay */
	if (a[0] == 0x20 && a[1] == 0x02)
		return http_ssrf_classify_v4(a + 2);
	for (size_t i = 0; i < AIM_ARRAY_LEN(v6_ranges); i++)
		if (prefix_match(a, v6_ranges[i].net, v6_ranges[i].bits))
			return v6_ranges[i].cls;
	/* only 2000::/3 is allocated global unicast; the rest (incl. the
	 * deprecated IPv4-compatible ::/96 and ::ffff:0:0:0/96) is reserved */
	if ((a[0] & 0xe0) != 0x20)
		return SSRF_RESERVED;
	return SSRF_PUBLIC;
}

enum ssrf_class http_ssrf_classify(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(&sin, sa, sizeof sin);
		uint8_t a[4];
		memcpy(a, &sin.sin_addr, 4);
		return http_ssrf_classify_v4(a);
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, sa, sizeof sin6);
		return http_ssrf_classify_v6(sin6.sin6_addr.s6_addr);
	}
	return SSRF_RESERVED;
}

int http_ssrf_classify_str(const char *addr, enum ssrf_class *out)
{
	uint8_t a[16];
	if (inet_pton(AF_INET, addr, a) == 1) {
		*out = http_ssrf_classify_v4(a);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, a) == 1) {
		*out = http_ssrf_classify_v6(a);
		return 0;
	}
	return aim_fail(AIM_ERR_DECODE, "ssrf: not a numeric address");
}

const char *http_ssrf_class_name(enum ssrf_class c)
{
	switch (c) {
	case SSRF_PUBLIC: return "public";
	case SSRF_UNSPECIFIED: return "unspecified";
	case SSRF_LOOPBACK: return "loopback";
	case SSRF_PRIVATE: return "private";
	case SSRF_LINK_LOCAL: return "link-local";
	case SSRF_CGNAT: return "shared (CGNAT)";
	case SSRF_MULTICAST: return "multicast";
	case SSRF_BROADCAST: return "broadcast";
	case SSRF_DOCUMENTATION: return "documentation";
	case SSRF_RESERVED: return "reserved";
	case SSRF_NAT64: return "NAT64";
	case SSRF_TEREDO: return "Teredo";
	}
	return "unknown";
}

bool http_ssrf_allowed(enum ssrf_class c, bool allow_private, bool allow_loopback)
{
	if (c == SSRF_PUBLIC)
		return true;
	if (c == SSRF_LOOPBACK)
		return allow_private || allow_loopback;
	/* multicast and broadcast are never unicast HTTP peers */
	if (c == SSRF_MULTICAST || c == SSRF_BROADCAST)
		return false;
	return allow_private;
}
