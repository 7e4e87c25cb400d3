/*
 * aim members: who is in a conversation and which check vouched for each
 * device (client.h, "Trust shown to the person").
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aim.h"

int cmd_members(struct opts *o)
{
	if (o->n_pos != 1)
		return usage_error("members: CONVERSATION required");
	char conv[1024];
	struct client_member *m = NULL;
	size_t n = 0;
	if (open_device(o) != 0 || resolve(o->pos[0], conv, sizeof conv) != 0 ||
	    client_members(cl, conv, &m, &n) != 0)
		return failed("members");
	size_t warned = 0;
	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			char na[21];
			when(m[i].not_after, na);
			warned += m[i].changed || m[i].check == CLIENT_CHECK_NONE;
			json_array_append_new(
				arr, json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:b}",
					       "acct", m[i].acct, "leaf", (json_int_t)m[i].leaf,
					       "check", client_check_name(m[i].check), "reason",
					       m[i].reason, "notAfter", na, "key", m[i].key,
					       "credential", m[i].credential, "since",
					       (json_int_t)m[i].since, "changed", m[i].changed,
					       "self", m[i].self));
		}
		print_json(json_pack("{s:s, s:o, s:b}", "conversation", conv, "members", arr,
				     "warning", warned > 0));
	} else {
		printf("%-28s %-5s %-19s %-17s %s\n", "MEMBER", "LEAF", "VOUCHED FOR BY", "KEY",
		       "DETAIL");
		for (size_t i = 0; i < n; i++) {
			const char *a = m[i].acct[0] ? m[i].acct : "(unknown)";
			if (aim_str_has_prefix(a, "acct:"))
				a += 5;
			warned += m[i].changed || m[i].check == CLIENT_CHECK_NONE;
			printf("%-28s %-5u %-19s %.16s  %s%s%s\n", a, m[i].leaf,
			       m[i].check == CLIENT_CHECK_X509 ? "x509 (domain CA)"
			       : m[i].check == CLIENT_CHECK_KEYPACKAGE_LIST ? "keypackage-listing"
									    : "NOTHING (refused)",
			       m[i].key, m[i].reason, m[i].self ? "  (this device)" : "",
			       m[i].changed ? "  *** CREDENTIAL CHANGED ***" : "");
		}
	}
	if (warned) {
		char buf[256];
		snprintf(buf, sizeof buf,
			 "members: %zu device(s) changed credential or are not vouched for", warned);
		one_line("*** ", buf);
	}
	free(m);
	return 0;
}

/* ---- leave and rotate ----------------------------------------------------------------- */

int cmd_leave(struct opts *o)
{
	if (o->n_pos != 1)
		return usage_error("leave: CONVERSATION required");
	char conv[1024];
	struct client_sync_stats st;
	/* what came before is applied first: the proposal is of the current epoch */
	if (open_device(o) != 0 || resolve(o->pos[0], conv, sizeof conv) != 0 ||
	    client_sync(cl, &st) != 0 || client_leave(cl, conv) != 0)
		return failed("leave");
	struct client_group_info gi;
	bool have = client_group_info(cl, conv, &gi) == 0;
	aim_errclear();
	if (o->json)
		print_json(json_pack("{s:s, s:b, s:I}", "conversation", conv, "left", true, "epoch",
				     (json_int_t)(have ? gi.epoch : 0)));
	else
		printf("left %s (the next commit removes this device)\n", conv);
	return 0;
}

int cmd_rotate(struct opts *o)
{
	if (o->n_pos != 1)
		return usage_error("rotate: CONVERSATION required");
	char conv[1024];
	struct client_group_info before, gi;
	struct client_sync_stats st;
	if (open_device(o) != 0 || resolve(o->pos[0], conv, sizeof conv) != 0)
		return failed("rotate");
	for (int i = 0;; i++) {
		/* a pending commit of ours (BUSY) is applied by the syncs first */
		if (client_sync(cl, &st) != 0 || client_group_info(cl, conv, &before) != 0)
			return failed("rotate");
		if (client_rotate(cl, conv) == 0)
			break;
		if (aim_errcode() != AIM_ERR_BUSY || i >= 100)
			return failed("rotate");
		aim_errclear();
		poll(NULL, 0, 100);
	}
	/* the commit is applied when the hub's Announce of it comes back */
	for (int i = 0; i < 300; i++) {
		if (client_sync(cl, &st) != 0 || client_group_info(cl, conv, &gi) != 0 ||
		    gi.epoch > before.epoch)
			break;
		poll(NULL, 0, 100);
	}
	aim_errclear();
	if (client_group_info(cl, conv, &gi) != 0)
		return failed("rotate");
	if (gi.epoch <= before.epoch) {
		aim_fail(AIM_ERR_TIMEOUT, "the hub's Announce of the Update did not come back");
		return failed("rotate");
	}
	char hex[2 * AIM_MAX_HASH + 1];
	size_t k;
	for (k = 0; k < gi.authenticator_len && k < AIM_MAX_HASH; k++)
		snprintf(hex + 2 * k, 3, "%02x", gi.authenticator[k]);
	hex[2 * k] = 0;
	if (o->json)
		print_json(json_pack("{s:s, s:I, s:I, s:s}", "conversation", conv, "from",
				     (json_int_t)before.epoch, "epoch", (json_int_t)gi.epoch,
				     "epochAuthenticator", hex));
	else
		printf("rotated keys in %s: epoch %llu -> %llu\n", conv,
		       (unsigned long long)before.epoch, (unsigned long long)gi.epoch);
	return 0;
}

/* ---- join: this device into the account's conversations ------------------------------ */

/* One line (or JSON object) per conversation; 0 unless a join failed for
 * another reason than waiting for a Welcome. */
int report_joins(const struct opts *o, const struct client_join_result *r, size_t n, bool to_stderr)
{
	int bad = 0;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct client_join_result *x = &r[i];
		bool waiting = !x->joined && strcmp(x->how, "welcome") == 0;
		bad |= !x->joined && !waiting;
		json_t *j = json_pack("{s:s, s:s, s:b}", "conversation", x->conversation, "how",
				      x->how, "joined", x->joined);
		if (x->joined)
			json_object_set_new(j, "epoch", json_integer((json_int_t)x->epoch));
		if (x->why[0])
			json_object_set_new(j, "behind", json_string(x->why));
		if (x->error[0])
			json_object_set_new(j, "error", json_string(x->error));
		json_array_append_new(arr, j);
		char line[2048];
		if (x->joined && strcmp(x->how, "rejoin") == 0)
			snprintf(line, sizeof line, "rejoined %s by external commit (epoch %llu): %s",
				 x->conversation, (unsigned long long)x->epoch, x->why);
		else if (x->joined)
			snprintf(line, sizeof line, "joined %s by external commit (epoch %llu)",
				 x->conversation, (unsigned long long)x->epoch);
		else if (waiting)
			snprintf(line, sizeof line,
				 "%s: no external join (%s); waiting for a Welcome from another device "
				 "(there: aim invite %s %s)",
				 x->conversation, x->error, x->conversation, client_acct(cl));
		else
			snprintf(line, sizeof line, "%s: could not rejoin (%s)", x->conversation,
				 x->error);
		if (to_stderr)
			fprintf(stderr, "aim: %s\n", line);
		else if (!o->json)
			printf("%s\n", line);
	}
	if (!to_stderr && o->json)
		print_json(json_pack("{s:o, s:b}", "conversations", arr, "ok", !bad));
	else
		json_decref(arr);
	return bad;
}

int cmd_join(struct opts *o)
{
	if (o->n_pos != 0)
		return usage_error("join: no arguments");
	struct client_sync_stats st;
	struct client_join_result *r = NULL;
	size_t n = 0;
	/* the inbox names the account's conversations; then each is joined,
	 * and the sync after applies what follows our commits */
	if (open_device(o) != 0 || client_sync(cl, &st) != 0 ||
	    client_join_conversations(cl, false, &r, &n) != 0)
		return failed("join");
	if (client_sync(cl, &st) != 0)
		aim_errclear();
	if (n == 0 && !o->json)
		printf("nothing to join: this device is in every conversation it knows of\n");
	int bad = report_joins(o, r, n, false);
	free(r);
	return bad ? 1 : 0;
}
