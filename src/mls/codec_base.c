/* MLS codec: owned bytes, vector helpers, extensions, credentials,
 * capabilities and lifetimes (RFC 9420 sections 2.1, 5.3, 7.2, 13). */
#include "mls/codec_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- Owned bytes ---------------------------------------------------------- */

int mls_bytes_set(struct mls_bytes *b, const void *p, size_t len)
{
	uint8_t *n = NULL;
	if (len) {
		ENSURE(p, AIM_ERR_INVALID, "bytes: NULL source");
		n = aim_xmalloc(len);
		memcpy(n, p, len);
	}
	mls_bytes_free(b);
	b->p = n;
	b->len = len;
	return 0;
}

int mls_bytes_copy(struct mls_bytes *dst, const struct mls_bytes *src)
{
	return mls_bytes_set(dst, src->p, src->len);
}

void mls_bytes_free(struct mls_bytes *b)
{
	if (!b)
		return;
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

void mls_bytes_free_secret(struct mls_bytes *b)
{
	if (!b)
		return;
	if (b->p)
		aim_free_secret(b->p, b->len);
	b->p = NULL;
	b->len = 0;
}

bool mls_bytes_equal(const struct mls_bytes *a, const struct mls_bytes *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

int mls_read_bytes(struct mls_tls_reader *r, struct mls_bytes *b)
{
	struct aim_bytes v;
	TRY(mls_tls_read_vec(r, &v));
	return mls_bytes_set(b, v.p, v.len);
}

int mls_write_bytes(struct aim_buf *w, const struct mls_bytes *b)
{
	ENSURE(b->len == 0 || b->p, AIM_ERR_INVALID, "bytes: NULL with length %zu", b->len);
	return mls_tls_write_vec(w, b->p, b->len);
}

/* ---- Vectors of structs ------------------------------------------------- */

int mls_read_struct_vec(struct mls_tls_reader *r, size_t elem_size, size_t max,
			mls_elem_decode_fn dec, mls_elem_free_fn fr, void **out, size_t *n)
{
	struct mls_tls_reader sub;
	*out = NULL;
	*n = 0;
	TRY(mls_tls_read_vec_reader(r, &sub));
	uint8_t *arr = NULL;
	size_t cnt = 0, cap = 0;
	while (mls_tls_remaining(&sub) > 0) {
		if (cnt == max) {
			mls_free_struct_vec(arr, elem_size, cnt, fr);
			return aim_fail(AIM_ERR_LIMIT, "vector of more than %zu elements", max);
		}
		if (cnt == cap) {
			cap = cap ? cap * 2 : 4;
			if (cap > max)
				cap = max;
			arr = aim_xrealloc(arr, cap * elem_size);
		}
		void *e = arr + cnt * elem_size;
		memset(e, 0, elem_size);
		if (dec(&sub, e) != 0) {
			mls_free_struct_vec(arr, elem_size, cnt, fr);
			return -1;
		}
		cnt++;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

int mls_write_struct_vec(struct aim_buf *w, const void *arr, size_t elem_size, size_t n,
			 mls_elem_encode_fn enc)
{
	ENSURE(n == 0 || arr, AIM_ERR_INVALID, "vector: NULL with %zu elements", n);
	size_t mark = mls_tls_vec_begin(w);
	for (size_t i = 0; i < n; i++)
		TRY(enc(w, (const uint8_t *)arr + i * elem_size));
	return mls_tls_vec_end(w, mark);
}

void mls_free_struct_vec(void *arr, size_t elem_size, size_t n, mls_elem_free_fn fr)
{
	if (!arr)
		return;
	for (size_t i = 0; i < n; i++)
		fr((uint8_t *)arr + i * elem_size);
	free(arr);
}

/* ---- uint16 / uint32 lists ------------------------------------------------ */

static int read_u16_list(struct mls_tls_reader *r, struct mls_u16_list *l)
{
	struct aim_bytes v;
	l->v = NULL;
	l->n = 0;
	TRY(mls_tls_read_vec(r, &v));
	ENSURE(v.len % 2 == 0, AIM_ERR_DECODE, "uint16 vector of odd length %zu", v.len);
	ENSURE(v.len / 2 <= MLS_MAX_LIST, AIM_ERR_LIMIT, "uint16 vector too long");
	if (!v.len)
		return 0;
	l->v = aim_xcalloc(v.len / 2, sizeof *l->v);
	l->n = v.len / 2;
	for (size_t i = 0; i < l->n; i++)
		l->v[i] = (uint16_t)(v.p[2 * i] << 8 | v.p[2 * i + 1]);
	return 0;
}

static int write_u16_list(struct aim_buf *w, const struct mls_u16_list *l)
{
	ENSURE(l->n == 0 || l->v, AIM_ERR_INVALID, "uint16 list: NULL");
	size_t mark = mls_tls_vec_begin(w);
	for (size_t i = 0; i < l->n; i++)
		TRY(mls_tls_write_u16(w, l->v[i]));
	return mls_tls_vec_end(w, mark);
}

static void free_u16_list(struct mls_u16_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- Extension ---------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(extension)

int mls_extension_decode(struct mls_tls_reader *r, struct mls_extension *out)
{
	memset(out, 0, sizeof *out);
	if (mls_tls_read_u16(r, &out->type) != 0 || mls_read_bytes(r, &out->data) != 0) {
		mls_extension_free(out);
		return -1;
	}
	return 0;
}

int mls_extension_encode(struct aim_buf *w, const struct mls_extension *in)
{
	TRY(mls_tls_write_u16(w, in->type));
	return mls_write_bytes(w, &in->data);
}

void mls_extension_free(struct mls_extension *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->data);
	memset(x, 0, sizeof *x);
}

MLS_CODEC_ADAPTERS(extension)
MLS_CODEC_DEFINE_PARSE(extension_list)

int mls_extension_list_decode(struct mls_tls_reader *r, struct mls_extension_list *out)
{
	void *arr;
	memset(out, 0, sizeof *out);
	TRY(mls_read_struct_vec(r, sizeof(struct mls_extension), MLS_MAX_LIST,
				mls_extension_decode_v, mls_extension_free_v, &arr, &out->n));
	out->v = arr;
	return 0;
}

int mls_extension_list_encode(struct aim_buf *w, const struct mls_extension_list *in)
{
	return mls_write_struct_vec(w, in->v, sizeof(struct mls_extension), in->n,
				    mls_extension_encode_v);
}

void mls_extension_list_free(struct mls_extension_list *x)
{
	if (!x)
		return;
	mls_free_struct_vec(x->v, sizeof(struct mls_extension), x->n, mls_extension_free_v);
	x->v = NULL;
	x->n = 0;
}

const struct mls_extension *mls_extension_find(const struct mls_extension_list *l,
					       uint16_t type)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].type == type)
			return &l->v[i];
	return NULL;
}

int mls_extension_list_copy(struct mls_extension_list *dst,
			    const struct mls_extension_list *src)
{
	memset(dst, 0, sizeof *dst);
	if (!src->n)
		return 0;
	ENSURE(src->v, AIM_ERR_INVALID, "extension list: NULL");
	dst->v = aim_xcalloc(src->n, sizeof *dst->v);
	dst->n = src->n;
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i].type = src->v[i].type;
		if (mls_bytes_copy(&dst->v[i].data, &src->v[i].data) != 0) {
			mls_extension_list_free(dst);
			return -1;
		}
	}
	return 0;
}

/* ---- Credential ----------------------------------------------------------- */

/* struct { opaque cert_data<V>; } Certificate */
static int cert_decode_v(struct mls_tls_reader *r, void *x)
{
	return mls_read_bytes(r, x);
}

static int cert_encode_v(struct aim_buf *w, const void *x)
{
	return mls_write_bytes(w, x);
}

static void cert_free_v(void *x)
{
	mls_bytes_free(x);
}

MLS_CODEC_DEFINE_PARSE(credential)

int mls_credential_decode(struct mls_tls_reader *r, struct mls_credential *out)
{
	memset(out, 0, sizeof *out);
	TRY(mls_tls_read_u16(r, &out->type));
	int rc = 0;
	if (out->type == MLS_CREDENTIAL_X509) {
		void *arr;
		TRY_GOTO(mls_read_struct_vec(r, sizeof(struct mls_bytes), MLS_MAX_LIST,
					     cert_decode_v, cert_free_v, &arr, &out->n_certs),
			 fail);
		out->certs = arr;
	} else {
		/* basic: opaque identity<V>; other types: kept as an opaque<V>
		 * body (RFC 9420 defines none; this is the common convention). */
		TRY_GOTO(mls_read_bytes(r, &out->identity), fail);
	}
	return 0;
fail:
	mls_credential_free(out);
	return rc;
}

int mls_credential_encode(struct aim_buf *w, const struct mls_credential *in)
{
	TRY(mls_tls_write_u16(w, in->type));
	if (in->type == MLS_CREDENTIAL_X509)
		return mls_write_struct_vec(w, in->certs, sizeof(struct mls_bytes), in->n_certs,
					    cert_encode_v);
	return mls_write_bytes(w, &in->identity);
}

void mls_credential_free(struct mls_credential *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->identity);
	mls_free_struct_vec(x->certs, sizeof(struct mls_bytes), x->n_certs, cert_free_v);
	memset(x, 0, sizeof *x);
}

/* ---- Capabilities --------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(capabilities)

int mls_capabilities_decode(struct mls_tls_reader *r, struct mls_capabilities *out)
{
	memset(out, 0, sizeof *out);
	/* GREASE values are kept: "clients are required to ignore unknown
	 * values", which is the caller's business, and re-encoding must be
	 * exact. */
	if (read_u16_list(r, &out->versions) != 0 || read_u16_list(r, &out->cipher_suites) != 0 ||
	    read_u16_list(r, &out->extensions) != 0 || read_u16_list(r, &out->proposals) != 0 ||
	    read_u16_list(r, &out->credentials) != 0) {
		mls_capabilities_free(out);
		return -1;
	}
	return 0;
}

int mls_capabilities_encode(struct aim_buf *w, const struct mls_capabilities *in)
{
	TRY(write_u16_list(w, &in->versions));
	TRY(write_u16_list(w, &in->cipher_suites));
	TRY(write_u16_list(w, &in->extensions));
	TRY(write_u16_list(w, &in->proposals));
	return write_u16_list(w, &in->credentials);
}

void mls_capabilities_free(struct mls_capabilities *x)
{
	if (!x)
		return;
	free_u16_list(&x->versions);
	free_u16_list(&x->cipher_suites);
	free_u16_list(&x->extensions);
	free_u16_list(&x->proposals);
	free_u16_list(&x->credentials);
}

/* ---- Lifetime --------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(lifetime)

int mls_lifetime_decode(struct mls_tls_reader *r, struct mls_lifetime *out)
{
	memset(out, 0, sizeof *out);
	if (mls_tls_read_u64(r, &out->not_before) != 0 || mls_tls_read_u64(r, &out->not_after) != 0) {
		memset(out, 0, sizeof *out);
		return -1;
	}
	return 0;
}

int mls_lifetime_encode(struct aim_buf *w, const struct mls_lifetime *in)
{
	TRY(mls_tls_write_u64(w, in->not_before));
	return mls_tls_write_u64(w, in->not_after);
}

void mls_lifetime_free(struct mls_lifetime *x)
{
	if (x)
		memset(x, 0, sizeof *x);
}
