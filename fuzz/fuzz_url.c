/* libFuzzer target: URLs and hosts from outside (src/base/url.h): every key
 * id, actor, inbox and object URL a peer sends goes through aim_url_parse,
 * and the SSRF guard and the origin checks (threats.md A16) through the
 * host and origin helpers. The input is split at its first NUL into two
 * strings a and b. For each that parses: its formatted form parses again
 * to an equal URL, its authority, origin and target build, and a URL is
 * of its own origin. aim_host_parse runs on a as an authority. Nothing may
 * crash, leak or read out of bounds. */
#include <stdlib.h>
#include <string.h>

#include "base/url.h"

static void one(const char *s)
{
	struct aim_url u, v;
	if (aim_url_parse(s, &u) != 0)
		return;
	struct aim_buf f, t;
	aim_buf_init(&f, 1 << 16);
	aim_buf_init(&t, 1 << 16);
	if (aim_url_format(&u, &f) != 0)
		abort(); /* a parsed URL always formats */
	if (aim_url_parse((const char *)f.data, &v) != 0)
		abort(); /* and its formatted form parses again */
	if (!aim_url_same_origin(&u, &v) || !aim_url_equal(s, (const char *)f.data))
		abort(); /* to the same URL */
	aim_url_free(&v);
	(void)aim_url_authority(&u, &t);
	t.len = 0;
	(void)aim_url_origin(&u, &t);
	t.len = 0;
	(void)aim_url_target(&u, &t);
	(void)aim_url_valid(s);
	aim_buf_free(&f);
	aim_buf_free(&t);
	aim_url_free(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a = malloc(size + 1);
	memcpy(a, data, size);
	a[size] = 0;
	const char *b = memchr(data, 0, size) ? a + strlen(a) + 1 : "";
	one(a);
	one(b);
	(void)aim_url_same_host(a, b);
	(void)aim_url_origin_equal(a, b);
	struct aim_buf host;
	aim_buf_init(&host, 1 << 16);
	uint16_t port = 0;
	(void)aim_host_parse(a, &host, &port);
	aim_buf_free(&host);
	free(a);
	return 0;
}
