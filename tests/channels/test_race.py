"""Racing commits at the hub (issue 11 acceptance): two members of a
channel commit for the same epoch at the same moment, AIM_RACE_ROUNDS times
(default 1000): each round alice adds x1 and dave adds x2, both Adds with
their Welcomes posted together from two threads. Each time exactly one wins
(201 with the new epoch), the loser gets 409 with that epoch as the current
one, processes the winner's commit, commits again on the new epoch and
succeeds; then alice removes both so that the next round starts alike. No
Welcome of a losing commit ever reaches x1's or x2's inbox (each inbox
holds exactly the Welcomes of the accepted Adds); alice and dave end on the
same epoch and epoch authenticator, the hub's epoch. The MLS traffic is
real (tests/interop/mls_driver.c)."""

import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from fedtest import inbox_items, wait_for
from chantest import Mls, obj, unobj

ROUNDS = int(os.environ.get("AIM_RACE_ROUNDS", "1000"))


class Race(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("a.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a = cls.fed["a.test"]
		for u in ("alice", "dave", "x1", "x2"):
			cls.a.add_user(u)
		# the MLS driver's devices carry basic credentials: this test's hubs
		# take them unchecked (test_hub_credentials.py checks x509)
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(
			cls.fed, extra=("--hub-basic-credentials",)))
		cls.mls = Mls()
		cls.addClassCleanup(cls.mls.close)

	def client(self, who):
		name = "%s-%s" % (who, uuid.uuid4().hex[:8])
		r = self.mls("create_client", suite=1, identity="acct:%s@a.test" % who, name=name)
		return name, r["key_package"]

	def post(self, user, act):
		return self.a.post("/users/%s/outbox" % user, act, token=self.a.tokens[user])

	def add(self, user, chan, target, c):
		return self.post(user, {
			"type": "Add", "object": [self.a.actor(target)], "target": chan + "/followers",
			"instrument": obj("PublicMessage", c["commit"]),
			"aim:welcome": obj("Welcome", c["welcome"])})

	def welcomes(self, user, chan):
		return [unobj(it["object"]) for it in inbox_items(self.a, user, limit_pages=100000)
			if isinstance(it, dict) and it.get("actor") == chan and
			it.get("type") == "Create" and (it.get("object") or {}).get("type") == "Welcome"]

	def test_racing_commits(self):
		t0 = time.monotonic()
		al, _ = self.client("alice")
		self.mls("create_group", client=al)
		dv, kp = self.client("dave")
		cm = self.mls("commit", client=al, add=[kp], public=True, tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		st, hd, doc = self.post("alice", {
			"type": "Create", "object": {"type": "Group", "name": "race",
						     "aim:policy": {"membership": "members"}},
			"aim:members": [self.a.actor("dave")],
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		chan = hd.get("location") or hd.get("Location")
		w = wait_for(lambda: self.welcomes("dave", chan), what="dave's Welcome")
		self.mls("join", client=dv, welcome=w[0])
		epoch = 1
		wins = {"alice": 0, "dave": 0}
		accepted = {"x1": set(), "x2": set()}	# Welcomes of accepted Adds
		refused = {"x1": set(), "x2": set()}	# Welcomes of losing commits
		who = {"alice": (al, "x1"), "dave": (dv, "x2")}
		for rnd in range(ROUNDS):
			kps = {"x1": self.client("x1")[1], "x2": self.client("x2")[1]}
			cs = {u: self.mls("commit", client=who[u][0], add=[kps[who[u][1]]], public=True,
					  pending=True, tree_in_welcome=True) for u in who}
			res = {}
			gate = threading.Barrier(2)

			def go(u):
				gate.wait()
				res[u] = self.add(u, chan, who[u][1], cs[u])
			ts = [threading.Thread(target=go, args=(u,)) for u in who]
			for t in ts:
				t.start()
			for t in ts:
				t.join()
			# exactly one wins; the loser hears the winner's epoch
			codes = sorted(r[0] for r in res.values())
			self.assertEqual(codes, [201, 409], (rnd, res))
			winner = "alice" if res["alice"][0] == 201 else "dave"
			loser = "dave" if winner == "alice" else "alice"
			wins[winner] += 1
			self.assertEqual(res[winner][2]["aim:epoch"], epoch + 1, (rnd, res))
			self.assertEqual(res[loser][2]["error"], "stale_epoch", (rnd, res))
			self.assertEqual(res[loser][2]["aim:currentEpoch"], epoch + 1, (rnd, res))
			epoch += 1
			wc, lc = who[winner][0], who[loser][0]
			lt = who[loser][1]
			accepted[who[winner][1]].add(cs[winner]["welcome"])
			refused[lt].add(cs[loser]["welcome"])
			self.mls("merge_pending", client=wc)
			self.mls("discard_pending", client=lc)
			self.mls("process", client=lc, message=cs[winner]["commit"])
			# the loser retries on the new epoch and succeeds
			again = self.mls("commit", client=lc, add=[kps[lt]], public=True,
					 tree_in_welcome=True)
			st, _, doc = self.add(loser, chan, lt, again)
			self.assertEqual(st, 201, (rnd, doc))
			self.assertEqual(doc["aim:epoch"], epoch + 1, (rnd, doc))
			epoch += 1
			accepted[lt].add(again["welcome"])
			self.mls("process", client=wc, message=again["commit"])
			# alice removes both so that the next round starts alike
			leaves = [m["leaf"] for m in self.mls("status", client=al)["members"]
				  if m["identity"] in ("acct:x1@a.test", "acct:x2@a.test")]
			self.assertEqual(len(leaves), 2, rnd)
			rm = self.mls("commit", client=al, remove=leaves, public=True)
			st, _, doc = self.post("alice", {
				"type": "Remove", "object": [self.a.actor("x1"), self.a.actor("x2")],
				"target": chan + "/followers", "instrument": obj("PublicMessage", rm["commit"])})
			self.assertEqual(st, 201, (rnd, doc))
			epoch += 1
			self.mls("process", client=dv, message=rm["commit"])
		t_rounds = time.monotonic() - t0
		# both racers won some rounds (the race is real, not an ordering)
		if ROUNDS >= 50:
			self.assertTrue(wins["alice"] and wins["dave"], wins)
		# no Welcome of a losing commit was ever delivered: x1's and x2's
		# inboxes hold exactly the Welcomes of the accepted Adds, once each
		for u in ("x1", "x2"):
			got = wait_for(lambda: len(self.welcomes(u, chan)) >= ROUNDS and
				       self.welcomes(u, chan), what="%s's Welcomes" % u)
			self.assertEqual(len(got), ROUNDS, u)
			self.assertEqual(set(got), accepted[u], u)
			self.assertFalse(set(got) & refused[u], u)
		# every device on the same epoch and authenticator, the hub's epoch
		sa = self.mls("status", client=al)
		sd = self.mls("status", client=dv)
		self.assertEqual(sa["epoch"], epoch)
		self.assertEqual(sd["epoch"], epoch)
		self.assertEqual(sa["epoch_authenticator"], sd["epoch_authenticator"])
		st, _, d = aimtest.get_json(chan, ctx=self.a.ctx)
		self.assertEqual(d["aim:epoch"], epoch)
		sys.stderr.write("test_race: %d rounds in %.1f s (alice won %d, dave %d)\n" %
				 (ROUNDS, t_rounds, wins["alice"], wins["dave"]))


if __name__ == "__main__":
	aimtest.main()
