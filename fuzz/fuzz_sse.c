/* libFuzzer target: the Server-Sent Events parser of the client
 * (src/client/core_events.c, client_sse_feed): the inbox's event stream as
 * the home server (or anything between) sends it. Byte 0 of the input picks
 * where the rest is cut in two; the events dispatched from the two pieces
 * must be exactly those from the whole at once (a stream arrives in any
 * pieces). Nothing may crash, leak or read out of bounds. Seeds:
 * fuzz/seeds/fuzz_sse (a stream as aimd's sse.c writes it). */
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

struct log {
	struct aim_buf b;
};

static int on_event(void *arg, const char *type, const char *id, struct aim_bytes data)
{
	struct log *l = arg;
	/* type, id and data with their lengths: an unambiguous record */
	if (aim_buf_printf(&l->b, "%zu:%s|%zu:%s|%zu:", strlen(type), type, strlen(id), id,
			   data.len) != 0 ||
	    aim_buf_append(&l->b, data.p, data.len) != 0)
		return -1;
	return 0;
}

static int run(const uint8_t *p, size_t n, size_t cut, struct log *l)
{
	struct client_sse s;
	client_sse_init(&s);
	aim_buf_init(&l->b, (size_t)64 << 20);
	int rc = client_sse_feed(&s, p, cut, on_event, l);
	if (rc == 0)
		rc = client_sse_feed(&s, p + cut, n - cut, on_event, l);
	client_sse_free(&s);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	size_t cut = n ? (size_t)data[0] * n / 255 : 0;
	struct log whole, split;
	int a = run(p, n, n, &whole);
	int b = run(p, n, cut, &split);
	if (a != b || (a == 0 && (whole.b.len != split.b.len ||
				  (whole.b.len &&
				   memcmp(whole.b.data, split.b.data, whole.b.len) != 0))))
		abort(); /* pieces change nothing */
	aim_buf_free(&whole.b);
	aim_buf_free(&split.b);
	aim_errclear();
	return 0;
}
