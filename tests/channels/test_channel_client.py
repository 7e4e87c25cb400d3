"""Channels and group DMs through the client library (issue 11 acceptance,
client side), over a local federation of a.test, b.test and c.test with
TLS (BASE https://NAME, every process reaching NAME:443 through a
--connect-to mapping). Each device is a client_driver process
(tests/identity/client_driver.c + tests/channels/driver_channels.c) that
speaks only to its home server: alice@a.test creates a channel with
bob@b.test and carol@c.test, all three exchange messages and every device
decrypts every message; carol is removed and cannot decrypt what follows;
a device that did not sync while messages and a commit happened catches up
in order; a group DM of three across three domains and a 1:1 DM."""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "identity"))
import aimtest
import fedtest
from aimtest import AimTestCase
from clientdrv import Device
from test_identity_federation import Domains


class ChannelClient(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains()
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a, cls.b, cls.c = cls.fed["a.test"], cls.fed["b.test"], cls.fed["c.test"]
		cls.tokens = {"alice": cls.a.add_user("alice"), "bob": cls.b.add_user("bob"),
			      "carol": cls.c.add_user("carol")}
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(cls.fed))
		cls.devs = {}
		for user, srv in (("alice", cls.a), ("bob", cls.b), ("carol", cls.c)):
			own = ["%s:443:127.0.0.1:%d" % (srv.domain, srv.port)]
			d = Device(os.path.join(cls.fed.dir, "dev-" + user), server=srv.base,
				   user=user, token=cls.tokens[user], device="phone",
				   ca_file=cls.fed.ca.cert, connect_to=own)
			cls.addClassCleanup(d.close)
			assert d.opened["ok"], d.opened
			d.ok("register")
			d.ok("publish", n=5, last_resort=True)
			cls.devs[user] = d

	def dev(self, user):
		return self.devs[user]

	def texts(self, user, conv):
		return [(m["sender"], m["text"]) for m in
			self.dev(user).ok("messages", conversation=conv)["messages"]
			if m["type"] == "text"]

	def wait_texts(self, user, conv, want, timeout=30):
		"""Syncs user's device until its history of conv holds want (a list
		of (sender, text)) in this order."""
		deadline = time.time() + timeout
		got = None
		while time.time() < deadline:
			r = self.dev(user).call("sync")
			if r.get("ok"):
				try:
					got = self.texts(user, conv)
				except AssertionError:
					got = None
				if got == want:
					return
			time.sleep(0.3)
		self.fail("%s's history of %s: %r, wanted %r (last sync %r)" %
			  (user, conv, got, want, r))

	def wait_joined(self, user, conv, timeout=30):
		deadline = time.time() + timeout
		while time.time() < deadline:
			self.dev(user).ok("sync")
			r = self.dev(user).call("group", conversation=conv)
			if r.get("ok"):
				return r
			time.sleep(0.3)
		self.fail("%s never joined %s" % (user, conv))

	def test_channel_across_three_domains(self):
		alice, bob, carol = (self.dev(u) for u in ("alice", "bob", "carol"))
		ch = alice.ok("channel_create", name="general",
			      handles=["acct:bob@b.test", "acct:carol@c.test"])["channel"]
		self.assertTrue(ch.startswith("https://a.test/channels/"), ch)
		for u in ("bob", "carol"):
			g = self.wait_joined(u, ch)
			self.assertEqual(g["kind"], "channel")
			self.assertEqual(g["members"], 3)
		A, B, C = "acct:alice@a.test", "acct:bob@b.test", "acct:carol@c.test"
		alice.ok("send", conversation=ch, text="hello from a")
		self.wait_texts("bob", ch, [(A, "hello from a")])
		bob.ok("send", conversation=ch, text="hello from b")
		self.wait_texts("carol", ch, [(A, "hello from a"), (B, "hello from b")])
		carol.ok("send", conversation=ch, text="hello from c")
		want = [(A, "hello from a"), (B, "hello from b"), (C, "hello from c")]
		for u in ("alice", "bob", "carol"):
			self.wait_texts(u, ch, want)
		auths = {self.dev(u).ok("group", conversation=ch)["authenticator"]
			 for u in ("alice", "bob", "carol")}
		self.assertEqual(len(auths), 1, auths)

		# carol is removed: she cannot decrypt what follows
		alice.ok("channel_remove", channel=ch, handles=["acct:carol@c.test"])
		alice.ok("sync")
		alice.ok("send", conversation=ch, text="without carol")
		want2 = want + [(A, "without carol")]
		self.wait_texts("bob", ch, want2)
		self.wait_texts("alice", ch, want2)
		deadline = time.time() + 20
		while time.time() < deadline:
			carol.ok("sync")
			if not carol.ok("group", conversation=ch)["active"]:
				break
			time.sleep(0.3)
		self.assertFalse(carol.ok("group", conversation=ch)["active"])
		self.assertNotIn((A, "without carol"), self.texts("carol", ch))
		r = carol.call("send", conversation=ch, text="still here?")
		self.assertFalse(r["ok"])
		# nothing of the plaintext on any server
		for srv in (self.a, self.b, self.c):
			for root, _, files in os.walk(srv.data):
				for f in files:
					with open(os.path.join(root, f), "rb") as fh:
						body = fh.read()
					for t in ("hello from a", "hello from b", "without carol"):
						self.assertNotIn(t.encode(), body, os.path.join(root, f))

	def test_catch_up_after_being_offline(self):
		"""bob does not sync while alice sends and commits; when he catches
		up he has every message in order, on the same epoch."""
		alice, bob = self.dev("alice"), self.dev("bob")
		A = "acct:alice@a.test"
		ch = alice.ok("channel_create", name="catch-up",
			      handles=["acct:bob@b.test"])["channel"]
		self.wait_joined("bob", ch)
		sent = []
		for i in range(5):
			sent.append("before-%d" % i)
			alice.ok("send", conversation=ch, text=sent[-1])
		alice.ok("channel_add", channel=ch, handles=["acct:carol@c.test"])
		alice.ok("sync")
		for i in range(5):
			sent.append("after-%d" % i)
			alice.ok("send", conversation=ch, text=sent[-1])
		want = [(A, t) for t in sent]
		self.wait_texts("alice", ch, want)
		self.wait_texts("bob", ch, want)
		self.wait_joined("carol", ch)
		self.wait_texts("carol", ch, want[5:])
		auths = {self.dev(u).ok("group", conversation=ch)["authenticator"]
			 for u in ("alice", "bob", "carol")}
		self.assertEqual(len(auths), 1, auths)

	def test_group_dm_and_one_to_one(self):
		alice, bob, carol = (self.dev(u) for u in ("alice", "bob", "carol"))
		A, B = "acct:alice@a.test", "acct:bob@b.test"
		dm = alice.ok("dm_send", handles=["acct:bob@b.test", "acct:carol@c.test"],
			      text="dm to two")["conversation"]
		self.wait_texts("bob", dm, [(A, "dm to two")])
		self.wait_texts("carol", dm, [(A, "dm to two")])
		# the same participants: the same DM
		dm2 = bob.ok("dm_send", handles=["acct:alice@a.test", "acct:carol@c.test"],
			     text="reply in dm")["conversation"]
		self.assertEqual(dm, dm2)
		for u in ("alice", "carol"):
			self.wait_texts(u, dm, [(A, "dm to two"), (B, "reply in dm")])
		one = alice.ok("dm_send", handles=["acct:bob@b.test"], text="just us")["conversation"]
		self.assertNotEqual(one, dm)
		self.wait_texts("bob", one, [(A, "just us")])
		self.assertEqual(self.dev("bob").ok("group", conversation=one)["members"], 2)
		self.assertFalse(carol.call("group", conversation=one)["ok"])


if __name__ == "__main__":
	unittest.main()
