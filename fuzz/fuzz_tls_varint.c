/* libFuzzer target: the TLS codec core (src/mls/tls.h). Reads varints, vectors
 * and optionals until the input runs out; every value read must re-encode to
 * exactly the bytes it came from, and no read may pass the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mls/tls.h"

static void check(const uint8_t *from, size_t n, const struct aim_buf *b)
{
	if (b->len != n || memcmp(b->data, from, n) != 0) {
		fprintf(stderr, "re-encoding differs: %zu vs %zu bytes\n", b->len, n);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mls_tls_reader r;
	mls_tls_reader_init(&r, data, size);
	while (mls_tls_remaining(&r) > 0) {
		size_t start = r.off;
		uint8_t op;
		if (mls_tls_read_u8(&r, &op) != 0)
			break;
		start = r.off;
		struct aim_buf b;
		aim_buf_init(&b, 1u << 20);
		int rc;
		switch (op % 3) {
		case 0: {
			uint32_t v;
			rc = mls_tls_read_varint(&r, &v);
			if (rc == 0) {
				if (v >= (1u << 30))
					abort();
				if (mls_tls_write_varint(&b, v) != 0)
					abort();
			}
			break;
		}
		case 1: {
			struct aim_bytes v;
			rc = mls_tls_read_vec(&r, &v);
			if (rc == 0) {
				if (v.p < data || v.p + v.len > data + size)
					abort();
				if (mls_tls_write_vec(&b, v.p, v.len) != 0)
					abort();
			}
			break;
		}
		default: {
			bool present;
			rc = mls_tls_read_optional(&r, &present);
			if (rc == 0 && mls_tls_write_u8(&b, present ? 1 : 0) != 0)
				abort();
			break;
		}
		}
		if (rc == 0) {
			if (r.off > size)
				abort();
			check(data + start, r.off - start, &b);
		} else if (mls_tls_remaining(&r) != 0 || mls_tls_reader_done(&r) == 0) {
			abort(); /* a failed reader stays failed */
		}
		aim_buf_free(&b);
		if (rc != 0)
			break;
	}
	return 0;
}
