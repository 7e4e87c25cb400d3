/* A fresh SQLite store in a temporary directory with three local users,
 * alice, bob and carol: the cmocka set-up the store tests share. */
#ifndef AIM_TEST_STORE_FIXTURE_H
#define AIM_TEST_STORE_FIXTURE_H

#include <stdint.h>

#include "store/store.h"

struct store_fixture {
	char dir[64];
	char path[96];
	struct store *st;
	int64_t alice, bob, carol;
};

/* A dummy Ed25519 public key for test users. */
extern const uint8_t store_fixture_edpub[32];

/* Adds a user with placeholder keys; asserts success and returns its id. */
int64_t store_fixture_add_user(struct store *st, const char *name);
/* cmocka group set-up / tear-down: *state is a struct store_fixture. */
int store_fixture_setup(void **state);
int store_fixture_teardown(void **state);

#endif
