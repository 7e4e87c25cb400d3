/*
 * What is known of a host's signature scheme (delivery.h, "Signature
 * scheme per host"): the inbox gate and the delivery workers report a host
 * seen to verify RFC 9421; the store remembers it. A leaf: it calls only
 * the store and the pure policy.
 */
#include "server/internal.h"
#include "server/delivery.h"

#include <stdlib.h>

#include "base/url.h"

void aimd_delivery_host_verifies_rfc9421(struct app *a, const char *url)
{
	struct aim_url u = { 0 };
	struct aim_buf b;
	aim_buf_init(&b, 512);
	int old = DLV_SCHEME_UNKNOWN;
	/* the host as the workers name it: the URL's authority */
	if (aim_url_parse(url, &u) != 0 || aim_url_authority(&u, &b) != 0 ||
	    store_host_scheme_get(a->st, (const char *)b.data, &old) != 0) {
		aim_log(AIM_LOG_WARN, "deliver", "scheme of %.200s: %s", url, aim_errmsg());
		goto out;
	}
	int now = aimd_delivery_scheme_learn_rfc9421(old);
	if (now == old)
		goto out;
	if (store_host_scheme_set(a->st, (const char *)b.data, now) != 0)
		aim_log(AIM_LOG_ERROR, "deliver", "cannot remember scheme: %s", aim_errmsg());
	else
		aim_log(AIM_LOG_INFO, "deliver", "host %s verifies RFC 9421: signing with it",
			(const char *)b.data);
out:
	aim_url_free(&u);
	aim_buf_free(&b);
}
