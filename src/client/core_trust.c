/*
 * Trust shown to the person (client.h, "Trust shown to the person"; issue
 * 12 point 4: "aim shows, for each member of a conversation, which check
 * vouched for them (the domain's certificate, or the actor's KeyPackage
 * listing), and warns loudly when a member's credential changes").
 *
 * The group record keeps "trust": {"devices": [one entry per leaf: acct,
 * leaf, check, reason, notAfter, key, credential, since, changed]}. After
 * each change of the tree client_trust_refresh() runs the credential check
 * on every leaf again and compares (client_trust_compare(), pure) with
 * what was kept; a change of a member already there becomes a "trust"
 * entry of the history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/core_group_int.h"

const char *client_trust_change_name(enum client_trust_change_kind k)
{
	switch (k) {
	case CLIENT_TRUST_NEW_MEMBER: return "new-member";
	case CLIENT_TRUST_NEW_DEVICE: return "new-device";
	case CLIENT_TRUST_CREDENTIAL: return "credential-changed";
	case CLIENT_TRUST_UNVOUCHED: return "not-vouched";
	default: return "unknown";
	}
}

static bool acct_eq(const char *a, const char *b)
{
	return a[0] && b[0] && client_core_acct_equal(a, b);
}

int client_trust_compare(const struct client_member *old, size_t n_old,
			 const struct client_member *now, size_t n_now,
			 struct client_trust_change **out, size_t *n_out)
{
	*out = aim_xcalloc(n_now ? n_now : 1, sizeof **out);
	*n_out = 0;
	for (size_t i = 0; i < n_now; i++) {
		const struct client_member *m = &now[i];
		bool same = false, acct_known = false, leaf_was_acct = false;
		for (size_t k = 0; k < n_old; k++) {
			const struct client_member *o = &old[k];
			if (!acct_eq(o->acct, m->acct))
				continue;
			acct_known = true;
			if (strcmp(o->key, m->key) == 0 && strcmp(o->credential, m->credential) == 0)
				same = true;
			if (o->leaf == m->leaf)
				leaf_was_acct = true;
		}
		enum client_trust_change_kind kind = 0;
		if (m->check == CLIENT_CHECK_NONE && !same)
			kind = CLIENT_TRUST_UNVOUCHED;
		else if (same)
			continue;
		else if (!acct_known)
			kind = CLIENT_TRUST_NEW_MEMBER;
		else
			kind = leaf_was_acct ? CLIENT_TRUST_CREDENTIAL : CLIENT_TRUST_NEW_DEVICE;
		(*out)[*n_out].kind = kind;
		(*out)[*n_out].index = i;
		(*n_out)++;
	}
	return 0;
}

/* ---- Devices <-> JSON ---------------------------------------------------------------- */

static void fingerprint(struct aim_bytes b, char out[CLIENT_FINGERPRINT_HEX + 1])
{
	uint8_t h[32];
	out[0] = 0;
	if (aim_sha256(b, h) != 0) {
		aim_errclear();
		return;
	}
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void device_of(struct client *c, struct grp *gr, uint32_t leaf,
		      const struct mls_leaf_node *ln, struct client_member *m)
{
	memset(m, 0, sizeof *m);
	m->leaf = leaf;
	m->self = leaf == mls_group_own_leaf(gr->g);
	struct aim_bytes sk = AIM_BYTES(ln->signature_key.p, ln->signature_key.len);
	fingerprint(sk, m->key);
	const struct mls_credential *cr = &ln->credential;
	if (cr->type == MLS_CREDENTIAL_X509 && cr->n_certs > 0)
		fingerprint(AIM_BYTES(cr->certs[0].p, cr->certs[0].len), m->credential);
	else
		fingerprint(AIM_BYTES(cr->identity.p, cr->identity.len), m->credential);
	struct client_verdict v;
	if (client_verify_credential(c, cr, NULL, sk, &v) != 0)
		aim_errclear();
	m->check = v.check;
	snprintf(m->acct, sizeof m->acct, "%s", v.acct);
	snprintf(m->reason, sizeof m->reason, "%s", v.reason);
	m->not_after = v.not_after;
}

static json_t *device_json(const struct client_member *m)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:s, s:I, s:b}", "acct", m->acct, "leaf",
			 (json_int_t)m->leaf, "check", client_check_name(m->check), "reason",
			 m->reason, "notAfter", (json_int_t)m->not_after, "key", m->key,
			 "credential", m->credential, "since", (json_int_t)m->since, "changed",
			 m->changed);
}

static enum client_check check_of(const char *s)
{
	if (s && strcmp(s, client_check_name(CLIENT_CHECK_X509)) == 0)
		return CLIENT_CHECK_X509;
	if (s && strcmp(s, client_check_name(CLIENT_CHECK_KEYPACKAGE_LIST)) == 0)
		return CLIENT_CHECK_KEYPACKAGE_LIST;
	return CLIENT_CHECK_NONE;
}

static void device_parse(const json_t *j, struct client_member *m)
{
	memset(m, 0, sizeof *m);
	snprintf(m->acct, sizeof m->acct, "%s", json_string_value(json_object_get(j, "acct")) ?: "");
	m->leaf = (uint32_t)json_integer_value(json_object_get(j, "leaf"));
	m->check = check_of(json_string_value(json_object_get(j, "check")));
	snprintf(m->reason, sizeof m->reason, "%s",
		 json_string_value(json_object_get(j, "reason")) ?: "");
	m->not_after = json_integer_value(json_object_get(j, "notAfter"));
	snprintf(m->key, sizeof m->key, "%s", json_string_value(json_object_get(j, "key")) ?: "");
	snprintf(m->credential, sizeof m->credential, "%s",
		 json_string_value(json_object_get(j, "credential")) ?: "");
	m->since = (uint64_t)json_integer_value(json_object_get(j, "since"));
	m->changed = json_is_true(json_object_get(j, "changed"));
}

/* The devices of the current tree, checked now. */
static void current_devices(struct client *c, struct grp *gr, struct client_member **out,
			    size_t *n)
{
	const struct mls_tree *t = mls_group_tree(gr->g);
	uint32_t nl = mls_tree_n_leaves(t);
	*out = aim_xcalloc(nl ? nl : 1, sizeof **out);
	*n = 0;
	for (uint32_t l = 0; l < nl; l++) {
		const struct mls_leaf_node *ln = mls_tree_leaf(t, l);
		if (ln)
			device_of(c, gr, l, ln, &(*out)[(*n)++]);
	}
}

static void kept_devices(struct grp *gr, struct client_member **out, size_t *n)
{
	const json_t *d = json_object_get(json_object_get(gr->rec, "trust"), "devices");
	*out = aim_xcalloc(json_array_size(d) + 1, sizeof **out);
	*n = 0;
	size_t i;
	const json_t *e;
	json_array_foreach(d, i, e)
		device_parse(e, &(*out)[(*n)++]);
}

static const char *check_words(enum client_check k)
{
	return k == CLIENT_CHECK_X509 ? "the domain's certificate (x509)"
	       : k == CLIENT_CHECK_KEYPACKAGE_LIST ? "the actor's KeyPackage listing"
						   : "nothing (refused)";
}

int client_trust_refresh(struct client *c, struct grp *gr, bool warn, uint64_t seq)
{
	struct client_member *old = NULL, *now = NULL;
	size_t n_old = 0, n_now = 0;
	bool baseline = !json_is_object(json_object_get(gr->rec, "trust"));
	kept_devices(gr, &old, &n_old);
	current_devices(c, gr, &now, &n_now);
	struct client_trust_change *ch = NULL;
	size_t n_ch = 0;
	int rc = client_trust_compare(old, n_old, now, n_now, &ch, &n_ch);
	uint64_t epoch = mls_group_epoch(gr->g);
	/* what stays keeps its first epoch and its mark */
	for (size_t i = 0; i < n_now; i++) {
		now[i].since = epoch;
		for (size_t k = 0; k < n_old; k++)
			if (acct_eq(old[k].acct, now[i].acct) && !strcmp(old[k].key, now[i].key) &&
			    !strcmp(old[k].credential, now[i].credential)) {
				now[i].since = old[k].since;
				now[i].changed = old[k].changed;
			}
	}
	for (size_t i = 0; rc == 0 && i < n_ch; i++) {
		struct client_member *m = &now[ch[i].index];
		bool loud = ch[i].kind != CLIENT_TRUST_NEW_MEMBER;
		if (!loud || (baseline && ch[i].kind != CLIENT_TRUST_UNVOUCHED))
			continue;
		if (ch[i].kind != CLIENT_TRUST_UNVOUCHED)
			m->changed = true;
		if (!warn)
			continue;
		char *text;
		if (ch[i].kind == CLIENT_TRUST_UNVOUCHED)
			text = aim_xasprintf("WARNING: no check vouches for the device at leaf %u "
					     "(%s): %s",
					     m->leaf, m->acct[0] ? m->acct : "unknown", m->reason);
		else
			text = aim_xasprintf(
				"WARNING: the credential of %s changed (%s at leaf %u, key %.16s): "
				"now vouched for by %s (%s)",
				m->acct,
				ch[i].kind == CLIENT_TRUST_NEW_DEVICE ? "a new device"
								      : "a new key or certificate",
				m->leaf, m->key, check_words(m->check), m->reason);
		rc = client_grp_history_add(c, gr, m->acct, "trust", text, epoch, seq, NULL, NULL);
		free(text);
	}
	if (rc == 0) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n_now; i++)
			json_array_append_new(arr, device_json(&now[i]));
		json_object_set_new(gr->rec, "trust", json_pack("{s:o, s:I}", "devices", arr,
								 "epoch", (json_int_t)epoch));
	}
	free(ch);
	free(old);
	free(now);
	return rc;
}

int client_members(struct client *c, const char *conversation, struct client_member **out,
		   size_t *n)
{
	*out = NULL;
	*n = 0;
	struct grp *gr = NULL;
	TRY(client_grp_by_conv(c, conversation, &gr));
	int rc = 0;
	if (!json_is_object(json_object_get(gr->rec, "trust"))) {
		/* never kept (a group of an older version): the baseline now */
		rc = client_trust_refresh(c, gr, false, 0);
		if (rc == 0)
			rc = client_grp_save(c, gr);
	}
	if (rc == 0) {
		kept_devices(gr, out, n);
		uint32_t own = mls_group_own_leaf(gr->g);
		for (size_t i = 0; i < *n; i++)
			(*out)[i].self = mls_group_active(gr->g) && (*out)[i].leaf == own;
	}
	client_grp_free(gr);
	return rc;
}
