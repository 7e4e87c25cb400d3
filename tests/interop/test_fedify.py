"""Interop between aimd and Fedify 2.3.6 (tests/interop/fedify-server.mjs),
both over HTTPS with certificates from one test CA, on loopback only (aimd
reaches the Fedify servers through --connect-to, Fedify reaches aimd
through --resolve).

Two Fedify servers: f.test knocks first with RFC 9421, g.test with cavage,
so aimd verifies both schemes; Fedify verifies what aimd signs (it records
the scheme and the outcome of every inbox POST). Scenarios: WebFinger of an
aimd handle by Fedify, follow both ways (auto-accepted both ways), Undo of
Fedify's follow, Create(Note) both ways (direct and to followers), raw
activities signed by Fedify's keys in each scheme accepted by aimd on the
first try, and every POST from aimd that Fedify accepted carries a verified
signature. aimd signs with cavage unless the host is known to verify
RFC 9421 (it signed to aimd with RFC 9421, or advertises it): g.test gets
cavage from the first POST; f.test, once it has signed to aimd with
RFC 9421, gets RFC 9421 (Ed25519), which Fedify 2.3.6 refuses (it looks up
only CryptographicKey, publicKey), and aimd falls back to cavage at once and
for good.

WebFinger both ways: Fedify resolves acct:USER@a.test:PORT, and aimd
resolves acct:fred@f.test:PORT (with its reverse check) for a Follow by
handle.

Exit status 77 (skipped) when node or the npm packages are missing
(scripts/test-setup.sh)."""

import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, HERE)
import aimtest
import fedtest
import peers
from aimtest import AimTestCase, Server, free_port, make_ca, make_cert
from fedtest import inbox_items, post_outbox, wait_for

AS_CTX = fedtest.AS_CTX


class FedifyInterop(AimTestCase):
	@classmethod
	def setUpClass(cls):
		import tempfile
		import shutil
		cls.dir = tempfile.mkdtemp(prefix="aimtest-fedify-")
		cls.addClassCleanup(shutil.rmtree, cls.dir, True)
		cls.ca = make_ca(os.path.join(cls.dir, "ca"))
		resolve = {"a.test": "127.0.0.1", "f.test": "127.0.0.1", "g.test": "127.0.0.1"}
		# aimd's actors use the MLS vocabulary's context; Fedify cannot
		# fetch it offline, so it is served locally
		mls_ctx = os.path.join(cls.dir, "mls-context.jsonld")
		with open(mls_ctx, "w") as f:
			json.dump({"@context": {
				"mls": "https://purl.archive.org/socialweb/mls#",
				"keyPackages": {"@id": "mls:keyPackages", "@type": "@id"}}}, f)
		cls.peers = {}
		for host, knock in (("f.test", "rfc9421"), ("g.test", "cavage")):
			cert, key = make_cert(cls.ca, os.path.join(cls.dir, "ca"), host)
			p = peers.Fedify(users=["fred", "fay"], first_knock=knock, cert=cert, key=key,
					 origin="https://%s:{port}" % host, resolve=resolve,
					 ca_file=cls.ca.cert,
					 contexts={"https://purl.archive.org/socialweb/mls": mls_ctx})
			cls.addClassCleanup(p.stop)
			cls.peers[host] = p
		cls.f, cls.g = cls.peers["f.test"], cls.peers["g.test"]
		port = free_port()
		tls = make_cert(cls.ca, os.path.join(cls.dir, "ca"), "a.test")
		# the domain carries the port, so acct:alice@a.test:PORT round-trips
		cls.a = Server(domain="a.test:%d" % port, port=port,
			       url="https://a.test:%d" % port, tls=tls, ca=cls.ca)
		cls.addClassCleanup(cls.a.cleanup)
		for u in ("alice", "ann", "abe"):
			cls.a.add_user(u)
		args = ["--ca-file", cls.ca.cert, "--allow-private-addresses",
			"--retry-base-ms", "300", "--retry-max-ms", "2000"]
		for p in cls.peers.values():
			args += ["--connect-to", "%s:%d:127.0.0.1:%d" % (
				p.origin.split("//")[1].split(":")[0], p.port, p.port)]
		cls.a.extra_args = args
		cls.a.start()

	def received(self, peer, **q):
		qs = "&".join("%s=%s" % kv for kv in q.items())
		return peer.get("/_test/received" + ("?" + qs if qs else ""))

	def aim_followers(self, user):
		st, _, doc = aimtest.get_retry(self.a.url + "/users/%s/followers?page=1" % user,
					       ctx=self.a.ctx)
		self.assertEqual(st, 200, doc)
		return [fedtest.item_id(x) for x in (doc.get("orderedItems") or doc.get("items") or [])]

	def mentions(self, user, needle):
		return sum(1 for it in inbox_items(self.a, user) if needle in json.dumps(it))

	def aim_posts(self, peer):
		"""The inbox POSTs aimd made to this Fedify, in order."""
		return [r for r in peer.get("/_test/requests")
			if (r.get("http_signature") or {}).get("key_id", "")
			.startswith(self.a.base)]

	def check_signed_by_aim(self, peer):
		"""Every POST aimd made to this Fedify carries a verified signature."""
		reqs = peer.get("/_test/requests")
		mine = [r for r in reqs if (r.get("http_signature") or {}).get("key_id", "")
			.startswith(self.a.base)]
		self.assertTrue(mine, "no POST from aimd recorded")
		for r in mine:
			if r.get("accepted"):
				self.assertTrue(r["http_signature"]["verified"], r)
		return mine

	# -- WebFinger and follows ----------------------------------------------------
	def test_fedify_follows_aim_by_handle(self):
		for peer in (self.f, self.g):
			acct = "acct:ann@a.test:%d" % self.a.port
			res = peer.post("/_test/follow", {"from": "fay", "to": acct})
			self.assertNotEqual(res.get("ok"), False, res)
			fay = peer.actors["fay"]
			wait_for(lambda: fay in self.aim_followers("ann"), what="fay follows ann")
			wait_for(lambda: peer.get("/_test/following?user=fay").get(self.a.actor("ann"))
				 == "accepted", what="aimd's Accept reached Fedify")
		# Undo from Fedify removes the follower at aimd
		res = self.g.post("/_test/send", {"from": "fay", "to": self.a.actor("ann"),
						  "type": "Undo"})
		self.assertNotEqual(res.get("ok"), False, res)
		wait_for(lambda: self.g.actors["fay"] not in self.aim_followers("ann"),
			 what="Undo(Follow) applied")
		self.assertIn(self.f.actors["fay"], self.aim_followers("ann"))

	def test_aim_follows_fedify(self):
		for peer in (self.f, self.g):
			fred = peer.actors["fred"]
			act = post_outbox(self.a, "abe", {"@context": AS_CTX, "type": "Follow",
							  "object": fred, "to": [fred]})
			wait_for(lambda: self.a.actor("abe") in
				 peer.get("/_test/followers?user=fred"), what="abe follows fred")
			wait_for(lambda: any(it.get("type") == "Accept" and act["id"] in json.dumps(it)
					     for it in inbox_items(self.a, "abe")),
				 what="Fedify's Accept in abe's inbox")
			self.check_signed_by_aim(peer)

	def test_aim_follows_fedify_by_handle(self):
		# WebFinger the other way: aimd resolves a Fedify handle (forward
		# lookup, actor fetch, reverse check) before the Follow goes out
		peer = self.f
		fred = peer.actors["fred"]
		acct = "acct:fred@f.test:%d" % peer.port
		act = post_outbox(self.a, "ann", {"@context": AS_CTX, "type": "Follow",
						  "object": acct, "to": [acct]})
		self.assertEqual(act["object"], fred)
		self.assertEqual(act["to"], [fred])
		wait_for(lambda: self.a.actor("ann") in peer.get("/_test/followers?user=fred"),
			 what="Fedify records ann's Follow")

	# -- notes --------------------------------------------------------------------
	def test_fedify_create_note_to_aim(self):
		for peer in (self.f, self.g):
			text = "from fedify " + aimtest.rand_text()
			res = peer.post("/_test/send", {"from": "fred", "to": self.a.actor("alice"),
							"type": "Create", "content": text})
			self.assertNotEqual(res.get("ok"), False, res)
			wait_for(lambda: self.mentions("alice", text), what="note in alice's inbox")
			time.sleep(0.5)
			self.assertEqual(self.mentions("alice", text), 1)

	def test_raw_signed_in_both_schemes(self):
		for peer, spec in ((self.f, "rfc9421"), (self.f, "cavage"), (self.g, "cavage"),
				   (self.g, "rfc9421")):
			text = "raw %s %s" % (spec, aimtest.rand_text())
			fred = peer.actors["fred"]
			res = peer.post("/_test/send", {
				"from": "fred", "to": self.a.actor("alice"), "spec": spec,
				"double_knock": False, "inbox": self.a.actor("alice") + "/inbox",
				"activity": {"type": "Create", "actor": fred, "to": [self.a.actor("alice")],
					     "object": {"id": fred + "/notes/" + aimtest.rand_text(),
							"type": "Note", "attributedTo": fred,
							"to": [self.a.actor("alice")], "content": text}}})
			self.assertEqual(res.get("status"), 202, res)
			self.assertEqual(len(res["attempts"]), 1, res)
			self.assertEqual(self.mentions("alice", text), 1)

	def test_aim_create_note_to_fedify(self):
		# f.test signs to aimd with RFC 9421 first: aimd learns that it
		# verifies RFC 9421; g.test only ever signs cavage to aimd
		fred_f = self.f.actors["fred"]
		res = self.f.post("/_test/send", {
			"from": "fred", "to": self.a.actor("alice"), "spec": "rfc9421",
			"double_knock": False, "inbox": self.a.actor("alice") + "/inbox",
			"activity": {"type": "Create", "actor": fred_f, "to": [self.a.actor("alice")],
				     "object": {"id": fred_f + "/notes/" + aimtest.rand_text(),
						"type": "Note", "attributedTo": fred_f,
						"to": [self.a.actor("alice")], "content": "rfc9421 hello"}}})
		self.assertEqual(res.get("status"), 202, res)
		for peer in (self.f, self.g):
			text = "from aim " + aimtest.rand_text()
			fred = peer.actors["fred"]
			before = len(self.aim_posts(peer))
			post_outbox(self.a, "alice", aimtest.note(text, to=[fred]))
			got = wait_for(lambda: [r for r in self.received(peer, type="Create")
						if r.get("content") == text or text in json.dumps(r.get("body"))],
				       what="Create at Fedify")
			self.assertEqual(len(got), 1, got)
			sig = got[0]["http_signature"]
			self.assertTrue(sig["verified"], sig)
			self.assertEqual(sig["key_owner"], self.a.actor("alice"))
			self.assertEqual(sig["scheme"], "draft-cavage-http-signatures-12", sig)
			self.check_signed_by_aim(peer)
			mine = self.aim_posts(peer)[before:]
			schemes = [m["http_signature"]["scheme"] for m in mine]
			if peer is self.g:
				# nothing known of g.test: cavage at once, no refused knock
				self.assertEqual(schemes, ["draft-cavage-http-signatures-12"], mine)
			else:
				# f.test signed with RFC 9421: aimd tries it; Fedify 2.3.6
				# refuses aimd's Ed25519 key; cavage in the same attempt
				self.assertEqual(schemes, ["rfc9421", "draft-cavage-http-signatures-12"],
						 mine)
				self.assertFalse(mine[0]["http_signature"]["verified"], mine[0])
		# and f.test keeps cavage from then on (the refusal is remembered)
		text = "again " + aimtest.rand_text()
		before = len(self.aim_posts(self.f))
		post_outbox(self.a, "alice", aimtest.note(text, to=[fred_f]))
		wait_for(lambda: [r for r in self.received(self.f, type="Create")
				  if text in json.dumps(r.get("body"))], what="second Create at f.test")
		self.assertEqual([m["http_signature"]["scheme"] for m in self.aim_posts(self.f)[before:]],
				 ["draft-cavage-http-signatures-12"])

	def test_aim_followers_post_reaches_fedify(self):
		peer = self.f
		res = peer.post("/_test/follow", {"from": "fred", "to": self.a.actor("alice")})
		self.assertNotEqual(res.get("ok"), False, res)
		wait_for(lambda: peer.actors["fred"] in self.aim_followers("alice"),
			 what="fred follows alice")
		text = "followers " + aimtest.rand_text()
		post_outbox(self.a, "alice", aimtest.note(text, to=[self.a.actor("alice") + "/followers"]))
		got = wait_for(lambda: [r for r in self.received(peer, type="Create")
					if text in json.dumps(r.get("body"))], what="followers post")
		time.sleep(0.5)
		got = [r for r in self.received(peer, type="Create") if text in json.dumps(r.get("body"))]
		self.assertEqual(len(got), 1, got)
		self.assertTrue(got[0]["http_signature"]["verified"])


if __name__ == "__main__":
	if not peers.available():
		print("skipped: node or the npm packages in tests/interop are missing")
		sys.exit(77)
	aimtest.main()
