"""A second device joins the account's conversations by itself, and a
device that fell too far behind rejoins, through `aim` commands across two
domains (issue 12: "add a second device to an account (the new device
joins each conversation by external commit or by a Welcome from another
device)"; "a device that fell too far behind rejoins by external commit
and says so").

- bob has a laptop in two channels of alice's (a.test). His new phone
  (b.test) runs `aim join`: it finds both in the inbox b.test keeps and
  joins each by external commit with the hub's GroupInfo; then alice,
  the laptop and the phone exchange messages and agree on the epoch
  authenticator.
- A third channel while a.test is down: the phone cannot get its
  GroupInfo, says so and waits for a Welcome; once a.test is back, alice's
  `invite` of bob adds the phone and the phone's next sync joins from the
  Welcome.
- bob's laptop is restored from a backup taken before it rotated its keys:
  it cannot apply its own later commit, says it fell behind, and rejoins
  by external commit (its old leaf removed in the same commit); messages
  flow again and everyone agrees.
- carol's tablet joins a channel while alice's rotation wins the epoch its
  external commit was made for (held between GroupInfo and POST by
  AIM_TEST_JOIN_DELAY_MS): the hub refuses it; the tablet sees the
  winning commit, says its join lost, and joins again on the new epoch."""

import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase
from clitest import Aim, Domains


class CliDevices(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains(("a.test", "b.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.toks = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob")):
			cls.toks[user] = cls.fed[dom].add_user(user)
		cls.fed.start_all()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-cli-devices-")
		cls.dev = {}
		for dom, user, dev in (("a.test", "alice", "laptop"), ("b.test", "bob", "laptop")):
			a = Aim(os.path.join(cls.tmp, user + "-" + dev))
			a.login(cls.fed[dom], user, cls.toks[user], device=dev,
				connect_to=cls.fed.route(dom), ca_file=cls.fed.ca.cert, keys=5)
			cls.dev[user] = a

	def listen(self, dev, n, conv):
		r = dev("listen", conv, "--json", "--count", n, "--interval", 100, timeout=60)
		self.assertEqual(r.returncode, 0, r)
		msgs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
		self.assertEqual(len(msgs), n, r)
		return msgs, r.stderr

	def conv(self, dev, url):
		c = [x for x in dev.ok("conversations", "--json")["conversations"]
		     if x["conversation"] == url]
		self.assertEqual(len(c), 1, dev.ok("conversations"))
		return c[0]

	def settle(self, dev, url, epoch):
		for _ in range(100):
			dev("listen", url, "--json", "--interval", "100", timeout_ok=0.5)
			if self.conv(dev, url)["epoch"] >= epoch:
				return
		self.fail("never reached epoch %d: %r" % (epoch, self.conv(dev, url)))

	def agree(self, devs, url):
		st = [self.conv(d, url) for d in devs]
		self.assertEqual(len({(s["epoch"], s["epochAuthenticator"]) for s in st}), 1, st)
		return st[0]["epoch"]

	def test_devices(self):
		alice, laptop = self.dev["alice"], self.dev["bob"]
		urls = []
		for name in ("team", "lunch", "third"):
			url = alice.ok("channel", "create", name, "bob@b.test", "--json")["channel"]
			alice.ok("send", url, "before the phone in " + name)
			self.assertEqual(self.listen(laptop, 1, url)[0][0]["text"],
					 "before the phone in " + name)
			urls.append(url)
		url3 = urls.pop()

		phone = Aim(os.path.join(self.tmp, "bob-phone"))
		phone.login(self.fed["b.test"], "bob", self.toks["bob"], device="phone",
			    connect_to=self.fed.route("b.test"), ca_file=self.fed.ca.cert, keys=5)
		# while the hub is unreachable: no GroupInfo, so the phone says it
		# waits for a Welcome from another device
		self.fed["a.test"].stop()
		try:
			r = phone("join", "--json")
		finally:
			self.fed["a.test"].start()
		self.assertEqual(r.returncode, 0, r)
		w = {c["conversation"]: c for c in r.json()["conversations"]}
		self.assertEqual(set(w), set(urls + [url3]), r)
		for c in w.values():
			self.assertEqual((c["how"], c["joined"]), ("welcome", False), r)
		# the owner's invite brings the phone a Welcome for "third"
		alice.ok("invite", url3, "bob@b.test")
		for _ in range(50):
			phone("listen", url3, "--json", "--interval", 100, timeout_ok=0.5)
			if [c for c in phone.ok("conversations", "--json")["conversations"]
			    if c["conversation"] == url3]:
				break
		self.assertEqual(self.conv(phone, url3)["members"], 3)
		alice.ok("send", url3, "welcome phone")
		self.assertEqual(self.listen(phone, 1, url3)[0][0]["text"], "welcome phone")

		# with the hub back, the phone joins the other two by external commit
		text = phone.ok("join")
		self.assertIn("joined %s by external commit" % urls[0], text)
		j = phone.ok("join", "--json")
		self.assertEqual(j["conversations"], [], j)
		self.assertIn("nothing to join", phone.ok("join"))
		for u in urls:
			self.assertEqual(self.conv(phone, u)["members"], 3)
			e = self.conv(phone, u)["epoch"]
			# everyone applies the phone's commit, then messages flow
			self.settle(alice, u, e)
			self.settle(laptop, u, e)
			self.agree([alice, laptop, phone], u)
			alice.ok("send", u, "hello phone")
			self.assertEqual(self.listen(phone, 1, u)[0][0]["text"], "hello phone")
			self.assertEqual(self.listen(laptop, 1, u)[0][0]["text"], "hello phone")
			phone.ok("send", u, "from the phone")
			# alice sees her own message back first, in the hub's order
			self.assertEqual([m["text"] for m in self.listen(alice, 2, u)[0]],
					 ["hello phone", "from the phone"])
			m = self.listen(laptop, 1, u)[0][0]
			self.assertEqual((m["text"], m["sender"]), ("from the phone", "acct:bob@b.test"))

		# the laptop restored from a backup taken before it rotated
		u = urls[0]
		backup = os.path.join(self.tmp, "bob-laptop-backup")
		shutil.copytree(laptop.home, backup)
		laptop.ok("rotate", u)
		e = self.conv(laptop, u)["epoch"]
		self.settle(alice, u, e)
		self.settle(phone, u, e)
		alice.ok("send", u, "after the rotation")
		self.assertEqual(self.listen(phone, 1, u)[0][0]["text"], "after the rotation")
		shutil.rmtree(laptop.home)
		shutil.copytree(backup, laptop.home)
		restored = laptop("listen", u, "--json", "--interval", 100, timeout_ok=8)
		self.assertIn("rejoined %s by external commit" % u, restored.stderr, restored)
		self.assertIn("fell too far behind", restored.stderr)
		h = laptop.ok("history", u, "--json")
		self.assertIn("rejoined", json.dumps(h))
		e2 = self.conv(laptop, u)["epoch"]
		self.assertGreater(e2, e)
		self.settle(alice, u, e2)
		self.settle(phone, u, e2)
		self.agree([alice, laptop, phone], u)
		alice.ok("send", u, "after the rejoin")
		self.assertEqual(self.listen(laptop, 1, u)[0][0]["text"], "after the rejoin")
		laptop.ok("send", u, "restored laptop here")
		self.assertEqual(self.listen(alice, 2, u)[0][1]["text"], "restored laptop here")
		# the group has alice and bob's two devices (the old leaf removed)
		self.assertEqual(self.conv(alice, u)["members"], 3)

		# an external join that loses its epoch to another commit: carol
		# (b.test, one channel with alice) and her new tablet
		ctok = self.fed["b.test"].add_user("carol")
		carol = Aim(os.path.join(self.tmp, "carol-laptop"))
		carol.login(self.fed["b.test"], "carol", ctok, device="laptop",
			    connect_to=self.fed.route("b.test"), ca_file=self.fed.ca.cert, keys=5)
		race = alice.ok("channel", "create", "race", "carol@b.test", "--json")["channel"]
		alice.ok("send", race, "before the tablet")
		self.assertEqual(self.listen(carol, 1, race)[0][0]["text"], "before the tablet")
		tablet = Aim(os.path.join(self.tmp, "carol-tablet"),
			     env={"AIM_TEST_JOIN_DELAY_MS": "3000"})
		tablet.login(self.fed["b.test"], "carol", ctok, device="tablet",
			     connect_to=self.fed.route("b.test"), ca_file=self.fed.ca.cert, keys=5)
		p = tablet.popen("join", "--json")
		held = p.stderr.readline()
		self.assertIn("holding the external commit", held)
		e0 = self.conv(alice, race)["epoch"]
		alice.ok("rotate", race)
		out, err = p.communicate(timeout=60)
		self.assertEqual(p.returncode, 0, err)
		self.assertIn(race, out)
		del tablet.env["AIM_TEST_JOIN_DELAY_MS"]
		r = tablet("listen", race, "--json", "--interval", 100, timeout_ok=8)
		self.assertIn("rejoined %s by external commit" % race, r.stderr, r)
		# the winner's Announce or the hub's Reject, whichever came first
		self.assertTrue("another commit won" in r.stderr or "hub refused" in r.stderr, r)
		e3 = self.conv(tablet, race)["epoch"]
		self.assertEqual(e3, e0 + 2)
		self.settle(alice, race, e3)
		self.agree([alice, tablet], race)
		alice.ok("send", race, "hello tablet")
		self.assertEqual(self.listen(tablet, 1, race)[0][0]["text"], "hello tablet")
		self.assertEqual(self.conv(alice, race)["members"], 3)
		self.settle(carol, race, e3)
		self.agree([alice, carol, tablet], race)


if __name__ == "__main__":
	unittest.main()
