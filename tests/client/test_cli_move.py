"""A channel's Move followed by `aim` (issue 11 point 6, issue 12;
docs/channels.md "Moving a channel"). alice@a.test makes a channel with
bob@b.test and carol@c.test through `aim`, hands it to bob, bob removes her
with `aim remove` and b.test takes the channel over. Then every member's
`aim send`, naming the channel by its old URL, reaches the new actor: bob's
client learns of the move from the old host's 410 (its actor's movedTo) and
sends again once; carol's from the Move in her inbox, which her listen shows
in one line. Each decrypts the other's message, the sequence numbers
continuing from the old host's. A handover (an Announce without an MLS
message) takes its sequence number without leaving a gap."""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase
from clitest import Aim, Domains


class CliMove(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains(("a.test", "b.test", "c.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.toks = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob"), ("c.test", "carol")):
			cls.toks[user] = cls.fed[dom].add_user(user)
		cls.fed.start_all()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-cli-move-")
		cls.dev = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob"), ("c.test", "carol")):
			a = Aim(os.path.join(cls.tmp, user))
			a.login(cls.fed[dom], user, cls.toks[user], device="laptop",
				connect_to=cls.fed.route(dom), ca_file=cls.fed.ca.cert, keys=5)
			cls.dev[user] = a

	def listen(self, who, n, conv):
		r = self.dev[who]("listen", conv, "--json", "--count", n, "--interval", 100, timeout=60)
		self.assertEqual(r.returncode, 0, r)
		msgs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
		self.assertEqual(len(msgs), n, r.stdout)
		return msgs

	def post(self, dom, user, act):
		srv = self.fed[dom]
		return srv.post("/users/%s/outbox" % user, act, token=self.toks[user])

	def test_members_follow_the_move(self):
		alice, bob, carol = self.dev["alice"], self.dev["bob"], self.dev["carol"]
		old = alice.ok("channel", "create", "trip", "bob@b.test", "carol@c.test",
			       "--json")["channel"]
		alice.ok("send", old, "before the move")  # sequence 1
		for who in ("bob", "carol"):
			m = self.listen(who, 1, old)
			self.assertEqual((m[0]["text"], m[0]["seq"]), ("before the move", 1))
		# alice hands the channel to bob (sequence 2, no MLS message)
		st, _, doc = self.post("a.test", "alice", {"type": "Update", "to": [old], "object": {
			"id": old, "type": "Group", "attributedTo": self.fed["b.test"].actor("bob")}})
		self.assertEqual(st, 201, doc)
		# bob, the owner now, removes alice (sequence 3, epoch 1 -> 2)
		# (bob's client learns alice's actor by checking her keys: the
		# Welcome of a channel names the members, not its maker)
		bob.ok("verify", "alice@a.test")
		rm = bob.ok("remove", old, "alice@a.test", "--json")
		self.assertEqual(rm["removed"], ["acct:alice@a.test"])
		carol("listen", old, "--json", "--count", "1", "--interval", "100", timeout_ok=5)
		self.assertEqual(carol.ok("conversations", "--json")["conversations"][0]["epoch"], 2)
		# b.test takes the channel over
		st, hd, doc = self.post("b.test", "bob", {"type": "Move", "object": old})
		self.assertEqual(st, 201, doc)
		new = hd.get("location")
		self.assertTrue(new.startswith("https://b.test/channels/"), new)
		# bob's client sends to the old actor, is told 410, follows, sends again
		bob.ok("send", old, "bob after the move")
		self.assertEqual([c["conversation"] for c in
				  bob.ok("conversations", "--json")["conversations"]], [new])
		# (a listen of the new URL starts that conversation's output again)
		m = self.listen("carol", 3, new)
		self.assertEqual(m[0]["text"], "before the move")
		self.assertEqual((m[1]["type"], m[1]["text"]), ("moved", "channel moved to " + new))
		self.assertEqual((m[2]["sender"], m[2]["text"], m[2]["seq"]),
				 ("acct:bob@b.test", "bob after the move", 4))
		# carol's client followed the Move of her inbox: straight to the new actor
		carol.ok("send", "1", "carol after the move")
		# bob's listen applies it (its output starts where his own send left it)
		r = bob("listen", new, "--json", "--count", "2", "--interval", "100", timeout_ok=20)
		self.assertIn("carol after the move", r.stdout)
		h = bob.ok("history", new, "--json")
		self.assertEqual([(x["sender"], x["text"], x["seq"]) for x in h["messages"]],
				 [("acct:alice@a.test", "before the move", 1),
				  ("acct:bob@b.test", "bob after the move", 4),
				  ("acct:carol@c.test", "carol after the move", 5)])
		self.assertEqual([(x["type"], x["text"]) for x in h["notShown"]],
				 [("moved", "channel moved to " + new)])
		# both name it by its new URL now; the text listen says it in one line
		for who in ("bob", "carol"):
			convs = self.dev[who].ok("conversations", "--json")["conversations"]
			self.assertEqual([c["conversation"] for c in convs], [new])
			self.assertIn("channel moved to " + new, self.dev[who].ok("history", new))
		bob.ok("send", new, "by the new name")
		m = self.listen("carol", 2, new)
		self.assertEqual([(x["text"], x["seq"]) for x in m],
				 [("carol after the move", 5), ("by the new name", 6)])


if __name__ == "__main__":
	aimtest.main()
