/* RFC 9420 section 2.1: the TLS presentation language, with QUIC varints. */
#include "mls/tls.h"

#include <string.h>

static int need(struct mls_tls_reader *r, size_t n)
{
	if (r->failed || r->len - r->off < n) {
		r->failed = true;
		return aim_fail(AIM_ERR_DECODE, "truncated: need %zu bytes at offset %zu", n, r->off);
	}
	return 0;
}

int mls_tls_read_u8(struct mls_tls_reader *r, uint8_t *v)
{
	TRY(need(r, 1));
	*v = r->p[r->off++];
	return 0;
}

int mls_tls_read_u16(struct mls_tls_reader *r, uint16_t *v)
{
	TRY(need(r, 2));
	*v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return 0;
}

int mls_tls_read_u32(struct mls_tls_reader *r, uint32_t *v)
{
	TRY(need(r, 4));
	const uint8_t *p = r->p + r->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	r->off += 4;
	return 0;
}

int mls_tls_read_u64(struct mls_tls_reader *r, uint64_t *v)
{
	uint32_t hi, lo;
	TRY(mls_tls_read_u32(r, &hi));
	TRY(mls_tls_read_u32(r, &lo));
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int mls_tls_read_varint(struct mls_tls_reader *r, uint32_t *v)
{
	TRY(need(r, 1));
	uint8_t first = r->p[r->off];
	unsigned prefix = first >> 6;
	if (prefix == 3) {
		r->failed = true;
		/* RFC 9420 2.1.2: "the two-bit prefix 11 ... MUST be treated as
		 * malformed" (it would denote a 62-bit value). */
		return aim_fail(AIM_ERR_DECODE, "varint with prefix 11");
	}
	size_t n = (size_t)1 << prefix;
	TRY(need(r, n));
	uint32_t x = first & 0x3f;
	for (size_t i = 1; i < n; i++)
		x = x << 8 | r->p[r->off + i];
	/* "the length MUST be encoded in the smallest number of bytes" */
	if ((n == 2 && x < 64) || (n == 4 && x < 16384)) {
		r->failed = true;
		return aim_fail(AIM_ERR_DECODE, "non-minimal varint");
	}
	r->off += n;
	*v = x;
	return 0;
}

int mls_tls_read_fixed(struct mls_tls_reader *r, size_t n, struct aim_bytes *out)
{
	TRY(need(r, n));
	out->p = r->p + r->off;
	out->len = n;
	r->off += n;
	return 0;
}

int mls_tls_read_vec(struct mls_tls_reader *r, struct aim_bytes *out)
{
	uint32_t n;
	TRY(mls_tls_read_varint(r, &n));
	return mls_tls_read_fixed(r, n, out);
}

int mls_tls_read_vec_reader(struct mls_tls_reader *r, struct mls_tls_reader *sub)
{
	struct aim_bytes b;
	TRY(mls_tls_read_vec(r, &b));
	mls_tls_reader_init(sub, b.p, b.len);
	return 0;
}

int mls_tls_read_optional(struct mls_tls_reader *r, bool *present)
{
	uint8_t b;
	TRY(mls_tls_read_u8(r, &b));
	if (b > 1) {
		r->failed = true;
		return aim_fail(AIM_ERR_DECODE, "optional presence byte %u", b);
	}
	*present = b == 1;
	return 0;
}

int mls_tls_reader_done(const struct mls_tls_reader *r)
{
	ENSURE(!r->failed, AIM_ERR_DECODE, "decode failed earlier");
	ENSURE(r->off == r->len, AIM_ERR_DECODE, "%zu trailing bytes", r->len - r->off);
	return 0;
}

int mls_tls_write_u8(struct aim_buf *w, uint8_t v)
{
	return aim_buf_append_byte(w, v);
}

int mls_tls_write_u16(struct aim_buf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return aim_buf_append(w, b, 2);
}

int mls_tls_write_u32(struct aim_buf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	return aim_buf_append(w, b, 4);
}

int mls_tls_write_u64(struct aim_buf *w, uint64_t v)
{
	TRY(mls_tls_write_u32(w, (uint32_t)(v >> 32)));
	return mls_tls_write_u32(w, (uint32_t)v);
}

static size_t varint_encode(uint32_t v, uint8_t out[4])
{
	if (v < 64) {
		out[0] = (uint8_t)v;
		return 1;
	}
	if (v < 16384) {
		out[0] = (uint8_t)(0x40 | v >> 8);
		out[1] = (uint8_t)v;
		return 2;
	}
	out[0] = (uint8_t)(0x80 | v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
	return 4;
}

int mls_tls_write_varint(struct aim_buf *w, uint32_t v)
{
	ENSURE(v < (1u << 30), AIM_ERR_LIMIT, "varint value too large");
	uint8_t b[4];
	return aim_buf_append(w, b, varint_encode(v, b));
}

int mls_tls_write_fixed(struct aim_buf *w, const uint8_t *p, size_t n)
{
	return aim_buf_append(w, p, n);
}

int mls_tls_write_vec(struct aim_buf *w, const uint8_t *p, size_t n)
{
	ENSURE(n < (1u << 30), AIM_ERR_LIMIT, "vector too long");
	TRY(mls_tls_write_varint(w, (uint32_t)n));
	return aim_buf_append(w, p, n);
}

int mls_tls_vec_end(struct aim_buf *w, size_t mark)
{
	ENSURE(mark <= w->len, AIM_ERR_INTERNAL, "bad vector mark");
	size_t n = w->len - mark;
	ENSURE(n < (1u << 30), AIM_ERR_LIMIT, "vector too long");
	uint8_t b[4];
	size_t k = varint_encode((uint32_t)n, b);
	TRY(aim_buf_reserve(w, k));
	memmove(w->data + mark + k, w->data + mark, n);
	memcpy(w->data + mark, b, k);
	w->len += k;
	w->data[w->len] = 0;
	return 0;
}
