"""Operations (issue 15 point 3, issue 16's damaged database): `aimd migrate`
applies pending migrations and says which, says so when there is none, and
refuses a database newer than the binary; `aimd serve` checks the
database's integrity at start-up and refuses a damaged one with a message
naming the file (--skip-integrity-check starts anyway)."""

import os
import re
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import AimTestCase, Server, ServerError, note, run_aimd


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


if __name__ == "__main__":
	unittest.main(verbosity=2)
