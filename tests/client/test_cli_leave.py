"""Leaving and rotating keys through `aim` commands, across three domains
over TLS (issue 12 point 1: "rotate keys (an Update commit) ... leave a
conversation"). carol leaves: a self-remove proposal to the hub; the
owner's device (alice) commits it on its next sync; carol's conversation
is marked left at once, a later message is not readable by her and her
server receives nothing more of the channel. alice and bob rotate their
keys (Update commits with a path through the hub's epoch gate); every
member processes them and all agree on the epoch authenticator."""

import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase
from clitest import Aim, Domains


class CliLeave(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains(("a.test", "b.test", "c.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		toks = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob"), ("c.test", "carol")):
			toks[user] = cls.fed[dom].add_user(user)
		cls.fed.start_all()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-cli-leave-")
		cls.dev = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob"), ("c.test", "carol")):
			a = Aim(os.path.join(cls.tmp, user))
			a.login(cls.fed[dom], user, toks[user], device="laptop",
				connect_to=cls.fed.route(dom), ca_file=cls.fed.ca.cert, keys=5)
			cls.dev[user] = a

	def listen(self, who, n, conv):
		r = self.dev[who]("listen", conv, "--json", "--count", n, "--interval", 100, timeout=60)
		self.assertEqual(r.returncode, 0, r)
		msgs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
		self.assertEqual(len(msgs), n, r)
		return msgs

	def conv(self, who, url):
		c = [x for x in self.dev[who].ok("conversations", "--json")["conversations"]
		     if x["conversation"] == url]
		self.assertEqual(len(c), 1)
		return c[0]

	def settle(self, who, url, epoch):
		"""Syncs who until the conversation reaches epoch."""
		for _ in range(100):
			self.dev[who]("listen", url, "--json", "--interval", "100", timeout_ok=0.5)
			if self.conv(who, url)["epoch"] >= epoch:
				return
		self.fail("%s never reached epoch %d: %r" % (who, epoch, self.conv(who, url)))

	def test_leave_then_rotate(self):
		alice, bob, carol = self.dev["alice"], self.dev["bob"], self.dev["carol"]
		url = alice.ok("channel", "create", "leaving", "bob@b.test", "carol@c.test",
			       "--json")["channel"]
		alice.ok("send", url, "hello both")
		for who in ("bob", "carol"):
			self.assertEqual(self.listen(who, 1, url)[0]["text"], "hello both")
		self.assertEqual(self.conv("carol", url)["members"], 3)

		# carol leaves: marked left at once, no more sending
		lv = carol.ok("leave", url, "--json")
		self.assertTrue(lv["left"])
		self.assertFalse(self.conv("carol", url)["active"])
		self.assertIn("(left)", carol.ok("conversations"))
		r = carol("send", url, "still here?")
		self.assertEqual(r.returncode, 1, r)
		self.assertIn("left", r.stderr)
		self.assertEqual(len(r.stderr.strip().split("\n")), 1, r)
		r = carol("leave", url)
		self.assertEqual(r.returncode, 1, r)
		# alice, the owner, commits the removal on her next sync; bob applies it
		self.settle("alice", url, 2)
		self.settle("bob", url, 2)
		carol("listen", url, "--json", "--interval", "100", timeout_ok=2)
		a, b = self.conv("alice", url), self.conv("bob", url)
		self.assertEqual(a["members"], 2)
		self.assertEqual((a["epoch"], a["epochAuthenticator"]), (b["epoch"], b["epochAuthenticator"]))
		h = alice.ok("history", url, "--json")
		self.assertIn("acct:carol@c.test leaves the conversation",
			      [x["text"] for x in h["notShown"]])
		# a later message: bob reads it, carol neither reads it nor receives it
		alice.ok("send", url, "after carol")
		self.assertEqual(self.listen("bob", 1, url)[0]["text"], "after carol")
		r = carol("listen", url, "--json", "--interval", "100", timeout_ok=3)
		self.assertNotIn("after carol", r.stdout)
		self.assertNotIn("after carol", json.dumps(carol.ok("history", url, "--json")))
		c = self.conv("carol", url)
		self.assertFalse(c["active"])
		carol_seq = c["seq"]
		# her server stops receiving: nothing after the commit reaches her inbox
		alice.ok("send", url, "later still")
		self.assertEqual(self.listen("bob", 1, url)[0]["text"], "later still")
		time.sleep(1)
		carol("listen", url, "--json", "--interval", "100", timeout_ok=2)
		self.assertEqual(self.conv("carol", url)["seq"], carol_seq)

		# rotate: alice and bob update their paths; both agree after each
		for who, other in (("alice", "bob"), ("bob", "alice")):
			before = self.conv(who, url)["epoch"]
			rt = self.dev[who].ok("rotate", url, "--json")
			self.assertEqual(rt["from"], before)
			self.assertEqual(rt["epoch"], before + 1)
			self.settle(other, url, before + 1)
			x, y = self.conv(who, url), self.conv(other, url)
			self.assertEqual((x["epoch"], x["epochAuthenticator"]),
					 (y["epoch"], y["epochAuthenticator"]))
			self.assertEqual(x["epochAuthenticator"], rt["epochAuthenticator"])
		# messages still flow, and a rotation warns of nothing (same credential)
		bob.ok("send", url, "rotated")
		self.assertEqual(self.listen("alice", 1, url)[0]["text"], "rotated")
		self.assertEqual(alice.ok("history", url, "--json")["trustWarnings"], [])

		# bob leaves too and alice rotates at once: her sync commits his
		# removal first, her Update follows it (the hub refuses an Update
		# that leaves a pending removal out)
		bob.ok("leave", url)
		before = self.conv("alice", url)["epoch"]
		alice.ok("rotate", url, "--json")
		a = self.conv("alice", url)
		self.assertEqual(a["members"], 1)
		self.assertEqual(a["epoch"], before + 2)
		alice.ok("send", url, "alone")
		r = bob("listen", url, "--json", "--interval", "100", timeout_ok=3)
		self.assertNotIn("alone", r.stdout)
		self.assertFalse(self.conv("bob", url)["active"])

	def test_errors(self):
		r = self.dev["alice"]("rotate", "no-such")
		self.assertEqual(r.returncode, 1, r)
		r = self.dev["alice"]("leave")
		self.assertEqual(r.returncode, 2, r)


if __name__ == "__main__":
	aimtest.main()
