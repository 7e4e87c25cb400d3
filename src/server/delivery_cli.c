/* aimd deliveries: the delivery queue as JSON lines, for operators and tests. */
#include "server/internal.h"
#include "server/delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static int print_row(void *ctx, const struct store_delivery *d)
{
	(void)ctx;
	json_t *j = json_pack("{s:I, s:s, s:o, s:o, s:s, s:s, s:i, s:i, s:o, s:I, s:I, s:I}", "id",
			      (json_int_t)d->id, "activity", d->activity_id, "inbox",
			      str_or_null(d->inbox), "actor", str_or_null(d->actor), "host", d->host,
			      "state", store_delivery_state_name(d->state), "attempts", d->attempts,
			      "last_status", d->last_status, "last_error", str_or_null(d->last_error),
			      "created_ms", (json_int_t)d->created_ms, "next_ms",
			      (json_int_t)d->next_ms, "updated_ms", (json_int_t)d->updated_ms);
	ENSURE(j != NULL, AIM_ERR_INTERNAL, "cannot build a delivery line");
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	ENSURE(s != NULL, AIM_ERR_NOMEM, "out of memory");
	puts(s);
	free(s);
	return 0;
}

int aimd_deliveries(const char *data_dir)
{
	ENSURE(data_dir && *data_dir, AIM_ERR_INVALID, "--data is required");
	struct store *st = NULL;
	int rc = aimd_open_data(data_dir, 0, &st); /* DIR/aim.db or DIR/store's database */
	if (rc == 0)
		rc = store_delivery_list(st, print_row, NULL);
	store_close(st);
	fflush(stdout);
	return rc;
}
