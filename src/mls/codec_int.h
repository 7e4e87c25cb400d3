/* Helpers shared by the codec files (codec_*.c) and the few others that
 * decode their own structures (KeyPackage private parts, group states).
 * Internal to src/mls. */
#ifndef AIM_MLS_CODEC_INT_H
#define AIM_MLS_CODEC_INT_H

#include "mls/codec.h"
#include "mls/tls.h"

#include <string.h>

/* opaque<V> into / from owned bytes. */
int mls_read_bytes(struct mls_tls_reader *r, struct mls_bytes *b) AIM_WARN_UNUSED;
int mls_write_bytes(struct aim_buf *w, const struct mls_bytes *b) AIM_WARN_UNUSED;

typedef int (*mls_elem_decode_fn)(struct mls_tls_reader *r, void *elem);
typedef int (*mls_elem_encode_fn)(struct aim_buf *w, const void *elem);
typedef void (*mls_elem_free_fn)(void *elem);

/* T items<V>: decodes elements until the vector is used up; more than max
 * elements is AIM_ERR_LIMIT. On failure nothing is left allocated. */
int mls_read_struct_vec(struct mls_tls_reader *r, size_t elem_size, size_t max,
			mls_elem_decode_fn dec, mls_elem_free_fn fr, void **out, size_t *n)
	AIM_WARN_UNUSED;
int mls_write_struct_vec(struct aim_buf *w, const void *arr, size_t elem_size, size_t n,
			 mls_elem_encode_fn enc) AIM_WARN_UNUSED;
void mls_free_struct_vec(void *arr, size_t elem_size, size_t n, mls_elem_free_fn fr);

/* void-pointer adapters for struct mls_NAME (no function pointer casts). */
#define MLS_CODEC_ADAPTERS(name)                                                 \
	static inline int mls_##name##_decode_v(struct mls_tls_reader *r, void *x) \
	{                                                                        \
		return mls_##name##_decode(r, (struct mls_##name *)x);           \
	}                                                                        \
	static inline int mls_##name##_encode_v(struct aim_buf *w, const void *x) \
	{                                                                        \
		return mls_##name##_encode(w, (const struct mls_##name *)x);     \
	}                                                                        \
	static inline void mls_##name##_free_v(void *x)                          \
	{                                                                        \
		mls_##name##_free((struct mls_##name *)x);                       \
	}

/* Defines mls_NAME_parse() from mls_NAME_decode(). */
#define MLS_CODEC_DEFINE_PARSE(name)                                             \
	int mls_##name##_parse(const uint8_t *p, size_t len, struct mls_##name *out) \
	{                                                                        \
		memset(out, 0, sizeof *out);                                     \
		ENSURE(len <= MLS_MAX_MESSAGE, AIM_ERR_LIMIT, "%s of %zu bytes", \
		       #name, len);                                              \
		struct mls_tls_reader r;                                         \
		mls_tls_reader_init(&r, p, len);                                 \
		TRY(mls_##name##_decode(&r, out));                               \
		if (mls_tls_reader_done(&r) != 0) {                              \
			mls_##name##_free(out);                                  \
			return -1;                                               \
		}                                                                \
		return 0;                                                        \
	}

#endif
