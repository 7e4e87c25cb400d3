/* libFuzzer target: the WebFinger client's parsers (src/http/webfinger.h).
 * The first byte chooses: an acct: URI (parse, then the canonical form must
 * parse again to an equal handle, and the lookup URL must build), or a JRD
 * document as a remote server would answer. Nothing may crash or leak. */
#include <stdlib.h>
#include <string.h>

#include "http/webfinger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		char *s = malloc(size);
		memcpy(s, data + 1, size - 1);
		s[size - 1] = 0;
		struct wf_acct a, b;
		memset(&b, 0, sizeof b);
		if (http_wf_acct_parse(s, &a) == 0) {
			struct aim_buf canon, url;
			aim_buf_init(&canon, 4096);
			aim_buf_init(&url, 4096);
			if (http_wf_acct_format(&a, &canon) != 0 || http_wf_lookup_url(&a, &url) != 0)
				abort();
			if (http_wf_acct_parse((const char *)canon.data, &b) != 0 || !http_wf_acct_equal(&a, &b))
				abort(); /* the canonical form must name the same handle */
			aim_buf_free(&canon);
			aim_buf_free(&url);
		}
		http_wf_acct_free(&a);
		http_wf_acct_free(&b);
		free(s);
	} else {
		struct wf_jrd j;
		(void)http_wf_jrd_parse(data + 1, size - 1, &j);
		http_wf_jrd_free(&j);
	}
	return 0;
}
