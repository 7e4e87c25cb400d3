/* Unit tests of the Server-Sent Events parser (src/client/core_events.c,
 * client.h "Following the event stream"): events split across pieces at
 * every byte, CRLF / LF / CR line ends (a CRLF split between pieces),
 * comments, multi-line data, the default type, the id kept across events,
 * an event without data dispatching nothing, the callback stopping the
 * feed, and a line over the ceiling refused. Pure: no I/O. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "client/client.h"

struct got {
	char log[4096];
	int n;
	int stop_at;
};

static int on_event(void *arg, const char *type, const char *id, struct aim_bytes data)
{
	struct got *g = arg;
	size_t l = strlen(g->log);
	snprintf(g->log + l, sizeof g->log - l, "[%s|%s|%.*s]", type, id, (int)data.len,
		 (const char *)data.p);
	g->n++;
	return g->stop_at && g->n == g->stop_at ? 7 : 0;
}

static const char STREAM[] = ": stream open\r\nretry: 3000\r\n\r\n"
			     "id: 5\nevent: activity\ndata: {\"a\":1}\n\n"
			     ": keepalive\n\n"
			     "data:first\rdata: second\r\r"
			     "id: 9\r\nevent: activity\r\ndata:  two spaces\r\n\r\n"
			     "event: nothing\nid: 10\n\n"
			     "data\n\n";
static const char EXPECT[] = "[activity|5|{\"a\":1}]"
			     "[message|5|first\nsecond]"
			     "[activity|9| two spaces]"
			     "[message|10|]";

static void test_whole_and_bytewise(void **state)
{
	(void)state;
	/* all at once, then in pieces of every size from 1 to 7 bytes */
	for (size_t piece = 0; piece <= 7; piece++) {
		struct client_sse s;
		client_sse_init(&s);
		struct got g = { 0 };
		size_t n = sizeof STREAM - 1;
		if (piece == 0) {
			assert_int_equal(client_sse_feed(&s, (const uint8_t *)STREAM, n, on_event, &g),
					 0);
		} else {
			for (size_t i = 0; i < n; i += piece) {
				size_t k = n - i < piece ? n - i : piece;
				assert_int_equal(client_sse_feed(&s, (const uint8_t *)STREAM + i, k,
								 on_event, &g),
						 0);
			}
		}
		assert_string_equal(g.log, EXPECT);
		assert_string_equal(s.last_id, "10");
		client_sse_free(&s);
	}
}

static void test_stop_and_limit(void **state)
{
	(void)state;
	struct client_sse s;
	client_sse_init(&s);
	struct got g = { .stop_at = 1 };
	/* the callback's non-zero answer stops the feed and is returned */
	assert_int_equal(client_sse_feed(&s, (const uint8_t *)STREAM, sizeof STREAM - 1, on_event,
					 &g),
			 7);
	assert_int_equal(g.n, 1);
	client_sse_free(&s);
	/* an endless line */
	client_sse_init(&s);
	size_t big = (size_t)1 << 20;
	uint8_t *p = malloc(big);
	memset(p, 'x', big);
	int rc = 0;
	for (size_t i = 0; i <= CLIENT_SSE_LINE_MAX / big && rc == 0; i++)
		rc = client_sse_feed(&s, p, big, on_event, &g);
	assert_int_not_equal(rc, 0);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	aim_errclear();
	free(p);
	client_sse_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_and_bytewise),
		cmocka_unit_test(test_stop_and_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
