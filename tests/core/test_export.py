"""aimd export / aimd import (issue 15 point 3): a domain's data (users,
tokens, keys, devices, KeyPackages, activities, inboxes, followers, follows,
deliveries, channels with their hub state, the CA's keys) written by export
and read by import into a fresh data directory: the server then serves the
same actors, collections and channels, the tokens still work, a remote
follower still gets the posts, signed with the keys it knew (they moved),
and the channel goes on. Refusals: an initialised target, a truncated or
foreign file, an existing export file; a failed import leaves nothing."""

import base64
import json
import os
import re
import shutil
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, os.path.join(HERE, "..", "channels"))
sys.path.insert(0, os.path.join(HERE, "..", "identity"))
import fedtest
import kptest
from aimtest import AS_PUBLIC, AimTestCase, Federation, note, run_aimd
from chantest import Mls, obj
from fedtest import FakeRemote, sign_cavage, wait_for

AS_CTX = "https://www.w3.org/ns/activitystreams"
MLSCTX = "https://purl.archive.org/socialweb/mls"
JSON = "application/json"


class ExportImportTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("e.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.remote = FakeRemote(cls.fed.ca, "r.test")
		cls.addClassCleanup(cls.remote.close)
		cls.rita = cls.remote.add_actor("rita")
		cls.e = cls.fed["e.test"]
		for u in ("alice", "bob"):
			cls.e.add_user(u)
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(
			cls.fed, cls.remote, extra=("--hub-basic-credentials",)))
		cls.mls = Mls()
		cls.addClassCleanup(cls.mls.close)

	def post(self, user, act):
		return self.e.post("/users/%s/outbox" % user, act, token=self.e.tokens[user])

	def get(self, path, user=None):
		st, _, doc = self.e.get(path, token=self.e.tokens[user] if user else None)
		self.assertEqual(st, 200, "%s: %d %r" % (path, st, doc))
		return doc

	def snapshot(self, chan):
		"""What the server serves of the domain, as plain data."""
		paths = [("/users/alice", None), ("/users/bob", None), ("/actor", None),
			 ("/.well-known/webfinger?resource=acct:alice@e.test", None),
			 ("/.well-known/aim-ca", None),
			 ("/users/alice/outbox?page=true", None), ("/users/alice/outbox?page=true", "bob"),
			 ("/users/alice/followers?page=true", None),
			 ("/users/alice/following?page=true", None),
			 ("/users/bob/following?page=true", None),
			 ("/users/alice/inbox?page=true", "alice"), ("/users/bob/inbox?page=true", "bob"),
			 ("/users/bob/keyPackages?page=true", None),
			 ("/users/bob/keyPackages/stock", "bob"), ("/users/bob/devices", "bob"),
			 (chan, None), (chan + "/followers", None), (chan + "/outbox?after=0", "alice"),
			 (chan + "/groupInfo", "bob")]
		out = {}
		for p, who in paths:
			if p.startswith("/.well-known/aim-ca") or "webfinger" in p:
				st, _, doc = self.e.get(p, accept=JSON)
				self.assertEqual(st, 200, p)
			else:
				doc = self.get(p, who)
			out[(p, who)] = doc
		r = run_aimd("deliveries", "--data", self.e.data)
		self.assertEqual(r.returncode, 0, r.stderr)
		out["deliveries"] = sorted((d["id"], d["activity"], d["inbox"], d["actor"])
					   for d in map(json.loads, r.stdout.splitlines()))
		return out

	def make_channel(self):
		al = "alice-" + uuid.uuid4().hex[:8]
		self.mls("create_client", suite=1, identity="acct:alice@e.test", name=al)
		self.mls("create_group", client=al)
		bo = "bob-" + uuid.uuid4().hex[:8]
		kp = self.mls("create_client", suite=1, identity="acct:bob@e.test", name=bo)["key_package"]
		cm = self.mls("commit", client=al, add=[kp], public=True, tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		st, hd, doc = self.post("alice", {
			"@context": [AS_CTX, MLSCTX], "type": "Create",
			"object": {"type": "Group", "name": "moving", "aim:policy": {"membership": "owner"}},
			"aim:members": [self.e.actor("bob")],
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		return hd.get("location"), al

	def send(self, chan, client, text):
		m = self.mls("send", client=client, plaintext=text)
		return self.post("alice", {"type": "Create", "to": [chan],
					   "object": obj("PrivateMessage", m["message"])})

	def verify_post(self, post, pem):
		"""The cavage signature of a recorded POST verifies with pem."""
		sig = post["headers"].get("signature")
		self.assertIsNotNone(sig, "unsigned POST")
		params = dict(re.findall(r'(\w+)="([^"]*)"', sig))
		lines = []
		for h in params["headers"].split():
			if h == "(request-target)":
				lines.append("(request-target): post " + post["path"])
			else:
				lines.append("%s: %s" % (h, post["headers"][h]))
		self.assertTrue(fedtest.verify_rsa(pem, "\n".join(lines).encode(),
						   base64.b64decode(params["signature"])),
				"the signature does not verify with the key from before the move")

	def rita_got(self, text):
		return [p for p in self.remote.posts() if p["json"] and p["json"].get("type") == "Create" and
			text in json.dumps(p["json"])]

	def test_export_import_same_domain(self):
		e = self.e
		# rita (remote) follows alice; bob follows alice
		f = {"@context": AS_CTX, "id": self.remote.base + "/f/" + uuid.uuid4().hex,
		     "type": "Follow", "actor": self.rita.id, "object": e.actor("alice")}
		hdrs, data = sign_cavage(self.rita, "POST", e.base + "/users/alice/inbox", f)
		st, _, body = e.req("POST", e.base + "/users/alice/inbox", body=data, headers=hdrs)
		self.assertEqual(st, 202, body)
		self.assertEqual(self.post("bob", {"@context": AS_CTX, "type": "Follow",
						   "object": e.actor("alice")})[0], 201)
		wait_for(lambda: e.actor("bob") in self.get("/users/alice/followers?page=true")
			 .get("orderedItems", []), what="bob following alice")
		# posts: public (to rita too), one to bob only, one to a server that is not there
		self.assertEqual(self.post("alice", note("before the move",
							 cc=[e.actor("alice") + "/followers"]))[0], 201)
		wait_for(lambda: self.rita_got("before the move"), what="rita's copy")
		self.assertEqual(self.post("alice", note("for bob", to=[e.actor("bob")]))[0], 201)
		self.assertEqual(self.post("alice", note("lost", to=[
			"https://nowhere.invalid/users/x"]))[0], 201)
		# bob's device and its KeyPackages; a channel of alice's with bob
		dev = kptest.Device(e, "bob", "phone")
		self.addCleanup(dev.cleanup)
		dev.upload(n=3, last_resort=True)
		chan, al = self.make_channel()
		st, _, doc = self.send(chan, al, "in the channel")
		self.assertEqual(st, 201, doc)
		self.assertEqual(doc["aim:sequence"], 1)
		before = self.snapshot(chan)
		alice_pem = before[("/users/alice", None)]["publicKey"]["publicKeyPem"]
		# export while serving
		out = os.path.join(e.tmp, "export")
		os.mkdir(out)
		r = run_aimd("export", "--data", e.data, out)
		self.assertEqual(r.returncode, 0, r.stderr)
		path = os.path.join(out, "aim-export.jsonl")
		self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
		with open(path) as fh:
			lines = [json.loads(l) for l in fh]
		self.assertEqual(lines[0]["format"], "aim-export")
		self.assertEqual(lines[0]["version"], 1)
		self.assertEqual(lines[0]["domain"], "e.test")
		self.assertIn("end", lines[-1])
		tables = {l["table"] for l in lines if "table" in l}
		for t in ("users", "tokens", "activities", "inbox", "followers", "following",
			  "deliveries", "versioned", "ca_certs", "devices", "keypackages", "channels",
			  "channel_members", "channel_outbox"):
			self.assertIn(t, tables)
		self.assertEqual([l["file"] for l in lines if "file" in l], ["ca/ca-1.key"])
		# a refusal: the same target again
		self.assertEqual(run_aimd("export", "--data", e.data, out).returncode, 1)
		# move: the old directory aside, the import in its place
		e.stop()
		shutil.move(e.data, e.data + ".old")
		r = run_aimd("import", "--data", e.data, path)
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertIn("imported %d rows" % sum(1 for l in lines if "table" in l), r.stdout)
		self.assertEqual(os.stat(os.path.join(e.data, "ca", "ca-1.key")).st_mode & 0o777, 0o600)
		r = run_aimd("doctor", "--data", e.data)
		self.assertEqual(r.returncode, 0, r.stdout)
		e.start()
		after = self.snapshot(chan)
		for k in before:
			self.assertEqual(after[k], before[k], k)
		# the remote follower gets the next post, signed with the same key
		self.remote.reset()
		self.assertEqual(self.post("alice", note("after the move",
							 cc=[e.actor("alice") + "/followers"]))[0], 201)
		got = wait_for(lambda: self.rita_got("after the move"), what="rita's copy after")
		self.verify_post(got[0], alice_pem)
		# the channel goes on from its hub state
		st, _, doc = self.send(chan, al, "in the channel, moved")
		self.assertEqual(st, 201, doc)
		self.assertEqual(doc["aim:sequence"], 2)
		self.assertEqual(kptest.stock(e, "bob"), {"phone": (3, True)})

	def test_refusals(self):
		e = self.e
		path = os.path.join(e.tmp, "refusals.jsonl")
		r = run_aimd("export", "--data", e.data, path)
		self.assertEqual(r.returncode, 0, r.stderr)
		# into an initialised directory
		r = run_aimd("import", "--data", e.data, path)
		self.assertEqual(r.returncode, 1)
		self.assertIn("already initialised", r.stderr)
		# a truncated file: refused, nothing left behind
		with open(path) as fh:
			lines = fh.readlines()
		cut = os.path.join(e.tmp, "cut.jsonl")
		with open(cut, "w") as fh:
			fh.writelines(lines[:-1])
		target = os.path.join(e.tmp, "cut-data")
		r = run_aimd("import", "--data", target, cut)
		self.assertEqual(r.returncode, 1, r.stdout)
		self.assertIn("truncated", r.stderr)
		self.assertFalse(os.path.exists(os.path.join(target, "aim.db")))
		self.assertFalse(os.path.exists(os.path.join(target, "ca", "ca-1.key")))
		# not an export
		other = os.path.join(e.tmp, "other.jsonl")
		with open(other, "w") as fh:
			fh.write('{"hello": "world"}\n')
		r = run_aimd("import", "--data", os.path.join(e.tmp, "other-data"), other)
		self.assertEqual(r.returncode, 1)
		self.assertIn("not an aimd export", r.stderr)
		# a row that breaks the schema fails the import as a whole
		bad = os.path.join(e.tmp, "bad.jsonl")
		with open(bad, "w") as fh:
			for l in lines:
				d = json.loads(l)
				if d.get("table") == "tokens":
					d["row"]["user_id"] = 999999
				fh.write(json.dumps(d) + "\n")
		target = os.path.join(e.tmp, "bad-data")
		r = run_aimd("import", "--data", target, bad)
		self.assertEqual(r.returncode, 1, r.stdout)
		self.assertFalse(os.path.exists(os.path.join(target, "aim.db")))
		# usage
		self.assertEqual(run_aimd("export", "--data", e.data).returncode, 2)
		self.assertEqual(run_aimd("import", path).returncode, 2)


if __name__ == "__main__":
	unittest.main(verbosity=2)
