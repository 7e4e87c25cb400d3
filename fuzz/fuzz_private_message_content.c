/* libFuzzer target: PrivateMessageContent (the decrypted plaintext of a
 * PrivateMessage). The first byte is the content type taken from the
 * enclosing PrivateMessage; the rest is the plaintext. Whatever decodes
 * (zero padding included) must re-encode to exactly the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mls/codec.h"
#include "mls/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct mls_tls_reader r;
	struct mls_private_message_content x;
	mls_tls_reader_init(&r, data + 1, size - 1);
	if (mls_private_message_content_decode(&r, data[0], &x) != 0)
		return 0;
	if (mls_tls_remaining(&r) != 0)
		abort(); /* the padding takes the rest */
	struct aim_buf out;
	aim_buf_init(&out, MLS_MAX_MESSAGE);
	if (mls_private_message_content_encode(&out, &x) != 0) {
		fprintf(stderr, "re-encoding failed: %s\n", aim_errmsg());
		abort();
	}
	if (out.len != size - 1 || memcmp(out.data, data + 1, size - 1) != 0) {
		fprintf(stderr, "re-encoding differs: %zu vs %zu bytes\n", out.len, size - 1);
		abort();
	}
	aim_buf_free(&out);
	mls_private_message_content_free(&x);
	return 0;
}
