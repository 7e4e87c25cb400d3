"""Client API: POST to the outbox. Success (201, Location, wrapping, server
assigned ids), and every refusal: 401, 403, 413, 415, 400, never a 5xx, also
under ~200 random mutations of a valid activity."""

import copy
import http.client
import json
import os
import random
import re
import select
import socket
import time
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import (AP_TYPE, AS_PUBLIC, LD_TYPE, AimTestCase, Server, note,
		     parse_json, parse_raw_status, raw_exchange, connect_addr)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class OutboxPostTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="out.test")
		cls.alice = cls.srv.add_user("alice")
		cls.bob = cls.srv.add_user("bob")
		cls.eve = cls.srv.add_user("eve")	# only refused posts go here
		cls.srv.start()
		cls.outbox = cls.srv.url + "/users/alice/outbox"
		cls.eve_outbox = cls.srv.url + "/users/eve/outbox"


	def post(self, obj, token=None, **kw):
		return self.srv.post(self.outbox, obj, token=token or self.alice, **kw)

	def post_raw(self, url, body, token, content_type=AP_TYPE, extra=None):
		h = {"Content-Type": content_type} if content_type else {}
		h.update(extra or {})
		for _ in range(10):
			r = self.srv.req("POST", url, headers=h, body=body, token=token)
			if r[0] != 429:
				return r
			time.sleep(1)
		return r

	def refused(self, body, status, token=None, content_type=AP_TYPE, code=None):
		"""POST body (bytes/str/obj) to eve's outbox and expect a refusal."""
		if not isinstance(body, (bytes, str)):
			body = json.dumps(body)
		r = self.post_raw(self.eve_outbox, body, token or self.eve, content_type)
		return self.assertRefused(r, status, code)

	# -- success ------------------------------------------------------------
	def test_bare_note_wrapped(self):
		base = self.srv.url
		aid = base + "/users/alice"
		cc = [aid + "/followers"]
		st, hd, act = self.post(note("wrapped", to=[AS_PUBLIC], cc=cc))
		self.assertEqual(st, 201, act)
		self.assertEqual(act["type"], "Create")
		self.assertRegex(act["id"], "^" + re.escape(base + "/activities/") + UUID_RE + "$")
		self.assertEqual(hd.get("location"), act["id"])
		self.assertEqual(act["actor"], aid)
		self.assertRegex(act["published"], RFC3339)
		self.assertEqual(act["to"], [AS_PUBLIC])
		self.assertEqual(act["cc"], cc)
		obj = act["object"]
		self.assertIsInstance(obj, dict)
		self.assertEqual(obj["type"], "Note")
		self.assertEqual(obj["content"], "wrapped")
		self.assertRegex(obj["id"], "^" + re.escape(base + "/objects/") + UUID_RE + "$")
		self.assertEqual(obj["attributedTo"], aid)
		self.assertRegex(obj["published"], RFC3339)
		self.assertEqual(obj["to"], [AS_PUBLIC])

	def test_location_gets_back(self):
		st, hd, act = self.post(note("get me back"))
		self.assertEqual(st, 201)
		loc = hd["location"]
		st, hd2, got = self.srv.get(loc)
		self.assertEqual(st, 200)
		self.assertEqual(got["id"], loc)
		self.assertEqual(got["type"], "Create")
		obj = got["object"]
		oid = obj["id"] if isinstance(obj, dict) else obj
		self.assertEqual(oid, act["object"]["id"])
		st, hd3, o = self.srv.get(oid)
		self.assertEqual(st, 200)
		self.assertEqual(o["id"], oid)
		self.assertEqual(o["content"], "get me back")
		# the same, anonymously and as another user (it is public)
		for tok in (None, self.bob):
			st, _, _ = self.srv.get(loc, token=tok)
			self.assertEqual(st, 200)

	def test_client_ids_replaced(self):
		n = note("ids", id="https://evil.test/objects/1",
			 published="1999-01-01T00:00:00Z",
			 attributedTo=self.srv.url + "/users/alice")
		act = {"@context": "https://www.w3.org/ns/activitystreams",
		       "type": "Create", "id": "https://evil.test/activities/1",
		       "actor": self.srv.url + "/users/alice", "to": [AS_PUBLIC],
		       "published": "1999-01-01T00:00:00Z", "object": n}
		st, hd, a = self.post(act)
		self.assertEqual(st, 201, a)
		self.assertNotEqual(a["id"], act["id"])
		self.assertTrue(a["id"].startswith(self.srv.url + "/activities/"))
		self.assertTrue(a["object"]["id"].startswith(self.srv.url + "/objects/"))
		self.assertNotIn("1999", a["published"])
		# the same client id twice still gives two activities
		st, hd, b = self.post(act)
		self.assertEqual(st, 201, b)
		self.assertNotEqual(a["id"], b["id"])
		self.assertNotEqual(a["object"]["id"], b["object"]["id"])
		# bare object with an id
		st, hd, c = self.post(note("bare id", id=self.srv.url + "/objects/mine"))
		self.assertEqual(st, 201, c)
		self.assertNotEqual(c["object"]["id"], self.srv.url + "/objects/mine")

	def test_explicit_create_without_actor(self):
		act = {"type": "Create", "to": [AS_PUBLIC], "object": note("no actor")}
		st, hd, a = self.post(act)
		self.assertEqual(st, 201, a)
		self.assertEqual(a["actor"], self.srv.url + "/users/alice")
		self.assertEqual(a["object"]["attributedTo"], self.srv.url + "/users/alice")

	def test_other_activity(self):
		act = {"type": "Like", "object": "https://remote.test/objects/1",
		       "to": [AS_PUBLIC]}
		st, hd, a = self.post(act)
		self.assertEqual(st, 201, a)
		self.assertEqual(a["type"], "Like")
		self.assertEqual(a["object"], "https://remote.test/objects/1")
		self.assertTrue(a["id"].startswith(self.srv.url + "/activities/"))

	def test_accepted_content_types(self):
		for ct in (AP_TYPE, LD_TYPE, "application/json",
			   "application/activity+json; charset=utf-8"):
			with self.subTest(content_type=ct):
				st, hd, a = self.post(note("ct " + ct), content_type=ct)
				self.assertEqual(st, 201, a)

	def test_media_type_case_insensitive(self):
		# RFC 9110 8.3.1: type and subtype are case-insensitive
		st, hd, a = self.post(note("upper ct"), content_type="Application/Activity+JSON")
		self.assertEqual(st, 201, a)

	def test_unicode_round_trip(self):
		for text in ("gr\u00fc\u00df dich \U0001f600", "\u05e9\u05dc\u05d5\u05dd",
			     "<script>alert(1)</script>", "a\"b\\c\nd\te", "\u2028\u2029",
			     "\ufeffbom", "x" * 5000):
			with self.subTest(text=text[:20]):
				st, hd, a = self.post(note(text))
				self.assertEqual(st, 201, a)
				self.assertEqual(a["object"]["content"], text)
				st, hd, o = self.srv.get(a["object"]["id"])
				self.assertEqual(st, 200)
				self.assertEqual(o["content"], text)
		# an escaped NUL is refused or kept whole, never cut
		st, hd, a = self.post(note("before\u0000after"))
		self.assertIn(st, (201, 400))
		if st == 201:
			st, hd, o = self.srv.get(a["object"]["id"])
			self.assertEqual(o["content"], "before\u0000after")

	def test_keep_alive(self):
		"""Several requests on one persistent connection."""
		import http.client as hc
		c = hc.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
		try:
			for i in range(3):
				c.request("GET", "/users/alice", headers={"Accept": AP_TYPE})
				r = c.getresponse()
				self.assertEqual(r.status, 200)
				r.read()
				body = json.dumps(note("keep-alive %d" % i))
				c.request("POST", "/users/alice/outbox", body=body,
					  headers={"Content-Type": AP_TYPE,
						   "Authorization": "Bearer " + self.alice})
				r = c.getresponse()
				self.assertEqual(r.status, 201)
				r.read()
				c.request("GET", "/nope")
				r = c.getresponse()
				self.assertEqual(r.status, 404)
				r.read()
		finally:
			c.close()

	def test_just_under_one_mib(self):
		body = json.dumps(note("x" * (1000 * 1000)))
		self.assertLess(len(body), 1 << 20)
		st, hd, b = self.post_raw(self.outbox, body, self.alice)
		self.assertEqual(st, 201, b[:300])

	# -- refusals -----------------------------------------------------------
	def test_auth_missing_or_wrong(self):
		body = json.dumps(note("auth"))
		for tok in (None, "wrong", self.eve + "x", self.eve[:-1], ""):
			with self.subTest(token=tok):
				r = self.post_raw(self.eve_outbox, body, tok)
				self.assertRefused(r, 401)
				self.assertTrue(r[1].get("www-authenticate", "").startswith("Bearer"),
						r[1])
		for auth in ("Basic " + "ZXZlOmV2ZQ==", "Bearer", "Token " + self.eve,
			     self.eve):
			with self.subTest(authorization=auth):
				r = self.srv.req("POST", self.eve_outbox, body=body,
						 headers={"Content-Type": AP_TYPE,
							  "Authorization": auth})
				self.assertRefused(r, 401)

	def test_other_users_outbox(self):
		r = self.post_raw(self.eve_outbox, json.dumps(note("not mine")), self.bob)
		self.assertRefused(r, 403)
		r = self.post_raw(self.srv.url + "/users/nobody/outbox",
				  json.dumps(note("nobody")), self.bob)
		self.assertIn(r[0], (403, 404))
		self.assertErrorBody(*r)

	def test_foreign_actor(self):
		base = self.srv.url
		for actor in (base + "/users/bob", "https://evil.test/users/eve",
			      base + "/actor"):
			with self.subTest(actor=actor):
				act = {"type": "Create", "actor": actor, "to": [AS_PUBLIC],
				       "object": note("forged")}
				self.refused(act, 403)
		# near misses: someone else too (or malformed), never accepted
		for actor in (base + "/users/eve/", base + "/users/Eve",
			      base + "/users/eve#x", base + "/users/eve?x=1"):
			with self.subTest(actor=actor):
				act = {"type": "Create", "actor": actor, "to": [AS_PUBLIC],
				       "object": note("forged")}
				st, hd, body = self.post_raw(self.eve_outbox, json.dumps(act),
							     self.eve)
				self.assertIn(st, (400, 403), body[:200])
				self.assertErrorBody(st, hd, body)
		act = {"type": "Like", "actor": {"id": base + "/users/bob"},
		       "object": "https://remote.test/x"}
		st, hd, body = self.post_raw(self.eve_outbox, json.dumps(act), self.eve)
		self.assertIn(st, (400, 403))
		self.assertErrorBody(st, hd, body)

	def test_foreign_attribution(self):
		n = note("forged attribution", attributedTo=self.srv.url + "/users/bob")
		st, hd, a = self.post(n)
		self.assertIn(st, (201, 403))
		if st == 201:
			self.assertEqual(a["object"]["attributedTo"],
					 self.srv.url + "/users/alice")

	def test_wrong_content_type(self):
		body = json.dumps(note("ct"))
		for ct in ("text/plain", "application/x-www-form-urlencoded",
			   "application/xml", "multipart/form-data; boundary=x", None,
			   "text/html"):
			with self.subTest(content_type=ct):
				r = self.post_raw(self.eve_outbox, body, self.eve, ct)
				self.assertRefused(r, 415)

	def test_content_encoding_refused(self):
		# A compressed (or otherwise encoded) body is refused, not guessed at.
		body = json.dumps(note("ce"))
		for ce in ("gzip", "deflate", "br"):
			with self.subTest(content_encoding=ce):
				r = self.post_raw(self.eve_outbox, body, self.eve,
						  extra={"Content-Encoding": ce})
				self.assertRefused(r, 415)
		r = self.post_raw(self.outbox, body, self.alice,
				  extra={"Content-Encoding": "identity"})
		self.assertEqual(r[0], 201, r[2][:200])

	def test_handle_on_a_host_that_does_not_exist(self):
		# A handle whose domain does not resolve is the client's mistake:
		# 400, never a 5xx (the mutation fuzz below once found a 502 here).
		# .invalid never resolves (RFC 6761 section 6.4).
		for obj in ({"type": "Follow", "object": "acct:x@no-such-host.invalid"},
			    {"type": "Note", "to": ["acct:y@nowhere.invalid"]}):
			with self.subTest(obj=obj):
				r = self.post_raw(self.eve_outbox, json.dumps(obj), self.eve)
				self.assertRefused(r, 400, "unresolvable_handle")

	def big_request(self, n):
		body = json.dumps(note("y" * n)).encode()
		u = self.eve_outbox.split("://", 1)[1]
		path = "/" + u.split("/", 1)[1]
		head = ("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
			"Content-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
			% (path, u.split("/", 1)[0], self.eve, AP_TYPE, len(body))).encode()
		return head, body

	def exchange_big(self, head, body_chunks):
		"""Sends head, then (unless the server already answered) the body;
		returns the status line's code."""
		s = socket.create_connection(("127.0.0.1", self.srv.port), 20)
		out = b""
		try:
			s.sendall(head)
			r, _, _ = select.select([s], [], [], 1.0)
			if not r:
				try:
					for c in body_chunks:
						s.sendall(c)
				except OSError:
					pass
			while b"\r\n\r\n" not in out:
				try:
					b = s.recv(65536)
				except OSError:
					break
				if not b:
					break
				out += b
		finally:
			s.close()
		return out

	def test_too_large(self):
		n = int(1.1 * (1 << 20))
		head, body = self.big_request(n)
		out = self.exchange_big(head, [body[i:i + 65536]
					       for i in range(0, len(body), 65536)])
		self.assertEqual(parse_raw_status(out), 413, out[:300])
		# chunked transfer encoding: the limit is on what arrives
		u = self.eve_outbox.split("://", 1)[1]
		path = "/" + u.split("/", 1)[1]
		head = ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
			"Content-Type: %s\r\nTransfer-Encoding: chunked\r\n"
			"Connection: close\r\n\r\n" % (path, self.eve, AP_TYPE)).encode()
		chunks = []
		for i in range(0, len(body), 65536):
			c = body[i:i + 65536]
			chunks.append(b"%x\r\n%s\r\n" % (len(c), c))
		chunks.append(b"0\r\n\r\n")
		out = self.exchange_big(head, chunks)
		self.assertEqual(parse_raw_status(out), 413, out[:300])
		# a lying huge Content-Length is refused before the body is read
		head = ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
			"Content-Type: %s\r\nContent-Length: 100000000000\r\n"
			"Connection: close\r\n\r\n" % (path, self.eve, AP_TYPE)).encode()
		out = self.exchange_big(head, [b"{}"])
		self.assertIn(parse_raw_status(out), (400, 413), out[:300])

	def test_malformed_json(self):
		for body in ("", "{", "}", "{\"type\":", "nul", "{'type': 'Note'}",
			     "{\"type\": \"Note\",}", "\"type\"", "{\"type\": \"Note\"} x",
			     "{\"type\": \"Note\" \"content\": 1}", "\x00", "{\"a\":\"\\x\"}",
			     b"\xff\xfe{}", b"{\"type\": \"Note\", \"content\": \"\xc3\x28\"}",
			     "{" * 10, "[" * 10000 + "]" * 10000):
			with self.subTest(body=body[:40]):
				self.refused(body, 400)

	def test_not_an_object(self):
		for body in ("[]", "[{\"type\": \"Note\"}]", "null", "5", "\"Note\"",
			     "true", "1e999"):
			with self.subTest(body=body):
				self.refused(body, 400)

	def test_wrong_types(self):
		base = note("types")
		cases = [("to", 5), ("to", {"id": AS_PUBLIC}), ("to", [5]), ("to", [[AS_PUBLIC]]),
			 ("cc", 5), ("cc", [None]), ("bto", True), ("bcc", 1.5),
			 ("audience", 7), ("type", []), ("type", 5), ("type", None),
			 ("type", ""), ("type", {"a": 1})]
		for key, val in cases:
			with self.subTest(key=key, value=val):
				n = copy.deepcopy(base)
				n[key] = val
				self.refused(n, 400)
		act = {"type": "Create", "to": [AS_PUBLIC], "object": note("o")}
		for key, val in (("object", 5), ("object", None), ("object", []),
				 ("actor", 5), ("actor", []), ("to", 5), ("object", {"content": "x"}),
				 ("object", {"type": 5}), ("object", {"type": "Note", "to": 5})):
			with self.subTest(activity_key=key, value=val):
				a = copy.deepcopy(act)
				a[key] = val
				self.refused(a, 400)

	def test_missing_type(self):
		self.refused({"content": "no type", "to": [AS_PUBLIC]}, 400)
		self.refused({}, 400)
		self.refused({"actor": self.srv.url + "/users/eve", "object": note("x")}, 400)

	def test_create_without_object(self):
		self.refused({"type": "Create", "to": [AS_PUBLIC]}, 400)

	def test_deep_nesting(self):
		deep = {"type": "Note", "content": "deep", "to": [AS_PUBLIC]}
		inner = deep
		for _ in range(100):
			inner["tag"] = {"type": "Object"}
			inner = inner["tag"]
		st, hd, body = self.post_raw(self.eve_outbox, json.dumps(deep), self.eve)
		self.assertIn(st, (400, 413), body[:200])
		self.assertErrorBody(st, hd, body)

	def test_huge_audience(self):
		n = note("many", to=["https://r%d.test/u" % i for i in range(5000)])
		st, hd, body = self.post_raw(self.eve_outbox, json.dumps(n), self.eve)
		self.assertIn(st, (400, 413), body[:200])
		self.assertErrorBody(st, hd, body)

	def test_cannot_touch_others_objects(self):
		"""Update/Delete of bob's note by alice, or a Create reusing the ids
		of bob's activity and note: bob's documents stay as they were."""
		st, hd, b = self.srv.post("/users/bob/outbox", note("bob's own words"),
					  token=self.bob)
		self.assertEqual(st, 201, b)
		oid, aid = b["object"]["id"], b["id"]
		attempts = [
			{"type": "Delete", "object": oid, "to": [AS_PUBLIC]},
			{"type": "Delete", "object": {"id": oid, "type": "Note"}},
			{"type": "Update", "to": [AS_PUBLIC],
			 "object": {"id": oid, "type": "Note", "content": "pwned"}},
			{"type": "Create", "id": aid, "to": [AS_PUBLIC],
			 "object": note("pwned", id=oid)},
			note("pwned", id=oid),
			{"type": "Undo", "object": aid},
		]
		for act in attempts:
			with self.subTest(activity=act["type"]):
				st, hd, doc = self.post(act)
				self.assertIn(st, (201, 400, 403, 404), doc)
				if st >= 400:
					self.assertErrorBody(st, hd, json.dumps(doc).encode())
				st, hd, o = self.srv.get(oid)
				self.assertEqual(st, 200, "bob's note gone after alice's %s" % act["type"])
				self.assertEqual(o["content"], "bob's own words")
				self.assertEqual(o["attributedTo"], self.srv.url + "/users/bob")
				st, hd, a = self.srv.get(aid)
				self.assertEqual(st, 200)
				self.assertEqual(a["actor"], self.srv.url + "/users/bob")
		st, hd, coll = self.srv.get("/users/bob/outbox?page=true")
		self.assertIn(aid, [i["id"] if isinstance(i, dict) else i
				    for i in coll["orderedItems"]])

	def test_deleted_post_is_gone_everywhere(self):
		"""Issue 9 point 6: after its author deletes a Note, the Create at
		/activities/ID answers 410 (a Tombstone without the content) to
		everyone, and the outbox no longer lists it."""
		text = "soon deleted " + str(time.time())
		st, hd, act = self.srv.post("/users/bob/outbox", note(text), token=self.bob)
		self.assertEqual(st, 201, act)
		oid = act["object"]["id"]
		st, hd, coll = self.srv.get("/users/bob/outbox")
		before = coll["totalItems"]
		st, hd, d = self.srv.post("/users/bob/outbox",
					  {"type": "Delete", "object": oid, "to": [AS_PUBLIC]},
					  token=self.bob)
		self.assertEqual(st, 201, d)
		for tok in (None, self.bob, self.alice):
			with self.subTest(viewer=tok and tok[:6]):
				st, hd, body = self.srv.req("GET", act["id"], token=tok,
							    headers={"Accept": AP_TYPE})
				self.assertEqual(st, 410, body)
				self.assertNotIn(text.encode(), body)
				doc = parse_json(body)
				self.assertEqual(doc["type"], "Tombstone")
				self.assertEqual(doc["id"], act["id"])
				st, hd, body = self.srv.req("GET", oid, token=tok,
							    headers={"Accept": AP_TYPE})
				self.assertEqual(st, 410)
				self.assertNotIn(text.encode(), body)
				st, hd, coll = self.srv.get("/users/bob/outbox", token=tok)
				self.assertEqual(st, 200)
				st, hd, body = self.srv.req("GET", coll["first"], token=tok,
							    headers={"Accept": AP_TYPE})
				self.assertEqual(st, 200)
				self.assertNotIn(text.encode(), body)
				self.assertNotIn(act["id"], [i["id"] if isinstance(i, dict) else i
							     for i in parse_json(body)["orderedItems"]])
		st, hd, coll = self.srv.get("/users/bob/outbox")
		self.assertEqual(coll["totalItems"], before)  # the Create out, the Delete in

	def test_zz_nothing_stored_for_refusals(self):
		"""runs last (name order): none of eve's refused posts was stored."""
		st, hd, coll = self.srv.get(self.eve_outbox, token=self.eve)
		self.assertEqual(st, 200)
		self.assertEqual(coll["totalItems"], 0, coll)
		self.assertTrue(self.srv.running())


def random_value(rng, depth=0, small=False):
	"""A random JSON value (built lazily: only the chosen branch)."""
	leaves = [None, True, False, 0, -1, 2 ** 63, -2 ** 63 - 1, 10 ** 30, 1.5e308,
		  "", "x", "x" * rng.choice((10, 100) if small else (10, 1000, 70000)),
		  "\u0000", "\ud800", "\U0001f600", AS_PUBLIC, "https://evil.test/x",
		  "acct:a@b", "/relative", "javascript:alert(1)", "Public", "as:Public"]
	if depth >= 3 or rng.random() < 0.7:
		return rng.choice(leaves)
	k = rng.randrange(6)
	if k == 0:
		return []
	if k == 1:
		return {}
	if k == 2:
		return [random_value(rng, depth + 1, small)]
	if k == 3:
		return {"type": random_value(rng, depth + 1, small)}
	if k == 4:
		return {"id": "https://evil.test/o", "type": "Note"}
	return [random_value(rng, depth + 1, small) for _ in range(3)]


TYPES = ["Create", "Note", "Like", "Follow", "Undo", "Delete", "Update", "Announce",
	 "Add", "Remove", "Block", "Accept", "Reject", "Question", "Article",
	 "PrivateMessage", "PublicMessage", "KeyPackage", "Welcome", "Tombstone",
	 "Person", "Group", "Collection", "OrderedCollection", "", "X" * 300]
KEYS = ["type", "id", "actor", "object", "to", "cc", "bto", "bcc", "audience",
	"content", "published", "attributedTo", "inReplyTo", "tag", "@context",
	"target", "origin", "mediaType", "encoding", "name", "summary", "url"]


def mutate(rng, base, srv):
	doc = copy.deepcopy(base)
	k = rng.randrange(12)
	tgt = doc
	if isinstance(doc.get("object"), dict) and rng.random() < 0.4:
		tgt = doc["object"]
	if k == 0:
		tgt[rng.choice(KEYS)] = random_value(rng)
	elif k == 1 and tgt:
		del tgt[rng.choice(list(tgt.keys()))]
	elif k == 2:
		tgt["type"] = rng.choice(TYPES)
	elif k == 3:
		doc["object"] = random_value(rng)
	elif k == 4:
		doc["actor"] = rng.choice([srv.url + "/users/fuzz", srv.url + "/users/bob",
					   random_value(rng)])
	elif k == 5:
		text = json.dumps(doc)
		return text[:rng.randrange(len(text))].encode()
	elif k == 6:
		text = bytearray(json.dumps(doc).encode())
		for _ in range(rng.randrange(1, 4)):
			i = rng.randrange(len(text))
			text[i] = rng.randrange(256)
		return bytes(text)
	elif k == 7:
		text = json.dumps(doc)
		return ('{"type": "Note", "type": 5, ' + text[1:]).encode()
	elif k == 8:
		tgt[rng.choice(["to", "cc", "bcc", "tag"])] = [
			random_value(rng, small=True) for _ in range(rng.choice((50, 1500)))]
	elif k == 9:
		v = [] if rng.random() < 0.5 else {}
		cur = v
		for _ in range(rng.choice((20, 31, 33, 64, 500))):
			nxt = [] if rng.random() < 0.5 else {}
			if isinstance(cur, list):
				cur.append(nxt)
			else:
				cur["a"] = nxt
			cur = nxt
		tgt[rng.choice(KEYS)] = v
	elif k == 10:
		for _ in range(3):
			tgt[rng.choice(KEYS)] = random_value(rng)
	else:
		tgt["type"] = rng.choice(TYPES)
		tgt[rng.choice(KEYS)] = random_value(rng)
	return json.dumps(doc).encode()


class OutboxFuzzTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="fuzz.test")
		cls.tok = cls.srv.add_user("fuzz")
		cls.srv.add_user("bob")
		cls.srv.start()


	def test_random_mutations(self):
		seed = int(os.environ.get("AIM_FUZZ_SEED") or time.time())
		rng = random.Random(seed)
		url = self.srv.url + "/users/fuzz/outbox"
		bases = [note("fuzz"),
			 {"type": "Create", "actor": url[:-7], "to": [AS_PUBLIC],
			  "cc": [url[:-7] + "/followers"], "object": note("fuzz obj")},
			 {"type": "Like", "object": "https://remote.test/o/1"},
			 {"type": "Follow", "object": self.srv.url + "/users/bob"}]
		counts = {}
		for i in range(200):
			body = mutate(rng, rng.choice(bases), self.srv)
			for _ in range(10):
				try:
					st, hd, resp = self.srv.req(
						"POST", url, body=body, token=self.tok,
						headers={"Content-Type": AP_TYPE})
				except (OSError, http.client.HTTPException):
					# a body over the limit may be cut off by a close
					# before the answer can be read
					if len(body) <= (1 << 20):
						raise
					st, hd, resp = 413, {}, b""
					break
				if st != 429:
					break
				time.sleep(1)
			counts[st] = counts.get(st, 0) + 1
			self.assertLess(st, 500, "seed %d case %d body %r -> %r" %
					(seed, i, body[:300], resp[:300]))
			if st >= 400 and hd:
				self.assertErrorBody(st, hd, resp)
			elif st == 201:
				self.assertIn("location", hd)
			if i % 50 == 49:
				self.assertTrue(self.srv.running(), "aimd died (seed %d)" % seed)
		st, hd, doc = self.srv.get("/.well-known/nodeinfo", accept="application/json")
		self.assertEqual(st, 200)
		self.assertTrue(self.srv.running())
		print("fuzz seed %d statuses %s" % (seed, sorted(counts.items())))


if __name__ == "__main__":
	unittest.main(verbosity=2)
