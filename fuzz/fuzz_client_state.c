/* libFuzzer target: the client's stored state (src/client, client.h "State
 * in the key-value store"). The store is a file on the device, but a
 * damaged or hand-edited one must give a refusal, never a crash. The input
 * is the whole store: entries KEY NUL VALUE NUL ... (keys such as "device",
 * "group/GIDHEX", "conv/URL", "msg/GIDHEX/N"), served by an in-memory
 * key-value io with no network (every HTTP exchange fails). The target
 * opens the device (client_open) and reads every view that loads state:
 * the conversations, and each one's group record, history and members.
 * Seeds: fuzz/seeds/fuzz_client_state (a device record as client_create
 * writes it, with a group, a conversation and history entries). */
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

#define MAX_ENTRIES 64

struct kv {
	char *key[MAX_ENTRIES];
	struct aim_bytes val[MAX_ENTRIES];
	size_t n;
};

static int kv_get(void *ctx, const char *key, struct aim_buf *value)
{
	struct kv *k = ctx;
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->key[i], key))
			return aim_buf_append(value, k->val[i].p, k->val[i].len);
	return aim_fail(AIM_ERR_NOTFOUND, "no such key");
}

static int kv_put(void *ctx, const char *key, struct aim_bytes value)
{
	(void)ctx;
	(void)key;
	(void)value;
	return 0; /* reads only: what is written is dropped */
}

static int kv_del(void *ctx, const char *key)
{
	(void)ctx;
	(void)key;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int kv_list(void *ctx, const char *prefix, client_kv_fn fn, void *arg)
{
	struct kv *k = ctx;
	char *keys[MAX_ENTRIES];
	size_t n = 0;
	for (size_t i = 0; i < k->n; i++)
		if (!strncmp(k->key[i], prefix, strlen(prefix)))
			keys[n++] = k->key[i];
	qsort(keys, n, sizeof *keys, cmp_key);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < k->n; j++)
			if (k->key[j] == keys[i]) {
				int rc = fn(arg, keys[i], k->val[j]);
				if (rc)
					return rc;
			}
	return 0;
}

static int kv_begin(void *ctx)
{
	(void)ctx;
	return 0;
}

static void kv_rollback(void *ctx)
{
	(void)ctx;
}

static int64_t now(void *ctx)
{
	(void)ctx;
	return 1767225600;
}

static int no_http(void *ctx, const struct client_http_request *req,
		   struct client_http_response *resp)
{
	(void)ctx;
	(void)req;
	(void)resp;
	return aim_fail(AIM_ERR_REMOTE, "no network in the fuzz target");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kv k = { 0 };
	uint8_t *copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = 0;
	uint8_t *p = copy, *end = copy + size;
	while (p < end && k.n < MAX_ENTRIES) {
		uint8_t *z = memchr(p, 0, (size_t)(end - p));
		if (!z)
			break;
		uint8_t *v = z + 1;
		uint8_t *vz = v < end ? memchr(v, 0, (size_t)(end - v)) : NULL;
		uint8_t *ve = vz ? vz : end;
		k.key[k.n] = (char *)p;
		k.val[k.n] = AIM_BYTES(v, (size_t)(ve - v));
		k.n++;
		p = ve + 1;
	}
	struct client_io io = {
		.http = no_http, .kv_get = kv_get, .kv_put = kv_put, .kv_del = kv_del,
		.kv_list = kv_list, .kv_begin = kv_begin, .kv_commit = kv_begin,
		.kv_rollback = kv_rollback, .kv_ctx = &k, .now = now,
	};
	struct client *c = NULL;
	if (client_open(&io, &c) == 0) {
		struct client_group_info *gi = NULL;
		size_t n = 0;
		if (client_conversations(c, &gi, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				struct client_group_info one;
				(void)client_group_info(c, gi[i].conversation, &one);
				struct client_message *m = NULL;
				size_t nm = 0;
				if (client_messages(c, gi[i].conversation, &m, &nm) == 0)
					client_messages_free(m, nm);
				struct client_member *mem = NULL;
				size_t nmem = 0;
				if (client_members(c, gi[i].conversation, &mem, &nmem) == 0)
					free(mem);
			}
			free(gi);
		}
		client_free(c);
	}
	aim_errclear();
	free(copy);
	return 0;
}
