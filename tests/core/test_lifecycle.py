"""Process life: graceful SIGTERM/SIGINT with an SSE client and a slow upload
connected (exit 0 in time), data and keys survive a restart, and kill -9
keeps every acknowledged (201) post. Start-up and shutdown order: a taken
port is refused with one line naming the address before any delivery is
attempted; a second `aimd serve` on the same data directory is refused;
"stopped" is logged only after the delivery workers have finished."""

import os
import http.client
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import (AP_TYPE, AS_PUBLIC, AimTestCase, SSEClient, Server,
		     ServerError, aimd_path, note, request, run_aimd)
from aimpeer import Peer, rsa_key


class LifecycleTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="life.test")
		cls.tok = {n: cls.srv.add_user(n) for n in ("alice", "bob")}
		cls.srv.start()


	def ensure_running(self):
		if not self.srv.running():
			self.srv.proc = None
			self.srv.start()

	def slow_upload(self):
		"""A POST that announced 100000 bytes and sent 1000 so far."""
		s = socket.create_connection(("127.0.0.1", self.srv.port), 10)
		s.sendall(("POST /users/alice/outbox HTTP/1.1\r\nHost: x\r\n"
			   "Authorization: Bearer %s\r\nContent-Type: %s\r\n"
			   "Content-Length: 100000\r\n\r\n" % (self.tok["alice"], AP_TYPE)).encode()
			  + b'{"type": "Note", "content": "' + b"s" * 970)
		return s

	def test_a_sigterm_with_open_connections(self):
		self.ensure_running()
		c = SSEClient(self.srv.url + "/users/bob/inbox", token=self.tok["bob"])
		self.assertEqual(c.status, 200)
		up = self.slow_upload()
		idle = socket.create_connection(("127.0.0.1", self.srv.port), 10)
		try:
			time.sleep(0.3)
			t0 = time.monotonic()
			self.srv.stop(timeout=10)	# asserts exit 0, no sanitizer report
			took = time.monotonic() - t0
			print("shutdown with SSE + slow upload + idle connection: %.2f s" % took)
			self.assertLess(took, 10)
			# the SSE stream ended
			deadline = time.monotonic() + 3
			while not c.closed and time.monotonic() < deadline:
				c.next_event(0.5)
			self.assertTrue(c.closed, "SSE stream still open after exit")
		finally:
			c.close()
			up.close()
			idle.close()
		self.srv.start()

	def test_b_sigint(self):
		self.ensure_running()
		self.srv.signal(signal.SIGINT)
		rc = self.srv.proc.wait(10)
		self.srv.proc = None
		self.assertEqual(rc, 0)
		self.srv.check_sanitizers()
		self.srv.start()

	def test_c_restart_keeps_data(self):
		self.ensure_running()
		st, hd, actor_before = self.srv.get("/users/alice")
		self.assertEqual(st, 200)
		acts = []
		for i in range(3):
			st, hd, a = self.srv.post("/users/alice/outbox",
						  note("persist %d" % i, to=[AS_PUBLIC,
									     self.srv.actor("bob")]),
						  token=self.tok["alice"])
			self.assertEqual(st, 201, a)
			acts.append(a)
		self.srv.restart()
		st, hd, actor_after = self.srv.get("/users/alice")
		self.assertEqual(st, 200)
		self.assertEqual(actor_before["publicKey"], actor_after["publicKey"])
		self.assertEqual(actor_before["assertionMethod"], actor_after["assertionMethod"])
		for a in acts:
			st, hd, got = self.srv.get(a["id"])
			self.assertEqual(st, 200)
			self.assertEqual(got["id"], a["id"])
			st, hd, got = self.srv.get(a["object"]["id"])
			self.assertEqual(st, 200)
			self.assertEqual(got["content"], a["object"]["content"])
		st, hd, coll = self.srv.get("/users/alice/outbox?page=true")
		self.assertEqual(st, 200)
		ids = [i["id"] if isinstance(i, dict) else i for i in coll["orderedItems"]]
		for a in acts:
			self.assertIn(a["id"], ids)
		# bob's inbox and both tokens survived
		st, hd, inbox = self.srv.get("/users/bob/inbox", token=self.tok["bob"])
		self.assertEqual(st, 200)
		self.assertGreaterEqual(inbox["totalItems"], 3)
		st, hd, a = self.srv.post("/users/alice/outbox", note("after restart"),
					  token=self.tok["alice"])
		self.assertEqual(st, 201)
		# a user added while the server is stopped is served after start
		self.srv.stop()
		self.srv.add_user("late")
		self.srv.start()
		st, hd, doc = self.srv.get("/users/late")
		self.assertEqual(st, 200)

	def wait_acked(self, acked, n, timeout=10):
		"""Waits until n posts were acknowledged (before the rate limit
		starts refusing them)."""
		deadline = time.monotonic() + timeout
		while len(acked) < n and time.monotonic() < deadline:
			time.sleep(0.01)

	def writers(self, acked, errors, stop, n=3):
		bob = self.srv.actor("bob")
		def writer(k):
			i = 0
			while not stop.is_set():
				try:
					st, hd, body = request(
						"POST", self.srv.url + "/users/alice/outbox",
						token=self.tok["alice"], timeout=5,
						body=json.dumps(note("load %d-%d" % (k, i),
								     to=[AS_PUBLIC, bob])),
						headers={"Content-Type": AP_TYPE})
				except (OSError, http.client.HTTPException):
					return	# the server is gone
				if st == 201:
					acked.append(hd["location"])
				elif st == 429:
					time.sleep(0.2)
				elif st >= 500 and st != 503:
					errors.append(st)
				i += 1
		threads = [threading.Thread(target=writer, args=(k,)) for k in range(n)]
		for t in threads:
			t.start()
		return threads

	def test_e_sigterm_under_load_keeps_acknowledged(self):
		self.ensure_running()
		acked, errors, stop = [], [], threading.Event()
		threads = self.writers(acked, errors, stop)
		self.wait_acked(acked, 100)	# stop while writes are in flight
		t0 = time.monotonic()
		self.srv.stop(timeout=10)
		print("stop under write load: %.2f s, %d acknowledged" %
		      (time.monotonic() - t0, len(acked)))
		stop.set()
		for t in threads:
			t.join(10)
		self.assertFalse(errors, "5xx while stopping")
		self.assertGreater(len(acked), 0)
		self.srv.start()
		missing = [loc for loc in acked
			   if self.srv.get(loc, token=self.tok["alice"])[0] != 200]
		self.assertEqual(missing, [], "acknowledged posts lost after SIGTERM")
		self.assertEqual(self.missing_in_bob_inbox(acked), set())

	def test_f_sse_resumes_across_restart(self):
		self.ensure_running()
		bob = self.srv.actor("bob")
		c = SSEClient(self.srv.url + "/users/bob/inbox", token=self.tok["bob"])
		try:
			st, hd, a1 = self.srv.post("/users/alice/outbox", note("r1", to=[bob]),
						   token=self.tok["alice"])
			self.assertEqual(st, 201)
			ev = None
			deadline = time.monotonic() + 5
			while time.monotonic() < deadline:
				ev = c.next_event(1)
				if ev and json.loads(ev["data"])["id"] == a1["id"]:
					break
			self.assertIsNotNone(ev)
		finally:
			c.close()
		self.srv.restart()
		st, hd, a2 = self.srv.post("/users/alice/outbox", note("r2", to=[bob]),
					   token=self.tok["alice"])
		self.assertEqual(st, 201)
		c = SSEClient(self.srv.url + "/users/bob/inbox", token=self.tok["bob"],
			      last_event_id=ev["id"])
		try:
			e = c.next_event(5)
			self.assertIsNotNone(e, "nothing replayed after restart")
			self.assertEqual(json.loads(e["data"])["id"], a2["id"])
			self.assertGreater(int(e["id"]), int(ev["id"]))
		finally:
			c.close()

	def test_d_kill9_keeps_acknowledged(self):
		self.ensure_running()
		acked, errors, stop = [], [], threading.Event()
		threads = self.writers(acked, errors, stop)
		self.wait_acked(acked, 100)	# kill while writes are in flight
		self.srv.kill9()
		stop.set()
		for t in threads:
			t.join(10)
		self.assertFalse(errors)
		self.assertGreater(len(acked), 0, "no post acknowledged before the kill")
		print("kill -9 after %d acknowledged posts" % len(acked))
		self.srv.start()
		missing = []
		for loc in acked:
			st, hd, doc = self.srv.get(loc, token=self.tok["alice"])
			if st != 200:
				missing.append((loc, st))
		self.assertEqual(missing, [], "acknowledged posts lost after kill -9")
		self.assertEqual(self.missing_in_bob_inbox(acked), set(),
				 "acknowledged posts missing in the recipient's inbox")

	def missing_in_bob_inbox(self, acked):
		"""acked ids that are not in bob's inbox (delivered in the same
		transaction as the post)."""
		seen = set()
		st, hd, coll = self.srv.get("/users/bob/inbox", token=self.tok["bob"])
		self.assertEqual(st, 200)
		ref = coll["first"]
		while ref:
			st, hd, page = self.srv.get(ref, token=self.tok["bob"])
			self.assertEqual(st, 200)
			seen.update(i["id"] if isinstance(i, dict) else i
				    for i in page["orderedItems"])
			ref = page.get("next")
		return set(acked) - seen

	def test_g_user_added_while_serving(self):
		self.ensure_running()
		tok = self.srv.add_user("carol")
		st, hd, doc = self.srv.get("/users/carol")
		self.assertEqual(st, 200)
		st, hd, a = self.srv.post("/users/carol/outbox", note("hi"), token=tok)
		self.assertEqual(st, 201, a)
		r = self.srv.req("GET", "/.well-known/webfinger?resource=acct:carol@life.test")
		self.assertEqual(r[0], 200)
		# optional command: a new token for an existing user
		res = run_aimd("user", "token", "--data", self.srv.data, "carol")
		if res.returncode == 2:
			return
		self.assertEqual(res.returncode, 0, res.stderr)
		tok2 = res.stdout.split()[-1]
		self.assertNotEqual(tok2, tok)
		st, hd, a = self.srv.post("/users/carol/outbox", note("new token"), token=tok2)
		self.assertEqual(st, 201, a)
		res = run_aimd("user", "token", "--data", self.srv.data, "nobody")
		self.assertNotEqual(res.returncode, 0)


class StalledStreamTest(AimTestCase):
	"""An SSE client that stops reading must not hold up writers, other
	readers or shutdown."""

	def test_stalled_consumer(self):
		srv = self.server(domain="stall.test")
		ta = srv.add_user("alice")
		tb = srv.add_user("bob")
		srv.start()
		c = socket.socket()
		c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
		c.connect(("127.0.0.1", srv.port))
		self.addCleanup(c.close)
		c.sendall(("GET /users/bob/inbox HTTP/1.1\r\nHost: x\r\n"
			   "Accept: text/event-stream\r\nAuthorization: Bearer %s\r\n\r\n"
			   % tb).encode())
		time.sleep(0.3)
		bob = srv.actor("bob")
		worst = 0
		t0 = time.monotonic()
		for i in range(200):	# about 6 MB of events nobody reads
			t1 = time.monotonic()
			st, hd, a = srv.post("/users/alice/outbox", note("y" * 30000, to=[bob]),
					     token=ta)
			worst = max(worst, time.monotonic() - t1)
			self.assertEqual(st, 201, a)
		print("200 posts to a stalled stream: %.1f s, slowest %.2f s" %
		      (time.monotonic() - t0, worst))
		self.assertLess(worst, 5)
		st, hd, doc = srv.get("/users/bob/inbox?page=true", token=tb)
		self.assertEqual(st, 200)
		self.assertEqual(len(doc["orderedItems"]), 20)
		t0 = time.monotonic()
		srv.stop(timeout=10)
		print("stop with a stalled stream: %.1f s" % (time.monotonic() - t0))


def deliveries(srv):
	r = run_aimd("deliveries", "--data", srv.data)
	if r.returncode != 0:
		raise AssertionError("aimd deliveries failed: %s" % r.stderr)
	return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def wait_for(pred, timeout=20, step=0.05):
	end = time.monotonic() + timeout
	while time.monotonic() < end:
		v = pred()
		if v:
			return v
		time.sleep(step)
	return pred()


class StartupOrderTest(AimTestCase):
	"""What aimd does before it serves and after it stops, with a plain HTTP
	peer (peer.test, through --connect-to) whose answers the test scripts."""

	@classmethod
	def setUpClass(cls):
		cls.peer = Peer(hostname="peer.test")
		cls.addClassCleanup(cls.peer.stop)
		cls.peer.httpd.handle_error = lambda *a: None	# abandoned connections
		keydir = tempfile.mkdtemp(prefix="aimtest-keys-")
		cls.addClassCleanup(shutil.rmtree, keydir, True)
		cls.peer.add_actor("remote", rsa_key(keydir, "remote")[1])
		cls.peer.start()

	def make_server(self, domain, *extra):
		srv = Server(domain=domain, extra_args=[
			"--allow-private-addresses", "--log-level", "debug",
			"--connect-to", "peer.test:%d:127.0.0.1:%d" % (self.peer.port, self.peer.port),
			*extra])
		self.addCleanup(srv.cleanup)
		return srv

	def test_port_taken_refused_before_any_delivery(self):
		"""Pending deliveries are due; the port is taken: aimd exits 1 with one
		line naming the address, and no worker attempts a delivery."""
		self.peer.answer = lambda rec: (503, "application/json", b"{}")
		self.peer.handlers["/users/remote/inbox"] = lambda rec: self.peer.answer(rec)
		self.peer.handlers["/inbox"] = lambda rec: self.peer.answer(rec)
		srv = self.make_server("portlife.test", "--retry-base-ms", "50", "--retry-max-ms",
				       "100", "--delivery-workers", "8")
		tok = srv.add_user("alice")
		srv.start()
		for i in range(8):
			st, hd, a = srv.post("/users/alice/outbox",
					     note("to the peer %d" % i, to=[self.peer.actor_id("remote")]),
					     token=tok)
			self.assertEqual(st, 201, a)
		self.assertTrue(wait_for(lambda: any(d["attempts"] >= 2 for d in deliveries(srv))),
				deliveries(srv))
		srv.stop()
		before = deliveries(srv)
		self.assertTrue(all(d["state"] == "pending" for d in before), before)
		time.sleep(0.3)	# every retry is due now
		posts = len([r for r in self.peer.received if r["method"] == "POST"])
		taken = socket.socket()
		self.addCleanup(taken.close)
		taken.bind(("127.0.0.1", 0))
		taken.listen(8)
		port = taken.getsockname()[1]
		argv = [a if not a.startswith("127.0.0.1:%d" % srv.port) else "127.0.0.1:%d" % port
			for a in srv.serve_argv()]
		r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
				   timeout=30)
		self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
		lines = [l for l in r.stderr.splitlines() if l.strip()]
		self.assertEqual(len(lines), 1, r.stderr)
		self.assertIn("cannot listen on 127.0.0.1:%d" % port, lines[0])
		self.assertIn("in use", lines[0])
		self.assertNotIn("listening on", r.stdout)
		self.assertNotIn("deliver", r.stderr)
		time.sleep(0.3)
		after = deliveries(srv)
		self.assertEqual([(d["id"], d["attempts"], d["updated_ms"]) for d in after],
				 [(d["id"], d["attempts"], d["updated_ms"]) for d in before])
		self.assertEqual(len([r for r in self.peer.received if r["method"] == "POST"]), posts)

	def test_second_serve_on_same_data_refused(self):
		srv = self.make_server("lock.test")
		srv.start()
		argv = [aimd_path(), "serve", "--data", srv.data, "--listen", "127.0.0.1:0"]
		r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
				   timeout=30)
		self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
		lines = [l for l in r.stderr.splitlines() if l.strip()]
		self.assertEqual(len(lines), 1, r.stderr)
		self.assertIn("in use by another aimd serve", lines[0])
		self.assertIn(srv.data, lines[0])
		self.assertNotIn("listening on", r.stdout)
		# the first one still serves, and once it stops the directory is free
		self.assertEqual(srv.get("/.well-known/nodeinfo")[0], 200)
		srv.stop()
		srv.start()
		self.assertEqual(srv.get("/.well-known/nodeinfo")[0], 200)

	def test_stopped_logged_after_workers(self):
		"""SIGTERM while a worker waits for a remote actor document: the
		worker's outcome line comes before "stopped", nothing after it."""
		gate = threading.Event()
		self.addCleanup(gate.set)
		fetching = threading.Event()
		doc = self.peer.docs["/users/remote"]

		def slow_actor(rec):
			fetching.set()
			gate.wait(1.5)
			return doc[0], doc[1], doc[2]
		self.peer.handlers["/users/slowactor"] = slow_actor
		srv = self.make_server("order.test")
		tok = srv.add_user("alice")
		srv.start()
		st, hd, a = srv.post("/users/alice/outbox",
				     note("slow", to=[self.peer.url + "/users/slowactor"]), token=tok)
		self.assertEqual(st, 201, a)
		self.assertTrue(fetching.wait(20), "the worker never fetched the actor")
		self.assertEqual(srv.stop(timeout=20), 0)
		log = srv.log_current().splitlines()
		stopped = [i for i, l in enumerate(log) if l.endswith("aimd: stopped")]
		self.assertEqual(len(stopped), 1, "\n".join(log))
		worker = [i for i, l in enumerate(log) if " deliver: delivery " in l]
		self.assertTrue(worker, "no worker outcome logged:\n" + "\n".join(log))
		self.assertLess(max(worker), stopped[0], "\n".join(log))
		self.assertEqual(stopped[0], len(log) - 1, "lines after stopped:\n" + "\n".join(log))


if __name__ == "__main__":
	unittest.main(verbosity=2)
