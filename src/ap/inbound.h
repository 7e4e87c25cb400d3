/*
 * ap/inbound: what an activity from another server means here, decided
 * without I/O.
 *
 * The server's inbox (src/server/s2s_inbox.c) verifies the HTTP signature,
 * parses the body (ap_json_parse_object) and then asks this core what the
 * activity does. The core never touches the network, the store or a
 * clock: everything it needs comes in, and a plan goes out. The
 * conversation is a loop:
 *
 *   facts = {}                       (nothing known yet)
 *   ap_inbound_decide(env, activity, facts, plan)
 *     -1: refused; aim_errcode() / aim_errmsg() say why (AIM_ERR_INVALID
 *         shape, AIM_ERR_AUTH key owner, AIM_ERR_DENIED origin rules and
 *         blocks, AIM_ERR_NOTFOUND no such local user, or the code of a
 *         failed lookup or fetch the facts carry). The shell maps the code
 *         to a status; no status appears here.
 *      0 and plan.ask not empty: look these up (the actor's document, local
 *         users, the local followers of the actor, a stored activity,
 *         whether an IRI is a known actor, an object to fetch from its
 *         origin), add the answers to facts, and call again;
 *      0 and plan.ask empty: decided. Store plan.json with its recipients
 *         (audience and inbox rows), apply plan.fx in order, store and send
 *         plan.reply, all in one transaction; then answer "accepted".
 *
 * Every call decides from scratch on the facts given, so a call with the
 * same inputs gives the same plan: fixtures (tests/fixtures/inbound/) are
 * an activity, the facts, and the expected plan. A question is asked only
 * when a rule needs its answer, and a fetch only after every check that
 * can refuse without it: a refused activity causes no outbound fetch
 * (what "refused" means in docs/threats.md).
 *
 * The rules, in the order they apply:
 *   shape (B28): a string http(s) id, a non-empty type, an actor;
 *   the key owner is the actor (A14, after a URL parse: A16);
 *   the id is on the actor's origin;
 *   recipients: to, cc, bto, bcc, audience of the activity and of its
 *     embedded object, at most AP_MAX_ADDRESSEES IRIs looked at (B26):
 *     BASE/users/NAME of an existing user, the local followers of the actor
 *     when as:Public or the actor's followers collection is addressed, the
 *     owner of a personal inbox; without duplicates; a recipient who blocks
 *     the actor is dropped (refused when that leaves nobody, or when the
 *     personal inbox's owner blocks the actor);
 *   then per type:
 *     Follow       of an existing local user (the one of a personal inbox):
 *                  follower row (pending under manual approval, else
 *                  accepted with an automatic Accept to the follower's inbox);
 *     Accept/Reject of a Follow of ours, only by the actor it followed (B30);
 *     Undo         only of the actor's own activity (B30): an Undo(Follow)
 *                  ends that follow;
 *     Create       of an object on the actor's origin attributed to the actor
 *                  (B23); an object given by reference is fetched first;
 *     Update/Delete of an object by its owner only, and of an actor only by
 *                  itself (B24); Delete leaves a Tombstone in place of the
 *                  object and of its content in every activity that carried
 *                  it (the content is kept nowhere); Delete of the actor
 *                  itself purges it;
 *     Block        of a local user ends the follows between them;
 *     other types  are stored for their recipients, nothing else.
 *
 * IRIs are compared only after the strict URL parse of base/url.h (A16).
 *
 * Ownership: the plan owns what it allocates (free with
 * ap_inbound_plan_clear); its other strings are borrowed from env, the
 * activity and the facts, which must outlive it.
 */
#ifndef AIM_AP_INBOUND_H
#define AIM_AP_INBOUND_H

#include <jansson.h>

#include "base/base.h"

#define AP_INBOUND_MAX_RECIPIENTS 1024 /* local recipients of one activity */
#define AP_INBOUND_MAX_FX 4            /* effects of one activity */
#define AP_INBOUND_MAX_ROUNDS 8        /* calls before a decision, at most */

/* Who we are and what arrived, besides the activity. Borrowed. */
struct ap_inbound_env {
	const char *base;            /* this server's base URL (users are BASE/users/NAME) */
	const char *actor;           /* the verified key's owner */
	const char *inbox_user;      /* the personal inbox's user, NULL for the shared inbox */
	const char *reply_id;        /* a fresh id for an Accept this server may send */
	int64_t now;                 /* seconds since the epoch */
};

/* A local user as the shell found it. */
struct ap_local_user {
	int64_t id;                  /* > 0 */
	const char *name;            /* NULL when asked by id (followers) */
	bool manual_approval;        /* approves followers by hand */
	bool blocks_actor;           /* blocks the activity's actor */
};

/* What the core asks for; empty when it has decided. Strings are owned by
 * the plan. */
struct ap_inbound_ask {
	bool actor;                  /* the actor's document (inbox, followers) */
	char **users;                /* local users by name (those that exist) */
	size_t n_users;
	bool followers;              /* the local users whose follow of the actor is accepted */
	char *stored;                /* an activity stored here, by id */
	char *is_actor;              /* whether this IRI is a known remote actor */
	char *fetch;                 /* an object to fetch from its origin (signed GET) */
};

/* The answers, borrowed. A question answered has its `answered` set. */
struct ap_inbound_facts {
	struct {
		bool answered;
		enum aim_err err;    /* AIM_ERR_NONE: had; else why not (errmsg) */
		const char *errmsg;
		const char *inbox, *shared_inbox, *followers; /* NULL: none */
	} actor;
	struct {
		bool answered;
		const struct ap_local_user *v; /* every name asked that is a user here */
		size_t n;
	} users, followers;
	struct {
		bool answered, found;
		int64_t author;      /* local user id (the remote row for a remote one) */
		const char *actor;   /* its remote actor; NULL for a local activity */
		const char *json;
	} stored;
	struct {
		bool answered, yes;
	} is_actor;
	struct {
		bool answered;
		const json_t *doc;   /* NULL: the fetch failed (err, errmsg) */
		enum aim_err err;
		const char *errmsg;
	} fetch;
};

/* ---- The plan -------------------------------------------------------------- */

enum ap_effect_kind {
	AP_FX_FOLLOWER_PUT = 1,      /* actor follows user (inbox, shared_inbox, follow_id,
					accepted) */
	AP_FX_FOLLOWER_DEL,          /* actor no longer follows user (0: any); follow_id or NULL */
	AP_FX_FOLLOWING_ACCEPT,      /* actor accepted our Follow follow_id */
	AP_FX_FOLLOWING_DEL,         /* user (0: any) no longer follows actor; follow_id or NULL */
	AP_FX_OBJECT_UPDATE,         /* actor's object object_id is now json */
	AP_FX_OBJECT_DELETE,         /* actor's object object_id is now json, a Tombstone */
	AP_FX_OBJECT_PURGE,          /* the activities of actor that carry object_id carry its
					Tombstone (json) instead and leave the inboxes */
	AP_FX_ACTOR_PURGE,           /* actor is gone: its follows, activities and objects */
	AP_FX_ACTOR_FORGET,          /* drop actor from the remote actor cache (not stored) */
};
const char *ap_effect_name(enum ap_effect_kind k);

struct ap_effect {
	enum ap_effect_kind kind;
	int64_t user;
	const char *actor;
	const char *inbox;
	const char *shared_inbox;
	const char *follow_id;
	const char *object_id;
	char *json;                  /* owned */
	bool accepted;               /* FOLLOWER_PUT: accepted, else pending */
};

struct ap_inbound_plan {
	struct ap_inbound_ask ask;
	/* Decided (ask empty): */
	const char *id;              /* the activity's id */
	char *json;                  /* the activity to store (an object given by
					reference embedded) */
	const char *object_id;       /* the object it creates, or NULL */
	char *object_json;
	bool is_public;
	int64_t *recipients;         /* audience and inbox rows, no duplicates */
	size_t n_recipients;
	struct ap_effect fx[AP_INBOUND_MAX_FX];
	size_t n_fx;
	bool lenient;                /* an object unknown here is no error: store the
					activity without the OBJECT_UPDATE/OBJECT_DELETE
					effects (the others still apply) */
	/* A local activity this causes (the automatic Accept of a Follow), sent
	 * to reply_inbox, signed by reply_author: */
	char *reply;
	const char *reply_id;
	int64_t reply_author;
	const char *reply_inbox;
};
void ap_inbound_plan_clear(struct ap_inbound_plan *p);
/* Whether the plan asks for something (else it is decided). */
bool ap_inbound_asks(const struct ap_inbound_plan *p);

/* See the top of this file. activity is borrowed and not modified; *out is
 * cleared first, and left cleared on -1. */
int ap_inbound_decide(const struct ap_inbound_env *env, const json_t *activity,
		      const struct ap_inbound_facts *facts,
		      struct ap_inbound_plan *out) AIM_WARN_UNUSED;

/* ---- Documents this server sends about inbound activities ------------------ */

/* Accept of a Follow (follow_id, by follower, of followed), by `actor`, to
 * the follower. */
json_t *ap_accept_follow(const char *id, const char *actor, const char *follow_id,
			 const char *follower, const char *followed);
/* {id, type: Tombstone, deleted: RFC 3339 time}. */
json_t *ap_tombstone(const char *id, int64_t deleted);

#endif
