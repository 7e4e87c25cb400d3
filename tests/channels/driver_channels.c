/*
 * The channel and DM commands of the client library's JSON-lines driver
 * (tests/identity/client_driver.c links this file in), for
 * tests/channels/test_channel_client.py. Same conventions as the driver:
 *
 *   channel_create  name, handles[] -> channel
 *   channel_add     channel, handles[]
 *   channel_remove  channel, handles[]
 *   send            conversation, text | content (JSON text of another type)
 *   dm_send         handles[], text -> conversation
 *   sync            -> items, joined, applied, duplicates, buffered,
 *                   gaps_filled, failed
 *   messages        conversation -> messages[{sender, type, text, epoch, seq, id,
 *                   content}]
 *   group           conversation -> kind, conversation, epoch, seq, members,
 *                   active, authenticator (hex)
 *   conversations   -> conversations[same as group]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base.h"
#include "client/client.h"

int driver_channels_run(struct client *c, const char *cmd, json_t *req, json_t *res,
			bool *handled);

#define MAX_HANDLES 300

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int handles_of(json_t *req, const char **v, size_t *n)
{
	json_t *a = json_object_get(req, "handles");
	ENSURE(json_is_array(a) && json_array_size(a) <= MAX_HANDLES, AIM_ERR_INVALID,
	       "handles: an array of at most %d", MAX_HANDLES);
	*n = 0;
	size_t i;
	json_t *h;
	json_array_foreach(a, i, h) {
		ENSURE(json_is_string(h), AIM_ERR_INVALID, "handles are strings");
		v[(*n)++] = json_string_value(h);
	}
	return 0;
}

static json_t *info_json(const struct client_group_info *gi)
{
	char hex[2 * AIM_MAX_HASH + 1];
	for (size_t i = 0; i < gi->authenticator_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", gi->authenticator[i]);
	hex[2 * gi->authenticator_len] = 0;
	return json_pack("{s:s, s:s, s:I, s:I, s:i, s:b, s:s}", "kind", gi->kind, "conversation",
			 gi->conversation, "epoch", (json_int_t)gi->epoch, "seq",
			 (json_int_t)gi->seq, "members", (int)gi->members, "active", gi->active,
			 "authenticator", hex);
}

int driver_channels_run(struct client *c, const char *cmd, json_t *req, json_t *res,
			bool *handled)
{
	const char *hs[MAX_HANDLES];
	size_t n = 0;
	*handled = true;
	if (strcmp(cmd, "channel_create") == 0) {
		char url[1024];
		TRY(handles_of(req, hs, &n));
		TRY(client_channel_create(c, str(req, "name") ? str(req, "name") : "", hs, n, url,
					  sizeof url));
		json_object_set_new(res, "channel", json_string(url));
		return 0;
	}
	if (strcmp(cmd, "channel_add") == 0 || strcmp(cmd, "channel_remove") == 0) {
		const char *ch = str(req, "channel");
		ENSURE(ch, AIM_ERR_INVALID, "channel");
		TRY(handles_of(req, hs, &n));
		return strcmp(cmd, "channel_add") == 0 ? client_channel_add(c, ch, hs, n)
						       : client_channel_remove(c, ch, hs, n);
	}
	if (strcmp(cmd, "send") == 0) {
		const char *conv = str(req, "conversation");
		ENSURE(conv, AIM_ERR_INVALID, "conversation");
		if (str(req, "content"))
			return client_send_content(c, conv, str(req, "content"));
		ENSURE(str(req, "text"), AIM_ERR_INVALID, "text");
		return client_send(c, conv, str(req, "text"));
	}
	if (strcmp(cmd, "dm_send") == 0) {
		char conv[1024];
		TRY(handles_of(req, hs, &n));
		ENSURE(str(req, "text"), AIM_ERR_INVALID, "text");
		TRY(client_dm_send(c, hs, n, str(req, "text"), conv, sizeof conv));
		json_object_set_new(res, "conversation", json_string(conv));
		return 0;
	}
	if (strcmp(cmd, "sync") == 0) {
		struct client_sync_stats st;
		TRY(client_sync(c, &st));
		json_object_set_new(res, "items", json_integer((json_int_t)st.items));
		json_object_set_new(res, "joined", json_integer((json_int_t)st.joined));
		json_object_set_new(res, "applied", json_integer((json_int_t)st.applied));
		json_object_set_new(res, "duplicates", json_integer((json_int_t)st.duplicates));
		json_object_set_new(res, "buffered", json_integer((json_int_t)st.buffered));
		json_object_set_new(res, "gaps_filled", json_integer((json_int_t)st.gaps_filled));
		json_object_set_new(res, "failed", json_integer((json_int_t)st.failed));
		return 0;
	}
	if (strcmp(cmd, "messages") == 0) {
		const char *conv = str(req, "conversation");
		ENSURE(conv, AIM_ERR_INVALID, "conversation");
		struct client_message *m = NULL;
		size_t k = 0;
		TRY(client_messages(c, conv, &m, &k));
		json_t *a = json_array();
		for (size_t i = 0; i < k; i++)
			json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}",
							   "sender", m[i].sender, "type", m[i].type,
							   "text", m[i].text, "epoch",
							   (json_int_t)m[i].epoch, "seq",
							   (json_int_t)m[i].seq, "id", m[i].id,
							   "content", m[i].content));
		client_messages_free(m, k);
		json_object_set_new(res, "messages", a);
		return 0;
	}
	if (strcmp(cmd, "group") == 0) {
		const char *conv = str(req, "conversation");
		ENSURE(conv, AIM_ERR_INVALID, "conversation");
		struct client_group_info gi;
		TRY(client_group_info(c, conv, &gi));
		json_t *j = info_json(&gi);
		json_object_update(res, j);
		json_decref(j);
		return 0;
	}
	if (strcmp(cmd, "conversations") == 0) {
		struct client_group_info *v = NULL;
		size_t k = 0;
		TRY(client_conversations(c, &v, &k));
		json_t *a = json_array();
		for (size_t i = 0; i < k; i++)
			json_array_append_new(a, info_json(&v[i]));
		free(v);
		json_object_set_new(res, "conversations", a);
		return 0;
	}
	*handled = false;
	return 0;
}
