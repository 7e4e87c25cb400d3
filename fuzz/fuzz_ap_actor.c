/* libFuzzer target: the parse of a remote actor document (src/ap/ap.h
 * ap_actor_parse), as the actor cache runs it on a fetched body. Nothing may
 * crash or leak; what it accepts must keep the rules: an http(s) id, equal
 * to the expected one when one is given, an http(s) inbox, and keys whose
 * ids are on the actor's origin (threats.md A15, B22). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "base/url.h"

#define EXPECT "https://b.test/users/bob"

static void check(const struct ap_remote_actor *a, const char *expect)
{
	if (!aim_url_valid(a->id) || !aim_url_valid(a->inbox) || !a->type ||
	    (expect && !aim_url_equal(a->id, expect)) || a->n_keys > AP_ACTOR_MAX_KEYS)
		abort();
	for (size_t i = 0; i < a->n_keys; i++) {
		const struct ap_actor_key *k = &a->keys[i];
		if (!aim_url_origin_equal(k->id, a->id) || ap_actor_key_find(a, k->id) == NULL ||
		    (k->form == AP_KEY_PEM) != (k->pem != NULL))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL;
	if (ap_json_parse_object(data, size, &doc) != 0)
		return 0;
	static const char *const expects[] = { NULL, EXPECT };
	for (size_t i = 0; i < 2; i++) {
		struct ap_remote_actor a;
		if (ap_actor_parse(doc, expects[i], &a) == 0)
			check(&a, expects[i]);
		else if (a.id || a.n_keys)
			abort(); /* a refusal leaves nothing behind */
		ap_remote_actor_clear(&a);
	}
	json_decref(doc);
	return 0;
}
