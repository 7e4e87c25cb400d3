/* libFuzzer target: the message content format (src/client client.h
 * "Message content", docs/content.md): what comes out of a decrypted MLS
 * application message, written by any member. The input is split on NUL
 * bytes into messages; byte 0 of each picks its sender (three acct: URIs).
 * Each is decoded (client_content_decode; a decoded known message must
 * encode and decode again to the same type and id) and applied to one
 * timeline (client_content_apply: replies, reactions, edits and deletes act
 * on earlier entries). Nothing may crash, leak or read out of bounds. */
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

static const char *const senders[] = { "acct:alice@a.test", "acct:bob@b.test",
				       "acct:carol@c.test" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_content_timeline t;
	client_content_timeline_init(&t);
	const uint8_t *p = data, *end = data + size;
	int64_t now = 1767225600;
	while (p < end) {
		const uint8_t *z = memchr(p, 0, (size_t)(end - p));
		const uint8_t *e = z ? z : end;
		if (e > p) {
			const char *who = senders[p[0] % 3];
			struct aim_bytes b = AIM_BYTES(p + 1, (size_t)(e - p - 1));
			struct client_content m, m2;
			if (client_content_decode(b, &m) == 0) {
				struct aim_buf enc;
				aim_buf_init(&enc, 1 << 20);
				if (m.type != CLIENT_CONTENT_UNKNOWN &&
				    client_content_encode(&m, &enc) == 0) {
					if (client_content_decode(aim_buf_bytes(&enc), &m2) != 0)
						abort(); /* what we write we read */
					if (m2.type != m.type || strcmp(m2.id, m.id) != 0)
						abort();
					client_content_free(&m2);
				}
				aim_buf_free(&enc);
				client_content_free(&m);
			}
			enum client_content_outcome o;
			size_t idx;
			(void)client_content_apply(&t, who, now++, b, &o, &idx);
		}
		p = e + 1;
	}
	client_content_timeline_free(&t);
	return 0;
}
