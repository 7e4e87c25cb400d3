/* MLS proposals: the per-epoch cache of proposals by reference and the
 * resolution of a Commit's ProposalOrRef list (RFC 9420 sections 5.2,
 * 12.1, 12.4). */
#include "mls/proposals.h"

#include <stdlib.h>
#include <string.h>

#include "mls/labeled.h"
#include "mls/tls.h"

/* ---- The cache ------------------------------------------------------------- */

void mls_proposal_cache_init(struct mls_proposal_cache *c, const struct aim_suite *cs)
{
	memset(c, 0, sizeof *c);
	c->cs = cs;
}

void mls_proposal_cache_clear(struct mls_proposal_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		mls_proposal_free(&c->v[i].proposal);
	c->n = 0;
}

void mls_proposal_cache_free(struct mls_proposal_cache *c)
{
	if (!c)
		return;
	mls_proposal_cache_clear(c);
	free(c->v);
	const struct aim_suite *cs = c->cs;
	memset(c, 0, sizeof *c);
	c->cs = cs;
}

static struct mls_cached_proposal *cache_push(struct mls_proposal_cache *c)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->v = aim_xrealloc(c->v, c->cap * sizeof *c->v);
	}
	struct mls_cached_proposal *e = &c->v[c->n];
	memset(e, 0, sizeof *e);
	return e;
}

int mls_proposal_cache_copy(struct mls_proposal_cache *dst, const struct mls_proposal_cache *src)
{
	mls_proposal_cache_init(dst, src->cs);
	for (size_t i = 0; i < src->n; i++) {
		struct mls_cached_proposal *e = cache_push(dst);
		memcpy(e->ref, src->v[i].ref, sizeof e->ref);
		e->sender = src->v[i].sender;
		if (mls_proposal_copy(&e->proposal, &src->v[i].proposal) != 0) {
			mls_proposal_cache_free(dst);
			return -1;
		}
		dst->n++;
	}
	return 0;
}

const struct mls_cached_proposal *mls_proposal_cache_find(const struct mls_proposal_cache *c,
							  struct aim_bytes ref)
{
	if (!c || !c->cs || ref.len != c->cs->nh)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (memcmp(c->v[i].ref, ref.p, ref.len) == 0)
			return &c->v[i];
	return NULL;
}

int mls_proposal_cache_add(struct mls_proposal_cache *c,
			   const struct mls_authenticated_content *ac, uint8_t ref[AIM_MAX_HASH])
{
	ENSURE(c->cs, AIM_ERR_INVALID, "proposal cache without a suite");
	ENSURE(ac->content.content_type == MLS_CONTENT_PROPOSAL, AIM_ERR_INVALID,
	       "caching content of type %u", ac->content.content_type);
	ENSURE(c->n < MLS_MAX_CACHED_PROPOSALS, AIM_ERR_LIMIT, "more than %u proposals in an epoch",
	       MLS_MAX_CACHED_PROPOSALS);
	uint8_t r[AIM_MAX_HASH];
	struct aim_buf b;
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	int rc = mls_authenticated_content_encode(&b, ac);
	/* "ProposalRef = RefHash("MLS 1.0 Proposal Reference",
	 * AuthenticatedContent)" */
	if (rc == 0)
		rc = mls_proposal_ref(c->cs, aim_buf_bytes(&b), r);
	aim_buf_free(&b);
	TRY(rc);
	ENSURE(!mls_proposal_cache_find(c, AIM_BYTES(r, c->cs->nh)), AIM_ERR_EXISTS,
	       "proposal already cached");
	struct mls_cached_proposal *e = cache_push(c);
	memcpy(e->ref, r, c->cs->nh);
	e->sender = ac->content.sender;
	TRY(mls_proposal_copy(&e->proposal, &ac->content.proposal));
	c->n++;
	if (ref)
		memcpy(ref, r, c->cs->nh);
	return 0;
}

int mls_proposal_cache_encode(struct aim_buf *w, const struct mls_proposal_cache *c)
{
	ENSURE(c->cs, AIM_ERR_INVALID, "proposal cache without a suite");
	size_t mark = mls_tls_vec_begin(w);
	for (size_t i = 0; i < c->n; i++) {
		TRY(mls_tls_write_vec(w, c->v[i].ref, c->cs->nh));
		TRY(mls_sender_encode(w, &c->v[i].sender));
		TRY(mls_proposal_encode(w, &c->v[i].proposal));
	}
	return mls_tls_vec_end(w, mark);
}

int mls_proposal_cache_decode(struct mls_tls_reader *r, struct mls_proposal_cache *c)
{
	ENSURE(c->cs && c->n == 0, AIM_ERR_INVALID, "decoding into a used proposal cache");
	struct mls_tls_reader sub;
	TRY(mls_tls_read_vec_reader(r, &sub));
	int rc = 0;
	while (mls_tls_remaining(&sub) > 0) {
		ENSURE_GOTO(c->n < MLS_MAX_CACHED_PROPOSALS, fail, AIM_ERR_LIMIT,
			    "too many cached proposals");
		struct aim_bytes ref;
		TRY_GOTO(mls_tls_read_vec(&sub, &ref), fail);
		ENSURE_GOTO(ref.len == c->cs->nh, fail, AIM_ERR_DECODE,
			    "cached proposal ref of %zu bytes", ref.len);
		struct mls_cached_proposal *e = cache_push(c);
		memcpy(e->ref, ref.p, ref.len);
		TRY_GOTO(mls_sender_decode(&sub, &e->sender), fail);
		TRY_GOTO(mls_proposal_decode(&sub, &e->proposal), fail);
		c->n++;
	}
	return 0;
fail:
	mls_proposal_cache_clear(c);
	return rc;
}

/* ---- Resolution ------------------------------------------------------------- */

void mls_proposal_list_free(struct mls_proposal_list *l)
{
	if (!l)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int mls_commit_resolve(const struct mls_commit *commit, struct mls_sender committer,
		       const struct mls_proposal_cache *cache, struct mls_proposal_list *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(commit->n_proposals <= MLS_MAX_PROPOSALS, AIM_ERR_LIMIT, "%zu proposals",
	       commit->n_proposals);
	if (!commit->n_proposals)
		return 0;
	out->v = aim_xcalloc(commit->n_proposals, sizeof *out->v);
	for (size_t i = 0; i < commit->n_proposals; i++) {
		const struct mls_proposal_or_ref *por = &commit->proposals[i];
		struct mls_resolved_proposal *e = &out->v[i];
		if (por->type == MLS_POR_PROPOSAL) {
			e->proposal = &por->proposal;
			e->sender = committer;
			e->by_reference = false;
			continue;
		}
		const struct mls_cached_proposal *cp =
			cache ? mls_proposal_cache_find(cache, mls_bytes_view(&por->reference)) : NULL;
		if (!cp) {
			mls_proposal_list_free(out);
			return aim_fail(AIM_ERR_NOTFOUND,
					"proposal %zu: reference to an unknown proposal", i);
		}
		e->proposal = &cp->proposal;
		e->sender = cp->sender;
		e->by_reference = true;
	}
	out->n = commit->n_proposals;
	return 0;
}
