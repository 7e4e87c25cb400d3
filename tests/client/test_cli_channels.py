"""The channel and group-DM scenarios through `aim` commands (issue 12
acceptance), across three domains over TLS, each device with a route to its
own server only: alice@a.test creates a channel with bob@b.test, they
exchange messages (listen prints what the other sent, decrypted), alice
invites carol@c.test, who reads what follows, removes bob, who reads no
more; a group DM of alice, bob and carol by `send --to`; conversations and
history in text and --json; errors are one line."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase
from clitest import Aim, Domains


class CliChannels(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains(("a.test", "b.test", "c.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		toks = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob"), ("c.test", "carol")):
			toks[user] = cls.fed[dom].add_user(user)
		cls.fed.start_all()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-cli-chan-")
		cls.dev = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob"), ("c.test", "carol")):
			a = Aim(os.path.join(cls.tmp, user))
			a.login(cls.fed[dom], user, toks[user], device="laptop",
				connect_to=cls.fed.route(dom), ca_file=cls.fed.ca.cert, keys=5)
			cls.dev[user] = a

	def listen(self, who, n, conv=None):
		"""The next n messages `aim listen` prints for who (--json lines)."""
		args = ["listen", "--json", "--count", n, "--interval", 100]
		if conv:
			args.insert(1, conv)
		r = self.dev[who](*args, timeout=60)
		self.assertEqual(r.returncode, 0, r)
		out = r.stdout
		msgs = [json.loads(l) for l in out.splitlines() if l.strip()]
		self.assertEqual(len(msgs), n, out)
		return msgs

	def others(self, who, msgs):
		return [(m["sender"], m["text"]) for m in msgs if m["sender"] != "acct:%s@%s.test" % (who, who[0])]

	def test_channel_and_dm(self):
		alice, bob, carol = self.dev["alice"], self.dev["bob"], self.dev["carol"]
		ch = alice.ok("channel", "create", "lunch", "bob@b.test", "--json")
		url = ch["channel"]
		self.assertTrue(url.startswith("https://a.test/channels/"), ch)
		self.assertEqual(ch["members"], ["acct:bob@b.test"])

		alice.ok("send", url, "hello", "bob")
		m = self.listen("bob", 1)
		self.assertEqual(m[0]["conversation"], url)
		self.assertEqual((m[0]["sender"], m[0]["text"], m[0]["type"]),
				 ("acct:alice@a.test", "hello bob", "text"))
		# bob names the conversation by its number
		convs = bob.ok("conversations", "--json")["conversations"]
		self.assertEqual([(c["number"], c["kind"], c["conversation"]) for c in convs],
				 [(1, "channel", url)])
		self.assertEqual(convs[0]["members"], 2)
		self.assertRegex(bob.ok("conversations"), r"1\s+channel\s+%s\s+epoch 1, 2 members" % url)
		bob.ok("send", "1", "hi", "alice")
		# alice sees her own message come back in the hub's order, then bob's
		got = self.listen("alice", 2)
		self.assertEqual([(x["sender"], x["text"]) for x in got],
				 [("acct:alice@a.test", "hello bob"), ("acct:bob@b.test", "hi alice")])
		h = alice.ok("history", url, "--json")
		self.assertEqual([(x["sender"], x["text"]) for x in h["messages"]],
				 [("acct:alice@a.test", "hello bob"), ("acct:bob@b.test", "hi alice")])
		self.assertIn("bob@b.test: hi alice", alice.ok("history", url))

		# carol joins; she reads what is sent afterwards
		inv = alice.ok("invite", url, "acct:carol@c.test", "--json")
		self.assertEqual(inv["added"], ["acct:carol@c.test"])
		self.assertEqual(inv["epoch"], 2)
		alice.ok("send", url, "welcome carol")
		m = self.listen("carol", 1)
		self.assertEqual((m[0]["conversation"], m[0]["sender"], m[0]["text"]),
				 (url, "acct:alice@a.test", "welcome carol"))
		m = self.listen("bob", 2)  # his own "hi alice", then alice's
		self.assertEqual([x["text"] for x in m], ["hi alice", "welcome carol"])
		self.assertEqual(bob.ok("conversations", "--json")["conversations"][0]["epoch"], 2)

		# bob removed: carol still reads alice, bob does not
		rm = alice.ok("remove", url, "bob@b.test", "--json")
		self.assertEqual(rm["removed"], ["acct:bob@b.test"])
		alice.ok("send", url, "just us")
		m = self.listen("carol", 1)
		self.assertEqual(m[0]["text"], "just us")
		# bob's listen of one pass (--count 0 would follow forever: a short timeout)
		r = bob("listen", "--json", "--count", "1", "--interval", "100", timeout_ok=5)
		self.assertNotIn("just us", r.stdout)
		self.assertEqual(r.returncode, 0, r)  # a stopped listen exits 0
		self.assertNotIn("just us", json.dumps(bob.ok("history", url, "--json")))
		# a removed member's send is refused, in one line
		r = bob("send", url, "still here?")
		self.assertNotEqual(r.returncode, 0, r)
		self.assertEqual(len(r.stderr.strip().split("\n")), 1, r)

		# a group DM of the three by send --to; the others see it by listen
		d = alice.ok("send", "--to", "bob@b.test,carol@c.test", "dinner?", "--json")
		dm = d["conversation"]
		self.assertIn("/dms/", dm)
		for who in ("bob", "carol"):
			m = self.listen(who, 1, None)
			self.assertEqual((m[0]["conversation"], m[0]["sender"], m[0]["text"]),
					 (dm, "acct:alice@a.test", "dinner?"))
		kinds = {c["conversation"]: c["kind"]
			 for c in carol.ok("conversations", "--json")["conversations"]}
		self.assertEqual(kinds, {url: "channel", dm: "dm"})
		# the same set again: the same DM
		d2 = alice.ok("send", "--to", "carol@c.test,bob@b.test", "or lunch", "--json")
		self.assertEqual(d2["conversation"], dm)
		carol.ok("send", dm, "lunch")
		m = self.listen("bob", 2, dm)
		self.assertEqual([(x["sender"], x["text"]) for x in m],
				 [("acct:alice@a.test", "or lunch"), ("acct:carol@c.test", "lunch")])

	def test_content_reply_react_edit_delete(self):
		"""The content format through aim: replies, reactions, edits and
		deletes; an edit or delete of another's message is ignored by every
		member; history shows the result."""
		alice, bob = self.dev["alice"], self.dev["bob"]
		url = alice.ok("channel", "create", "content", "bob@b.test", "--json")["channel"]
		first = alice.ok("send", url, "lunch at noon?", "--json")["id"]
		second = alice.ok("send", url, "typo", "--json")["id"]
		m = self.listen("bob", 2, url)
		self.assertEqual([x["id"] for x in m], [first, second])
		bob.ok("reply", url, first[:8], "yes")
		bob.ok("react", url, first, "+1")
		# bob edits and deletes alice's message: ignored everywhere
		bob.ok("edit", url, first, "bob was here")
		bob.ok("delete", url, first)
		alice.ok("edit", url, first, "lunch at one?")
		alice.ok("delete", url, second)
		for who in ("alice", "bob"):
			dev = self.dev[who]
			# listen until the last change arrived (the hub's order on both sides)
			for _ in range(50):
				r = dev("listen", url, "--json", "--interval", "100", timeout_ok=1)
				h = dev.ok("history", url, "--json")["messages"]
				by = {e["id"]: e for e in h}
				if by.get(second, {}).get("deleted"):
					break
			self.assertEqual(by[first]["text"], "lunch at one?", h)
			self.assertTrue(by[first]["edited"])
			self.assertFalse(by[first]["deleted"])
			self.assertEqual(by[first]["reactions"],
					 [{"sender": "acct:bob@b.test", "reaction": "+1"}])
			self.assertTrue(by[second]["deleted"])
			self.assertIsNone(by[second]["text"])
			replies = [e for e in h if e["type"] == "reply"]
			self.assertEqual(len(replies), 1)
			self.assertEqual(replies[0]["replyTo"], first)
			self.assertEqual(replies[0]["sender"], "acct:bob@b.test")
			self.assertEqual(len(h), 3)
			# bob's edit and delete arrived, and were not honoured
			raw = dev.ok("history", url, "--raw", "--json")["messages"]
			self.assertEqual([(x["sender"], x["type"]) for x in raw],
					 [("acct:alice@a.test", "text"), ("acct:alice@a.test", "text"),
					  ("acct:bob@b.test", "reply"), ("acct:bob@b.test", "reaction"),
					  ("acct:bob@b.test", "edit"), ("acct:bob@b.test", "delete"),
					  ("acct:alice@a.test", "edit"), ("acct:alice@a.test", "delete")])
		text = bob.ok("history", url)
		self.assertIn("alice@a.test: lunch at one? (edited)  [+1 bob@b.test]", text)
		self.assertIn("alice@a.test: [deleted]", text)
		self.assertIn("bob@b.test (reply to %s): yes" % first[:8], text)
		# an id nobody sent: one line, exit 1
		r = bob("edit", url, "ffffffffffff", "x")
		self.assertEqual(r.returncode, 1, r)
		self.assertIn("no message ffffffffffff", r.stderr)

	def test_zz_catch_up(self):
		"""bob's device is off while 50 messages and 2 commits happen; then
		one listen shows all 50 in order, and bob agrees with alice on the
		epoch and its authenticator."""
		alice, bob = self.dev["alice"], self.dev["bob"]
		url = alice.ok("channel", "create", "offline", "bob@b.test", "--json")["channel"]
		sent = []
		for i in range(50):
			if i == 20:
				self.assertEqual(alice.ok("invite", url, "carol@c.test", "--json")["epoch"], 2)
			if i == 40:
				self.assertEqual(alice.ok("remove", url, "carol@c.test", "--json")["epoch"], 3)
			sent.append("message %02d" % i)
			alice.ok("send", url, sent[-1])
		got = self.listen("bob", 50, url)
		self.assertEqual([m["text"] for m in got], sent)
		self.assertEqual({m["sender"] for m in got}, {"acct:alice@a.test"})
		self.assertEqual([m["epoch"] for m in got], [1] * 20 + [2] * 20 + [3] * 10)
		# alice's device applies its own Announces too
		alice("listen", url, "--json", "--interval", "100", timeout_ok=3)

		def state(dev):
			c = [x for x in dev.ok("conversations", "--json")["conversations"]
			     if x["conversation"] == url]
			self.assertEqual(len(c), 1)
			return c[0]["epoch"], c[0]["epochAuthenticator"], c[0]["members"]

		a, b = state(alice), state(bob)
		self.assertEqual(a, b)
		self.assertEqual(a[0], 3)
		self.assertEqual(a[2], 2)
		self.assertEqual(len(a[1]), 64)

	def test_errors_are_one_line(self):
		alice = self.dev["alice"]
		for args in (("history", "no-such-conversation"),
			     ("send", "https://a.test/channels/none", "x"),
			     ("channel", "create", "x", "nobody@b.test")):
			r = alice(*args)
			self.assertEqual(r.returncode, 1, r)
			lines = r.stderr.strip().split("\n")
			self.assertEqual(len(lines), 1, r)
			self.assertTrue(lines[0].startswith("aim: "), r)
		r = alice("send")
		self.assertEqual(r.returncode, 2, r)


if __name__ == "__main__":
	aimtest.main()
