/*
 * http/fields: HTTP header fields as name/value pairs, borrowed (struct
 * sig_field) or in an owned list (struct sig_fields). The HTTP client takes
 * its extra request headers and returns the response headers in this form,
 * and the signature code (http/sig.h) reads the fields a signature covers
 * from it. Names compare case-insensitively. No I/O.
 */
#ifndef AIM_HTTP_FIELDS_H
#define AIM_HTTP_FIELDS_H

#include "base/base.h"

/* One header field; both strings borrowed (or owned by a struct sig_fields). */
struct sig_field {
	const char *name;
	const char *value;
};

/* An owned list of header fields (names and values are copies). */
struct sig_fields {
	struct sig_field *v;
	size_t n;
	size_t cap;
};

void http_sig_fields_init(struct sig_fields *f);
void http_sig_fields_free(struct sig_fields *f);
/* Appends copies of name and value. */
void http_sig_fields_add(struct sig_fields *f, const char *name, const char *value);
/* Removes every field of that name (case-insensitive). */
void http_sig_fields_del(struct sig_fields *f, const char *name);
/* The first value of that name (case-insensitive) or NULL; borrowed. */
const char *http_sig_fields_get(const struct sig_field *v, size_t n, const char *name);

#endif
