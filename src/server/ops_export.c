/*
 * Operations: `aimd export` and `aimd import`, a domain's whole data in one
 * file, so that a provider can move it to another data directory or to the
 * other back end (SQLite <-> PostgreSQL).
 *
 * The format, "aim-export" version 1, is JSON lines (one JSON object per
 * line, UTF-8):
 *
 *   {"format": "aim-export", "version": 1, "schema": N, "backend": "sqlite",
 *    "domain": D, "base_url": B, "aimd": V, "exported": RFC3339}   first line
 *   {"file": "ca/ca-1.key", "mode": "0600", "base64": ...}          the CA keys
 *   {"table": T, "row": {COLUMN: VALUE, ...}}                       every row
 *   {"end": {"rows": R, "files": F}}                                last line
 *
 * Rows follow the store's table order (STORE_EXPORT_TABLES: users, tokens,
 * activities, objects, audience, inboxes, the delivery queue and its hosts,
 * followers, follows, blocks, versioned state (the channels' hub states),
 * CA certificates, devices, KeyPackages, channels, their members, outboxes
 * and the member side), with the schema's column names. A VALUE is a JSON
 * integer, a string (text), {"base64": ...} (bytes), {"text64": ...} (text
 * that is not UTF-8, base64) or null. "schema" is the schema version of the
 * exporting store: an import needs the same (migrate the older side first).
 * The end line says the file is whole. The file holds every private key of
 * the domain (users' keys, the instance actor's, the CA's): it is written
 * with mode 0600, under a temporary name renamed when complete.
 *
 * Import goes into a fresh data directory (like aimd init, which it
 * replaces; --store puts the rows in a PostgreSQL database that holds no
 * domain yet, as init --store does): the store's rows in one transaction,
 * then the key files; on a failure nothing is left behind (the
 * transaction is rolled back, the files removed). The same keys, ids and URLs come back, so
 * the imported server serves the same actors, collections and channels,
 * and its signatures verify with the keys others have cached.
 */
#include "server/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/ca.h"

#define EXPORT_FORMAT "aim-export"
#define EXPORT_VERSION 1
#define EXPORT_FILE "aim-export.jsonl"
#define FILE_MAX (64 * 1024)
#define FILES_MAX 64

/* ---- Export ---------------------------------------------------------------------------- */

struct out {
	FILE *f;
	int64_t rows, files;
};

static int put(struct out *o, json_t *j)
{
	ENSURE(j, AIM_ERR_NOMEM, "export: out of memory");
	int rc = json_dumpf(j, o->f, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	ENSURE(rc == 0 && fputc('\n', o->f) != EOF, AIM_ERR_STORAGE, "export: cannot write: %s",
	       strerror(errno));
	return 0;
}

static json_t *b64_value(const char *key, const uint8_t *p, size_t n)
{
	struct aim_buf b;
	aim_buf_init(&b, 64 * 1024 * 1024);
	if (aim_b64_encode(&b, p, n) != 0) {
		aim_buf_free(&b);
		return NULL;
	}
	json_t *j = json_pack("{s:s%}", key, (const char *)b.data, b.len);
	aim_buf_free_secret(&b);
	return j;
}

static json_t *value_json(const struct store_value *v)
{
	switch (v->type) {
	case STORE_V_INT:
		return json_integer(v->i);
	case STORE_V_TEXT: {
		json_t *s = json_stringn((const char *)v->p, v->n);
		return s ? s : b64_value("text64", v->p, v->n); /* not UTF-8 */
	}
	case STORE_V_BLOB:
		return b64_value("base64", v->p, v->n);
	default:
		return json_null();
	}
}

static int export_row(void *ctx, const struct store_row *r)
{
	struct out *o = ctx;
	json_t *row = json_object();
	for (size_t i = 0; row && i < r->n; i++) {
		json_t *v = value_json(&r->v[i]);
		if (!v || json_object_set_new(row, r->cols[i], v) != 0) {
			json_decref(row);
			return aim_fail(AIM_ERR_NOMEM, "export %s: out of memory", r->table);
		}
	}
	o->rows++;
	return put(o, json_pack("{s:s, s:o}", "table", r->table, "row", row));
}

struct ca_ids {
	int64_t id[FILES_MAX];
	size_t n;
};

static int ca_row(void *ctx, const struct store_ca_cert *c)
{
	struct ca_ids *ids = ctx;
	ENSURE(ids->n < AIM_ARRAY_LEN(ids->id), AIM_ERR_LIMIT, "more than %d CA certificates",
	       FILES_MAX);
	ids->id[ids->n++] = c->id;
	return 0;
}

/* Reads a key file of the data directory (owned, wiped by the caller). */
static int read_small(const char *path, struct aim_buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ENSURE(fd >= 0, AIM_ERR_STORAGE, "cannot open %s: %s", path, strerror(errno));
	int rc = 0;
	for (;;) {
		uint8_t chunk[4096];
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = aim_fail(AIM_ERR_STORAGE, "cannot read %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (aim_buf_append(b, chunk, (size_t)n) != 0) {
			rc = aim_fail(AIM_ERR_LIMIT, "%s is larger than a key file", path);
			break;
		}
	}
	close(fd);
	return rc;
}

static int export_files(const char *dir, struct store *st, struct out *o)
{
	struct ca_ids ids = { .n = 0 };
	TRY(store_ca_cert_list(st, ca_row, &ids));
	for (size_t i = 0; i < ids.n; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "%s/ca-%lld.key", AIMD_CA_DIR, (long long)ids.id[i]);
		char *path = aim_xasprintf("%s/%s", dir, rel);
		struct aim_buf b;
		aim_buf_init(&b, FILE_MAX);
		int rc = read_small(path, &b);
		free(path);
		json_t *j = rc == 0 ? b64_value("base64", b.data, b.len) : NULL;
		if (j) {
			json_object_set_new(j, "file", json_string(rel));
			json_object_set_new(j, "mode", json_string("0600"));
		}
		aim_buf_free_secret(&b);
		TRY(rc);
		o->files++;
		TRY(put(o, j));
	}
	return 0;
}

static int export_to(const char *dir, struct store *st, struct out *o)
{
	int schema = 0;
	char *domain = NULL, *base = NULL;
	TRY(store_schema_version(st, &schema));
	int rc = 0;
	TRY_GOTO(store_meta_get(st, "domain", &domain), done);
	TRY_GOTO(store_meta_get(st, "base_url", &base), done);
	char now[21];
	aim_time_rfc3339(aim_now(), now);
	TRY_GOTO(put(o, json_pack("{s:s, s:i, s:i, s:s, s:s, s:s, s:s, s:s}", "format",
				  EXPORT_FORMAT, "version", EXPORT_VERSION, "schema", schema,
				  "backend", st->ops->name, "domain", domain, "base_url", base,
				  "aimd", AIMD_VERSION, "exported", now)),
		 done);
	TRY_GOTO(export_files(dir, st, o), done);
	TRY_GOTO(store_export_rows(st, export_row, o), done);
	TRY_GOTO(put(o, json_pack("{s:{s:I, s:I}}", "end", "rows", (json_int_t)o->rows, "files",
				  (json_int_t)o->files)),
		 done);
done:
	free(domain);
	free(base);
	return rc;
}

int aimd_export(const char *data_dir, const char *target, int64_t *rows)
{
	*rows = 0;
	ENSURE(target && *target, AIM_ERR_INVALID, "export needs a FILE or DIR");
	struct store *st = NULL;
	TRY(aimd_open_data(data_dir, 0, &st));
	int rc = 0;
	char *path = NULL, *part = NULL;
	struct out o = { 0 };
	bool to_stdout = !strcmp(target, "-");
	if (to_stdout) {
		o.f = stdout;
	} else {
		struct stat sb;
		path = stat(target, &sb) == 0 && S_ISDIR(sb.st_mode)
			       ? aim_xasprintf("%s/%s", target, EXPORT_FILE)
			       : aim_xstrdup(target);
		ENSURE_GOTO(lstat(path, &sb) != 0, out, AIM_ERR_EXISTS,
			    "%s exists: export writes a new file", path);
		part = aim_xasprintf("%s.part", path);
		int fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ENSURE_GOTO(fd >= 0, out, AIM_ERR_STORAGE, "cannot create %s: %s", part,
			    strerror(errno));
		o.f = fdopen(fd, "w");
		if (!o.f) {
			close(fd);
			rc = aim_fail(AIM_ERR_STORAGE, "cannot write %s", part);
			goto out;
		}
	}
	rc = export_to(data_dir, st, &o);
	if (to_stdout) {
		if (fflush(stdout) != 0 && rc == 0)
			rc = aim_fail(AIM_ERR_STORAGE, "cannot write the export: %s", strerror(errno));
	} else {
		/* Durable under its own name only when whole. */
		if (rc == 0 && (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0))
			rc = aim_fail(AIM_ERR_STORAGE, "cannot write %s: %s", part, strerror(errno));
		if (fclose(o.f) != 0 && rc == 0)
			rc = aim_fail(AIM_ERR_STORAGE, "cannot write %s: %s", part, strerror(errno));
		if (rc == 0 && rename(part, path) != 0)
			rc = aim_fail(AIM_ERR_STORAGE, "cannot rename %s: %s", part, strerror(errno));
		if (rc != 0)
			unlink(part);
	}
	*rows = o.rows;
out:
	if (rc == 0 && !to_stdout)
		fprintf(stderr, "aimd: exported %lld rows and %lld key file%s to %s\n",
			(long long)o.rows, (long long)o.files, o.files == 1 ? "" : "s", path);
	free(part);
	free(path);
	store_close(st);
	return rc;
}

/* ---- Import ---------------------------------------------------------------------------- */

struct key_file {
	char rel[64];
	struct aim_buf data;
};

struct in {
	FILE *f;
	const char *name;            /* for messages */
	json_t *cur;                 /* the record the current row points into */
	const char *cols[64];
	struct store_value v[64];
	struct aim_buf blobs[64];
	int64_t rows, line;
	struct key_file files[FILES_MAX];
	size_t n_files;
	bool ended;
};

static void in_release_row(struct in *in)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(in->blobs); i++)
		aim_buf_free_secret(&in->blobs[i]);
	json_decref(in->cur);
	in->cur = NULL;
}

static json_t *next_record(struct in *in)
{
	json_error_t err;
	json_t *j = json_loadf(in->f, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		/* Nothing but white space left: the end of the file. */
		if (feof(in->f) && strstr(err.text, "'[' or '{' expected"))
			aim_fail(AIM_ERR_DECODE, "%s ends before its end line: truncated", in->name);
		else
			aim_fail(AIM_ERR_DECODE, "%s: record %lld: %s", in->name,
				 (long long)in->line + 1, err.text);
		return NULL;
	}
	in->line++;
	if (!json_is_object(j)) {
		json_decref(j);
		aim_fail(AIM_ERR_DECODE, "%s: record %lld is not an object", in->name,
			 (long long)in->line);
		return NULL;
	}
	return j;
}

static int decode_b64(const json_t *s, struct aim_buf *b)
{
	ENSURE(json_is_string(s), AIM_ERR_DECODE, "base64 value is not a string");
	aim_buf_free(b);
	aim_buf_init(b, (size_t)STORE_STATE_VALUE_MAX * 2);
	return aim_b64_decode(b, json_string_value(s), json_string_length(s));
}

/* A CA key file: "ca/ca-N.key" and nothing else (no path out of DIR). */
static int take_file(struct in *in, json_t *j)
{
	const char *rel = json_string_value(json_object_get(j, "file"));
	ENSURE(rel && !strncmp(rel, AIMD_CA_DIR "/ca-", strlen(AIMD_CA_DIR) + 4), AIM_ERR_DECODE,
	       "%s: record %lld: a file other than a CA key", in->name, (long long)in->line);
	const char *num = rel + strlen(AIMD_CA_DIR) + 4;
	size_t dl = strspn(num, "0123456789");
	ENSURE(dl > 0 && dl < 19 && !strcmp(num + dl, ".key"), AIM_ERR_DECODE,
	       "%s: record %lld: bad key file name %s", in->name, (long long)in->line, rel);
	ENSURE(in->n_files < FILES_MAX, AIM_ERR_LIMIT, "more than %d key files", FILES_MAX);
	struct key_file *kf = &in->files[in->n_files];
	aim_buf_init(&kf->data, FILE_MAX);
	if (decode_b64(json_object_get(j, "base64"), &kf->data) != 0) {
		aim_buf_free_secret(&kf->data);
		return aim_fail(AIM_ERR_DECODE, "%s: the key file %s does not decode", in->name, rel);
	}
	snprintf(kf->rel, sizeof kf->rel, "%s", rel);
	in->n_files++;
	return 0;
}

static int row_of(struct in *in, json_t *j, struct store_row *out)
{
	const char *table = json_string_value(json_object_get(j, "table"));
	json_t *row = json_object_get(j, "row");
	ENSURE(table && json_is_object(row), AIM_ERR_DECODE, "%s: record %lld is no row",
	       in->name, (long long)in->line);
	ENSURE(json_object_size(row) <= AIM_ARRAY_LEN(in->cols), AIM_ERR_DECODE,
	       "%s: record %lld: too many columns", in->name, (long long)in->line);
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach(row, k, v) {
		struct store_value *sv = &in->v[n];
		memset(sv, 0, sizeof *sv);
		in->cols[n] = k;
		if (json_is_integer(v)) {
			sv->type = STORE_V_INT;
			sv->i = json_integer_value(v);
		} else if (json_is_string(v)) {
			sv->type = STORE_V_TEXT;
			sv->p = (const uint8_t *)json_string_value(v);
			sv->n = json_string_length(v);
		} else if (json_is_null(v)) {
			sv->type = STORE_V_NULL;
		} else if (json_is_object(v) && (json_object_get(v, "base64") ||
						 json_object_get(v, "text64"))) {
			bool text = json_object_get(v, "text64") != NULL;
			if (decode_b64(json_object_get(v, text ? "text64" : "base64"),
				       &in->blobs[n]) != 0)
				return aim_fail(AIM_ERR_DECODE, "%s: record %lld: %s.%s does not "
						"decode", in->name, (long long)in->line, table, k);
			sv->type = text ? STORE_V_TEXT : STORE_V_BLOB;
			sv->p = in->blobs[n].data ? in->blobs[n].data : (const uint8_t *)"";
			sv->n = in->blobs[n].len;
		} else {
			return aim_fail(AIM_ERR_DECODE, "%s: record %lld: %s.%s has a value of no "
					"known kind", in->name, (long long)in->line, table, k);
		}
		n++;
	}
	*out = (struct store_row){ table, n, in->cols, in->v };
	return 0;
}

/* store_row_next_fn: the next row of the file; key files are kept aside. */
static int next_row(void *ctx, struct store_row *out)
{
	struct in *in = ctx;
	in_release_row(in);
	for (;;) {
		json_t *j = next_record(in);
		if (!j)
			return -1;
		json_t *end = json_object_get(j, "end");
		if (end) {
			json_int_t rows = json_integer_value(json_object_get(end, "rows"));
			json_int_t files = json_integer_value(json_object_get(end, "files"));
			json_decref(j);
			ENSURE(rows == in->rows && files == (json_int_t)in->n_files, AIM_ERR_DECODE,
			       "%s: its end line counts %lld rows and %lld files, the file holds %lld "
			       "and %zu",
			       in->name, (long long)rows, (long long)files, (long long)in->rows,
			       in->n_files);
			in->ended = true;
			return 1;
		}
		if (json_object_get(j, "file")) {
			int rc = take_file(in, j);
			json_decref(j);
			TRY(rc);
			continue;
		}
		in->cur = j;
		TRY(row_of(in, j, out));
		in->rows++;
		return 0;
	}
}

static int check_header(struct in *in, int *schema)
{
	json_t *h = next_record(in);
	if (!h)
		return -1;
	const char *fmt = json_string_value(json_object_get(h, "format"));
	bool ours = fmt && !strcmp(fmt, EXPORT_FORMAT);
	json_int_t ver = json_integer_value(json_object_get(h, "version"));
	*schema = (int)json_integer_value(json_object_get(h, "schema"));
	json_decref(h);
	ENSURE(ours, AIM_ERR_DECODE,
	       "%s is not an aimd export (no \"format\": \"" EXPORT_FORMAT "\" first)", in->name);
	ENSURE(ver == EXPORT_VERSION, AIM_ERR_UNSUPPORTED,
	       "%s is an export of format version %lld; this aimd reads version %d", in->name,
	       (long long)ver, EXPORT_VERSION);
	ENSURE(*schema > 0, AIM_ERR_DECODE, "%s: no schema version in its first line", in->name);
	return 0;
}

static int write_key_files(const char *dir, struct in *in)
{
	char *cad = aim_xasprintf("%s/%s", dir, AIMD_CA_DIR);
	int rc = 0;
	if (mkdir(cad, 0700) != 0 && errno != EEXIST)
		rc = aim_fail(AIM_ERR_STORAGE, "cannot create %s: %s", cad, strerror(errno));
	free(cad);
	for (size_t i = 0; rc == 0 && i < in->n_files; i++) {
		char *p = aim_xasprintf("%s/%s", dir, in->files[i].rel);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		const struct aim_buf *b = &in->files[i].data;
		if (fd < 0 || write(fd, b->data, b->len) != (ssize_t)b->len || fsync(fd) != 0)
			rc = aim_fail(AIM_ERR_STORAGE, "cannot write %s: %s", p, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(p);
	}
	return rc;
}

/* Takes back what a failed import made in dir. */
static void undo_import(const char *dir, const struct in *in)
{
	static const char *const db[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < AIM_ARRAY_LEN(db); i++) {
		char *p = aim_xasprintf("%s/%s%s", dir, AIMD_DB_FILE, db[i]);
		unlink(p);
		free(p);
	}
	char *sf = aim_xasprintf("%s/%s", dir, AIMD_STORE_FILE);
	unlink(sf);
	free(sf);
	for (size_t i = 0; i < in->n_files; i++) {
		char *p = aim_xasprintf("%s/%s", dir, in->files[i].rel);
		unlink(p);
		free(p);
	}
	char *cad = aim_xasprintf("%s/%s", dir, AIMD_CA_DIR);
	rmdir(cad);
	free(cad);
}

int aimd_import(const char *data_dir, const char *store, const char *source, int64_t *rows)
{
	*rows = 0;
	ENSURE(data_dir && *data_dir, AIM_ERR_INVALID, "--data is required");
	ENSURE(source && *source, AIM_ERR_INVALID, "import needs a FILE or DIR");
	struct in in;
	memset(&in, 0, sizeof in);
	char *src = NULL, *dbp = aim_xasprintf("%s/%s", data_dir, AIMD_DB_FILE);
	struct store *st = NULL;
	int rc = 0;
	bool made = false;
	struct stat sb;
	if (!strcmp(source, "-")) {
		in.f = stdin;
		src = aim_xstrdup("standard input");
	} else {
		src = stat(source, &sb) == 0 && S_ISDIR(sb.st_mode)
			      ? aim_xasprintf("%s/%s", source, EXPORT_FILE)
			      : aim_xstrdup(source);
		in.f = fopen(src, "re");
		ENSURE_GOTO(in.f, out, AIM_ERR_NOTFOUND, "cannot open %s: %s", src, strerror(errno));
	}
	in.name = src;
	int schema = 0;
	TRY_GOTO(check_header(&in, &schema), out);
	if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
		rc = aim_fail(AIM_ERR_STORAGE, "cannot create %s: %s", data_dir, strerror(errno));
		goto out;
	}
	ENSURE_GOTO(!aimd_data_initialised(data_dir), out, AIM_ERR_EXISTS,
		    "%s is already initialised: import goes into a new data directory", data_dir);
	made = true;
	if (store) {
		/* a shared database (PostgreSQL) holds the store, as aimd init --store */
		TRY_GOTO(aimd_store_location_write(data_dir, store), out);
		TRY_GOTO(store_open(store, &st), out);
	} else {
		TRY_GOTO(store_open(dbp, &st), out);
	}
	int have = 0;
	TRY_GOTO(store_schema_version(st, &have), out);
	ENSURE_GOTO(have == schema, out, AIM_ERR_UNSUPPORTED,
		    "%s is of schema version %d, this aimd's store is %d: export and import with "
		    "aimd of the same schema (aimd migrate the older side first)",
		    src, schema, have);
	TRY_GOTO(store_import_rows(st, next_row, &in), out);
	ENSURE_GOTO(in.ended, out, AIM_ERR_DECODE, "%s ends before its end line", src);
	TRY_GOTO(write_key_files(data_dir, &in), out);
	*rows = in.rows;
out:
	in_release_row(&in);
	store_close(st);
	if (rc != 0 && made)
		undo_import(data_dir, &in);
	for (size_t i = 0; i < in.n_files; i++)
		aim_buf_free_secret(&in.files[i].data);
	if (in.f && in.f != stdin)
		fclose(in.f);
	free(src);
	free(dbp);
	return rc;
}
