"""Devices over the client API (issue 10, Credentials 1-2): a device
registers with a PKCS#10 CSR over its MLS signature key and gets an X.509
leaf from the domain's CA; every refusal (bad CSR signature, malformed,
another user's path, unsupported key, over the size limit, device id taken);
renewal; revocation; listing; the CA key file (0600, never in the database
or the log).

CSRs are made with the openssl command, so the test does not depend on the
client library."""

import base64
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import AimTestCase, Server, request, run_aimd

JSON = "application/json"


def openssl(*args, data=None):
	r = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60)
	if r.returncode != 0:
		raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
	return r.stdout


class Key:
	"""A device key (openssl): ed25519, p256 or rsa; its CSR in DER."""

	def __init__(self, directory, kind="ed25519", name=None):
		self.path = os.path.join(directory, "%s-%s.pem" % (name or kind, os.urandom(4).hex()))
		if kind == "ed25519":
			openssl("genpkey", "-algorithm", "ed25519", "-out", self.path)
		elif kind == "p256":
			openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
				"-out", self.path)
		elif kind == "rsa":
			openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
				"-out", self.path)
		self.kind = kind

	def csr(self, cn="x", extra=()):
		return openssl("req", "-new", "-key", self.path, "-subj", "/CN=" + cn, "-outform",
			       "DER", *extra)

	def public_der(self):
		return openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER")


def b64(b):
	return base64.b64encode(b).decode()


def der_to_pem(der, label="CERTIFICATE"):
	s = b64(der)
	lines = [s[i:i + 64] for i in range(0, len(s), 64)]
	return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def cert_text(der):
	return openssl("x509", "-inform", "DER", "-noout", "-text", data=der).decode()


def cert_dates(der):
	out = openssl("x509", "-inform", "DER", "-noout", "-startdate", "-enddate", data=der).decode()
	d = dict(l.split("=", 1) for l in out.strip().splitlines())
	parse = lambda s: datetime.datetime.strptime(s.strip(), "%b %d %H:%M:%S %Y GMT").replace(
		tzinfo=datetime.timezone.utc).timestamp()
	return parse(d["notBefore"]), parse(d["notAfter"])


def cert_pubkey(der):
	pem = openssl("x509", "-inform", "DER", "-noout", "-pubkey", data=der)
	return openssl("pkey", "-pubin", "-outform", "DER", data=pem)


def verify_chain(tmp, leaf_der, ca_ders):
	"""openssl verify of the leaf against the CA certificates."""
	ca = os.path.join(tmp, "ca-%s.pem" % os.urandom(4).hex())
	leaf = os.path.join(tmp, "leaf-%s.pem" % os.urandom(4).hex())
	with open(ca, "w") as f:
		f.write("".join(der_to_pem(d) for d in ca_ders))
	with open(leaf, "w") as f:
		f.write(der_to_pem(leaf_der))
	r = subprocess.run(["openssl", "verify", "-CAfile", ca, leaf], capture_output=True,
			   timeout=60)
	return r.returncode == 0, (r.stdout + r.stderr).decode()


class DevicesTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="dev.test")
		cls.alice = cls.srv.add_user("alice")
		cls.bob = cls.srv.add_user("bob")
		cls.srv.start()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-devices-")

	def register(self, user, token, device, csr, expect=201):
		st, hd, body = self.post("/users/%s/devices" % user, {"device": device, "csr": b64(csr)},
					 token)
		self.assertEqual(st, expect, body[:400])
		return json.loads(body) if body else None

	def post(self, path, obj, token, ctype=JSON):
		data = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
		return self.srv.req("POST", path, body=data, token=token,
				    headers={"Content-Type": ctype})

	def devices(self, user, token):
		st, _, body = self.srv.req("GET", "/users/%s/devices" % user, token=token)
		self.assertEqual(st, 200, body)
		return {d["device"]: d for d in json.loads(body)["devices"]}

	def ca_certs(self):
		st, hd, body = self.srv.req("GET", "/.well-known/aim-ca")
		self.assertEqual(st, 200)
		return [base64.b64decode(c) for c in json.loads(body)["certificates"]]

	# -- registration ---------------------------------------------------
	def test_register_ed25519(self):
		k = Key(self.tmp)
		t0 = time.time()
		doc = self.register("alice", self.alice, "phone", k.csr(cn="anything, ignored"))
		self.assertEqual(doc["device"], "phone")
		leaf = base64.b64decode(doc["certificate"])
		chain = [base64.b64decode(c) for c in doc["chain"]]
		self.assertEqual(len(chain), 1)
		self.assertEqual(chain[0], self.ca_certs()[0], "the chain is the domain's CA")
		text = cert_text(leaf)
		# SAN: exactly the one URI acct:NAME@DOMAIN; nothing of the CSR's subject
		self.assertIn("URI:acct:alice@dev.test", text)
		san = re.search(r"Subject Alternative Name: critical\s*\n\s*(.*)\n", text)
		self.assertIsNotNone(san, text)
		self.assertEqual(san.group(1).strip(), "URI:acct:alice@dev.test")
		self.assertNotIn("anything", text)
		# keyUsage digitalSignature only, critical; not a CA
		ku = re.search(r"Key Usage: critical\s*\n\s*(.*)\n", text)
		self.assertIsNotNone(ku, text)
		self.assertEqual(ku.group(1).strip(), "Digital Signature")
		self.assertIn("CA:FALSE", text)
		self.assertNotIn("Extended Key Usage", text)
		# validity: the default 30 days
		nb, na = cert_dates(leaf)
		self.assertLessEqual(nb, t0 + 2)
		self.assertAlmostEqual(na - t0, 30 * 86400, delta=120)
		na_doc = datetime.datetime.strptime(doc["notAfter"], "%Y-%m-%dT%H:%M:%SZ").replace(
			tzinfo=datetime.timezone.utc).timestamp()
		self.assertEqual(na_doc, na)
		# the certified key is the CSR's key
		self.assertEqual(cert_pubkey(leaf), k.public_der())
		ok, out = verify_chain(self.tmp, leaf, chain)
		self.assertTrue(ok, out)
		d = self.devices("alice", self.alice)["phone"]
		self.assertFalse(d["revoked"])
		self.assertEqual(d["notAfter"], doc["notAfter"])
		self.assertEqual(d["keyPackages"], 0)
		self.assertEqual(d["signatureScheme"], 0x0807)

	def test_register_p256(self):
		k = Key(self.tmp, "p256")
		doc = self.register("alice", self.alice, "laptop-p256", k.csr())
		leaf = base64.b64decode(doc["certificate"])
		self.assertEqual(cert_pubkey(leaf), k.public_der())
		ok, out = verify_chain(self.tmp, leaf, self.ca_certs())
		self.assertTrue(ok, out)
		self.assertEqual(self.devices("alice", self.alice)["laptop-p256"]["signatureScheme"],
				 0x0403)

	def test_register_again_same_key(self):
		k = Key(self.tmp)
		a = self.register("bob", self.bob, "again", k.csr())
		b = self.register("bob", self.bob, "again", k.csr())
		self.assertNotEqual(a["certificate"], b["certificate"], "a fresh leaf (new serial)")

	# -- refusals --------------------------------------------------------
	def test_bad_signature(self):
		csr = bytearray(Key(self.tmp).csr())
		csr[-1] ^= 0x01  # the last byte of the Ed25519 signature
		st, hd, body = self.post("/users/alice/devices", {"device": "badsig", "csr": b64(csr)},
					 self.alice)
		doc = self.assertRefused((st, hd, body), 400, "bad_csr")
		self.assertNotIn("badsig", self.devices("alice", self.alice))
		# malformed DER and not base64 at all
		for csr in (b64(os.urandom(200)), "***not base64***", ""):
			self.assertRefused(self.post("/users/alice/devices",
						     {"device": "badsig", "csr": csr}, self.alice),
					   400, "bad_csr")
		self.assertRefused(self.post("/users/alice/devices", {"device": "badsig"}, self.alice),
				   400, "bad_csr")

	def test_another_users_path(self):
		csr = Key(self.tmp).csr()
		self.assertRefused(self.post("/users/alice/devices", {"device": "evil", "csr": b64(csr)},
					     self.bob), 403)
		self.assertNotIn("evil", self.devices("alice", self.alice))
		self.assertRefused(self.srv.req("GET", "/users/alice/devices", token=self.bob), 403)
		self.register("alice", self.alice, "mine", csr)
		self.assertRefused(self.srv.req("DELETE", "/users/alice/devices/mine", token=self.bob),
				   403)
		self.assertRefused(self.post("/users/alice/devices/mine/renew", {"csr": b64(csr)},
					     self.bob), 403)
		self.assertFalse(self.devices("alice", self.alice)["mine"]["revoked"])
		# no token, a bad token
		self.assertRefused(self.post("/users/alice/devices", {"device": "x", "csr": b64(csr)},
					     None), 401)
		self.assertRefused(self.srv.req("GET", "/users/alice/devices"), 401)
		self.assertRefused(self.srv.req("GET", "/users/alice/devices", token="nope"), 401)

	def test_unsupported_key(self):
		csr = Key(self.tmp, "rsa").csr()
		self.assertRefused(self.post("/users/alice/devices", {"device": "rsa", "csr": b64(csr)},
					     self.alice), 400, "unsupported_key")
		self.assertNotIn("rsa", self.devices("alice", self.alice))

	def test_size_limits(self):
		big = os.urandom(17000)
		self.assertRefused(self.post("/users/alice/devices", {"device": "big", "csr": b64(big)},
					     self.alice), 400, "too_large")
		# a valid CSR past 16 KiB (a subject of many OUs)
		k = Key(self.tmp)
		csr = k.csr(cn="x" + "".join("/OU=%060d" % i for i in range(280)))
		self.assertGreater(len(csr), 16384)
		self.assertRefused(self.post("/users/alice/devices",
					     {"device": "big", "csr": b64(csr)}, self.alice),
				   400, "too_large")
		# the whole body past 64 KiB
		self.assertRefused(self.post("/users/alice/devices",
					     {"device": "big", "csr": "A" * 70000}, self.alice),
				   413, "too_large")
		self.assertNotIn("big", self.devices("alice", self.alice))

	def test_device_id_taken(self):
		self.register("alice", self.alice, "taken", Key(self.tmp).csr())
		other = Key(self.tmp).csr()
		self.assertRefused(self.post("/users/alice/devices", {"device": "taken", "csr": b64(other)},
					     self.alice), 409, "device_exists")
		# bob may use the same id
		self.register("bob", self.bob, "taken", other)
		# the same key under another id of the same user
		k = Key(self.tmp)
		self.register("alice", self.alice, "k1", k.csr())
		self.assertRefused(self.post("/users/alice/devices", {"device": "k2", "csr": b64(k.csr())},
					     self.alice), 409, "device_exists")

	def test_bad_device_id(self):
		csr = Key(self.tmp).csr()
		for bad in ("", "has space", "a/b", "x" * 65, "é", 7, None):
			self.assertRefused(self.post("/users/alice/devices", {"device": bad, "csr": b64(csr)},
						     self.alice), 400, "bad_device")
		self.assertRefused(self.post("/users/alice/devices", b"{not json", self.alice), 400)
		self.assertRefused(self.post("/users/alice/devices", {"device": "d", "csr": b64(csr)},
					     self.alice, ctype="text/plain"), 415)

	# -- renewal, revocation, listing -------------------------------------
	def test_renew(self):
		k1 = Key(self.tmp)
		first = self.register("alice", self.alice, "renewme", k1.csr())
		old_leaf = base64.b64decode(first["certificate"])
		# same key
		st, hd, body = self.post("/users/alice/devices/renewme/renew", {"csr": b64(k1.csr())},
					 self.alice)
		self.assertEqual(st, 200, body)
		doc = json.loads(body)
		self.assertEqual(doc["device"], "renewme")
		self.assertNotEqual(doc["certificate"], first["certificate"])
		# a new key replaces the old one; the old leaf stays valid until it expires
		k2 = Key(self.tmp)
		st, hd, body = self.post("/users/alice/devices/renewme/renew", {"csr": b64(k2.csr())},
					 self.alice)
		self.assertEqual(st, 200, body)
		new_leaf = base64.b64decode(json.loads(body)["certificate"])
		self.assertEqual(cert_pubkey(new_leaf), k2.public_der())
		for leaf in (old_leaf, new_leaf):
			ok, out = verify_chain(self.tmp, leaf, self.ca_certs())
			self.assertTrue(ok, out)
		# the old key is free again: another device may take it
		self.register("alice", self.alice, "oldkey", k1.csr())
		# renewing an unknown device, with a bad CSR, with another device's key
		self.assertRefused(self.post("/users/alice/devices/nosuch/renew", {"csr": b64(k2.csr())},
					     self.alice), 404, "no_such_device")
		bad = bytearray(k2.csr())
		bad[-1] ^= 1
		self.assertRefused(self.post("/users/alice/devices/renewme/renew", {"csr": b64(bad)},
					     self.alice), 400, "bad_csr")
		self.assertRefused(self.post("/users/alice/devices/renewme/renew", {"csr": b64(k1.csr())},
					     self.alice), 409, "device_exists")

	def test_revoke_and_list(self):
		k = Key(self.tmp)
		self.register("bob", self.bob, "gone", k.csr())
		self.register("bob", self.bob, "stays", Key(self.tmp).csr())
		st, hd, body = self.srv.req("DELETE", "/users/bob/devices/gone", token=self.bob)
		self.assertEqual(st, 204, body)
		devs = self.devices("bob", self.bob)
		self.assertTrue(devs["gone"]["revoked"])
		self.assertFalse(devs["stays"]["revoked"])
		for d in devs.values():
			self.assertEqual(set(d), {"device", "notAfter", "revoked", "keyPackages",
						  "signatureScheme"})
		# twice is fine; an unknown one is 404
		st, _, _ = self.srv.req("DELETE", "/users/bob/devices/gone", token=self.bob)
		self.assertEqual(st, 204)
		self.assertRefused(self.srv.req("DELETE", "/users/bob/devices/nosuch", token=self.bob),
				   404, "no_such_device")
		# a revoked device is not renewed, nor registered again, nor its key reused
		self.assertRefused(self.post("/users/bob/devices/gone/renew", {"csr": b64(k.csr())},
					     self.bob), 409, "device_revoked")
		self.assertRefused(self.post("/users/bob/devices", {"device": "gone", "csr": b64(k.csr())},
					     self.bob), 409, "device_revoked")
		self.assertRefused(self.post("/users/bob/devices", {"device": "gone2", "csr": b64(k.csr())},
					     self.bob), 409, "device_exists")

	# -- the CA key ----------------------------------------------------------
	def test_ca_key_file(self):
		cadir = os.path.join(self.srv.data, "ca")
		self.assertEqual(os.stat(cadir).st_mode & 0o777, 0o700)
		keys = [f for f in os.listdir(cadir) if f.endswith(".key")]
		self.assertEqual(keys, ["ca-1.key"])
		path = os.path.join(cadir, "ca-1.key")
		self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
		with open(path) as f:
			pem = f.read()
		self.assertIn("BEGIN PRIVATE KEY", pem)
		der = openssl("pkey", "-in", path, "-outform", "DER")
		seed = der[-32:]  # the Ed25519 private key (RFC 8410 CurvePrivateKey)
		body = "".join(l for l in pem.splitlines() if "-----" not in l)
		# it signed every leaf: its public key is the CA certificate's
		ca_pub = cert_pubkey(self.ca_certs()[0])
		self.assertEqual(openssl("pkey", "-in", path, "-pubout", "-outform", "DER"), ca_pub)
		# never in the database (nor its WAL) or the log
		self.register("alice", self.alice, "keycheck", Key(self.tmp).csr())
		for name in os.listdir(self.srv.data):
			p = os.path.join(self.srv.data, name)
			if not os.path.isfile(p):
				continue
			with open(p, "rb") as f:
				blob = f.read()
			self.assertNotIn(seed, blob, name)
			self.assertNotIn(body.encode(), blob, name)
			self.assertNotIn(body[:40].encode(), blob, name)
		log = self.srv.log_current()
		self.assertNotIn(body[:40], log)
		self.assertNotIn("PRIVATE KEY", log)
		self.srv.check_log_hygiene()

	def test_ca_key_mode_checked(self):
		"""A CA key others may read is not used (nothing is issued with it)."""
		path = os.path.join(self.srv.data, "ca", "ca-1.key")
		os.chmod(path, 0o644)
		try:
			st, hd, body = self.post("/users/alice/devices",
						 {"device": "modecheck", "csr": b64(Key(self.tmp).csr())},
						 self.alice)
			self.assertRefused((st, hd, body), 503, "ca_unavailable")
			self.assertNotIn(b"ca-1.key", body, "the key's path is the operator's business")
			self.assertNotIn("modecheck", self.devices("alice", self.alice))
			self.assertTrue(self.srv.wait_log("may be read by others"))
		finally:
			os.chmod(path, 0o600)
		self.register("alice", self.alice, "modecheck", Key(self.tmp).csr())


class CertDaysTest(AimTestCase):
	"""aimd serve --cert-days N sets the leaves' validity."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="days.test", extra_args=["--cert-days", "3"])
		cls.tok = cls.srv.add_user("carol")
		cls.srv.start()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-days-")

	def test_cert_days(self):
		t0 = time.time()
		st, hd, body = self.srv.req("POST", "/users/carol/devices",
					    body=json.dumps({"device": "d", "csr": b64(Key(self.tmp).csr())}),
					    token=self.tok, headers={"Content-Type": JSON})
		self.assertEqual(st, 201, body)
		nb, na = cert_dates(base64.b64decode(json.loads(body)["certificate"]))
		self.assertAlmostEqual(na - t0, 3 * 86400, delta=120)

	def test_bad_cert_days(self):
		for v in ("0", "-1", "3651", "x"):
			r = run_aimd("serve", "--data", self.srv.data, "--cert-days", v)
			self.assertEqual(r.returncode, 2, (v, r.stderr))


if __name__ == "__main__":
	unittest.main(verbosity=2)
