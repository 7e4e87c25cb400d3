"""threats.md A11 against a real aimd: a signed GET whose signature does not
cover `host` is refused with 401 (the issue: incoming requests are verified
in both schemes with A1-A14, one gate for every S2S route). A GET whose
signature is good is answered. Kept apart from test_attacks.py so that a
disagreement here does not hide the other items."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AP_TYPE, AimTestCase, Federation
from fedtest import FakeRemote, sign_cavage, sign_rfc9421


class SignedGet(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("b.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.remote = FakeRemote(cls.fed.ca, "r.test", directory=os.path.join(cls.fed.dir, "r"))
		cls.addClassCleanup(cls.remote.close)
		cls.mallory = cls.remote.add_actor("mallory")
		cls.b = cls.fed["b.test"]
		cls.b.add_user("bob")
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(cls.fed, cls.remote))

	def get(self, url, h):
		h["Accept"] = AP_TYPE
		return self.b.req("GET", url, headers=h)

	def test_good_signed_get_answered(self):
		for url in (self.b.actor("bob"), self.b.actor("bob") + "/outbox"):
			h, _ = sign_cavage(self.mallory, "GET", url, None,
					   headers="(request-target) host date")
			st, _, body = self.get(url, h)
			self.assertEqual(st, 200, body[:200])
			h, _ = sign_rfc9421(self.mallory, "GET", url, None,
					    components=("@method", "@target-uri"))
			st, _, body = self.get(url, h)
			self.assertEqual(st, 200, body[:200])

	def test_a11_host_not_covered(self):
		for url in (self.b.actor("bob"), self.b.actor("bob") + "/outbox",
			    self.b.actor("bob") + "/followers"):
			h, _ = sign_cavage(self.mallory, "GET", url, None, headers="(request-target) date")
			st, hd, body = self.get(url, h)
			self.assertEqual(st, 401, "%s: %d %r" % (url, st, body[:200]))
			self.assertErrorBody(st, hd, body)


if __name__ == "__main__":
	aimtest.main()
