"""Outage behaviour (issue 16 point 4): a peer down for "5 minutes", "2 hours"
and "3 days", on a clock scaled 1:10,000 through the delivery options that
already exist (no test hook needed): --retry-base-ms 3 (30 s), --retry-max-ms
4320 (12 h), --retry-expire-s 26 (72 h). The circuit breaker keeps its
threshold (5) and gets a cooldown of 500 ms (83 scaled minutes) so that its
probes can be seen apart.

Three fake remotes, each with a follower of bob: r1 down for 30 ms (5 min;
in practice until the notes are posted, 0.1-0.2 s), r2 for 0.72 s (2 h), r3
for 30 s (3.5 days, past the 72 h horizon and the 1 s of grace aimd gives a
row's last attempt); down is 503 to every inbox POST. bob posts 5 notes to his
followers while all three are down. Then:
- r1 and r2 get every note, soon after they come back (within the longest gap
  of the schedule plus the breaker's cooldown);
- r3's deliveries are recorded expired (`aimd deliveries`) and nothing reaches
  it after it comes back;
- the schedule stays inside its bounds: no gap between two attempts of one
  delivery longer than retry-max plus the cooldown, no attempt after the
  horizon, at most the attempts the schedule allows;
- the breaker opened for r3 (logged) and then only probed it: attempts after
  it opened come one at a time, at least a cooldown apart.
"""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from fedtest import FakeRemote, sign_cavage, wait_for

BASE_MS, MAX_MS, EXPIRE_S, COOLDOWN_MS = 3, 4320, 26, 500
DOWN = {"r1.test": 0.03, "r2.test": 0.72, "r3.test": 30.0}
NOTES = 5
SLACK = 1.5  # seconds: the machine is shared


class Outage(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("b.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.remotes = {}
		for name in DOWN:
			r = FakeRemote(cls.fed.ca, name, directory=os.path.join(cls.fed.dir, name))
			cls.addClassCleanup(r.close)
			cls.remotes[name] = r
		cls.b = cls.fed["b.test"]
		cls.tok = cls.b.add_user("bob")

		def args(srv):
			a = ["--ca-file", cls.fed.ca.cert, "--allow-private-addresses",
			     "--retry-base-ms", str(BASE_MS), "--retry-max-ms", str(MAX_MS),
			     "--retry-expire-s", str(EXPIRE_S), "--breaker-threshold", "5",
			     "--breaker-cooldown-ms", str(COOLDOWN_MS)]
			for m in cls.fed.connect_to():
				a += ["--connect-to", m]
			for r in cls.remotes.values():
				a += ["--connect-to", r.connect_to()]
			return a
		cls.fed.start(extra_args=args)
		cls.bob = cls.b.actor("bob")
		for r in cls.remotes.values():
			f = r.add_actor("reader")
			act = f.activity("Follow", cls.bob, to=[cls.bob])
			h, body = sign_cavage(f, "POST", cls.bob + "/inbox", act)
			st, _, _ = cls.b.req("POST", cls.bob + "/inbox", headers=h, body=body)
			assert st in (200, 202), st
		# the Accepts went out while the remotes were up
		for r in cls.remotes.values():
			wait_for(lambda: any((p.get("json") or {}).get("type") == "Accept"
					     for p in r.posts()), what="Accept at " + r.name)

	def deliveries(self):
		r = aimtest.run_aimd("deliveries", "--data", self.b.data)
		self.assertEqual(r.returncode, 0, r.stderr)
		return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

	def test_outage(self):
		down_since = time.time()
		for r in self.remotes.values():
			r.reset()
			r.inbox_status = 503
		ids = []
		for i in range(NOTES):
			st, _, doc = self.b.post("/users/bob/outbox",
						 aimtest.note("outage %d" % i, to=[self.bob + "/followers"]),
						 token=self.tok)
			self.assertEqual(st, 201, doc)
			ids.append(doc["id"])
		posted = time.time()
		up_at = {}
		pending = dict(DOWN)
		while pending:
			now = time.time()
			for name, d in list(pending.items()):
				if now - down_since >= d:
					self.remotes[name].inbox_status = 202
					up_at[name] = now
					del pending[name]
			time.sleep(0.005)

		def delivered(name):
			got = set()
			for p in self.remotes[name].posts():
				j = p.get("json") or {}
				if j.get("type") == "Create" and p.get("at", 0) >= up_at[name]:
					got.add(j.get("id"))
			return got
		# r1 and r2: every note, soon after they came back (r3 came back
		# last, 30 s in: their deliveries were long done)
		for name in ("r1.test", "r2.test"):
			self.assertEqual(delivered(name), set(ids), name)
			first_ok = min(p["at"] for p in self.remotes[name].posts()
				       if p.get("at", 0) >= up_at[name])
			self.assertLess(first_ok - up_at[name], MAX_MS / 1000 + COOLDOWN_MS / 1000 + SLACK,
					name)
		# r3: past the horizon, recorded expired, nothing after its return
		time.sleep(1.0)
		self.assertEqual(delivered("r3.test"), set(), "delivered past the horizon")
		rows = [d for d in self.deliveries() if d["host"].startswith("r3.test")
			and d["activity"] in ids]
		self.assertEqual(len(rows), NOTES, rows)
		self.assertEqual({d["state"] for d in rows}, {"expired"}, rows)
		for d in self.deliveries():
			if d["activity"] in ids and not d["host"].startswith("r3.test"):
				self.assertEqual(d["state"], "delivered", d)
		# the schedule's bounds, from what r3 saw (it failed throughout)
		per = {}
		for p in self.remotes["r3.test"].posts():
			j = p.get("json") or {}
			if j.get("type") == "Create":
				per.setdefault(j["id"], []).append(p["at"])
		horizon = posted + EXPIRE_S
		max_attempts = 0
		for aid, times in per.items():
			times.sort()
			gaps = [b - a for a, b in zip(times, times[1:])]
			self.assertLessEqual(max(gaps or [0]), MAX_MS / 1000 + COOLDOWN_MS / 1000 + SLACK,
					     (aid, gaps))
			self.assertLessEqual(times[-1], horizon + SLACK, "an attempt past the horizon")
			max_attempts = max(max_attempts, len(times))
		# doubling from 3 ms to 4.32 s takes 11 attempts; then at most one a
		# max/2 for the rest of the 26 s horizon
		self.assertLessEqual(max_attempts, 11 + int(EXPIRE_S / (MAX_MS / 2000)) + 2, per)
		# the breaker: opened (logged), then one probe at a time
		self.assertIn("host r3.test", self.b.log_current())
		self.assertIn("circuit open", self.b.log_current())
		all_r3 = sorted(t for ts in per.values() for t in ts)
		late = [t for t in all_r3 if t > down_since + 2.0]
		close = [b - a for a, b in zip(late, late[1:]) if b - a < COOLDOWN_MS / 1000 * 0.8]
		self.assertEqual(close, [], "attempts on an open circuit closer than its cooldown")
		print("outage: r1 back after %.2f s, r2 after %.2f s; r3 saw %d attempts of %d notes "
		      "(at most %d for one), all expired" %
		      (up_at["r1.test"] - down_since, up_at["r2.test"] - down_since, len(all_r3),
		       len(per), max_attempts))


if __name__ == "__main__":
	aimtest.main()
