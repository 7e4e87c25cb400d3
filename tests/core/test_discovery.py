"""The acceptance script of issue 2, WebFinger (RFC 7033), host-meta and
NodeInfo 2.1 against a real aimd."""

import os
import json
import sys
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import (AP_TYPE, AS_PUBLIC, AimTestCase, Server, note, parse_json)

JRD = "application/jrd+json"
NI_REL = "http://nodeinfo.diaspora.software/ns/schema/2.1"
NI_TYPE = 'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'


def q(s):
	return urllib.parse.quote(s, safe="")


class AcceptanceTest(AimTestCase):
	"""temp dir, free port, init, create alice, resolve acct:alice@DOMAIN
	through WebFinger, fetch the actor, post a Note to her outbox, find it
	in the outbox collection."""

	def test_acceptance(self):
		srv = Server(domain="accept.test")
		try:
			token = srv.add_user("alice")
			srv.start()
			st, hd, jrd = srv.get("/.well-known/webfinger?resource=" +
					      q("acct:alice@accept.test"), accept=JRD)
			self.assertEqual(st, 200)
			self_links = [l for l in jrd["links"] if l.get("rel") == "self"
				      and l.get("type") == AP_TYPE]
			self.assertEqual(len(self_links), 1, jrd)
			actor_url = self_links[0]["href"]
			self.assertEqual(actor_url, srv.url + "/users/alice")

			st, hd, actor = srv.get(actor_url)
			self.assertEqual(st, 200)
			self.assertEqual(actor["id"], actor_url)
			self.assertEqual(actor["preferredUsername"], "alice")

			content = "acceptance note"
			st, hd, act = srv.post(actor["outbox"], note(content), token=token)
			self.assertEqual(st, 201, act)
			self.assertEqual(hd.get("location"), act["id"])

			st, hd, coll = srv.get(actor["outbox"])
			self.assertEqual(st, 200)
			self.assertIn(coll["type"], ("OrderedCollection",))
			self.assertEqual(coll["totalItems"], 1)
			first = coll["first"]
			if isinstance(first, str):
				st, hd, first = srv.get(first)
				self.assertEqual(st, 200)
			items = first["orderedItems"]
			self.assertEqual(len(items), 1)
			item = items[0]
			self.assertEqual(item["id"] if isinstance(item, dict) else item, act["id"])
			if isinstance(item, dict) and isinstance(item.get("object"), dict):
				self.assertEqual(item["object"]["content"], content)
		finally:
			srv.cleanup()


class WebFingerTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="wf.test")
		cls.srv.add_user("alice")
		cls.srv.add_user("bob.smith")
		cls.srv.start()


	def wf(self, query, accept=JRD):
		return self.srv.req("GET", "/.well-known/webfinger" + query,
				    headers={"Accept": accept} if accept else {})

	def jrd(self, resource, extra=""):
		st, hd, body = self.wf("?resource=" + q(resource) + extra)
		self.assertEqual(st, 200, body)
		self.assertTrue(hd.get("content-type", "").startswith(JRD), hd)
		self.assertEqual(hd.get("access-control-allow-origin"), "*")
		return parse_json(body)

	def test_user(self):
		doc = self.jrd("acct:alice@wf.test")
		actor = self.srv.url + "/users/alice"
		self.assertEqual(doc["subject"], "acct:alice@wf.test")
		self.assertEqual(doc["aliases"], [actor])
		selfs = [l for l in doc["links"] if l["rel"] == "self"]
		self.assertEqual(selfs, [{"rel": "self", "type": AP_TYPE, "href": actor}])

	def test_dotted_name(self):
		doc = self.jrd("acct:bob.smith@wf.test")
		self.assertEqual(doc["subject"], "acct:bob.smith@wf.test")

	def test_unencoded_resource(self):
		st, hd, body = self.wf("?resource=acct:alice@wf.test")
		self.assertEqual(st, 200, body)

	def test_actor_url_resource(self):
		actor = self.srv.url + "/users/alice"
		doc = self.jrd(actor)
		self.assertIn(doc["subject"], ("acct:alice@wf.test", actor))
		self.assertIn(actor, [l.get("href") for l in doc["links"]
				      if l["rel"] == "self"])

	def test_instance_actor(self):
		doc = self.jrd("acct:wf.test@wf.test")
		self.assertEqual(doc["subject"], "acct:wf.test@wf.test")
		self.assertIn(self.srv.url + "/actor",
			      [l.get("href") for l in doc["links"] if l["rel"] == "self"])

	def test_any_accept(self):
		for acc in (None, "application/json", "*/*", "text/html"):
			with self.subTest(accept=acc):
				st, hd, body = self.wf("?resource=" + q("acct:alice@wf.test"),
						       accept=acc)
				self.assertEqual(st, 200)
				self.assertEqual(parse_json(body)["subject"], "acct:alice@wf.test")

	def test_rel_filter(self):
		doc = self.jrd("acct:alice@wf.test", "&rel=self")
		self.assertTrue(doc["links"])
		self.assertTrue(all(l["rel"] == "self" for l in doc["links"]), doc)
		doc = self.jrd("acct:alice@wf.test", "&rel=" + q("http://example.test/rel/none"))
		self.assertEqual(doc.get("links", []), [])
		self.assertEqual(doc["subject"], "acct:alice@wf.test")
		doc = self.jrd("acct:alice@wf.test",
			       "&rel=" + q("http://webfinger.net/rel/profile-page"))
		self.assertFalse([l for l in doc.get("links", []) if l["rel"] == "self"])
		# rel is repeatable: self + something else keeps self
		doc = self.jrd("acct:alice@wf.test",
			       "&rel=" + q("http://example.test/x") + "&rel=self")
		self.assertEqual([l["rel"] for l in doc["links"]], ["self"])

	def test_missing_resource(self):
		for qs in ("", "?", "?rel=self", "?resource=", "?resourcex=acct:alice@wf.test"):
			with self.subTest(query=qs):
				self.assertRefused(self.wf(qs), 400)

	def test_malformed_resource(self):
		for res in ("alice", "acct:", "acct:alice", "acct:@wf.test", "acct:alice@",
			    "@", "acct:@", "%zz", "acct:al ice@wf.test", "acct:alice@wf.test\x00",
			    "x" * 2000):
			with self.subTest(resource=res):
				self.assertRefused(self.wf("?resource=" + q(res)), 400)
		# not even valid percent-encoding
		self.assertRefused(self.wf("?resource=%zz%"), 400)

	def test_one_acct_parser(self):
		"""The server reads acct: URIs with the same strict parser as its
		WebFinger client (http/webfinger.h): what the client would refuse
		is malformed (400), and the host is compared after the URL parse."""
		for res in ("acct:al!ce@wf.test", "acct:al'ice@wf.test", "acct:alice@wf.test:99999",
			    "acct:alice@[::1", "acct:alice@wf.test:0", "acct:alice@wf..test"):
			with self.subTest(resource=res):
				self.assertRefused(self.wf("?resource=" + q(res)), 400)
		for res in ("acct:alice@WF.test", "acct:alice@wf.test:443", "acct:alice@wf.test."):
			with self.subTest(resource=res):
				doc = self.jrd(res)
				self.assertEqual(doc["subject"], "acct:alice@wf.test")

	def test_unknown_user(self):
		for res in ("acct:nobody@wf.test", "acct:alicex@wf.test",
			    self.srv.url + "/users/nobody"):
			with self.subTest(resource=res):
				self.assertRefused(self.wf("?resource=" + q(res)), 404)

	def test_other_domain(self):
		for res in ("acct:alice@other.test", "acct:alice@wf.test.evil.test",
			    "acct:alice@evil.test@wf.test", "https://other.test/users/alice"):
			with self.subTest(resource=res):
				st, hd, body = self.wf("?resource=" + q(res))
				self.assertIn(st, (400, 404), res)
				self.assertErrorBody(st, hd, body)
		self.assertRefused(self.wf("?resource=" + q("acct:alice@other.test")), 404)

	def test_no_key_material(self):
		st, hd, body = self.wf("?resource=" + q("acct:alice@wf.test"))
		self.assertNotIn(b"PRIVATE", body)


class HostMetaNodeInfoTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="meta.test")
		cls.srv.add_user("alice")
		cls.srv.add_user("bob")
		cls.srv.start()


	def test_host_meta_xml(self):
		st, hd, body = self.srv.req("GET", "/.well-known/host-meta")
		self.assertEqual(st, 200)
		self.assertTrue(hd.get("content-type", "").startswith("application/xrd+xml"), hd)
		root = ET.fromstring(body)
		self.assertEqual(root.tag, "{http://docs.oasis-open.org/ns/xri/xrd-1.0}XRD")
		links = root.findall("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")
		lrdd = [l for l in links if l.get("rel") == "lrdd"]
		self.assertEqual(len(lrdd), 1)
		self.assertEqual(lrdd[0].get("template"),
				 self.srv.url + "/.well-known/webfinger?resource={uri}")

	def test_host_meta_json(self):
		st, hd, body = self.srv.req("GET", "/.well-known/host-meta.json")
		self.assertEqual(st, 200)
		self.assertTrue("json" in hd.get("content-type", ""), hd)
		doc = parse_json(body)
		lrdd = [l for l in doc["links"] if l.get("rel") == "lrdd"]
		self.assertEqual(lrdd[0]["template"],
				 self.srv.url + "/.well-known/webfinger?resource={uri}")

	def test_nodeinfo_discovery(self):
		st, hd, doc = self.srv.get("/.well-known/nodeinfo", accept="application/json")
		self.assertEqual(st, 200)
		self.assertTrue(hd.get("content-type", "").startswith("application/json"))
		self.assertEqual(doc, {"links": [{"rel": NI_REL,
						   "href": self.srv.url + "/nodeinfo/2.1"}]})

	def test_nodeinfo_document(self):
		st, hd, doc = self.srv.get("/nodeinfo/2.1", accept="application/json")
		self.assertEqual(st, 200)
		ct = hd.get("content-type", "").replace(" ", "")
		self.assertEqual(ct, NI_TYPE.replace(" ", ""))
		self.assertEqual(doc["version"], "2.1")
		self.assertEqual(doc["software"]["name"], "aim")
		self.assertRegex(doc["software"]["version"], r"^\d+\.\d+")
		self.assertEqual(doc["protocols"], ["activitypub"])
		self.assertEqual(doc["usage"]["users"]["total"], 2)
		self.assertIs(doc["openRegistrations"], False)
		# required by the NodeInfo 2.1 schema
		self.assertIsInstance(doc["services"]["inbound"], list)
		self.assertIsInstance(doc["services"]["outbound"], list)
		self.assertIsInstance(doc["metadata"], dict)

	def test_nodeinfo_any_accept(self):
		for acc in (None, "*/*", "text/html"):
			with self.subTest(accept=acc):
				st, hd, body = self.srv.req(
					"GET", "/nodeinfo/2.1",
					headers={"Accept": acc} if acc else {})
				self.assertIn(st, (200, 406))
				if st == 406:
					self.assertErrorBody(st, hd, body)


if __name__ == "__main__":
	unittest.main(verbosity=2)
