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
