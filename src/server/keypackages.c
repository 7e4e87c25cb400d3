/*
 * The KeyPackage directory's policy (keypackages.h): upload checks, claims
 * with their limits and consent, and claims sent to other servers.
 */
#include "server/keypackages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "base/url.h"
#include "crypto/crypto.h"
#include "mls/mls.h"
#include "server/ca.h"
#include "server/internal.h"
#include "server/s2s.h"
#include "server/signer.h"

/* Where remote actors take claims: their keyPackages collections, from
 * their documents, remembered for KP_COLL_TTL seconds (a claim costs one
 * POST, not a fetch of the actor first). */
#define KP_COLL_SLOTS 128
#define KP_COLL_TTL 3600
#define KP_URL_MAX 1024

struct kp_coll {
	char actor[KP_URL_MAX];
	char coll[KP_URL_MAX];
	int64_t until;
};

struct aimd_kp {
	struct limiter *per_host;    /* claims per claiming host */
	struct limiter *per_user;    /* claims per target user */
	pthread_mutex_t mu;          /* guards colls */
	struct kp_coll *colls;
};

int aimd_kp_open(struct app *a, const struct aimd_kp_config *c)
{
	struct aimd_kp *k = aim_xcalloc(1, sizeof *k);
	k->per_host = aimd_limiter_new_per_min(c && c->host_per_min ? c->host_per_min
							    : AIMD_KP_HOST_PER_MIN);
	k->per_user = aimd_limiter_new_per_min(c && c->user_per_min ? c->user_per_min
							    : AIMD_KP_USER_PER_MIN);
	pthread_mutex_init(&k->mu, NULL);
	k->colls = aim_xcalloc(KP_COLL_SLOTS, sizeof *k->colls);
	a->kp = k;
	return 0;
}

void aimd_kp_free(struct app *a)
{
	if (!a->kp)
		return;
	aimd_limiter_free(a->kp->per_host);
	aimd_limiter_free(a->kp->per_user);
	pthread_mutex_destroy(&a->kp->mu);
	free(a->kp->colls);
	free(a->kp);
	a->kp = NULL;
}

/* ---- Upload ------------------------------------------------------------------------------ */

void aimd_kp_item_clear(struct aimd_kp_item *it)
{
	aim_buf_free(&it->data);
	free(it->json);
	memset(it, 0, sizeof *it);
}

/* The credential hook at upload: the domain decides which credentials it
 * vouches for (mls.h: the library never does). */
struct cred_ctx {
	struct app *a;
	const struct store_user *owner;
	const char *acct;
	struct store_device dev;
	bool have_dev;
};

static int upload_cred(void *arg, enum mls_credential_role role, const struct mls_credential *cred,
		       struct aim_bytes signature_key)
{
	struct cred_ctx *c = arg;
	(void)role;
	/* Issue 10: "the credential is this user's, from this domain's CA, for
	 * a registered device". A basic credential is no proof of anything. */
	ENSURE(cred->type == MLS_CREDENTIAL_X509, AIM_ERR_DENIED,
	       "credential: not x509 (a certificate chain from this domain's CA, leaf first)");
	ENSURE(cred->n_certs >= 1 && cred->certs[0].len > 0, AIM_ERR_DENIED,
	       "credential: an empty certificate chain");
	if (c->have_dev) {
		store_device_clear(&c->dev);
		c->have_dev = false;
	}
	if (aimd_ca_check_leaf(c->a, c->owner->id, c->acct,
			       AIM_BYTES(cred->certs[0].p, cred->certs[0].len), &c->dev) != 0) {
		char msg[300];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		return aim_fail(AIM_ERR_DENIED, "credential: %s", msg);
	}
	c->have_dev = true;
	/* The certificate certifies the device's key; the LeafNode must be
	 * signed by that same key, or the certificate vouches for nothing. */
	ENSURE(aim_ct_equal(signature_key.p, signature_key.len, c->dev.pk, c->dev.pk_len),
	       AIM_ERR_DENIED, "credential: the leaf node's signature key is not the certificate's key");
	return 0;
}

static char *kp_object(struct app *a, const struct store_user *owner, const char *b64,
		       const uint8_t *ref, size_t ref_len, bool last_resort)
{
	struct aim_buf hex;
	aim_buf_init(&hex, 256);
	if (aim_hex_encode(&hex, ref, ref_len) != 0)
		aim_errclear();
	char *actor = aim_xasprintf("%s/users/%s", a->base, owner->name);
	char *id = aim_xasprintf("%s/keyPackages/%s", actor, hex.data ? (char *)hex.data : "");
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "KeyPackage",
			      "attributedTo", actor, "mediaType", "message/mls", "encoding", "base64",
			      "content", b64);
	if (last_resort)
		json_object_set_new(o, "lastResort", json_true());
	char *s = ap_json_dump(o);
	json_decref(o);
	free(id);
	free(actor);
	aim_buf_free(&hex);
	return s;
}

int aimd_kp_check(struct app *a, const struct store_user *owner, const char *b64,
		  bool mark_last_resort, struct aimd_kp_item *out)
{
	memset(out, 0, sizeof *out);
	aim_buf_init(&out->data, MLS_MAX_MESSAGE);
	struct mls_message m = { 0 };
	struct cred_ctx cc = { .a = a, .owner = owner };
	int rc = 0;
	size_t bl = b64 ? strlen(b64) : 0;
	ENSURE_GOTO(bl > 0, done, AIM_ERR_DECODE, "content: empty");
	if (aim_b64_decode(&out->data, b64, bl) != 0) {
		rc = aim_fail(AIM_ERR_DECODE, "content: not base64");
		goto done;
	}
	if (mls_message_parse(out->data.data, out->data.len, &m) != 0) {
		char msg[300];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		rc = aim_fail(AIM_ERR_DECODE, "not an MLSMessage: %s", msg);
		goto done;
	}
	/* RFC 9420 section 6: the message carries mls10 and a KeyPackage. */
	ENSURE_GOTO(m.version == MLS_VERSION_10, done, AIM_ERR_UNSUPPORTED,
		    "MLSMessage version %u, not mls10", m.version);
	ENSURE_GOTO(m.wire_format == MLS_WIRE_KEY_PACKAGE, done, AIM_ERR_INVALID,
		    "MLSMessage wire format %u, not mls_key_package", m.wire_format);
	const struct mls_key_package *kp = &m.key_package;
	char *acct = aimd_ca_acct(a, owner->name);
	cc.acct = acct;
	struct mls_credential_hook hook = { upload_cred, &cc };
	/* RFC 9420 section 10.1, and the credential through the hook. */
	rc = mls_key_package_validate_standalone(kp, &hook, (uint64_t)aim_now());
	free(acct);
	if (rc != 0)
		goto done;
	ENSURE_GOTO(cc.have_dev, done, AIM_ERR_DENIED, "credential: not checked");
	TRY_GOTO(mls_key_package_make_ref(kp, out->ref, &out->ref_len), done);
	out->suite = kp->cipher_suite;
	bool ext = mls_key_package_is_last_resort(kp);
	out->last_resort = ext || mark_last_resort;
	snprintf(out->device, sizeof out->device, "%s", cc.dev.device);
	out->not_after = (int64_t)kp->leaf_node.lifetime.not_after;
	if (cc.dev.not_after > 0 && cc.dev.not_after < out->not_after)
		out->not_after = cc.dev.not_after;
	out->json = kp_object(a, owner, b64, out->ref, out->ref_len, out->last_resort);
done:
	if (cc.have_dev)
		store_device_clear(&cc.dev);
	mls_message_free(&m);
	if (rc != 0)
		aimd_kp_item_clear(out);
	return rc;
}

int aimd_kp_upload(struct app *a, const struct store_user *owner, const char *const *b64,
		   size_t n, const char *lr_b64, long *failed)
{
	*failed = -1;
	size_t total = n + (lr_b64 ? 1 : 0);
	ENSURE(total > 0, AIM_ERR_INVALID, "no KeyPackages");
	ENSURE(n <= AIMD_KP_BATCH_MAX, AIM_ERR_LIMIT, "at most %d KeyPackages at once",
	       AIMD_KP_BATCH_MAX);
	struct aimd_kp_item *it = aim_xcalloc(total, sizeof *it);
	struct store_new_keypackage *v = aim_xcalloc(total, sizeof *v);
	int rc = 0;
	size_t done = 0;
	for (; done < total; done++) {
		bool lr = done == n;
		if (aimd_kp_check(a, owner, lr ? lr_b64 : b64[done], lr, &it[done]) != 0) {
			*failed = (long)done;
			rc = -1;
			break;
		}
		/* A last-resort KeyPackage goes where the uploader says (the
		 * batch's lastResort field) or where its extension says. */
		v[done] = (struct store_new_keypackage){
			.device = it[done].device,
			.suite = it[done].suite,
			.ref = it[done].ref,
			.ref_len = it[done].ref_len,
			.data = it[done].data.data,
			.len = it[done].data.len,
			.json = it[done].json,
			.last_resort = it[done].last_resort,
			.not_after = it[done].not_after,
		};
	}
	if (rc == 0)
		rc = store_keypackage_add(a->st, owner->id, v, total, AIMD_KP_DEVICE_MAX);
	for (size_t i = 0; i < total; i++)
		aimd_kp_item_clear(&it[i]);
	free(it);
	free(v);
	return rc;
}

/* ---- Claims ------------------------------------------------------------------------------ */

const char *aimd_kp_policy_name(int policy)
{
	switch (policy) {
	case STORE_CLAIMS_FOLLOWED:
		return "followed";
	case STORE_CLAIMS_NOBODY:
		return "nobody";
	default:
		return "everyone";
	}
}

int aimd_kp_policy_parse(const char *name, int *policy)
{
	if (name && !strcmp(name, "everyone"))
		*policy = STORE_CLAIMS_EVERYONE;
	else if (name && !strcmp(name, "followed"))
		*policy = STORE_CLAIMS_FOLLOWED;
	else if (name && !strcmp(name, "nobody"))
		*policy = STORE_CLAIMS_NOBODY;
	else
		return aim_fail(AIM_ERR_INVALID, "claims takes everyone, followed or nobody");
	return 0;
}

int aimd_kp_suites(const json_t *arr, uint16_t *out, size_t *n)
{
	*n = 0;
	ENSURE(json_is_array(arr) && json_array_size(arr) > 0 &&
		       json_array_size(arr) <= AIMD_KP_SUITES_MAX,
	       AIM_ERR_INVALID, "cipherSuites: an array of 1..%d cipher suites", AIMD_KP_SUITES_MAX);
	size_t i;
	const json_t *v;
	json_array_foreach(arr, i, v)
	{
		json_int_t s = json_is_integer(v) ? json_integer_value(v) : 0;
		ENSURE(s >= 1 && s <= 0xffff, AIM_ERR_INVALID,
		       "cipherSuites: %zu is not a cipher suite number", i);
		out[(*n)++] = (uint16_t)s;
	}
	return 0;
}

/* An opaque, stable name of a device for claimers: the device ids a user
 * picks stay on her server. */
static void device_ref(const struct store_user *u, const char *device, char out[33])
{
	char *s = aim_xasprintf("aim-device\n%s\n%s", u->name, device);
	uint8_t h[32];
	if (aim_sha256(AIM_BYTES_STR(s), h) != 0)
		memset(h, 0, sizeof h);
	free(s);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* The consent of target to a claim by claimer: 0, or AIM_ERR_DENIED. */
static int consent(struct app *a, const struct store_user *target, const char *claimer)
{
	int policy = STORE_CLAIMS_EVERYONE;
	TRY(store_claims_policy_get(a->st, target->id, &policy));
	if (policy == STORE_CLAIMS_EVERYONE)
		return 0;
	if (policy == STORE_CLAIMS_FOLLOWED) {
		int state = -1;
		if (store_following_state(a->st, target->id, claimer, &state) != 0) {
			if (aim_errcode() != AIM_ERR_NOTFOUND)
				return -1;
			aim_errclear();
		}
		if (state == STORE_FOLLOW_ACCEPTED)
			return 0;
		return aim_fail(AIM_ERR_DENIED, "%s takes claims only from actors she follows",
				target->name);
	}
	return aim_fail(AIM_ERR_DENIED, "%s takes no claims", target->name);
}

int aimd_kp_claim(struct app *a, const struct store_user *target, const char *claimer,
		  const char *claimer_host, const uint16_t *suites, size_t n_suites,
		  json_t **result, unsigned *retry_after)
{
	*result = NULL;
	*retry_after = 0;
	ENSURE(a->kp, AIM_ERR_STATE, "the KeyPackage directory is not open");
	/* Claims are rate-limited per claiming server and per target user
	 * (issue 10; threats.md C44: draining a user's KeyPackages). */
	char key[48];
	snprintf(key, sizeof key, "%.46s", claimer_host && *claimer_host ? claimer_host : "?");
	unsigned wait = aimd_limiter_take(a->kp->per_host, key);
	if (wait) {
		*retry_after = wait;
		aim_log(AIM_LOG_INFO, "claims", "claim of %s by %s refused 429: host %s over its rate",
			target->name, claimer, key);
		return aim_fail(AIM_ERR_LIMIT, "too many claims from %s", key);
	}
	snprintf(key, sizeof key, "u%lld", (long long)target->id);
	wait = aimd_limiter_take(a->kp->per_user, key);
	if (wait) {
		*retry_after = wait;
		aim_log(AIM_LOG_INFO, "claims", "claim of %s by %s refused 429: %s over its rate",
			target->name, claimer, target->name);
		return aim_fail(AIM_ERR_LIMIT, "too many claims of %s's KeyPackages", target->name);
	}
	if (consent(a, target, claimer) != 0) {
		if (aim_errcode() == AIM_ERR_DENIED)
			aim_log(AIM_LOG_INFO, "claims", "claim of %s by %s refused 403: %s",
				target->name, claimer, aim_errmsg());
		return -1;
	}
	struct store_kp_claim c = { 0 };
	TRY(store_keypackage_claim(a->st, target->id, suites, n_suites, claimer, aim_now(), &c));
	json_t *arr = json_array();
	struct aim_buf b64;
	aim_buf_init(&b64, 2 * MLS_MAX_MESSAGE);
	int rc = 0;
	size_t lr = 0;
	for (size_t i = 0; i < c.n && rc == 0; i++) {
		b64.len = 0;
		rc = aim_b64_encode(&b64, c.v[i].data, c.v[i].len);
		if (rc)
			break;
		char dev[33];
		device_ref(target, c.v[i].device, dev);
		lr += c.v[i].last_resort;
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:b}", "type", "KeyPackage",
				       "mediaType", "message/mls", "encoding", "base64", "device", dev,
				       "cipherSuite", (int)c.v[i].suite, "content",
				       (const char *)b64.data, "lastResort", c.v[i].last_resort));
	}
	aim_log(AIM_LOG_INFO, "claims", "claim of %s by %s: %zu KeyPackages (%zu last resort)",
		target->name, claimer, c.n, lr);
	aim_buf_free(&b64);
	store_kp_claim_clear(&c);
	if (rc != 0) {
		json_decref(arr);
		return -1;
	}
	*result = json_pack("{s:o}", "keyPackages", arr);
	return 0;
}

/* ---- Claims sent to another server ------------------------------------------------------- */

/* The peer's answer: {"keyPackages": [{device, cipherSuite, content,
 * lastResort}...]} with sane shapes and sizes; kept as sent otherwise. */
static int check_answer(const json_t *j, size_t n_max)
{
	const json_t *arr = json_object_get(j, "keyPackages");
	ENSURE(json_is_array(arr) && json_array_size(arr) <= n_max, AIM_ERR_REMOTE,
	       "claim answer: no keyPackages array");
	size_t i;
	const json_t *v;
	json_array_foreach(arr, i, v)
	{
		const json_t *c = json_object_get(v, "content");
		const json_t *s = json_object_get(v, "cipherSuite");
		ENSURE(json_is_object(v) && json_is_string(c) && json_is_integer(s) &&
			       json_is_string(json_object_get(v, "device")),
		       AIM_ERR_REMOTE, "claim answer: item %zu is not a KeyPackage", i);
	}
	return 0;
}

static uint32_t kp_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The keyPackages collection of a remote actor (*coll owned): remembered, or
 * read from its document (a signed GET). */
static int claim_collection(struct app *a, const char *actor, char **coll)
{
	*coll = NULL;
	struct aimd_kp *k = a->kp;
	ENSURE(strlen(actor) < KP_URL_MAX, AIM_ERR_LIMIT, "actor URL too long");
	struct kp_coll *e = &k->colls[kp_hash(actor) % KP_COLL_SLOTS];
	int64_t now = aim_now();
	pthread_mutex_lock(&k->mu);
	if (e->until > now && !strcmp(e->actor, actor))
		*coll = aim_xstrdup(e->coll);
	pthread_mutex_unlock(&k->mu);
	if (*coll)
		return 0;
	json_t *doc = NULL;
	TRY(aimd_fetch_ap(a->fin->signer, actor, &doc));
	const char *c = json_string_value(json_object_get(doc, "keyPackages"));
	/* The collection must be the actor's own (its origin): a document may
	 * not send our signed claim elsewhere. */
	int rc = 0;
	ENSURE_GOTO(c && strlen(c) < KP_URL_MAX && fetch_same_origin(c, actor), out,
		    AIM_ERR_NOTFOUND, "%s has no keyPackages collection on its origin", actor);
	*coll = aim_xstrdup(c);
	pthread_mutex_lock(&k->mu);
	snprintf(e->actor, sizeof e->actor, "%s", actor);
	snprintf(e->coll, sizeof e->coll, "%s", c);
	e->until = now + KP_COLL_TTL;
	pthread_mutex_unlock(&k->mu);
out:
	json_decref(doc);
	return rc;
}

int aimd_kp_claim_remote(struct app *a, const char *me, const char *actor,
			 const uint16_t *suites, size_t n_suites, json_t **result,
			 unsigned *retry_after)
{
	*result = NULL;
	*retry_after = 0;
	ENSURE(a->fin && a->fin->signer, AIM_ERR_STATE, "federation is not open");
	ENSURE(a->kp, AIM_ERR_STATE, "the KeyPackage directory is not open");
	char *coll = NULL;
	TRY(claim_collection(a, actor, &coll));
	int rc = 0;
	char *url = NULL, *body = NULL;
	struct client_response resp = { 0 };
	bool have_resp = false;
	json_t *ans = NULL;
	json_t *doc = NULL;
	url = aim_xasprintf("%s/claim", coll);
	free(coll);
	char uuid[37];
	uint8_t rnd[16];
	TRY_GOTO(aim_random(rnd, sizeof rnd), out);
	for (int i = 0; i < 16; i++)
		snprintf(uuid + 2 * i, 3, "%02x", rnd[i]);
	json_t *cs = json_array();
	for (size_t i = 0; i < n_suites; i++)
		json_array_append_new(cs, json_integer(suites[i]));
	/* The id makes every claim's signature unique (the peer's replay
	 * cache refuses a signature seen twice). */
	char *cid = aim_xasprintf("%s/claims/%s", a->base, uuid);
	char *ns = aim_xasprintf("%s/ns", a->base);
	json_t *cl = json_pack("{s:[s,s], s:s, s:s, s:s, s:s, s:o}", "@context",
			       "https://www.w3.org/ns/activitystreams", ns, "id", cid, "type",
			       AIMD_KP_CLAIM_TYPE, "actor", me, "object", actor, "cipherSuites", cs);
	free(cid);
	free(ns);
	body = ap_json_dump(cl);
	json_decref(cl);
	const struct sig_field hdrs[] = {
		{ "Content-Type", "application/activity+json" },
		{ "Accept", "application/activity+json, application/json" },
	};
	struct client_request req = {
		.method = "POST",
		.url = url,
		.headers = hdrs,
		.n_headers = AIM_ARRAY_LEN(hdrs),
		.has_body = true,
		.body = AIM_BYTES_STR(body),
	};
	TRY_GOTO(aimd_signer_fetch(a->fin->signer, &req, &resp), out);
	have_resp = true;
	if (resp.status == 429) {
		const char *ra = http_sig_fields_get(resp.headers.v, resp.headers.n, "Retry-After");
		int64_t w = 1;
		if (!ra || aim_parse_int(ra, 1, 3600, &w) != 0) {
			aim_errclear();
			w = 1;
		}
		*retry_after = (unsigned)w;
		rc = aim_fail(AIM_ERR_LIMIT, "%s: too many claims", url);
		goto out;
	}
	ENSURE_GOTO(resp.status != 403, out, AIM_ERR_DENIED, "%s refused the claim", actor);
	ENSURE_GOTO(resp.status != 404 && resp.status != 410, out, AIM_ERR_NOTFOUND,
		    "%s: no such user", url);
	ENSURE_GOTO(resp.status == 200, out, AIM_ERR_REMOTE, "%s answered %ld", url, resp.status);
	if (ap_json_parse_object(resp.body.data, resp.body.len, &ans) != 0) {
		rc = aim_fail(AIM_ERR_REMOTE, "%s: the answer is not a JSON object", url);
		goto out;
	}
	TRY_GOTO(check_answer(ans, 4096), out);
	*result = json_pack("{s:O}", "keyPackages", json_object_get(ans, "keyPackages"));
out:
	json_decref(ans);
	if (have_resp)
		http_client_response_free(&resp);
	free(body);
	free(url);
	json_decref(doc);
	return rc;
}
