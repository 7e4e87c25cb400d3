"""A remote failure refuses one request and nothing more (issue 8).

A peer that answers 500, times out or sends something unusable while aimd
fetches an object or an actor document is a remote failure (AIM_ERR_REMOTE,
AIM_ERR_TIMEOUT), never a storage failure: that one inbox POST is refused
(502 or 504 with Retry-After when a retry may succeed, a 4xx when the
sender's data is at fault) and aimd goes on acknowledging everything else.
Before the fix, a correctly signed Create whose object was a URL on an
origin answering 500 set the "storage failure" latch and every later
delivery, from anyone, was answered 503 until a restart.

Set-up: b.test (aimd over HTTPS) with user bob; r.test, a fake remote whose
actor mallory references objects that fail, and whose actors ghost (500)
and sloth (no answer before aimd's 20 s fetch timeout) cannot be fetched;
h.test, a healthy fake remote with actor hana. Every case is followed by
good activities from hana (embedded, and by reference) that must be 202
and stored in bob's inbox."""

import os
import sys
import threading
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AP_TYPE, AimTestCase, Federation
from fedtest import AS_CTX, FakeRemote, Keys, inbox_ids, sign_cavage

SLOW_S = 30  # longer than aimd's fetch timeout (20 s)


class RemoteFailuresTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("b.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.b = cls.fed["b.test"]
		cls.b.add_user("bob")
		cls.release = threading.Event()  # ends the slow answers at cleanup
		cls.addClassCleanup(cls.release.set)
		cls.r = FakeRemote(cls.fed.ca, "r.test", directory=os.path.join(cls.fed.dir, "r"))
		cls.addClassCleanup(cls.r.close)
		cls.h = FakeRemote(cls.fed.ca, "h.test", directory=os.path.join(cls.fed.dir, "h"))
		cls.addClassCleanup(cls.h.close)
		cls.mallory = cls.r.add_actor("mallory")
		cls.ghost = cls.r.add_actor("ghost", Keys(cls.r.dir, "ghost"))
		cls.sloth = cls.r.add_actor("sloth", Keys(cls.r.dir, "sloth"))
		cls.hana = cls.h.add_actor("hana")
		cls.h_objects = {}
		cls.r.handler = cls.r_answer
		cls.h.handler = cls.h_answer

		def args(srv):
			return fedtest.serve_args(cls.fed, cls.r, extra=["--connect-to", cls.h.connect_to()])
		cls.fed.start(extra_args=args)
		cls.bob = cls.b.actor("bob")

	# -- the fake remotes ----------------------------------------------------------
	@classmethod
	def r_answer(cls, method, path, rec):
		if method != "GET":
			return None
		if path.startswith("/objects/500/") or path == "/users/ghost":
			return (500, "text/plain", b"internal server error")
		if path.startswith("/objects/502/"):
			return (502, "text/html", b"<h1>bad gateway</h1>")
		if path.startswith("/objects/gone/"):
			return (410, "application/json", b'{"error":"gone"}')
		if path.startswith("/objects/junk/"):
			return (200, AP_TYPE, b"{not json")
		if path.startswith("/objects/slow/") or path == "/users/sloth":
			cls.release.wait(SLOW_S)
			return (503, "text/plain", b"too late")
		return None

	@classmethod
	def h_answer(cls, method, path, rec):
		if method == "GET" and path in cls.h_objects:
			return (200, AP_TYPE, cls.h_objects[path])
		return None

	# -- helpers ---------------------------------------------------------------------
	def send(self, actor, act):
		url = self.bob + "/inbox"
		h, body = sign_cavage(actor, "POST", url, act)
		return self.b.req("POST", url, headers=h, body=body)

	def create_by_reference(self, actor, kind):
		oid = "%s/objects/%s/%s" % (actor.remote.base, kind, uuid.uuid4())
		act = {"@context": AS_CTX, "id": "%s/activities/%s" % (actor.id, uuid.uuid4()),
		       "type": "Create", "actor": actor.id, "to": [self.bob], "object": oid}
		return act

	def assertRemoteRefusal(self, resp, statuses, what):
		st, hd, body = resp
		self.assertIn(st, statuses, "%s: %d %r" % (what, st, body[:300]))
		doc = self.assertErrorBody(st, hd, body)
		if st >= 500:
			self.assertIn("retry-after", hd, "%s: %d without Retry-After" % (what, st))
			self.assertGreater(int(hd["retry-after"]), 0)
		self.assertNotEqual(doc.get("error"), "storage_failure", what)
		return doc

	def assertStillServing(self, what):
		"""Healthy hana's Creates (embedded, then by reference) are 202 and stored."""
		act = self.hana.create_note("healthy after " + what, to=[self.bob])
		st, _, body = self.send(self.hana, act)
		self.assertEqual(st, 202, "after %s, a good Create: %d %r" % (what, st, body[:300]))
		ref = self.create_by_reference(self.hana, "ok")
		note = {"@context": AS_CTX, "id": ref["object"], "type": "Note",
			"attributedTo": self.hana.id, "to": [self.bob],
			"content": "fetched after " + what}
		self.h_objects[ref["object"][len(self.h.base):]] = note
		st, _, body = self.send(self.hana, ref)
		self.assertEqual(st, 202, "after %s, a good Create by reference: %d %r"
				 % (what, st, body[:300]))
		ids = inbox_ids(self.b, "bob")
		self.assertIn(act["id"], ids, "after %s: the good Create is not stored" % what)
		self.assertIn(ref["id"], ids, "after %s: the fetched Create is not stored" % what)
		return ids

	# -- referenced objects ------------------------------------------------------------
	def test_object_on_origin_answering_5xx(self):
		for kind in ("500", "502"):
			with self.subTest(answer=kind):
				act = self.create_by_reference(self.mallory, kind)
				self.assertRemoteRefusal(self.send(self.mallory, act), (502,),
							 "object answering " + kind)
				ids = self.assertStillServing("an object answering " + kind)
				self.assertNotIn(act["id"], ids)

	def test_object_gone_or_unusable(self):
		# the sender's own origin at fault: a 4xx, and nothing more
		for kind in ("gone", "junk"):
			with self.subTest(answer=kind):
				act = self.create_by_reference(self.mallory, kind)
				self.assertRemoteRefusal(self.send(self.mallory, act), (400, 404, 502),
							 "object " + kind)
				ids = self.assertStillServing("an object " + kind)
				self.assertNotIn(act["id"], ids)

	def test_object_fetch_times_out(self):
		act = self.create_by_reference(self.mallory, "slow")
		self.assertRemoteRefusal(self.send(self.mallory, act), (504,), "object timing out")
		ids = self.assertStillServing("an object that timed out")
		self.assertNotIn(act["id"], ids)

	# -- actor documents (the key of the signature) ---------------------------------
	def test_actor_document_answering_500(self):
		act = self.ghost.create_note("from ghost", to=[self.bob])
		self.assertRemoteRefusal(self.send(self.ghost, act), (502,), "actor answering 500")
		ids = self.assertStillServing("an actor answering 500")
		self.assertNotIn(act["id"], ids)

	def test_actor_document_times_out(self):
		act = self.sloth.create_note("from sloth", to=[self.bob])
		self.assertRemoteRefusal(self.send(self.sloth, act), (504,), "actor timing out")
		ids = self.assertStillServing("an actor that timed out")
		self.assertNotIn(act["id"], ids)


if __name__ == "__main__":
	unittest.main()
