"""Inbound federation of aimd (b.test over HTTPS) from a scripted remote
instance (r.test, aimpeer, same test CA, reached through --connect-to):
the signature gate on the personal and the shared inbox (cavage rsa-sha256
and RFC 9421 Ed25519; unsigned, bad digest, replay, key of another actor),
Create landing in the addressed inboxes exactly once per inbox, Follow with
auto-Accept and the followers collection, Undo(Follow), manual approval with
a C2S Accept, Update/Delete only by the owner, Delete with a tombstone,
embedded objects of someone else refused, Block, the per-host limits."""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
from aimtest import AS_PUBLIC, AimTestCase, Federation, run_aimd
from aimpeer import Peer, ed25519_key, rsa_key, sign_cavage, sign_rfc9421

AS_CTX = "https://www.w3.org/ns/activitystreams"


class InboundTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-inbound-")
		cls.fed = Federation(names=("b.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.b = cls.fed["b.test"]
		cls.tok = {n: cls.b.add_user(n) for n in ("bob", "carol", "dave")}
		cls.peer = Peer(hostname="r.test", ca=cls.fed.ca)
		cls.addClassCleanup(cls.peer.stop)
		cls.keys = {}
		for name in ("mallory", "eve", "frank"):
			rk, rpub = rsa_key(cls.tmp, name)
			ek, _, emb = ed25519_key(cls.tmp, name)
			cls.keys[name] = (rk, ek)
			cls.peer.add_actor(name, rpub, emb)
		cls.peer.start()
		ct = cls.fed.connect_to() + ["r.test:%d:127.0.0.1:%d" % (cls.peer.port, cls.peer.port)]
		args = ["--ca-file", cls.fed.ca.cert, "--allow-private-addresses", "--log-level", "debug"]
		for c in ct:
			args += ["--connect-to", c]
		cls.fed.start(extra_args=lambda srv: args)

	# -- helpers ---------------------------------------------------------------
	def actor(self, name):
		return self.peer.actor_id(name)

	def new_id(self, kind="activities"):
		return "%s/%s/%s" % (self.peer.url, kind, uuid.uuid4())

	def post(self, path, act, signer="mallory", scheme="cavage", mutate=None, headers=None):
		url = self.b.base + path
		body = json.dumps(act).encode()
		rk, ek = self.keys[signer]
		aid = self.actor(signer)
		base = {"Content-Type": aimtest.AP_TYPE}
		if scheme == "cavage":
			h = sign_cavage("POST", url, rk, aid + "#main-key", body=body, headers=base)
		elif scheme == "rfc9421":
			h = sign_rfc9421("POST", url, ek, aid + "#ed25519-key", body=body, headers=base)
		else:
			h = dict(base)
		if headers:
			h.update(headers)
		if mutate:
			body = mutate(body)
		return self.b.req("POST", url, headers=h, body=body)

	def create(self, to, content="hi", actor="mallory", obj_extra=None, **kw):
		oid = self.new_id("objects")
		obj = {"id": oid, "type": "Note", "attributedTo": self.actor(actor), "content": content,
		       "to": to}
		obj.update(obj_extra or {})
		return {"@context": AS_CTX, "id": self.new_id(), "type": "Create",
			"actor": self.actor(actor), "to": to, "object": obj}

	def inbox(self, user):
		st, _, doc = self.b.get("/users/%s/inbox?page=true" % user, token=self.tok[user])
		self.assertEqual(st, 200)
		return doc["orderedItems"]

	def inbox_ids(self, user):
		return [i["id"] for i in self.inbox(user)]

	def followers(self, user):
		st, _, doc = self.b.get("/users/%s/followers?page=1" % user)
		self.assertEqual(st, 200)
		return doc["orderedItems"]

	def wait_for(self, pred, timeout=10):
		end = time.monotonic() + timeout
		while time.monotonic() < end:
			if pred():
				return True
			time.sleep(0.1)
		return pred()

	# -- the gate ----------------------------------------------------------------
	def test_create_cavage_and_rfc9421(self):
		for scheme in ("cavage", "rfc9421"):
			with self.subTest(scheme=scheme):
				act = self.create([self.b.actor("bob")], content=scheme)
				st, _, body = self.post("/users/bob/inbox", act, scheme=scheme)
				self.assertEqual(st, 202, body)
				self.assertIn(act["id"], self.inbox_ids("bob"))
				self.assertNotIn(act["id"], self.inbox_ids("carol"))

	def test_create_reaches_sse_stream(self):
		sse = aimtest.SSEClient(self.b.url + "/users/carol/inbox", token=self.tok["carol"],
					ctx=self.b.ctx)
		try:
			time.sleep(0.3)
			act = self.create([self.b.actor("carol")], content="pushed", actor="frank")
			self.assertEqual(self.post("/users/carol/inbox", act, signer="frank")[0], 202)
			ev = sse.next_event(timeout=10)
			self.assertIsNotNone(ev)
			self.assertEqual(json.loads(ev["data"])["id"], act["id"])
		finally:
			sse.close()

	def test_shared_inbox_dedup(self):
		act = self.create([self.b.actor("bob"), self.b.actor("carol")], actor="eve")
		self.assertEqual(self.post("/inbox", act, signer="eve")[0], 202)
		time.sleep(1.1)  # a new Date: not a replay of the same signature
		self.assertEqual(self.post("/inbox", act, signer="eve")[0], 202)
		self.assertEqual(self.post("/users/bob/inbox", act, signer="eve")[0], 202)
		self.assertEqual(self.inbox_ids("bob").count(act["id"]), 1)
		self.assertEqual(self.inbox_ids("carol").count(act["id"]), 1)
		self.assertNotIn(act["id"], self.inbox_ids("dave"))
		# the same id to another local inbox: delivered there too
		self.assertEqual(self.post("/users/dave/inbox", act, signer="eve")[0], 202)
		self.assertEqual(self.inbox_ids("dave").count(act["id"]), 1)

	def test_refusals_store_nothing(self):
		cases = {
			"unsigned": dict(scheme="none"),
			"digest": dict(mutate=lambda b: b.replace(b'"hi"', b'"ho"')),
			"digest9421": dict(scheme="rfc9421", mutate=lambda b: b.replace(b'"hi"', b'"ho"')),
			"other_actor": dict(signer="eve"),
		}
		for path in ("/users/bob/inbox", "/inbox"):
			for name, kw in cases.items():
				with self.subTest(path=path, case=name):
					act = self.create([self.b.actor("bob")])
					self.assertRefused(self.post(path, act, **kw), 401, "unauthorized")
					self.assertNotIn(act["id"], self.inbox_ids("bob"))

	def test_replay_refused(self):
		act = self.create([self.b.actor("bob")])
		url = self.b.base + "/users/bob/inbox"
		body = json.dumps(act).encode()
		h = sign_cavage("POST", url, self.keys["mallory"][0], self.actor("mallory") + "#main-key",
				body=body, headers={"Content-Type": aimtest.AP_TYPE})
		self.assertEqual(self.b.req("POST", url, headers=h, body=body)[0], 202)
		self.assertRefused(self.b.req("POST", url, headers=h, body=body), 401)

	def test_signed_get(self):
		url = self.b.actor("bob")
		rk = self.keys["mallory"][0]
		kid = self.actor("mallory") + "#main-key"
		h = sign_cavage("GET", url, rk, kid, headers={"Accept": aimtest.AP_TYPE},
				covered=("(request-target)", "host", "date"))
		self.assertEqual(self.b.req("GET", url, headers=h)[0], 200)
		self.assertEqual(self.b.req("GET", url, headers=h)[0], 200)  # a read, not a replay
		# A11: a signature that does not cover host
		h = sign_cavage("GET", url, rk, kid, headers={"Accept": aimtest.AP_TYPE},
				covered=("(request-target)", "date"))
		self.assertRefused(self.b.req("GET", url, headers=h), 401)
		# unsigned GETs stay public
		self.assertEqual(self.b.get("/users/bob")[0], 200)

	def test_shape_refusals(self):
		act = self.create([self.b.actor("bob")])
		del act["id"]
		self.assertRefused(self.post("/users/bob/inbox", act), 400)
		act = self.create([self.b.actor("bob")])
		act["id"] = "https://b.test/activities/x"
		self.assertRefused(self.post("/users/bob/inbox", act), 403)

	# -- origin rules --------------------------------------------------------------
	def test_embedded_object_of_someone_else(self):
		act = self.create([self.b.actor("bob")], obj_extra={"attributedTo": self.actor("eve")})
		self.assertRefused(self.post("/users/bob/inbox", act), 403)
		act = self.create([self.b.actor("bob")],
				  obj_extra={"id": "https://elsewhere.test/objects/1"})
		self.assertRefused(self.post("/users/bob/inbox", act), 403)
		self.assertNotIn(act["id"], self.inbox_ids("bob"))

	def test_update_delete_only_by_owner(self):
		act = self.create([self.b.actor("bob")], content="original")
		self.assertEqual(self.post("/users/bob/inbox", act)[0], 202)
		obj = dict(act["object"], content="forged", attributedTo=self.actor("eve"))
		upd = {"@context": AS_CTX, "id": self.new_id(), "type": "Update",
		       "actor": self.actor("eve"), "object": obj, "to": [self.b.actor("bob")]}
		self.assertRefused(self.post("/users/bob/inbox", upd, signer="eve"), 403)
		dele = {"@context": AS_CTX, "id": self.new_id(), "type": "Delete",
			"actor": self.actor("eve"), "object": act["object"]["id"],
			"to": [self.b.actor("bob")]}
		self.assertRefused(self.post("/users/bob/inbox", dele, signer="eve"), 403)
		self.assertIn(act["id"], self.inbox_ids("bob"))
		# nor another actor of the same server
		for kind, obj in (("Delete", self.actor("mallory")),
				  ("Update", {"id": self.actor("mallory"), "type": "Person"})):
			bad = {"@context": AS_CTX, "id": self.new_id(), "type": kind,
			       "actor": self.actor("eve"), "object": obj, "to": [AS_PUBLIC]}
			self.assertRefused(self.post("/inbox", bad, signer="eve"), 403)
		# the owner deletes it: gone from the inbox
		dele = {"@context": AS_CTX, "id": self.new_id(), "type": "Delete",
			"actor": self.actor("mallory"), "object": act["object"]["id"],
			"to": [self.b.actor("bob")]}
		self.assertEqual(self.post("/users/bob/inbox", dele)[0], 202)
		self.assertNotIn(act["id"], self.inbox_ids("bob"))

	def test_local_delete_leaves_tombstone(self):
		st, hd, doc = self.b.post("/users/carol/outbox",
					  {"type": "Note", "content": "bye", "to": [AS_PUBLIC]},
					  token=self.tok["carol"])
		self.assertEqual(st, 201)
		oid = doc["object"]["id"]
		path = oid[len(self.b.base):]
		self.assertEqual(self.b.get(path)[0], 200)
		st, _, _ = self.b.post("/users/carol/outbox", {"type": "Delete", "object": oid,
							       "to": [AS_PUBLIC]},
				       token=self.tok["carol"])
		self.assertEqual(st, 201)
		st, _, doc = self.b.get(path)
		self.assertEqual(st, 410)
		self.assertEqual(doc["type"], "Tombstone")

	def test_delete_actor_removes_follows_and_content(self):
		rk, rpub = rsa_key(self.tmp, "gone")
		self.keys["gone"] = (rk, None)
		self.peer.add_actor("gone", rpub)
		f = self.follow("gone", "dave")
		self.assertEqual(self.post("/users/dave/inbox", f, signer="gone")[0], 202)
		act = self.create([self.b.actor("carol")], actor="gone")
		self.assertEqual(self.post("/users/carol/inbox", act, signer="gone")[0], 202)
		self.assertIn(self.actor("gone"), self.followers("dave"))
		self.assertIn(act["id"], self.inbox_ids("carol"))
		dele = {"@context": AS_CTX, "id": self.new_id(), "type": "Delete",
			"actor": self.actor("gone"), "object": self.actor("gone"), "to": [AS_PUBLIC]}
		self.assertEqual(self.post("/inbox", dele, signer="gone")[0], 202)
		self.assertNotIn(self.actor("gone"), self.followers("dave"))
		self.assertNotIn(act["id"], self.inbox_ids("carol"))

	def test_key_rotation_refetches_once(self):
		rk, rpub = rsa_key(self.tmp, "rot1")
		self.keys["rot"] = (rk, None)
		self.peer.add_actor("rot", rpub)
		act = self.create([self.b.actor("carol")], actor="rot")
		self.assertEqual(self.post("/users/carol/inbox", act, signer="rot")[0], 202)
		n = len(self.peer.requests_to("/users/rot", "GET"))
		rk2, rpub2 = rsa_key(self.tmp, "rot2")
		self.peer.add_actor("rot", rpub2)
		self.keys["rot"] = (rk2, None)
		time.sleep(1.1)
		act = self.create([self.b.actor("carol")], actor="rot")
		self.assertEqual(self.post("/users/carol/inbox", act, signer="rot")[0], 202)
		self.assertEqual(len(self.peer.requests_to("/users/rot", "GET")), n + 1)
		# the old key no longer works, and costs no further fetch right away
		self.keys["rot"] = (rk, None)
		act = self.create([self.b.actor("carol")], actor="rot")
		self.assertRefused(self.post("/users/carol/inbox", act, signer="rot"), 401)
		self.assertNotIn(act["id"], self.inbox_ids("carol"))

	def test_zz_unusable_keys_are_rate_limited(self):
		"""(runs last: the host stays limited) A20: a key that 404s is fetched
		once (negative cache), and a flood of different unusable keys from
		one host ends in 429 with Retry-After."""
		rk, _ = self.keys["mallory"]
		url = self.b.base + "/users/carol/inbox"
		statuses = []
		for i in range(100):
			ghost = self.peer.url + "/users/ghost%d" % (i if i >= 3 else 0)
			act = {"@context": AS_CTX, "id": self.new_id(), "type": "Create", "actor": ghost,
			       "object": {"id": self.new_id("objects"), "type": "Note",
					  "attributedTo": ghost, "content": str(i)}}
			body = json.dumps(act).encode()
			h = sign_cavage("POST", url, rk, ghost + "#main-key", body=body,
					headers={"Content-Type": aimtest.AP_TYPE})
			st, hd, _ = self.b.req("POST", url, headers=h, body=body)
			statuses.append(st)
			if st == 429:
				self.assertTrue(hd.get("retry-after"))
				break
		self.assertEqual(statuses[:3], [401, 401, 401])
		self.assertEqual(statuses[-1], 429, statuses)
		self.assertEqual(len(self.peer.requests_to("/users/ghost0", "GET")), 1)
		self.assertTrue(all(len(self.peer.requests_to("/users/ghost%d" % i, "GET")) <= 1
				    for i in range(3, len(statuses))))

	# -- follows -------------------------------------------------------------------
	def follow(self, who, user):
		return {"@context": AS_CTX, "id": self.new_id(), "type": "Follow",
			"actor": self.actor(who), "object": self.b.actor(user)}

	def test_follow_accept_undo(self):
		f = self.follow("frank", "carol")
		st, _, body = self.post("/users/carol/inbox", f, signer="frank", scheme="rfc9421")
		self.assertEqual(st, 202, body)
		self.assertIn(self.actor("frank"), self.followers("carol"))
		st, _, doc = self.b.get("/users/carol/followers")
		self.assertEqual(doc["totalItems"], 1)
		undo = {"@context": AS_CTX, "id": self.new_id(), "type": "Undo",
			"actor": self.actor("frank"), "object": f}
		self.assertEqual(self.post("/users/carol/inbox", undo, signer="frank")[0], 202)
		self.assertNotIn(self.actor("frank"), self.followers("carol"))

	def test_manual_approval(self):
		r = run_aimd("user", "set", "--data", self.b.data, "bob", "manual-approval", "on")
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertEqual(run_aimd("user", "set", "--data", self.b.data, "bob",
					  "manual-approval", "maybe").returncode, 2)
		try:
			fm = self.follow("mallory", "bob")
			fe = self.follow("eve", "bob")
			for f, who in ((fm, "mallory"), (fe, "eve")):
				self.assertEqual(self.post("/users/bob/inbox", f, signer=who)[0], 202)
			self.assertEqual(self.followers("bob"), [])
			# the requests are in bob's inbox
			self.assertIn(fm["id"], self.inbox_ids("bob"))
			st, _, _ = self.b.post("/users/bob/outbox",
					       {"type": "Accept", "object": fm["id"],
						"to": [self.actor("mallory")]}, token=self.tok["bob"])
			self.assertEqual(st, 201)
			st, _, _ = self.b.post("/users/bob/outbox",
					       {"type": "Reject", "object": fe["id"],
						"to": [self.actor("eve")]}, token=self.tok["bob"])
			self.assertEqual(st, 201)
			self.assertEqual(self.followers("bob"), [self.actor("mallory")])
		finally:
			run_aimd("user", "set", "--data", self.b.data, "bob", "manual-approval", "off")

	def test_undo_of_someone_elses_follow(self):
		f = self.follow("eve", "dave")
		self.assertEqual(self.post("/inbox", f, signer="eve")[0], 202)
		self.assertIn(self.actor("eve"), self.followers("dave"))
		undo = {"@context": AS_CTX, "id": self.new_id(), "type": "Undo",
			"actor": self.actor("mallory"), "object": f}
		self.assertRefused(self.post("/inbox", undo), 403)
		self.assertIn(self.actor("eve"), self.followers("dave"))

	def test_accept_about_other_host(self):
		acc = {"@context": AS_CTX, "id": self.new_id(), "type": "Accept",
		       "actor": self.actor("mallory"), "object": "https://c.test/activities/1"}
		self.assertRefused(self.post("/inbox", acc), 403)

	def test_block_by_local_user(self):
		st, _, _ = self.b.post("/users/dave/outbox",
				       {"type": "Block", "object": self.actor("mallory"),
					"to": [self.actor("mallory")]}, token=self.tok["dave"])
		self.assertEqual(st, 201)
		act = self.create([self.b.actor("dave")])
		self.assertRefused(self.post("/users/dave/inbox", act), 403)
		self.assertNotIn(act["id"], self.inbox_ids("dave"))



class CommitFailureTest(AimTestCase):
	"""Durable before acknowledged: when the commit of an inbox POST fails
	with an I/O error (here: the file size limit of the running aimd is
	lowered, so SQLite's writes fail with EFBIG), aimd answers 503 and
	acknowledges nothing more until restarted, even once the disk is fine."""

	@classmethod
	def setUpClass(cls):
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-commitfail-")
		cls.fed = Federation(names=("c.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.c = cls.fed["c.test"]
		cls.tok = cls.c.add_user("carol")
		cls.peer = Peer(hostname="r.test", ca=cls.fed.ca)
		cls.addClassCleanup(cls.peer.stop)
		cls.key, pub = rsa_key(cls.tmp, "mallory")
		cls.peer.add_actor("mallory", pub)
		cls.peer.start()
		args = ["--ca-file", cls.fed.ca.cert, "--allow-private-addresses", "--connect-to",
			"r.test:%d:127.0.0.1:%d" % (cls.peer.port, cls.peer.port)]
		cls.fed.start(extra_args=lambda srv: args)

	def send(self, content):
		aid = self.peer.actor_id("mallory")
		url = self.c.base + "/users/carol/inbox"
		act = {"@context": AS_CTX, "id": "%s/activities/%s" % (self.peer.url, uuid.uuid4()),
		       "type": "Create", "actor": aid, "to": [self.c.actor("carol")],
		       "object": {"id": "%s/objects/%s" % (self.peer.url, uuid.uuid4()),
				  "type": "Note", "attributedTo": aid, "content": content * 2000}}
		body = json.dumps(act).encode()
		h = sign_cavage("POST", url, self.key, aid + "#main-key", body=body,
				headers={"Content-Type": aimtest.AP_TYPE})
		return act["id"], self.c.req("POST", url, headers=h, body=body)

	def test_io_error_stops_acknowledgements(self):
		aid, (st, _, _) = self.send("a")
		self.assertEqual(st, 202)
		pid = self.c.proc.pid
		subprocess.run(["prlimit", "--pid", str(pid), "--fsize=1024:unlimited"], check=True)
		failed, (st, hd, body) = self.send("b")
		self.assertEqual(st, 503, body)
		subprocess.run(["prlimit", "--pid", str(pid), "--fsize=unlimited:unlimited"], check=True)
		later, (st2, _, _) = self.send("c")
		self.assertEqual(st2, 503)
		self.c.stop()
		self.c.start()
		st, _, doc = self.c.get("/users/carol/inbox?page=true", token=self.tok)
		ids = [i["id"] for i in doc["orderedItems"]]
		self.assertIn(aid, ids)
		self.assertNotIn(failed, ids)
		self.assertNotIn(later, ids)
		self.assertEqual(self.send("d")[1][0], 202)


class InboxLimitTest(AimTestCase):
	"""B32/A20: one remote host is limited to --inbox-host-rate deliveries a
	second (burst 10x); past it 429 with Retry-After and nothing stored."""

	@classmethod
	def setUpClass(cls):
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-inlimit-")
		cls.fed = Federation(names=("c.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.c = cls.fed["c.test"]
		cls.tok = cls.c.add_user("carol")
		cls.peer = Peer(hostname="r.test", ca=cls.fed.ca)
		cls.addClassCleanup(cls.peer.stop)
		cls.key, pub = rsa_key(cls.tmp, "mallory")
		cls.peer.add_actor("mallory", pub)
		cls.peer.start()
		args = ["--ca-file", cls.fed.ca.cert, "--allow-private-addresses",
			"--inbox-host-rate", "1", "--connect-to",
			"r.test:%d:127.0.0.1:%d" % (cls.peer.port, cls.peer.port)]
		cls.fed.start(extra_args=lambda srv: args)

	def test_rate(self):
		aid = self.peer.actor_id("mallory")
		url = self.c.base + "/users/carol/inbox"
		seen = []
		for i in range(14):
			act = {"@context": AS_CTX, "id": "%s/activities/%s" % (self.peer.url, uuid.uuid4()),
			       "type": "Create", "actor": aid, "to": [self.c.actor("carol")],
			       "object": {"id": "%s/objects/%s" % (self.peer.url, uuid.uuid4()),
					  "type": "Note", "attributedTo": aid, "content": str(i)}}
			body = json.dumps(act).encode()
			h = sign_cavage("POST", url, self.key, aid + "#main-key", body=body,
					headers={"Content-Type": aimtest.AP_TYPE})
			st, hd, data = self.c.req("POST", url, headers=h, body=body)
			seen.append((st, act["id"], hd.get("retry-after")))
		self.assertEqual([s for s, _, _ in seen[:10]], [202] * 10)
		limited = [(a, ra) for s, a, ra in seen if s == 429]
		self.assertGreaterEqual(len(limited), 3, seen)
		st, _, doc = self.c.get("/users/carol/inbox?page=true", token=self.tok)
		ids = [i["id"] for i in doc["orderedItems"]]
		for a, ra in limited:
			self.assertTrue(ra and int(ra) >= 1)
			self.assertNotIn(a, ids)


if __name__ == "__main__":
	aimtest.main()
