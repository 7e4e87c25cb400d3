/* deserialization.json: each vlbytes_header is one varint length prefix
 * (RFC 9420 section 2.1.2) that must decode to `length`, use every byte,
 * and re-encode to the same bytes. */
#include "mls/tls.h"
#include "vectors.h"

void vec_deserialization(json_t *tests, struct vec_stats *st)
{
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t) {
		struct aim_buf hdr, out;
		uint64_t want;
		uint32_t got;
		aim_buf_init(&out, 16);
		if (vec_hex(t, "vlbytes_header", &hdr, NULL) != 0 ||
		    vec_uint(t, "length", &want) != 0) {
			vec_fail(st, i, "bad test object");
			aim_buf_free(&hdr);
			continue;
		}
		struct mls_tls_reader r;
		mls_tls_reader_init(&r, hdr.data, hdr.len);
		if (mls_tls_read_varint(&r, &got) != 0 || mls_tls_reader_done(&r) != 0) {
			vec_fail(st, i, "varint does not decode");
		} else if (got != want) {
			vec_fail(st, i, "decoded %u, want %llu", got, (unsigned long long)want);
		} else if (mls_tls_write_varint(&out, got) != 0 || out.len != hdr.len ||
			   !aim_ct_equal(out.data, out.len, hdr.data, hdr.len)) {
			vec_fail(st, i, "re-encoding differs");
		} else {
			st->passed++;
		}
		aim_buf_free(&hdr);
		aim_buf_free(&out);
	}
}
