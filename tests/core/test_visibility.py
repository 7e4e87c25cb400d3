"""Visibility of outbox items and of activity/object ids for anonymous,
addressed, unaddressed and owner readers; inbox access; local delivery with
bto/bcc hidden; the SSE stream (delivery, Last-Event-ID, refusals)."""

import os
import json
import time
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import (AP_TYPE, AS_PUBLIC, AimTestCase, SSEClient, Server, note, run_aimd)


def item_id(item):
	return item["id"] if isinstance(item, dict) else item


class VisibilityTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="vis.test")
		cls.tok = {n: cls.srv.add_user(n) for n in ("alice", "bob", "carol", "dave")}
		cls.srv.start()
		u = cls.srv.url + "/users/"
		cls.alice, cls.bob, cls.carol = u + "alice", u + "bob", u + "carol"
		out = "/users/alice/outbox"

		def post(obj):
			st, hd, act = cls.srv.post(out, obj, token=cls.tok["alice"])
			assert st == 201, (st, act)
			return act
		cls.items = {
			"public": post(note("public words", to=[AS_PUBLIC])),
			"unlisted": post(note("unlisted words", to=[cls.alice + "/followers"],
					      cc=[AS_PUBLIC])),
			"as_public": post(note("as-public words", to=["as:Public"])),
			"to_bob": post(note("for bob only", to=[cls.bob])),
			"cc_bob": post(note("cc bob words", to=[], cc=[cls.bob])),
			"bcc_bob": post(note("secret to bob", to=[cls.carol], bcc=[cls.bob])),
			"bto_bob": post(note("bto to bob", to=[], bto=[cls.bob])),
			"private": post(note("private words", to=[cls.alice + "/followers"])),
			"self": post(note("note to self", to=[cls.alice])),
			"audience_bob": post(note("audience bob", to=[], audience=[cls.bob])),
			# addressing only on the object of an explicit Create
			"obj_to_bob": post({"type": "Create", "object":
					    note("object-only bob", to=[cls.bob])}),
		}
		cls.visible = {
			None: {"public", "unlisted", "as_public"},
			"bob": {"public", "unlisted", "as_public", "to_bob", "cc_bob",
				"bcc_bob", "bto_bob", "audience_bob", "obj_to_bob"},
			"carol": {"public", "unlisted", "as_public", "bcc_bob"},
			"dave": {"public", "unlisted", "as_public"},
			"alice": set(cls.items),
		}


	def assertNoHidden(self, doc):
		"""No bto/bcc key anywhere in doc."""
		if isinstance(doc, dict):
			self.assertNotIn("bto", doc)
			self.assertNotIn("bcc", doc)
			for v in doc.values():
				self.assertNoHidden(v)
		elif isinstance(doc, list):
			for v in doc:
				self.assertNoHidden(v)

	def outbox_ids(self, viewer):
		tok = self.tok[viewer] if viewer else None
		st, hd, coll = self.srv.get("/users/alice/outbox", token=tok)
		self.assertEqual(st, 200)
		first = coll["first"]
		if isinstance(first, str):
			st, hd, first = self.srv.get(first, token=tok)
			self.assertEqual(st, 200)
		self.assertNotIn("next", first)
		return [item_id(i) for i in first["orderedItems"]], first

	def test_outbox_per_viewer(self):
		for viewer, names in self.visible.items():
			with self.subTest(viewer=viewer):
				got, page = self.outbox_ids(viewer)
				want = {self.items[n]["id"] for n in names}
				self.assertEqual(set(got), want)
				self.assertEqual(len(got), len(want))
				text = json.dumps(page)
				for n in set(self.items) - names:
					self.assertNotIn(self.items[n]["object"]["content"], text)

	def test_ids_per_viewer(self):
		for viewer, names in self.visible.items():
			tok = self.tok[viewer] if viewer else None
			for name, act in self.items.items():
				for url in (act["id"], act["object"]["id"]):
					with self.subTest(viewer=viewer, item=name, url=url):
						st, hd, body = self.srv.req("GET", url, token=tok,
									    headers={"Accept": AP_TYPE})
						if name in names:
							self.assertEqual(st, 200)
						else:
							self.assertIn(st, (403, 404))
							self.assertErrorBody(st, hd, body)
							self.assertNotIn(act["object"]["content"].encode(), body)

	def test_wrong_token_is_not_anonymous(self):
		st, hd, body = self.srv.req("GET", "/users/alice/outbox", token="wrong")
		self.assertIn(st, (200, 401))
		if st == 200:
			self.assertNotIn(b"for bob only", body)
		st, hd, body = self.srv.req("GET", self.items["to_bob"]["id"], token="wrong")
		self.assertIn(st, (401, 403, 404))
		self.assertNotIn(b"for bob only", body)

	def test_bto_bcc_hidden_from_recipients(self):
		for viewer in ("bob", "carol"):
			for name in ("bcc_bob", "bto_bob"):
				if name not in self.visible[viewer]:
					continue
				act = self.items[name]
				for url in (act["id"], act["object"]["id"]):
					with self.subTest(viewer=viewer, item=name, url=url):
						st, hd, doc = self.srv.get(url, token=self.tok[viewer])
						self.assertEqual(st, 200)
						self.assertNoHidden(doc)
		# nor in the outbox page a recipient reads
		for viewer in ("bob", "carol", None):
			ids, page = self.outbox_ids(viewer)
			self.assertNoHidden(page)
		# the author sees them
		st, hd, doc = self.srv.get(self.items["bcc_bob"]["id"], token=self.tok["alice"])
		self.assertEqual(st, 200)
		self.assertIn(self.bob, json.dumps(doc))

	def inbox(self, user, token):
		st, hd, coll = self.srv.get("/users/%s/inbox" % user, token=token)
		self.assertEqual(st, 200)
		first = coll["first"]
		if isinstance(first, str):
			st, hd, first = self.srv.get(first, token=token)
		return coll, first

	def test_local_delivery(self):
		coll, page = self.inbox("bob", self.tok["bob"])
		got = {item_id(i) for i in page["orderedItems"]}
		want = {self.items[n]["id"] for n in ("to_bob", "cc_bob", "bcc_bob", "bto_bob",
						      "audience_bob", "obj_to_bob")}
		self.assertEqual(got, want)
		self.assertEqual(coll["totalItems"], len(want))
		self.assertNoHidden(page)
		coll, page = self.inbox("carol", self.tok["carol"])
		self.assertEqual({item_id(i) for i in page["orderedItems"]},
				 {self.items["bcc_bob"]["id"]})
		self.assertNoHidden(page)
		self.assertNotIn(self.bob, json.dumps(page))	# bob was a bcc
		coll, page = self.inbox("dave", self.tok["dave"])
		self.assertEqual(page.get("orderedItems", []), [])

	def test_inbox_owner_only(self):
		for tok in (None, "wrong", self.tok["bob"] + "x"):
			with self.subTest(token=tok):
				r = self.srv.req("GET", "/users/bob/inbox", token=tok,
						 headers={"Accept": AP_TYPE})
				self.assertRefused(r, 401)
				self.assertTrue(r[1].get("www-authenticate", "").startswith("Bearer"))
				r = self.srv.req("GET", "/users/bob/inbox?page=true", token=tok)
				self.assertRefused(r, 401)
		for who in ("carol", "alice"):
			with self.subTest(viewer=who):
				r = self.srv.req("GET", "/users/bob/inbox", token=self.tok[who])
				self.assertRefused(r, 403)
				r = self.srv.req("GET", "/users/bob/inbox?page=true",
						 token=self.tok[who])
				self.assertRefused(r, 403)
				self.assertNotIn(b"for bob only", r[2])


class LocalFollowTest(AimTestCase):
	"""Issue 9 point 5: a follow between two users of the same server works
	like one with a remote actor (the Follow in her inbox, a follower row, an
	automatic Accept back; manual approval; Undo), and a local recipient
	who does not exist is a 400."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="lf.test")
		cls.tok = {n: cls.srv.add_user(n) for n in ("ann", "ben", "cat", "dan", "eli")}
		r = run_aimd("user", "set", "--data", cls.srv.data, "cat", "manual-approval", "on")
		assert r.returncode == 0, r.stderr
		cls.srv.start()

	def actor(self, name):
		return self.srv.url + "/users/" + name

	def post(self, user, obj):
		st, hd, act = self.srv.post("/users/%s/outbox" % user, obj, token=self.tok[user])
		self.assertEqual(st, 201, act)
		return act

	def items(self, user, which):
		tok = self.tok[user]
		st, hd, coll = self.srv.get("/users/%s/%s" % (user, which), token=tok)
		self.assertEqual(st, 200, coll)
		st, hd, page = self.srv.get(coll["first"], token=tok)
		self.assertEqual(st, 200, page)
		return coll["totalItems"], page.get("orderedItems", [])

	def ids(self, user, which):
		return [item_id(i) for i in self.items(user, which)[1]]

	def inbox_mentions(self, user, needle):
		return [i for i in self.items(user, "inbox")[1] if needle in json.dumps(i)]

	def test_follow_accept_undo(self):
		f = self.post("ann", {"type": "Follow", "object": self.actor("ben")})
		# the Follow is in ben's inbox, ann is his follower, he is in her following
		self.assertIn(f["id"], self.ids("ben", "inbox"))
		self.assertEqual(self.ids("ben", "followers"), [self.actor("ann")])
		self.assertEqual(self.items("ben", "followers")[0], 1)
		self.assertEqual(self.ids("ann", "following"), [self.actor("ben")])
		# the automatic Accept, from ben, is in ann's inbox
		acc = [i for i in self.inbox_mentions("ann", f["id"]) if i.get("type") == "Accept"]
		self.assertEqual(len(acc), 1, acc)
		self.assertEqual(acc[0]["actor"], self.actor("ben"))
		self.assertEqual(item_id(acc[0]["object"]), f["id"])
		# ben's posts to his followers (and public ones) reach ann's inbox
		fo = self.post("ben", note("for my followers", to=[self.actor("ben") + "/followers"]))
		pub = self.post("ben", note("for everyone", to=[AS_PUBLIC]))
		inbox = self.ids("ann", "inbox")
		self.assertIn(fo["id"], inbox)
		self.assertIn(pub["id"], inbox)
		self.assertNotIn(fo["id"], self.ids("dan", "inbox"))
		# ann reads the followers-only post; dan (not a follower) does not
		self.assertEqual(self.srv.get(fo["id"], token=self.tok["ann"])[0], 200)
		self.assertEqual(self.srv.get(fo["id"], token=self.tok["dan"])[0], 404)
		# Undo: the follow ends at both ends, ben hears of it
		undo = self.post("ann", {"type": "Undo", "object": f["id"]})
		self.assertIn(undo["id"], self.ids("ben", "inbox"))
		self.assertEqual(self.ids("ben", "followers"), [])
		self.assertEqual(self.ids("ann", "following"), [])
		later = self.post("ben", note("after the undo", to=[self.actor("ben") + "/followers"]))
		self.assertNotIn(later["id"], self.ids("ann", "inbox"))

	def test_manual_approval(self):
		f = self.post("dan", {"type": "Follow", "object": self.actor("cat")})
		# pending: a request in cat's inbox, no follower yet, no Accept
		self.assertIn(f["id"], self.ids("cat", "inbox"))
		self.assertEqual(self.ids("cat", "followers"), [])
		self.assertEqual(self.ids("dan", "following"), [])
		self.assertFalse([i for i in self.inbox_mentions("dan", f["id"])
				  if i.get("type") == "Accept"])
		# cat approves through her outbox
		acc = self.post("cat", {"type": "Accept", "object": f["id"],
					"to": [self.actor("dan")]})
		self.assertEqual(self.ids("cat", "followers"), [self.actor("dan")])
		self.assertEqual(self.ids("dan", "following"), [self.actor("cat")])
		self.assertIn(acc["id"], self.ids("dan", "inbox"))
		# a Reject of another request leaves no follower
		g = self.post("eli", {"type": "Follow", "object": self.actor("cat")})
		rej = self.post("cat", {"type": "Reject", "object": g["id"]})
		self.assertIn(rej["id"], self.ids("eli", "inbox"))
		self.assertEqual(self.ids("cat", "followers"), [self.actor("dan")])
		self.assertEqual(self.ids("eli", "following"), [])

	def test_unknown_local_recipient(self):
		before = self.items("eli", "outbox")[0]
		for obj in (note("to a ghost", to=[self.actor("ghost")]),
			    note("cc a ghost", to=[AS_PUBLIC], cc=[self.actor("ghost")]),
			    note("bcc a ghost", to=[self.actor("ann")], bcc=[self.actor("ghost")]),
			    {"type": "Follow", "object": self.actor("ghost")},
			    {"type": "Follow", "object": self.actor("Not_A_Name")}):
			with self.subTest(obj=obj):
				r = self.srv.req("POST", "/users/eli/outbox", body=json.dumps(obj),
						 token=self.tok["eli"], headers={"Content-Type": AP_TYPE})
				doc = self.assertRefused(r, 400)
				self.assertEqual(doc["error"], "unknown_recipient")
		self.assertEqual(self.items("eli", "outbox")[0], before)
		# another server's users and this server's collections are not checked here
		self.post("eli", note("to the followers of a local user",
				      to=[self.actor("ann") + "/followers"]))


class SSETest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="sse.test")
		cls.tok = {n: cls.srv.add_user(n) for n in ("alice", "bob", "carol")}
		cls.srv.start()
		cls.stream = cls.srv.url + "/users/bob/inbox"
		cls.bob = cls.srv.url + "/users/bob"


	def send_to_bob(self, text, **extra):
		st, hd, act = self.srv.post("/users/alice/outbox",
					    note(text, to=[self.bob], **extra),
					    token=self.tok["alice"])
		self.assertEqual(st, 201, act)
		return act

	def next_activity(self, c, timeout=5):
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline:
			ev = c.next_event(max(0.01, deadline - time.monotonic()))
			if ev is None:
				return None
			if ev.get("event") == "activity":
				return ev
		return None

	def test_a_stream_delivers_and_resumes(self):
		c = SSEClient(self.stream, token=self.tok["bob"], ctx=self.srv.ctx)
		try:
			self.assertEqual(c.status, 200, c.body)
			self.assertTrue(c.headers.get("content-type", "")
					.startswith("text/event-stream"))
			t0 = time.monotonic()
			a1 = self.send_to_bob("sse one", bcc=[self.srv.url + "/users/carol"])
			ev1 = self.next_activity(c)
			self.assertIsNotNone(ev1, "no event within 5 s")
			self.assertLess(time.monotonic() - t0, 5)
			d1 = json.loads(ev1["data"])
			self.assertEqual(d1["id"], a1["id"])
			self.assertNotIn("bcc", d1)
			self.assertNotIn("carol", json.dumps(d1))
			self.assertRegex(ev1.get("id", ""), r"^\d+$")
			a2 = self.send_to_bob("sse two")
			ev2 = self.next_activity(c)
			self.assertIsNotNone(ev2)
			self.assertEqual(json.loads(ev2["data"])["id"], a2["id"])
			self.assertGreater(int(ev2["id"]), int(ev1["id"]))
		finally:
			c.close()
		# posted while bob is away
		a3 = self.send_to_bob("sse three")
		c = SSEClient(self.stream, token=self.tok["bob"], ctx=self.srv.ctx,
			      last_event_id=ev1["id"])
		try:
			self.assertEqual(c.status, 200)
			e = self.next_activity(c)
			self.assertIsNotNone(e, "Last-Event-ID did not replay")
			self.assertEqual(json.loads(e["data"])["id"], a2["id"])
			self.assertEqual(e["id"], ev2["id"])
			e = self.next_activity(c)
			self.assertIsNotNone(e)
			self.assertEqual(json.loads(e["data"])["id"], a3["id"])
			self.assertIsNone(self.next_activity(c, 1), "replayed too much")
		finally:
			c.close()

	def test_b_replay_from_zero(self):
		a = self.send_to_bob("replay me")
		c = SSEClient(self.stream, token=self.tok["bob"], ctx=self.srv.ctx,
			      last_event_id="0")
		try:
			self.assertEqual(c.status, 200)
			seen = []
			while True:
				e = self.next_activity(c, 2)
				if e is None:
					break
				seen.append((int(e["id"]), json.loads(e["data"])["id"]))
			self.assertTrue(seen)
			self.assertEqual(seen[-1][1], a["id"])
			self.assertEqual([s for s, _ in seen], sorted(s for s, _ in seen))
			self.assertEqual(len({i for _, i in seen}), len(seen))
		finally:
			c.close()

	def test_b_two_streams_and_other_users(self):
		c1 = SSEClient(self.stream, token=self.tok["bob"], ctx=self.srv.ctx)
		c2 = SSEClient(self.stream, token=self.tok["bob"], ctx=self.srv.ctx)
		c3 = SSEClient(self.srv.url + "/users/carol/inbox", token=self.tok["carol"],
			       ctx=self.srv.ctx)
		try:
			# a normal request is served while streams are open
			st, hd, doc = self.srv.get("/users/alice")
			self.assertEqual(st, 200)
			a = self.send_to_bob("to both streams")
			for c in (c1, c2):
				e = self.next_activity(c)
				self.assertIsNotNone(e)
				self.assertEqual(json.loads(e["data"])["id"], a["id"])
			self.assertIsNone(self.next_activity(c3, 1), "carol got bob's item")
		finally:
			for c in (c1, c2, c3):
				c.close()

	def test_b_concurrent_posts_in_order(self):
		"""3 writers post 25 each to bob: the stream carries every one of
		them exactly once, with increasing ids."""
		import threading
		c = SSEClient(self.stream, token=self.tok["bob"], ctx=self.srv.ctx)
		acked, errors = [], []

		def writer(k):
			for i in range(25):
				st, hd, act = self.srv.post("/users/alice/outbox",
							    note("c %d %d" % (k, i), to=[self.bob]),
							    token=self.tok["alice"])
				if st == 201:
					acked.append(act["id"])
				else:
					errors.append(st)
		try:
			self.assertEqual(c.status, 200)
			threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
			for t in threads:
				t.start()
			for t in threads:
				t.join(60)
			self.assertEqual(errors, [])
			seen = []
			while len(seen) < len(acked):
				e = self.next_activity(c, 5)
				if e is None:
					break
				seen.append((int(e["id"]), json.loads(e["data"])["id"]))
			self.assertIsNone(self.next_activity(c, 0.5), "more events than posts")
			self.assertEqual(sorted(i for _, i in seen), sorted(acked))
			seqs = [s for s, _ in seen]
			self.assertEqual(seqs, sorted(set(seqs)), "ids not strictly increasing")
		finally:
			c.close()

	def test_c_refusals(self):
		for tok, status in ((None, 401), ("wrong", 401), (self.tok["carol"], 403),
				    (self.tok["alice"], 403)):
			with self.subTest(token=tok and tok[:5]):
				c = SSEClient(self.stream, token=tok, ctx=self.srv.ctx)
				try:
					self.assertEqual(c.status, status)
					self.assertErrorBody(c.status, c.headers, c.body)
					if status == 401:
						self.assertTrue(c.headers.get("www-authenticate", "")
								.startswith("Bearer"))
				finally:
					c.close()
		c = SSEClient(self.srv.url + "/users/nobody/inbox", token=self.tok["bob"],
			      ctx=self.srv.ctx)
		self.assertIn(c.status, (403, 404))
		c.close()
		# bad Last-Event-ID values never break the server
		for lei in ("abc", "-1", "99999999999999999999999", "", "1 2"):
			with self.subTest(last_event_id=lei):
				c = SSEClient(self.stream, token=self.tok["bob"], ctx=self.srv.ctx,
					      last_event_id=lei)
				try:
					self.assertLess(c.status, 500)
				finally:
					c.close()


class KeepaliveTest(AimTestCase):
	"""An idle stream gets a ': keepalive' comment every 15 s."""

	def test_keepalive(self):
		srv = Server(domain="ka.test")
		try:
			tok = srv.add_user("bob")
			srv.start()
			c = SSEClient(srv.url + "/users/bob/inbox", token=tok)
			try:
				self.assertEqual(c.status, 200)
				deadline = time.monotonic() + 17

				def keepalives():
					return [t - c.opened for t, text in c.comment_log
						if text == "keepalive"]
				while not keepalives() and time.monotonic() < deadline:
					self.assertIsNone(c.next_event(0.5))
				self.assertTrue(keepalives(), "no keepalive within 17 s: %r"
						% c.comment_log)
				print("first keepalive after %.1f s" % keepalives()[0])
				self.assertGreater(keepalives()[0], 5)
				self.assertFalse(c.closed)
			finally:
				c.close()
		finally:
			srv.cleanup()


if __name__ == "__main__":
	unittest.main(verbosity=2)
