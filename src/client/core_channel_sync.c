/*
 * client_sync(): the inbound side of the device's groups (issue 11 point 4,
 * issue 12 point 3). It pages the home server's inbox from where it
 * stopped ("sync/inbox": the page link to newer items), oldest first, and
 * in two passes: the Welcomes first (their groups joined, so that an item
 * reordered before its Welcome still finds its group), then every other
 * activity:
 *   - a Welcome (a Create of a Welcome object by a channel, or a DM's first
 *     message with aim:welcome): joins its group with the private part of
 *     the KeyPackage it names ("kp/REFHEX"; a consumable one is spent);
 *   - an Announce by a channel (aim:sequence): the activity it carries,
 *     with its MLS message (the Commit of an Add / Remove / other change,
 *     or the PrivateMessage of a Create), buffered in its group;
 *   - a Create of a PrivateMessage addressed to us (a DM): buffered
 *     unsequenced.
 * The group is found by the group_id of the MLS message itself. Each
 * group's buffer is then drained by client_seq_decide(): lowest sequence
 * first; a gap makes it page the channel's outbox (?after=SEQ, through the
 * proxy) once per sync; what still cannot be applied stays buffered in the
 * group's record, durable, for the next sync. Activity ids seen are kept
 * (CLIENT_SEEN_MAX per group) and dropped when seen again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/core_group_int.h"

#define INBOX_PAGES_MAX 1000

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static bool is_type(const json_t *o, const char *t)
{
	const char *v = str(o, "type");
	return v && strcmp(v, t) == 0;
}

/* ---- Identifying an MLS message ---------------------------------------------------- */

struct mls_info {
	char hex[2 * 255 + 1];
	uint64_t epoch;
	bool handshake;
	bool welcome;
};

static int mls_info_of(struct aim_bytes msg, struct mls_info *mi)
{
	memset(mi, 0, sizeof *mi);
	struct mls_message m;
	memset(&m, 0, sizeof m);
	TRY(mls_message_parse(msg.p, msg.len, &m));
	const struct mls_bytes *gid = NULL;
	int rc = 0;
	if (m.wire_format == MLS_WIRE_PUBLIC_MESSAGE) {
		gid = &m.public_message.content.group_id;
		mi->epoch = m.public_message.content.epoch;
		mi->handshake = m.public_message.content.content_type != MLS_CONTENT_APPLICATION;
	} else if (m.wire_format == MLS_WIRE_PRIVATE_MESSAGE) {
		gid = &m.private_message.group_id;
		mi->epoch = m.private_message.epoch;
		mi->handshake = m.private_message.content_type != MLS_CONTENT_APPLICATION;
	} else if (m.wire_format == MLS_WIRE_WELCOME) {
		mi->welcome = true;
	} else {
		rc = aim_fail(AIM_ERR_INVALID, "MLS wire format %u in a group item", m.wire_format);
	}
	if (rc == 0 && gid) {
		struct aim_buf h;
		aim_buf_init(&h, sizeof mi->hex);
		rc = gid->len <= 255 ? aim_hex_encode(&h, gid->p, gid->len)
				     : aim_fail(AIM_ERR_INVALID, "group id too long");
		if (rc == 0)
			snprintf(mi->hex, sizeof mi->hex, "%.*s", (int)h.len, (const char *)h.data);
		aim_buf_free(&h);
	}
	mls_message_free(&m);
	return rc;
}

/* ---- Joining from a Welcome ------------------------------------------------------------ */

static int join_welcome(struct client *c, struct aim_bytes welcome, const char *kind,
			const char *conv, const json_t *act, struct client_sync_stats *st)
{
	struct mls_message m;
	memset(&m, 0, sizeof m);
	TRY(mls_message_parse(welcome.p, welcome.len, &m));
	int rc = -1;
	json_t *kpe = NULL;
	char kpkey[8 + 2 * AIM_MAX_HASH + 1] = "";
	ENSURE_GOTO(m.wire_format == MLS_WIRE_WELCOME, out, AIM_ERR_INVALID, "not a Welcome");
	for (size_t i = 0; i < m.welcome.n_secrets && !kpe; i++) {
		const struct mls_bytes *ref = &m.welcome.secrets[i].new_member;
		if (ref->len > AIM_MAX_HASH)
			continue;
		struct aim_buf h;
		aim_buf_init(&h, 2 * AIM_MAX_HASH + 1);
		if (aim_hex_encode(&h, ref->p, ref->len) == 0) {
			snprintf(kpkey, sizeof kpkey, "kp/%.*s", (int)h.len, (const char *)h.data);
			if (client_core_kv_get_json(c, kpkey, &kpe) != 0)
				aim_errclear();
		}
		aim_buf_free(&h);
	}
	if (!kpe) {
		/* not for this device (another device of ours, or a stale copy):
		 * a conversation of the account to join (core_rejoin.c) */
		rc = client_rejoin_note_unjoined(c, conv, kind);
		goto out;
	}
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	memset(&kp, 0, sizeof kp);
	memset(&priv, 0, sizeof priv);
	struct aim_buf kb, pb;
	aim_buf_init(&kb, MLS_MAX_MESSAGE);
	aim_buf_init(&pb, 4096);
	struct grp *gr = client_grp_new(c);
	rc = client_core_unb64(json_object_get(kpe, "message"), &kb);
	if (rc == 0)
		rc = client_core_parse_kp(aim_buf_bytes(&kb), &kp);
	if (rc == 0)
		rc = client_core_unb64(json_object_get(kpe, "private"), &pb);
	if (rc == 0)
		rc = mls_key_package_priv_parse(pb.data, pb.len, &priv);
	if (rc == 0)
		rc = mls_group_join(&gr->cfg, welcome, AIM_BYTES(NULL, 0), &kp, &priv, &gr->g);
	if (rc == 0)
		rc = client_grp_set_id(gr);
	if (rc == 0) {
		struct grp *old = NULL;
		if (client_grp_load(c, gr->hex, &old) == 0) {
			/* joined already (the same Welcome twice) */
			client_grp_free(old);
			st->duplicates++;
			goto done;
		}
		aim_errclear();
		json_object_set_new(gr->rec, "kind", json_string(kind));
		json_object_set_new(gr->rec, "conversation", json_string(conv));
		/* Where the sequence starts for us: given with the Welcome, or 0
		 * when we join at the channel's creation (epoch 1: nothing was
		 * fanned out before); else the first Announce we get tells (the
		 * one of the Add that added us, which every member receives) */
		const json_t *sq = json_object_get(act, "aim:sequence");
		bool known = json_is_integer(sq) || mls_group_epoch(gr->g) == 1;
		json_object_set_new(gr->rec, "seq", json_integer(json_integer_value(sq)));
		json_object_set_new(gr->rec, "base", json_boolean(known));
		/* whom a DM's messages are addressed to: its participants */
		json_t *mem = json_object(), *v;
		size_t i;
		json_array_foreach(json_object_get(act, "aim:members"), i, v)
			if (json_is_string(v))
				json_object_set(mem, json_string_value(v), v);
		if (str(act, "actor"))
			json_object_set_new(mem, str(act, "actor"), json_string(str(act, "actor")));
		json_object_set_new(gr->rec, "members", mem);
		rc = client_trust_refresh(c, gr, false, 0); /* the baseline */
		if (rc == 0)
			rc = client_grp_save(c, gr);
		if (rc == 0 && strcmp(kind, "dm") == 0)
			rc = client_grp_dm_index(c, gr);
		if (rc == 0 && !json_is_true(json_object_get(kpe, "lastResort")) &&
		    c->io.kv_del(c->io.kv_ctx, kpkey) != 0)
			aim_errclear(); /* a consumable KeyPackage is spent */
		if (rc == 0)
			st->joined++;
	}
done:
	mls_key_package_free(&kp);
	mls_key_package_priv_free(&priv);
	aim_buf_free(&kb);
	aim_buf_free_secret(&pb);
	client_grp_free(gr);
out:
	if (kpe) {
		json_t *pv = json_object_get(kpe, "private");
		if (json_is_string(pv))
			aim_wipe((void *)json_string_value(pv), json_string_length(pv));
	}
	json_decref(kpe);
	mls_message_free(&m);
	return rc;
}

/* ---- Buffering -------------------------------------------------------------------------- */

static bool seen(json_t *rec, const char *id)
{
	if (!id)
		return false;
	json_t *s = json_object_get(rec, "seen"), *v;
	size_t i;
	json_array_foreach(s, i, v)
		if (json_string_value(v) && strcmp(json_string_value(v), id) == 0)
			return true;
	json_t *b = json_object_get(rec, "buffer");
	json_array_foreach(b, i, v)
		if (str(v, "id") && strcmp(str(v, "id"), id) == 0)
			return true;
	return false;
}

static void mark_seen(json_t *rec, const char *id)
{
	if (!id)
		return;
	json_t *s = json_object_get(rec, "seen");
	if (!json_is_array(s)) {
		s = json_array();
		json_object_set_new(rec, "seen", s);
	}
	json_array_append_new(s, json_string(id));
	while (json_array_size(s) > CLIENT_SEEN_MAX)
		json_array_remove(s, 0);
}

/* One item of a group: the MLS message (base64), its sequence, epoch,
 * kind, the activity's id and type, and for DMs whether it needs no seq. */
static int buffer_item(json_t *rec, const char *id, uint64_t seq, const struct mls_info *mi,
		       const char *b64, const json_t *inner, struct client_sync_stats *st)
{
	if (seen(rec, id)) {
		st->duplicates++;
		return 0;
	}
	json_t *b = json_object_get(rec, "buffer");
	if (!json_is_array(b)) {
		b = json_array();
		json_object_set_new(rec, "buffer", b);
	}
	ENSURE(json_array_size(b) < CLIENT_BUFFER_MAX, AIM_ERR_LIMIT, "group buffer full");
	json_t *e = json_pack("{s:s, s:I, s:I, s:b, s:s, s:s}", "id", id ? id : "", "seq",
			      (json_int_t)seq, "epoch", (json_int_t)mi->epoch, "handshake",
			      mi->handshake, "mls", b64, "type", str(inner, "type") ?: "");
	ENSURE(e != NULL, AIM_ERR_DECODE, "bad item");
	json_t *obj = json_object_get(inner, "object");
	if (json_is_array(obj))
		json_object_set(e, "objects", obj);
	json_array_append_new(b, e);
	return 0;
}

/* The MLS message an activity carries: instrument / commit (a change),
 * or object / content (a message). b64 gets the base64 text. */
static int carried(const json_t *inner, struct aim_buf *msg)
{
	const json_t *o = json_object_get(inner, "instrument");
	if (!o)
		o = json_object_get(inner, "commit");
	if (!o) {
		o = json_object_get(inner, "object");
		if (json_is_object(o) && !str(o, "mediaType") && json_object_get(o, "content"))
			return client_core_unb64(json_object_get(o, "content"), msg); /* draft Note */
	}
	return client_grp_mls_bytes(o, msg);
}

/* ---- Applying ----------------------------------------------------------------------------- */

/* One of our messages coming back: its text ("" if shown already), or
 * NULL if not ours. */
static const char *was_sent(json_t *rec, struct aim_bytes msg)
{
	uint8_t h[32];
	if (aim_sha256(msg, h) != 0) {
		aim_errclear();
		return NULL;
	}
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	return json_string_value(json_object_get(json_object_get(rec, "sent"), hex));
}

/* A decrypted message's content into the history (never fatal): text and
 * replies with their text, other known types (reaction, edit, delete)
 * under their name, an unknown type as "unknown type X", content that does
 * not decode as "undecodable" with the reason. The raw content is kept for
 * timelines (client_content_apply). */
static int record_content(struct client *c, struct grp *gr, const char *sender,
			  struct aim_bytes pt, uint64_t epoch, uint64_t seq)
{
	struct client_content m;
	memset(&m, 0, sizeof m);
	char *raw = aim_xasprintf("%.*s", (int)pt.len, (const char *)pt.p);
	int rc;
	if (strlen(raw) != pt.len || client_content_decode(pt, &m) != 0) {
		char *d = aim_xasprintf("undecodable content: %s",
					strlen(raw) != pt.len ? "a NUL byte" : aim_errmsg());
		aim_errclear();
		rc = client_grp_history_add(c, gr, sender, "undecodable", d, epoch, seq, NULL, NULL);
		free(d);
	} else if (m.type == CLIENT_CONTENT_UNKNOWN) {
		char *d = aim_xasprintf("unknown type %s", m.type_name);
		rc = client_grp_history_add(c, gr, sender, m.type_name, d, epoch, seq, m.id, raw);
		free(d);
	} else {
		rc = client_grp_history_add(c, gr, sender, client_content_type_name(m.type),
					    m.text ? m.text : "", epoch, seq, m.id, raw);
	}
	client_content_free(&m);
	aim_wipe(raw, strlen(raw));
	free(raw);
	return rc;
}

/* Our own message in the hub's order: shown now, once. */
static int own_echo(struct client *c, struct grp *gr, struct aim_bytes msg, uint64_t epoch,
		    uint64_t seq)
{
	const char *t = was_sent(gr->rec, msg);
	if (!t || !*t)
		return 0;
	char *content = aim_xstrdup(t);
	int rc = record_content(c, gr, c->acct, AIM_BYTES(content, strlen(content)), epoch, seq);
	aim_wipe(content, strlen(content));
	free(content);
	uint8_t h[32];
	char hex[65];
	if (rc == 0 && aim_sha256(msg, h) == 0) {
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", h[i]);
		json_object_set_new(json_object_get(gr->rec, "sent"), hex, json_string(""));
	}
	return rc;
}

/* A late message of a past epoch (mls_group_past_epochs) names its
 * sender by a leaf of THAT epoch: the member is named only while the
 * current tree's leaf still has the same signature key (a leaf removed or
 * taken by someone since shows no name, never another member's). */
static bool past_sender_holds_leaf(struct grp *gr, const struct mls_group_event *ev)
{
	if (!ev->past_epoch)
		return true;
	struct aim_bytes then;
	const struct mls_leaf_node *now = mls_tree_leaf(mls_group_tree(gr->g), ev->sender.index);
	if (mls_group_past_signature_key(gr->g, ev->epoch, ev->sender.index, &then) != 0) {
		aim_errclear();
		return false;
	}
	return now && aim_ct_equal(then.p, then.len, now->signature_key.p, now->signature_key.len);
}

static int apply_item(struct client *c, struct grp *gr, json_t *e, struct client_sync_stats *st)
{
	struct aim_buf msg;
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	const char *m64 = str(e, "mls");
	if (m64 && !*m64)
		return 0; /* a sequence without a message (sequence_only) */
	TRY(client_core_unb64(json_object_get(e, "mls"), &msg));
	uint64_t epoch = (uint64_t)json_integer_value(json_object_get(e, "epoch"));
	uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
	int rc = 0;
	if (!json_is_true(json_object_get(e, "handshake")) && was_sent(gr->rec, aim_buf_bytes(&msg))) {
		/* our own message, fanned out back to us */
		rc = own_echo(c, gr, aim_buf_bytes(&msg), epoch, seq);
		st->applied++;
		goto out;
	}
	struct mls_group_event ev;
	if (mls_group_process(gr->g, aim_buf_bytes(&msg), &ev) != 0) {
		char *d = aim_xasprintf("undecryptable: %s", aim_errmsg());
		bool conflict = aim_errcode() == AIM_ERR_CONFLICT;
		aim_errclear();
		st->failed++;
		rc = client_grp_history_add(c, gr, "", "error", d, epoch, seq, NULL, NULL);
		/* a handshake of our epoch that we cannot apply: every later one
		 * waits for it forever; this device fell behind (core_rejoin.c) */
		if (rc == 0 && !conflict && json_is_true(json_object_get(e, "handshake")) &&
		    epoch == mls_group_epoch(gr->g)) {
			char *why = aim_xasprintf("this device fell too far behind (%s)", d);
			rc = client_rejoin_note_behind(c, gr, why);
			free(why);
		}
		free(d);
		goto out;
	}
	st->applied++;
	if (ev.type == MLS_EVENT_APPLICATION && !ev.own_message) {
		char sender[CLIENT_ACCT_MAX] = "";
		if (ev.sender.type == MLS_SENDER_MEMBER && past_sender_holds_leaf(gr, &ev))
			client_grp_leaf_acct(c, gr, ev.sender.index, sender, sizeof sender);
		rc = record_content(c, gr, sender, aim_buf_bytes(&ev.data), ev.epoch, seq);
	} else if (ev.type == MLS_EVENT_PROPOSAL && !ev.own_message &&
		   ev.proposal_type == 3 /* remove: a member leaving */) {
		char who[CLIENT_ACCT_MAX] = "";
		if (ev.sender.type == MLS_SENDER_MEMBER)
			client_grp_leaf_acct(c, gr, ev.sender.index, who, sizeof who);
		json_object_set_new(gr->rec, "removalProposed", json_true());
		char *d = aim_xasprintf("%s leaves the conversation", who[0] ? who : "a member");
		rc = client_grp_history_add(c, gr, who, "leaving", d, epoch, seq, NULL, NULL);
		free(d);
	} else if (ev.type == MLS_EVENT_COMMIT) {
		json_object_del(gr->rec, "removalProposed");
		if (ev.own_commit)
			json_object_del(gr->rec, "pendingSince");
		if (ev.removed_self)
			json_object_set_new(gr->rec, "removed", json_true());
		else
			rc = client_trust_refresh(c, gr, true, seq); /* who vouches now */
	}
	mls_group_event_free(&ev);
out:
	aim_buf_free(&msg);
	return rc;
}

/* The channel's outbox after seq, through the proxy: its Announces
 * buffered. */
static int fill_gap(struct client *c, struct grp *gr, uint64_t after, struct client_sync_stats *st);

static int drain(struct client *c, struct grp *gr, struct client_sync_stats *st)
{
	bool fetched = false;
	for (;;) {
		json_t *b = json_object_get(gr->rec, "buffer");
		uint64_t applied = (uint64_t)json_integer_value(json_object_get(gr->rec, "seq"));
		bool base = json_is_true(json_object_get(gr->rec, "base"));
		uint64_t ep = mls_group_epoch(gr->g);
		size_t best = SIZE_MAX;
		uint64_t best_seq = UINT64_MAX;
		bool gap = false, changed = false;
		for (size_t i = 0; i < json_array_size(b); i++) {
			json_t *e = json_array_get(b, i);
			struct client_seq_item it = {
				.seq = (uint64_t)json_integer_value(json_object_get(e, "seq")),
				.epoch = (uint64_t)json_integer_value(json_object_get(e, "epoch")),
				.handshake = json_is_true(json_object_get(e, "handshake")),
			};
			enum client_seq_verdict v = client_seq_decide(applied, base, ep, &it);
			if (v == CLIENT_SEQ_DUPLICATE) {
				st->duplicates++;
				json_array_remove(b, i);
				changed = true;
				break;
			}
			if (v == CLIENT_SEQ_GAP)
				gap = true;
			/* sequenced items go lowest first; when the base is not
			 * known yet, a STALE or APPLY item of a lower sequence
			 * still comes first */
			if ((v == CLIENT_SEQ_APPLY || v == CLIENT_SEQ_STALE) &&
			    (it.seq ? it.seq : UINT64_MAX - 1) < best_seq) {
				best = i;
				best_seq = it.seq ? it.seq : UINT64_MAX - 1;
			} else if ((v == CLIENT_SEQ_APPLY || v == CLIENT_SEQ_STALE) &&
				   best == SIZE_MAX) {
				best = i;
			}
		}
		if (changed)
			continue;
		if (best == SIZE_MAX) {
			if (gap && !fetched && mls_group_active(gr->g)) {
				fetched = true;
				if (fill_gap(c, gr, applied, st) != 0)
					aim_errclear(); /* retried at the next sync */
				continue;
			}
			st->buffered += json_array_size(b);
			return 0;
		}
		json_t *e = json_incref(json_array_get(b, best));
		json_array_remove(b, best);
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
		uint64_t epoch = (uint64_t)json_integer_value(json_object_get(e, "epoch"));
		int rc = 0;
		if (epoch < ep) {
			/* a handshake we passed (our own commit, the one that
			 * added us), a late message of one of the past epochs
			 * the group keeps (decrypted with that epoch's keys), or
			 * a message of an epoch we no longer have */
			if (json_is_true(json_object_get(e, "handshake"))) {
				/* the first commit of the epoch of our external
				 * join: ours, or the one that beat it */
				struct aim_buf m;
				aim_buf_init(&m, MLS_MAX_MESSAGE);
				if (client_core_unb64(json_object_get(e, "mls"), &m) == 0)
					rc = client_rejoin_check_commit(c, gr, aim_buf_bytes(&m), epoch,
									false);
				if (json_is_true(json_object_get(gr->rec, "behind")))
					st->behind++;
				else
					aim_errclear();
				aim_buf_free(&m);
			} else {
				struct aim_buf m;
				aim_buf_init(&m, MLS_MAX_MESSAGE);
				uint64_t kept[MLS_GROUP_PAST_EPOCHS];
				size_t n_kept = mls_group_past_epochs(gr->g, kept, MLS_GROUP_PAST_EPOCHS);
				bool is_kept = false;
				for (size_t k = 0; k < n_kept && k < MLS_GROUP_PAST_EPOCHS; k++)
					is_kept = is_kept || kept[k] == epoch;
				if (client_core_unb64(json_object_get(e, "mls"), &m) == 0 &&
				    was_sent(gr->rec, aim_buf_bytes(&m))) {
					rc = own_echo(c, gr, aim_buf_bytes(&m), epoch, seq);
				} else if (m.len && is_kept && mls_group_active(gr->g)) {
					rc = apply_item(c, gr, e, st);
				} else if (m.len) {
					char *d = aim_xasprintf("undecryptable: epoch %llu is past",
								(unsigned long long)epoch);
					rc = client_grp_history_add(c, gr, "", "error", d, epoch, seq, NULL, NULL);
					st->failed++;
					free(d);
				}
				aim_buf_free(&m);
			}
		} else if (mls_group_active(gr->g)) {
			rc = apply_item(c, gr, e, st);
		}
		mark_seen(gr->rec, str(e, "id"));
		if (seq && (!base || seq > applied)) {
			json_object_set_new(gr->rec, "seq", json_integer((json_int_t)seq));
			json_object_set_new(gr->rec, "base", json_true());
		}
		json_decref(e);
		if (rc != 0)
			return rc;
	}
}

/* ---- Routing one inbound activity --------------------------------------------------------- */

/* A remote hub's Reject of our change (a stale epoch: issue 11, "to a
 * remote server, also a Reject naming it"): our pending Commit is dropped,
 * so that the next change is made on the current epoch; the history says
 * so. (Against our own server's hub the 409 comes back at once and the
 * change is retried there.) */
static int rejected(struct client *c, const json_t *ours, const json_t *rej,
		    struct client_sync_stats *st)
{
	struct aim_buf msg;
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	struct mls_info mi;
	struct grp *gr = NULL;
	int rc = 0;
	if (carried(ours, &msg) != 0 || mls_info_of(aim_buf_bytes(&msg), &mi) != 0 ||
	    !mi.handshake || client_grp_load(c, mi.hex, &gr) != 0) {
		aim_errclear();
		goto out;
	}
	if (json_object_get(gr->rec, "externalCommit")) {
		/* our external join, refused by a remote hub */
		rc = client_rejoin_check_commit(c, gr, aim_buf_bytes(&msg), mi.epoch, true);
		if (rc == 0)
			rc = client_grp_save(c, gr);
	} else if (mls_group_has_pending(gr->g) && mi.epoch == mls_group_epoch(gr->g)) {
		mls_group_discard_pending(gr->g);
		json_object_del(gr->rec, "pendingSince");
		const json_t *ce = json_object_get(rej, "aim:currentEpoch");
		char *d = aim_xasprintf("our %s was refused by the hub (current epoch %lld)",
					str(ours, "type") ?: "change",
					(long long)json_integer_value(ce));
		rc = client_grp_history_add(c, gr, c->acct, "refused", d, mi.epoch, 0, NULL, NULL);
		free(d);
		if (rc == 0)
			rc = client_grp_save(c, gr);
		st->failed++;
	}
out:
	client_grp_free(gr);
	aim_buf_free(&msg);
	return rc;
}

/* One inbox item. Phase 1 joins the groups of the Welcomes (so that an
 * item reordered before its group's Welcome in the same sync still finds
 * its group); phase 2 buffers every other item in its group and names the
 * group in touched (drained afterwards, once). */
/* A sequenced Announce of a channel without an MLS message (HUB_METADATA,
 * a handover): buffered as an item of no message ("mls" empty) at the
 * group's epoch, so that its sequence number is passed in order and the
 * next one is no gap; applying it does nothing. */
static int sequence_only(struct client *c, const char *actor, const char *id, uint64_t seq,
			 const json_t *inner, json_t *touched, struct client_sync_stats *st)
{
	struct grp *gr = NULL;
	if (client_grp_by_conv(c, actor, &gr) != 0) {
		aim_errclear();
		return 0;
	}
	struct mls_info mi;
	memset(&mi, 0, sizeof mi);
	mi.epoch = mls_group_epoch(gr->g);
	int rc = buffer_item(gr->rec, id, seq, &mi, "", inner, st);
	if (rc == 0)
		rc = client_grp_save(c, gr);
	if (rc == 0)
		json_object_set_new(touched, gr->hex, json_true());
	client_grp_free(gr);
	return rc;
}

static int route(struct client *c, const json_t *act, int phase, json_t *touched,
		 struct client_sync_stats *st)
{
	const json_t *inner = act;
	uint64_t seq = 0;
	const char *actor = str(act, "actor");
	if (is_type(act, "Reject") && json_is_object(json_object_get(act, "object")))
		return phase == 2 ? rejected(c, json_object_get(act, "object"), act, st) : 0;
	if (is_type(act, "Move"))
		return phase == 2 ? client_move_apply(c, act) : 0; /* core_move.c */
	if (is_type(act, "Announce")) {
		inner = json_object_get(act, "object");
		if (!json_is_object(inner))
			return 0; /* an Announce by reference: not one of a channel's */
		seq = (uint64_t)json_integer_value(json_object_get(act, "aim:sequence"));
	}
	const char *id = str(inner, "id") ?: str(act, "id");
	/* A Welcome: "a Create by the channel of a Welcome object", or a DM's
	 * first message carrying aim:welcome. */
	const json_t *obj = json_object_get(inner, "object");
	const json_t *wo = json_object_get(inner, "aim:welcome");
	if (!wo)
		wo = json_object_get(inner, "mimi:welcome");
	if (!wo)
		wo = json_object_get(inner, "welcome");
	bool welcome_obj = json_is_object(obj) && is_type(obj, "Welcome");
	bool is_welcome = is_type(inner, "Create") && (welcome_obj || (wo && seq == 0));
	if (is_welcome && phase == 2 && welcome_obj)
		return 0; /* joined in phase 1 */
	if (!is_welcome && phase == 1)
		return 0;
	if (is_welcome && phase == 1) {
		struct aim_buf w;
		aim_buf_init(&w, MLS_MAX_MESSAGE);
		int rc = client_grp_mls_bytes(welcome_obj ? obj : wo, &w);
		/* the conversation: the channel (or DM hub) that sent it */
		const char *hub = str(inner, "aim:hub");
		const char *conv = hub ?: str(inner, "aim:channel") ?: actor ?: "";
		bool dm = hub || strstr(conv, "/dms/") != NULL;
		if (rc == 0)
			rc = join_welcome(c, aim_buf_bytes(&w), dm ? "dm" : "channel", conv, inner,
					  st);
		aim_buf_free(&w);
		/* a DM's first message: its PrivateMessage is buffered in phase 2 */
		return rc;
	}
	struct aim_buf msg;
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	if (carried(inner, &msg) != 0) {
		aim_errclear();
		aim_buf_free(&msg);
		/* no MLS in it: a channel's change the group does not see (a
		 * handover of ownership, a rename) still takes its sequence */
		return seq && actor && is_type(act, "Announce") ? sequence_only(c, actor, id, seq, inner,
										 touched, st)
								 : 0;
	}
	struct mls_info mi;
	int rc = mls_info_of(aim_buf_bytes(&msg), &mi);
	if (rc != 0 || mi.welcome) {
		aim_errclear();
		aim_buf_free(&msg);
		st->failed += rc != 0;
		return 0;
	}
	struct grp *gr = NULL;
	if (client_grp_load(c, mi.hex, &gr) != 0) {
		aim_errclear();
		aim_buf_free(&msg);
		/* a group we are not in (or not yet: its Welcome lost): a
		 * channel's Announce names a conversation of the account */
		if (seq && actor && is_type(act, "Announce"))
			return client_rejoin_note_unjoined(c, actor,
							   strstr(actor, "/dms/") ? "dm" : "channel");
		return 0;
	}
	json_t *b64 = client_core_b64(aim_buf_bytes(&msg));
	aim_buf_free(&msg);
	rc = buffer_item(gr->rec, id, seq, &mi, json_string_value(b64), inner, st);
	json_decref(b64);
	if (rc == 0)
		rc = client_grp_save(c, gr);
	if (rc == 0)
		json_object_set_new(touched, gr->hex, json_true());
	client_grp_free(gr);
	return rc;
}

/* Applies what can be applied of a group's buffer. */
static int drain_group(struct client *c, const char *hex, struct client_sync_stats *st)
{
	struct grp *gr = NULL;
	TRY(client_grp_load(c, hex, &gr));
	int rc = drain(c, gr, st);
	if (rc == 0)
		rc = client_leave_commit_pending(c, gr); /* a member left: commit it */
	if (rc == 0)
		rc = client_grp_save(c, gr);
	client_grp_free(gr);
	return rc;
}

static json_t *items_of(const json_t *page)
{
	json_t *it = json_object_get(page, "orderedItems");
	if (!it)
		it = json_object_get(page, "items");
	return json_is_array(it) ? it : NULL;
}

static int fill_gap(struct client *c, struct grp *gr, uint64_t after, struct client_sync_stats *st)
{
	const char *conv = str(gr->rec, "conversation");
	ENSURE(conv, AIM_ERR_STATE, "group without a conversation");
	char *url = aim_xasprintf("%s/outbox?after=%llu", conv, (unsigned long long)after);
	int rc = 0;
	for (int pages = 0; url && pages < 50 && rc == 0; pages++) {
		struct aim_buf body;
		aim_buf_init(&body, CLIENT_MAX_RESPONSE);
		rc = client_proxy_get(c, url, "application/activity+json", &body);
		json_t *page = rc == 0 ? json_loadb((const char *)body.data, body.len, 0, NULL) : NULL;
		aim_buf_free(&body);
		free(url);
		url = NULL;
		if (rc != 0)
			break;
		ENSURE(page, AIM_ERR_REMOTE, "the channel's outbox is not JSON");
		json_t *first = json_object_get(page, "first");
		json_t *items = items_of(page);
		if (!items && json_is_object(first))
			items = items_of(first);
		if (!items && json_is_string(first)) {
			url = aim_xstrdup(json_string_value(first));
			json_decref(page);
			continue;
		}
		size_t i;
		json_t *a;
		size_t added = 0;
		json_array_foreach(items, i, a)
		{
			if (!is_type(a, "Announce") || !json_is_object(json_object_get(a, "object")))
				continue;
			struct aim_buf msg;
			aim_buf_init(&msg, MLS_MAX_MESSAGE);
			struct mls_info mi;
			const json_t *inner = json_object_get(a, "object");
			if (carried(inner, &msg) == 0 && mls_info_of(aim_buf_bytes(&msg), &mi) == 0 &&
			    !mi.welcome && strcmp(mi.hex, gr->hex) == 0) {
				json_t *b64 = client_core_b64(aim_buf_bytes(&msg));
				uint64_t seq = (uint64_t)json_integer_value(
					json_object_get(a, "aim:sequence"));
				if (buffer_item(gr->rec, str(inner, "id") ?: str(a, "id"), seq, &mi,
						json_string_value(b64), inner, st) == 0)
					added++;
				json_decref(b64);
			}
			aim_errclear();
			aim_buf_free(&msg);
		}
		const char *next = str(page, "next");
		if (!next && json_is_object(first))
			next = str(first, "next");
		if (next && added)
			url = aim_xstrdup(next);
		json_decref(page);
	}
	free(url);
	if (rc == 0)
		st->gaps_filled++;
	return rc;
}

/* ---- The inbox ------------------------------------------------------------------------------ */

static int get_page(struct client *c, const char *url, json_t **page)
{
	return client_core_call(c, "GET", url, NULL, page);
}

int client_sync(struct client *c, struct client_sync_stats *st)
{
	struct client_sync_stats dummy;
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof *st);
	json_t *cur = NULL;
	char *prev = NULL;
	if (client_core_kv_get_json(c, "sync/inbox", &cur) == 0)
		prev = aim_xstrdup(str(cur, "prev") ?: "");
	else
		aim_errclear();
	json_decref(cur);
	json_t *todo = json_array(); /* oldest first */
	int rc = 0;
	char *newest = NULL;
	if (!prev || !*prev) {
		/* the first sync: the whole inbox, newest page first */
		char *url = aim_xasprintf("%s/users/%s/inbox?page=true", c->server, c->user);
		json_t *pages = json_array();
		for (int n = 0; url && n < INBOX_PAGES_MAX; n++) {
			json_t *page = NULL;
			rc = get_page(c, url, &page);
			free(url);
			url = NULL;
			if (rc != 0)
				break;
			if (!newest && str(page, "prev"))
				newest = aim_xstrdup(str(page, "prev"));
			json_array_append_new(pages, page);
			if (str(page, "next") && json_array_size(items_of(page)))
				url = aim_xstrdup(str(page, "next"));
		}
		free(url);
		for (size_t p = json_array_size(pages); rc == 0 && p-- > 0;) {
			json_t *it = items_of(json_array_get(pages, p));
			for (size_t i = json_array_size(it); i-- > 0;)
				json_array_append(todo, json_array_get(it, i));
		}
		json_decref(pages);
	} else {
		/* newer items: each page holds the oldest ones after the cursor */
		char *url = aim_xstrdup(prev);
		for (int n = 0; url && n < INBOX_PAGES_MAX; n++) {
			json_t *page = NULL;
			rc = get_page(c, url, &page);
			free(url);
			url = NULL;
			if (rc != 0)
				break;
			json_t *it = items_of(page);
			for (size_t i = json_array_size(it); i-- > 0;)
				json_array_append(todo, json_array_get(it, i));
			if (json_array_size(it) && str(page, "prev")) {
				free(newest);
				newest = aim_xstrdup(str(page, "prev"));
				url = aim_xstrdup(newest);
			}
			json_decref(page);
		}
		free(url);
	}
	size_t i;
	json_t *a;
	json_t *touched = json_object();
	st->items = json_array_size(todo);
	for (int phase = 1; phase <= 2; phase++)
		json_array_foreach(todo, i, a)
		{
			if (rc != 0)
				break;
			rc = route(c, a, phase, touched, st);
		}
	const char *hex;
	json_t *tv;
	json_object_foreach(touched, hex, tv)
	{
		if (rc != 0)
			break;
		rc = drain_group(c, hex, st);
	}
	json_decref(touched);
	if (rc == 0 && newest) {
		json_t *v = json_pack("{s:s}", "prev", newest);
		rc = client_core_kv_put_json(c, "sync/inbox", v, false);
		json_decref(v);
	}
	json_decref(todo);
	free(prev);
	free(newest);
	return rc;
}

/* ---- One item from the event stream (core_events.c) ---------------------------------------- */

int client_inbox_position(struct client *c, int64_t *pos)
{
	*pos = 0;
	json_t *cur = NULL;
	if (client_core_kv_get_json(c, "sync/inbox", &cur) != 0) {
		if (aim_errcode() != AIM_ERR_NOTFOUND)
			return -1;
		aim_errclear();
		return 0;
	}
	/* the resume link of the newest page applied: ...?page=true&min_id=N */
	const char *prev = str(cur, "prev");
	const char *m = prev ? strstr(prev, "min_id=") : NULL;
	if (m)
		*pos = strtoll(m + 7, NULL, 10);
	json_decref(cur);
	return 0;
}

int client_event_apply(struct client *c, const char *id, struct aim_bytes activity,
		       struct client_sync_stats *st)
{
	struct client_sync_stats dummy;
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof *st);
	int64_t ev_pos = 0, have = 0;
	ENSURE(id && aim_parse_int(id, 1, INT64_MAX, &ev_pos) == 0, AIM_ERR_DECODE,
	       "event id %s is not an inbox position", id ? id : "(none)");
	TRY(client_inbox_position(c, &have));
	if (ev_pos <= have) {
		st->duplicates++;
		return 0;
	}
	json_error_t jerr;
	json_t *a = json_loadb((const char *)activity.p, activity.len, 0, &jerr);
	ENSURE(json_is_object(a), AIM_ERR_DECODE, "event %s: not a JSON object", id);
	st->items = 1;
	json_t *touched = json_object();
	int rc = 0;
	for (int phase = 1; rc == 0 && phase <= 2; phase++)
		rc = route(c, a, phase, touched, st);
	const char *hex;
	json_t *tv;
	json_object_foreach(touched, hex, tv)
	{
		if (rc != 0)
			break;
		rc = drain_group(c, hex, st);
	}
	json_decref(touched);
	json_decref(a);
	if (rc == 0) {
		/* where the next page or stream resumes: after this item */
		char *prev = aim_xasprintf("%s/users/%s/inbox?page=true&min_id=%lld", c->server,
					   c->user, (long long)ev_pos);
		json_t *v = json_pack("{s:s}", "prev", prev);
		rc = client_core_kv_put_json(c, "sync/inbox", v, false);
		json_decref(v);
		free(prev);
	}
	return rc;
}
