/*
 * ca: the domain's certificate authority (see ca.h for what lives where and
 * the flow of a registration).
 */
#include "server/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "server/internal.h"

/* A CA certificate is good for 20 years; rotation, not expiry, replaces it. */
#define CA_VALIDITY_S ((int64_t)20 * 365 * 86400)
/* A leaf starts a little in the past, so a verifier whose clock is behind
 * ours does not refuse a fresh one. */
#define LEAF_BACKDATE_S 300
#define KEY_FILE_MAX (16 * 1024)

int aimd_ca_key_parse(const char *s, enum aimd_ca_key *out)
{
	if (s && !strcmp(s, "ed25519"))
		*out = AIMD_CA_ED25519;
	else if (s && !strcmp(s, "p256"))
		*out = AIMD_CA_P256;
	else
		return aim_fail(AIM_ERR_INVALID, "CA key type: ed25519 or p256");
	return 0;
}

static char *key_path(const char *data_dir, int64_t id)
{
	return aim_xasprintf("%s/%s/ca-%lld.key", data_dir, AIMD_CA_DIR, (long long)id);
}

/* Writes the whole buffer to a new file of mode 0600 and makes it durable. */
static int write_secret_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	ENSURE(fd >= 0, AIM_ERR_STORAGE, "cannot create %s: %s", path, strerror(errno));
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;
			close(fd);
			unlink(path);
			return aim_fail(AIM_ERR_STORAGE, "cannot write %s: %s", path, strerror(e));
		}
		off += (size_t)w;
	}
	if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return aim_fail(AIM_ERR_STORAGE, "cannot write %s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Reads a CA key file: a regular file of ours that nobody else may read. */
static int read_key_file(const char *path, struct aim_pkey **key)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ENSURE(fd >= 0, AIM_ERR_STORAGE, "cannot open the CA key %s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size > KEY_FILE_MAX) {
		close(fd);
		return aim_fail(AIM_ERR_STORAGE, "the CA key %s is not a key file", path);
	}
	if (sb.st_mode & 077) {
		close(fd);
		return aim_fail(AIM_ERR_DENIED,
				"the CA key %s may be read by others (mode %03o; want 0600)", path,
				(unsigned)(sb.st_mode & 0777));
	}
	size_t n = (size_t)sb.st_size;
	char *pem = aim_xmalloc(n + 1);
	size_t off = 0;
	while (off < n) {
		ssize_t r = read(fd, pem + off, n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	pem[off] = 0;
	int rc = off == n ? aim_pkey_from_private_pem(pem, n, key)
			  : aim_fail(AIM_ERR_STORAGE, "cannot read the CA key %s", path);
	aim_free_secret(pem, n + 1);
	return rc;
}

int aimd_ca_create(const char *data_dir, struct store *st, enum aimd_ca_key t)
{
	int rc = 0;
	char *domain = NULL, *dir = NULL, *tmp = NULL, *path = NULL, *cn = NULL;
	struct aim_pkey *key = NULL;
	struct aim_buf cert, pem;
	aim_buf_init(&cert, AIM_X509_MAX);
	aim_buf_init(&pem, KEY_FILE_MAX);
	TRY_GOTO(store_meta_get(st, "domain", &domain), out);
	dir = aim_xasprintf("%s/%s", data_dir, AIMD_CA_DIR);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = aim_fail(AIM_ERR_STORAGE, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	ENSURE_GOTO(chmod(dir, 0700) == 0, out, AIM_ERR_STORAGE, "cannot chmod %s: %s", dir,
		    strerror(errno));
	/* CN is at most 64 bytes (ub-common-name): a long domain is cut */
	cn = aim_xasprintf("aim CA %.57s", domain);
	int64_t now = aim_now();
	TRY_GOTO(aim_x509_ca_create(t == AIMD_CA_P256 ? AIM_KEY_P256 : AIM_KEY_ED25519, cn,
				    now - LEAF_BACKDATE_S, now + CA_VALIDITY_S, &key, &cert),
		 out);
	TRY_GOTO(aim_pkey_private_pem(key, &pem), out);
	/* The key is on disk (under a temporary name) before its certificate is
	 * stored; the certificate's id then names it. */
	uint8_t rnd[8];
	TRY_GOTO(aim_random(rnd, sizeof rnd), out);
	tmp = aim_xasprintf("%s/new-%02x%02x%02x%02x%02x%02x%02x%02x.key", dir, rnd[0], rnd[1],
			    rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	TRY_GOTO(write_secret_file(tmp, pem.data, pem.len), out);
	int64_t id = 0;
	if (store_ca_cert_add(st, cert.data, cert.len, &id) != 0) {
		rc = -1;
		unlink(tmp);
		goto out;
	}
	path = key_path(data_dir, id);
	if (rename(tmp, path) != 0) {
		rc = aim_fail(AIM_ERR_STORAGE, "cannot rename the CA key to %s: %s", path,
			      strerror(errno));
		goto out;
	}
	sync_dir(dir);
	aim_log(AIM_LOG_INFO, "ca", "new %s CA %lld for %s", t == AIMD_CA_P256 ? "P-256" : "Ed25519",
		(long long)id, domain);
out:
	aim_pkey_free(key);
	aim_buf_free(&cert);
	aim_buf_free_secret(&pem);
	free(domain);
	free(dir);
	free(tmp);
	free(path);
	free(cn);
	return rc;
}

static int count_one(void *ctx, const struct store_ca_cert *c)
{
	(void)c;
	++*(size_t *)ctx;
	return 0;
}

int aimd_ca_ensure(const char *data_dir, struct store *st, bool *created)
{
	size_t n = 0;
	*created = false;
	TRY(store_ca_cert_list(st, count_one, &n));
	if (n > 0)
		return 0;
	TRY(aimd_ca_create(data_dir, st, AIMD_CA_ED25519));
	*created = true;
	return 0;
}

struct anchors_ctx {
	struct aim_buf *ders;
	size_t max, n;
	int64_t newest;
};

static int anchor_row(void *ctx, const struct store_ca_cert *c)
{
	struct anchors_ctx *x = ctx;
	if (x->n >= x->max)
		return 1; /* enough: stop */
	if (x->n == 0)
		x->newest = c->id;
	aim_buf_init(&x->ders[x->n], AIM_X509_MAX);
	if (aim_buf_append(&x->ders[x->n], c->der, c->len) != 0) {
		aim_buf_free(&x->ders[x->n]);
		return -1;
	}
	x->n++;
	return 0;
}

static int list_anchors(struct store *st, struct aim_buf *ders, size_t max, size_t *n,
			int64_t *newest)
{
	struct anchors_ctx x = { ders, max, 0, 0 };
	int rc = store_ca_cert_list(st, anchor_row, &x);
	if (rc < 0) {
		for (size_t i = 0; i < x.n; i++)
			aim_buf_free(&ders[i]);
		return -1;
	}
	ENSURE(x.n > 0, AIM_ERR_NOTFOUND, "this domain has no CA (run aimd serve or aimd ca rotate)");
	*n = x.n;
	if (newest)
		*newest = x.newest;
	return 0;
}

int aimd_ca_anchors(struct app *a, struct aim_buf *ders, size_t max, size_t *n)
{
	ENSURE(max >= 1, AIM_ERR_INVALID, "no room for a certificate");
	return list_anchors(a->st, ders, max, n, NULL);
}

char *aimd_ca_acct(struct app *a, const char *name)
{
	return aim_xasprintf("acct:%s@%s", name, a->domain);
}

int aimd_ca_issue(struct app *a, int alg, struct aim_bytes pk, const char *san_uri,
		  struct aim_buf *cert, int64_t *not_after)
{
	struct aim_buf newest;
	size_t n = 0;
	int64_t id = 0;
	TRY(list_anchors(a->st, &newest, 1, &n, &id));
	int rc = 0;
	struct aim_pkey *key = NULL;
	char *path = key_path(a->data_dir, id);
	TRY_GOTO(read_key_file(path, &key), out);
	int days = a->cert_days > 0 ? a->cert_days : AIMD_CERT_DAYS_DEFAULT;
	int64_t now = aim_now();
	int64_t na = now + (int64_t)days * 86400;
	TRY_GOTO(aim_x509_issue(key, aim_buf_bytes(&newest), (enum aim_sig_alg)alg, pk, san_uri,
				now - LEAF_BACKDATE_S, na, cert),
		 out);
	*not_after = na;
out:
	aim_pkey_free(key);
	free(path);
	aim_buf_free(&newest);
	return rc;
}

int aimd_ca_check_leaf(struct app *a, int64_t user_id, const char *acct_uri, struct aim_bytes leaf,
		       struct store_device *dev)
{
	struct aim_buf ders[AIMD_CA_MAX];
	size_t n = 0;
	TRY(list_anchors(a->st, ders, AIMD_CA_MAX, &n, NULL));
	struct aim_bytes anchors[AIMD_CA_MAX];
	for (size_t i = 0; i < n; i++)
		anchors[i] = aim_buf_bytes(&ders[i]);
	int rc = 0;
	struct aim_x509_leaf out;
	memset(&out, 0, sizeof out);
	struct store_device d;
	memset(&d, 0, sizeof d);
	TRY_GOTO(aim_x509_verify(leaf, anchors, n, aim_now(), &out), done);
	ENSURE_GOTO(!strcmp(out.san_uri, acct_uri), done, AIM_ERR_VERIFY,
		    "the certificate names %s, not %s", out.san_uri, acct_uri);
	if (store_device_by_key(a->st, user_id, (int)out.alg, out.pk, out.pk_len, &d) != 0) {
		rc = -1;
		if (aim_errcode() == AIM_ERR_NOTFOUND)
			aim_fail(AIM_ERR_NOTFOUND, "no registered device of %s has that key", acct_uri);
		goto done;
	}
	ENSURE_GOTO(!d.revoked, done, AIM_ERR_DENIED, "device %s of %s is revoked", d.device,
		    acct_uri);
	if (dev) {
		*dev = d;
		memset(&d, 0, sizeof d);
	}
done:
	store_device_clear(&d);
	for (size_t i = 0; i < n; i++)
		aim_buf_free(&ders[i]);
	return rc;
}

int aimd_ca_rotate(const char *data_dir, const char *key_type, int64_t *id)
{
	ENSURE(data_dir && *data_dir, AIM_ERR_INVALID, "--data is required");
	enum aimd_ca_key t;
	TRY(aimd_ca_key_parse(key_type ? key_type : "ed25519", &t));
	struct store *st = NULL;
	int rc = aimd_open_data(data_dir, 0, &st); /* DIR/aim.db or DIR/store's database */
	TRY(rc);
	TRY_GOTO(aimd_ca_create(data_dir, st, t), out);
	struct aim_buf one;
	size_t n = 0;
	TRY_GOTO(list_anchors(st, &one, 1, &n, id), out);
	aim_buf_free(&one);
out:
	store_close(st);
	return rc;
}
