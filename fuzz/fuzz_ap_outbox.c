/* libFuzzer target: the client-to-server outbox path of src/ap/ap.h, as the
 * server runs it on a POSTed body: depth check and strict parse, then
 * ap_outbox_prepare, then the bto/bcc stripping every reader but the author
 * sees. Nothing may crash or leak; a prepared activity must carry the
 * server's ids and actor, whatever the input said. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"

#define ACTOR "https://a.test/users/alice"
#define ACT_ID "https://a.test/activities/1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *posted = NULL;
	if (ap_json_parse_object(data, size, &posted) != 0)
		return 0;
	struct ap_outbox_in in = {
		.actor = ACTOR,
		.activity_id = ACT_ID,
		.object_id = "https://a.test/objects/1",
		.now = 1700000000,
	};
	struct ap_outbox_out out;
	memset(&out, 0, sizeof out);
	if (ap_outbox_prepare(&in, posted, &out) == 0) {
		const char *id = json_string_value(json_object_get(out.activity, "id"));
		const char *actor = json_string_value(json_object_get(out.activity, "actor"));
		if (!id || strcmp(id, ACT_ID) != 0 || !actor || strcmp(actor, ACTOR) != 0) {
			fprintf(stderr, "prepared activity lost the server's id or actor\n");
			abort();
		}
		json_t *shown = ap_strip_hidden(out.activity);
		if (!shown || json_object_get(shown, "bto") || json_object_get(shown, "bcc"))
			abort();
		char *text = ap_json_dump(shown);
		free(text);
		json_decref(shown);
		ap_outbox_out_clear(&out);
	}
	json_decref(posted);
	return 0;
}
