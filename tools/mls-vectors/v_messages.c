/* messages.json: every field decodes as its RFC 9420 structure and
 * re-encodes to exactly the same bytes. The MLSMessage fields must also
 * carry the wire format (and content type) the field name promises. */
#include <string.h>

#include "mls/codec.h"
#include "vectors.h"

/* Decodes buf as struct mls_NAME, re-encodes, compares; 0 if identical. */
#define ROUNDTRIP(name)                                                              \
	static int rt_##name(const struct aim_buf *in)                               \
	{                                                                            \
		struct mls_##name x;                                                 \
		struct aim_buf out;                                                  \
		TRY(mls_##name##_parse(in->data, in->len, &x));                      \
		aim_buf_init(&out, MLS_MAX_MESSAGE);                                 \
		int rc = mls_##name##_encode(&out, &x);                              \
		if (rc == 0 && !aim_ct_equal(out.data, out.len, in->data, in->len))  \
			rc = aim_fail(AIM_ERR_DECODE, "re-encoding differs (%zu vs %zu bytes)", \
				      out.len, in->len);                             \
		aim_buf_free(&out);                                                  \
		mls_##name##_free(&x);                                               \
		return rc;                                                           \
	}

ROUNDTRIP(ratchet_tree)
ROUNDTRIP(group_secrets)
ROUNDTRIP(add)
ROUNDTRIP(update)
ROUNDTRIP(remove)
ROUNDTRIP(pre_shared_key)
ROUNDTRIP(reinit)
ROUNDTRIP(external_init)
ROUNDTRIP(group_context_extensions)
ROUNDTRIP(commit)

/* MLSMessage with the expected wire format and, for public messages, content
 * type (0: any). */
static int rt_msg(const struct aim_buf *in, uint16_t wire_format, uint8_t content_type)
{
	struct mls_message m;
	struct aim_buf out;
	TRY(mls_message_parse(in->data, in->len, &m));
	int rc = 0;
	if (m.wire_format != wire_format)
		rc = aim_fail(AIM_ERR_DECODE, "wire_format %u, want %u", m.wire_format, wire_format);
	else if (content_type && m.public_message.content.content_type != content_type)
		rc = aim_fail(AIM_ERR_DECODE, "content_type %u, want %u",
			      m.public_message.content.content_type, content_type);
	aim_buf_init(&out, MLS_MAX_MESSAGE);
	if (rc == 0)
		rc = mls_message_encode(&out, &m);
	if (rc == 0 && !aim_ct_equal(out.data, out.len, in->data, in->len))
		rc = aim_fail(AIM_ERR_DECODE, "re-encoding differs (%zu vs %zu bytes)", out.len,
			      in->len);
	aim_buf_free(&out);
	mls_message_free(&m);
	return rc;
}

static const struct {
	const char *field;
	int (*rt)(const struct aim_buf *);
	uint16_t wire_format; /* rt == NULL: an MLSMessage of this format */
	uint8_t content_type;
} fields[] = {
	{ "mls_welcome", NULL, MLS_WIRE_WELCOME, 0 },
	{ "mls_group_info", NULL, MLS_WIRE_GROUP_INFO, 0 },
	{ "mls_key_package", NULL, MLS_WIRE_KEY_PACKAGE, 0 },
	{ "ratchet_tree", rt_ratchet_tree, 0, 0 },
	{ "group_secrets", rt_group_secrets, 0, 0 },
	{ "add_proposal", rt_add, 0, 0 },
	{ "update_proposal", rt_update, 0, 0 },
	{ "remove_proposal", rt_remove, 0, 0 },
	{ "pre_shared_key_proposal", rt_pre_shared_key, 0, 0 },
	{ "re_init_proposal", rt_reinit, 0, 0 },
	{ "external_init_proposal", rt_external_init, 0, 0 },
	{ "group_context_extensions_proposal", rt_group_context_extensions, 0, 0 },
	{ "commit", rt_commit, 0, 0 },
	{ "public_message_application", NULL, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_APPLICATION },
	{ "public_message_proposal", NULL, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_PROPOSAL },
	{ "public_message_commit", NULL, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_COMMIT },
	{ "private_message", NULL, MLS_WIRE_PRIVATE_MESSAGE, 0 },
};

void vec_messages(json_t *tests, struct vec_stats *st)
{
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t) {
		bool ok = true;
		for (size_t k = 0; k < AIM_ARRAY_LEN(fields) && ok; k++) {
			struct aim_buf in;
			if (vec_hex(t, fields[k].field, &in, NULL) != 0) {
				vec_fail(st, i, "field %s missing", fields[k].field);
				ok = false;
			} else if ((fields[k].rt ? fields[k].rt(&in)
						 : rt_msg(&in, fields[k].wire_format,
							  fields[k].content_type)) != 0) {
				vec_fail(st, i, "%s", fields[k].field);
				ok = false;
			}
			aim_buf_free(&in);
		}
		if (ok)
			st->passed++;
	}
}
