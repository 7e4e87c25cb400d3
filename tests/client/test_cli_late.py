"""A message of the previous epoch, ordered after a Commit, through `aim`
commands across two domains (issue 12 point 3: "correct under reordering";
RFC 9420 section 9.2: "Members MAY keep unconsumed values around for some
reasonable amount of time to handle out-of-order message delivery").

bob's device has not seen alice's rotation (an Update commit to epoch 2)
when it sends: its message is encrypted in epoch 1 and the hub, which
takes messages one epoch old, sequences it after the commit. alice's
device, already at epoch 2, decrypts it with the epoch-1 keys it keeps
(the group's past-epoch window) instead of recording it undecryptable;
bob's device then applies the commit and both agree."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase
from clitest import Aim, Domains


class CliLate(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains(("a.test", "b.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		toks = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob")):
			toks[user] = cls.fed[dom].add_user(user)
		cls.fed.start_all()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-cli-late-")
		cls.dev = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob")):
			a = Aim(os.path.join(cls.tmp, user))
			a.login(cls.fed[dom], user, toks[user], device="laptop",
				connect_to=cls.fed.route(dom), ca_file=cls.fed.ca.cert, keys=3)
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

	def test_late_message_of_previous_epoch(self):
		alice, bob = self.dev["alice"], self.dev["bob"]
		url = alice.ok("channel", "create", "late", "bob@b.test", "--json")["channel"]
		alice.ok("send", url, "hello bob")
		self.assertEqual(self.listen("bob", 1, url)[0]["text"], "hello bob")
		self.assertEqual(self.conv("bob", url)["epoch"], 1)
		# alice rotates: epoch 2 at the hub and on her device
		rt = alice.ok("rotate", url, "--json")
		self.assertEqual(rt["epoch"], 2)
		# bob has not synced: his message is of epoch 1, ordered after
		# the commit
		self.assertEqual(self.conv("bob", url)["epoch"], 1)
		bob.ok("send", url, "sent in epoch 1")
		got = self.listen("alice", 1, url)[0]
		self.assertEqual(got["text"], "sent in epoch 1")
		self.assertEqual(got["sender"], "acct:bob@b.test")
		h = alice.ok("history", url, "--json")
		self.assertNotIn("undecryptable", json.dumps(h))
		self.assertIn("sent in epoch 1", [m["text"] for m in h["messages"]])
		# bob catches up: the commit, then his own message in the hub's order
		mine = self.listen("bob", 1, url)[0]
		self.assertEqual(mine["text"], "sent in epoch 1")
		a, b = self.conv("alice", url), self.conv("bob", url)
		self.assertEqual((a["epoch"], a["epochAuthenticator"]),
				 (b["epoch"], b["epochAuthenticator"]))
		# and on in epoch 2
		bob.ok("send", url, "in epoch 2")
		self.assertEqual(self.listen("alice", 1, url)[0]["text"], "in epoch 2")


if __name__ == "__main__":
	unittest.main()
