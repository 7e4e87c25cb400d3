#!/usr/bin/env python3
"""KeyPackage claims across two processes of one domain on one PostgreSQL
database, one of them killed with SIGKILL while they run (issue 15: "no
KeyPackage claimed twice").

bob (a.test) has one device with N consumable KeyPackages and a last-resort
one. alice fires 2N claims for acct:bob@a.test at once through the client
API (POST /users/alice/claim, a local claim straight from the store),
alternating the two a.test processes' own ports; in the middle the first
process is killed with SIGKILL. A claim that the dead process refused at
connect (nothing sent) goes to the other one; one cut while in flight may
or may not have consumed a KeyPackage, and its answer is lost. Then:
  - every consumable KeyPackage handed out is one bob uploaded, and none
    is handed out twice; past the stock a claim gets the last-resort one;
  - successes <= N, and the stock read afterwards (from either process) is
    N - successes - lost, where lost (the uploaded KeyPackages neither
    handed out nor left, counted when the stock is drained) is no more
    than the claims cut in flight;
  - the killed process started again, a second round of claims (again
    alternating) hands out only KeyPackages the first round did not, each
    once, until the stock is empty.

The README ("The KeyPackage directory") promises this: consumed in the
same store transaction that picks it, with conditional updates, so
concurrent claims from any number of processes never get the same one.
"""

import base64
import http.client
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "identity"))
import aimtest
from kptest import Device, JSON, stock

from test_pg_serve import Base

N = 40
WORKERS = 12


def kp_bytes(b64):
	return base64.b64decode(b64)


class Claims(Base):
	roles = ("both", "both")

	@classmethod
	def _adopt(cls, srv, data, port_res, role):
		super()._adopt(srv, data, port_res, role)
		# every one of the 2N claims on one target must get through
		srv.extra_args += ["--claim-host-rate", "100000", "--claim-user-rate", "100000"]

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		a1, a2 = cls.procs
		cls.dev = Device(a2, "bob", "phone")
		cls.addClassCleanup(cls.dev.cleanup)
		kps, lr = cls.dev.upload(N)
		cls.uploaded = {kp_bytes(k) for k in kps}
		cls.last_resort = kp_bytes(lr)
		assert len(cls.uploaded) == N

	def available(self, srv):
		return sum(av for av, _ in stock(srv, "bob").values())

	def claim_once(self, srv):
		"""One claim for bob on srv: ("kp", bytes) | ("lr", bytes) |
		("refused",) nothing sent | ("cut",) answer lost in flight."""
		try:
			st, _, doc = srv.post("/users/alice/claim",
					      {"handles": ["acct:bob@a.test"], "cipherSuites": [1]},
					      token=self.tokens["alice"], content_type=JSON,
					      retry_429=False)
		except ConnectionRefusedError:
			return ("refused",)
		except (OSError, http.client.HTTPException):
			return ("cut",)
		if st == 503 and not srv.running():
			return ("cut",)
		self.assertEqual(st, 200, doc)
		res = doc["results"]
		self.assertEqual(len(res), 1, res)
		self.assertNotIn("error", res[0], res[0])
		got = res[0]["keyPackages"]
		self.assertEqual(len(got), 1, res[0])
		b = kp_bytes(got[0]["content"])
		return ("lr", b) if got[0].get("lastResort") else ("kp", b)

	def round(self, n, kill=None):
		"""n claims at once, claim i on procs[i % 2] (the other one when
		that one refuses the connection); kill(), if given, runs once n/3
		claims have started. Returns (handed-out list, last-resort count,
		claims cut in flight)."""
		out, lock = [], threading.Lock()
		state = {"next": 0, "lr": 0, "cut": 0}
		killed = threading.Event()
		errors = []

		def worker():
			try:
				work()
			except BaseException as e:	# re-raised below, in the test's thread
				errors.append(e)

		def work():
			while True:
				with lock:
					i = state["next"]
					if i >= n:
						return
					state["next"] += 1
				if kill and i == n // 3 and not killed.is_set():
					killed.set()
					threading.Thread(target=kill).start()
				first = self.procs[i % 2]
				other = self.procs[1 - i % 2]
				r = self.claim_once(first)
				if r[0] == "refused":
					r = self.claim_once(other)
				with lock:
					if r[0] == "kp":
						out.append(r[1])
					elif r[0] == "lr":
						self.assertEqual(r[1], self.last_resort)
						state["lr"] += 1
					elif r[0] == "cut":
						state["cut"] += 1
					else:
						self.fail("claim %d refused by both processes" % i)

		ts = [threading.Thread(target=worker) for _ in range(WORKERS)]
		for t in ts:
			t.start()
		for t in ts:
			t.join()
		if errors:
			raise errors[0]
		return out, state["lr"], state["cut"]

	def assert_distinct_uploaded(self, got, what):
		self.assertEqual(len(got), len(set(got)), "%s: a KeyPackage handed out twice" % what)
		for b in got:
			self.assertIn(b, self.uploaded, "%s: a KeyPackage bob never uploaded" % what)

	def test_no_keypackage_claimed_twice(self):
		a1, a2 = self.procs
		self.assertEqual(self.available(a1), N)

		# round 1: 2N claims, a1 killed with SIGKILL while they run
		got1, lr1, cut1 = self.round(2 * N, kill=a1.kill9)
		self.assertFalse(a1.running())
		self.assert_distinct_uploaded(got1, "round 1")
		ok1 = len(got1)
		self.assertLessEqual(ok1, N)
		self.assertGreater(ok1, 0)
		left = self.available(a2)
		# what a cut claim consumed is gone with its answer, no more
		self.assertLessEqual(left, N - ok1)
		self.assertGreaterEqual(left, N - ok1 - cut1, "more consumed than claims cut")
		if cut1 == 0:
			self.assertEqual(left, N - ok1)
		self.assertEqual(ok1 + lr1 + cut1, 2 * N)

		# the killed process again; a second round on what is left, topped
		# up first so that there is something new to hand out
		a1.start()
		self.assertEqual(self.available(a1), left)
		kps2, _ = self.dev.upload(N // 2, last_resort=False)
		new = {kp_bytes(k) for k in kps2}
		self.assertFalse(new & self.uploaded)
		self.__class__.uploaded = self.uploaded | new
		self.assertEqual(self.available(a1), left + N // 2)
		n2 = left + N // 2 + N // 4
		got2, lr2, cut2 = self.round(n2)
		self.assertEqual(cut2, 0)
		self.assert_distinct_uploaded(got2, "round 2")
		self.assertFalse(set(got1) & set(got2), "a KeyPackage handed out in both rounds")
		self.assertTrue(new <= set(got2))
		self.assertEqual(len(got2), left + N // 2)
		self.assertEqual(lr2, n2 - len(got2))
		for srv in (a1, a2):
			self.assertEqual(self.available(srv), 0)

		# the accounting of round 1: every uploaded KeyPackage was handed
		# out once, or consumed by a claim cut in flight (its answer lost)
		lost = N - ok1 - left
		self.assertLessEqual(lost, cut1)
		self.assertEqual(len(set(got1) | set(got2)), N + N // 2 - lost)
		print("round 1: %d handed out, %d last resort, %d cut in flight, %d lost with them" %
		      (ok1, lr1, cut1, lost), file=sys.stderr)


if __name__ == "__main__":
	aimtest.main()
