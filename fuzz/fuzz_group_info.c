/* libFuzzer target: GroupInfo. Whatever decodes must
 * re-encode to exactly the same bytes; everything decoded is freed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mls/mls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mls_group_info x;
	if (mls_group_info_parse(data, size, &x) != 0)
		return 0;
	struct aim_buf out;
	aim_buf_init(&out, MLS_MAX_MESSAGE);
	if (mls_group_info_encode(&out, &x) != 0) {
		fprintf(stderr, "re-encoding failed: %s\n", aim_errmsg());
		abort();
	}
	if (out.len != size || memcmp(out.data, data, size) != 0) {
		fprintf(stderr, "re-encoding differs: %zu vs %zu bytes\n", out.len, size);
		abort();
	}
	aim_buf_free(&out);
	mls_group_info_free(&x);
	return 0;
}
