/* The status table (src/server/status.c): every aim_err code on both
 * surfaces, the rules every answer keeps, the answers as sent; and the
 * client API's routes when the store fails (a storage failure is a 503,
 * never a 401 or a 404), through a real HTTP server and a store whose
 * operations can be made to fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include <jansson.h>

#include "crypto/crypto.h"
#include "http/client.h"
#include "http/server.h"
#include "server/internal.h"
#include "server/status.h"
#include "store_fixture.h"

/* ---- The table ------------------------------------------------------------- */

struct expect {
	enum aim_err code;
	int client;
	const char *client_error;
	bool client_retry;
	int s2s;
	const char *s2s_error;
	bool s2s_retry;
};

/* What each code must answer: written from the issue and base.h, not
 * copied from status.c. */
static const struct expect want[] = {
	{ AIM_ERR_NONE, 500, "internal", false, 500, "internal", false },
	{ AIM_ERR_NOMEM, 503, "out_of_memory", true, 503, "out_of_memory", true },
	{ AIM_ERR_INVALID, 400, "bad_request", false, 400, "bad_request", false },
	{ AIM_ERR_DECODE, 400, "bad_request", false, 400, "bad_request", false },
	{ AIM_ERR_LIMIT, 400, "too_complex", false, 400, "bad_request", false },
	{ AIM_ERR_CRYPTO, 500, "internal", false, 500, "internal", false },
	{ AIM_ERR_VERIFY, 400, "bad_request", false, 401, "unauthorized", false },
	{ AIM_ERR_UNSUPPORTED, 400, "bad_request", false, 400, "bad_request", false },
	{ AIM_ERR_NOTFOUND, 404, "not_found", false, 404, "not_found", false },
	{ AIM_ERR_EXISTS, 409, "conflict", false, 400, "bad_request", false },
	{ AIM_ERR_CONFLICT, 409, "conflict", false, 409, "conflict", false },
	{ AIM_ERR_DENIED, 403, "forbidden", false, 403, "forbidden", false },
	{ AIM_ERR_AUTH, 401, "unauthorized", false, 401, "unauthorized", false },
	{ AIM_ERR_GONE, 410, "gone", false, 400, "gone", false },
	{ AIM_ERR_STATE, 409, "wrong_state", false, 409, "wrong_state", false },
	{ AIM_ERR_STORAGE, 503, "storage_failure", true, 503, "storage_failure", true },
	{ AIM_ERR_REMOTE, 502, "bad_gateway", true, 502, "bad_gateway", true },
	{ AIM_ERR_BUSY, 503, "busy", true, 503, "busy", true },
	{ AIM_ERR_NOHOST, 400, "unknown_host", false, 502, "bad_gateway", true },
	{ AIM_ERR_TIMEOUT, 504, "gateway_timeout", true, 504, "gateway_timeout", true },
	{ AIM_ERR_INTERNAL, 500, "internal", false, 500, "internal", false },
};

/* Every code base.h knows (aim_errname names each one). */
static size_t n_codes(void)
{
	size_t n = 0;
	while (strcmp(aim_errname((enum aim_err)n), "unknown") != 0)
		n++;
	return n;
}

static const struct expect *want_of(enum aim_err code)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(want); i++)
		if (want[i].code == code)
			return &want[i];
	return NULL;
}

static void test_every_code_and_surface(void **state)
{
	(void)state;
	size_t n = n_codes();
	assert_int_equal(n, AIM_ARRAY_LEN(want)); /* a new code needs a row here */
	for (size_t c = 0; c < n; c++) {
		const struct expect *w = want_of((enum aim_err)c);
		if (!w)
			fail_msg("no expectation for %s", aim_errname((enum aim_err)c));
		for (int s = 0; s < 2; s++) {
			enum status_surface surf = s ? STATUS_S2S : STATUS_CLIENT;
			struct status_answer a = aimd_status_of(w->code, surf);
			int st = s ? w->s2s : w->client;
			const char *err = s ? w->s2s_error : w->client_error;
			bool retry = s ? w->s2s_retry : w->client_retry;
			if (a.status != st || strcmp(a.error, err) != 0 ||
			    (a.retry_after > 0) != retry)
				fail_msg("%s on %s: %d %s retry %u, want %d %s%s", aim_errname(w->code),
					 s ? "s2s" : "client", a.status, a.error, a.retry_after, st,
					 err, retry ? " with Retry-After" : "");
		}
	}
	/* A code past the end answers like a bug. */
	struct status_answer a = aimd_status_of((enum aim_err)(n + 7), STATUS_S2S);
	assert_int_equal(a.status, 500);
	assert_string_equal(a.error, "internal");
}

/* The rules each answer keeps, whatever the row says. */
static void test_rules(void **state)
{
	(void)state;
	size_t n = n_codes();
	for (size_t c = 0; c < n; c++) {
		for (int s = 0; s < 2; s++) {
			enum status_surface surf = s ? STATUS_S2S : STATUS_CLIENT;
			struct status_answer a = aimd_status_of((enum aim_err)c, surf);
			const char *name = aim_errname((enum aim_err)c);
			assert_true(a.status >= 400 && a.status <= 599);
			assert_non_null(a.error);
			assert_true(*a.error);
			for (const char *p = a.error; *p; p++)
				assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
			/* RFC 9110 15.5.2: a 401 "MUST send a WWW-Authenticate" */
			if (a.status == 401)
				assert_non_null(a.challenge);
			else
				assert_null(a.challenge);
			/* a 503 says when to come back */
			if (a.status == 503 && !a.retry_after)
				fail_msg("%s: 503 without Retry-After", name);
			/* an inbox is never 410 to a server */
			if (surf == STATUS_S2S && a.status == 410)
				fail_msg("%s: 410 on the s2s surface", name);
			/* hidden details for what may name files or state */
			if (a.status == 500 || c == AIM_ERR_STORAGE || c == AIM_ERR_NOMEM)
				assert_non_null(a.fixed_detail);
		}
	}
	/* the classes the issue separates never meet */
	for (int s = 0; s < 2; s++) {
		enum status_surface surf = s ? STATUS_S2S : STATUS_CLIENT;
		assert_int_equal(aimd_status_of(AIM_ERR_STORAGE, surf).status, 503);
		assert_true(aimd_status_of(AIM_ERR_REMOTE, surf).status != 503);
		assert_true(aimd_status_of(AIM_ERR_TIMEOUT, surf).status != 503);
		assert_string_not_equal(aimd_status_of(AIM_ERR_BUSY, surf).error,
					aimd_status_of(AIM_ERR_STORAGE, surf).error);
		assert_string_not_equal(aimd_status_of(AIM_ERR_CONFLICT, surf).error,
					aimd_status_of(AIM_ERR_BUSY, surf).error);
	}
}

static const char *resp_header(const struct http_response *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

static void resp_clear(struct http_response *r)
{
	free(r->content_type);
	aim_buf_free(&r->body);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	memset(r, 0, sizeof *r);
}

static json_t *body_json(const struct http_response *r)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)r->body.data, r->body.len, 0, &je);
	assert_non_null(j);
	return j;
}

/* The answer as sent: status, body, headers; hidden messages stay hidden. */
static void test_send(void **state)
{
	(void)state;
	size_t n = n_codes();
	for (size_t c = 0; c < n; c++) {
		for (int s = 0; s < 2; s++) {
			enum status_surface surf = s ? STATUS_S2S : STATUS_CLIENT;
			struct status_answer a = aimd_status_of((enum aim_err)c, surf);
			struct http_response r = { 0 };
			aim_fail((enum aim_err)c, "secret /var/lib/aim/aim.db: disk I/O error");
			assert_int_equal(aimd_status_send_failure(&r, surf), a.status);
			assert_int_equal(r.status, a.status);
			json_t *j = body_json(&r);
			assert_string_equal(json_string_value(json_object_get(j, "error")), a.error);
			const char *d = json_string_value(json_object_get(j, "detail"));
			assert_non_null(d);
			if (a.fixed_detail)
				assert_string_equal(d, a.fixed_detail);
			else
				assert_non_null(strstr(d, "disk I/O error"));
			json_decref(j);
			const char *ra = resp_header(&r, "Retry-After");
			if (a.retry_after) {
				char want_ra[16];
				snprintf(want_ra, sizeof want_ra, "%u", a.retry_after);
				assert_non_null(ra);
				assert_string_equal(ra, want_ra);
			} else {
				assert_null(ra);
			}
			const char *ch = resp_header(&r, "WWW-Authenticate");
			if (a.challenge)
				assert_string_equal(ch, a.challenge);
			else
				assert_null(ch);
			resp_clear(&r);
		}
	}
	/* aimd_status_send: the caller's public detail */
	struct http_response r = { 0 };
	assert_int_equal(aimd_status_send(&r, AIM_ERR_STORAGE, STATUS_S2S, "not accepting deliveries"),
			 503);
	json_t *j = body_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "detail")),
			    "not accepting deliveries");
	json_decref(j);
	resp_clear(&r);
}

/* ---- Routes over a store that fails ------------------------------------------ */

static enum aim_err fail_token = AIM_ERR_NONE, fail_user = AIM_ERR_NONE;
static const struct store_ops *real_ops;

static int token_find_failing(struct store *st, const uint8_t hash[32], int64_t *user)
{
	if (fail_token)
		return aim_fail(fail_token, "token find: unable to open database file");
	return real_ops->token_find(st, hash, user);
}

static int user_get_failing(struct store *st, const char *name, struct store_user *out)
{
	if (fail_user)
		return aim_fail(fail_user, "user get: disk I/O error");
	return real_ops->user_get(st, name, out);
}

struct routes_fixture {
	void *store_state;
	struct store_ops ops;
	struct app app;
	struct http_server *srv;
	char token[40];
};

static int routes_setup(void **state)
{
	struct routes_fixture *f = calloc(1, sizeof *f);
	assert_int_equal(store_fixture_setup(&f->store_state), 0);
	struct store_fixture *sf = f->store_state;
	snprintf(f->token, sizeof f->token, "tok-%s", "0123456789abcdef");
	uint8_t hash[32];
	assert_int_equal(aim_sha256(AIM_BYTES_STR(f->token), hash), 0);
	assert_int_equal(store_token_add(sf->st, sf->alice, hash), 0);
	real_ops = sf->st->ops;
	f->ops = *real_ops;
	f->ops.token_find = token_find_failing;
	f->ops.user_get = user_get_failing;
	sf->st->ops = &f->ops;
	f->app.st = sf->st;
	f->app.domain = aim_xstrdup("status.test");
	f->app.base = aim_xstrdup("https://status.test");
	f->app.base_path = "";
	aimd_sse_wake_init(&f->app.wake);
	f->app.lim = aimd_limiter_new(1000, 1000, 1000);
	struct http_server_config cfg = { .listen = "127.0.0.1:0" };
	assert_int_equal(http_server_start(&cfg, aimd_app_handle, &f->app, &f->srv), 0);
	*state = f;
	return 0;
}

static int routes_teardown(void **state)
{
	struct routes_fixture *f = *state;
	http_server_stop(f->srv, 1000);
	aimd_limiter_free(f->app.lim);
	aimd_sse_wake_destroy(&f->app.wake);
	free(f->app.domain);
	free(f->app.base);
	struct store_fixture *sf = f->store_state;
	sf->st->ops = real_ops;
	int rc = store_fixture_teardown(&f->store_state);
	free(f);
	return rc;
}

/* GET path (with the bearer token if token): status and error code. */
static long get(struct routes_fixture *f, const char *path, const char *token, char *err,
		size_t errn, char *retry, size_t retryn)
{
	char *url = aim_xasprintf("%s%s", http_server_url(f->srv), path);
	char *auth = token ? aim_xasprintf("Bearer %s", token) : NULL;
	struct sig_field h[] = { { "Authorization", auth } };
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	struct client_request req = { .url = url, .headers = h, .n_headers = auth ? 1 : 0 };
	struct client_response resp = { 0 };
	assert_int_equal(http_client_fetch(&o, &req, &resp), 0);
	long st = resp.status;
	err[0] = 0;
	json_error_t je;
	json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, &je);
	const char *e = j ? json_string_value(json_object_get(j, "error")) : NULL;
	snprintf(err, errn, "%s", e ? e : "");
	json_decref(j);
	const char *ra = http_sig_fields_get(resp.headers.v, resp.headers.n, "retry-after");
	snprintf(retry, retryn, "%s", ra ? ra : "");
	http_client_response_free(&resp);
	free(auth);
	free(url);
	return st;
}

static void test_storage_failure_is_not_401(void **state)
{
	struct routes_fixture *f = *state;
	char err[64], ra[16];
	/* control: the token is good */
	fail_token = AIM_ERR_NONE;
	assert_int_equal(get(f, "/users/alice/inbox", f->token, err, sizeof err, ra, sizeof ra),
			 200);
	/* the database cannot be opened: 503, not "invalid token" */
	fail_token = AIM_ERR_STORAGE;
	assert_int_equal(get(f, "/users/alice/inbox", f->token, err, sizeof err, ra, sizeof ra),
			 503);
	assert_string_equal(err, "storage_failure");
	assert_true(atoi(ra) > 0);
	/* a lock: 503 busy, soon */
	fail_token = AIM_ERR_BUSY;
	assert_int_equal(get(f, "/users/alice/inbox", f->token, err, sizeof err, ra, sizeof ra),
			 503);
	assert_string_equal(err, "busy");
	/* an unknown token is still 401 */
	fail_token = AIM_ERR_NONE;
	assert_int_equal(get(f, "/users/alice/inbox", "not-a-token", err, sizeof err, ra,
			     sizeof ra),
			 401);
	assert_string_equal(err, "unauthorized");
	/* and so is NOTFOUND from the store */
	fail_token = AIM_ERR_NOTFOUND;
	assert_int_equal(get(f, "/users/alice/inbox", f->token, err, sizeof err, ra, sizeof ra),
			 401);
	fail_token = AIM_ERR_NONE;
}

static void test_storage_failure_is_not_404(void **state)
{
	struct routes_fixture *f = *state;
	char err[64], ra[16];
	static const char *const paths[] = {
		"/users/alice",
		"/.well-known/webfinger?resource=acct:alice@status.test",
		"/.well-known/webfinger?resource=https://status.test/users/alice",
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(paths); i++) {
		fail_user = AIM_ERR_NONE;
		assert_int_equal(get(f, paths[i], NULL, err, sizeof err, ra, sizeof ra), 200);
		fail_user = AIM_ERR_STORAGE;
		long st = get(f, paths[i], NULL, err, sizeof err, ra, sizeof ra);
		if (st != 503)
			fail_msg("%s with a failing store: %ld %s", paths[i], st, err);
		assert_string_equal(err, "storage_failure");
		fail_user = AIM_ERR_NOTFOUND;
		assert_int_equal(get(f, paths[i], NULL, err, sizeof err, ra, sizeof ra), 404);
	}
	fail_user = AIM_ERR_NONE;
}

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_every_code_and_surface),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_send),
	};
	const struct CMUnitTest routes[] = {
		cmocka_unit_test(test_storage_failure_is_not_401),
		cmocka_unit_test(test_storage_failure_is_not_404),
	};
	aim_log_set_level(AIM_LOG_ERROR);
	int rc = cmocka_run_group_tests_name("status table", table, NULL, NULL);
	rc |= cmocka_run_group_tests_name("routes over a failing store", routes, routes_setup,
					  routes_teardown);
	return rc;
}
