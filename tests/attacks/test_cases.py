"""The attack suite as data (issue 16 point 1): tests/attacks/cases/{a,b,c}.json
hold one entry per item of docs/threats.md, with the tests that already cover
it ("covered_by": FILE::TEST), what is not covered and why ("not_covered"),
and data cases ("cases") that this runner throws at a real aimd.

The server is b.test (HTTPS, users bob and bea); requests come from the
actors mallory and eve of a fake remote r.test (tests/common/fedtest.py),
each with its own keys. A case is
  {"name", "request": {...}, "expect": {...}}
request:
  to          bob_inbox (default), bea_inbox, shared_inbox, instance_inbox, or
              a path on b.test
  as          the activity's actor: mallory (default) or eve
  signer      whose key signs (default: the actor's)
  sign        cavage (default), rfc9421 or none
  sign_args   keyword arguments of fedtest.sign_cavage / sign_rfc9421; "now",
              "now+N", "now-N" are Unix times; key_id "rsa" is the RSA key
              id; sign "rsa_sha1" signs with RSA SHA-1
  headers     more request headers ({key_id}, {marker} substituted)
  bearer      send bob's bearer token as well
  body:       a Create of a Note to bob whose content is a fresh marker,
              changed by set {"a.b": value} (strings: {marker}, {uuid};
              {"repeat": v, "times": n} an array), delete ["a.b"],
              pad_bytes N (object.padding), deep N (N nested objects),
              keys N (N members in the object); object_ref: the object given by its
              URL on r.test (a fetch aimd must not make for a refused
              request); raw "text" replaces it
  tamper_body the body sent differs from the signed one by one byte
  send_twice  the same request again (resign: signed anew, another Date)
expect:
  status      the allowed statuses (of the last request)
  first_status  of the first of two
  stored      whether the marker may be in bob's inbox afterwards
  stored_times  exactly how many inbox items hold it
  delivered   whether the fake remote may receive any POST because of it
  fetched     whether aimd may GET the object_ref URL (a refused request
              causes no outbound fetch)

The counts checked against the README's security section: items with a data
case or a covering test, and items (or parts of items) not covered, each
with its reason.
"""

import json
import os
import re
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from fedtest import FakeRemote, Keys, inbox_items, sign_cavage, sign_rfc9421

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CASE_FILES = [os.path.join(HERE, "cases", f) for f in ("a.json", "b.json", "c.json")]


def load_items():
	items = []
	for f in CASE_FILES:
		with open(f) as fh:
			items += json.load(fh)["items"]
	return items


def threat_ids():
	ids = []
	with open(os.path.join(ROOT, "docs", "threats.md")) as fh:
		for line in fh:
			m = re.match(r"^\| ([ABC][0-9]+) \|", line)
			if m:
				ids.append(m.group(1))
	return ids


def when(v):
	"""'now', 'now+N', 'now-N' as a Unix time; anything else as is."""
	if isinstance(v, str):
		m = re.fullmatch(r"now([+-][0-9]+)?", v)
		if m:
			return int(time.time()) + int(m.group(1) or 0)
	return v


def set_path(doc, path, value, delete=False):
	keys = path.split(".")
	for k in keys[:-1]:
		doc = doc[k]
	if delete:
		doc.pop(keys[-1], None)
	else:
		doc[keys[-1]] = value


def subst(v, marker):
	if isinstance(v, str):
		return v.replace("{marker}", marker).replace("{uuid}", str(uuid.uuid4()))
	if isinstance(v, dict) and set(v) == {"repeat", "times"}:
		return [subst(v["repeat"], marker) for _ in range(v["times"])]
	if isinstance(v, dict):
		return {k: subst(x, marker) for k, x in v.items()}
	if isinstance(v, list):
		return [subst(x, marker) for x in v]
	return v


class Index(unittest.TestCase):
	"""The case files against docs/threats.md and the README."""

	def test_every_threat_has_one_entry(self):
		ids = threat_ids()
		self.assertGreater(len(ids), 40)
		got = [it["id"] for it in load_items()]
		self.assertEqual(sorted(got), sorted(ids), "entries differ from docs/threats.md")
		self.assertEqual(len(got), len(set(got)), "an id has two entries")
		for it in load_items():
			self.assertTrue(it.get("cases") or it.get("covered_by") or it.get("not_covered"),
					it["id"])

	def test_covering_tests_exist(self):
		for it in load_items():
			for ref in it.get("covered_by", []):
				with self.subTest(id=it["id"], ref=ref):
					path, _, name = ref.partition("::")
					if "*" in path:
						d, pat = os.path.split(path)
						rx = re.compile(pat.replace(".", r"\.").replace("*", ".*") + "$")
						self.assertTrue(any(rx.match(f) for f in
								    os.listdir(os.path.join(ROOT, d))), ref)
						continue
					full = os.path.join(ROOT, path)
					self.assertTrue(os.path.exists(full), ref)
					if name:
						with open(full) as fh:
							self.assertRegex(fh.read(), r"\b%s\b" % re.escape(name),
									 ref)

	def test_readme_states_the_counts(self):
		items = load_items()
		covered = sum(1 for it in items if it.get("cases") or it.get("covered_by"))
		cases = sum(len(it.get("cases", [])) for it in items)
		parts = [(it["id"], r) for it in items for r in it.get("not_covered", [])]
		with open(os.path.join(ROOT, "README.md")) as fh:
			readme = fh.read()
		m = re.search(r"covers\s+(\d+)\s+of\s+the\s+(\d+)\s+items\s+of\s+`docs/threats.md`.*?"
			      r"(\d+)\s+data\s+cases", readme, re.S)
		self.assertIsNotNone(m, "the README's security section states no counts")
		self.assertEqual((int(m.group(1)), int(m.group(2)), int(m.group(3))),
				 (covered, len(items), cases))
		for id_, _ in parts:
			self.assertRegex(readme, r"\b%s\b[^.]*not\s+covered" % id_,
					 "the README does not name %s's uncovered part" % id_)


class Cases(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("b.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.remote = FakeRemote(cls.fed.ca, "r.test", directory=os.path.join(cls.fed.dir, "r"))
		cls.addClassCleanup(cls.remote.close)
		cls.actors = {"mallory": cls.remote.add_actor("mallory"),
			      "eve": cls.remote.add_actor("eve", Keys(cls.remote.dir, "eve"))}
		cls.b = cls.fed["b.test"]
		cls.tok = cls.b.add_user("bob")
		cls.b.add_user("bea")
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(cls.fed, cls.remote))
		cls.bob = cls.b.actor("bob")

	def url_of(self, to):
		return {"bob_inbox": self.bob + "/inbox",
			"bea_inbox": self.b.actor("bea") + "/inbox",
			"shared_inbox": self.b.base + "/inbox",
			"instance_inbox": self.b.base + "/actor/inbox"}.get(to) or self.b.base + to

	def body_of(self, req, actor, marker):
		if "raw" in req:
			return subst(req["raw"], marker).encode()
		act = actor.create_note(marker, to=[self.bob])
		if req.get("object_ref"):
			self.ref = "%s/notes/%s" % (actor.id, marker)
			act["object"] = self.ref
		for path, v in req.get("set", {}).items():
			set_path(act, path, subst(v, marker))
		for path in req.get("delete", []):
			set_path(act, path, None, delete=True)
		if req.get("pad_bytes"):
			act["object"]["padding"] = "x" * req["pad_bytes"]
		text = json.dumps(act)
		if req.get("deep"):
			act["object"]["deep"] = "@@DEEP@@"
			text = json.dumps(act).replace('"@@DEEP@@"', '{"a":' * req["deep"] + "1" +
						       "}" * req["deep"])
		if req.get("keys"):
			act["object"]["@@KEYS@@"] = 0
			text = json.dumps(act).replace('"@@KEYS@@": 0', ",".join(
				'"k%x":0' % i for i in range(req["keys"])))
		return text.encode()

	def signed(self, req, url, body, actor, marker):
		signer = self.actors[req.get("signer", actor.name)]
		args = {k: when(v) for k, v in req.get("sign_args", {}).items()}
		if args.get("key_id") == "rsa":
			args["key_id"] = signer.key_id
		if args.get("sign") == "rsa_sha1":
			args["sign"] = signer.keys.sign_rsa_sha1
		if "components" in args:
			args["components"] = tuple(args["components"])
		how = req.get("sign", "cavage")
		if how == "none":
			h = {"Host": fedtest._authority(url), "Date": fedtest.http_date(),
			     "Content-Type": aimtest.AP_TYPE, "Digest": fedtest.digest_header(body)}
		elif how == "cavage":
			h, body = sign_cavage(signer, "POST", url, body, **args)
		elif how == "rfc9421":
			h, body = sign_rfc9421(signer, "POST", url, body, **args)
		else:
			raise ValueError("sign %r" % how)
		for k, v in req.get("headers", {}).items():
			h[k] = v.replace("{key_id}", signer.key_id)
		if req.get("bearer"):
			h["Authorization"] = "Bearer " + self.tok
		if req.get("tamper_body"):
			# one byte more, the marker still in it (a stored copy would show)
			body = body.replace(marker.encode(), b"!" + marker.encode(), 1)
		return h, body

	def times_stored(self, marker):
		return sum(1 for it in inbox_items(self.b, "bob") if marker in json.dumps(it))

	def run_case(self, case):
		req, exp = case["request"], case["expect"]
		actor = self.actors[req.get("as", "mallory")]
		marker = "m-" + aimtest.rand_text(16)
		url = self.url_of(req.get("to", "bob_inbox"))
		body = self.body_of(req, actor, marker)
		posts_before = len(self.remote.posts())
		h, sent = self.signed(req, url, body, actor, marker)
		st, hd, answer = self.b.req("POST", url, headers=h, body=sent)
		if req.get("send_twice"):
			if "first_status" in exp:
				self.assertIn(st, exp["first_status"], answer[:300])
			if req.get("resign"):
				time.sleep(1.1)	# another Date: not the same request
				h, sent = self.signed(req, url, body, actor, marker)
			st, hd, answer = self.b.req("POST", url, headers=h, body=sent)
		self.assertIn(st, exp["status"], answer[:300])
		self.assertLess(st, 500)
		if st >= 400:
			self.assertErrorBody(st, hd, answer)
		if exp.get("stored") is False:
			self.assertEqual(self.times_stored(marker), 0, "%s was stored" % marker)
		if "stored_times" in exp:
			self.assertEqual(self.times_stored(marker), exp["stored_times"])
		if exp.get("fetched") is False:
			path = fedtest.urllib.parse.urlsplit(self.ref).path
			self.assertEqual(self.remote.gets(path), [], "aimd fetched " + self.ref)
		if exp.get("delivered") is False:
			self.assertEqual(len(self.remote.posts()), posts_before,
					 "a delivery reached r.test")

	def test_cases(self):
		n = 0
		for it in load_items():
			for case in it.get("cases", []):
				with self.subTest(id=it["id"], case=case["name"]):
					self.run_case(case)
					n += 1
		self.assertGreater(n, 30)
		# nothing refused caused a delivery afterwards either
		time.sleep(1)
		self.assertEqual(self.remote.posts(), [])
		self.assertTrue(self.b.running())


if __name__ == "__main__":
	aimtest.main()
