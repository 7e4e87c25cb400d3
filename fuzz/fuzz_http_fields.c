/* libFuzzer target: the small header parsers of a server-to-server request
 * (threats.md A6, A7, A8, A12): Digest and Content-Digest values checked
 * against a body's SHA-256 (src/http/sig.h), structured-field dictionaries
 * (RFC 8941, what Signature-Input and Content-Digest are), and HTTP dates
 * (aim_time_parse_http, the Date header; aim_time_parse_rfc3339, the
 * `published` of activities). The first byte picks the parser, the rest is
 * the value. A date that parses must format back to a date that parses to
 * the same time; a digest value that matches must hold the hash's base64. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "http/sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;
	static const uint8_t sha[32] = { 0x5a };
	/* "WgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=": a matching value must
	 * name it (and the seeds do) */
	static const char sha_b64[] = "WgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	int64_t t = 0, u = 0;
	char out[30];
	switch (data[0] % 5) {
	case 0:
		if (http_sig_digest_check(s, sha) == 0 && !strstr(s, sha_b64))
			abort();
		break;
	case 1:
		if (http_sig_content_digest_check(s, sha) == 0 && !strstr(s, sha_b64))
			abort();
		break;
	case 2: {
		/* the dictionary points into s: nothing to free */
		static struct sfv_dict d;
		if (http_sfv_parse_dict(s, strlen(s), &d) != 0)
			break;
		struct aim_buf b;
		aim_buf_init(&b, 1 << 16);
		for (size_t i = 0; i < d.n; i++) {
			b.len = 0;
			if (d.m[i].inner)
				(void)http_sfv_serialize_inner_list(&b, &d, &d.m[i]);
			else if (d.items[d.m[i].item_first].v.type == SFV_STRING)
				(void)http_sfv_string_value(&b, &d.items[d.m[i].item_first].v);
		}
		aim_buf_free(&b);
		break;
	}
	case 3:
		if (aim_time_parse_http(s, &t) == 0) {
			aim_time_http(t, out);
			if (aim_time_parse_http(out, &u) != 0 || u != t)
				abort();
		}
		break;
	default:
		if (aim_time_parse_rfc3339(s, &t) == 0) {
			char r[21];
			if (t >= 0 && t < INT64_C(253402300800)) {
				aim_time_rfc3339(t, r);
				if (aim_time_parse_rfc3339(r, &u) != 0 || u != t)
					abort();
			}
		}
		break;
	}
	free(s);
	return 0;
}
