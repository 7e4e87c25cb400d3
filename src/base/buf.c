/* Growable byte buffers with a hard ceiling (STYLE.md 3). */
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aim_buf_init(struct aim_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : AIM_BUF_DEFAULT_MAX;
}

void aim_buf_free(struct aim_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void aim_buf_free_secret(struct aim_buf *b)
{
	if (b->data)
		aim_wipe(b->data, b->cap);
	aim_buf_free(b);
}

void aim_buf_reset(struct aim_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

int aim_buf_reserve(struct aim_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra) {
		aim_buf_free(b);
		return aim_fail(AIM_ERR_LIMIT, "buffer would exceed its maximum of %zu bytes",
				b->max);
	}
	size_t need = b->len + extra + 1; /* room for the trailing NUL */
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	/* Grow by copy and wipe rather than realloc, so that a buffer holding
	 * key material never leaves an unwiped copy behind in freed memory. */
	uint8_t *p = aim_xmalloc(cap);
	if (b->data) {
		memcpy(p, b->data, b->len + 1 <= b->cap ? b->len + 1 : b->len);
		aim_wipe(b->data, b->cap);
		free(b->data);
	}
	/* data is NUL-terminated after every call, a fresh buffer's too (an
	 * empty string read into one must be a valid C string) */
	p[b->len] = 0;
	b->data = p;
	b->cap = cap;
	return 0;
}

int aim_buf_append(struct aim_buf *b, const void *p, size_t n)
{
	TRY(aim_buf_reserve(b, n));
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int aim_buf_append_str(struct aim_buf *b, const char *s)
{
	return aim_buf_append(b, s, strlen(s));
}

int aim_buf_append_byte(struct aim_buf *b, uint8_t c)
{
	return aim_buf_append(b, &c, 1);
}

int aim_buf_printf(struct aim_buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return aim_fail(AIM_ERR_INVALID, "bad format");
	}
	if (aim_buf_reserve(b, (size_t)n) != 0) {
		va_end(ap2);
		return -1;
	}
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
	return 0;
}

uint8_t *aim_buf_steal(struct aim_buf *b, size_t *len)
{
	uint8_t *p = b->data;
	if (len)
		*len = b->len;
	if (!p)
		p = aim_xcalloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
