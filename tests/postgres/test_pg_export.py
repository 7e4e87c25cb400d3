#!/usr/bin/env python3
"""A provider moves from SQLite to PostgreSQL (issue 15, the migration test):
a domain served from SQLite with users, posts, a follow, a device with
KeyPackages and a channel is exported while serving, imported with
`aimd import --store postgresql://...` into a fresh schema, and served from
there: the same actors, collections, inboxes, KeyPackages, channel and
deliveries, the same tokens, the channel goes on; `aimd doctor` finds the
PostgreSQL data directory sound; and back: an export of the PostgreSQL
store imports into SQLite with the same rows.

Needs the throw-away cluster of tests/postgres/tests.cmake (AIM_TEST_PG =
"@FILE" naming its conninfo, or a conninfo URI).
"""

import json
import os
import shutil
import subprocess
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, os.path.join(HERE, "..", "channels"))
sys.path.insert(0, os.path.join(HERE, "..", "identity"))
import kptest
from aimtest import AimTestCase, note, run_aimd
from chantest import Mls, obj
from fedtest import wait_for

AS_CTX = "https://www.w3.org/ns/activitystreams"
MLSCTX = "https://purl.archive.org/socialweb/mls"
JSON = "application/json"


def conninfo():
	v = os.environ.get("AIM_TEST_PG", "")
	if v.startswith("@"):
		with open(v[1:]) as f:
			v = f.read().strip()
	return v


def psql(sql):
	r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo(), "-c", sql],
			   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
	if r.returncode != 0:
		raise RuntimeError("psql %s: %s" % (sql, r.stderr))
	return r.stdout


def with_schema(uri, schema):
	return uri + ("&" if "?" in uri else "?") + "options=-csearch_path%3D" + schema


class SqliteToPostgres(AimTestCase):
	@classmethod
	def setUpClass(cls):
		if not conninfo():
			raise unittest.SkipTest("AIM_TEST_PG is not set (tests/postgres/tests.cmake sets it)")
		cls.schema = "mv_" + uuid.uuid4().hex[:12]
		psql('CREATE SCHEMA "%s";' % cls.schema)
		cls.addClassCleanup(psql, 'DROP SCHEMA "%s" CASCADE;' % cls.schema)
		cls.srv = cls.server(domain="mv.test", extra_args=("--hub-basic-credentials",))
		for u in ("alice", "bob"):
			cls.srv.add_user(u)
		cls.srv.start()
		cls.mls = Mls()
		cls.addClassCleanup(cls.mls.close)

	def post(self, user, act):
		return self.srv.post("/users/%s/outbox" % user, act, token=self.srv.tokens[user])

	def get(self, path, user=None):
		st, _, doc = self.srv.get(path, token=self.srv.tokens[user] if user else None)
		self.assertEqual(st, 200, "%s: %d %r" % (path, st, doc))
		return doc

	def snapshot(self, chan):
		out = {}
		for p, who in (("/users/alice", None), ("/users/bob", None), ("/actor", None),
			       ("/users/alice/outbox?page=true", None),
			       ("/users/alice/followers?page=true", None),
			       ("/users/bob/following?page=true", None),
			       ("/users/bob/inbox?page=true", "bob"),
			       ("/users/alice/inbox?page=true", "alice"),
			       ("/users/bob/keyPackages?page=true", None),
			       ("/users/bob/keyPackages/stock", "bob"), ("/users/bob/devices", "bob"),
			       (chan, None), (chan + "/followers", None),
			       (chan + "/outbox?after=0", "alice")):
			out[(p, who)] = self.get(p, who)
		st, _, ca = self.srv.get("/.well-known/aim-ca", accept=JSON)
		self.assertEqual(st, 200)
		out["ca"] = ca
		r = run_aimd("deliveries", "--data", self.srv.data)
		self.assertEqual(r.returncode, 0, r.stderr)
		out["deliveries"] = sorted((d["id"], d["activity"], d["inbox"], d["actor"], d["state"])
					   for d in map(json.loads, r.stdout.splitlines()))
		return out

	def channel(self):
		al = "alice-" + uuid.uuid4().hex[:8]
		self.mls("create_client", suite=1, identity="acct:alice@mv.test", name=al)
		self.mls("create_group", client=al)
		kp = self.mls("create_client", suite=1, identity="acct:bob@mv.test",
			      name="bob-" + uuid.uuid4().hex[:8])["key_package"]
		cm = self.mls("commit", client=al, add=[kp], public=True, tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		st, hd, doc = self.post("alice", {
			"@context": [AS_CTX, MLSCTX], "type": "Create",
			"object": {"type": "Group", "name": "moving", "aim:policy": {"membership": "owner"}},
			"aim:members": [self.srv.actor("bob")],
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		return hd.get("location"), al

	def send(self, chan, client, text):
		m = self.mls("send", client=client, plaintext=text)
		return self.post("alice", {"type": "Create", "to": [chan],
					   "object": obj("PrivateMessage", m["message"])})

	def rows(self, path):
		with open(path) as fh:
			return sorted(l for l in fh if l.startswith('{"table"'))

	def test_sqlite_to_postgres_and_back(self):
		srv = self.srv
		self.assertEqual(self.post("bob", {"@context": AS_CTX, "type": "Follow",
						   "object": srv.actor("alice")})[0], 201)
		wait_for(lambda: srv.actor("bob") in self.get("/users/alice/followers?page=true")
			 .get("orderedItems", []), what="bob following alice")
		self.assertEqual(self.post("alice", note("before the move"))[0], 201)
		self.assertEqual(self.post("alice", note("for bob", to=[srv.actor("bob")]))[0], 201)
		dev = kptest.Device(srv, "bob", "phone")
		self.addCleanup(dev.cleanup)
		dev.upload(n=3, last_resort=True)
		chan, al = self.channel()
		st, _, doc = self.send(chan, al, "in the channel")
		self.assertEqual(st, 201, doc)
		before = self.snapshot(chan)
		# export from SQLite while serving; import into PostgreSQL
		path = os.path.join(srv.tmp, "sqlite.jsonl")
		r = run_aimd("export", "--data", srv.data, path)
		self.assertEqual(r.returncode, 0, r.stderr)
		srv.stop()
		shutil.move(srv.data, srv.data + ".sqlite")
		location = with_schema(conninfo(), self.schema)
		r = run_aimd("import", "--data", srv.data, "--store", location, path)
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertTrue(os.path.exists(os.path.join(srv.data, "store")))
		self.assertFalse(os.path.exists(os.path.join(srv.data, "aim.db")))
		r = run_aimd("doctor", "--data", srv.data)
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertIn("(postgres", r.stdout)
		# the same import again: the database holds the domain now
		other = os.path.join(srv.tmp, "again")
		r = run_aimd("import", "--data", other, "--store", location, path)
		self.assertEqual(r.returncode, 1, r.stdout)
		self.assertFalse(os.path.exists(os.path.join(other, "store")))
		srv.start()
		after = self.snapshot(chan)
		for k in before:
			self.assertEqual(after[k], before[k], k)
		st, _, doc = self.send(chan, al, "in the channel, on PostgreSQL")
		self.assertEqual(st, 201, doc)
		self.assertEqual(doc["aim:sequence"], 2)
		self.assertEqual(self.post("alice", note("after the move"))[0], 201)
		# and back: PostgreSQL -> SQLite gives the same rows
		pg_path = os.path.join(srv.tmp, "pg.jsonl")
		r = run_aimd("export", "--data", srv.data, pg_path)
		self.assertEqual(r.returncode, 0, r.stderr)
		with open(pg_path) as fh:
			self.assertEqual(json.loads(fh.readline())["backend"], "postgres")
		back = os.path.join(srv.tmp, "back")
		r = run_aimd("import", "--data", back, pg_path)
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		again = os.path.join(srv.tmp, "back.jsonl")
		r = run_aimd("export", "--data", back, again)
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertEqual(self.rows(again), self.rows(pg_path))
		srv.stop()


if __name__ == "__main__":
	unittest.main(verbosity=2)
