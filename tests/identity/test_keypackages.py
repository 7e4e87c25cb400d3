"""The KeyPackage directory, upload side (issue 10, "KeyPackage directory"
points 1 and 2): a device uploads KeyPackages over the client API (the
SWICG Create of a KeyPackage object, and a batch), each is validated (RFC
9420 section 10.1 by the MLS library; the credential an x509 chain from
this domain's CA for a registered, unrevoked device of this user whose key
signs the leaf node) and refused with 400 bad_keypackage and the reason
(threats.md C42 at upload); one last-resort KeyPackage per device; the
stock per device; the limits; and the actor's keyPackages collection,
which lists only last-resort KeyPackages so that a plain GET never hands
out a consumable one."""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
from aimtest import AimTestCase
import kptest
from kptest import Device, JSON, claim, collection_items, stock, upload

SWICG = ["https://www.w3.org/ns/activitystreams", "https://purl.archive.org/socialweb/mls"]


def kp_object(b64, **extra):
	o = {"@context": SWICG, "type": "KeyPackage", "mediaType": "message/mls",
	     "encoding": "base64", "content": b64}
	o.update(extra)
	return o


class KeyPackageUpload(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server()
		for u in ("alice", "bob", "carol", "dan", "erin", "frank", "lim"):
			cls.srv.add_user(u)
		cls.srv.start()
		cls.devs = []
		cls.alice = cls.device("alice", "phone")
		cls.bob = cls.device("bob", "laptop")

	@classmethod
	def device(cls, user, name, **kw):
		d = Device(cls.srv, user, name, **kw)
		cls.devs.append(d)
		cls.addClassCleanup(d.cleanup)
		return d

	def refused(self, user, kps, code="bad_keypackage", why=None, last_resort=None):
		st, hd, doc = upload(self.srv, user, kps, last_resort)
		self.assertEqual(st, 400, doc)
		self.assertEqual(doc["error"], code, doc)
		if why:
			self.assertIn(why, doc["detail"])
		return doc

	# -- uploads that are accepted ------------------------------------------
	def test_upload_one_by_outbox_create(self):
		"""SWICG: a Create of a KeyPackage object through the outbox; also a
		bare KeyPackage object (wrapped like any object)."""
		d = self.device("carol", "tablet")
		before = stock(self.srv, "carol").get("tablet", (0, False))[0]
		kp = d.kps(1)[0]
		st, hd, doc = self.srv.post("/users/carol/outbox",
					    {"@context": SWICG, "type": "Create", "object": kp_object(kp)},
					    token=self.srv.tokens["carol"])
		self.assertEqual(st, 201, doc)
		self.assertEqual(doc["type"], "KeyPackage")
		self.assertEqual(doc["content"], kp)
		self.assertEqual(hd.get("location"), doc["id"])
		st, hd, doc = self.srv.post("/users/carol/outbox", kp_object(d.kps(1)[0]),
					    token=self.srv.tokens["carol"])
		self.assertEqual(st, 201, doc)
		self.assertEqual(stock(self.srv, "carol")["tablet"][0], before + 2)
		# nothing of it reaches an inbox or the outbox
		st, hd, ob = self.srv.get("/users/carol/outbox")
		self.assertEqual(ob["totalItems"], 0)
		# a bad one through the outbox is refused the same way
		st, hd, doc = self.srv.post("/users/carol/outbox", kp_object(d.kps(1, "bad-sig")[0]),
					    token=self.srv.tokens["carol"])
		self.assertEqual(st, 400, doc)
		self.assertEqual(doc["error"], "bad_keypackage")
		st, hd, doc = self.srv.post("/users/carol/outbox",
					    kp_object(kp, mediaType="text/plain"),
					    token=self.srv.tokens["carol"])
		self.assertEqual(st, 400, doc)

	def test_batch_and_stock(self):
		d = self.device("dan", "desk")
		kps = d.kps(5)
		lr = d.kps(1)[0]
		st, hd, doc = upload(self.srv, "dan", kps, lr)
		self.assertEqual(st, 201, doc)
		self.assertEqual(doc, {"accepted": 6})
		self.assertEqual(stock(self.srv, "dan"), {"desk": (5, True)})
		# the devices listing counts them too
		st, hd, doc = self.srv.get("/users/dan/devices", token=self.srv.tokens["dan"])
		self.assertEqual([(x["device"], x["keyPackages"]) for x in doc["devices"]],
				 [("desk", 5)])
		# a second device has its own stock
		d2 = self.device("dan", "watch")
		d2.upload(2, last_resort=False)
		self.assertEqual(stock(self.srv, "dan"), {"desk": (5, True), "watch": (2, False)})
		# the stock is the owner's
		st, hd, body = self.srv.req("GET", "/users/dan/keyPackages/stock",
					    token=self.srv.tokens["bob"])
		self.assertEqual(st, 403)
		st, hd, body = self.srv.req("GET", "/users/dan/keyPackages/stock")
		self.assertEqual(st, 401)

	def test_all_or_nothing(self):
		d = self.device("erin", "e1")
		good = d.kps(3)
		self.refused("erin", good + d.kps(1, "bad-sig"), why="KeyPackage 3")
		self.assertEqual(stock(self.srv, "erin"), {})
		st, hd, doc = upload(self.srv, "erin", good)
		self.assertEqual(st, 201, doc)
		self.assertEqual(stock(self.srv, "erin"), {"e1": (3, False)})

	def test_last_resort(self):
		"""One last-resort KeyPackage per device: the batch's lastResort
		field marks it, and so does the last_resort extension; a new one
		replaces the old."""
		d = self.device("frank", "f1")
		kps, lr = d.upload(2)
		self.assertEqual(stock(self.srv, "frank"), {"f1": (2, True)})
		n, items = collection_items(self.srv, "frank")
		self.assertEqual(n, 1)
		self.assertEqual(items[0]["content"], lr)
		self.assertTrue(items[0]["lastResort"])
		# by the extension, in the plain list
		ext = d.kps(1, "last-resort")[0]
		self.assertTrue(kptest.kp_info(ext)["lastResort"])
		st, hd, doc = upload(self.srv, "frank", [ext])
		self.assertEqual(st, 201, doc)
		self.assertEqual(stock(self.srv, "frank"), {"f1": (2, True)})
		n, items = collection_items(self.srv, "frank")
		self.assertEqual([i["content"] for i in items], [ext])
		# two last-resort ones for one device in one batch
		self.refused("frank", d.kps(2, "last-resort"))

	# -- refusals (threats.md C42 at upload) --------------------------------
	def test_refusals(self):
		d = self.alice
		d.foreign("acct:alice@local.test")
		cases = [
			("bad-sig", "signature"),
			("version=2", "version"),
			("suite=77", "suite"),
			("same-keys", "init_key"),
			("expired", "lifetime"),
			("basic", "x509"),
			("foreign", "CA"),
			("other-key", "signature key"),
		]
		for flag, why in cases:
			with self.subTest(flag=flag):
				self.refused("alice", d.kps(1, flag), why=why)
		for junk in ("AAEAAg==", "not base64!", ""):
			with self.subTest(junk=junk):
				self.refused("alice", [junk])
		self.assertNotIn("phone", stock(self.srv, "alice"))

	def test_refuse_other_users_credential(self):
		"""bob's device's KeyPackage uploaded as alice's: the certificate
		names acct:bob@..., not alice."""
		self.refused("alice", self.bob.kps(1), why="credential")
		# and nobody uploads into another user's directory
		st, hd, body = self.srv.req("POST", "/users/bob/keyPackages",
					    body={"keyPackages": self.bob.kps(1)},
					    headers={"Content-Type": JSON}, token=self.srv.tokens["alice"])
		self.assertEqual(st, 403)
		st, hd, body = self.srv.req("POST", "/users/bob/keyPackages",
					    body={"keyPackages": self.bob.kps(1)},
					    headers={"Content-Type": JSON})
		self.assertEqual(st, 401)

	def test_refuse_revoked_device(self):
		d = self.device("bob", "old")
		kps, lr = d.upload(2)
		self.assertEqual(stock(self.srv, "bob")["old"], (2, True))
		d.revoke()
		# its KeyPackages are withdrawn, and it uploads nothing more
		self.assertNotIn("old", stock(self.srv, "bob"))
		self.assertNotIn(lr, [i["content"] for i in collection_items(self.srv, "bob")[1]])
		self.refused("bob", d.kps(1), why="credential")

	def test_refuse_unregistered_key(self):
		"""A certificate of this CA, but the device registered another key
		since (a renewal with a new key): the old leaf's key is no device's."""
		d = self.device("carol", "renewed")
		old = d.kps(1)
		fresh = Device(self.srv, "carol", "renewed", register=False)
		self.addCleanup(fresh.cleanup)
		st, hd, doc = self.srv.post("/users/carol/devices/renewed/renew", {"csr": fresh.csr},
					    token=self.srv.tokens["carol"], content_type=JSON)
		self.assertEqual(st, 200, doc)
		self.refused("carol", old, why="credential")

	def test_refuse_duplicate(self):
		kp = self.bob.kps(1)
		st, hd, doc = upload(self.srv, "bob", kp)
		self.assertEqual(st, 201, doc)
		self.refused("bob", kp, why="already")

	def test_limits(self):
		d = self.device("lim", "l1")
		self.refused("lim", d.kps(101), code="too_many_keypackages")
		batch = d.kps(100)
		st, hd, doc = upload(self.srv, "lim", batch)
		self.assertEqual(st, 201, doc)
		self.assertEqual(stock(self.srv, "lim"), {"l1": (100, False)})
		for _ in range(9):
			st, hd, doc = upload(self.srv, "lim", d.kps(100))
			self.assertEqual(st, 201, doc)
		self.refused("lim", d.kps(1), code="too_many_keypackages")
		self.assertEqual(stock(self.srv, "lim"), {"l1": (1000, False)})

	# -- the collection: last-resort KeyPackages only ------------------------
	def test_collection_lists_only_last_resort(self):
		"""Issue 10: a plain GET of keyPackages never hands out a
		consumable KeyPackage twice: it lists none of them."""
		d = self.device("carol", "coll")
		kps, lr = d.upload(4)
		n, items = collection_items(self.srv, "carol")
		contents = [i["content"] for i in items]
		self.assertIn(lr, contents)
		for k in kps:
			self.assertNotIn(k, contents)
		for i in items:
			self.assertEqual(i["type"], "KeyPackage")
			self.assertEqual(i["mediaType"], "message/mls")
			self.assertTrue(i["lastResort"])
		self.assertEqual(n, len(items))

	def test_local_claim(self):
		"""A local user claims another local user's KeyPackages through her
		own server: one per device, each handed out once."""
		d1 = self.device("erin", "c1")
		d2 = self.device("erin", "c2")
		k1, l1 = d1.upload(1)
		k2, l2 = d2.upload(1)
		res = claim(self.srv, "bob", ["acct:erin@local.test"])
		self.assertEqual(len(res), 1, res)
		self.assertEqual(res[0]["actor"], self.srv.actor("erin"))
		got = res[0]["keyPackages"]
		contents = sorted(k["content"] for k in got)
		# e1 of test_all_or_nothing may be there too: only c1 and c2 are ours
		self.assertTrue(set(k1 + k2) <= set(contents), res)
		self.assertEqual(len({k["device"] for k in got}), len(got))
		res = claim(self.srv, "bob", ["acct:erin@local.test"])
		again = {k["content"]: k["lastResort"] for k in res[0]["keyPackages"]}
		self.assertTrue(again[l1] and again[l2], res)
		for k in k1 + k2:
			self.assertNotIn(k, again)
		# an unknown handle is an error for that handle only
		res = claim(self.srv, "bob", ["acct:nobody@local.test", "acct:erin@local.test"])
		self.assertIn("error", res[0])
		self.assertIn("keyPackages", res[1])


if __name__ == "__main__":
	aimtest.main()
