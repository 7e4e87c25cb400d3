/* Unit tests of the trust comparison (src/client/core_trust.c,
 * client.h "Trust shown to the person"): a device seen before with the same
 * key and credential is no change; a new acct: URI is a new member (no
 * warning); a new key at a member's leaf is a changed credential, a new
 * leaf of a member a new device; a device no check vouched for is always
 * named. Pure: no I/O. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "client/client.h"

static struct client_member dev(const char *acct, uint32_t leaf, const char *key,
				const char *cred, enum client_check check)
{
	struct client_member m;
	memset(&m, 0, sizeof m);
	snprintf(m.acct, sizeof m.acct, "%s", acct);
	m.leaf = leaf;
	snprintf(m.key, sizeof m.key, "%s", key);
	snprintf(m.credential, sizeof m.credential, "%s", cred);
	m.check = check;
	return m;
}

static void test_compare(void **state)
{
	(void)state;
	struct client_member old[] = {
		dev("acct:alice@a.test", 0, "k0", "c0", CLIENT_CHECK_X509),
		dev("acct:bob@b.test", 1, "k1", "c1", CLIENT_CHECK_X509),
	};
	struct client_member now[] = {
		dev("acct:alice@a.test", 0, "k0", "c0", CLIENT_CHECK_X509),      /* same */
		dev("acct:bob@B.test", 1, "k1", "c1x", CLIENT_CHECK_X509),       /* new cert */
		dev("acct:bob@b.test", 2, "k2", "c2", CLIENT_CHECK_KEYPACKAGE_LIST), /* new device */
		dev("acct:carol@c.test", 3, "k3", "c3", CLIENT_CHECK_X509),      /* new member */
		dev("", 4, "k4", "c4", CLIENT_CHECK_NONE),                       /* refused */
	};
	struct client_trust_change *ch = NULL;
	size_t n = 0;
	assert_int_equal(client_trust_compare(old, 2, now, 5, &ch, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(ch[0].index, 1);
	assert_int_equal(ch[0].kind, CLIENT_TRUST_CREDENTIAL);
	assert_int_equal(ch[1].index, 2);
	assert_int_equal(ch[1].kind, CLIENT_TRUST_NEW_DEVICE);
	assert_int_equal(ch[2].index, 3);
	assert_int_equal(ch[2].kind, CLIENT_TRUST_NEW_MEMBER);
	assert_int_equal(ch[3].index, 4);
	assert_int_equal(ch[3].kind, CLIENT_TRUST_UNVOUCHED);
	assert_string_equal(client_trust_change_name(ch[1].kind), "new-device");
	free(ch);
	/* a new key at the same leaf: the credential changed */
	struct client_member upd[] = { dev("acct:bob@b.test", 1, "k9", "c1", CLIENT_CHECK_X509) };
	assert_int_equal(client_trust_compare(old, 2, upd, 1, &ch, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ch[0].kind, CLIENT_TRUST_CREDENTIAL);
	free(ch);
	/* nothing changed, a member gone: no change */
	assert_int_equal(client_trust_compare(old, 2, old, 1, &ch, &n), 0);
	assert_int_equal(n, 0);
	free(ch);
	/* the baseline: everyone is new */
	assert_int_equal(client_trust_compare(NULL, 0, old, 2, &ch, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ch[0].kind, CLIENT_TRUST_NEW_MEMBER);
	assert_int_equal(ch[1].kind, CLIENT_TRUST_NEW_MEMBER);
	free(ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compare),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
