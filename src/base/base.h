/*
 * base: the ground every other layer stands on.
 *
 * - The result convention. Every fallible function returns `int`: 0 on
 *   success, -1 on failure. On failure it has recorded, in thread-local
 *   storage, an error code (enum aim_err) and a human-readable message via
 *   aim_fail(). Callers propagate with TRY() and check conditions with
 *   ENSURE(). HTTP status codes never appear below the HTTP edge: the server
 *   maps aim_err codes to statuses in one place.
 * - Byte views (struct aim_bytes, borrowed) and growable buffers with a hard
 *   ceiling (struct aim_buf, owned): a buffer asked to grow past its maximum
 *   fails with AIM_ERR_LIMIT instead of growing.
 * - Encodings: hex, base64 (standard, padded), base64url (unpadded), and
 *   multibase base58btc ('z' prefix) as used by FEP-521a Multikey.
 * - Time (wall clock and monotonic), logging, secure wiping, constant-time
 *   comparison.
 *
 * Nothing here does network or disk I/O except logging to stderr.
 */
#ifndef AIM_BASE_H
#define AIM_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AIM_WARN_UNUSED __attribute__((warn_unused_result))
#define AIM_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ---- Result convention ------------------------------------------------ */

enum aim_err {
	AIM_ERR_NONE = 0,
	AIM_ERR_NOMEM,       /* allocation failed */
	AIM_ERR_INVALID,     /* a caller passed a bad argument / bad input shape */
	AIM_ERR_DECODE,      /* malformed encoding (TLS codec, base64, JSON, ...) */
	AIM_ERR_LIMIT,       /* a size, depth, count or rate ceiling was hit */
	AIM_ERR_CRYPTO,      /* a crypto library call failed */
	AIM_ERR_VERIFY,      /* a signature, MAC, tag or hash did not verify */
	AIM_ERR_UNSUPPORTED, /* unknown or refused algorithm, suite, version, type */
	AIM_ERR_NOTFOUND,    /* the thing asked for does not exist */
	AIM_ERR_EXISTS,      /* the thing to create already exists */
	AIM_ERR_CONFLICT,    /* semantic conflict: stale epoch, lost race, version moved */
	AIM_ERR_DENIED,      /* authenticated but not allowed */
	AIM_ERR_AUTH,        /* not authenticated */
	AIM_ERR_GONE,        /* deleted */
	AIM_ERR_STATE,       /* operation not valid in the current state */
	AIM_ERR_STORAGE,     /* the local database or disk failed (never a peer) */
	AIM_ERR_REMOTE,      /* a peer failed: down, refused, reset, TLS, 5xx, bad answer */
	AIM_ERR_BUSY,        /* transient local contention (a lock): try again soon */
	AIM_ERR_NOHOST,      /* a host name does not resolve (may be transient) */
	AIM_ERR_TIMEOUT,     /* an operation ran out of time */
	AIM_ERR_INTERNAL,    /* a bug: an invariant did not hold */
};

/* Records code and message for this thread and returns -1. */
int aim_fail(enum aim_err code, const char *fmt, ...) AIM_PRINTF(2, 3);
int aim_failv(enum aim_err code, const char *fmt, va_list ap) AIM_PRINTF(2, 0);
/* The last recorded error of this thread. */
enum aim_err aim_errcode(void);
const char *aim_errmsg(void);
const char *aim_errname(enum aim_err code);
void aim_errclear(void);

/* Propagate a failure: the callee already recorded why. */
#define TRY(expr)                                                             \
	do {                                                                  \
		if ((expr) != 0)                                              \
			return -1;                                            \
	} while (0)

/* Fail with code and message unless cond holds. */
#define ENSURE(cond, code, ...)                                               \
	do {                                                                  \
		if (!(cond))                                                  \
			return aim_fail((code), __VA_ARGS__);                 \
	} while (0)

/* Like TRY but jumps to a cleanup label with rc = -1. */
#define TRY_GOTO(expr, label)                                                 \
	do {                                                                  \
		if ((expr) != 0) {                                            \
			rc = -1;                                              \
			goto label;                                           \
		}                                                             \
	} while (0)

#define ENSURE_GOTO(cond, label, code, ...)                                   \
	do {                                                                  \
		if (!(cond)) {                                                \
			rc = aim_fail((code), __VA_ARGS__);                   \
			goto label;                                           \
		}                                                             \
	} while (0)

#define AIM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Memory ------------------------------------------------------------ */

/* Allocation that aborts on out-of-memory (small, bounded allocations). */
void *aim_xmalloc(size_t n);
void *aim_xcalloc(size_t n, size_t size);
void *aim_xrealloc(void *p, size_t n);
char *aim_xstrdup(const char *s);
char *aim_xstrndup(const char *s, size_t n);
char *aim_xasprintf(const char *fmt, ...) AIM_PRINTF(1, 2);

/* Wipes n bytes at p in a way the compiler cannot elide. */
void aim_wipe(void *p, size_t n);
/* Wipes then frees. */
void aim_free_secret(void *p, size_t n);
/* Constant-time equality of two byte strings; false if lengths differ. */
bool aim_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* ---- Bytes ------------------------------------------------------------- */

/* A borrowed view: never freed through this struct. */
struct aim_bytes {
	const uint8_t *p;
	size_t len;
};

#define AIM_BYTES(ptr, n) ((struct aim_bytes){ (const uint8_t *)(ptr), (n) })
#define AIM_BYTES_STR(s) AIM_BYTES((s), strlen(s))

/* An owned growable buffer with a hard maximum. Zero-initialise with
 * aim_buf_init(); free with aim_buf_free() (or aim_buf_free_secret() for
 * key material, which wipes first). data is NUL-terminated after every
 * append (the NUL is not counted in len) so text can be used as a C string. */
struct aim_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
};

#define AIM_BUF_DEFAULT_MAX ((size_t)1 << 20) /* 1 MiB */

void aim_buf_init(struct aim_buf *b, size_t max);
void aim_buf_free(struct aim_buf *b);
void aim_buf_free_secret(struct aim_buf *b);
void aim_buf_reset(struct aim_buf *b); /* len = 0, keeps memory */
/* Each fails with AIM_ERR_LIMIT past max (and then frees the buffer). */
int aim_buf_reserve(struct aim_buf *b, size_t extra) AIM_WARN_UNUSED;
int aim_buf_append(struct aim_buf *b, const void *p, size_t n) AIM_WARN_UNUSED;
int aim_buf_append_str(struct aim_buf *b, const char *s) AIM_WARN_UNUSED;
int aim_buf_append_byte(struct aim_buf *b, uint8_t c) AIM_WARN_UNUSED;
int aim_buf_printf(struct aim_buf *b, const char *fmt, ...) AIM_PRINTF(2, 3) AIM_WARN_UNUSED;
/* Hands the data to the caller (free with free()); the buffer is reset to empty. */
uint8_t *aim_buf_steal(struct aim_buf *b, size_t *len);
static inline struct aim_bytes aim_buf_bytes(const struct aim_buf *b)
{
	return AIM_BYTES(b->data, b->len);
}

/* ---- Encodings --------------------------------------------------------- */

/* Lower-case hex. Output is appended to out. */
int aim_hex_encode(struct aim_buf *out, const uint8_t *p, size_t n) AIM_WARN_UNUSED;
/* Accepts upper and lower case; fails on odd length or non-hex. */
int aim_hex_decode(struct aim_buf *out, const char *s, size_t n) AIM_WARN_UNUSED;

/* Standard alphabet with padding (RFC 4648 section 4). */
int aim_b64_encode(struct aim_buf *out, const uint8_t *p, size_t n) AIM_WARN_UNUSED;
/* Strict: standard alphabet, correct padding, no whitespace, canonical
 * trailing bits. */
int aim_b64_decode(struct aim_buf *out, const char *s, size_t n) AIM_WARN_UNUSED;
/* URL-safe alphabet without padding (RFC 4648 section 5). Decode also accepts
 * padding. */
int aim_b64url_encode(struct aim_buf *out, const uint8_t *p, size_t n) AIM_WARN_UNUSED;
int aim_b64url_decode(struct aim_buf *out, const char *s, size_t n) AIM_WARN_UNUSED;
/* Multibase base58btc: 'z' followed by base58 (Bitcoin alphabet). */
int aim_multibase_encode(struct aim_buf *out, const uint8_t *p, size_t n) AIM_WARN_UNUSED;
int aim_multibase_decode(struct aim_buf *out, const char *s, size_t n) AIM_WARN_UNUSED;

/* ---- Time -------------------------------------------------------------- */

int64_t aim_now(void);          /* wall clock, seconds since the epoch */
int64_t aim_now_ms(void);       /* wall clock, milliseconds */
int64_t aim_mono_ms(void);      /* monotonic milliseconds */
/* RFC 3339 UTC, e.g. 2026-11-26T14:57:13Z; out must hold 21 bytes. */
void aim_time_rfc3339(int64_t t, char out[21]);
/* IMF-fixdate (HTTP Date), e.g. Thu, 26 Nov 2026 14:57:13 GMT; 30 bytes. */
void aim_time_http(int64_t t, char out[30]);
/* Parses IMF-fixdate; -1 on malformed. */
int aim_time_parse_http(const char *s, int64_t *t) AIM_WARN_UNUSED;
/* Parses RFC 3339 (Z or numeric offset, optional fraction); -1 on malformed. */
int aim_time_parse_rfc3339(const char *s, int64_t *t) AIM_WARN_UNUSED;

/* ---- Logging ----------------------------------------------------------- */

enum aim_log_level { AIM_LOG_DEBUG, AIM_LOG_INFO, AIM_LOG_WARN, AIM_LOG_ERROR };

void aim_log_set_level(enum aim_log_level lvl);
/* One line to stderr: "2026-11-26T14:57:13Z level component: message".
 * Never pass secrets. */
void aim_log(enum aim_log_level lvl, const char *component, const char *fmt, ...)
	AIM_PRINTF(3, 4);

/* ---- Small string helpers ---------------------------------------------- */

bool aim_str_has_prefix(const char *s, const char *prefix);
bool aim_str_case_equal(const char *a, const char *b);
/* Parses a decimal integer in [min, max]; whole string must be consumed. */
int aim_parse_int(const char *s, int64_t min, int64_t max, int64_t *out) AIM_WARN_UNUSED;

#endif
