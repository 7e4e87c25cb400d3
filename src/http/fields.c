/* Header field lists (http/fields.h). */
#include "http/fields.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_sig_fields_init(struct sig_fields *f)
{
	f->v = NULL;
	f->n = f->cap = 0;
}

void http_sig_fields_free(struct sig_fields *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free((char *)f->v[i].name);
		free((char *)f->v[i].value);
	}
	free(f->v);
	http_sig_fields_init(f);
}

void http_sig_fields_add(struct sig_fields *f, const char *name, const char *value)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->v = aim_xrealloc(f->v, f->cap * sizeof *f->v);
	}
	f->v[f->n].name = aim_xstrdup(name);
	f->v[f->n].value = aim_xstrdup(value);
	f->n++;
}

void http_sig_fields_del(struct sig_fields *f, const char *name)
{
	size_t j = 0;
	for (size_t i = 0; i < f->n; i++) {
		if (strcasecmp(f->v[i].name, name) == 0) {
			free((char *)f->v[i].name);
			free((char *)f->v[i].value);
			continue;
		}
		f->v[j++] = f->v[i];
	}
	f->n = j;
}

const char *http_sig_fields_get(const struct sig_field *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i].name, name) == 0)
			return v[i].value;
	return NULL;
}
