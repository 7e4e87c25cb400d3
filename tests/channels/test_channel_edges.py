"""Channels at their edges (issue 11): Welcomes once per shared inbox, a
channel's Reject reaching a remote member's server, the outbox and the
GroupInfo only for servers with a member, an invalid proposal list through
HTTP (threats.md C41), and the settings (policy, admins) over the client
API. a.test hosts the channels, b.test holds members, r.test is a fake
remote whose actors sign by hand. The MLS traffic is real
(tests/interop/mls_driver.c)."""

import json
import os
import sqlite3
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from fedtest import FakeRemote, sign_cavage, wait_for, inbox_items
from chantest import Mls, obj, unobj

MLSCTX = "https://purl.archive.org/socialweb/mls"


class ChannelEdges(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("a.test", "b.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.remote = FakeRemote(cls.fed.ca, "r.test")
		cls.addClassCleanup(cls.remote.close)
		cls.rita = cls.remote.add_actor("rita")
		cls.mallory = cls.remote.add_actor("mallory")
		cls.a, cls.b = cls.fed["a.test"], cls.fed["b.test"]
		for u in ("alice", "dave", "erin"):
			cls.a.add_user(u)
		for u in ("bob", "bea", "ben"):
			cls.b.add_user(u)
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(
			cls.fed, cls.remote, extra=("--hub-basic-credentials",)))
		cls.mls = Mls()
		cls.addClassCleanup(cls.mls.close)

	# -- helpers ------------------------------------------------------------
	def client(self, who, srv=None):
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

	def create(self, members, policy="owner", admins=()):
		al, _ = self.client("alice")
		self.mls("create_group", client=al)
		names, kps = {}, []
		for srv, user in members:
			n, kp = self.client(user, srv)
			names[(getattr(srv, "domain", None) or srv.name, user)] = n
			kps.append(kp)
		cm = self.mls("commit", client=al, add=kps, public=True, tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		group = {"type": "Group", "name": "edges", "aim:policy": {"membership": policy}}
		if admins:
			group["aim:admins"] = list(admins)
		st, hd, doc = self.post(self.a, "alice", {
			"@context": ["https://www.w3.org/ns/activitystreams", MLSCTX],
			"type": "Create", "object": group,
			"aim:members": [self.url(s, u) for s, u in members],
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		chan = hd.get("location") or hd.get("Location")
		names[("a.test", "alice")] = al
		return chan, names

	def welcome_for(self, srv, user, chan):
		return wait_for(lambda: [it for it in inbox_items(srv, user) if isinstance(it, dict) and
					 it.get("type") == "Create" and it.get("actor") == chan and
					 (it.get("object") or {}).get("type") == "Welcome"],
				timeout=20, what="Welcome for %s" % user)

	def join(self, srv, user, chan, names):
		w = self.welcome_for(srv, user, chan)[0]
		self.mls("join", client=names[(srv.domain, user)], welcome=unobj(w["object"]))
		return w

	def deliveries(self, srv, activity_id):
		db = sqlite3.connect("file:%s?mode=ro" % os.path.join(srv.data, "aim.db"), uri=True)
		try:
			return db.execute("SELECT d.inbox, d.host, d.state FROM deliveries d JOIN outgoing o"
					  " ON o.id = d.outgoing_id WHERE o.activity_id = ?",
					  (activity_id,)).fetchall()
		finally:
			db.close()

	def channel_doc(self, chan):
		st, _, doc = aimtest.get_json(chan, ctx=self.a.ctx)
		self.assertEqual(st, 200, doc)
		return doc

	def update(self, user, chan, **fields):
		o = {"id": chan, "type": "Group"}
		o.update(fields)
		return self.post(self.a, user, {"type": "Update", "to": [chan], "object": o})[0::2]

	def signed_get(self, actor, url):
		hdrs, _ = sign_cavage(actor, "GET", url, None, headers="(request-target) host date")
		hdrs["Accept"] = aimtest.AP_TYPE
		st, _, body = self.a.req("GET", url, headers=hdrs)
		return st, body

	# -- the tests ------------------------------------------------------------
	def test_01_welcome_once_per_shared_inbox(self):
		# three members on b.test: the Welcome is ONE request to b.test's
		# shared inbox, and b.test routes it to each of them
		members = [(self.b, "bob"), (self.b, "bea"), (self.b, "ben")]
		chan, names = self.create(members)
		ws = [self.join(self.b, u, chan, names) for _, u in members]
		self.assertEqual(len({w["id"] for w in ws}), 1, ws)
		rows = self.deliveries(self.a, ws[0]["id"])
		self.assertEqual([r[0] for r in rows], [self.b.base + "/inbox"], rows)
		self.assertEqual(sorted(ws[0]["to"]), sorted(self.url(self.b, u) for _, u in members))
		# an Add of a second member there later: one request again
		dv, kp = self.client("dave")
		_, kp2 = self.client("erin")
		al = names[("a.test", "alice")]
		cm = self.mls("commit", client=al, add=[kp, kp2], public=True, tree_in_welcome=True)
		st, _, doc = self.post(self.a, "alice", {
			"type": "Add", "object": [self.url(self.a, "dave"), self.url(self.a, "erin")],
			"target": chan + "/followers", "instrument": obj("PublicMessage", cm["commit"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		w = self.welcome_for(self.a, "dave", chan)
		self.assertTrue(self.welcome_for(self.a, "erin", chan))
		# local members: inbox rows, no network delivery
		self.assertEqual(self.deliveries(self.a, w[0]["id"]), [])

	def test_02_reject_reaches_the_remote_member(self):
		# bob (b.test) commits for epoch 1 after alice moved the channel to
		# 2: b.test posts it to the channel, takes the 409, and the
		# channel's Reject naming epoch 2 lands in bob's inbox
		chan, names = self.create([(self.b, "bob")], policy="members")
		self.join(self.b, "bob", chan, names)
		al, bo = names[("a.test", "alice")], names[("b.test", "bob")]
		stale = self.mls("commit", client=bo, path=True, public=True, pending=True)
		cm = self.mls("commit", client=al, path=True, public=True)
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)
		self.assertEqual(doc["aim:epoch"], 2)
		act = {"type": "Create", "to": [chan], "object": obj("PublicMessage", stale["commit"])}
		st, _, doc = self.post(self.b, "bob", act)
		self.assertEqual(st, 201, doc)
		rj = wait_for(lambda: [it for it in inbox_items(self.b, "bob") if isinstance(it, dict)
				       and it.get("type") == "Reject" and it.get("actor") == chan],
			      timeout=20, what="the channel's Reject in bob's inbox")
		self.assertEqual(rj[0]["aim:currentEpoch"], 2)
		self.assertEqual(rj[0]["object"]["actor"], self.url(self.b, "bob"))
		# not bea's: she is no member, and nobody else's inbox has it
		self.assertFalse([it for it in inbox_items(self.b, "bea") if isinstance(it, dict) and
				  it.get("type") == "Reject"])
		self.mls("discard_pending", client=bo)
		# a Reject naming an epoch from an actor that is no channel: 403
		fake = {"id": self.remote.base + "/rj/" + uuid.uuid4().hex, "type": "Reject",
			"actor": self.mallory.id, "to": [self.url(self.b, "bob")], "aim:currentEpoch": 9,
			"object": {"type": "Create", "actor": self.url(self.b, "bob")}}
		hdrs, data = sign_cavage(self.mallory, "POST", self.b.base + "/inbox", fake)
		st, _, body = self.b.req("POST", self.b.base + "/inbox", body=data, headers=hdrs)
		self.assertEqual(st, 403, body)
		self.assertFalse([it for it in inbox_items(self.b, "bob") if isinstance(it, dict) and
				  it.get("id") == fake["id"]])

	def test_03_outbox_only_for_members_servers(self):
		# a channel of alice and bob (b.test): r.test is a verified server
		# without a member, so its signed GETs of the outbox and GroupInfo
		# are 403; a channel with rita lets r.test read
		chan, names = self.create([(self.b, "bob")])
		st, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan], "object": obj(
			"PrivateMessage", self.mls("send", client=names[("a.test", "alice")],
						   plaintext="x")["message"])})[0::2]
		self.assertEqual(st, 201, doc)
		for path in ("/outbox?after=0", "/outbox", "/groupInfo"):
			st, body = self.signed_get(self.rita, chan + path)
			self.assertEqual(st, 403, body)
		# bearer tokens: a local member yes, a local non-member no
		st, _, ob = aimtest.get_json(chan + "/outbox?after=0", token=self.a.tokens["dave"],
					     ctx=self.a.ctx)
		self.assertEqual(st, 403, ob)
		st, _, ob = aimtest.get_json(chan + "/outbox?after=0", token=self.a.tokens["alice"],
					     ctx=self.a.ctx)
		self.assertEqual(st, 200, ob)
		chan2, names2 = self.create([(self.remote, "rita")])
		st, body = self.signed_get(self.rita, chan2 + "/outbox?after=0")
		self.assertEqual(st, 200, body)
		self.assertEqual(json.loads(body)["type"], "OrderedCollectionPage")
		st, body = self.signed_get(self.rita, chan2 + "/groupInfo")
		self.assertEqual(st, 200, body)
		# a forged signature is the gate's 401, never the collection
		hdrs, _ = sign_cavage(self.rita, "GET", chan2 + "/outbox", None,
				      headers="(request-target) host date")
		hdrs["Signature"] = hdrs["Signature"].replace('signature="', 'signature="AAAA')
		st, _, body = self.a.req("GET", chan2 + "/outbox", headers=hdrs)
		self.assertEqual(st, 401, body)

	def test_04_c41_invalid_proposal_list(self):
		# threats.md C41 through HTTP: a Commit that refers to a proposal
		# the hub never saw (alice proposed bob's removal but never sent
		# it): 400, the channel's state unchanged, a good commit goes next
		chan, names = self.create([(self.b, "bob")])
		al = names[("a.test", "alice")]
		leaf = [m["leaf"] for m in self.mls("status", client=al)["members"]
			if m["identity"] == "acct:bob@b.test"][0]
		self.mls("propose", client=al, remove=[leaf], public=True)
		cm = self.mls("commit", client=al, public=True, pending=True)
		st, _, doc = self.post(self.a, "alice", {
			"type": "Remove", "object": [self.url(self.b, "bob")], "target": chan + "/followers",
			"instrument": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 400, doc)
		self.assertIn("unknown proposal", doc.get("detail", "") + doc.get("error", ""), doc)
		self.assertEqual(self.channel_doc(chan)["aim:epoch"], 1)
		st, _, f = aimtest.get_json(chan + "/followers", ctx=self.a.ctx)
		self.assertIn(self.url(self.b, "bob"), f["orderedItems"])
		self.mls("discard_pending", client=al)
		cm = self.mls("commit", client=al, path=True, public=True, include_pending=False)
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)
		self.assertEqual(doc["aim:epoch"], 2)

	def test_05_settings_admins_and_transfer(self):
		# policy "admins" with dave as admin: erin (a member, no admin) may
		# not rename nor Add, dave may; under "members" erin may; only the
		# owner sets the settings; after a transfer the new owner does
		members = [(self.a, "dave"), (self.a, "erin"), (self.b, "bob")]
		chan, names = self.create(members, policy="owner")
		dave = self.url(self.a, "dave")
		st, doc = self.update("dave", chan, **{"aim:policy": {"membership": "admins"},
						       "aim:admins": [dave]})
		self.assertEqual(st, 403, doc)        # only the owner sets them
		st, doc = self.update("alice", chan, **{"aim:admins": [self.url(self.a, "nobody")]})
		self.assertEqual(st, 400, doc)        # an admin is a member
		st, doc = self.update("alice", chan, **{"aim:policy": {"membership": "admins"},
							"aim:admins": [dave]})
		self.assertEqual(st, 201, doc)
		d = self.channel_doc(chan)
		self.assertEqual(d["aim:policy"]["membership"], "admins")
		self.assertEqual(d["aim:admins"], [dave])
		# fanned out to the members like any accepted change
		wait_for(lambda: [x for x in inbox_items(self.b, "bob") if isinstance(x, dict) and
				  x.get("type") == "Announce" and x.get("actor") == chan and
				  "aim:policy" in (x["object"].get("object") or {})],
			 timeout=20, what="the settings at bob")
		st, doc = self.update("erin", chan, name="erin's")
		self.assertEqual(st, 403, doc)
		st, doc = self.update("dave", chan, name="dave's")
		self.assertEqual(st, 201, doc)
		self.assertEqual(self.channel_doc(chan)["name"], "dave's")
		# "any member": erin renames; the admins stay as they were
		st, doc = self.update("alice", chan, **{"aim:policy": {"membership": "members"}})
		self.assertEqual(st, 201, doc)
		self.assertEqual(self.channel_doc(chan)["aim:admins"], [dave])
		st, doc = self.update("erin", chan, name="erin's")
		self.assertEqual(st, 201, doc)
		# a remote member (bob through b.test) renames too: any member
		st, _, doc = self.post(self.b, "bob", {"type": "Update", "to": [chan],
						       "object": {"id": chan, "type": "Group",
								  "name": "bob's"}})
		self.assertEqual(st, 201, doc)
		wait_for(lambda: self.channel_doc(chan)["name"] == "bob's", timeout=20,
			 what="bob's rename at the hub")
		# a bad policy value is a bad request
		st, doc = self.update("alice", chan, **{"aim:policy": {"membership": "everyone"}})
		self.assertEqual(st, 400, doc)
		# ownership to dave: alice sets nothing any more, dave does
		st, doc = self.update("alice", chan, attributedTo=dave)
		self.assertEqual(st, 201, doc)
		self.assertEqual(self.channel_doc(chan)["attributedTo"], dave)
		st, doc = self.update("alice", chan, **{"aim:policy": {"membership": "owner"}})
		self.assertEqual(st, 403, doc)
		st, doc = self.update("dave", chan, **{"aim:policy": {"membership": "owner"},
						       "aim:admins": []})
		self.assertEqual(st, 201, doc)
		d = self.channel_doc(chan)
		self.assertEqual((d["aim:policy"]["membership"], d["aim:admins"]), ("owner", []))
		st, doc = self.update("erin", chan, name="again")
		self.assertEqual(st, 403, doc)

	def hub_version(self, chan):
		db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.a.data, "aim.db"), uri=True)
		try:
			return db.execute("SELECT version FROM versioned WHERE kind = 'hub' AND key = ?",
					  (chan.rsplit("/", 1)[1],)).fetchone()[0]
		finally:
			db.close()

	def test_06_messages_leave_the_hub_state_alone(self):
		# issue 11 (throughput): an application message does not change the
		# MLS state, so the hub does not rewrite it: the version stays, the
		# sequence numbers go on without gaps, and a commit after them takes
		# the next one (and moves the version)
		chan, names = self.create([(self.b, "bob")])
		self.join(self.b, "bob", chan, names)
		al, bo = names[("a.test", "alice")], names[("b.test", "bob")]
		v0 = self.hub_version(chan)
		seqs = []
		for i in range(5):
			m = self.mls("send", client=al, plaintext="m%d" % i)
			st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
								 "object": obj("PrivateMessage", m["message"])})
			self.assertEqual(st, 201, doc)
			seqs.append(doc["aim:sequence"])
		self.assertEqual(seqs, [1, 2, 3, 4, 5])
		self.assertEqual(self.hub_version(chan), v0)
		cm = self.mls("commit", client=al, path=True, public=True)
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)
		self.assertEqual((doc["aim:sequence"], doc["aim:epoch"]), (6, 2))
		self.assertEqual(self.hub_version(chan), v0 + 1)
		# the outbox says so, and bob has every one in order
		st, _, ob = aimtest.get_json(chan + "/outbox?after=0", token=self.a.tokens["alice"],
					     ctx=self.a.ctx)
		self.assertEqual(ob["aim:lastSequence"], 6)
		items = sorted(ob["orderedItems"], key=lambda i: i["aim:sequence"])
		self.assertEqual([i["aim:sequence"] for i in items], [1, 2, 3, 4, 5, 6])
		anns = wait_for(lambda: len([x for x in inbox_items(self.b, "bob") if isinstance(x, dict)
					     and x.get("actor") == chan and x.get("type") == "Announce"]) == 6
				and True, timeout=20, what="six Announces at bob")
		self.assertTrue(anns)
		for i in range(2):
			got = self.mls("process", client=bo, message=unobj(
				items[i]["object"]["object"]))
			self.assertEqual(got.get("text"), "m%d" % i)

	def test_07_forged_move_refused(self):
		# a Move of a channel to another actor that the channel itself does
		# not name movedTo: the member's server keeps following the channel
		chan, names = self.create([(self.b, "bob")])
		self.join(self.b, "bob", chan, names)
		fake = {"id": self.remote.base + "/mv/" + uuid.uuid4().hex, "type": "Move",
			"actor": self.mallory.id, "object": chan, "target": self.mallory.id}
		hdrs, data = sign_cavage(self.mallory, "POST", self.b.base + "/inbox", fake)
		st, _, body = self.b.req("POST", self.b.base + "/inbox", body=data, headers=hdrs)
		self.assertEqual(st, 403, body)
		# signed by mallory as the channel: the gate's 401
		hdrs, data = sign_cavage(self.mallory, "POST", self.b.base + "/inbox",
					 dict(fake, actor=chan, target=chan))
		st, _, body = self.b.req("POST", self.b.base + "/inbox", body=data, headers=hdrs)
		self.assertEqual(st, 401, body)
		m = self.mls("send", client=names[("a.test", "alice")], plaintext="still here")
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PrivateMessage", m["message"])})
		self.assertEqual(st, 201, doc)
		wait_for(lambda: [x for x in inbox_items(self.b, "bob") if isinstance(x, dict) and
				  x.get("actor") == chan and x.get("type") == "Announce"],
			 timeout=20, what="the channel's message at bob")
		self.assertFalse([x for x in inbox_items(self.b, "bob") if isinstance(x, dict) and
				  x.get("type") == "Move"])


if __name__ == "__main__":
	aimtest.main()
