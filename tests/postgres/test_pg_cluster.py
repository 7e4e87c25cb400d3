#!/usr/bin/env python3
"""One domain, two processes, one PostgreSQL database, a process killed
under load (issue 15).

a.test is served by two `aimd serve` processes sharing one PostgreSQL
schema, behind a TCP balancer (TLS passes through; a.test's BASE is the
balancer's port) that spreads connections over the live ones; b.test runs
alone on SQLite; both speak HTTPS with certificates of one test CA. alice
(a.test) hosts a channel with xena (a.test) and bob (b.test). alice sends
messages, alternating between the two processes; in the middle one process
is killed with SIGKILL (its delivery leases die with it), later started
again. Then:
  - every message a process acknowledged (201) is in the channel's outbox,
    at consecutive sequence numbers, and reaches bob's and xena's inboxes
    exactly once each, in order (nothing lost, nothing twice);
  - bob's MLS client decrypts every one of them in order (one history, no
    fork);
  - two Commits for one epoch sent at once to the two processes: exactly
    one is accepted (no epoch forked).
"""

import os
import shutil
import socket
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "channels"))
import aimtest
from aimtest import AimTestCase
from fedtest import wait_for, inbox_items
from chantest import Mls, obj, unobj

from test_pg_serve import PGServer, Base, conninfo, psql, with_schema

MLSCTX = "https://purl.archive.org/socialweb/mls"
N_BEFORE, N_DURING, N_AFTER = 8, 8, 6


class Balancer:
	"""TCP round robin over the targets that accept a connection."""

	def __init__(self, port_res, targets):
		self.port, self.res = port_res
		self.res.close()
		self.targets = targets
		self.i = 0
		self.lsock = socket.socket()
		self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.lsock.bind(("127.0.0.1", self.port))
		self.lsock.listen(128)
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
			u = None
			for _ in range(len(self.targets)):
				t = self.targets[self.i % len(self.targets)]
				self.i += 1
				try:
					u = socket.create_connection(("127.0.0.1", t), timeout=2)
					u.settimeout(None)
					break
				except OSError:
					u = None
			if u is None:
				c.close()
				continue
			threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
			threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

	def close(self):
		self.lsock.close()


class Cluster(AimTestCase):
	@classmethod
	def setUpClass(cls):
		if not conninfo():
			raise unittest.SkipTest("AIM_TEST_PG is not set (tests/postgres/tests.cmake sets it)")
		cls.schema = "clu_" + uuid.uuid4().hex[:12]
		psql('CREATE SCHEMA "%s";' % cls.schema)
		cls.tmp = aimtest.tempfile.mkdtemp(prefix="aimtest-pgc-")
		cls.ca = aimtest.make_ca(os.path.join(cls.tmp, "ca"))
		a_tls = aimtest.make_cert(cls.ca, os.path.join(cls.tmp, "ca"), "a.test")
		b_tls = aimtest.make_cert(cls.ca, os.path.join(cls.tmp, "ca"), "b.test")
		lb_res = aimtest.reserve_port()
		p1, p2 = aimtest.reserve_port(), aimtest.reserve_port()
		pb = aimtest.reserve_port()
		cls.base = "https://a.test:%d" % lb_res[0]
		first = os.path.join(cls.tmp, "a1")
		r = aimtest.run_aimd("init", "--data", first, "--domain", "a.test", "--url", cls.base,
				     "--store", with_schema(conninfo(), cls.schema))
		assert r.returncode == 0, r.stderr
		cls.tokens = {}
		for name in ("alice", "xena", "x1", "x2"):
			r = aimtest.run_aimd("user", "add", "--data", first, name)
			assert r.returncode == 0, r.stderr
			cls.tokens[name] = r.stdout.split()[-1]
		shutil.copytree(first, os.path.join(cls.tmp, "a2"))
		cls.b = aimtest.Server(domain="b.test", port=pb[0], url="https://b.test:%d" % pb[0],
				       tls=b_tls, ca=cls.ca, reservation=pb[1])
		cls.addClassCleanup(cls.b.cleanup)
		cls.b.add_user("bob")
		fed_args = ["--ca-file", cls.ca.cert, "--allow-private-addresses",
			    "--hub-basic-credentials",
			    "--connect-to", "a.test:%d:127.0.0.1:%d" % (lb_res[0], lb_res[0]),
			    "--connect-to", "b.test:%d:127.0.0.1:%d" % (pb[0], pb[0])]
		cls.b.extra_args = list(fed_args)
		cls.procs = []
		for i, pr in enumerate((p1, p2)):
			srv = PGServer.__new__(PGServer)
			Base._adopt.__func__(cls, srv, os.path.join(cls.tmp, "a%d" % (i + 1)), pr, "both")
			srv.tls = a_tls
			srv.scheme = "https"
			srv.ctx = cls.ca.ssl_context()
			srv.url = "https://a.test:%d" % pr[0]
			srv.base = cls.base
			srv.extra_args = ["--tls-cert", a_tls[0], "--tls-key", a_tls[1]] + fed_args
			srv.tokens = dict(cls.tokens)
			cls.procs.append(srv)
		cls.lb = Balancer(lb_res, [p1[0], p2[0]])
		for srv in cls.procs:
			srv.start()
		cls.b.start()
		cls.mls = Mls()
		cls.addClassCleanup(cls.mls.close)

	@classmethod
	def tearDownClass(cls):
		for srv in getattr(cls, "procs", []):
			try:
				srv.stop()
			except aimtest.ServerError:
				pass
			srv.release_port()
		cls.lb.close()
		if not aimtest.keep_tmp():
			shutil.rmtree(cls.tmp, ignore_errors=True)
		try:
			psql('DROP SCHEMA "%s" CASCADE;' % cls.schema)
		except RuntimeError:
			pass

	def client(self, who, dom):
		name = "%s-%s" % (who, uuid.uuid4().hex[:8])
		r = self.mls("create_client", suite=1, identity="acct:%s@%s" % (who, dom), name=name)
		return name, r["key_package"]

	def post(self, srv, user, act):
		return srv.post("/users/%s/outbox" % user, act, token=self.tokens.get(user) or
				srv.tokens[user])

	def announces(self, srv, user, chan):
		return sorted((it for it in inbox_items(srv, user) if isinstance(it, dict) and
			       it.get("type") == "Announce" and it.get("actor") == chan),
			      key=lambda it: it["aim:sequence"])

	def welcome(self, srv, user, chan):
		return wait_for(lambda: [it for it in inbox_items(srv, user) if isinstance(it, dict) and
					 it.get("type") == "Create" and it.get("actor") == chan and
					 (it.get("object") or {}).get("type") == "Welcome"],
				timeout=40, what="Welcome for %s" % user)[0]

	def test_kill_one_process_under_load(self):
		a1, a2 = self.procs
		b = self.b
		al, _ = self.client("alice", "a.test")
		self.mls("create_group", client=al)
		bo, kp_b = self.client("bob", "b.test")
		xe, kp_x = self.client("xena", "a.test")
		cm = self.mls("commit", client=al, add=[kp_b, kp_x], public=True, tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		st, hd, doc = self.post(a1, "alice", {
			"@context": ["https://www.w3.org/ns/activitystreams", MLSCTX],
			"type": "Create",
			"object": {"type": "Group", "name": "load", "aim:policy": {"membership": "members"}},
			"aim:members": ["https://b.test:%d/users/bob" % b.port, self.base + "/users/xena"],
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		chan = hd.get("location") or hd.get("Location")
		self.mls("join", client=bo, welcome=unobj(self.welcome(b, "bob", chan)["object"]))
		self.mls("join", client=xe, welcome=unobj(self.welcome(a2, "xena", chan)["object"]))

		acked = {}	# sequence -> text
		uncertain = 0

		def send(i, srv):
			nonlocal uncertain
			text = "load-%d-%s" % (i, uuid.uuid4().hex[:6])
			m = self.mls("send", client=al, plaintext=text)
			act = {"type": "Create", "to": [chan],
			       "object": obj("PrivateMessage", m["message"])}
			for target in (srv, a2 if srv is a1 else a1):
				try:
					st, _, doc = self.post(target, "alice", act)
				except (OSError, aimtest.http.client.HTTPException):
					# refused before anything was stored: the other process
					if not target.running():
						continue
					uncertain += 1
					return
				if st == 201:
					acked[doc["aim:sequence"]] = text
					return
				if st in (502, 503):
					continue
				self.fail("message %d: %d %r" % (i, st, doc))
			uncertain += 1

		for i in range(N_BEFORE):
			send(i, self.procs[i % 2])
		# under load: a1 dies with leases and requests in flight
		killer = threading.Timer(0.15, a1.kill9)
		killer.start()
		for i in range(N_BEFORE, N_BEFORE + N_DURING):
			send(i, self.procs[i % 2])
		killer.join()
		a1.start()
		for i in range(N_BEFORE + N_DURING, N_BEFORE + N_DURING + N_AFTER):
			send(i, self.procs[i % 2])
		self.assertGreaterEqual(len(acked), N_BEFORE + N_AFTER)
		self.assertLessEqual(uncertain, 2)

		# the hub's outbox: consecutive sequences, every acknowledged one there
		st, _, ob = aimtest.get_json(chan + "/outbox?after=0", token=self.tokens["alice"],
					     ctx=a2.ctx)
		self.assertEqual(st, 200, ob)
		seqs = sorted(it["aim:sequence"] for it in ob["orderedItems"])
		self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
		for s in acked:
			self.assertIn(s, seqs)
		last = seqs[-1]

		# each member's inbox: every sequence exactly once (bob's across
		# the federation, after the dead process's leases ran out)
		for srv, user in ((b, "bob"), (a2, "xena")):
			def complete():
				got = [it["aim:sequence"] for it in self.announces(srv, user, chan)
				       if it["object"].get("type") == "Create"]
				return got if got and got[-1] >= last else None
			got = wait_for(complete, timeout=60, what="every Announce at %s" % user)
			self.assertEqual(got, list(range(1, last + 1)), "%s: lost or twice" % user)

		# one history: bob decrypts every message in order
		anns = [it for it in self.announces(b, "bob", chan)
			if it["object"].get("type") == "Create"]
		for it in anns:
			r = self.mls("process", client=bo, message=unobj(it["object"]["object"]))
			s = it["aim:sequence"]
			if s in acked:
				self.assertEqual(r.get("text"), acked[s], "sequence %d" % s)

		# no epoch forked: two Commits for one epoch, one to each process
		st, _, g = aimtest.get_json(chan, ctx=a2.ctx)
		epoch = g["aim:epoch"]
		ka = self.client("x1", "a.test")[1]
		kx = self.client("x2", "a.test")[1]
		ca = self.mls("commit", client=al, add=[ka], public=True, pending=True,
			      tree_in_welcome=True)
		cx = self.mls("commit", client=xe, add=[kx], public=True, pending=True,
			      tree_in_welcome=True)
		res = {}

		def commit(who, srv, c, target):
			res[who] = self.post(srv, who, {
				"type": "Add", "object": [self.base + "/users/" + target],
				"target": chan + "/followers",
				"instrument": obj("PublicMessage", c["commit"]),
				"aim:welcome": obj("Welcome", c["welcome"])})[0]

		ts = [threading.Thread(target=commit, args=("alice", a1, ca, "x1")),
		      threading.Thread(target=commit, args=("xena", a2, cx, "x2"))]
		for t in ts:
			t.start()
		for t in ts:
			t.join()
		self.assertEqual(sorted(res.values()), [201, 409], res)
		st, _, g = aimtest.get_json(chan, ctx=a1.ctx)
		self.assertEqual(g["aim:epoch"], epoch + 1)


if __name__ == "__main__":
	aimtest.main()
