/*
 * Internals shared by the core files of src/client (core_*.c): the device
 * struct, the JSON calls to the home server, and the store helpers. Not for
 * other layers, and never including curl or sqlite headers.
 */
#ifndef AIM_CLIENT_CORE_INT_H
#define AIM_CLIENT_CORE_INT_H

#include <jansson.h>

#include "client/client.h"

struct client {
	struct client_io io;
	char *server;   /* home BASE without a trailing slash */
	char *user;
	char *token;
	char device[CLIENT_DEVICE_MAX + 1];
	char acct[CLIENT_ACCT_MAX];
	uint16_t suite;
	const struct aim_suite *cs;
	struct aim_buf sig_sk;   /* secret */
	struct aim_buf sig_pk;
	struct aim_buf cert;     /* our leaf, DER */
	struct aim_buf ca;       /* the CA that issued it, DER */
	int64_t not_after;
	int64_t ca_ttl;
	char server_error[64];
	long server_status;
	client_progress_fn progress;  /* NULL: none (client_set_progress) */
	void *progress_arg;
};

/* Reports progress of a long operation (nothing if no callback is set). */
void client_core_progress(struct client *c, const char *stage, size_t done, size_t total);

/* ---- Store ---- */
/* Writes the "device" entry (inside or outside a transaction). */
int client_core_save_device(struct client *c) AIM_WARN_UNUSED;
/* Gets a JSON value of the store (NOTFOUND if absent). */
int client_core_kv_get_json(struct client *c, const char *key, json_t **out) AIM_WARN_UNUSED;
/* Puts a JSON value; secret: wipe the text after writing it. */
int client_core_kv_put_json(struct client *c, const char *key, const json_t *v, bool secret)
	AIM_WARN_UNUSED;
int64_t client_core_now(struct client *c);

/* ---- Home server ---- */
/* One JSON call to BASE+path (path starts with "/"; or an absolute URL of
 * the home server). body may be NULL. On a 2xx *resp holds the decoded body
 * (NULL if empty; the caller decrefs) and 0 is returned; any other status
 * records the server's error code and fails with the matching aim_err. */
int client_core_call(struct client *c, const char *method, const char *path, const json_t *body,
		     json_t **resp) AIM_WARN_UNUSED;
/* Maps a non-2xx answer to an aim_err, keeping the server's code. */
int client_core_refused(struct client *c, long status, struct aim_bytes body, const char *what);

/* ---- Bytes in JSON ---- */
/* json string of base64(p) (NULL on allocation failure). */
json_t *client_core_b64(struct aim_bytes b);
/* Decodes a base64 JSON string into out (AIM_ERR_DECODE if not one). */
int client_core_unb64(const json_t *s, struct aim_buf *out) AIM_WARN_UNUSED;

/* ---- acct: URIs ---- */
/* Splits "acct:user@authority" (the authority lower-cased, port kept):
 * AIM_ERR_DECODE if malformed. host receives the authority without port. */
int client_core_acct_split(const char *acct, char *user, size_t ulen, char *authority,
			   size_t alen, char *host, size_t hlen) AIM_WARN_UNUSED;
/* Equal acct: URIs (scheme and authority case-insensitive). */
bool client_core_acct_equal(const char *a, const char *b);

/* ---- KeyPackages ---- */
/* Appends a KeyPackage decoded from an MLSMessage (or a bare KeyPackage). */
int client_core_parse_kp(struct aim_bytes msg, struct mls_key_package *kp) AIM_WARN_UNUSED;

#endif
