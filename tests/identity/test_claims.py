"""KeyPackage claims across servers (issue 10, "KeyPackage directory"
points 2 and 3; threats.md C44 and B33): a.test, b.test, c.test (and d.test
with low limits) over TLS, and a fake remote r.test that signs claims by
hand.

A client asks its own server to claim (POST /users/NAME/claim with acct:
handles); the server resolves each handle by WebFinger with the reverse
check and sends a claim signed by its instance actor to the target's
server (POST .../keyPackages/claim), which checks it at its one S2S gate,
applies the target's consent and its rate limits, and hands out one
KeyPackage per device in an accepted suite, each once, the device's
last-resort one when none is left."""

import json
import os
import subprocess
import sys
import threading
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from fedtest import FakeRemote, sign_cavage, wait_for
import kptest
from kptest import Device, JSON, claim, stock


class Claims(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("a.test", "b.test", "c.test", "d.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.remote = FakeRemote(cls.fed.ca, "r.test")
		cls.addClassCleanup(cls.remote.close)
		cls.mallory = cls.remote.add_actor("mallory")
		cls.a, cls.b, cls.c, cls.d = (cls.fed[n] for n in ("a.test", "b.test", "c.test", "d.test"))
		cls.a.add_user("alice")
		cls.c.add_user("carol")
		for u in ("bob", "con", "rev", "ten", "ten2", "warm"):
			cls.b.add_user(u)
		for u in ("dora1", "dora2"):
			cls.d.add_user(u)

		def args(srv):
			extra = []
			if srv is cls.b:
				# the concurrency tests want every claim through
				extra = ["--claim-host-rate", "100000", "--claim-user-rate", "100000"]
			if srv is cls.d:
				extra = ["--claim-host-rate", "5", "--claim-user-rate", "3"]
			return fedtest.serve_args(cls.fed, cls.remote, extra=extra)

		cls.fed.start(extra_args=args)
		cls.devs = {}
		for user, names in (("bob", ("phone", "laptop")), ("con", ("c1",)),
				    ("rev", ("keep", "lose")), ("ten", ("t1",)), ("ten2", ("t2",)),
				    ("warm", ("w1",))):
			for n in names:
				d = Device(cls.b, user, n)
				cls.addClassCleanup(d.cleanup)
				cls.devs[(user, n)] = d
		for user in ("dora1", "dora2"):
			d = Device(cls.d, user, "d")
			cls.addClassCleanup(d.cleanup)
			d.upload(10)

	def handle(self, srv, user):
		return "acct:%s@%s:%d" % (user, srv.domain, srv.port)

	def claim1(self, srv, user, target_srv, target, suites=(1,)):
		res = claim(srv, user, [self.handle(target_srv, target)], suites)
		self.assertEqual(len(res), 1, res)
		return res[0]

	# -- one per device, consumed once, last resort -------------------------
	def test_one_per_device_consumed_once(self):
		up = {}
		for n in ("phone", "laptop"):
			up[n] = self.devs[("bob", n)].upload(3)
		all_kps = {k for kps, lr in up.values() for k in kps}
		lrs = {lr for kps, lr in up.values()}
		# a suite bob's devices have nothing in: nothing, and nothing consumed
		r = self.claim1(self.a, "alice", self.b, "bob", suites=(2,))
		self.assertEqual(r["keyPackages"], [], r)
		self.assertEqual(r["actor"], self.b.actor("bob"))
		seen = []
		for _ in range(3):
			r = self.claim1(self.a, "alice", self.b, "bob")
			kps = r["keyPackages"]
			self.assertEqual(len(kps), 2, r)
			self.assertEqual(len({k["device"] for k in kps}), 2)
			for k in kps:
				self.assertFalse(k["lastResort"], k)
				self.assertEqual(k["cipherSuite"], 1)
				self.assertEqual(k["mediaType"], "message/mls")
				seen.append(k["content"])
		self.assertEqual(len(seen), 6)
		self.assertEqual(set(seen), all_kps)
		self.assertEqual(stock(self.b, "bob"), {"phone": (0, True), "laptop": (0, True)})
		# none left: the last-resort ones, marked, again and again
		for _ in range(2):
			r = self.claim1(self.a, "alice", self.b, "bob")
			kps = r["keyPackages"]
			self.assertEqual(len(kps), 2, r)
			self.assertTrue(all(k["lastResort"] for k in kps), r)
			self.assertEqual({k["content"] for k in kps}, lrs)
		# the device refs are opaque: not the device ids
		self.assertNotIn("phone", [k["device"] for k in kps])
		# what the claimed KeyPackages are (kp_tool reads them)
		info = kptest.kp_info(kps[0]["content"])
		self.assertEqual(info["suite"], 1)

	def test_revocation_withdraws(self):
		self.devs[("rev", "keep")].upload(2)
		lose_kps, lose_lr = self.devs[("rev", "lose")].upload(2)
		r = self.claim1(self.a, "alice", self.b, "rev")
		self.assertEqual(len(r["keyPackages"]), 2, r)
		self.devs[("rev", "lose")].revoke()
		for _ in range(3):
			r = self.claim1(self.a, "alice", self.b, "rev")
			self.assertEqual(len(r["keyPackages"]), 1, r)
			for k in r["keyPackages"]:
				self.assertNotIn(k["content"], lose_kps + [lose_lr])
		self.assertNotIn("lose", stock(self.b, "rev"))

	# -- consent -------------------------------------------------------------
	def test_consent(self):
		self.devs[("con", "c1")].upload(5)
		# nobody, set with the command line while b.test serves
		r = aimtest.run_aimd("user", "set", "--data", self.b.data, "con", "claims", "nobody")
		self.assertEqual(r.returncode, 0, r.stderr)
		res = self.claim1(self.a, "alice", self.b, "con")
		self.assertEqual(res.get("error"), "claims_refused", res)
		self.assertNotIn("keyPackages", res)
		wait_for(lambda: "refused 403" in self.b.log(), what="the refusal logged")
		# the settings route: followed = actors con follows (accepted)
		st, hd, doc = self.b.post("/users/con/settings", {"claims": "followed"},
					  token=self.b.tokens["con"], content_type=JSON)
		self.assertEqual((st, doc), (200, {"claims": "followed"}))
		st, hd, doc = self.b.get("/users/con/settings", token=self.b.tokens["con"])
		self.assertEqual(doc, {"claims": "followed"})
		self.assertEqual(self.claim1(self.a, "alice", self.b, "con").get("error"),
				 "claims_refused")
		fedtest.post_outbox(self.b, "con", {"type": "Follow",
						    "object": self.handle(self.a, "alice")})

		def following():
			st, hd, coll = self.b.get("/users/con/following")
			return coll.get("totalItems") == 1
		wait_for(following, what="con's follow of alice accepted")
		res = self.claim1(self.a, "alice", self.b, "con")
		self.assertEqual(len(res.get("keyPackages", [])), 1, res)
		# carol is not followed
		self.assertEqual(self.claim1(self.c, "carol", self.b, "con").get("error"),
				 "claims_refused")
		# a bad setting, and another user's settings
		st, hd, doc = self.b.post("/users/con/settings", {"claims": "friends"},
					  token=self.b.tokens["con"], content_type=JSON)
		self.assertEqual(st, 400)
		st, hd, doc = self.b.post("/users/con/settings", {"claims": "nobody"},
					  token=self.b.tokens["bob"], content_type=JSON)
		self.assertEqual(st, 403)
		# everyone again
		st, hd, doc = self.b.post("/users/con/settings", {"claims": "everyone"},
					  token=self.b.tokens["con"], content_type=JSON)
		self.assertEqual(st, 200)
		res = self.claim1(self.c, "carol", self.b, "con")
		self.assertEqual(len(res.get("keyPackages", [])), 1, res)

	# -- rate limits ---------------------------------------------------------
	def test_rate_limits(self):
		"""d.test: 3 claims a minute per target user, 5 per claiming host."""
		for i in range(3):
			res = self.claim1(self.a, "alice", self.d, "dora1")
			self.assertIn("keyPackages", res, res)
		res = self.claim1(self.a, "alice", self.d, "dora1")
		self.assertEqual(res.get("error"), "rate_limited", res)
		self.assertGreaterEqual(res.get("retryAfter", 0), 1)
		# another target: the host's budget (5; the refused claim counted
		# too) runs out after one
		res = self.claim1(self.a, "alice", self.d, "dora2")
		self.assertIn("keyPackages", res, res)
		res = self.claim1(self.a, "alice", self.d, "dora2")
		self.assertEqual(res.get("error"), "rate_limited", res)
		# another claiming host has its own budget
		res = self.claim1(self.c, "carol", self.d, "dora2")
		self.assertIn("keyPackages", res, res)
		# signed by hand: the answer itself is 429 with Retry-After
		st, hd, body = self.s2s_claim(self.d, "dora1")
		self.assertEqual(st, 429, body)
		self.assertGreaterEqual(int(hd["retry-after"]), 1)

	# -- the S2S request itself (B33: one gate) --------------------------------
	def s2s_claim(self, srv, user, actor=None, sign=True, body=None):
		url = "%s/users/%s/keyPackages/claim" % (srv.base, user)
		b = body or {"id": "%s/claims/%s" % (self.remote.base, uuid.uuid4()),
			     "type": "aim:KeyPackageClaim", "actor": actor or self.mallory.id,
			     "cipherSuites": [1]}
		if not sign:
			return srv.req("POST", url, body=b, headers={"Content-Type": aimtest.AP_TYPE})
		hdrs, data = sign_cavage(self.mallory, "POST", url, b)
		return srv.req("POST", url, body=data, headers=hdrs)

	def test_s2s_claim_gate(self):
		self.devs[("warm", "w1")].upload(3)
		# unsigned, badly signed, a bearer token instead: 401 at the gate
		self.assertRefused(self.s2s_claim(self.b, "warm", sign=False), 401)
		url = "%s/users/warm/keyPackages/claim" % self.b.base
		body = {"type": "aim:KeyPackageClaim", "actor": self.mallory.id, "cipherSuites": [1]}
		hdrs, data = sign_cavage(self.mallory, "POST", url, body,
					 tamper_body=json.dumps(dict(body, cipherSuites=[2])).encode())
		self.assertRefused(self.b.req("POST", url, body=data, headers=hdrs), 401)
		self.assertRefused(self.b.req("POST", url, body=body, token=self.b.tokens["warm"],
					      headers={"Content-Type": JSON}), 401)
		# signed: the KeyPackage
		st, hd, data = self.s2s_claim(self.b, "warm")
		self.assertEqual(st, 200, data)
		kps = json.loads(data)["keyPackages"]
		self.assertEqual(len(kps), 1)
		# a claimer on another origin than the signer: refused
		self.assertRefused(self.s2s_claim(self.b, "warm", actor=self.a.actor("alice")), 400)
		# not a claim, no suites, an unknown user
		self.assertRefused(self.s2s_claim(self.b, "warm", body={"type": "Note",
									   "actor": self.mallory.id}), 400)
		self.assertRefused(self.s2s_claim(self.b, "warm", body={
			"type": "aim:KeyPackageClaim", "actor": self.mallory.id, "cipherSuites": []}), 400)
		self.assertRefused(self.s2s_claim(self.b, "nobody"), 404)
		# the same signed request twice: a replay
		url = "%s/users/warm/keyPackages/claim" % self.b.base
		hdrs, data = sign_cavage(self.mallory, "POST", url, {
			"id": "x", "type": "aim:KeyPackageClaim", "actor": self.mallory.id,
			"cipherSuites": [1]})
		st, hd, body1 = self.b.req("POST", url, body=data, headers=hdrs)
		self.assertEqual(st, 200, body1)
		self.assertRefused(self.b.req("POST", url, body=data, headers=hdrs), 401)

	def test_client_claim_refusals(self):
		st, hd, doc = self.a.post("/users/alice/claim", {"handles": []},
					  token=self.a.tokens["alice"], content_type=JSON)
		self.assertEqual(st, 400)
		st, hd, body = self.a.req("POST", "/users/alice/claim",
					  body={"handles": [self.handle(self.b, "bob")]},
					  headers={"Content-Type": JSON})
		self.assertEqual(st, 401)
		res = claim(self.a, "alice", ["acct:nobody@b.test:%d" % self.b.port, "not a handle"])
		self.assertTrue(all("error" in r for r in res), res)

	# -- C44: concurrent claims ------------------------------------------------
	def storm(self, target, claimants, n):
		"""n concurrent claims of target spread over claimants [(srv, user)]."""
		results = []
		lock = threading.Lock()

		def one(i):
			srv, user = claimants[i % len(claimants)]
			try:
				r = claim(srv, user, [self.handle(self.b, target)])[0]
			except AssertionError as e:
				r = {"error": "http", "detail": str(e)}
			with lock:
				results.append(r)
		ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
		for t in ts:
			t.start()
		for t in ts:
			t.join(120)
		return results

	def check_storm(self, results, kps, lr, n):
		self.assertEqual(len(results), n)
		handed = []
		for r in results:
			if "error" in r:
				# the only refusal allowed is a rate limit (429 on the way)
				self.assertEqual(r["error"], "rate_limited", r)
				continue
			self.assertEqual(len(r["keyPackages"]), 1, r)
			k = r["keyPackages"][0]
			if k["lastResort"]:
				self.assertEqual(k["content"], lr)
			else:
				handed.append(k["content"])
		# exactly the 10, each once
		self.assertEqual(len(handed), len(set(handed)), "a KeyPackage handed out twice")
		self.assertEqual(sorted(handed), sorted(kps))

	def test_c44_concurrent_claims(self):
		kps, lr = self.devs[("ten", "t1")].upload(10)
		# first a claim that takes nothing (a suite ten has none in): b.test
		# caches a.test's key, a.test where ten takes claims
		self.assertEqual(self.claim1(self.a, "alice", self.b, "ten", suites=(2,))["keyPackages"], [])
		results = self.storm("ten", [(self.a, "alice")], 100)
		self.check_storm(results, kps, lr, 100)
		self.assertEqual(stock(self.b, "ten"), {"t1": (0, True)})

	def test_c44_two_claimants(self):
		kps, lr = self.devs[("ten2", "t2")].upload(10)
		for srv, user in ((self.a, "alice"), (self.c, "carol")):
			self.assertEqual(self.claim1(srv, user, self.b, "ten2", suites=(2,))["keyPackages"], [])
		results = self.storm("ten2", [(self.a, "alice"), (self.c, "carol")], 100)
		self.check_storm(results, kps, lr, 100)
		self.assertEqual(stock(self.b, "ten2"), {"t2": (0, True)})


if __name__ == "__main__":
	aimtest.main()
