"""Handles of the server's own users (issue 9, point 4): acct:USER@DOMAIN,
and acct:USER@HOST:PORT when BASE carries a port, name a local user and are
resolved from the store, with no WebFinger request and no connection at all.
Before, aimd fetched its own WebFinger: "refusing to connect to localhost:
loopback address" on a plain domain, "cannot resolve a.test" on a TLS one.

Three servers: domain localhost (the issue's case, no
--allow-private-addresses); a domain whose name points at a listener that
counts connections (with --allow-private-addresses, so only the fix keeps
aimd from connecting); and a.test over HTTPS (a TLS domain with a port in
BASE)."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AS_PUBLIC, AimTestCase, Federation
from fedtest import inbox_items, wait_for


def note(to, content):
	return {"type": "Note", "content": content, "to": [to]}


def has_note(srv, user, content):
	return any(content in str(fedtest.object_of(it)) for it in inbox_items(srv, user))


class LocalHandles(AimTestCase):
	@classmethod
	def setUpClass(cls):
		# The case: domain localhost, BASE http://127.0.0.1:PORT.
		cls.plain = cls.server(domain="localhost")
		# A domain whose name leads to the trap: a WebFinger of
		# acct:x@localhost:TRAP would connect there.
		cls.trap = fedtest.Listener()
		cls.addClassCleanup(cls.trap.close)
		cls.trapped = cls.server(domain="localhost:%d" % cls.trap.port,
					 extra_args=["--allow-private-addresses"])
		for srv in (cls.plain, cls.trapped):
			srv.add_user("alice")
			srv.add_user("bob")
			srv.start()
		# A TLS domain: a.test, BASE https://a.test:PORT.
		cls.fed = Federation(names=("a.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.tls = cls.fed["a.test"]
		cls.tls.add_user("alice")
		cls.tls.add_user("bob")
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(cls.fed, allow_private=False))

	def send(self, srv, to, content, status=201):
		st, hd, doc = srv.post("/users/bob/outbox", note(to, content), token=srv.tokens["bob"])
		self.assertEqual(st, status, doc)
		return doc

	def delivered(self, srv, handle, content):
		"""bob's Note to handle is 201, addressed to alice's actor, and in
		alice's inbox."""
		doc = self.send(srv, handle, content)
		alice = srv.base + "/users/alice"
		obj = doc.get("object") if isinstance(doc.get("object"), dict) else doc
		self.assertIn(alice, obj.get("to") or doc.get("to"), doc)
		self.assertNotIn(handle, str(doc))
		wait_for(lambda: has_note(srv, "alice", content), timeout=10,
			 what="%s in alice's inbox" % content)

	def test_localhost_handle(self):
		self.delivered(self.plain, "acct:alice@localhost", "to the domain")
		# BASE's authority names the same users.
		self.delivered(self.plain, "acct:alice@127.0.0.1:%d" % self.plain.port, "to BASE")

	def test_unknown_local_handle(self):
		before = self.trap.count
		for srv, domain in ((self.plain, "localhost"),
				    (self.trapped, "localhost:%d" % self.trap.port),
				    (self.tls, "a.test")):
			doc = self.send(srv, "acct:nobody@%s" % domain, "to no one", status=400)
			self.assertEqual(doc.get("error"), "unresolvable_handle", doc)
			self.assertNotIn("connect", doc.get("detail", ""), doc)
			self.assertNotIn("resolve", doc.get("detail", ""), doc)
		time.sleep(0.2)
		self.assertEqual(self.trap.count, before, "aimd connected for a local handle")

	def test_no_connection_for_a_local_handle(self):
		before = self.trap.count
		self.delivered(self.trapped, "acct:alice@localhost:%d" % self.trap.port, "trapped")
		time.sleep(0.2)
		self.assertEqual(self.trap.count, before, "aimd connected for a local handle")

	def test_tls_domain_handle(self):
		self.delivered(self.tls, "acct:alice@a.test", "over TLS, the domain")
		self.delivered(self.tls, "acct:alice@a.test:%d" % self.tls.port, "over TLS, BASE")

	def test_follow_by_local_handle(self):
		"""Resolution succeeds for a Follow's object too (what the Follow then
		does is the local follow's business)."""
		st, hd, doc = self.tls.post("/users/bob/outbox",
					    {"type": "Follow", "object": "acct:alice@a.test"},
					    token=self.tls.tokens["bob"])
		self.assertEqual(st, 201, doc)
		self.assertEqual(doc.get("object"), self.tls.base + "/users/alice", doc)


if __name__ == "__main__":
	aimtest.main()
