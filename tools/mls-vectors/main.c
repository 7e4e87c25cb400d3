/* aim-mls-vectors [DIR]: runs every known official MLS vector file in DIR
 * (default $AIM_MLS_VECTORS, else the repository's tests/vectors/mls). Prints
 * "FILE: N passed, N failed, N skipped" per file and "N passed, N failed"
 * overall (", N skipped" follows when a runner is missing). Exit status 0
 * only when nothing failed;
 * a missing folder or file is a failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "vectors.h"

/* The build sets it to the source tree's tests/vectors/mls. */
#ifndef AIM_DEFAULT_VECTORS
#define AIM_DEFAULT_VECTORS "tests/vectors/mls"
#endif

/* A runner not yet linked in counts its whole file as skipped (a failure of
 * the run): weak references keep the build green while the library grows. */
#pragma weak vec_crypto_basics
#pragma weak vec_deserialization
#pragma weak vec_key_schedule
#pragma weak vec_message_protection
#pragma weak vec_messages
#pragma weak vec_psk_secret
#pragma weak vec_secret_tree
#pragma weak vec_transcript_hashes
#pragma weak vec_tree_math
#pragma weak vec_tree_operations
#pragma weak vec_tree_validation
#pragma weak vec_treekem
#pragma weak vec_welcome
#pragma weak vec_passive_client

const char *vec_current_file = "";

static const struct {
	const char *file;
	vec_runner run;
	bool part2; /* passive-client files: the group state machine (issue part 2) */
} files[] = {
	{ "crypto-basics.json", vec_crypto_basics, false },
	{ "deserialization.json", vec_deserialization, false },
	{ "key-schedule.json", vec_key_schedule, false },
	{ "message-protection.json", vec_message_protection, false },
	{ "messages.json", vec_messages, false },
	{ "psk_secret.json", vec_psk_secret, false },
	{ "secret-tree.json", vec_secret_tree, false },
	{ "transcript-hashes.json", vec_transcript_hashes, false },
	{ "tree-math.json", vec_tree_math, false },
	{ "tree-operations.json", vec_tree_operations, false },
	{ "tree-validation.json", vec_tree_validation, false },
	{ "treekem.json", vec_treekem, false },
	{ "welcome.json", vec_welcome, false },
	{ "passive-client-welcome.json", vec_passive_client, true },
	{ "passive-client-handling-commit.json", vec_passive_client, true },
	{ "passive-client-random.json", vec_passive_client, true },
};

int vec_hex(json_t *obj, const char *key, struct aim_buf *out, bool *present)
{
	aim_buf_init(out, 16u << 20);
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = v && !json_is_null(v);
	if (v && json_is_null(v) && present)
		return 0;
	ENSURE(v && json_is_string(v), AIM_ERR_DECODE, "field %s missing", key);
	TRY(aim_buf_reserve(out, 0));
	return aim_hex_decode(out, json_string_value(v), json_string_length(v));
}

int vec_uint(json_t *obj, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	ENSURE(v && json_is_integer(v) && json_integer_value(v) >= 0, AIM_ERR_DECODE,
	       "field %s missing", key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

void vec_fail(struct vec_stats *st, size_t index, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s[%zu]: %s%s%s%s\n", vec_current_file, index, msg,
		aim_errcode() ? " (" : "", aim_errmsg(), aim_errcode() ? ")" : "");
	aim_errclear();
	st->failed++;
}

bool vec_expect(json_t *obj, const char *key, const uint8_t *p, size_t n)
{
	json_t *v = json_object_get(obj, key);
	if (!v || !json_is_string(v)) {
		fprintf(stderr, "%s: expected field %s missing\n", vec_current_file, key);
		return false;
	}
	struct aim_buf want;
	aim_buf_init(&want, 16u << 20);
	bool ok = aim_hex_decode(&want, json_string_value(v), json_string_length(v)) == 0 &&
		  aim_ct_equal(want.data, want.len, p, n);
	if (!ok)
		fprintf(stderr, "%s: %s mismatch (got %zu bytes, want %zu)\n", vec_current_file,
			key, n, want.len);
	aim_buf_free(&want);
	return ok;
}

void vec_each_suite(json_t *tests, struct vec_stats *st,
		    int (*run)(const struct aim_suite *cs, json_t *t))
{
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t)
	{
		uint64_t id;
		const struct aim_suite *cs = NULL;
		if (vec_uint(t, "cipher_suite", &id) == 0 && id <= 0xffff)
			cs = aim_suite_get((uint16_t)id);
		if (!cs)
			vec_fail(st, i, "unknown cipher suite");
		else if (run(cs, t))
			vec_fail(st, i, "suite %u", cs->id);
		else
			st->passed++;
	}
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("AIM_MLS_VECTORS");
	if (!dir || !*dir)
		dir = AIM_DEFAULT_VECTORS;
	if (argc > 2 || (argc > 1 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: aim-mls-vectors [DIR]\n");
		return 2;
	}
	unsigned tp = 0, tf = 0, ts = 0;
	for (size_t i = 0; i < AIM_ARRAY_LEN(files); i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, files[i].file);
		vec_current_file = files[i].file;
		json_error_t jerr;
		json_t *root = json_load_file(path, 0, &jerr);
		struct vec_stats st = { 0, 0, 0 };
		if (!root || !json_is_array(root)) {
			fprintf(stderr, "%s: cannot read: %s\n", path, root ? "not an array" : jerr.text);
			st.failed = 1;
		} else if (!files[i].run) {
			st.skipped = (unsigned)json_array_size(root);
		} else {
			files[i].run(root, &st);
		}
		json_decref(root);
		printf("%s: %u passed, %u failed, %u skipped\n", files[i].file, st.passed, st.failed,
		       st.skipped);
		fflush(stdout);
		tp += st.passed;
		tf += st.failed;
		ts += st.skipped;
	}
	if (ts)
		printf("%u passed, %u failed, %u skipped\n", tp, tf, ts);
	else
		printf("%u passed, %u failed\n", tp, tf);
	return tf ? 1 : 0;
}
