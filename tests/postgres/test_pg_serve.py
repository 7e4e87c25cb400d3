#!/usr/bin/env python3
"""Several aimd processes serving one domain from one PostgreSQL database
(issue 15): `aimd init --store`, a second process from a copy of the data
directory, --role http|deliver, pushes across processes (LISTEN/NOTIFY),
and a lost database: 503, nothing acknowledged, reconnection.

Needs the throw-away cluster of tests/postgres/tests.cmake (AIM_TEST_PG =
"@FILE" naming its conninfo, or a conninfo URI); each test class works in a
schema of its own.
"""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest
import uuid

import aimtest
from aimtest import AimTestCase, AS_PUBLIC


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
	# application_name tells this test's connections from those of the
	# tests running beside it on the same cluster and database
	return (uri + ("&" if "?" in uri else "?") + "options=-csearch_path%3D" + schema
		+ "&application_name=" + schema)


class Proxy:
	"""A TCP forwarder to the database that the test can cut and restore."""

	def __init__(self, host, port):
		self.target = (host, port)
		self.lsock = socket.socket()
		self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.lsock.bind(("127.0.0.1", 0))
		self.lsock.listen(64)
		self.port = self.lsock.getsockname()[1]
		self.up = True
		self.conns = []
		self.mu = threading.Lock()
		threading.Thread(target=self._accept, daemon=True).start()

	def _pipe(self, a, b):
		try:
			while True:
				d = a.recv(65536)
				if not d:
					break
				b.sendall(d)
		except OSError:
			pass
		for s in (a, b):
			try:
				s.close()
			except OSError:
				pass

	def _accept(self):
		while True:
			try:
				c, _ = self.lsock.accept()
			except OSError:
				return
			if not self.up:
				c.close()
				continue
			try:
				u = socket.create_connection(self.target)
			except OSError:
				c.close()
				continue
			with self.mu:
				self.conns += [c, u]
			threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
			threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

	def cut(self):
		self.up = False
		with self.mu:
			for s in self.conns:
				try:
					s.shutdown(socket.SHUT_RDWR)
				except OSError:
					pass
				s.close()
			self.conns = []

	def restore(self):
		self.up = True


class PGServer(aimtest.Server):
	"""An aimtest.Server over an existing data directory (Base._adopt); a
	--role deliver process is ready when it says so (it has no HTTP)."""

	def _answers(self):
		if "delivering (--role deliver" in self.log_current():
			return True
		return super()._answers()


class Base(AimTestCase):
	"""Two aimd processes for a.test on one PostgreSQL schema."""

	roles = ("both", "http")

	@classmethod
	def setUpClass(cls):
		if not conninfo():
			raise unittest.SkipTest("AIM_TEST_PG is not set (tests/postgres/tests.cmake sets it)")
		cls.schema = "srv_" + uuid.uuid4().hex[:12]
		psql('CREATE SCHEMA "%s";' % cls.schema)
		cls.tmp = aimtest.tempfile.mkdtemp(prefix="aimtest-pg-")
		cls.location = cls.store_location()
		cls.procs = []
		ports = [aimtest.reserve_port() for _ in cls.roles]
		base = "http://127.0.0.1:%d" % ports[0][0]
		first = os.path.join(cls.tmp, "a1")
		r = aimtest.run_aimd("init", "--data", first, "--domain", "a.test", "--url", base,
				     "--store", cls.location)
		assert r.returncode == 0, r.stderr
		for i, role in enumerate(cls.roles):
			d = os.path.join(cls.tmp, "a%d" % (i + 1))
			if i:
				shutil.copytree(first, d)
			srv = PGServer.__new__(PGServer)
			cls._adopt(srv, d, ports[i], role)
			cls.procs.append(srv)
		cls.a1 = cls.procs[0]
		cls.tokens = {}
		for name in ("alice", "bob"):
			r = aimtest.run_aimd("user", "add", "--data", first, name)
			assert r.returncode == 0, r.stderr
			cls.tokens[name] = r.stdout.split()[-1]
		for srv in cls.procs:
			srv.tokens = dict(cls.tokens)
			srv.start()

	@classmethod
	def store_location(cls):
		return with_schema(conninfo(), cls.schema)

	@classmethod
	def _adopt(cls, srv, data, port_res, role):
		"""An aimtest.Server over an existing data directory."""
		port, res = port_res
		srv.domain = "a.test"
		srv.ctx = None
		srv.reservation = res
		srv.port = port
		srv.tls = None
		srv.scheme = "http"
		srv.listen_host = "127.0.0.1"
		srv.url = "http://127.0.0.1:%d" % port
		srv.base = cls.procs[0].url if cls.procs else srv.url
		srv.extra_args = ["--role", role]
		srv.env = dict(os.environ)
		srv.tmp = os.path.join(os.path.dirname(data), "log-" + os.path.basename(data))
		os.makedirs(srv.tmp, exist_ok=True)
		srv.data = data
		srv.proc = None
		srv.tokens = {}
		srv.runs = 0
		srv.out_path = srv.err_path = None

	@classmethod
	def tearDownClass(cls):
		for srv in getattr(cls, "procs", []):
			try:
				srv.stop()
			finally:
				srv.release_port()
		if not aimtest.keep_tmp():
			shutil.rmtree(cls.tmp, ignore_errors=True)
		try:
			psql('DROP SCHEMA "%s" CASCADE;' % cls.schema)
		except RuntimeError:
			pass

	def note_to(self, srv, author, rcpt, text):
		act = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Create",
		       "to": [self.a1.actor(rcpt)],
		       "object": {"type": "Note", "content": text, "to": [self.a1.actor(rcpt)]}}
		st, hd, body = srv.post("/users/%s/outbox" % author, act, token=self.tokens[author])
		return st, hd, body

	def inbox_texts(self, srv, user):
		st, _, page = srv.get("/users/%s/inbox?page=true" % user, token=self.tokens[user])
		self.assertEqual(st, 200)
		out = []
		for it in page.get("orderedItems", []):
			obj = it.get("object") if isinstance(it, dict) else None
			if isinstance(obj, dict):
				out.append(obj.get("content"))
		return out


class SharedDomain(Base):
	def test_1_one_domain_two_processes(self):
		"""What one process stores the other serves: the database is shared."""
		a1, a2 = self.procs
		st, _, _ = self.note_to(a2, "alice", "bob", "from the second process")
		self.assertEqual(st, 201)
		self.assertIn("from the second process", self.inbox_texts(a1, "bob"))
		st, _, _ = self.note_to(a1, "alice", "bob", "from the first process")
		self.assertEqual(st, 201)
		self.assertIn("from the first process", self.inbox_texts(a2, "bob"))
		# both processes answer for the same actor, under the one BASE
		st, _, actor = a2.get("/users/alice")
		self.assertEqual(st, 200)
		self.assertEqual(actor["id"], a1.actor("alice"))

	def test_2_push_to_a_stream_on_the_other_process(self):
		"""A stream open on process 2 gets what process 1 stored at once (the
		commit's NOTIFY), not at its next keepalive 15 s later."""
		a1, a2 = self.procs
		sse = aimtest.SSEClient(a2.url + "/users/bob/inbox", token=self.tokens["bob"])
		try:
			self.assertEqual(sse.status, 200)
			time.sleep(0.3)
			t0 = time.monotonic()
			st, _, _ = self.note_to(a1, "alice", "bob", "pushed across")
			self.assertEqual(st, 201)
			ev = sse.next_event(timeout=5)
			self.assertIsNotNone(ev, "no event on the other process's stream within 5 s")
			self.assertIn("pushed across", ev["data"])
			self.assertLess(time.monotonic() - t0, 5)
		finally:
			sse.close()

	def test_3_connections_killed(self):
		"""The server's connections are killed (a database restart, a
		failover): the pool replaces them; requests go on."""
		a1, a2 = self.procs
		out = psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
			   " WHERE pid <> pg_backend_pid() AND datname = current_database()"
			   " AND backend_type = 'client backend'"
			   " AND application_name = '%s';" % self.schema)
		killed = [int(l) for l in out.split() if l.strip().isdigit()]
		self.assertTrue(killed and killed[0] > 0, "no connection of the servers killed:\n" + out)
		for srv in (a1, a2):
			ok = False
			for _ in range(3):
				st, _, _ = srv.get("/users/alice")
				if st == 200:
					ok = True
					break
				self.assertEqual(st, 503)
				time.sleep(0.3)
			self.assertTrue(ok, "no recovery after the connections were killed")
		st, _, _ = self.note_to(a1, "alice", "bob", "after the kill")
		self.assertEqual(st, 201)
		self.assertIn("after the kill", self.inbox_texts(a2, "bob"))


class Roles(Base):
	roles = ("http", "deliver")

	def test_roles(self):
		"""--role http serves without delivery workers; --role deliver has no
		HTTP listener, only workers."""
		http, deliver = self.procs
		self.assertTrue(http.wait_log("listening on", 5), http.log_current())
		self.assertTrue(deliver.wait_log("delivering (--role deliver: no HTTP)", 5))
		st, _, _ = http.get("/users/alice")
		self.assertEqual(st, 200)
		with self.assertRaises(OSError):
			socket.create_connection(("127.0.0.1", deliver.port), timeout=2).close()


class LostDatabase(Base):
	"""The only process reaches the database through a proxy the test cuts."""

	roles = ("both",)

	@classmethod
	def store_location(cls):
		uri = conninfo()
		hostport = uri.split("@", 1)[1].split("/", 1)[0]
		host, port = hostport.rsplit(":", 1)
		cls.proxy = Proxy(host, int(port))
		return with_schema(uri.replace(hostport, "127.0.0.1:%d" % cls.proxy.port), cls.schema)

	def test_503_then_reconnect(self):
		a1 = self.a1
		st, _, _ = self.note_to(a1, "alice", "bob", "before")
		self.assertEqual(st, 201)
		self.proxy.cut()
		st, hd, body = self.note_to(a1, "alice", "bob", "while the database is away")
		self.assertEqual(st, 503, body)
		st, _, _ = a1.get("/users/alice")
		self.assertEqual(st, 503)
		self.proxy.restore()
		deadline = time.monotonic() + 15
		while time.monotonic() < deadline:
			st, _, _ = a1.get("/users/alice")
			if st == 200:
				break
			time.sleep(0.2)
		self.assertEqual(st, 200, "no reconnection within 15 s")
		texts = self.inbox_texts(a1, "bob")
		self.assertIn("before", texts)
		# refused with 503: never stored
		self.assertNotIn("while the database is away", texts)
		st, _, _ = self.note_to(a1, "alice", "bob", "after")
		self.assertEqual(st, 201)


if __name__ == "__main__":
	aimtest.main()
