/*
 * The TLS presentation-language codec of RFC 9420 section 2.1.
 *
 * Reader: a cursor over a borrowed buffer. Every read checks the remaining
 * length first; a failed read leaves the reader in a failed state (all later
 * reads fail too) so decoders can read a whole struct and check once.
 * Variable-length vectors use the QUIC-style varint of section 2.1.2:
 *
 *   "the length MUST be encoded in the smallest number of bytes", and the
 *   two-bit prefix 11 is invalid.
 *
 * Both are refused with AIM_ERR_DECODE. Vector contents are returned as views
 * into the caller's buffer (nothing is allocated while reading).
 *
 * Writer: appends to an aim_buf whose `max` is the size ceiling.
 */
#ifndef AIM_MLS_TLS_H
#define AIM_MLS_TLS_H

#include "base/base.h"

struct mls_tls_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool failed;
};

static inline void mls_tls_reader_init(struct mls_tls_reader *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->failed = false;
}

static inline size_t mls_tls_remaining(const struct mls_tls_reader *r)
{
	return r->failed ? 0 : r->len - r->off;
}

int mls_tls_read_u8(struct mls_tls_reader *r, uint8_t *v) AIM_WARN_UNUSED;
int mls_tls_read_u16(struct mls_tls_reader *r, uint16_t *v) AIM_WARN_UNUSED;
int mls_tls_read_u32(struct mls_tls_reader *r, uint32_t *v) AIM_WARN_UNUSED;
int mls_tls_read_u64(struct mls_tls_reader *r, uint64_t *v) AIM_WARN_UNUSED;
/* Minimal-encoding varint of section 2.1.2 (values below 2^30). */
int mls_tls_read_varint(struct mls_tls_reader *r, uint32_t *v) AIM_WARN_UNUSED;
/* n raw bytes, as a view. */
int mls_tls_read_fixed(struct mls_tls_reader *r, size_t n, struct aim_bytes *out) AIM_WARN_UNUSED;
/* opaque data<V>: varint length then bytes, as a view. */
int mls_tls_read_vec(struct mls_tls_reader *r, struct aim_bytes *out) AIM_WARN_UNUSED;
/* A vector whose contents are themselves structs: a sub-reader over them. */
int mls_tls_read_vec_reader(struct mls_tls_reader *r, struct mls_tls_reader *sub) AIM_WARN_UNUSED;
/* optional<T> presence byte: must be 0 or 1. */
int mls_tls_read_optional(struct mls_tls_reader *r, bool *present) AIM_WARN_UNUSED;
/* Fails unless every byte was consumed ("trailing bytes"). */
int mls_tls_reader_done(const struct mls_tls_reader *r) AIM_WARN_UNUSED;

int mls_tls_write_u8(struct aim_buf *w, uint8_t v) AIM_WARN_UNUSED;
int mls_tls_write_u16(struct aim_buf *w, uint16_t v) AIM_WARN_UNUSED;
int mls_tls_write_u32(struct aim_buf *w, uint32_t v) AIM_WARN_UNUSED;
int mls_tls_write_u64(struct aim_buf *w, uint64_t v) AIM_WARN_UNUSED;
int mls_tls_write_varint(struct aim_buf *w, uint32_t v) AIM_WARN_UNUSED;
int mls_tls_write_fixed(struct aim_buf *w, const uint8_t *p, size_t n) AIM_WARN_UNUSED;
/* opaque data<V> */
int mls_tls_write_vec(struct aim_buf *w, const uint8_t *p, size_t n) AIM_WARN_UNUSED;
static inline int mls_tls_write_vec_bytes(struct aim_buf *w, struct aim_bytes b)
{
	return mls_tls_write_vec(w, b.p, b.len);
}
/* For vectors of structs: remember the start, write the elements, then
 * mls_tls_vec_end() inserts the minimal varint length in front of them. */
static inline size_t mls_tls_vec_begin(const struct aim_buf *w)
{
	return w->len;
}
int mls_tls_vec_end(struct aim_buf *w, size_t mark) AIM_WARN_UNUSED;

#endif
