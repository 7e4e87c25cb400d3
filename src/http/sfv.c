/*
 * RFC 8941 structured field values: the Dictionary subset HTTP message
 * signatures and Content-Digest need. Parsing points into the caller's
 * string and never allocates (STYLE.md 5).
 */
#include "http/sig.h"

#include <string.h>

struct sfv_cur {
	const char *s;
	size_t n;
	size_t off;
	struct sfv_dict *d;
};

static int peek(const struct sfv_cur *c)
{
	return c->off < c->n ? (unsigned char)c->s[c->off] : -1;
}

static bool is_lcalpha(int ch)
{
	return ch >= 'a' && ch <= 'z';
}

static bool is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_tchar(int ch)
{
	if (is_alpha(ch) || is_digit(ch))
		return true;
	return ch > 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static void skip_sp(struct sfv_cur *c)
{
	while (peek(c) == ' ')
		c->off++;
}

static void skip_ows(struct sfv_cur *c)
{
	while (peek(c) == ' ' || peek(c) == '\t')
		c->off++;
}

/* RFC 8941 4.2.3.3: key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
static int parse_key(struct sfv_cur *c, const char **key, size_t *len)
{
	int ch = peek(c);
	ENSURE(is_lcalpha(ch) || ch == '*', AIM_ERR_DECODE, "structured field: bad key at %zu",
	       c->off);
	size_t start = c->off;
	while (c->off < c->n) {
		ch = peek(c);
		if (!(is_lcalpha(ch) || is_digit(ch) || ch == '_' || ch == '-' || ch == '.' ||
		      ch == '*'))
			break;
		c->off++;
	}
	*key = c->s + start;
	*len = c->off - start;
	return 0;
}

/* 4.2.4: integers of at most 15 digits, decimals of 12.3 digits. */
static int parse_number(struct sfv_cur *c, struct sfv_bare *v)
{
	size_t start = c->off;
	bool neg = false;
	if (peek(c) == '-') {
		neg = true;
		c->off++;
	}
	ENSURE(is_digit(peek(c)), AIM_ERR_DECODE, "structured field: bad number");
	int64_t val = 0;
	size_t ndig = 0;
	while (is_digit(peek(c))) {
		ENSURE(++ndig <= 15, AIM_ERR_DECODE, "structured field: integer too long");
		val = val * 10 + (peek(c) - '0');
		c->off++;
	}
	if (peek(c) == '.') {
		ENSURE(ndig <= 12, AIM_ERR_DECODE, "structured field: decimal too long");
		c->off++;
		size_t nfrac = 0;
		while (is_digit(peek(c))) {
			nfrac++;
			c->off++;
		}
		ENSURE(nfrac >= 1 && nfrac <= 3, AIM_ERR_DECODE,
		       "structured field: bad decimal fraction");
		v->type = SFV_DECIMAL;
	} else {
		v->type = SFV_INTEGER;
		v->i = neg ? -val : val;
	}
	v->p = c->s + start;
	v->len = c->off - start;
	return 0;
}

/* 4.2.5: sf-string = DQUOTE *chr DQUOTE; chr = unescaped / escaped ("\\" / "\"") */
static int parse_string(struct sfv_cur *c, struct sfv_bare *v)
{
	c->off++; /* opening quote */
	size_t start = c->off;
	for (;;) {
		int ch = peek(c);
		ENSURE(ch >= 0, AIM_ERR_DECODE, "structured field: unterminated string");
		if (ch == '"')
			break;
		if (ch == '\\') {
			c->off++;
			ch = peek(c);
			ENSURE(ch == '"' || ch == '\\', AIM_ERR_DECODE,
			       "structured field: bad escape in string");
		} else {
			ENSURE(ch >= 0x20 && ch <= 0x7e, AIM_ERR_DECODE,
			       "structured field: bad character in string");
		}
		c->off++;
	}
	v->type = SFV_STRING;
	v->p = c->s + start;
	v->len = c->off - start;
	c->off++; /* closing quote */
	return 0;
}

static int parse_token(struct sfv_cur *c, struct sfv_bare *v)
{
	size_t start = c->off;
	c->off++;
	while (is_tchar(peek(c)) || peek(c) == ':' || peek(c) == '/')
		c->off++;
	v->type = SFV_TOKEN;
	v->p = c->s + start;
	v->len = c->off - start;
	return 0;
}

/* 4.2.7: sf-binary = ":" *(base64) ":" */
static int parse_bytes(struct sfv_cur *c, struct sfv_bare *v)
{
	c->off++;
	size_t start = c->off;
	for (;;) {
		int ch = peek(c);
		ENSURE(ch >= 0, AIM_ERR_DECODE, "structured field: unterminated byte sequence");
		if (ch == ':')
			break;
		ENSURE(is_alpha(ch) || is_digit(ch) || ch == '+' || ch == '/' || ch == '=',
		       AIM_ERR_DECODE, "structured field: bad character in byte sequence");
		c->off++;
	}
	v->type = SFV_BYTES;
	v->p = c->s + start;
	v->len = c->off - start;
	c->off++;
	return 0;
}

static int parse_bare(struct sfv_cur *c, struct sfv_bare *v)
{
	memset(v, 0, sizeof *v);
	int ch = peek(c);
	if (ch == '-' || is_digit(ch))
		return parse_number(c, v);
	if (ch == '"')
		return parse_string(c, v);
	if (ch == '*' || is_alpha(ch))
		return parse_token(c, v);
	if (ch == ':')
		return parse_bytes(c, v);
	if (ch == '?') {
		c->off++;
		ch = peek(c);
		ENSURE(ch == '0' || ch == '1', AIM_ERR_DECODE, "structured field: bad boolean");
		c->off++;
		v->type = SFV_BOOLEAN;
		v->i = ch == '1';
		v->p = c->s + c->off - 2;
		v->len = 2;
		return 0;
	}
	return aim_fail(AIM_ERR_DECODE, "structured field: unexpected character at %zu", c->off);
}

static bool key_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* 4.2.3.2: parameters = *( ";" *SP parameter ) */
static int parse_params(struct sfv_cur *c, uint16_t *first, uint16_t *count)
{
	struct sfv_dict *d = c->d;
	*first = (uint16_t)d->n_params;
	*count = 0;
	while (peek(c) == ';') {
		c->off++;
		skip_sp(c);
		ENSURE(d->n_params < SFV_MAX_PARAMS, AIM_ERR_LIMIT,
		       "structured field: too many parameters");
		struct sfv_param *p = &d->params[d->n_params];
		TRY(parse_key(c, &p->key, &p->key_len));
		for (size_t i = *first; i < d->n_params; i++)
			ENSURE(!key_eq(d->params[i].key, d->params[i].key_len, p->key, p->key_len),
			       AIM_ERR_DECODE, "structured field: duplicate parameter");
		if (peek(c) == '=') {
			c->off++;
			TRY(parse_bare(c, &p->v));
		} else {
			memset(&p->v, 0, sizeof p->v);
			p->v.type = SFV_BOOLEAN;
			p->v.i = 1;
		}
		d->n_params++;
		(*count)++;
	}
	return 0;
}

static int parse_item(struct sfv_cur *c)
{
	struct sfv_dict *d = c->d;
	ENSURE(d->n_items < SFV_MAX_ITEMS, AIM_ERR_LIMIT, "structured field: too many items");
	struct sfv_item *it = &d->items[d->n_items++];
	TRY(parse_bare(c, &it->v));
	return parse_params(c, &it->param_first, &it->n_params);
}

/* 4.2.1.2: inner-list = "(" *SP [ sf-item *( 1*SP sf-item ) *SP ] ")" parameters */
static int parse_inner_list(struct sfv_cur *c, struct sfv_member *m)
{
	c->off++;
	m->inner = true;
	m->item_first = (uint16_t)c->d->n_items;
	m->n_items = 0;
	for (;;) {
		skip_sp(c);
		if (peek(c) == ')') {
			c->off++;
			return parse_params(c, &m->param_first, &m->n_params);
		}
		TRY(parse_item(c));
		m->n_items++;
		int ch = peek(c);
		ENSURE(ch == ' ' || ch == ')', AIM_ERR_DECODE,
		       "structured field: bad inner list at %zu", c->off);
	}
}

int http_sfv_parse_dict(const char *s, size_t n, struct sfv_dict *d)
{
	struct sfv_cur c = { .s = s, .n = n, .off = 0, .d = d };
	d->n = d->n_items = d->n_params = 0;
	skip_sp(&c);
	ENSURE(c.off < n, AIM_ERR_DECODE, "structured field: empty dictionary");
	for (;;) {
		ENSURE(d->n < SFV_MAX_MEMBERS, AIM_ERR_LIMIT, "structured field: too many members");
		struct sfv_member *m = &d->m[d->n];
		memset(m, 0, sizeof *m);
		TRY(parse_key(&c, &m->key, &m->key_len));
		for (size_t i = 0; i < d->n; i++)
			ENSURE(!key_eq(d->m[i].key, d->m[i].key_len, m->key, m->key_len),
			       AIM_ERR_DECODE, "structured field: duplicate dictionary key");
		if (peek(&c) == '=') {
			c.off++;
			if (peek(&c) == '(') {
				TRY(parse_inner_list(&c, m));
			} else {
				m->item_first = (uint16_t)d->n_items;
				m->n_items = 1;
				TRY(parse_item(&c));
				m->param_first = d->items[m->item_first].param_first;
				m->n_params = d->items[m->item_first].n_params;
			}
		} else {
			/* a bare key is Boolean true with parameters */
			ENSURE(d->n_items < SFV_MAX_ITEMS, AIM_ERR_LIMIT,
			       "structured field: too many items");
			struct sfv_item *it = &d->items[d->n_items];
			memset(it, 0, sizeof *it);
			it->v.type = SFV_BOOLEAN;
			it->v.i = 1;
			m->item_first = (uint16_t)d->n_items++;
			m->n_items = 1;
			TRY(parse_params(&c, &it->param_first, &it->n_params));
			m->param_first = it->param_first;
			m->n_params = it->n_params;
		}
		d->n++;
		skip_ows(&c);
		if (c.off == n)
			return 0;
		ENSURE(peek(&c) == ',', AIM_ERR_DECODE,
		       "structured field: junk after member at %zu", c.off);
		c.off++;
		skip_ows(&c);
		ENSURE(c.off < n, AIM_ERR_DECODE, "structured field: trailing comma");
	}
}

static bool key_is(const char *k, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(k, name, len) == 0;
}

const struct sfv_member *http_sfv_dict_get(const struct sfv_dict *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++)
		if (key_is(d->m[i].key, d->m[i].key_len, key))
			return &d->m[i];
	return NULL;
}

const struct sfv_bare *http_sfv_param_get(const struct sfv_dict *d, uint16_t first, uint16_t n,
				     const char *key)
{
	for (size_t i = first; i < (size_t)first + n && i < d->n_params; i++)
		if (key_is(d->params[i].key, d->params[i].key_len, key))
			return &d->params[i].v;
	return NULL;
}

int http_sfv_string_value(struct aim_buf *out, const struct sfv_bare *v)
{
	ENSURE(v->type == SFV_STRING, AIM_ERR_DECODE, "structured field: not a string");
	for (size_t i = 0; i < v->len; i++) {
		char ch = v->p[i];
		if (ch == '\\')
			ch = v->p[++i]; /* the parser guaranteed a valid escape */
		TRY(aim_buf_append_byte(out, (uint8_t)ch));
	}
	/* make sure an empty string is still a valid C string */
	return aim_buf_reserve(out, 0);
}

int http_sfv_serialize_string(struct aim_buf *out, const char *s)
{
	TRY(aim_buf_append_byte(out, '"'));
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		ENSURE(ch >= 0x20 && ch <= 0x7e, AIM_ERR_INVALID,
		       "structured field: string with a non-printable character");
		if (ch == '"' || ch == '\\')
			TRY(aim_buf_append_byte(out, '\\'));
		TRY(aim_buf_append_byte(out, ch));
	}
	return aim_buf_append_byte(out, '"');
}

static int serialize_bare(struct aim_buf *out, const struct sfv_bare *v)
{
	switch (v->type) {
	case SFV_INTEGER:
		return aim_buf_printf(out, "%lld", (long long)v->i);
	case SFV_STRING:
		/* the raw text is already the strict form: only \" and \\ escapes */
		TRY(aim_buf_append_byte(out, '"'));
		TRY(aim_buf_append(out, v->p, v->len));
		return aim_buf_append_byte(out, '"');
	case SFV_TOKEN:
		return aim_buf_append(out, v->p, v->len);
	case SFV_BYTES:
		TRY(aim_buf_append_byte(out, ':'));
		TRY(aim_buf_append(out, v->p, v->len));
		return aim_buf_append_byte(out, ':');
	case SFV_BOOLEAN:
		return aim_buf_append_str(out, v->i ? "?1" : "?0");
	default:
		return aim_fail(AIM_ERR_UNSUPPORTED, "structured field: cannot serialise type %d",
				(int)v->type);
	}
}

static int serialize_params(struct aim_buf *out, const struct sfv_dict *d, uint16_t first,
			    uint16_t n)
{
	for (size_t i = first; i < (size_t)first + n; i++) {
		const struct sfv_param *p = &d->params[i];
		TRY(aim_buf_append_byte(out, ';'));
		TRY(aim_buf_append(out, p->key, p->key_len));
		/* 4.1.1.2: a true boolean parameter is serialised without a value */
		if (p->v.type == SFV_BOOLEAN && p->v.i == 1)
			continue;
		TRY(aim_buf_append_byte(out, '='));
		TRY(serialize_bare(out, &p->v));
	}
	return 0;
}

int http_sfv_serialize_inner_list(struct aim_buf *out, const struct sfv_dict *d,
			     const struct sfv_member *m)
{
	ENSURE(m->inner, AIM_ERR_DECODE, "structured field: member is not an inner list");
	TRY(aim_buf_append_byte(out, '('));
	for (size_t i = 0; i < m->n_items; i++) {
		const struct sfv_item *it = &d->items[m->item_first + i];
		if (i)
			TRY(aim_buf_append_byte(out, ' '));
		TRY(serialize_bare(out, &it->v));
		TRY(serialize_params(out, d, it->param_first, it->n_params));
	}
	TRY(aim_buf_append_byte(out, ')'));
	return serialize_params(out, d, m->param_first, m->n_params);
}
