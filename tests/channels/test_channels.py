"""Channels, server side (issue 11; the channels contract): a.test hosts
the channels, b.test and c.test hold members, r.test is a fake remote
whose actors sign by hand. The MLS traffic is real, made by
tests/interop/mls_driver.c: creation with the Welcome delivered to members
on two other domains, Add and Remove with the followers updated, messages
fanned out as Announces with sequence numbers (one delivery per shared
inbox), stale commits (409 with the current epoch, a Reject to a remote
server), racing commits (exactly one wins), a removed member's server
hearing nothing more, forged Announces refused, and no plaintext on any
server's disk or log."""

import json
import os
import sqlite3
import sys
import threading
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from fedtest import FakeRemote, sign_cavage, wait_for, inbox_items
from chantest import JSON, Mls, obj, unobj

MLSCTX = "https://purl.archive.org/socialweb/mls"


class Channels(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("a.test", "b.test", "c.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.remote = FakeRemote(cls.fed.ca, "r.test")
		cls.addClassCleanup(cls.remote.close)
		cls.rita = cls.remote.add_actor("rita")
		cls.mallory = cls.remote.add_actor("mallory")
		cls.a, cls.b, cls.c = (cls.fed[n] for n in ("a.test", "b.test", "c.test"))
		for u in ("alice", "dave", "x1", "x2"):
			cls.a.add_user(u)
		for u in ("bob", "bea"):
			cls.b.add_user(u)
		cls.c.add_user("carol")
		for i in range(10):
			for srv in (cls.a, cls.b, cls.c):
				srv.add_user("m%d" % i)
		# the MLS driver's devices carry basic credentials, so this test's
		# hubs take them unchecked (test_hub_credentials.py checks x509)
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(
			cls.fed, cls.remote, extra=("--hub-basic-credentials",)))
		cls.mls = Mls()
		cls.addClassCleanup(cls.mls.close)
		cls.texts = []

	# -- helpers ------------------------------------------------------------
	def client(self, who, srv=None):
		"""An MLS client (a device) of user who on srv (default a.test): its
		basic credential names acct:who@domain."""
		srv = srv or self.a
		dom = getattr(srv, "domain", None) or srv.name
		name = "%s-%s" % (who, uuid.uuid4().hex[:8])
		r = self.mls("create_client", suite=1, identity="acct:%s@%s" % (who, dom), name=name)
		return name, r["key_package"]

	def url(self, srv, user):
		if isinstance(srv, FakeRemote):
			return {"rita": self.rita, "mallory": self.mallory}[user].id
		return srv.actor(user)

	def post(self, srv, user, act):
		return srv.post("/users/%s/outbox" % user, act, token=srv.tokens[user])

	def create(self, members, policy="owner"):
		"""alice creates a channel with members [(srv, user)]; returns the
		channel URL and the MLS client names by (srv.domain, user)."""
		al, _ = self.client("alice")
		self.mls("create_group", client=al)
		names, kps = {}, []
		for srv, user in members:
			n, kp = self.client(user, srv)
			names[(getattr(srv, "domain", None) or srv.name, user)] = n
			kps.append(kp)
		cm = self.mls("commit", client=al, add=kps, public=True, tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		st, hd, doc = self.post(self.a, "alice", {
			"@context": ["https://www.w3.org/ns/activitystreams", MLSCTX],
			"type": "Create",
			"object": {"type": "Group", "name": "chan", "aim:policy": {"membership": policy}},
			"aim:members": [self.url(s, u) for s, u in members],
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		chan = hd.get("location") or hd.get("Location")
		self.assertTrue(chan.startswith(self.a.base + "/channels/"), chan)
		names[("a.test", "alice")] = al
		return chan, names

	def inbox_of(self, srv, user, pred):
		return [it for it in inbox_items(srv, user) if isinstance(it, dict) and pred(it)]

	def welcome_for(self, srv, user, chan, timeout=30):
		def find():
			got = self.inbox_of(srv, user, lambda it: it.get("type") == "Create" and
					    it.get("actor") == chan and
					    (it.get("object") or {}).get("type") == "Welcome")
			return got
		return wait_for(find, timeout=timeout, what="Welcome for %s" % user)

	def join(self, srv, user, chan, names):
		w = self.welcome_for(srv, user, chan)[0]
		self.mls("join", client=names[(srv.domain, user)], welcome=unobj(w["object"]))

	def announces(self, srv, user, chan):
		return sorted((it for it in inbox_items(srv, user) if isinstance(it, dict) and
			       it.get("type") == "Announce" and it.get("actor") == chan),
			      key=lambda it: it["aim:sequence"])

	def send(self, srv, user, chan, client, text=None):
		text = text or "secret-%s" % uuid.uuid4().hex
		self.texts.append(text)
		m = self.mls("send", client=client, plaintext=text)
		st, hd, doc = self.post(srv, user, {"type": "Create", "to": [chan],
						    "object": obj("PrivateMessage", m["message"])})
		return st, doc, text

	def deliveries(self, srv, activity_id):
		db = sqlite3.connect("file:%s?mode=ro" % os.path.join(srv.data, "aim.db"), uri=True)
		try:
			return db.execute("SELECT d.inbox, d.host, d.state FROM deliveries d JOIN outgoing o"
					  " ON o.id = d.outgoing_id WHERE o.activity_id = ?",
					  (activity_id,)).fetchall()
		finally:
			db.close()

	def followers(self, chan):
		st, _, doc = aimtest.get_json(chan + "/followers", ctx=self.a.ctx)
		self.assertEqual(st, 200, doc)
		return set(doc["orderedItems"])

	def signed(self, actor, url, act):
		hdrs, data = sign_cavage(actor, "POST", url, act)
		return self.a.req("POST", url, body=data, headers=hdrs) if url.startswith(self.a.base) \
			else None

	# -- the tests ------------------------------------------------------------
	def test_01_create_add_message_remove(self):
		chan, names = self.create([(self.b, "bob"), (self.b, "bea"), (self.c, "carol")])
		# the actor: a Group with its own key, owner, MLS fields
		st, _, doc = aimtest.get_json(chan, ctx=self.a.ctx)
		self.assertEqual(st, 200, doc)
		self.assertEqual(doc["type"], "Group")
		self.assertEqual(doc["attributedTo"], self.url(self.a, "alice"))
		self.assertEqual(doc["aim:epoch"], 1)
		self.assertIn("publicKey", doc)
		self.assertEqual(doc["followers"], chan + "/followers")
		self.assertEqual(self.followers(chan), {self.url(self.a, "alice"), self.url(self.b, "bob"),
							 self.url(self.b, "bea"), self.url(self.c, "carol")})
		# the Welcome reached the members on two other domains
		for srv, u in ((self.b, "bob"), (self.b, "bea"), (self.c, "carol")):
			self.join(srv, u, chan, names)
		al = names[("a.test", "alice")]
		# a message: fanned out as an Announce with its sequence number,
		# one delivery per shared inbox
		st, doc, text = self.send(self.a, "alice", chan, al)
		self.assertEqual(st, 201, doc)
		seq = doc["aim:sequence"]
		self.assertEqual(seq, 1)
		ann_id = "%s/announces/%d" % (chan, seq)
		rows = self.deliveries(self.a, ann_id)
		self.assertEqual(sorted(r[0] for r in rows),
				 sorted([self.b.base + "/inbox", self.c.base + "/inbox"]), rows)
		for srv, u in ((self.b, "bob"), (self.b, "bea"), (self.c, "carol")):
			anns = wait_for(lambda: self.announces(srv, u, chan), what="Announce for " + u)
			self.assertEqual(anns[0]["aim:sequence"], 1)
			got = self.mls("process", client=names[(srv.domain, u)],
				       message=unobj(anns[0]["object"]["object"]))
			self.assertEqual(got.get("text"), text, got)
		# the outbox pages by sequence
		st, _, ob = aimtest.get_json(chan + "/outbox?after=0", ctx=self.a.ctx)
		self.assertEqual(st, 403, ob)	# members and their servers only
		st, _, ob = aimtest.get_json(chan + "/outbox?after=0", token=self.a.tokens["alice"],
					     ctx=self.a.ctx)
		self.assertEqual(st, 200, ob)
		self.assertEqual([i["aim:sequence"] for i in ob["orderedItems"]], [1])
		# a remote member's message through her own server to the channel's inbox
		bob = names[("b.test", "bob")]
		st, doc, text2 = self.send(self.b, "bob", chan, bob)
		self.assertEqual(st, 201, doc)
		anns = wait_for(lambda: [x for x in self.announces(self.c, "carol", chan)
					 if x["aim:sequence"] == 2], what="bob's message at carol")
		got = self.mls("process", client=names[("c.test", "carol")],
			       message=unobj(anns[0]["object"]["object"]))
		self.assertEqual(got.get("text"), text2)
		self.mls("process", client=al, message=unobj(anns[0]["object"]["object"]))
		self.mls("process", client=names[("b.test", "bea")],
			 message=unobj(wait_for(lambda: [x for x in self.announces(self.b, "bea", chan)
							 if x["aim:sequence"] == 2])[0]["object"]["object"]))
		# Remove carol: followers updated, her server hears of it, then nothing more
		st_al = self.mls("status", client=al)
		leaf = [m["leaf"] for m in st_al["members"] if m["identity"] == "acct:carol@c.test"][0]
		cm = self.mls("commit", client=al, remove=[leaf], public=True)
		st, _, doc = self.post(self.a, "alice", {
			"type": "Remove", "object": [self.url(self.c, "carol")], "target": chan + "/followers",
			"instrument": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)
		self.assertNotIn(self.url(self.c, "carol"), self.followers(chan))
		wait_for(lambda: [x for x in self.announces(self.c, "carol", chan)
				  if x["object"]["type"] == "Remove"], what="carol hears of her removal")
		for srv, u in ((self.b, "bob"), (self.b, "bea")):
			a3 = wait_for(lambda: [x for x in self.announces(srv, u, chan)
					       if x["object"]["type"] == "Remove"])
			self.mls("process", client=names[(srv.domain, u)],
				 message=unobj(a3[0]["object"]["instrument"]))
		st, doc, text3 = self.send(self.a, "alice", chan, al)
		self.assertEqual(st, 201, doc)
		rows = self.deliveries(self.a, "%s/announces/%d" % (chan, doc["aim:sequence"]))
		self.assertEqual([r[0] for r in rows], [self.b.base + "/inbox"], rows)
		wait_for(lambda: [x for x in self.announces(self.b, "bob", chan)
				  if x["aim:sequence"] == doc["aim:sequence"]])
		self.assertFalse([x for x in self.announces(self.c, "carol", chan)
				  if x["aim:sequence"] == doc["aim:sequence"]])
		# a replayed old Announce to carol's server now: no member there
		# any more (the membership row went with the Remove)
		# Add dave (local) back in: the Welcome, the followers
		dv, kp = self.client("dave")
		names[("a.test", "dave")] = dv
		cm = self.mls("commit", client=al, add=[kp], public=True, tree_in_welcome=True)
		st, _, doc = self.post(self.a, "alice", {
			"type": "Add", "object": [self.url(self.a, "dave")], "target": chan + "/followers",
			"instrument": obj("PublicMessage", cm["commit"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		self.assertIn(self.url(self.a, "dave"), self.followers(chan))
		self.join(self.a, "dave", chan, names)

	def test_02_stale_commit_409_and_reject(self):
		chan, names = self.create([(self.remote, "rita"), (self.b, "bob")], policy="members")
		al = names[("a.test", "alice")]
		ri = names[("r.test", "rita")]
		# rita got her Welcome at her server (its shared inbox, naming her)
		w = wait_for(lambda: [p for p in self.remote.posts("/inbox") if p["json"] and
				      p["json"].get("type") == "Create" and p["json"].get("actor") == chan
				      and self.rita.id in p["json"].get("to", [])],
			     what="rita's Welcome")
		self.mls("join", client=ri, welcome=unobj(w[0]["json"]["object"]))
		# rita commits for epoch 1 (pending) while alice moves the group to 2
		stale = self.mls("commit", client=ri, path=True, public=True, pending=True)
		cm = self.mls("commit", client=al, path=True, public=True)
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)
		self.assertEqual(doc["aim:epoch"], 2)
		# the stale commit from the remote server: 409 with the current epoch
		act = {"id": self.remote.base + "/a/" + uuid.uuid4().hex, "type": "Create",
		       "actor": self.rita.id, "to": [chan], "object": obj("PublicMessage", stale["commit"])}
		st, hd, body = self.signed(self.rita, chan + "/inbox", act)
		self.assertEqual(st, 409, body)
		d = json.loads(body)
		self.assertEqual(d["error"], "stale_epoch")
		self.assertEqual(d["aim:currentEpoch"], 2)
		# and a Reject by the channel naming it, at rita's inbox
		rj = wait_for(lambda: [p for p in self.remote.posts(self.rita.inbox.split(
			self.remote.base)[1]) if p["json"] and p["json"].get("type") == "Reject"],
			what="Reject")
		self.assertEqual(rj[0]["json"]["actor"], chan)
		self.assertEqual(rj[0]["json"]["aim:currentEpoch"], 2)
		# a stale Add from a local member: 409, and its Welcome never delivered
		self.mls("discard_pending", client=ri)
		dv, kp = self.client("x1")
		old = self.mls("commit", client=names[("b.test", "bob")] if False else al, add=[kp],
			       public=True, pending=True, tree_in_welcome=True)
		self.mls("discard_pending", client=al)
		cm = self.mls("commit", client=al, path=True, public=True)
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)
		st, _, doc = self.post(self.a, "alice", {
			"type": "Add", "object": [self.url(self.a, "x1")], "target": chan + "/followers",
			"instrument": obj("PublicMessage", old["commit"]),
			"aim:welcome": obj("Welcome", old["welcome"])})
		self.assertEqual(st, 409, doc)
		self.assertEqual(doc["aim:currentEpoch"], 3)
		self.assertFalse(self.inbox_of(self.a, "x1", lambda it: it.get("actor") == chan))
		self.assertNotIn(self.url(self.a, "x1"), self.followers(chan))

	def test_03_racing_commits(self):
		chan, names = self.create([(self.a, "dave")], policy="members")
		self.join(self.a, "dave", chan, names)
		al, dv = names[("a.test", "alice")], names[("a.test", "dave")]
		wins = {"alice": 0, "dave": 0}
		for i in range(10):
			ka = self.client("x1")[1]
			kd = self.client("x2")[1]
			ca = self.mls("commit", client=al, add=[ka], public=True, pending=True,
				      tree_in_welcome=True)
			cd = self.mls("commit", client=dv, add=[kd], public=True, pending=True,
				      tree_in_welcome=True)
			res = {}
			def go(who, user, c, target):
				res[who] = self.post(self.a, who, {
					"type": "Add", "object": [self.url(self.a, target)],
					"target": chan + "/followers",
					"instrument": obj("PublicMessage", c["commit"]),
					"aim:welcome": obj("Welcome", c["welcome"])})
			ts = [threading.Thread(target=go, args=("alice", "alice", ca, "x1")),
			      threading.Thread(target=go, args=("dave", "dave", cd, "x2"))]
			for t in ts:
				t.start()
			for t in ts:
				t.join()
			codes = sorted(r[0] for r in res.values())
			self.assertEqual(codes, [201, 409], res)
			winner = "alice" if res["alice"][0] == 201 else "dave"
			loser = "dave" if winner == "alice" else "alice"
			wins[winner] += 1
			wc, lc = (al, dv) if winner == "alice" else (dv, al)
			self.mls("merge_pending", client=wc)
			self.mls("discard_pending", client=lc)
			won = ca if winner == "alice" else cd
			self.mls("process", client=lc, message=won["commit"])
			self.assertEqual(res[loser][2]["aim:currentEpoch"], res[winner][2]["aim:epoch"])
			# the removed-again dance: remove the added one so the next round adds again
			stw = self.mls("status", client=al)
			leaf = [m["leaf"] for m in stw["members"] if m["identity"].startswith("acct:x")][0]
			rm = self.mls("commit", client=al, remove=[leaf], public=True)
			target = "x1" if winner == "alice" else "x2"
			st, _, doc = self.post(self.a, "alice", {
				"type": "Remove", "object": [self.url(self.a, target)],
				"target": chan + "/followers", "instrument": obj("PublicMessage", rm["commit"])})
			self.assertEqual(st, 201, doc)
			self.mls("process", client=dv, message=rm["commit"])
		# a Welcome of a losing commit never arrived: each Welcome in x1's
		# and x2's inboxes is one of a winning round
		nx1 = len(self.inbox_of(self.a, "x1", lambda it: it.get("actor") == chan and
					 it.get("type") == "Create"))
		nx2 = len(self.inbox_of(self.a, "x2", lambda it: it.get("actor") == chan and
					 it.get("type") == "Create"))
		self.assertEqual((nx1, nx2), (wins["alice"], wins["dave"]))

	def test_04_refusals(self):
		chan, names = self.create([(self.remote, "rita")], policy="owner")
		al = names[("a.test", "alice")]
		ri = names[("r.test", "rita")]
		w = wait_for(lambda: [p for p in self.remote.posts("/inbox") if p["json"] and
				      p["json"].get("actor") == chan and
				      p["json"].get("type") == "Create"], what="rita's Welcome")
		self.mls("join", client=ri, welcome=unobj(w[0]["json"]["object"]))
		# not a member (C38): mallory's message
		m = self.mls("send", client=al, plaintext="x")
		act = {"id": self.remote.base + "/a/" + uuid.uuid4().hex, "type": "Create",
		       "actor": self.mallory.id, "to": [chan], "object": obj("PrivateMessage", m["message"])}
		st, _, body = self.signed(self.mallory, chan + "/inbox", act)
		self.assertEqual(st, 403, body)
		# unsigned: the gate (B33)
		st, _, body = self.a.req("POST", chan + "/inbox", body=json.dumps(act).encode(),
					 headers={"Content-Type": aimtest.AP_TYPE})
		self.assertEqual(st, 401, body)
		# signed by rita as mallory: key owner is not the actor
		act2 = dict(act, actor=self.mallory.id)
		st, _, body = self.signed(self.rita, chan + "/inbox", act2)
		self.assertEqual(st, 401, body)
		# not allowed by the policy (C39): rita may not Add
		kp = self.client("x2")[1]
		cm = self.mls("commit", client=ri, add=[kp], public=True, pending=True, tree_in_welcome=True)
		act = {"id": self.remote.base + "/a/" + uuid.uuid4().hex, "type": "Add",
		       "actor": self.rita.id, "object": [self.url(self.a, "x2")],
		       "target": chan + "/followers", "instrument": obj("PublicMessage", cm["commit"]),
		       "aim:welcome": obj("Welcome", cm["welcome"])}
		st, _, body = self.signed(self.rita, chan + "/inbox", act)
		self.assertEqual(st, 403, body)
		self.mls("discard_pending", client=ri)
		# a private commit: refused
		pc = self.mls("commit", client=al, path=True, public=False, pending=True)
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PublicMessage", pc["commit"])})
		self.assertIn(st, (400, 501), doc)
		self.mls("discard_pending", client=al)
		# a handshake as an application message / wrong wire format (C46)
		pub = self.mls("commit", client=al, path=True, public=True, pending=True)
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PrivateMessage", pub["commit"])})
		self.assertEqual(st, 400, doc)
		# a message of a future epoch (C35): alice moves on alone
		self.mls("merge_pending", client=al)
		m = self.mls("send", client=al, plaintext="future")
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PrivateMessage", m["message"])})
		self.assertEqual(st, 409, doc)
		# a commit of another group (C37)
		other, _ = self.client("alice")
		self.mls("create_group", client=other)
		oc = self.mls("commit", client=other, path=True, public=True)
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PublicMessage", oc["commit"])})
		self.assertIn(st, (400, 409), doc)

	def test_05_forged_announces(self):
		chan, names = self.create([(self.b, "bob")])
		self.join(self.b, "bob", chan, names)
		ann = {"id": self.remote.base + "/ann/" + uuid.uuid4().hex, "type": "Announce",
		       "actor": self.mallory.id, "aim:sequence": 1,
		       "object": {"type": "Create", "actor": self.mallory.id, "object": {"type": "Note"}}}
		hdrs, data = sign_cavage(self.mallory, "POST", self.b.base + "/inbox", ann)
		st, _, body = self.b.req("POST", self.b.base + "/inbox", body=data, headers=hdrs)
		self.assertEqual(st, 403, body)       # mallory is no channel with members here
		forged = dict(ann, actor=chan)
		hdrs, data = sign_cavage(self.mallory, "POST", self.b.base + "/inbox", forged)
		st, _, body = self.b.req("POST", self.b.base + "/inbox", body=data, headers=hdrs)
		self.assertEqual(st, 401, body)       # not signed by the channel's key
		self.assertFalse([x for x in self.announces(self.b, "bob", chan)
				  if x["id"] == ann["id"]])

	def dm(self, participants):
		"""alice's first DM to participants [(srv, user)]: the DM's hub."""
		al, _ = self.client("alice")
		self.mls("create_group", client=al)
		names, kps = {("a.test", "alice"): al}, []
		for srv, user in participants:
			n, kp = self.client(user, srv)
			names[(srv.domain, user)] = n
			kps.append(kp)
		cm = self.mls("commit", client=al, add=kps, public=True, tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		st, hd, doc = self.post(self.a, "alice", {
			"type": "Create", "to": [self.url(s, u) for s, u in participants],
			"object": {"type": "Note", "content": ""},
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		hub = doc["aim:hub"]
		self.assertTrue(hub.startswith(self.a.base + "/dms/"), hub)
		for srv, u in participants:
			self.join(srv, u, hub, names)
		return hub, names

	def test_06_group_dm_and_one_to_one(self):
		hub, names = self.dm([(self.b, "bob"), (self.c, "carol")])
		self.assertEqual(self.followers(hub), {self.url(self.a, "alice"), self.url(self.b, "bob"),
							self.url(self.c, "carol")})
		st, doc, text = self.send(self.a, "alice", hub, names[("a.test", "alice")])
		self.assertEqual(st, 201, doc)
		for srv, u in ((self.b, "bob"), (self.c, "carol")):
			anns = wait_for(lambda: self.announces(srv, u, hub), what="DM at " + u)
			got = self.mls("process", client=names[(srv.domain, u)],
				       message=unobj(anns[0]["object"]["object"]))
			self.assertEqual(got.get("text"), text)
		# carol answers through her server, to the DM's hub
		st, doc, t2 = self.send(self.c, "carol", hub, names[("c.test", "carol")])
		self.assertEqual(st, 201, doc)
		anns = wait_for(lambda: [x for x in self.announces(self.b, "bob", hub)
					 if x["aim:sequence"] == 2], what="carol's DM at bob")
		got = self.mls("process", client=names[("b.test", "bob")],
			       message=unobj(anns[0]["object"]["object"]))
		self.assertEqual(got.get("text"), t2)
		# a 1:1 DM is a group DM of two
		hub1, n1 = self.dm([(self.b, "bea")])
		st, doc, t3 = self.send(self.a, "alice", hub1, n1[("a.test", "alice")])
		self.assertEqual(st, 201, doc)
		anns = wait_for(lambda: self.announces(self.b, "bea", hub1), what="1:1 at bea")
		self.assertEqual(self.mls("process", client=n1[("b.test", "bea")],
					  message=unobj(anns[0]["object"]["object"])).get("text"), t3)

	def test_07_sequence_order_and_catch_up(self):
		# a member's server puts Announces into inboxes in sequence order,
		# holding one that comes early; the outbox pages after a sequence
		chan, names = self.create([(self.remote, "rita"), (self.b, "bob")])
		self.join(self.b, "bob", chan, names)
		al = names[("a.test", "alice")]
		seqs = []
		for i in range(3):
			st, doc, _ = self.send(self.a, "alice", chan, al)
			self.assertEqual(st, 201, doc)
			seqs.append(doc["aim:sequence"])
		self.assertEqual(seqs, [1, 2, 3])
		anns = wait_for(lambda: len(self.announces(self.b, "bob", chan)) == 3 and
				self.announces(self.b, "bob", chan))
		# in the inbox (newest first) the order is the sequence's
		order = [it["aim:sequence"] for it in inbox_items(self.b, "bob")
			 if isinstance(it, dict) and it.get("actor") == chan and it.get("type") == "Announce"]
		self.assertEqual(order, [3, 2, 1])
		st, _, ob = aimtest.get_json(chan + "/outbox?after=1", token=self.a.tokens["alice"],
					     ctx=self.a.ctx)
		self.assertEqual([i["aim:sequence"] for i in ob["orderedItems"]], [2, 3])
		# the GroupInfo: for members and their servers only
		st, _, _ = aimtest.get_json(chan + "/groupInfo", ctx=self.a.ctx)
		self.assertEqual(st, 403)
		st, _, gi = aimtest.get_json(chan + "/groupInfo", token=self.a.tokens["alice"],
					     ctx=self.a.ctx)
		self.assertEqual(st, 200, gi)
		self.assertEqual(gi["type"], "GroupInfo")

	def test_08_rename_and_transfer(self):
		chan, names = self.create([(self.a, "dave"), (self.b, "bob")])
		self.join(self.b, "bob", chan, names)
		# only an allowed member renames (policy owner): bob may not
		act = {"type": "Update", "to": [chan], "object": {"id": chan, "type": "Group",
								 "name": "bob's"}}
		st, doc = self.post(self.a, "dave", act)[0::2]
		self.assertEqual(st, 403, doc)
		st, doc = self.post(self.a, "alice", dict(act, object={"id": chan, "type": "Group",
									"name": "renamed"}))[0::2]
		self.assertEqual(st, 201, doc)
		st, _, d = aimtest.get_json(chan, ctx=self.a.ctx)
		self.assertEqual(d["name"], "renamed")
		# fanned out to the members like any accepted activity
		wait_for(lambda: [x for x in self.announces(self.b, "bob", chan)
				  if x["object"]["type"] == "Update"], what="the rename at bob")
		# ownership to dave: then alice may no longer rename
		st, doc = self.post(self.a, "alice", dict(act, object={
			"id": chan, "type": "Group", "attributedTo": self.url(self.a, "dave")}))[0::2]
		self.assertEqual(st, 201, doc)
		st, _, d = aimtest.get_json(chan, ctx=self.a.ctx)
		self.assertEqual(d["attributedTo"], self.url(self.a, "dave"))
		st, doc = self.post(self.a, "alice", dict(act, object={"id": chan, "type": "Group",
									"name": "mine"}))[0::2]
		self.assertEqual(st, 403, doc)
		st, doc = self.post(self.a, "dave", dict(act, object={"id": chan, "type": "Group",
								       "name": "dave's"}))[0::2]
		self.assertEqual(st, 201, doc)

	def test_09_hub_killed_mid_fanout(self):
		# the Announce and its deliveries commit with the hub state: a hub
		# killed with kill -9 right after accepting loses nothing, and the
		# member's server takes each sequence once
		chan, names = self.create([(self.b, "bob"), (self.c, "carol")])
		for srv, u in ((self.b, "bob"), (self.c, "carol")):
			self.join(srv, u, chan, names)
		al = names[("a.test", "alice")]
		sent = []
		for i in range(5):
			st, doc, text = self.send(self.a, "alice", chan, al)
			self.assertEqual(st, 201, doc)
			sent.append((doc["aim:sequence"], text))
		self.a.kill9()
		self.a.start()
		for srv, u in ((self.b, "bob"), (self.c, "carol")):
			anns = wait_for(lambda: len(self.announces(srv, u, chan)) >= 5 and
					self.announces(srv, u, chan), what="every message at " + u)
			self.assertEqual([x["aim:sequence"] for x in anns], [1, 2, 3, 4, 5])
			for (seq, text), x in zip(sent, anns):
				got = self.mls("process", client=names[(srv.domain, u)],
					       message=unobj(x["object"]["object"]))
				self.assertEqual(got.get("text"), text)

	def test_10_bad_signature(self):
		chan, names = self.create([(self.b, "bob")])
		al = names[("a.test", "alice")]
		# C40: a Commit whose signed content was changed
		cm = self.mls("commit", client=al, path=True, public=True, pending=True)
		b = bytearray(bytes.fromhex(cm["commit"]))
		b[len(b) // 2] ^= 0x01
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PublicMessage", b.hex())})
		self.assertEqual(st, 400, doc)
		self.mls("discard_pending", client=al)
		# the channel is unharmed: a good commit still goes
		cm = self.mls("commit", client=al, path=True, public=True)
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)

	def test_11_one_delivery_per_domain(self):
		# 31 members on 3 domains: one message makes exactly 2 deliveries
		# (b.test's and c.test's shared inboxes) and every member has it once
		members = [(srv, "m%d" % i) for srv in (self.a, self.b, self.c) for i in range(10)]
		chan, names = self.create(members)
		for srv, u in members:
			if srv is not self.a:
				self.join(srv, u, chan, names)
		st, doc, text = self.send(self.a, "alice", chan, names[("a.test", "alice")])
		self.assertEqual(st, 201, doc)
		rows = self.deliveries(self.a, "%s/announces/%d" % (chan, doc["aim:sequence"]))
		self.assertEqual(sorted(r[0] for r in rows),
				 sorted([self.b.base + "/inbox", self.c.base + "/inbox"]), rows)
		for srv, u in members:
			anns = wait_for(lambda: self.announces(srv, u, chan), what="the message at " + u)
			self.assertEqual([x["aim:sequence"] for x in anns], [doc["aim:sequence"]])

	def test_12_removed_member_beside_a_remaining_one(self):
		# bea is removed, bob on the same server stays: the next message
		# reaches b.test (for bob) but no longer bea's inbox
		chan, names = self.create([(self.b, "bob"), (self.b, "bea")])
		for u in ("bob", "bea"):
			self.join(self.b, u, chan, names)
		al = names[("a.test", "alice")]
		leaf = [m["leaf"] for m in self.mls("status", client=al)["members"]
			if m["identity"] == "acct:bea@b.test"][0]
		cm = self.mls("commit", client=al, remove=[leaf], public=True)
		st, _, doc = self.post(self.a, "alice", {
			"type": "Remove", "object": [self.url(self.b, "bea")], "target": chan + "/followers",
			"instrument": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)
		wait_for(lambda: [x for x in self.announces(self.b, "bea", chan)
				  if x["object"]["type"] == "Remove"], what="bea hears of her removal")
		st, doc, text = self.send(self.a, "alice", chan, al)
		self.assertEqual(st, 201, doc)
		seq = doc["aim:sequence"]
		wait_for(lambda: [x for x in self.announces(self.b, "bob", chan) if x["aim:sequence"] == seq],
			 what="the message at bob")
		self.assertFalse([x for x in self.announces(self.b, "bea", chan) if x["aim:sequence"] == seq])
		# a Welcome from an actor that is no channel makes nobody a member
		w = {"id": self.remote.base + "/w/" + uuid.uuid4().hex, "type": "Create",
		     "actor": self.mallory.id, "to": [self.url(self.b, "bea")],
		     "object": {"type": "Welcome", "mediaType": "message/mls", "encoding": "base64",
				"content": "AAEAAw=="}}
		hdrs, data = sign_cavage(self.mallory, "POST", self.b.base + "/inbox", w)
		st, _, body = self.b.req("POST", self.b.base + "/inbox", body=data, headers=hdrs)
		self.assertEqual(st, 403, body)

	def test_13_gap_paged_from_the_outbox(self):
		# the delivery of sequence 2 to b.test is lost (failed for good):
		# when 3 comes, b.test holds it, pages the channel's outbox after 1
		# (a signed GET) and puts 2 then 3 into bob's inbox
		chan, names = self.create([(self.b, "bob")])
		self.join(self.b, "bob", chan, names)
		al = names[("a.test", "alice")]
		st, doc, _ = self.send(self.a, "alice", chan, al)
		wait_for(lambda: self.announces(self.b, "bob", chan), what="sequence 1 at bob")
		self.b.stop()
		texts = {}
		for i in range(2):
			st, doc, text = self.send(self.a, "alice", chan, al)
			self.assertEqual(st, 201, doc)
			texts[doc["aim:sequence"]] = text
		self.assertEqual(sorted(texts), [2, 3])
		self.a.stop()
		db = sqlite3.connect(os.path.join(self.a.data, "aim.db"))
		try:
			for seq, state in ((2, 2), (3, 0)):
				db.execute("UPDATE deliveries SET state = ?, next_at = 0 WHERE outgoing_id IN"
					   " (SELECT id FROM outgoing WHERE activity_id = ?)",
					   (state, "%s/announces/%d" % (chan, seq)))
			db.commit()
		finally:
			db.close()
		self.b.start()
		self.a.start()
		anns = wait_for(lambda: len(self.announces(self.b, "bob", chan)) == 3 and
				self.announces(self.b, "bob", chan), what="2 and 3 at bob")
		order = [it["aim:sequence"] for it in inbox_items(self.b, "bob")
			 if isinstance(it, dict) and it.get("actor") == chan and it.get("type") == "Announce"]
		self.assertEqual(order, [3, 2, 1])
		for x in anns[1:]:
			got = self.mls("process", client=names[("b.test", "bob")],
				       message=unobj(x["object"]["object"]))
			self.assertEqual(got.get("text"), texts[x["aim:sequence"]])

	def test_14_concurrent_messages_all_accepted(self):
		# messages to one channel posted at the same moment by several
		# members over many connections: every one is accepted, each with
		# its own sequence number (they used to lose the race for the hub's
		# state and come back 409 stale_epoch although no epoch had moved)
		members = [(self.a, "dave"), (self.a, "x1"), (self.a, "x2"), (self.b, "bob")]
		chan, names = self.create(members)
		for srv, user in members:
			self.join(srv, user, chan, names)
		senders = [("alice", names[("a.test", "alice")])] + \
			  [(u, names[("a.test", u)]) for _, u in members[:3]]
		jobs = []
		for i in range(30):
			for user, cl in senders:
				text = "secret-%s" % uuid.uuid4().hex
				self.texts.append(text)
				jobs.append((user, self.mls("send", client=cl, plaintext=text)["message"]))
		results = [None] * len(jobs)
		n = 12
		gate = threading.Barrier(n)

		def worker(k):
			gate.wait()
			for i in range(k, len(jobs), n):
				user, m = jobs[i]
				st, _, doc = self.post(self.a, user, {
					"type": "Create", "to": [chan], "object": obj("PrivateMessage", m)})
				results[i] = (st, doc)

		ts = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
		for t in ts:
			t.start()
		for t in ts:
			t.join()
		for st, doc in results:
			self.assertEqual(st, 201, doc)
		seqs = sorted(doc["aim:sequence"] for _, doc in results)
		self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(jobs))))

	def test_99_no_plaintext_anywhere(self):
		if not self.texts:
			self.skipTest("no messages sent")
		for srv in (self.a, self.b, self.c):
			blobs = []
			for root, _, files in os.walk(srv.tmp):
				for f in files:
					try:
						with open(os.path.join(root, f), "rb") as fh:
							blobs.append((f, fh.read()))
					except OSError:
						pass
			for t in self.texts:
				for f, b in blobs:
					self.assertNotIn(t.encode(), b, "%s in %s of %s" % (t, f, srv.domain))


if __name__ == "__main__":
	aimtest.main()
