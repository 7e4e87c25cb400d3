/*
 * The store tests' shared fixture: a fresh, empty store per test with three
 * local users, alice, bob and carol.
 *
 * The back end comes from the environment variable AIM_TEST_STORE (unset or
 * empty: "sqlite"; "postgres" with AIM_TEST_PG = a libpq URI, or "@FILE"
 * naming a file that holds one: each test then gets an empty schema of its
 * own in that database). The back ends the tests know are the `backends`
 * table of store_fixture.c: how to make an empty store for one test and how
 * to drop it. An unknown name stops the test program at once, naming the
 * known ones. tests/postgres/tests.cmake runs the store suites again
 * against a throw-away cluster (label postgres).
 */
#ifndef AIM_TEST_STORE_FIXTURE_H
#define AIM_TEST_STORE_FIXTURE_H

#include <stdint.h>

#include "store/store.h"

struct store_fixture {
	const char *backend;         /* the back end's name */
	char dir[64];                /* a fresh temporary directory of this test */
	char path[96];               /* sqlite: the database file */
	char location[256];          /* what store_open takes */
	struct store *st;
	int64_t alice, bob, carol;
};

/* A dummy Ed25519 public key for test users. */
extern const uint8_t store_fixture_edpub[32];

/* The back end AIM_TEST_STORE names; exits (status 2) on an unknown one. */
const char *store_fixture_backend(void);
/* Skips the calling test unless the back end is `name` (tests of one back
 * end's own files, such as SQLite databases made by hand). */
void store_fixture_only(const char *name);

/* Adds a user with placeholder keys; asserts success and returns its id. */
int64_t store_fixture_add_user(struct store *st, const char *name);
/* Opens another handle on the fixture's store, as another process would. */
int store_fixture_open(const struct store_fixture *f, struct store **out) AIM_WARN_UNUSED;
/* Closes f->st and opens it again; asserts success. */
void store_fixture_reopen(struct store_fixture *f);
/* cmocka set-up / tear-down: *state is a struct store_fixture. */
int store_fixture_setup(void **state);
int store_fixture_teardown(void **state);

#endif
