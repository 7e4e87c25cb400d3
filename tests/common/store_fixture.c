/* The store tests' shared fixture (store_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "store_fixture.h"

const uint8_t store_fixture_edpub[32] = { 1, 2, 3 };

int64_t store_fixture_add_user(struct store *st, const char *name)
{
	struct store_new_user u = { name, "PUB", "PRIV", store_fixture_edpub, "EDPRIV" };
	int64_t id = 0;
	assert_int_equal(store_user_add(st, &u, &id), 0);
	assert_true(id > 0);
	return id;
}

int store_fixture_setup(void **state)
{
	struct store_fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/aim-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/aim.db", f->dir);
	assert_int_equal(store_open_sqlite(f->path, &f->st), 0);
	f->alice = store_fixture_add_user(f->st, "alice");
	f->bob = store_fixture_add_user(f->st, "bob");
	f->carol = store_fixture_add_user(f->st, "carol");
	*state = f;
	return 0;
}

int store_fixture_teardown(void **state)
{
	struct store_fixture *f = *state;
	store_close(f->st);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}
