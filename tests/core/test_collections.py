"""Collections and cursor paging: 45 items page as 20, 20, 5 newest first,
prev links, stability under inserts, the inbox pages too, bad cursors."""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import AS_PUBLIC, AimTestCase, Server, note


def item_id(item):
	return item["id"] if isinstance(item, dict) else item


class CollectionsTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="coll.test")
		cls.tok = {n: cls.srv.add_user(n) for n in ("pager", "stab", "dan", "erin",
							    "mixed", "fred", "kp", "uni")}
		cls.srv.start()


	def post_many(self, user, n, prefix, to=(AS_PUBLIC,)):
		ids = []
		for i in range(n):
			st, hd, act = self.srv.post("/users/%s/outbox" % user,
						    note("%s %d" % (prefix, i), to=to),
						    token=self.tok[user])
			self.assertEqual(st, 201, act)
			ids.append(act["id"])
		return ids

	def page(self, ref, token=None):
		if isinstance(ref, dict) and "orderedItems" in ref:
			return ref
		url = ref["id"] if isinstance(ref, dict) else ref
		st, hd, doc = self.srv.get(url, token=token)
		self.assertEqual(st, 200, doc)
		self.assertEqual(doc["type"], "OrderedCollectionPage")
		return doc

	def collection(self, path, token=None):
		st, hd, doc = self.srv.get(path, token=token)
		self.assertEqual(st, 200, doc)
		self.assertEqual(doc["type"], "OrderedCollection")
		self.assertEqual(doc["id"], self.srv.url + path)
		self.assertIsInstance(doc["totalItems"], int)
		self.assertIn("first", doc)
		return doc

	def walk(self, coll, token=None):
		"""All pages from first following next; returns the page docs."""
		pages = []
		ref = coll["first"]
		while ref is not None:
			p = self.page(ref, token)
			self.assertEqual(p["partOf"], coll["id"])
			pages.append(p)
			self.assertLess(len(pages), 100, "endless paging")
			ref = p.get("next")
		return pages

	def test_paging_45(self):
		ids = self.post_many("pager", 45, "page")
		newest_first = list(reversed(ids))
		coll = self.collection("/users/pager/outbox")
		self.assertEqual(coll["totalItems"], 45)
		for tok in (None, self.tok["pager"], self.tok["dan"]):
			with self.subTest(viewer=tok and tok[:6]):
				coll = self.collection("/users/pager/outbox", tok)
				pages = self.walk(coll, tok)
				sizes = [len(p["orderedItems"]) for p in pages]
				self.assertEqual(sizes, [20, 20, 5])
				got = [item_id(i) for p in pages for i in p["orderedItems"]]
				self.assertEqual(got, newest_first)
				self.assertNotIn("next", pages[2])
				self.assertIn("next", pages[0])
				self.assertIn("prev", pages[1])
				self.assertIn("prev", pages[2])
				# prev of page 3 is page 2, prev of page 2 is page 1
				p2 = self.page(pages[2]["prev"], tok)
				self.assertEqual([item_id(i) for i in p2["orderedItems"]],
						 newest_first[20:40])
				p1 = self.page(pages[1]["prev"], tok)
				self.assertEqual([item_id(i) for i in p1["orderedItems"]],
						 newest_first[:20])
				# prev of the first page (if any) has nothing newer
				if "prev" in pages[0]:
					p0 = self.page(pages[0]["prev"], tok)
					self.assertEqual(p0.get("orderedItems", []), [])
		# items are embedded activities with their objects
		item = pages[0]["orderedItems"][0]
		if isinstance(item, dict):
			self.assertEqual(item["type"], "Create")
			obj = item["object"]
			if isinstance(obj, dict):
				self.assertEqual(obj["content"], "page 44")

	def test_stable_under_inserts(self):
		ids = self.post_many("stab", 25, "stab")
		newest_first = list(reversed(ids))
		coll = self.collection("/users/stab/outbox")
		p1 = self.page(coll["first"])
		self.assertEqual([item_id(i) for i in p1["orderedItems"]], newest_first[:20])
		new = self.post_many("stab", 3, "late")
		p2 = self.page(p1["next"])
		self.assertEqual([item_id(i) for i in p2["orderedItems"]], newest_first[20:])
		self.assertNotIn("next", p2)
		# the newer items are reached backwards from page 1
		self.assertIn("prev", p1)
		back = self.page(p1["prev"])
		self.assertEqual([item_id(i) for i in back["orderedItems"]],
				 list(reversed(new)))
		coll = self.collection("/users/stab/outbox")
		self.assertEqual(coll["totalItems"], 28)
		first = self.page(coll["first"])
		self.assertEqual([item_id(i) for i in first["orderedItems"]][:3],
				 list(reversed(new)))

	def test_mixed_visibility_paging(self):
		"""Hidden items neither shorten pages nor leak through cursors."""
		fred = self.srv.url + "/users/fred"
		pub, for_fred = [], []
		for i in range(25):
			pub += self.post_many("mixed", 1, "pub %d" % i)
			self.post_many("mixed", 1, "priv %d" % i,
				       to=[self.srv.url + "/users/mixed/followers"])
			if i % 2 == 0:
				for_fred += self.post_many("mixed", 1, "fred %d" % i, to=[fred])
		coll = self.collection("/users/mixed/outbox", self.tok["mixed"])
		all_ids = [item_id(i) for p in self.walk(coll, self.tok["mixed"])
			   for i in p["orderedItems"]]
		self.assertEqual(len(all_ids), 25 + 25 + 13)
		for viewer in (None, "fred", "dan"):
			with self.subTest(viewer=viewer):
				tok = self.tok[viewer] if viewer else None
				coll = self.collection("/users/mixed/outbox", tok)
				pages = self.walk(coll, tok)
				want = set(pub) | (set(for_fred) if viewer == "fred" else set())
				got = [item_id(i) for p in pages for i in p["orderedItems"]]
				self.assertEqual(set(got), want)
				self.assertEqual(got, [i for i in all_ids if i in want])
				sizes = [len(p["orderedItems"]) for p in pages]
				self.assertEqual(sizes[:-1], [20] * (len(sizes) - 1))
				self.assertEqual(sum(sizes), len(want))
				if coll["totalItems"] != len(want):
					print("note: totalItems for viewer %s is %d, sees %d" %
					      (viewer, coll["totalItems"], len(want)))

	def test_inbox_paging(self):
		dan = self.srv.url + "/users/dan"
		ids = self.post_many("erin", 22, "to dan", to=[dan])
		coll = self.collection("/users/dan/inbox", self.tok["dan"])
		self.assertEqual(coll["totalItems"], 22)
		pages = self.walk(coll, self.tok["dan"])
		self.assertEqual([len(p["orderedItems"]) for p in pages], [20, 2])
		self.assertEqual([item_id(i) for p in pages for i in p["orderedItems"]],
				 list(reversed(ids)))

	def test_empty_collections(self):
		for c in ("followers", "following", "keyPackages", "outbox"):
			with self.subTest(collection=c):
				coll = self.collection("/users/dan/" + c)
				self.assertEqual(coll["totalItems"], 0)
				first = self.page(coll["first"])
				self.assertEqual(first.get("orderedItems", []), [])
				self.assertNotIn("next", first)

	def test_every_collection_pages_alike(self):
		"""Issue 9 point 3: followers, following, keyPackages, outbox and
		inbox take the same parameters (README): page=true is the first
		page (as Mastodon), max_id/min_id are cursors, and the collection's
		first link is ?page=true."""
		tok = self.tok["uni"]
		self.post_many("uni", 2, "uniform", to=(self.srv.actor("uni"),))
		for c in ("followers", "following", "keyPackages", "outbox", "inbox"):
			with self.subTest(collection=c):
				path = "/users/uni/" + c
				coll = self.collection(path, token=tok)
				self.assertEqual(coll["first"], self.srv.url + path + "?page=true")
				for qs in ("?page=true", "?page=1", "?page=true&max_id=1000000",
					   "?page=true&min_id=0", "?max_id=1000000"):
					with self.subTest(query=qs):
						p = self.page(path + qs, token=tok)
						self.assertEqual(p["partOf"], coll["id"])
						self.assertIsInstance(p.get("orderedItems", []), list)
				for qs in ("?page=true&max_id=abc", "?page=true&max_id=1&min_id=2"):
					with self.subTest(query=qs):
						self.assertRefused(self.srv.req("GET", path + qs, token=tok), 400)

	def test_key_packages_from_the_store(self):
		"""Issue 9 point 2, as issue 10 changed it: keyPackages lists what
		the store's KeyPackage directory holds for the user, not a constant
		empty collection; since the directory exists an object of type
		KeyPackage is an upload, validated (400 bad_keypackage for one that
		is no MLS KeyPackage of a registered device of hers) and never
		stored as a post, and the collection lists only last-resort
		KeyPackages (tests/identity/test_keypackages.py uploads real ones)."""
		tok = self.tok["kp"]
		kp = {"@context": ["https://www.w3.org/ns/activitystreams",
				   "https://purl.archive.org/socialweb/mls"],
		      "type": "KeyPackage", "mediaType": "message/mls", "encoding": "base64",
		      "content": "AAEAAg==", "to": [AS_PUBLIC]}
		for doc in (kp, {"type": "Create", "object": kp, "to": [AS_PUBLIC]}):
			st, hd, act = self.srv.post("/users/kp/outbox", doc, token=tok)
			self.assertEqual(st, 400, act)
			self.assertEqual(act["error"], "bad_keypackage")
		self.post_many("kp", 1, "not a key package")
		coll = self.collection("/users/kp/keyPackages")
		self.assertEqual(coll["totalItems"], 0)
		self.assertEqual(self.page(coll["first"]).get("orderedItems", []), [])
		st, hd, ob = self.srv.get("/users/kp/outbox")
		self.assertEqual(ob["totalItems"], 1)

	def test_bad_cursors(self):
		base = "/users/pager/outbox?page=true&"
		for qs in ("max_id=abc", "max_id=-1", "max_id=99999999999999999999999999",
			   "min_id=%27%3B%20DROP%20TABLE%20x", "max_id=", "min_id=1e9",
			   "max_id=1&min_id=2", "max_id=0x10", "max_id=%00"):
			with self.subTest(query=qs):
				st, hd, body = self.srv.req("GET", base + qs)
				self.assertLess(st, 500)
				if st >= 400:
					self.assertErrorBody(st, hd, body)
		for qs in ("?page=false", "?page=maybe", "?page=true&page=true", "?x=1"):
			with self.subTest(query=qs):
				st, hd, body = self.srv.req("GET", "/users/pager/outbox" + qs)
				self.assertLess(st, 500)
				if st >= 400:
					self.assertErrorBody(st, hd, body)


if __name__ == "__main__":
	unittest.main(verbosity=2)
