/* store: the dispatch from the public calls to a back end's ops table. */
#include "store/store.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

void store_user_clear(struct store_user *u)
{
	if (!u)
		return;
	free(u->rsa_public_pem);
	memset(u, 0, sizeof *u);
}

void store_item_clear(struct store_item *it)
{
	if (!it)
		return;
	free(it->json);
	memset(it, 0, sizeof *it);
}

void store_page_clear(struct store_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		store_item_clear(&p->items[i]);
	free(p->items);
	memset(p, 0, sizeof *p);
}

int store_open(const char *location, struct store **out)
{
	return store_open_ex(location, 0, out);
}

int store_open_ex(const char *location, unsigned flags, struct store **out)
{
	ENSURE(location && *location, AIM_ERR_INVALID, "empty store location");
	if (aim_str_has_prefix(location, "postgresql://") || aim_str_has_prefix(location, "postgres://"))
		return store_open_postgres_ex(location, flags, out);
	if (aim_str_has_prefix(location, "sqlite:"))
		location += 7;
	return store_open_sqlite_ex(location, flags, out);
}

void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

int store_meta_get(struct store *st, const char *key, char **val)
{
	return st->ops->meta_get(st, key, val);
}

int store_meta_set(struct store *st, const char *key, const char *val)
{
	return st->ops->meta_set(st, key, val);
}

int store_schema_version(struct store *st, int *version)
{
	return st->ops->schema_version(st, version);
}

static int check_state_name(const char *kind, const char *key)
{
	ENSURE(kind && *kind && strlen(kind) <= STORE_STATE_KIND_MAX, AIM_ERR_INVALID,
	       "state kind: 1..%d bytes", STORE_STATE_KIND_MAX);
	ENSURE(key && *key && strlen(key) <= STORE_STATE_KEY_MAX, AIM_ERR_INVALID,
	       "state key: 1..%d bytes", STORE_STATE_KEY_MAX);
	return 0;
}

int store_state_get(struct store *st, const char *kind, const char *key, int64_t *version,
		    uint8_t **value, size_t *len)
{
	TRY(check_state_name(kind, key));
	int64_t v = 0;
	uint8_t *p = NULL;
	size_t n = 0;
	int rc = st->ops->state_get(st, kind, key, &v, value ? &p : NULL, &n);
	if (version)
		*version = rc == 0 ? v : 0;
	if (value)
		*value = rc == 0 ? p : NULL;
	if (len)
		*len = rc == 0 ? n : 0;
	return rc;
}

int store_state_cas(struct store *st, const char *kind, const char *key, int64_t expected,
		    const uint8_t *value, size_t len, int64_t *version)
{
	TRY(check_state_name(kind, key));
	ENSURE(expected >= 0, AIM_ERR_INVALID, "negative version");
	ENSURE(len <= STORE_STATE_VALUE_MAX, AIM_ERR_LIMIT, "state value over %d bytes",
	       STORE_STATE_VALUE_MAX);
	ENSURE(value || len == 0, AIM_ERR_INVALID, "no value");
	int64_t v = 0;
	TRY(st->ops->state_cas(st, kind, key, expected, value, len, &v));
	if (version)
		*version = v;
	return 0;
}

int store_user_list(struct store *st, store_user_info_fn fn, void *ctx)
{
	ENSURE(fn, AIM_ERR_INVALID, "no callback");
	return st->ops->user_list(st, fn, ctx);
}

int store_token_list(struct store *st, int64_t user, store_token_fn fn, void *ctx)
{
	ENSURE(fn, AIM_ERR_INVALID, "no callback");
	return st->ops->token_list(st, user, fn, ctx);
}

int store_token_revoke(struct store *st, const uint8_t hash[32])
{
	ENSURE(hash, AIM_ERR_INVALID, "no hash");
	return st->ops->token_revoke(st, hash);
}

int store_user_delete(struct store *st, int64_t user)
{
	ENSURE(user > 0, AIM_ERR_INVALID, "bad user id");
	return st->ops->user_delete(st, user);
}

int store_user_gone(struct store *st, const char *name, bool *gone)
{
	ENSURE(name && gone, AIM_ERR_INVALID, "bad arguments");
	return st->ops->user_gone(st, name, gone);
}

int store_user_add(struct store *st, const struct store_new_user *u, int64_t *id)
{
	ENSURE(u && u->name && u->rsa_public_pem && u->rsa_private_pem && u->ed25519_public &&
		       u->ed25519_private_pem,
	       AIM_ERR_INVALID, "incomplete user record");
	ENSURE(strlen(u->name) >= 1 && strlen(u->name) <= STORE_NAME_MAX, AIM_ERR_INVALID,
	       "user name length out of range");
	return st->ops->user_add(st, u, id);
}

int store_user_get(struct store *st, const char *name, struct store_user *out)
{
	return st->ops->user_get(st, name, out);
}

int store_user_get_id(struct store *st, int64_t id, struct store_user *out)
{
	return st->ops->user_get_id(st, id, out);
}

int store_user_count(struct store *st, int64_t *n)
{
	return st->ops->user_count(st, n);
}

int store_user_private_keys(struct store *st, int64_t id, char **rsa_pem, char **ed_pem)
{
	return st->ops->user_private_keys(st, id, rsa_pem, ed_pem);
}

int store_token_add(struct store *st, int64_t user, const uint8_t hash[32])
{
	return st->ops->token_add(st, user, hash);
}

int store_token_find(struct store *st, const uint8_t hash[32], int64_t *user)
{
	return st->ops->token_find(st, hash, user);
}

int store_activity_add(struct store *st, const struct store_new_activity *a, int64_t *seq)
{
	ENSURE(a && a->id && a->json && a->author > 0, AIM_ERR_INVALID,
	       "incomplete activity record");
	ENSURE(!a->object_id == !a->object_json, AIM_ERR_INVALID,
	       "object id and object json go together");
	return st->ops->activity_add(st, a, seq);
}

int store_activity_get(struct store *st, const char *id, int64_t viewer, struct store_item *out)
{
	return st->ops->activity_get(st, id, viewer, out);
}

int store_object_get(struct store *st, const char *id, int64_t viewer, struct store_item *out)
{
	return st->ops->object_get(st, id, viewer, out);
}

static int check_range(const struct store_range *r)
{
	ENSURE(r && r->limit >= 1 && r->limit <= 200, AIM_ERR_INVALID, "page limit out of range");
	ENSURE(r->max_id >= 0 && r->min_id >= 0, AIM_ERR_INVALID, "negative cursor");
	return 0;
}

int store_outbox_page(struct store *st, int64_t owner, int64_t viewer,
		      const struct store_range *r, struct store_page *out)
{
	TRY(check_range(r));
	return st->ops->outbox_page(st, owner, viewer, r, out);
}

int store_followers_page(struct store *st, int64_t user, const struct store_range *r,
			 struct store_page *out)
{
	TRY(check_range(r));
	return st->ops->followers_page(st, user, r, out);
}

int store_following_page(struct store *st, int64_t user, const struct store_range *r,
			 struct store_page *out)
{
	TRY(check_range(r));
	return st->ops->following_page(st, user, r, out);
}

int store_following_count(struct store *st, int64_t user, int64_t *n)
{
	return st->ops->following_count(st, user, n);
}

int store_keypackage_page(struct store *st, int64_t owner, int64_t viewer,
			  const struct store_range *r, struct store_page *out)
{
	TRY(check_range(r));
	return st->ops->keypackage_page(st, owner, viewer, r, out);
}

int store_keypackage_count(struct store *st, int64_t owner, int64_t viewer, int64_t *n)
{
	return st->ops->keypackage_count(st, owner, viewer, n);
}

int store_outbox_count(struct store *st, int64_t owner, int64_t viewer, int64_t *n)
{
	return st->ops->outbox_count(st, owner, viewer, n);
}

int store_inbox_page(struct store *st, int64_t user, const struct store_range *r,
		     struct store_page *out)
{
	TRY(check_range(r));
	return st->ops->inbox_page(st, user, r, out);
}

int store_inbox_count(struct store *st, int64_t user, int64_t *n)
{
	return st->ops->inbox_count(st, user, n);
}

/* ---- Delivery queue (federation: outbound) -------------------------------- */

const char *store_delivery_state_name(int state)
{
	switch (state) {
	case STORE_DLV_PENDING:
		return "pending";
	case STORE_DLV_DELIVERED:
		return "delivered";
	case STORE_DLV_FAILED:
		return "failed";
	case STORE_DLV_EXPIRED:
		return "expired";
	default:
		return "unknown";
	}
}

void store_delivery_clear(struct store_delivery *d)
{
	if (!d)
		return;
	free(d->activity_id);
	free(d->inbox);
	free(d->actor);
	free(d->host);
	free(d->body);
	free(d->last_error);
	memset(d, 0, sizeof *d);
}

int store_delivery_enqueue(struct store *st, const struct store_outgoing *o)
{
	ENSURE(o && o->activity_id && o->body && o->signer > 0, AIM_ERR_INVALID,
	       "incomplete outgoing activity");
	for (size_t i = 0; i < o->n; i++)
		ENSURE((o->v[i].inbox || o->v[i].actor) && o->v[i].host, AIM_ERR_INVALID,
		       "a delivery needs an inbox or an actor, and a host");
	return st->ops->delivery_enqueue(st, o);
}

int store_delivery_claim(struct store *st, const struct store_claim *c, struct store_delivery *out,
			 struct store_lease *lease)
{
	ENSURE(c && c->lease_ms >= 1 && c->per_host >= 1 && out && lease, AIM_ERR_INVALID,
	       "bad delivery claim");
	return st->ops->delivery_claim(st, c, out, lease);
}

int store_delivery_claim_batch(struct store *st, const struct store_claim *c, size_t max,
			       struct store_delivery *out, struct store_lease *leases, size_t *n)
{
	ENSURE(c && c->lease_ms >= 1 && c->per_host >= 1 && out && leases && n && max >= 1,
	       AIM_ERR_INVALID, "bad delivery claim");
	*n = 0;
	if (st->ops->delivery_claim_batch)
		return st->ops->delivery_claim_batch(st, c, max, out, leases, n);
	while (*n < max) {
		if (st->ops->delivery_claim(st, c, &out[*n], &leases[*n]) != 0) {
			if (aim_errcode() == AIM_ERR_NOTFOUND && *n > 0)
				return 0;
			return -1;
		}
		(*n)++;
	}
	return 0;
}

int store_delivery_finish_batch(struct store *st, struct store_finish *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ENSURE(v[i].lease && v[i].lease->id > 0 && v[i].host, AIM_ERR_INVALID,
		       "no lease or host");
		ENSURE(v[i].u.state >= STORE_DLV_PENDING && v[i].u.state <= STORE_DLV_EXPIRED,
		       AIM_ERR_INVALID, "bad delivery state");
	}
	if (st->ops->delivery_finish_batch)
		return st->ops->delivery_finish_batch(st, v, n);
	/* one by one: what was recorded before a failure stays */
	for (size_t i = 0; i < n; i++) {
		v[i].failures = 0;
		v[i].opened = false;
		v[i].rc = st->ops->host_failure(st, v[i].host, v[i].host_failure, aim_now_ms(),
						&v[i].failures);
		if (v[i].rc == 0 && v[i].host_failure && v[i].open_after &&
		    v[i].failures >= v[i].open_after && v[i].open_until_ms) {
			v[i].rc = st->ops->delivery_defer_host(st, v[i].host, v[i].open_until_ms);
			v[i].opened = v[i].rc == 0;
		}
		if (v[i].rc == 0)
			v[i].rc = st->ops->delivery_finish(st, v[i].lease, &v[i].u);
		v[i].err = v[i].rc ? aim_errcode() : AIM_ERR_NONE;
	}
	return 0;
}

int store_delivery_renew(struct store *st, struct store_lease *lease, int64_t until_ms)
{
	ENSURE(lease && lease->id > 0, AIM_ERR_INVALID, "no lease");
	return st->ops->delivery_renew(st, lease, until_ms);
}

int store_delivery_release(struct store *st, const struct store_lease *lease)
{
	ENSURE(lease && lease->id > 0, AIM_ERR_INVALID, "no lease");
	return st->ops->delivery_release(st, lease);
}

int store_delivery_earliest(struct store *st, int64_t *next_ms)
{
	return st->ops->delivery_earliest(st, next_ms);
}

int store_delivery_finish(struct store *st, const struct store_lease *lease,
			  const struct store_delivery_update *u)
{
	ENSURE(lease && lease->id > 0, AIM_ERR_INVALID, "no lease");
	ENSURE(u && u->state >= STORE_DLV_PENDING && u->state <= STORE_DLV_EXPIRED,
	       AIM_ERR_INVALID, "bad delivery state");
	return st->ops->delivery_finish(st, lease, u);
}

int store_delivery_resolve(struct store *st, const struct store_lease *lease, const char *inbox,
			   const char *host, bool *merged)
{
	ENSURE(lease && lease->id > 0, AIM_ERR_INVALID, "no lease");
	ENSURE(inbox && host, AIM_ERR_INVALID, "resolve needs an inbox and its host");
	return st->ops->delivery_resolve(st, lease, inbox, host, merged);
}

int store_delivery_defer_host(struct store *st, const char *host, int64_t until_ms)
{
	return st->ops->delivery_defer_host(st, host, until_ms);
}

int store_delivery_expire_overdue(struct store *st, int64_t created_before_ms, int64_t now_ms,
				  size_t *n)
{
	*n = 0;
	if (!st->ops->delivery_expire_overdue)
		return 0;
	return st->ops->delivery_expire_overdue(st, created_before_ms, now_ms, n);
}

int store_delivery_list(struct store *st, store_delivery_fn fn, void *ctx)
{
	return st->ops->delivery_list(st, fn, ctx);
}

int store_host_failure(struct store *st, const char *host, bool failed, int64_t now_ms,
		       unsigned *failures)
{
	ENSURE(host, AIM_ERR_INVALID, "no host");
	unsigned n = 0;
	int rc = st->ops->host_failure(st, host, failed, now_ms, &n);
	if (failures)
		*failures = n;
	return rc;
}

int store_host_scheme_get(struct store *st, const char *host, int *scheme)
{
	return st->ops->host_scheme_get(st, host, scheme);
}

int store_host_scheme_set(struct store *st, const char *host, int scheme)
{
	return st->ops->host_scheme_set(st, host, scheme);
}

/* ---- Federation: inbound ----------------------------------------------------- */

void store_follower_clear(struct store_follower *f)
{
	if (!f)
		return;
	free(f->actor);
	free(f->inbox);
	free(f->shared_inbox);
	free(f->follow_id);
	memset(f, 0, sizeof *f);
}

static int inbound_check(const struct store_inbound *in)
{
	ENSURE(in && (!in->id || (in->actor && in->json)), AIM_ERR_INVALID,
	       "incomplete inbound activity");
	ENSURE(!in->object_id == !in->object_json, AIM_ERR_INVALID,
	       "object id and object json go together");
	ENSURE(!in->reply || (in->reply->id && in->reply->json && in->reply->author > 0 &&
			      !in->reply->object_id == !in->reply->object_json),
	       AIM_ERR_INVALID, "incomplete reply activity");
	for (size_t i = 0; i < in->n_fx; i++)
		ENSURE(in->fx[i].kind >= STORE_FX_FOLLOWER_PUT && in->fx[i].kind <= STORE_FX_OBJECT_PURGE,
		       AIM_ERR_INVALID, "unknown effect");
	return 0;
}

int store_inbound_commit(struct store *st, const struct store_inbound *in, bool *dup,
			 size_t *added)
{
	TRY(inbound_check(in));
	bool d = false;
	size_t n = 0;
	int rc = st->ops->inbound_commit(st, in, &d, &n);
	if (dup)
		*dup = d;
	if (added)
		*added = n;
	return rc;
}

/* A back end without a batch op: the units one by one, each in its own
 * transaction (a storage failure still fails the rest of the batch). */
static int batch_one_by_one(struct store *st, struct store_inbound_unit *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (u[i].rc != 0)
			continue;
		if (st->ops->inbound_commit(st, u[i].in, &u[i].dup, &u[i].added) == 0)
			continue;
		enum aim_err e = aim_errcode();
		u[i].rc = -1;
		u[i].err = e;
		snprintf(u[i].msg, sizeof u[i].msg, "%s", aim_errmsg());
		if (e == AIM_ERR_STORAGE || e == AIM_ERR_BUSY || e == AIM_ERR_NOMEM) {
			for (size_t k = i + 1; k < n; k++) {
				u[k].rc = -1;
				u[k].err = e;
				snprintf(u[k].msg, sizeof u[k].msg, "%s", u[i].msg);
			}
			return aim_fail(e, "%s", u[i].msg);
		}
	}
	return 0;
}

int store_inbound_commit_batch(struct store *st, struct store_inbound_unit *u, size_t n)
{
	ENSURE(u || n == 0, AIM_ERR_INVALID, "no units");
	for (size_t i = 0; i < n; i++) {
		u[i].dup = false;
		u[i].added = 0;
		u[i].rc = inbound_check(u[i].in);
		if (u[i].rc != 0) {
			u[i].err = aim_errcode();
			snprintf(u[i].msg, sizeof u[i].msg, "%s", aim_errmsg());
		}
	}
	if (!st->ops->inbound_commit_batch)
		return batch_one_by_one(st, u, n);
	return st->ops->inbound_commit_batch(st, u, n);
}

int store_followers_list(struct store *st, int64_t user, int state, int64_t offset, size_t limit,
			 store_follower_fn fn, void *ctx)
{
	ENSURE(limit >= 1 && limit <= 1000 && offset >= 0, AIM_ERR_INVALID, "bad follower range");
	return st->ops->followers_list(st, user, state, offset, limit, fn, ctx);
}

int store_followers_count(struct store *st, int64_t user, int state, int64_t *n)
{
	return st->ops->followers_count(st, user, state, n);
}

int store_following_state(struct store *st, int64_t user, const char *actor, int *state)
{
	return st->ops->following_state(st, user, actor, state);
}

int store_blocked(struct store *st, int64_t user, const char *actor, bool *out)
{
	return st->ops->blocked(st, user, actor, out);
}

int store_manual_approval_get(struct store *st, int64_t user, bool *on)
{
	return st->ops->manual_approval_get(st, user, on);
}

int store_manual_approval_set(struct store *st, int64_t user, bool on)
{
	return st->ops->manual_approval_set(st, user, on);
}

int store_activity_lookup(struct store *st, const char *id, int64_t *author, char **actor,
			  char **json)
{
	return st->ops->activity_lookup(st, id, author, actor, json);
}

int store_following_users(struct store *st, const char *actor, int64_t *ids, size_t max,
			  size_t *n)
{
	*n = 0;
	return st->ops->following_users(st, actor, ids, max, n);
}

/* ---- Identity: CA certificates and devices ---------------------------------- */

void store_device_clear(struct store_device *d)
{
	if (!d)
		return;
	free(d->cert);
	memset(d, 0, sizeof *d);
}

int store_ca_cert_add(struct store *st, const uint8_t *der, size_t len, int64_t *id)
{
	ENSURE(der && len >= 1, AIM_ERR_INVALID, "no certificate");
	ENSURE(len <= 16 * 1024, AIM_ERR_LIMIT, "certificate over 16384 bytes");
	int64_t v = 0;
	TRY(st->ops->ca_cert_add(st, der, len, &v));
	if (id)
		*id = v;
	return 0;
}

int store_ca_cert_list(struct store *st, store_ca_cert_fn fn, void *ctx)
{
	ENSURE(fn, AIM_ERR_INVALID, "no callback");
	return st->ops->ca_cert_list(st, fn, ctx);
}

static bool device_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n < 1 || n > STORE_DEVICE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int check_new_device(const struct store_new_device *d)
{
	ENSURE(d && d->user_id > 0, AIM_ERR_INVALID, "bad user id");
	ENSURE(device_id_ok(d->device), AIM_ERR_INVALID, "device id: 1..%d of [A-Za-z0-9_-]",
	       STORE_DEVICE_MAX);
	ENSURE(d->pk && d->pk_len >= 1 && d->pk_len <= sizeof ((struct store_device *)0)->pk,
	       AIM_ERR_INVALID, "bad public key");
	ENSURE(d->cert && d->cert_len >= 1 && d->cert_len <= 16 * 1024, AIM_ERR_INVALID,
	       "bad certificate");
	return 0;
}

int store_device_register(struct store *st, const struct store_new_device *d)
{
	TRY(check_new_device(d));
	return st->ops->device_put(st, d, true);
}

int store_device_renew(struct store *st, const struct store_new_device *d)
{
	TRY(check_new_device(d));
	return st->ops->device_put(st, d, false);
}

int store_device_get(struct store *st, int64_t user, const char *device, struct store_device *out)
{
	ENSURE(out && device_id_ok(device), AIM_ERR_INVALID, "bad device id");
	return st->ops->device_get(st, user, device, out);
}

int store_device_by_key(struct store *st, int64_t user, int alg, const uint8_t *pk, size_t pk_len,
			struct store_device *out)
{
	ENSURE(out && pk && pk_len >= 1, AIM_ERR_INVALID, "no key");
	return st->ops->device_by_key(st, user, alg, pk, pk_len, out);
}

int store_device_list(struct store *st, int64_t user, store_device_fn fn, void *ctx)
{
	ENSURE(fn, AIM_ERR_INVALID, "no callback");
	return st->ops->device_list(st, user, fn, ctx);
}

int store_device_revoke(struct store *st, int64_t user, const char *device)
{
	ENSURE(device_id_ok(device), AIM_ERR_INVALID, "bad device id");
	return st->ops->device_revoke(st, user, device);
}

/* ---- The KeyPackage directory ---------------------------------------------------- */

void store_kp_claim_clear(struct store_kp_claim *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].data);
	free(c->v);
	memset(c, 0, sizeof *c);
}

int store_keypackage_add(struct store *st, int64_t user, const struct store_new_keypackage *v,
			 size_t n, size_t max_per_device)
{
	ENSURE(n > 0 && v, AIM_ERR_INVALID, "no KeyPackages to store");
	for (size_t i = 0; i < n; i++) {
		size_t dl = v[i].device ? strlen(v[i].device) : 0;
		ENSURE(dl > 0 && dl <= STORE_DEVICE_MAX, AIM_ERR_INVALID, "bad device id");
		ENSURE(v[i].ref && v[i].ref_len > 0 && v[i].ref_len <= STORE_KP_REF_MAX,
		       AIM_ERR_INVALID, "bad KeyPackageRef");
		ENSURE(v[i].data && v[i].len > 0 && v[i].json, AIM_ERR_INVALID,
		       "empty KeyPackage");
		for (size_t j = 0; v[i].last_resort && j < i; j++)
			ENSURE(!v[j].last_resort || strcmp(v[j].device, v[i].device) != 0,
			       AIM_ERR_EXISTS,
			       "KeyPackage %zu: a second last-resort KeyPackage for device %s", i,
			       v[i].device);
	}
	return st->ops->keypackage_add(st, user, v, n, max_per_device);
}

int store_keypackage_stock(struct store *st, int64_t user, store_kp_stock_fn fn, void *ctx)
{
	return st->ops->keypackage_stock(st, user, fn, ctx);
}

int store_keypackage_claim(struct store *st, int64_t user, const uint16_t *suites,
			   size_t n_suites, const char *claimer, int64_t now,
			   struct store_kp_claim *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(suites && n_suites > 0 && n_suites <= 64, AIM_ERR_INVALID,
	       "a claim names 1..64 cipher suites");
	ENSURE(claimer && *claimer, AIM_ERR_INVALID, "a claim names its claimer");
	return st->ops->keypackage_claim(st, user, suites, n_suites, claimer, now, out);
}

int store_keypackage_withdraw_device(struct store *st, int64_t user, const char *device,
				     int64_t *withdrawn)
{
	int64_t dummy;
	return st->ops->keypackage_withdraw_device(st, user, device, withdrawn ? withdrawn : &dummy);
}

int store_claims_policy_get(struct store *st, int64_t user, int *policy)
{
	return st->ops->claims_policy_get(st, user, policy);
}

int store_claims_policy_set(struct store *st, int64_t user, int policy)
{
	ENSURE(policy >= STORE_CLAIMS_EVERYONE && policy <= STORE_CLAIMS_NOBODY, AIM_ERR_INVALID,
	       "unknown claims policy %d", policy);
	return st->ops->claims_policy_set(st, user, policy);
}

void store_channel_clear(struct store_channel *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->name);
	free(c->policy);
	memset(c, 0, sizeof *c);
}

int store_channel_apply(struct store *st, const struct store_channel_change *c)
{
	ENSURE(c->channel && *c->channel, AIM_ERR_INVALID, "a channel change names its channel");
	ENSURE(c->state_len <= STORE_STATE_VALUE_MAX, AIM_ERR_INVALID, "hub state too large");
	ENSURE(!c->seq || (c->announce_id && c->announce_json), AIM_ERR_INVALID,
	       "an outbox row needs its activity");
	return st->ops->channel_apply(st, c);
}

int store_channel_get(struct store *st, const char *id, struct store_channel *out)
{
	memset(out, 0, sizeof *out);
	return st->ops->channel_get(st, id, out);
}

int store_channel_members(struct store *st, const char *id, store_channel_member_fn fn, void *ctx)
{
	return st->ops->channel_members(st, id, fn, ctx);
}

int store_channel_outbox_page(struct store *st, const char *id, int64_t after,
			      const struct store_range *r, struct store_page *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(r->limit >= 1 && r->limit <= 200, AIM_ERR_INVALID, "page limit out of range");
	return st->ops->channel_outbox_page(st, id, after, r, out);
}

int store_channel_join(struct store *st, const char *channel, int64_t user, bool member)
{
	return st->ops->channel_join(st, channel, user, member);
}

int store_channel_last_seq(struct store *st, const char *id, int64_t *seq)
{
	*seq = 0;
	return st->ops->channel_last_seq(st, id, seq);
}

int store_channel_moved(struct store *st, const char *from, const char *to)
{
	return st->ops->channel_moved(st, from, to);
}

int store_channel_joined(struct store *st, const char *channel, int64_t **users, size_t *n)
{
	*users = NULL;
	*n = 0;
	return st->ops->channel_joined(st, channel, users, n);
}

int store_channel_receive(struct store *st, const struct store_channel_recv *m, size_t *delivered)
{
	size_t dummy;
	ENSURE(m->seq >= 1, AIM_ERR_INVALID, "an Announce of a channel carries its sequence");
	return st->ops->channel_receive(st, m, delivered ? delivered : &dummy);
}

int store_schema_latest(struct store *st, int *version)
{
	ENSURE(st->ops->schema_latest, AIM_ERR_UNSUPPORTED, "the %s store has no schema latest",
	       st->ops->name);
	return st->ops->schema_latest(st, version);
}

int store_migrate(struct store *st, store_migrated_fn fn, void *ctx)
{
	ENSURE(st->ops->migrate, AIM_ERR_UNSUPPORTED, "the %s store has no migrate",
	       st->ops->name);
	return st->ops->migrate(st, fn, ctx);
}

int store_integrity_check(struct store *st, char **problem)
{
	*problem = NULL;
	ENSURE(st->ops->integrity_check, AIM_ERR_UNSUPPORTED, "the %s store has no integrity check",
	       st->ops->name);
	return st->ops->integrity_check(st, problem);
}

int store_stats(struct store *st, int64_t now, struct store_stats *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(st->ops->stats, AIM_ERR_UNSUPPORTED, "the %s store has no stats",
	       st->ops->name);
	return st->ops->stats(st, now, out);
}

int store_export_rows(struct store *st, store_row_fn fn, void *ctx)
{
	ENSURE(st->ops->export_rows, AIM_ERR_UNSUPPORTED, "the %s store has no export rows",
	       st->ops->name);
	return st->ops->export_rows(st, fn, ctx);
}

int store_import_rows(struct store *st, store_row_next_fn next, void *ctx)
{
	ENSURE(st->ops->import_rows, AIM_ERR_UNSUPPORTED, "the %s store has no import rows",
	       st->ops->name);
	return st->ops->import_rows(st, next, ctx);
}

int store_events_listen(struct store *st, store_event_fn fn, void *ctx,
			struct store_listener **out)
{
	*out = NULL;
	ENSURE(st->ops->events_listen, AIM_ERR_UNSUPPORTED,
	       "the %s back end has no events between processes", st->ops->name);
	return st->ops->events_listen(st, fn, ctx, out);
}

void store_events_unlisten(struct store *st, struct store_listener *l)
{
	if (l && st->ops->events_unlisten)
		st->ops->events_unlisten(l);
}
