"""A local federation of three real aimd servers (a.test, b.test, c.test),
each HTTPS with a certificate from a CA made by the test, reaching the
others through --connect-to (loopback only, no /etc/hosts). Users act
through the client API (outbox POST, inbox reads); delivery states are read
with `aimd deliveries`.

Scenarios (issue 3): follow / accept / undo across servers; a
followers-only Create reaches every follower exactly once with one POST per
shared inbox; a direct message to users on two other servers; Delete of a
note (its content gone from the receiver's inbox and database); a receiver
that is down and comes back (delivered once); kill -9 of the sender with
deliveries pending (resumed after restart, nothing lost)."""

import json
import os
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AS_PUBLIC, AimTestCase, Federation, run_aimd
from fedtest import inbox_items, post_outbox, wait_for

FAST = ["--retry-base-ms", "300", "--retry-max-ms", "1500", "--retry-expire-s", "120",
	"--breaker-threshold", "1000", "--breaker-cooldown-ms", "200"]


def deliveries(srv):
	r = run_aimd("deliveries", "--data", srv.data)
	if r.returncode != 0:
		raise AssertionError("aimd deliveries failed: %s" % r.stderr)
	return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def deliveries_of(srv, activity_id):
	return [d for d in deliveries(srv) if d.get("activity") == activity_id]


def mentions(items, needle):
	"""How many inbox items carry needle (an id or a text) anywhere."""
	return sum(1 for it in items if needle in json.dumps(it))


def db_rows_with(srv, needle):
	"""(table, row) of every row of srv's database that holds needle in a text
	column, read with SQLite itself while aimd runs."""
	db = sqlite3.connect("file:%s?mode=ro" % os.path.join(srv.data, "aim.db"), uri=True)
	try:
		found = []
		tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
		for t in tables:
			for row in db.execute('SELECT * FROM "%s"' % t):
				if any(isinstance(v, str) and needle in v for v in row):
					found.append((t, row))
		return found
	finally:
		db.close()


class ThreeServers(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation()
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a, cls.b, cls.c = cls.fed["a.test"], cls.fed["b.test"], cls.fed["c.test"]
		cls.a.add_user("alice")
		cls.a.add_user("amy")
		cls.b.add_user("bob")
		cls.b.add_user("bea")
		cls.b.add_user("ben")
		cls.c.add_user("carol")
		cls.c.add_user("cid")
		cls.b.add_user("bree")
		r = run_aimd("user", "set", "--data", cls.b.data, "bree", "manual-approval", "on")
		if r.returncode != 0:
			raise AssertionError("aimd user set: %s" % r.stderr)
		cls.remote = fedtest.FakeRemote(cls.fed.ca, "r.test",
						directory=os.path.join(cls.fed.dir, "r"))
		cls.addClassCleanup(cls.remote.close)
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(cls.fed, cls.remote,
									  extra=FAST))

	def follow(self, src, user, dst, target):
		"""user@src follows target@dst; waits until dst lists the follower
		and src got the Accept. Returns the Follow activity."""
		obj = dst.actor(target)
		act = post_outbox(src, user, {"@context": fedtest.AS_CTX, "type": "Follow",
					      "object": obj, "to": [obj]})
		me = src.actor(user)
		wait_for(lambda: me in self.followers(dst, target), what="%s in followers" % me)
		wait_for(lambda: any(it.get("type") == "Accept" and act["id"] in json.dumps(it)
				     for it in inbox_items(src, user)),
			 what="Accept of %s in %s's inbox" % (act["id"], user))
		return act

	def followers(self, srv, user, which="followers"):
		st, _, doc = aimtest.get_retry(srv.url + "/users/%s/%s?page=1" % (user, which),
					       ctx=srv.ctx)
		self.assertEqual(st, 200, doc)
		return [fedtest.item_id(x) for x in (doc.get("orderedItems") or doc.get("items") or [])]

	def following(self, srv, user):
		return self.followers(srv, user, "following")

	def wait_delivered(self, srv, activity_id, n=None, timeout=60):
		def done():
			ds = deliveries_of(srv, activity_id)
			if ds and all(d["state"] != "pending" for d in ds):
				return ds
			return None
		ds = wait_for(done, timeout=timeout, what="deliveries of %s" % activity_id)
		for d in ds:
			self.assertEqual(d["state"], "delivered", d)
		if n is not None:
			self.assertEqual(len(ds), n, ds)
		return ds

	def wait_inbox(self, srv, user, needle, timeout=30):
		return wait_for(lambda: mentions(inbox_items(srv, user), needle), timeout=timeout,
				what="%r in %s's inbox" % (needle, user))

	# -- follow -------------------------------------------------------------
	def test_follow_accept_undo(self):
		act = self.follow(self.c, "cid", self.b, "ben")
		# issue 9 point 2: the accepted follow is in cid's following
		wait_for(lambda: self.b.actor("ben") in self.following(self.c, "cid"),
			 what="ben in cid's following")
		st, _, doc = aimtest.get_retry(self.c.url + "/users/cid/following", ctx=self.c.ctx)
		self.assertEqual(doc["totalItems"], 1, doc)
		# Undo(Follow): the follower disappears on the other server
		undo = post_outbox(self.c, "cid", {"@context": fedtest.AS_CTX, "type": "Undo",
						   "object": act["id"], "to": [self.b.actor("ben")]})
		wait_for(lambda: self.c.actor("cid") not in self.followers(self.b, "ben"),
			 what="follower removed after Undo")
		self.assertNotIn(self.b.actor("ben"), self.following(self.c, "cid"))
		self.wait_delivered(self.c, undo["id"])
		# a later post of ben's to his followers does not reach cid
		text = "after-undo-" + aimtest.rand_text()
		n = post_outbox(self.b, "ben", aimtest.note(text, to=[self.b.actor("ben") + "/followers"]))
		time.sleep(1.0)
		self.assertEqual(deliveries_of(self.b, n["id"]), [])
		self.assertEqual(mentions(inbox_items(self.c, "cid"), text), 0)

	def test_manual_approval_across_servers(self):
		bree = self.b.actor("bree")
		f = post_outbox(self.a, "amy", {"@context": fedtest.AS_CTX, "type": "Follow",
						"object": bree, "to": [bree]})
		self.wait_delivered(self.a, f["id"], n=1)
		time.sleep(1.0)
		# pending: not a follower, no Accept, followers-only posts do not go there
		self.assertNotIn(self.a.actor("amy"), self.followers(self.b, "bree"))
		self.assertFalse(any(it.get("type") == "Accept" for it in inbox_items(self.a, "amy")
				     if f["id"] in json.dumps(it)))
		text = "for approved followers " + aimtest.rand_text()
		n = post_outbox(self.b, "bree", aimtest.note(text, to=[bree + "/followers"]))
		time.sleep(1.0)
		self.assertEqual(deliveries_of(self.b, n["id"]), [])
		# bree approves through her outbox: Accept of the Follow
		acc = post_outbox(self.b, "bree", {"@context": fedtest.AS_CTX, "type": "Accept",
						   "object": f["id"], "to": [self.a.actor("amy")]})
		wait_for(lambda: self.a.actor("amy") in self.followers(self.b, "bree"),
			 what="amy approved")
		wait_for(lambda: any(it.get("type") == "Accept" and f["id"] in json.dumps(it)
				     for it in inbox_items(self.a, "amy")), what="Accept at a.test")
		self.wait_delivered(self.b, acc["id"], n=1)
		text = "approved " + aimtest.rand_text()
		post_outbox(self.b, "bree", aimtest.note(text, to=[bree + "/followers"]))
		self.wait_inbox(self.a, "amy", text)

	# -- followers-only Create --------------------------------------------------
	def test_followers_only_create_once_per_shared_inbox(self):
		for src, u in ((self.b, "bob"), (self.b, "bea"), (self.c, "carol")):
			self.follow(src, u, self.a, "alice")
		text = "followers-only " + aimtest.rand_text()
		fol = self.a.actor("alice") + "/followers"
		act = post_outbox(self.a, "alice", aimtest.note(text, to=[fol]))
		for srv, u in ((self.b, "bob"), (self.b, "bea"), (self.c, "carol")):
			self.wait_inbox(srv, u, text)
		ds = self.wait_delivered(self.a, act["id"])
		# one POST per shared inbox: b.test (two followers) and c.test
		inboxes = sorted(d["inbox"] for d in ds)
		self.assertEqual(inboxes, sorted([self.b.base + "/inbox", self.c.base + "/inbox"]), ds)
		time.sleep(1.0)
		for srv, u in ((self.b, "bob"), (self.b, "bea"), (self.c, "carol")):
			self.assertEqual(mentions(inbox_items(srv, u), text), 1,
					 "%s got the post more than once" % u)
		# not a follower: nothing
		self.assertEqual(mentions(inbox_items(self.b, "ben"), text), 0)
		self.assertEqual(mentions(inbox_items(self.a, "amy"), text), 0)

	# -- direct message to two servers --------------------------------------
	def test_direct_to_two_servers(self):
		text = "direct " + aimtest.rand_text()
		to = [self.b.actor("bea"), self.c.actor("cid")]
		act = post_outbox(self.a, "amy", aimtest.note(text, to=to))
		self.wait_inbox(self.b, "bea", text)
		self.wait_inbox(self.c, "cid", text)
		ds = self.wait_delivered(self.a, act["id"], n=2)
		self.assertNotIn(self.a.actor("amy") + "/inbox", [d["inbox"] for d in ds])
		for srv, u in ((self.b, "bob"), (self.b, "ben"), (self.c, "carol")):
			self.assertEqual(mentions(inbox_items(srv, u), text), 0,
					 "%s was not addressed" % u)
		self.assertEqual(mentions(inbox_items(self.b, "bea"), text), 1)

	def test_bcc_stripped_before_delivery(self):
		text = "bcc " + aimtest.rand_text()
		act = post_outbox(self.a, "amy", aimtest.note(text, to=[self.b.actor("bob")],
							      bcc=[self.c.actor("carol")]))
		self.wait_inbox(self.c, "carol", text)
		self.wait_inbox(self.b, "bob", text)
		for srv, u in ((self.b, "bob"), (self.c, "carol")):
			for it in inbox_items(srv, u):
				if text in json.dumps(it):
					self.assertNotIn('"bcc"', json.dumps(it), it)
					self.assertNotIn(self.c.actor("carol"), json.dumps(it), it)
		self.wait_delivered(self.a, act["id"], n=2)

	# -- Delete of a note -----------------------------------------------------
	def test_delete_note(self):
		text = "to be deleted " + aimtest.rand_text()
		act = post_outbox(self.a, "amy", aimtest.note(text, to=[self.c.actor("carol")]))
		self.wait_inbox(self.c, "carol", text)
		obj = act["object"]["id"] if isinstance(act["object"], dict) else act["object"]
		d = post_outbox(self.a, "amy", {"@context": fedtest.AS_CTX, "type": "Delete",
						"object": obj, "to": [self.c.actor("carol")]})
		# 410 Gone at the origin afterwards
		st, _, _ = self.a.get(obj.replace(self.a.base, ""), token=self.a.tokens["amy"])
		self.assertEqual(st, 410)
		self.wait_delivered(self.a, d["id"])
		# the receiver no longer shows the content
		wait_for(lambda: mentions(inbox_items(self.c, "carol"), text) == 0,
			 what="deleted note gone from carol's inbox")

	def test_delete_note_leaves_no_content_at_receiver(self):
		"""Issue 9.6: a Delete removes the content everywhere the receiver
		stores it: its Create and an Update that carried an edit, not only
		the object row (a Tombstone) and the inbox listing."""
		text = "secret to delete " + aimtest.rand_text()
		edit = "edited secret " + aimtest.rand_text()
		carol = self.c.actor("carol")
		act = post_outbox(self.a, "amy", aimtest.note(text, to=[carol]))
		self.wait_inbox(self.c, "carol", text)
		obj = act["object"]["id"] if isinstance(act["object"], dict) else act["object"]
		post_outbox(self.a, "amy", {"@context": fedtest.AS_CTX, "type": "Update", "to": [carol],
					    "object": {"id": obj, "type": "Note", "content": edit,
						       "to": [carol]}})
		self.wait_inbox(self.c, "carol", edit)
		self.assertTrue(db_rows_with(self.c, text) and db_rows_with(self.c, edit))
		d = post_outbox(self.a, "amy", {"@context": fedtest.AS_CTX, "type": "Delete",
						"object": obj, "to": [carol]})
		self.wait_delivered(self.a, d["id"])
		wait_for(lambda: mentions(inbox_items(self.c, "carol"), text) == 0,
			 what="deleted note gone from carol's inbox")
		self.assertEqual(mentions(inbox_items(self.c, "carol"), edit), 0)
		# the Delete itself is there, and the object is a Tombstone
		self.assertEqual(mentions(inbox_items(self.c, "carol"), d["id"]), 1)
		for needle in (text, edit):
			self.assertEqual(db_rows_with(self.c, needle), [],
					 "c.test still stores the deleted content")

	# -- Delete of an actor ---------------------------------------------------
	def signed_post(self, actor, srv, path, act):
		url = srv.base + path
		h, b = fedtest.sign_cavage(actor, "POST", url, act)
		st, _, body = srv.req("POST", url, headers=h, body=b)
		return st

	def test_delete_remote_actor(self):
		rita = self.remote.add_actor("rita")
		alice = self.a.actor("alice")
		f = rita.activity("Follow", alice, to=[alice])
		self.assertEqual(self.signed_post(rita, self.a, "/users/alice/inbox", f), 202)
		wait_for(lambda: rita.id in self.followers(self.a, "alice"), what="rita follows alice")
		text = "by rita " + aimtest.rand_text()
		c = rita.create_note(text, to=[self.b.actor("bob")])
		self.assertEqual(self.signed_post(rita, self.b, "/inbox", c), 202)
		self.wait_inbox(self.b, "bob", text)
		# the actor goes away: Delete(actor) to both servers, then 410
		d = rita.activity("Delete", rita.id, to=[AS_PUBLIC])
		for srv in (self.a, self.b):
			self.assertEqual(self.signed_post(rita, srv, "/inbox", d), 202)
		self.remote.routes["/users/rita"] = (410, fedtest.AP_TYPE, {
			"@context": fedtest.AS_CTX, "id": rita.id, "type": "Tombstone"})
		wait_for(lambda: rita.id not in self.followers(self.a, "alice"),
			 what="rita gone from alice's followers")
		wait_for(lambda: mentions(inbox_items(self.b, "bob"), text) == 0,
			 what="rita's note gone from bob's inbox")
		# nothing more for her: no delivery to r.test, her later posts refused
		self.remote.reset()
		n = post_outbox(self.a, "alice", aimtest.note("after rita " + aimtest.rand_text(),
							      to=[alice + "/followers"]))
		time.sleep(1.0)
		self.assertEqual([d for d in deliveries_of(self.a, n["id"])
				  if "r.test" in d["inbox"]], [])
		late = "late rita " + aimtest.rand_text()
		st = self.signed_post(rita, self.b, "/inbox",
				      rita.create_note(late, to=[self.b.actor("bob")]))
		self.assertIn(st, (401, 403, 410))
		self.assertEqual(mentions(inbox_items(self.b, "bob"), late), 0)

	# -- a receiver that is down ---------------------------------------------------
	def test_receiver_down_then_back(self):
		text = "while down " + aimtest.rand_text()
		self.c.stop()
		try:
			act = post_outbox(self.a, "alice", aimtest.note(text, to=[self.c.actor("cid")]))
			wait_for(lambda: any(d["attempts"] >= 1 for d in deliveries_of(self.a, act["id"])),
				 what="a failed attempt")
			self.assertEqual([d["state"] for d in deliveries_of(self.a, act["id"])],
					 ["pending"])
		finally:
			self.c.start()
		self.wait_delivered(self.a, act["id"], n=1)
		self.wait_inbox(self.c, "cid", text)
		time.sleep(1.0)
		self.assertEqual(mentions(inbox_items(self.c, "cid"), text), 1)

	# -- kill -9 of the sender ----------------------------------------------------
	def test_zz_kill9_sender_with_pending(self):
		texts = ["kill9 %d %s" % (i, aimtest.rand_text()) for i in range(4)]
		self.b.stop()
		ids = []
		try:
			for t in texts:
				ids.append(post_outbox(self.a, "amy", aimtest.note(
					t, to=[self.b.actor("bea")]))["id"])
			wait_for(lambda: len([d for i in ids for d in deliveries_of(self.a, i)]) == 4,
				 what="four queued deliveries")
			self.a.kill9()
			self.assertTrue(all(d["state"] == "pending"
					    for i in ids for d in deliveries_of(self.a, i)))
		finally:
			self.b.start()
		self.a.start()
		for i in ids:
			self.wait_delivered(self.a, i, n=1)
		items = inbox_items(self.b, "bea")
		for t in texts:
			self.assertEqual(mentions(items, t), 1, t)


if __name__ == "__main__":
	aimtest.main()
