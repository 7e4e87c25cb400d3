"""aimd's WebFinger client (DESIGN.md: acct: -> WebFinger -> JRD self link ->
actor, and the reverse check actor -> WebFinger -> same actor before a
handle is trusted). Handles in an outbox POST (to/cc/bto/bcc/audience, a
Follow's object) are replaced by the actor they are bound to; an unbound
handle is refused with 400 and nothing is stored or delivered (threats.md
B29); an address the SSRF guard refuses is never connected to.

Three real aimd (a.test, b.test, c.test) over HTTPS through --connect-to,
plus fake remotes whose WebFinger answers lie in one way each."""

import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AP_TYPE, AimTestCase, Federation, run_aimd
from fedtest import inbox_items, post_outbox, wait_for

FAST = ["--retry-base-ms", "300", "--retry-max-ms", "1500", "--retry-expire-s", "120",
	"--breaker-threshold", "1000", "--breaker-cooldown-ms", "200"]


def deliveries(srv):
	r = run_aimd("deliveries", "--data", srv.data)
	if r.returncode != 0:
		raise AssertionError("aimd deliveries failed: %s" % r.stderr)
	return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def mentions(items, needle):
	return sum(1 for it in items if needle in json.dumps(it))


def authority(remote):
	return "%s:%d" % (remote.name, remote.port)


def acct_of(remote, user):
	return "acct:%s@%s" % (user, authority(remote))


def jrd(subject, href):
	return (200, "application/jrd+json",
		{"subject": subject, "links": [
			{"rel": "http://webfinger.net/rel/profile-page", "type": "text/html",
			 "href": href},
			{"rel": "self", "type": AP_TYPE, "href": href}]})


class Liar:
	"""A WebFinger handler for a FakeRemote: answers[user] = (subject, href);
	users not listed get the honest answer for their actor."""

	def __init__(self, remote):
		self.remote = remote
		self.answers = {}
		remote.handler = self

	def __call__(self, method, path, rec):
		if path != "/.well-known/webfinger":
			return None
		q = urllib.parse.parse_qs(urllib.parse.urlsplit(rec["path"]).query)
		res = (q.get("resource") or [""])[0]
		if not res.startswith("acct:"):
			return (404, "application/json", b"{}")
		user = res[5:].split("@")[0]
		if user in self.answers:
			return jrd(*self.answers[user])
		a = self.remote.actors.get(user)
		if a is None:
			return (404, "application/json", b"{}")
		return jrd(acct_of(self.remote, user), a.id)


class WebFingerClient(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation()
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a, cls.b, cls.c = cls.fed["a.test"], cls.fed["b.test"], cls.fed["c.test"]
		cls.a.add_user("alice")
		cls.a.add_user("amy")
		cls.b.add_user("bob")
		cls.c.add_user("carol")
		cls.r = fedtest.FakeRemote(cls.fed.ca, "r.test", directory=os.path.join(cls.fed.dir, "r"))
		cls.addClassCleanup(cls.r.close)
		cls.s = fedtest.FakeRemote(cls.fed.ca, "s.test", directory=os.path.join(cls.fed.dir, "s"))
		cls.addClassCleanup(cls.s.close)
		cls.rl, cls.sl = Liar(cls.r), Liar(cls.s)

		def args(srv):
			a = fedtest.serve_args(cls.fed, cls.r, extra=FAST)
			return a + ["--connect-to", cls.s.connect_to()]
		cls.fed.start(extra_args=args)

	def handle(self, srv, user):
		return "acct:%s@%s:%d" % (user, srv.domain, srv.port)

	def refused(self, srv, user, obj, needle):
		"""POST obj to user's outbox: 400 naming needle, nothing stored."""
		before = len(deliveries(srv))
		st, _, doc = srv.post("/users/%s/outbox" % user, obj, token=srv.tokens[user])
		self.assertEqual(st, 400, doc)
		self.assertEqual(doc.get("error"), "unresolvable_handle", doc)
		self.assertIn(needle, json.dumps(doc))
		self.assertEqual(len(deliveries(srv)), before)
		return doc

	# -- handles that resolve -------------------------------------------------
	def test_follow_by_handle(self):
		h = self.handle(self.b, "bob")
		act = post_outbox(self.a, "alice", {"@context": fedtest.AS_CTX, "type": "Follow",
						    "object": h, "to": [h]})
		bob = self.b.actor("bob")
		self.assertEqual(act["object"], bob)
		self.assertEqual(act["to"], [bob])
		me = self.a.actor("alice")

		def followers():
			st, _, doc = aimtest.get_retry(self.b.url + "/users/bob/followers?page=1",
						       ctx=self.b.ctx)
			return [fedtest.item_id(x) for x in (doc.get("orderedItems") or [])]
		wait_for(lambda: me in followers(), what="alice in bob's followers")

	def test_direct_message_by_handle(self):
		text = "dm by handle " + aimtest.rand_text()
		h = self.handle(self.c, "carol")
		act = post_outbox(self.a, "amy", aimtest.note(text, to=[h]))
		self.assertEqual(act["to"], [self.c.actor("carol")])
		self.assertNotIn("acct:", json.dumps(act))
		wait_for(lambda: mentions(inbox_items(self.c, "carol"), text),
			 what="the message in carol's inbox")

	def test_fake_remote_honest_handle(self):
		fay = self.r.add_actor("fay")
		text = "to fay " + aimtest.rand_text()
		act = post_outbox(self.a, "amy", aimtest.note(text, cc=[acct_of(self.r, "fay")]))
		self.assertEqual(act["cc"], [fay.id])
		wait_for(lambda: any(text in json.dumps(p["json"]) for p in self.r.posts()),
			 what="the note at r.test")

	def test_unknown_handle(self):
		self.refused(self.a, "amy", aimtest.note("x", to=[acct_of(self.r, "nobody")]),
			     acct_of(self.r, "nobody"))

	def test_malformed_handle(self):
		h = "acct:bob@%s@evil.test" % authority(self.r)
		self.refused(self.a, "amy", aimtest.note("x", to=[h]), "acct:bob@")

	# -- B29: answers that do not round-trip ------------------------------------
	def test_b29_subject_differs(self):
		gil = self.r.add_actor("gil")
		self.rl.answers["gil"] = (acct_of(self.r, "mallory"), gil.id)
		self.r.reset()
		text = "b29 subject " + aimtest.rand_text()
		self.refused(self.a, "amy", aimtest.note(text, to=[acct_of(self.r, "gil")]),
			     acct_of(self.r, "gil"))
		time.sleep(0.5)
		self.assertEqual(self.r.posts(), [])

	def test_b29_self_link_on_another_host(self):
		# s.test says zed is carol@c.test; c.test's WebFinger names carol
		self.sl.answers["zed"] = (acct_of(self.s, "zed"), self.c.actor("carol"))
		text = "b29 other host " + aimtest.rand_text()
		self.refused(self.a, "amy", aimtest.note(text, to=[acct_of(self.s, "zed")]),
			     acct_of(self.s, "zed"))
		time.sleep(1.0)
		self.assertEqual(mentions(inbox_items(self.c, "carol"), text), 0)

	def test_b29_reverse_names_another_actor(self):
		dan = self.r.add_actor("dan")
		other = self.r.add_actor("other")
		doc = dan.doc()
		doc["preferredUsername"] = "dana"
		dan.doc_override = doc
		# acct:dan -> dan, but dan calls himself dana, and acct:dana -> other
		self.rl.answers["dana"] = (acct_of(self.r, "dana"), other.id)
		self.r.reset()
		text = "b29 reverse " + aimtest.rand_text()
		self.refused(self.a, "amy", aimtest.note(text, to=[acct_of(self.r, "dan")]),
			     acct_of(self.r, "dan"))
		self.assertTrue(any("resource=acct%3Adana" in g["path"] for g in self.r.gets()),
				"the reverse WebFinger was not asked")
		time.sleep(0.5)
		self.assertEqual(self.r.posts(), [])

	def test_b29_follow_refused(self):
		self.r.add_actor("hal")
		self.rl.answers["hal"] = (acct_of(self.r, "hal"), self.s.base + "/users/hal")
		self.s.add_actor("hal")  # s.test's own WebFinger names acct:hal@s.test
		self.r.reset()
		self.s.reset()
		h = acct_of(self.r, "hal")
		self.refused(self.a, "alice", {"@context": fedtest.AS_CTX, "type": "Follow",
					       "object": h, "to": [h]}, h)
		time.sleep(0.5)
		self.assertEqual(self.r.posts() + self.s.posts(), [])


class WebFingerSSRF(AimTestCase):
	"""Without --allow-private-addresses a handle on a loopback address is
	refused before any connection is made."""

	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("d.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.d = cls.fed["d.test"]
		cls.d.add_user("dora")
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(cls.fed, allow_private=False))

	def test_loopback_handle_not_connected(self):
		lis = fedtest.Listener()
		self.addCleanup(lis.close)
		for h in ("acct:x@127.0.0.1:%d" % lis.port, "acct:x@localhost:%d" % lis.port):
			st, _, doc = self.d.post("/users/dora/outbox", aimtest.note("x", to=[h]),
						 token=self.d.tokens["dora"])
			self.assertEqual(st, 400, doc)
			self.assertIn(h, json.dumps(doc))
		time.sleep(0.3)
		self.assertEqual(lis.count, 0)
		self.assertEqual(deliveries(self.d), [])


if __name__ == "__main__":
	aimtest.main()
