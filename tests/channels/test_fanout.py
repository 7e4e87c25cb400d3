"""Fan-out at scale (issue 11 acceptance): a channel of 300 members on 3
domains (alice and 99 others on a.test, the hub's domain; 100 on b.test;
100 on c.test), real MLS (tests/interop/mls_driver.c: one commit adds the
299 KeyPackages). Each message to it makes exactly one delivery per domain:
one POST to the shared inbox of b.test and one to c.test's (the hub's
outbound deliveries, counted in its database: exactly these 2 rows, both
delivered), while a.test's own members get theirs locally with no request
at all; so 3 domains, 3 deliveries, 2 of them over the network. Every
member's inbox then holds each message exactly once and in sequence order,
and a device on each domain decrypts them."""

import os
import sqlite3
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from fedtest import inbox_items, wait_for
from chantest import Mls, obj, unobj

PER_DOMAIN = 100
MESSAGES = 3


class Fanout(AimTestCase):
	@classmethod
	def setUpClass(cls):
		t0 = time.monotonic()
		cls.fed = Federation(names=("a.test", "b.test", "c.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a, cls.b, cls.c = (cls.fed[n] for n in ("a.test", "b.test", "c.test"))
		cls.members = [(cls.a, "alice")] + [(cls.a, "m%d" % i) for i in range(1, PER_DOMAIN)] + \
			[(srv, "m%d" % i) for srv in (cls.b, cls.c) for i in range(PER_DOMAIN)]
		# users are made per domain in parallel (each `aimd user add` makes
		# an RSA key: the costly part of the set-up)
		def users(srv):
			for s, u in cls.members:
				if s is srv:
					srv.add_user(u)
		ts = [threading.Thread(target=users, args=(s,)) for s in (cls.a, cls.b, cls.c)]
		for t in ts:
			t.start()
		for t in ts:
			t.join()
		for srv in (cls.a, cls.b, cls.c):
			assert len(srv.tokens) == PER_DOMAIN, (srv.domain, len(srv.tokens))
		# the MLS driver's devices carry basic credentials: this test's hubs
		# take them unchecked (test_hub_credentials.py checks x509)
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(
			cls.fed, extra=("--hub-basic-credentials",)))
		cls.mls = Mls()
		cls.addClassCleanup(cls.mls.close)
		sys.stderr.write("test_fanout: set-up %.1f s\n" % (time.monotonic() - t0))

	def post(self, srv, user, act):
		return srv.post("/users/%s/outbox" % user, act, token=srv.tokens[user])

	def deliveries(self, activity_id):
		db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.a.data, "aim.db"), uri=True)
		try:
			return db.execute("SELECT d.inbox, d.state FROM deliveries d JOIN outgoing o"
					  " ON o.id = d.outgoing_id WHERE o.activity_id = ?",
					  (activity_id,)).fetchall()
		finally:
			db.close()

	def items(self, srv, user, chan):
		return [it for it in inbox_items(srv, user, limit_pages=100) if isinstance(it, dict)
			and it.get("actor") == chan]

	def test_one_delivery_per_domain(self):
		t0 = time.monotonic()
		names = {}
		for srv, u in self.members:
			r = self.mls("create_client", suite=1, identity="acct:%s@%s" % (u, srv.domain),
				     name="%s-%s-%s" % (u, srv.domain, uuid.uuid4().hex[:6]))
			names[(srv.domain, u)] = (r["client"], r["key_package"])
		al = names[("a.test", "alice")][0]
		self.mls("create_group", client=al)
		others = self.members[1:]
		cm = self.mls("commit", client=al, add=[names[(s.domain, u)][1] for s, u in others],
			      public=True, tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		st, hd, doc = self.post(self.a, "alice", {
			"type": "Create", "object": {"type": "Group", "name": "three hundred"},
			"aim:members": [s.actor(u) for s, u in others],
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		chan = hd.get("location") or hd.get("Location")
		st, _, fl = aimtest.get_json(chan + "/followers", ctx=self.a.ctx)
		self.assertEqual(st, 200, fl)
		self.assertEqual(fl["totalItems"], 300, fl.get("totalItems"))
		t_create = time.monotonic() - t0
		# one device per domain joins (the others need not: what is
		# checked for them is what their server put into their inbox)
		readers = [(self.a, "m1"), (self.b, "m0"), (self.c, "m99")]
		for srv, u in readers:
			w = wait_for(lambda: [it for it in self.items(srv, u, chan)
					      if (it.get("object") or {}).get("type") == "Welcome"],
				     what="Welcome at %s@%s" % (u, srv.domain))
			self.mls("join", client=names[(srv.domain, u)][0], welcome=unobj(w[0]["object"]))
		t1 = time.monotonic()
		sent = []
		for i in range(MESSAGES):
			text = "fanout-%d-%s" % (i, uuid.uuid4().hex)
			m = self.mls("send", client=al, plaintext=text)
			st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
								 "object": obj("PrivateMessage", m["message"])})
			self.assertEqual(st, 201, doc)
			sent.append((doc["aim:sequence"], text))
		self.assertEqual([s for s, _ in sent], list(range(1, MESSAGES + 1)))
		# exactly one delivery per remote domain for each message, to its
		# shared inbox, and delivered
		for seq, _ in sent:
			aid = "%s/announces/%d" % (chan, seq)
			wait_for(lambda: all(r[1] != 0 for r in self.deliveries(aid)) and
				 self.deliveries(aid), what="deliveries of %d" % seq)
			rows = self.deliveries(aid)
			self.assertEqual(sorted(rows), sorted([(self.b.base + "/inbox", 1),
							       (self.c.base + "/inbox", 1)]), rows)
		# every member (alice too) has each message once, in sequence
		# order (the inbox lists newest first)
		want = [s for s, _ in reversed(sent)]
		for srv, u in self.members:
			got = wait_for(lambda: [it["aim:sequence"] for it in self.items(srv, u, chan)
						if it.get("type") == "Announce"] == want or None,
				       what="the messages at %s@%s" % (u, srv.domain))
		t_fan = time.monotonic() - t1
		# and the readers decrypt them in order
		for srv, u in readers:
			anns = sorted((it for it in self.items(srv, u, chan) if it.get("type") == "Announce"),
				      key=lambda it: it["aim:sequence"])
			for (seq, text), x in zip(sent, anns):
				self.assertEqual(x["aim:sequence"], seq)
				got = self.mls("process", client=names[(srv.domain, u)][0],
					       message=unobj(x["object"]["object"]))
				self.assertEqual(got.get("text"), text)
		sys.stderr.write("test_fanout: create %.1f s, %d messages to 300 members checked in"
				 " %.1f s\n" % (t_create, MESSAGES, t_fan))


if __name__ == "__main__":
	aimtest.main()
