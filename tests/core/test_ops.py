"""Operations (issue 15 point 3, issue 16's damaged database): `aimd migrate`
applies pending migrations and says which, says so when there is none, and
refuses a database newer than the binary; `aimd serve` checks the
database's integrity at start-up and refuses a damaged one with a message
naming the file (--skip-integrity-check starts anyway); `aimd doctor`
checks a data directory (database, integrity, config, key modes, clock, TLS
files), exit 0 when all is well and one line per problem otherwise."""

import os
import re
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import subprocess

from aimtest import AimTestCase, Server, ServerError, make_ca, make_cert, note, run_aimd


def db_file(srv):
	return os.path.join(srv.data, "aim.db")


def schema_version(path):
	c = sqlite3.connect(path)
	try:
		return c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
	finally:
		c.close()


class MigrateTest(AimTestCase):
	def test_up_to_date_says_so(self):
		srv = self.server(domain="mig.test")
		r = run_aimd("migrate", "--data", srv.data)
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertRegex(r.stdout, r"schema version \d+ is the latest; nothing to migrate")
		self.assertNotIn("applied migration", r.stdout)

	def test_pending_applied_one_line_each(self):
		srv = self.server(domain="mig0.test")
		latest = schema_version(db_file(srv))
		# An empty database: every migration is pending.
		os.unlink(db_file(srv))
		open(db_file(srv), "wb").close()
		r = run_aimd("migrate", "--data", srv.data)
		self.assertEqual(r.returncode, 0, r.stderr)
		applied = re.findall(r"^applied migration (\d+)", r.stdout, re.M)
		self.assertEqual([int(v) for v in applied], list(range(1, latest + 1)), r.stdout)
		self.assertIn("migrated from schema version 0 to %d" % latest, r.stdout)
		self.assertEqual(schema_version(db_file(srv)), latest)
		r = run_aimd("migrate", "--data", srv.data)
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertIn("nothing to migrate", r.stdout)

	def test_newer_database_refused(self):
		srv = self.server(domain="mig1.test")
		latest = schema_version(db_file(srv))
		c = sqlite3.connect(db_file(srv))
		c.execute("INSERT INTO schema_version(version) VALUES (?)", (latest + 5,))
		c.commit()
		c.close()
		r = run_aimd("migrate", "--data", srv.data)
		self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
		err = r.stderr.strip()
		self.assertEqual(len(err.splitlines()), 1, err)
		self.assertIn(db_file(srv), err)
		self.assertIn("schema version %d, newer than this aimd" % (latest + 5), err)
		self.assertIn("(%d)" % latest, err)
		self.assertEqual(schema_version(db_file(srv)), latest + 5)
		# aimd serve refuses it too, naming the file.
		with self.assertRaises(ServerError) as cm:
			srv.start()
		self.assertIn(db_file(srv), str(cm.exception))
		self.assertIn("newer than this aimd", str(cm.exception))

	def test_refused_while_serving(self):
		srv = self.server(domain="mig2.test")
		srv.start()
		r = run_aimd("migrate", "--data", srv.data)
		self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
		self.assertIn("in use by another aimd serve", r.stderr)
		srv.stop()

	def test_usage(self):
		r = run_aimd("migrate")
		self.assertEqual(r.returncode, 2)
		r = run_aimd("migrate", "--data", "/nonexistent-aim-dir")
		self.assertEqual(r.returncode, 1)
		r = run_aimd("migrate", "--help")
		self.assertEqual(r.returncode, 0)
		self.assertIn("aimd migrate --data DIR", r.stdout)


def damage(path, table):
	"""Overwrites the root page of table's b-tree with bytes that are no
	b-tree page (the header and the schema on page 1 stay intact)."""
	c = sqlite3.connect(path)
	try:
		page_size = c.execute("PRAGMA page_size").fetchone()[0]
		root = c.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
				 (table,)).fetchone()[0]
	finally:
		c.close()
	assert root > 1
	for suffix in ("-wal", "-shm"):
		assert not os.path.exists(path + suffix) or os.path.getsize(path + suffix) == 0
	with open(path, "r+b") as f:
		f.seek((root - 1) * page_size)
		f.write(bytes([0xA5, 0x5A]) * (page_size // 2))


class IntegrityTest(AimTestCase):
	def test_damaged_database_refused_at_start(self):
		srv = self.server(domain="dmg.test")
		tok = srv.add_user("alice")
		srv.start()
		for i in range(5):
			st, _, _ = srv.post("/users/alice/outbox", note("post %d" % i), token=tok)
			self.assertEqual(st, 201)
		srv.stop()
		# A sound database starts (the check runs and passes).
		srv.start()
		srv.stop()
		damage(db_file(srv), "activities")
		with self.assertRaises(ServerError) as cm:
			srv.start()
		self.assertIn("exited with 1", str(cm.exception))
		msg = srv.log_current()
		self.assertIn(db_file(srv) + " is damaged", msg)
		self.assertIn("--skip-integrity-check", msg)
		self.assertNotIn("listening on", msg)
		self.assertNotIn("serving", msg)
		# The operator may start it anyway.
		srv.extra_args.append("--skip-integrity-check")
		srv.start()
		st, _, _ = srv.get("/users/alice")
		self.assertEqual(st, 200)
		srv.stop()


def expired_cert(directory, hostname):
	"""A self-signed certificate for hostname valid in January 2020 only."""
	os.makedirs(directory, exist_ok=True)
	open(os.path.join(directory, "index.txt"), "w").close()
	with open(os.path.join(directory, "serial"), "w") as f:
		f.write("01\n")
	cnf = os.path.join(directory, "ca.cnf")
	with open(cnf, "w") as f:
		f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n"
			"serial = serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n"
			"unique_subject = no\n[p]\ncommonName = supplied\n")
	key, csr, cert = "old.key", "old.csr", "old.crt"
	for argv in (["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
		      "-subj", "/CN=" + hostname, "-addext", "subjectAltName=DNS:" + hostname],
		     ["ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", key, "-in", csr,
		      "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-out", cert]):
		subprocess.run(["openssl"] + argv, cwd=directory, check=True,
			       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	return os.path.join(directory, cert), os.path.join(directory, key)


def doctor(srv, *extra):
	r = run_aimd("doctor", "--data", srv.data, *extra)
	problems = [l for l in r.stdout.splitlines() if l.startswith("problem: ")]
	oks = [l for l in r.stdout.splitlines() if l.startswith("ok: ")]
	return r, problems, oks


class DoctorTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="doc.test", url=False)
		cls.tok = cls.srv.add_user("alice")
		cls.certs = os.path.join(cls.srv.tmp, "certs")
		cls.ca = make_ca(cls.certs)
		cls.cert, cls.key = make_cert(cls.ca, cls.certs, "doc.test")
		cls.other_cert, cls.other_key = make_cert(cls.ca, cls.certs, "other.test")
		os.chmod(cls.key, 0o600)

	def test_all_good(self):
		self.srv.start()  # works while aimd serve runs
		try:
			r, problems, oks = doctor(self.srv, "--tls-cert", self.cert, "--tls-key", self.key)
		finally:
			self.srv.stop()
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertEqual(problems, [])
		checks = [l.split(":")[1].strip() for l in oks]
		self.assertEqual(checks, ["database", "integrity", "config", "keys", "clock", "tls"],
				 r.stdout)
		self.assertRegex(r.stdout, r"ok: database: .*schema version \d+ \(the latest\)")
		self.assertIn("domain doc.test, base URL https://doc.test", r.stdout)
		self.assertIn("ok: tls: %s names doc.test" % self.cert, r.stdout)
		self.assertIn("the key %s matches it" % self.key, r.stdout)
		self.assertIn("after the build day", r.stdout)
		self.assertIn("monotonic clock", r.stdout)
		# Without TLS files the check is skipped, said so, and all is well.
		r, problems, _ = doctor(self.srv)
		self.assertEqual(r.returncode, 0, r.stdout)
		self.assertIn("skipped: tls:", r.stdout)

	def test_one_line_per_problem(self):
		ca_key = os.path.join(self.srv.data, "ca", "ca-1.key")
		os.chmod(ca_key, 0o644)
		os.chmod(self.srv.data, 0o755)
		left = os.path.join(self.srv.data, "notes.txt")
		with open(left, "w") as fh:
			fh.write("an operator's file\n")
		os.chmod(left, 0o604)
		try:
			# The key of doc.test with the certificate of other.test.
			r, problems, _ = doctor(self.srv, "--tls-cert", self.other_cert,
						"--tls-key", self.key)
		finally:
			os.chmod(ca_key, 0o600)
			os.chmod(self.srv.data, 0o700)
			os.unlink(left)
		self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
		self.assertEqual(len(problems), 5, r.stdout)
		self.assertIn("problem: keys: %s has mode 0755, want 0700" % self.srv.data, problems[0])
		self.assertIn("problem: keys: %s has mode 0604, want 0600" % left, problems[1])
		self.assertIn("problem: keys: %s has mode 0644, want 0600" % ca_key, problems[2])
		self.assertIn("the key %s is not the key of the certificate %s" %
			      (self.key, self.other_cert), problems[3])
		self.assertIn("does not name doc.test", problems[4])
		self.assertNotIn("ok: keys", r.stdout)
		self.assertNotIn("ok: tls", r.stdout)
		# An expired certificate; its key open to others.
		cert, key = expired_cert(os.path.join(self.srv.tmp, "old"), "doc.test")
		os.chmod(key, 0o640)
		r, problems, _ = doctor(self.srv, "--tls-cert", cert, "--tls-key", key)
		self.assertEqual(r.returncode, 1, r.stdout)
		self.assertEqual(problems, [
			"problem: tls: the key %s has mode 0640, want 0600" % key,
			"problem: tls: the certificate %s expired at 2020-02-01T00:00:00Z" % cert], r.stdout)

	def test_database_problems(self):
		srv = self.server(domain="doc2.test")
		tok = srv.add_user("bob")
		srv.start()
		for i in range(3):
			self.assertEqual(srv.post("/users/bob/outbox", note("n%d" % i), token=tok)[0], 201)
		srv.stop()
		latest = schema_version(db_file(srv))
		c = sqlite3.connect(db_file(srv))
		c.execute("DELETE FROM schema_version WHERE version = ?", (latest,))
		c.commit()
		c.close()
		r, problems, _ = doctor(srv)
		self.assertEqual(r.returncode, 1, r.stdout)
		self.assertEqual(len(problems), 1, r.stdout)
		self.assertIn("schema version %d, this aimd's is %d: run aimd migrate" %
			      (latest - 1, latest), problems[0])
		self.assertIn(db_file(srv), problems[0])
		c = sqlite3.connect(db_file(srv))
		c.execute("INSERT INTO schema_version(version) VALUES (?)", (latest + 1,))
		c.commit()
		c.close()
		r, problems, _ = doctor(srv)
		self.assertEqual(len(problems), 1, r.stdout)
		self.assertIn("newer than this aimd knows (%d)" % latest, problems[0])
		damage(db_file(srv), "activities")
		r, problems, _ = doctor(srv)
		self.assertEqual(r.returncode, 1, r.stdout)
		self.assertTrue(any(p.startswith("problem: integrity: %s is damaged" % db_file(srv))
				    for p in problems), r.stdout)
		self.assertNotIn("ok: integrity", r.stdout)

	def test_clock_behind_the_database(self):
		srv = self.server(domain="doc3.test")
		srv.add_user("carol")
		# a record written "tomorrow": the clock went back since
		c = sqlite3.connect(db_file(srv))
		c.execute("UPDATE users SET created = strftime('%s', 'now') + 86400 WHERE name = 'carol'")
		c.commit()
		c.close()
		r, problems, _ = doctor(srv)
		self.assertEqual(r.returncode, 1, r.stdout)
		self.assertEqual(len(problems), 1, r.stdout)
		self.assertRegex(problems[0], r"^problem: clock: the wall clock says \S+, behind the "
				 r"newest time written in the database \(\S+\): it went back$")
		self.assertNotIn("ok: clock", r.stdout)

	def test_unreachable_postgres_no_password_shown(self):
		d = os.path.join(self.srv.tmp, "pgdown")
		os.mkdir(d, 0o700)
		store = os.path.join(d, "store")
		with open(store, "w") as fh:
			fh.write("postgresql://aim:s3cretpw@127.0.0.1:1/aim?password=s3cretpw2"
				 "&connect_timeout=2\n")
		os.chmod(store, 0o600)
		r = run_aimd("doctor", "--data", d)
		self.assertEqual(r.returncode, 1, r.stdout)
		lines = r.stdout.splitlines()
		self.assertTrue(all(l.startswith(("ok: ", "problem: ", "skipped: ")) for l in lines),
				r.stdout)
		problems = [l for l in lines if l.startswith("problem: ")]
		self.assertEqual(len(problems), 1, r.stdout)
		self.assertIn("problem: database: postgresql://aim@127.0.0.1:1/aim: ", problems[0])
		for cmd in (("doctor", "--data", d), ("migrate", "--data", d),
			    ("export", "--data", d, os.path.join(d, "x.jsonl"))):
			r = run_aimd(*cmd)
			self.assertEqual(r.returncode, 1, cmd)
			self.assertNotIn("s3cretpw", r.stdout + r.stderr, cmd)

	def test_usage(self):
		self.assertEqual(run_aimd("doctor").returncode, 2)
		self.assertEqual(run_aimd("doctor", "--data", self.srv.data, "--tls-cert", self.cert)
				 .returncode, 2)
		r, problems, _ = doctor(self.srv, "--tls-key", "x",
					"--tls-cert", "/nonexistent.crt")
		self.assertEqual(r.returncode, 1)
		self.assertTrue(any("/nonexistent.crt" in p for p in problems), r.stdout)
		r = run_aimd("doctor", "--data", "/nonexistent-aim-dir")
		self.assertEqual(r.returncode, 1)
		self.assertIn("problem: config: /nonexistent-aim-dir is not a directory", r.stdout)


if __name__ == "__main__":
	unittest.main(verbosity=2)
