#!/usr/bin/env python3
"""A provider moves from SQLite to PostgreSQL (issue 15): `aimd export` of a
SQLite data directory, `aimd import --store postgresql://...` into a new one,
and the PostgreSQL server serves the same actors with the same keys, the
same inboxes and outboxes, the same tokens; then it goes on storing."""

import os
import shutil
import unittest
import uuid

import aimtest
from aimtest import AimTestCase, AS_PUBLIC

from test_pg_serve import PGServer, Base, conninfo, psql, with_schema


class Migrate(AimTestCase):
	def setUp(self):
		if not conninfo():
			raise unittest.SkipTest("AIM_TEST_PG is not set (tests/postgres/tests.cmake sets it)")
		self.schema = "mig_" + uuid.uuid4().hex[:12]
		psql('CREATE SCHEMA "%s";' % self.schema)
		self.tmp = aimtest.tempfile.mkdtemp(prefix="aimtest-pgm-")

	def tearDown(self):
		if not aimtest.keep_tmp():
			shutil.rmtree(self.tmp, ignore_errors=True)
		psql('DROP SCHEMA "%s" CASCADE;' % self.schema)

	def test_sqlite_to_postgres(self):
		old = aimtest.Server(domain="m.test")
		self.addCleanup(old.cleanup)
		ta = old.add_user("alice")
		tb = old.add_user("bob")
		old.start()
		act = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Create",
		       "to": [old.actor("bob")],
		       "object": {"type": "Note", "content": "written on SQLite",
				  "to": [old.actor("bob")]}}
		st, _, _ = old.post("/users/alice/outbox", act, token=ta)
		self.assertEqual(st, 201)
		st, _, actor_before = old.get("/users/alice")
		self.assertEqual(st, 200)
		old.stop()
		dump = os.path.join(self.tmp, "m.export")
		r = aimtest.run_aimd("export", "--data", old.data, dump)
		self.assertEqual(r.returncode, 0, r.stderr)
		new_dir = os.path.join(self.tmp, "pg")
		loc = with_schema(conninfo(), self.schema)
		r = aimtest.run_aimd("import", "--data", new_dir, "--store", loc, dump)
		self.assertEqual(r.returncode, 0, r.stderr)
		with open(os.path.join(new_dir, "store")) as f:
			self.assertEqual(f.read().strip(), loc)
		self.assertFalse(os.path.exists(os.path.join(new_dir, "aim.db")))
		# the same BASE: the new server takes the old one's port
		res, old.reservation = old.reservation, None
		srv = PGServer.__new__(PGServer)
		Base.procs = []
		Base._adopt.__func__(Base, srv, new_dir, (old.port, res), "both")
		srv.domain = "m.test"
		srv.tokens = {"alice": ta, "bob": tb}
		self.addCleanup(srv.cleanup)
		srv.start()
		st, _, actor_after = srv.get("/users/alice")
		self.assertEqual(st, 200)
		self.assertEqual(actor_after["id"], actor_before["id"])
		self.assertEqual(actor_after["publicKey"], actor_before["publicKey"])
		st, _, page = srv.get("/users/bob/inbox?page=true", token=tb)
		self.assertEqual(st, 200, page)
		texts = [it["object"]["content"] for it in page.get("orderedItems", [])
			 if isinstance(it.get("object"), dict)]
		self.assertIn("written on SQLite", texts)
		# and it goes on: a new note, stored in PostgreSQL
		act["object"]["content"] = "written on PostgreSQL"
		st, _, _ = srv.post("/users/alice/outbox", act, token=ta)
		self.assertEqual(st, 201)
		out = psql("SET search_path = \"%s\"; SELECT COUNT(*) FROM activities"
			   " WHERE json LIKE '%%written on%%';" % self.schema)
		self.assertIn("2", out)


if __name__ == "__main__":
	aimtest.main()
