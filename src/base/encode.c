/* hex, base64, base64url and multibase base58btc. All decoders are strict. */
#include "base/base.h"

#include <string.h>

static const char hexdig[] = "0123456789abcdef";

int aim_hex_encode(struct aim_buf *out, const uint8_t *p, size_t n)
{
	TRY(aim_buf_reserve(out, n * 2));
	for (size_t i = 0; i < n; i++) {
		out->data[out->len++] = (uint8_t)hexdig[p[i] >> 4];
		out->data[out->len++] = (uint8_t)hexdig[p[i] & 15];
	}
	out->data[out->len] = 0;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int aim_hex_decode(struct aim_buf *out, const char *s, size_t n)
{
	ENSURE(n % 2 == 0, AIM_ERR_DECODE, "hex string of odd length");
	TRY(aim_buf_reserve(out, n / 2));
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		ENSURE(hi >= 0 && lo >= 0, AIM_ERR_DECODE, "not a hex digit");
		out->data[out->len++] = (uint8_t)(hi << 4 | lo);
	}
	out->data[out->len] = 0;
	return 0;
}

static const char b64std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_enc(struct aim_buf *out, const uint8_t *p, size_t n, const char *alpha, bool pad)
{
	TRY(aim_buf_reserve(out, (n + 2) / 3 * 4));
	uint8_t *o = out->data + out->len;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = (uint8_t)alpha[v >> 18];
		*o++ = (uint8_t)alpha[(v >> 12) & 63];
		*o++ = (uint8_t)alpha[(v >> 6) & 63];
		*o++ = (uint8_t)alpha[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*o++ = (uint8_t)alpha[v >> 18];
		*o++ = (uint8_t)alpha[(v >> 12) & 63];
		if (pad) {
			*o++ = '=';
			*o++ = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = (uint8_t)alpha[v >> 18];
		*o++ = (uint8_t)alpha[(v >> 12) & 63];
		*o++ = (uint8_t)alpha[(v >> 6) & 63];
		if (pad)
			*o++ = '=';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = 0;
	return 0;
}

static int b64_val(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static int b64_dec(struct aim_buf *out, const char *s, size_t n, bool url)
{
	size_t pad = 0;
	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (!url)
		ENSURE((n + pad) % 4 == 0, AIM_ERR_DECODE, "base64 length not a multiple of 4");
	else if (pad)
		ENSURE((n + pad) % 4 == 0, AIM_ERR_DECODE, "bad base64url padding");
	ENSURE(n % 4 != 1, AIM_ERR_DECODE, "bad base64 length");
	TRY(aim_buf_reserve(out, n / 4 * 3 + 2));
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(s[i], url);
		ENSURE(v >= 0, AIM_ERR_DECODE, "not a base64 character");
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	ENSURE(acc == 0, AIM_ERR_DECODE, "non-canonical base64 trailing bits");
	out->data[out->len] = 0;
	return 0;
}

int aim_b64_encode(struct aim_buf *out, const uint8_t *p, size_t n)
{
	return b64_enc(out, p, n, b64std, true);
}

int aim_b64_decode(struct aim_buf *out, const char *s, size_t n)
{
	return b64_dec(out, s, n, false);
}

int aim_b64url_encode(struct aim_buf *out, const uint8_t *p, size_t n)
{
	return b64_enc(out, p, n, b64url, false);
}

int aim_b64url_decode(struct aim_buf *out, const char *s, size_t n)
{
	return b64_dec(out, s, n, true);
}

static const char b58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

int aim_multibase_encode(struct aim_buf *out, const uint8_t *p, size_t n)
{
	ENSURE(n <= 1024, AIM_ERR_LIMIT, "multibase input too long");
	size_t zeros = 0;
	while (zeros < n && p[zeros] == 0)
		zeros++;
	size_t size = (n - zeros) * 138 / 100 + 1;
	uint8_t digits[1500] = { 0 };
	size_t len = 0;
	for (size_t i = zeros; i < n; i++) {
		uint32_t carry = p[i];
		for (size_t j = 0; j < len; j++) {
			carry += (uint32_t)digits[j] << 8;
			digits[j] = (uint8_t)(carry % 58);
			carry /= 58;
		}
		while (carry) {
			digits[len++] = (uint8_t)(carry % 58);
			carry /= 58;
		}
	}
	(void)size;
	TRY(aim_buf_append_byte(out, 'z'));
	for (size_t i = 0; i < zeros; i++)
		TRY(aim_buf_append_byte(out, '1'));
	for (size_t i = len; i-- > 0;)
		TRY(aim_buf_append_byte(out, (uint8_t)b58[digits[i]]));
	return 0;
}

int aim_multibase_decode(struct aim_buf *out, const char *s, size_t n)
{
	ENSURE(n >= 1 && s[0] == 'z', AIM_ERR_DECODE, "multibase value is not base58btc");
	s++;
	n--;
	ENSURE(n <= 1400, AIM_ERR_LIMIT, "multibase value too long");
	size_t zeros = 0;
	while (zeros < n && s[zeros] == '1')
		zeros++;
	uint8_t bytes[1100] = { 0 };
	size_t len = 0;
	for (size_t i = zeros; i < n; i++) {
		const char *d = memchr(b58, s[i], sizeof b58 - 1);
		ENSURE(d && s[i], AIM_ERR_DECODE, "not a base58 character");
		uint32_t carry = (uint32_t)(d - b58);
		for (size_t j = 0; j < len; j++) {
			carry += (uint32_t)bytes[j] * 58;
			bytes[j] = (uint8_t)(carry & 0xff);
			carry >>= 8;
		}
		while (carry) {
			ENSURE(len < sizeof bytes, AIM_ERR_LIMIT, "multibase value too long");
			bytes[len++] = (uint8_t)(carry & 0xff);
			carry >>= 8;
		}
	}
	for (size_t i = 0; i < zeros; i++)
		TRY(aim_buf_append_byte(out, 0));
	for (size_t i = len; i-- > 0;)
		TRY(aim_buf_append_byte(out, bytes[i]));
	return 0;
}
