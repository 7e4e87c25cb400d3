/* libFuzzer target: the inbound core of src/ap/inbound.h, driven as the
 * inbox shell drives it: the body through ap_json_parse_object, then
 * ap_inbound_decide until it stops asking, every question answered from a
 * world made up from the input (every name asked is a user, some of whom
 * block the actor or approve by hand; two local followers; a stored
 * activity that is the input itself; a fetch that returns the input's
 * object). Nothing may crash or leak, and the conversation must end: no
 * question twice, at most AP_INBOUND_MAX_ROUNDS rounds, a decided plan with
 * recipients without duplicates and a stored activity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "ap/inbound.h"

#define BASE "https://b.test"
#define ACTOR "https://r.test/users/mallory"

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *act = NULL;
	if (ap_json_parse_object(data, size, &act) != 0)
		return 0;
	struct ap_inbound_env env = {
		.base = BASE,
		.actor = ACTOR,
		.inbox_user = size % 3 == 0 ? "bob" : NULL,
		.reply_id = BASE "/activities/reply",
		.now = 1700000000,
	};
	struct ap_inbound_facts f = { 0 };
	struct ap_local_user users[64], followers[2] = { { .id = 1001 }, { .id = 1002, .blocks_actor = true } };
	char *names[64];
	size_t n_users = 0;
	char *stored = NULL;
	json_t *fetched = NULL;
	struct ap_inbound_plan p;
	int rc = 0, rounds = 0;
	for (;;) {
		rc = ap_inbound_decide(&env, act, &f, &p);
		if (rc != 0 || !ap_inbound_asks(&p))
			break;
		if (++rounds > AP_INBOUND_MAX_ROUNDS)
			abort(); /* the core must decide */
		const struct ap_inbound_ask *q = &p.ask;
		if ((q->actor && f.actor.answered) || (q->n_users && f.users.answered) ||
		    (q->followers && f.followers.answered) || (q->stored && f.stored.answered) ||
		    (q->is_actor && f.is_actor.answered) || (q->fetch && f.fetch.answered))
			abort(); /* asked twice */
		if (q->actor) {
			f.actor.answered = true;
			f.actor.inbox = ACTOR "/inbox";
			f.actor.followers = ACTOR "/followers";
		}
		if (q->n_users) {
			for (size_t i = 0; i < q->n_users && n_users < 64; i++) {
				uint32_t h = hash(q->users[i]);
				names[n_users] = strdup(q->users[i]);
				users[n_users] = (struct ap_local_user){
					.id = (int64_t)n_users + 1,
					.name = names[n_users],
					.manual_approval = h & 1,
					.blocks_actor = (h & 6) == 6,
				};
				n_users++;
			}
			f.users.answered = true;
			f.users.v = users;
			f.users.n = n_users;
		}
		if (q->followers) {
			f.followers.answered = true;
			f.followers.v = followers;
			f.followers.n = 2;
		}
		if (q->stored) {
			f.stored.answered = true;
			f.stored.found = size % 2 == 0;
			f.stored.author = 1;
			f.stored.actor = size % 4 == 0 ? ACTOR : NULL;
			stored = ap_json_dump(act);
			f.stored.json = stored;
		}
		if (q->is_actor) {
			f.is_actor.answered = true;
			f.is_actor.yes = size % 5 == 0;
		}
		if (q->fetch) {
			f.fetch.answered = true;
			fetched = json_pack("{s:s, s:s, s:s}", "id", q->fetch, "type", "Note",
					    "attributedTo", ACTOR);
			f.fetch.doc = size % 7 ? fetched : NULL;
			f.fetch.err = AIM_ERR_REMOTE;
		}
		ap_inbound_plan_clear(&p);
	}
	if (rc != 0) {
		if (aim_errcode() == AIM_ERR_NONE)
			abort(); /* a refusal names its reason */
	} else {
		if (!p.json || !p.id || p.n_fx > AP_INBOUND_MAX_FX)
			abort();
		for (size_t i = 0; i < p.n_recipients; i++)
			for (size_t k = i + 1; k < p.n_recipients; k++)
				if (p.recipients[i] == p.recipients[k])
					abort();
		ap_inbound_plan_clear(&p);
	}
	for (size_t i = 0; i < n_users; i++)
		free(names[i]);
	free(stored);
	json_decref(fetched);
	json_decref(act);
	return 0;
}
