/*
 * aim-mls-vectors: runs the official MLS test vectors (RFC 9420 interop
 * vectors, copied in tests/vectors/mls from mlswg/mls-implementations). One runner function per vector file;
 * each receives the file's JSON array and counts every test object in it as
 * passed, failed or skipped. A runner prints one line per failure to stderr
 * ("FILE[i]: reason") and never aborts the whole run.
 */
#ifndef AIM_MLS_VECTORS_H
#define AIM_MLS_VECTORS_H

#include <jansson.h>
#include <stdbool.h>

#include "base/base.h"

struct vec_stats {
	unsigned passed, failed, skipped;
};

typedef void (*vec_runner)(json_t *tests, struct vec_stats *st);

/* Runners, one per file, each defined in v_FILE.c. */
void vec_crypto_basics(json_t *tests, struct vec_stats *st);
void vec_deserialization(json_t *tests, struct vec_stats *st);
void vec_key_schedule(json_t *tests, struct vec_stats *st);
void vec_message_protection(json_t *tests, struct vec_stats *st);
void vec_messages(json_t *tests, struct vec_stats *st);
void vec_psk_secret(json_t *tests, struct vec_stats *st);
void vec_secret_tree(json_t *tests, struct vec_stats *st);
void vec_transcript_hashes(json_t *tests, struct vec_stats *st);
void vec_tree_math(json_t *tests, struct vec_stats *st);
void vec_tree_operations(json_t *tests, struct vec_stats *st);
void vec_tree_validation(json_t *tests, struct vec_stats *st);
void vec_treekem(json_t *tests, struct vec_stats *st);
void vec_welcome(json_t *tests, struct vec_stats *st);
void vec_passive_client(json_t *tests, struct vec_stats *st);

/* Helpers for runners. */

/* Decodes the hex string field `key` of obj into out (initialised here,
 * max 16 MiB). A JSON null gives an empty buffer and *present = false when
 * present is not NULL. Returns -1 if missing or not hex. */
int vec_hex(json_t *obj, const char *key, struct aim_buf *out, bool *present);
/* Integer field; -1 if missing or not an integer. */
int vec_uint(json_t *obj, const char *key, uint64_t *out);
/* Records one failure: prints "FILE[index]: what (aim error message)". */
void vec_fail(struct vec_stats *st, size_t index, const char *fmt, ...) AIM_PRINTF(3, 4);
/* True if a equals the hex field key of obj; prints a diff line on mismatch. */
bool vec_expect(json_t *obj, const char *key, const uint8_t *p, size_t n);
/* The common loop of most runners: for every test object, looks up its
 * cipher_suite and counts run(suite, test) == 0 as passed, else failed. */
struct aim_suite;
void vec_each_suite(json_t *tests, struct vec_stats *st,
		    int (*run)(const struct aim_suite *cs, json_t *t));
/* The file being run, for messages. */
extern const char *vec_current_file;

#endif
