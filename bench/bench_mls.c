/*
 * MLS group operations by group size (suite 1,
 * MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519), aim against ts-mls 1.6.4
 * measured in the same run by bench/mls-tsmls-bench.mjs.
 *
 * For groups of 2, 10, 100, 1,000 and 10,000 members: a committer (leaf 0)
 * and one receiver (the last leaf) hold real member state; the other
 * members exist as leaves (their KeyPackages are generated here, added in
 * Commits of at most BATCH Adds; the receiver joins from the last one's
 * Welcome, tree out of band). Then, each repeated and the median kept:
 *   - a Commit adding one member: create (committer), process (receiver),
 *     and the size of its Welcome (ratchet tree out of band);
 *   - an empty-path Commit (no UpdatePath: one external PSK proposal);
 *   - a full-path Update (no proposals, an UpdatePath; in a freshly filled
 *     tree the copath resolutions are mostly single leaves, so this is the
 *     expensive case: about N HPKE encryptions);
 *   - an application message of 100 bytes: encrypt and decrypt;
 *   - the size of the encoded ratchet tree (what goes out of band).
 * Commits are PublicMessages (what a hub follows) on both sides; "create"
 * includes the committer's new epoch, "process" the receiver's.
 *
 * ts-mls is run (node, with the packages of tests/interop) after our side;
 * it gets a time budget (MLS_BENCH_TSMLS_BUDGET seconds, default 75) and
 * skips the sizes it would not finish in it; it takes fewer runs per median
 * (5 / 3 / 1 for <=10 / <=100 / more members) and 50 application messages.
 * The ratio is ts-mls / aim.
 *
 * Environment: AIM_SOURCE_DIR (the repository; default: two levels above
 * this program), MLS_BENCH_SIZES (e.g. "2,10,100"), MLS_BENCH_TSMLS=0 to
 * skip ts-mls.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/mls.h"

#define SUITE 1
#define BATCH 1000
#define MAX_SIZES 8
#define APP_REPS 200

enum op {
	OP_CREATE_ADD,
	OP_PROCESS_ADD,
	OP_CREATE_EMPTY,
	OP_PROCESS_EMPTY,
	OP_CREATE_UPDATE,
	OP_PROCESS_UPDATE,
	OP_ENCRYPT,
	OP_DECRYPT,
	N_OPS
};

static const char *op_key[N_OPS] = {
	"create_add", "process_add", "create_empty", "process_empty",
	"create_update", "process_update", "encrypt", "decrypt",
};

static const char *op_label[N_OPS] = {
	"Commit adding one member: create",
	"Commit adding one member: process",
	"empty-path Commit (PSK): create",
	"empty-path Commit (PSK): process",
	"full-path Update: create",
	"full-path Update: process",
	"application message: encrypt",
	"application message: decrypt",
};

struct result {
	unsigned size;
	bool done;
	char note[160];
	double ms[N_OPS]; /* milliseconds per operation */
	double welcome_bytes;
	double tree_bytes;
	double setup_s;
};

static const uint8_t psk_id[] = "bench-psk";
static const uint8_t psk_value[32] = { 1, 2, 3 };

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_mls: %s failed: %s: %s\n", what, aim_errname(aim_errcode()),
		aim_errmsg());
	exit(1);
}

static int psk_lookup(void *arg, struct aim_bytes id, struct aim_buf *out)
{
	(void)arg;
	ENSURE(id.len == sizeof psk_id && memcmp(id.p, psk_id, id.len) == 0, AIM_ERR_NOTFOUND,
	       "unknown PSK");
	return aim_buf_append(out, psk_value, sizeof psk_value);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct member_kp {
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
};

static void make_kp(struct member_kp *m, unsigned i)
{
	char name[32];
	struct mls_credential cred;
	memset(&cred, 0, sizeof cred);
	snprintf(name, sizeof name, "member-%u@bench.test", i);
	cred.type = MLS_CREDENTIAL_BASIC;
	if (mls_bytes_set(&cred.identity, name, strlen(name)) != 0)
		die("credential");
	struct mls_key_package_params p = { .cipher_suite = SUITE, .credential = &cred };
	if (mls_key_package_create(&p, &m->kp, &m->priv) != 0)
		die("KeyPackage");
	mls_credential_free(&cred);
}

static void free_kp(struct member_kp *m)
{
	mls_key_package_free(&m->kp);
	mls_key_package_priv_free(&m->priv);
}

/* The committer commits, the receiver processes, the committer merges. */
static void commit_round(struct mls_group *a, struct mls_group *b,
			 const struct mls_commit_params *p, double *t_create, double *t_process,
			 size_t *welcome_len)
{
	struct mls_commit_result cr;
	mls_commit_result_init(&cr);
	double t0 = now_ms();
	if (mls_group_commit(a, p, &cr) != 0 || mls_group_merge_pending(a) != 0)
		die("commit");
	double t1 = now_ms();
	if (b) {
		struct mls_group_event ev;
		if (mls_group_process(b, aim_buf_bytes(&cr.commit), &ev) != 0)
			die("process");
		mls_group_event_free(&ev);
	}
	double t2 = now_ms();
	if (t_create)
		*t_create = t1 - t0;
	if (t_process)
		*t_process = t2 - t1;
	if (welcome_len)
		*welcome_len = cr.welcome.len;
	mls_commit_result_free(&cr);
}

static void bench_ours(struct result *r)
{
	unsigned n = r->size;
	struct mls_group_config cfg = { .psk_lookup = psk_lookup, .now = UINT64_MAX };
	struct member_kp *kps = aim_xcalloc(n, sizeof *kps);
	struct mls_group *a = NULL, *b = NULL;
	double t_setup = now_ms();

	for (unsigned i = 0; i < n; i++)
		make_kp(&kps[i], i);
	if (mls_group_create(&cfg, AIM_BYTES(NULL, 0), &kps[0].kp, &kps[0].priv, NULL, &a) != 0)
		die("create group");
	/* leaves 1..n-1 in Commits of at most BATCH Adds; the receiver is the
	 * last one and joins from the last Commit's Welcome */
	for (unsigned from = 1; from < n; from += BATCH) {
		unsigned cnt = n - from < BATCH ? n - from : BATCH;
		struct mls_key_package *adds = aim_xcalloc(cnt, sizeof *adds);
		for (unsigned i = 0; i < cnt; i++)
			adds[i] = kps[from + i].kp; /* shallow: borrowed by the commit */
		struct mls_commit_params p = { .adds = adds, .n_adds = cnt, .wire_format = 1 };
		struct mls_commit_result cr;
		mls_commit_result_init(&cr);
		if (mls_group_commit(a, &p, &cr) != 0 || mls_group_merge_pending(a) != 0)
			die("setup commit");
		if (from + cnt == n) {
			struct aim_buf tree;
			aim_buf_init(&tree, MLS_MAX_MESSAGE);
			if (mls_group_export_tree(a, &tree) != 0 ||
			    mls_group_join(&cfg, aim_buf_bytes(&cr.welcome), aim_buf_bytes(&tree),
					   &kps[n - 1].kp, &kps[n - 1].priv, &b) != 0)
				die("setup join");
			aim_buf_free(&tree);
		}
		mls_commit_result_free(&cr);
		free(adds);
	}
	for (unsigned i = 0; i < n; i++)
		free_kp(&kps[i]);
	free(kps);
	if (mls_group_member_count(a) != n || !b || mls_group_epoch(a) != mls_group_epoch(b))
		die("setup size");
	r->setup_s = (now_ms() - t_setup) / 1e3;

	unsigned reps = n <= 100 ? 9 : n <= 1000 ? 5 : 3;
	double v[N_OPS][16];
	size_t welcome = 0;
	for (unsigned k = 0; k < reps; k++) {
		struct member_kp joiner;
		memset(&joiner, 0, sizeof joiner);
		make_kp(&joiner, n + k);
		struct mls_commit_params add = { .adds = &joiner.kp, .n_adds = 1, .wire_format = 1 };
		commit_round(a, b, &add, &v[OP_CREATE_ADD][k], &v[OP_PROCESS_ADD][k], &welcome);
		free_kp(&joiner);
		/* keep the size: remove the member just added (not measured) */
		uint32_t last = mls_tree_n_leaves(mls_group_tree(a));
		while (last > 0 && !mls_tree_leaf(mls_group_tree(a), last - 1))
			last--;
		uint32_t rm = last - 1;
		struct mls_commit_params del = { .removes = &rm, .n_removes = 1, .wire_format = 1 };
		commit_round(a, b, &del, NULL, NULL, NULL);

		struct aim_bytes id = AIM_BYTES(psk_id, sizeof psk_id);
		struct mls_commit_params empty = { .psk_ids = &id, .n_psk_ids = 1, .wire_format = 1 };
		commit_round(a, b, &empty, &v[OP_CREATE_EMPTY][k], &v[OP_PROCESS_EMPTY][k], NULL);

		struct mls_commit_params upd = { .force_path = true, .wire_format = 1 };
		commit_round(a, b, &upd, &v[OP_CREATE_UPDATE][k], &v[OP_PROCESS_UPDATE][k], NULL);
	}
	for (int op = 0; op < OP_ENCRYPT; op++)
		r->ms[op] = median(v[op], reps);
	r->welcome_bytes = (double)welcome;
	struct aim_buf tree;
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	if (mls_group_export_tree(a, &tree) != 0)
		die("export tree");
	r->tree_bytes = (double)tree.len;
	aim_buf_free(&tree);

	/* application messages: 100 bytes, one after the other */
	uint8_t pt[100];
	memset(pt, 'x', sizeof pt);
	struct aim_buf msg;
	double t_enc = 0, t_dec = 0;
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	for (unsigned k = 0; k < APP_REPS; k++) {
		aim_buf_reset(&msg);
		double t0 = now_ms();
		if (mls_group_encrypt(a, AIM_BYTES(NULL, 0), AIM_BYTES(pt, sizeof pt), &msg) != 0)
			die("encrypt");
		double t1 = now_ms();
		struct mls_group_event ev;
		if (mls_group_process(b, aim_buf_bytes(&msg), &ev) != 0)
			die("decrypt");
		double t2 = now_ms();
		if (ev.data.len != sizeof pt)
			die("decrypt length");
		mls_group_event_free(&ev);
		t_enc += t1 - t0;
		t_dec += t2 - t1;
	}
	aim_buf_free(&msg);
	r->ms[OP_ENCRYPT] = t_enc / APP_REPS;
	r->ms[OP_DECRYPT] = t_dec / APP_REPS;
	r->done = true;
	mls_group_free(a);
	mls_group_free(b);
}

/* ---- ts-mls ---------------------------------------------------------------- */

static char *source_dir(void)
{
	const char *env = getenv("AIM_SOURCE_DIR");
	if (env && *env)
		return aim_xstrdup(env);
	/* BUILD/bin/bench_mls -> BUILD/.. */
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return aim_xstrdup(".");
	exe[n] = 0;
	for (int up = 0; up < 3; up++) {
		char *slash = strrchr(exe, '/');
		if (!slash)
			return aim_xstrdup(".");
		*slash = 0;
	}
	return aim_xstrdup(exe[0] ? exe : "/");
}

static bool file_exists(const char *path)
{
	return access(path, R_OK) == 0;
}

static int run_tsmls(const char *sizes, struct result *ts, size_t n_ts, char *why, size_t why_len)
{
	char *src = source_dir();
	char *script = aim_xasprintf("%s/bench/mls-tsmls-bench.mjs", src);
	char *mod = aim_xasprintf("%s/tests/interop/node_modules/ts-mls/package.json", src);
	const char *budget = getenv("MLS_BENCH_TSMLS_BUDGET");
	int rc = -1;
	if (!file_exists(script) || !file_exists(mod)) {
		snprintf(why, why_len, "not run: %s or ts-mls (scripts/test-setup.sh) missing",
			 script);
		goto out;
	}
	char *cmd = aim_xasprintf("node '%s' --sizes %s --budget %s", script, sizes,
				  budget && *budget ? budget : "75");
	FILE *f = popen(cmd, "r");
	free(cmd);
	if (!f) {
		snprintf(why, why_len, "not run: cannot start node");
		goto out;
	}
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		json_error_t err;
		json_t *o = json_loads(line, 0, &err);
		if (!o)
			continue;
		unsigned size = (unsigned)json_integer_value(json_object_get(o, "size"));
		for (size_t i = 0; i < n_ts; i++) {
			if (ts[i].size != size)
				continue;
			const char *skip = json_string_value(json_object_get(o, "skipped"));
			if (skip) {
				snprintf(ts[i].note, sizeof ts[i].note, "%s", skip);
			} else {
				for (int op = 0; op < N_OPS; op++)
					ts[i].ms[op] = json_number_value(json_object_get(o, op_key[op]));
				ts[i].welcome_bytes =
					json_number_value(json_object_get(o, "welcome_bytes"));
				ts[i].tree_bytes =
					json_number_value(json_object_get(o, "tree_bytes"));
				ts[i].setup_s = json_number_value(json_object_get(o, "setup_s"));
				ts[i].done = true;
			}
		}
		json_decref(o);
	}
	int st = pclose(f);
	if (st != 0)
		snprintf(why, why_len, "node exited with status %d", st);
	else
		rc = 0;
out:
	free(src);
	free(script);
	free(mod);
	return rc;
}

/* ---- Report ----------------------------------------------------------------- */

static void print_time(double ms)
{
	if (ms >= 1000)
		printf(" %10.2f s ", ms / 1e3);
	else if (ms >= 1)
		printf(" %10.2f ms", ms);
	else
		printf(" %10.1f us", ms * 1e3);
}

static void print_size(const char *label, double ours, bool have_ts, double theirs)
{
	printf("%-38s %10.0f B ", label, ours);
	if (have_ts)
		printf(" %10.0f B  %11.2fx\n", theirs, ours > 0 ? theirs / ours : 0.0);
	else
		printf(" %13s %12s\n", "-", "-");
}

static void print_table(const struct result *o, const struct result *t)
{
	printf("\n-- group of %u members (suite %d); setup %.1f s", o->size, SUITE, o->setup_s);
	if (t->done)
		printf(", ts-mls setup %.1f s", t->setup_s);
	printf("\n%-38s %13s %13s %12s\n", "operation", "aim", "ts-mls", "ts-mls/aim");
	for (int op = 0; op < N_OPS; op++) {
		printf("%-38s", op_label[op]);
		print_time(o->ms[op]);
		if (t->done && t->ms[op] > 0) {
			print_time(t->ms[op]);
			printf(" %11.1fx\n", o->ms[op] > 0 ? t->ms[op] / o->ms[op] : 0.0);
		} else {
			printf(" %13s %12s\n", "-", "-");
		}
	}
	print_size("Welcome size (tree out of band)", o->welcome_bytes, t->done, t->welcome_bytes);
	print_size("ratchet tree (sent out of band)", o->tree_bytes, t->done, t->tree_bytes);
	if (!t->done)
		printf("ts-mls: %s\n", t->note[0] ? t->note : "no result");
}

int main(void)
{
	const char *env = getenv("MLS_BENCH_SIZES");
	char sizes[128];
	snprintf(sizes, sizeof sizes, "%s", env && *env ? env : "2,10,100,1000,10000");
	struct result ours[MAX_SIZES], ts[MAX_SIZES];
	size_t n = 0;
	memset(ours, 0, sizeof ours);
	memset(ts, 0, sizeof ts);
	char tmp[128];
	snprintf(tmp, sizeof tmp, "%s", sizes);
	for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok && n < MAX_SIZES;
	     tok = strtok_r(NULL, ",", &save)) {
		int64_t v;
		if (aim_parse_int(tok, 2, MLS_MAX_LEAVES / 2, &v) != 0) {
			fprintf(stderr, "bench_mls: bad size %s\n", tok);
			return 2;
		}
		ours[n].size = ts[n].size = (unsigned)v;
		n++;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("MLS group operations, suite %d, nproc=%ld; median of 9 / 5 / 3 runs for <=100 / "
	       "<=1000 / more members, messages: mean of %d\n", SUITE, ncpu, APP_REPS);
	fflush(stdout);
	for (size_t i = 0; i < n; i++) {
		bench_ours(&ours[i]);
		fprintf(stderr, "bench_mls: aim, %u members done\n", ours[i].size);
	}
	char why[256] = "";
	const char *skip = getenv("MLS_BENCH_TSMLS");
	if (skip && strcmp(skip, "0") == 0)
		snprintf(why, sizeof why, "not run (MLS_BENCH_TSMLS=0)");
	else
		run_tsmls(sizes, ts, n, why, sizeof why);
	for (size_t i = 0; i < n; i++) {
		if (!ts[i].done && !ts[i].note[0])
			snprintf(ts[i].note, sizeof ts[i].note, "%s", why[0] ? why : "no result");
		print_table(&ours[i], &ts[i]);
	}
	return 0;
}
