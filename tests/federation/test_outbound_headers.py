"""The request headers aimd sends to other servers (fetches and
deliveries), seen by a fake remote (tests/common/fedtest.py): signed, an
ActivityPub Accept on fetches, the activity media type and a digest on
deliveries, and no empty `Expect:` header: Node's HTTP server (Fedify,
tests/interop/test_fedify.py) answers any Expect other than 100-continue
with 417, so every fetch from such a peer would fail."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from fedtest import FakeRemote, post_outbox, sign_cavage, wait_for


class OutboundHeaders(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("b.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.remote = FakeRemote(cls.fed.ca, "r.test", directory=os.path.join(cls.fed.dir, "r"))
		cls.addClassCleanup(cls.remote.close)
		cls.rita = cls.remote.add_actor("rita")
		cls.b = cls.fed["b.test"]
		cls.b.add_user("bob")
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(
			cls.fed, cls.remote, extra=["--retry-base-ms", "300"]))

	def check_common(self, rec):
		h = rec["headers"]
		self.assertIn("signature", h, rec["path"])
		self.assertEqual(h.get("host"), "r.test:%d" % self.remote.port)
		self.assertIn("date", h)
		self.assertNotIn("expect", h, "%s %s carries Expect: %r" %
				 (rec["method"], rec["path"], h.get("expect")))

	def test_fetch_headers(self):
		act = self.rita.create_note("hi", to=[self.b.actor("bob")])
		url = self.b.actor("bob") + "/inbox"
		h, body = sign_cavage(self.rita, "POST", url, act)
		st, _, _ = self.b.req("POST", url, headers=h, body=body)
		self.assertEqual(st, 202)
		gets = self.remote.gets("/users/rita")
		self.assertTrue(gets)
		for g in gets:
			self.check_common(g)
			self.assertIn("application/activity+json", g["headers"].get("accept", ""))

	def test_delivery_headers(self):
		post_outbox(self.b, "bob", aimtest.note("to rita", to=[self.rita.id]))
		posts = wait_for(lambda: [p for p in self.remote.posts()
					  if p["json"] and p["json"].get("type") == "Create"],
				 what="delivery to r.test")
		for p in posts:
			self.check_common(p)
			ct = p["headers"].get("content-type", "")
			self.assertTrue(ct.startswith("application/activity+json") or
					ct.startswith("application/ld+json"), ct)
			self.assertTrue("digest" in p["headers"] or "content-digest" in p["headers"])


if __name__ == "__main__":
	aimtest.main()
