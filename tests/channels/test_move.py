"""Move of a channel to its owner's server (issue 11, the single-owner-
transferable model: docs/channels.md, "Moving a channel"). alice@a.test
makes a channel with bob@b.test and carol@c.test; bob may not move it while
alice owns it, nor while she is still a member on a.test; alice hands it
to bob, bob removes her, and b.test takes the channel over: the same MLS
group, members, policy and sequence numbers, a new actor on b.test whose
alsoKnownAs is the old one, the old actor saying movedTo and refusing
changes with 410, carol's server following the Move, and messages and
commits ordered at the new host with the sequence continuing."""

import os
import sqlite3
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from fedtest import wait_for, inbox_items
from chantest import Mls, obj, unobj

MLSCTX = "https://purl.archive.org/socialweb/mls"


class Move(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("a.test", "b.test", "c.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a, cls.b, cls.c = (cls.fed[n] for n in ("a.test", "b.test", "c.test"))
		cls.a.add_user("alice")
		cls.b.add_user("bob")
		cls.c.add_user("carol")
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(
			cls.fed, None, extra=("--hub-basic-credentials",)))
		cls.mls = Mls()
		cls.addClassCleanup(cls.mls.close)

	def client(self, who, srv):
		name = "%s-%s" % (who, uuid.uuid4().hex[:8])
		r = self.mls("create_client", suite=1, identity="acct:%s@%s" % (who, srv.domain),
			     name=name)
		return name, r["key_package"]

	def post(self, srv, user, act):
		return srv.post("/users/%s/outbox" % user, act, token=srv.tokens[user])

	def doc(self, url, srv):
		st, _, d = aimtest.get_json(url, ctx=srv.ctx)
		self.assertEqual(st, 200, d)
		return d

	def announces(self, srv, user, chan):
		return sorted((it for it in inbox_items(srv, user) if isinstance(it, dict) and
			       it.get("type") == "Announce" and it.get("actor") == chan),
			      key=lambda it: it["aim:sequence"])

	def announce(self, srv, user, chan, seq):
		return wait_for(lambda: [x for x in self.announces(srv, user, chan)
					 if x["aim:sequence"] == seq], timeout=30,
				what="sequence %d of %s at %s" % (seq, chan, user))[0]

	def test_move_to_the_owners_server(self):
		alice, bob, carol = (self.a.actor("alice"), self.b.actor("bob"), self.c.actor("carol"))
		al, _ = self.client("alice", self.a)
		bo, kb = self.client("bob", self.b)
		ca, kc = self.client("carol", self.c)
		self.mls("create_group", client=al)
		cm = self.mls("commit", client=al, add=[kb, kc], public=True, tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		st, hd, doc = self.post(self.a, "alice", {
			"@context": ["https://www.w3.org/ns/activitystreams", MLSCTX], "type": "Create",
			"object": {"type": "Group", "name": "travels", "aim:policy": {"membership": "owner"}},
			"aim:members": [bob, carol], "aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		old = hd.get("location")
		for srv, u, cl in ((self.b, "bob", bo), (self.c, "carol", ca)):
			w = wait_for(lambda: [it for it in inbox_items(srv, u) if isinstance(it, dict) and
					      it.get("actor") == old and it.get("type") == "Create"],
				     timeout=30, what="Welcome at " + u)
			self.mls("join", client=cl, welcome=unobj(w[0]["object"]))
		m = self.mls("send", client=al, plaintext="before the move")
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [old],
							 "object": obj("PrivateMessage", m["message"])})
		self.assertEqual((st, doc.get("aim:sequence")), (201, 1), doc)
		move = {"type": "Move", "object": old}
		# bob is not the owner: the old host refuses, b.test says so
		st, _, doc = self.post(self.b, "bob", move)
		self.assertEqual(st, 403, doc)
		# alice hands the channel to bob (sequence 2)
		st, _, doc = self.post(self.a, "alice", {"type": "Update", "to": [old], "object": {
			"id": old, "type": "Group", "attributedTo": bob}})
		self.assertEqual(st, 201, doc)
		# alice is still a member on a.test: not yet
		st, _, doc = self.post(self.b, "bob", move)
		self.assertEqual(st, 409, doc)
		self.assertEqual(doc.get("error"), "members_remain", doc)
		# bob (the owner now) removes alice, through his server (sequence 3)
		leaf = [x["leaf"] for x in self.mls("status", client=bo)["members"]
			if x["identity"] == "acct:alice@a.test"][0]
		rm = self.mls("commit", client=bo, remove=[leaf], public=True)
		st, _, doc = self.post(self.b, "bob", {"type": "Remove", "object": alice,
						       "to": [old], "target": old + "/followers",
						       "instrument": obj("PublicMessage", rm["commit"])})
		self.assertEqual(st, 201, doc)
		wait_for(lambda: alice not in self.doc(old + "/followers", self.a)["orderedItems"],
			 timeout=30, what="alice removed")
		ann = self.announce(self.c, "carol", old, 3)
		self.mls("process", client=ca, message=unobj(ann["object"]["instrument"]))
		self.assertEqual(self.doc(old, self.a)["aim:epoch"], 2)
		# the move: b.test hosts the channel now
		st, hd, doc = self.post(self.b, "bob", move)
		self.assertEqual(st, 201, doc)
		new = hd.get("location")
		self.assertTrue(new.startswith(self.b.base + "/channels/"), new)
		self.assertEqual(doc["aim:nextSequence"], 4)
		d_old, d_new = self.doc(old, self.a), self.doc(new, self.b)
		self.assertEqual(d_old.get("movedTo"), new)
		self.assertEqual(d_new.get("alsoKnownAs"), [old])
		self.assertEqual(d_new["type"], "Group")
		self.assertEqual(d_new["attributedTo"], bob)
		self.assertEqual((d_new["aim:epoch"], d_new["aim:groupId"], d_new["name"]),
				 (2, d_old["aim:groupId"], "travels"))
		self.assertNotEqual(d_new["publicKey"]["publicKeyPem"], d_old["publicKey"]["publicKeyPem"])
		self.assertEqual(set(self.doc(new + "/followers", self.b)["orderedItems"]), {bob, carol})
		# the old host decides nothing any more: 410 with a Tombstone
		m = self.mls("send", client=bo, plaintext="to the old host")
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [old],
							 "object": obj("PrivateMessage", m["message"])})
		self.assertEqual(st, 410, doc)
		self.assertEqual((doc["type"], doc["movedTo"]), ("Tombstone", new))
		# a second Move of it: gone too (moved to b.test already) or no channel
		st, _, doc = self.post(self.b, "bob", move)
		self.assertNotEqual(st, 201, doc)
		# carol's server follows the Move (her inbox has it)
		mv = wait_for(lambda: [it for it in inbox_items(self.c, "carol") if isinstance(it, dict)
				       and it.get("type") == "Move" and it.get("actor") == new],
			      timeout=30, what="the Move at carol's server")
		self.assertEqual(mv[0]["object"], old)
		# ordering goes on at the new host, the sequence continuing: bob's
		# message (4) reaches carol, carol's (5) through c.test reaches bob
		text = "after the move %s" % uuid.uuid4().hex
		m = self.mls("send", client=bo, plaintext=text)
		st, _, doc = self.post(self.b, "bob", {"type": "Create", "to": [new],
						       "object": obj("PrivateMessage", m["message"])})
		self.assertEqual((st, doc.get("aim:sequence")), (201, 4), doc)
		ann = self.announce(self.c, "carol", new, 4)
		self.assertEqual(self.mls("process", client=ca,
					  message=unobj(ann["object"]["object"])).get("text"), text)
		text2 = "carol at the new host %s" % uuid.uuid4().hex
		m = self.mls("send", client=ca, plaintext=text2)
		st, _, doc = self.post(self.c, "carol", {"type": "Create", "to": [new],
							 "object": obj("PrivateMessage", m["message"])})
		self.assertEqual(st, 201, doc)
		ann = self.announce(self.b, "bob", new, 5)
		self.assertEqual(self.mls("process", client=bo,
					  message=unobj(ann["object"]["object"])).get("text"), text2)
		# a commit at the new host: the MLS state came along (epoch 2 -> 3)
		cm = self.mls("commit", client=bo, path=True, public=True)
		st, _, doc = self.post(self.b, "bob", {"type": "Create", "to": [new],
						       "object": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)
		self.assertEqual((doc["aim:sequence"], doc["aim:epoch"]), (6, 3))
		ann = self.announce(self.c, "carol", new, 6)
		self.mls("process", client=ca, message=unobj(ann["object"]["object"]))
		a1 = self.mls("status", client=bo)["epoch_authenticator"]
		a2 = self.mls("status", client=ca)["epoch_authenticator"]
		self.assertEqual(a1, a2)
		# carol's server holds her membership under the new actor only
		db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.c.data, "aim.db"), uri=True)
		try:
			rows = db.execute("SELECT channel FROM channel_joined").fetchall()
		finally:
			db.close()
		self.assertEqual([r[0] for r in rows], [new])


if __name__ == "__main__":
	aimtest.main()
