/* The MLS member group: a short window of past epochs, kept to decrypt
 * application messages that were sent in an epoch before a Commit but
 * reach us (in the hub's order) after it.
 *
 * RFC 9420 section 9.2 (deletion schedule): "Members MAY keep unconsumed
 * values around for some reasonable amount of time to handle out-of-order
 * message delivery." Section 15.2 (delayed and reordered application
 * messages): "Applications SHOULD define a policy on how long to keep
 * unused nonce and key pairs for a sender, and the maximum number to keep.
 * This is in addition to ensuring that these secrets are deleted according
 * to the deletion schedule defined in {{deletion-schedule}}." And section
 * 12.4.2: "(A client might keep the secret tree for a short time to decrypt
 * late messages in the previous epoch.)"
 *
 * aim's policy: the last MLS_GROUP_PAST_EPOCHS epochs (mls.h), each with
 * only what decrypting and authenticating an application message needs:
 * the epoch's GroupContext (signed over in FramedContentTBS), its
 * sender_data_secret, its secret tree as it stood when the epoch ended
 * (consumed generations stay consumed: the tree's own deletion schedule
 * goes on), and each leaf's signature public key. No path secret, no
 * init_secret, no membership key, no epoch secret is kept, so a past
 * epoch can neither be advanced nor used to forge a handshake. Only
 * application messages are taken from a past epoch (a Proposal or Commit
 * of a past epoch is refused as before, AIM_ERR_CONFLICT). The oldest
 * epoch is wiped when a fourth one would enter; all of them when the
 * group is freed.
 */
#include "mls/group_int.h"

#include <stdlib.h>
#include <string.h>

#include "mls/codec_int.h"
#include "mls/framing.h"

static void past_free(struct mls_grp_past *p)
{
	mls_group_context_free(&p->ctx);
	aim_wipe(p->sender_data_secret, sizeof p->sender_data_secret);
	mls_secret_tree_free(p->st);
	for (uint32_t i = 0; i < p->n_leaves; i++)
		mls_bytes_free(&p->sig[i]);
	free(p->sig);
	memset(p, 0, sizeof *p);
}

void mls_grp_past_clear(struct mls_group *g)
{
	for (size_t i = 0; i < g->n_past; i++)
		past_free(&g->past[i]);
	g->n_past = 0;
}

/* Room for one more: the oldest goes (wiped). */
static struct mls_grp_past *past_slot(struct mls_group *g)
{
	if (g->n_past == MLS_GROUP_PAST_EPOCHS) {
		past_free(&g->past[0]);
		memmove(&g->past[0], &g->past[1], (g->n_past - 1) * sizeof g->past[0]);
		g->n_past--;
	}
	struct mls_grp_past *p = &g->past[g->n_past];
	memset(p, 0, sizeof *p);
	return p;
}

int mls_grp_past_retire(struct mls_group *g, struct mls_group *old)
{
	/* the window of the group we leave comes along */
	for (size_t i = 0; i < old->n_past; i++) {
		struct mls_grp_past *p = past_slot(g);
		*p = old->past[i];
		g->n_past++;
		memset(&old->past[i], 0, sizeof old->past[i]);
	}
	old->n_past = 0;
	if (!old->st || !old->active)
		return 0;
	struct mls_grp_past *p = past_slot(g);
	int rc = 0;
	p->epoch = old->ctx.epoch;
	TRY_GOTO(mls_group_context_copy(&p->ctx, &old->ctx), fail);
	memcpy(p->sender_data_secret, old->sec.sender_data_secret, old->cs->nh);
	p->n_leaves = old->tree.n_leaves;
	p->sig = aim_xcalloc(p->n_leaves ? p->n_leaves : 1, sizeof *p->sig);
	for (uint32_t i = 0; i < p->n_leaves; i++) {
		const struct mls_leaf_node *l = mls_tree_leaf(&old->tree, i);
		if (l)
			TRY_GOTO(mls_bytes_copy(&p->sig[i], &l->signature_key), fail);
	}
	p->st = old->st; /* taken over */
	old->st = NULL;
	g->n_past++;
	return 0;
fail:
	past_free(p);
	return rc;
}

static int past_member_key(void *arg, uint32_t leaf, struct aim_bytes *sig_pub)
{
	const struct mls_grp_past *p = arg;
	ENSURE(leaf < p->n_leaves && p->sig[leaf].len, AIM_ERR_NOTFOUND,
	       "sender leaf %u is blank or outside the tree of epoch %llu", leaf,
	       (unsigned long long)p->epoch);
	*sig_pub = mls_bytes_view(&p->sig[leaf]);
	return 0;
}

int mls_grp_past_unprotect(struct mls_group *g, const struct mls_private_message *pm,
			   struct mls_authenticated_content *ac)
{
	struct mls_grp_past *p = NULL;
	for (size_t i = 0; i < g->n_past; i++)
		if (g->past[i].epoch == pm->epoch)
			p = &g->past[i];
	ENSURE(p, AIM_ERR_CONFLICT, "PrivateMessage of epoch %llu, group is at %llu",
	       (unsigned long long)pm->epoch, (unsigned long long)g->ctx.epoch);
	/* only application data from a past epoch (the content type is in
	 * the clear: checked before any key is used) */
	ENSURE(pm->content_type == MLS_CONTENT_APPLICATION, AIM_ERR_CONFLICT,
	       "handshake PrivateMessage of past epoch %llu, group is at %llu",
	       (unsigned long long)pm->epoch, (unsigned long long)g->ctx.epoch);
	TRY(mls_private_message_unprotect(g->cs, p->st,
					  AIM_BYTES(p->sender_data_secret, g->cs->nh), pm, &p->ctx,
					  past_member_key, p, ac));
	if (ac->content.content_type != MLS_CONTENT_APPLICATION) {
		mls_authenticated_content_free(ac);
		return aim_fail(AIM_ERR_CONFLICT, "handshake of past epoch %llu",
				(unsigned long long)pm->epoch);
	}
	return 0;
}

size_t mls_group_past_epochs(const struct mls_group *g, uint64_t *epochs, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < g->n_past && n < max; i++)
		epochs[n++] = g->past[i].epoch;
	return g->n_past;
}

int mls_group_past_signature_key(const struct mls_group *g, uint64_t epoch, uint32_t leaf,
				 struct aim_bytes *key)
{
	for (size_t i = 0; i < g->n_past; i++)
		if (g->past[i].epoch == epoch)
			return past_member_key((void *)&g->past[i], leaf, key);
	return aim_fail(AIM_ERR_NOTFOUND, "epoch %llu is not kept", (unsigned long long)epoch);
}

void mls_group_forget_past(struct mls_group *g)
{
	mls_grp_past_clear(g);
}

/* ---- Persistence -------------------------------------------------------------- */

/* PastEpoch past<V> {
 *   uint64 epoch; GroupContext ctx; opaque sender_data_secret[Nh];
 *   opaque secret_tree<V> (mls_secret_tree_export);
 *   opaque signature_keys<V> { opaque key<V>; } (one per leaf, empty: blank)
 * } */
int mls_grp_past_encode(const struct mls_group *g, struct aim_buf *w)
{
	size_t nh = g->cs->nh;
	struct aim_buf tmp;
	aim_buf_init(&tmp, MLS_MAX_GROUP_STATE);
	int rc = 0;
	size_t outer = mls_tls_vec_begin(w);
	for (size_t i = 0; i < g->n_past; i++) {
		const struct mls_grp_past *p = &g->past[i];
		TRY_GOTO(mls_tls_write_u64(w, p->epoch), out);
		TRY_GOTO(mls_group_context_encode(w, &p->ctx), out);
		TRY_GOTO(mls_tls_write_fixed(w, p->sender_data_secret, nh), out);
		aim_buf_reset(&tmp);
		TRY_GOTO(mls_secret_tree_export(p->st, &tmp), out);
		TRY_GOTO(mls_tls_write_vec(w, tmp.data, tmp.len), out);
		size_t mark = mls_tls_vec_begin(w);
		for (uint32_t j = 0; j < p->n_leaves; j++)
			TRY_GOTO(mls_write_bytes(w, &p->sig[j]), out);
		TRY_GOTO(mls_tls_vec_end(w, mark), out);
	}
	TRY_GOTO(mls_tls_vec_end(w, outer), out);
out:
	aim_buf_free_secret(&tmp);
	return rc;
}

int mls_grp_past_decode(struct mls_group *g, struct mls_tls_reader *r)
{
	size_t nh = g->cs->nh;
	struct mls_tls_reader sub, keys;
	struct aim_bytes b;
	TRY(mls_tls_read_vec_reader(r, &sub));
	while (mls_tls_remaining(&sub)) {
		ENSURE(g->n_past < MLS_GROUP_PAST_EPOCHS, AIM_ERR_LIMIT, "too many past epochs");
		struct mls_grp_past *p = &g->past[g->n_past];
		memset(p, 0, sizeof *p);
		g->n_past++; /* freed with the group on failure */
		TRY(mls_tls_read_u64(&sub, &p->epoch));
		TRY(mls_group_context_decode(&sub, &p->ctx));
		ENSURE(p->ctx.epoch == p->epoch && p->epoch < g->ctx.epoch &&
			       p->ctx.cipher_suite == g->cs->id,
		       AIM_ERR_DECODE, "past epoch %llu", (unsigned long long)p->epoch);
		ENSURE(g->n_past == 1 || g->past[g->n_past - 2].epoch < p->epoch, AIM_ERR_DECODE,
		       "past epochs out of order");
		TRY(mls_tls_read_fixed(&sub, nh, &b));
		memcpy(p->sender_data_secret, b.p, nh);
		TRY(mls_tls_read_vec(&sub, &b));
		TRY(mls_secret_tree_import(g->cs, b, &p->st));
		TRY(mls_tls_read_vec_reader(&sub, &keys));
		size_t cap = 0;
		while (mls_tls_remaining(&keys)) {
			ENSURE(p->n_leaves < MLS_MAX_LEAVES, AIM_ERR_LIMIT, "past epoch leaves");
			if (p->n_leaves == cap) {
				cap = cap ? 2 * cap : 16;
				p->sig = aim_xrealloc(p->sig, cap * sizeof *p->sig);
			}
			memset(&p->sig[p->n_leaves], 0, sizeof p->sig[0]);
			p->n_leaves++;
			TRY(mls_read_bytes(&keys, &p->sig[p->n_leaves - 1]));
		}
	}
	return 0;
}
