"""Cross-domain acceptance test of issue 10 (identity), over a local
federation of a.test, b.test and c.test with TLS: a device of alice@a.test
claims bob@b.test's KeyPackages (bob has two devices: two come back, one
each), verifies bob's x509 credentials against b.test's CA fetched through
a.test's proxy, and refuses a KeyPackage whose certificate c.test's CA
issued for acct:bob@b.test (made with c.test's CA key file). Alice's device
is given a route to a.test only: it never reaches b.test or c.test itself,
everything from there comes through its home server."""

import base64
import glob
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from clientdrv import Device


class Domains(Federation):
	"""a.test, b.test and c.test whose BASE is https://NAME (port 443, as in
	production), so that acct:bob@b.test, bob's actor https://b.test/users/bob
	and the SAN of his certificate all name the same domain. Each listens on
	a free loopback port; every process reaches NAME:443 through a
	--connect-to mapping, as DNS and a port-443 listener would."""

	def __init__(self, names=("a.test", "b.test", "c.test")):
		self.dir = tempfile.mkdtemp(prefix="aimtest-idfed-")
		self.ca = aimtest.make_ca(os.path.join(self.dir, "ca"))
		self.servers = {}
		try:
			for name in names:
				port, res = aimtest.reserve_port()
				tls = aimtest.make_cert(self.ca, os.path.join(self.dir, "ca"), name)
				self.servers[name] = aimtest.Server(domain=name, port=port, url=False,
								    tls=tls, ca=self.ca,
								    reservation=res)
		except Exception:
			self.cleanup()
			raise

	def connect_to(self):
		return ["%s:443:127.0.0.1:%d" % (n, s.port) for n, s in self.servers.items()]


class IdentityFederation(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains()
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a, cls.b, cls.c = cls.fed["a.test"], cls.fed["b.test"], cls.fed["c.test"]
		cls.alice_tok = cls.a.add_user("alice")
		cls.bob_tok = cls.b.add_user("bob")
		cls.c.add_user("carol")
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(cls.fed))
		cls.tmp = cls.fed.dir

	def device(self, srv, user, token, device):
		# a route to the device's own server, and to nothing else
		own = ["%s:443:127.0.0.1:%d" % (srv.domain, srv.port)]
		d = Device(os.path.join(self.tmp, "%s-%s" % (user, device)), server=srv.base,
			   user=user, token=token, device=device, ca_file=self.fed.ca.cert,
			   connect_to=own)
		self.addCleanup(d.close)
		self.assertTrue(d.opened["ok"], d.opened)
		return d

	def c_ca(self):
		"""c.test's CA key file (in its data directory) and certificate."""
		keys = sorted(glob.glob(os.path.join(self.c.data, "ca", "ca-*.key")))
		self.assertTrue(keys, "no CA key file in c.test's data directory")
		st, _, doc = self.c.get("/.well-known/aim-ca", accept="application/json")
		self.assertEqual(st, 200, doc)
		self.assertEqual(doc["domain"], "c.test")
		return keys[-1], doc["certificates"][0]

	def test_claim_verify_refuse(self):
		alice = self.device(self.a, "alice", self.alice_tok, "laptop")
		reg = alice.ok("register")
		self.assertEqual(reg["acct"], "acct:alice@a.test")
		bob1 = self.device(self.b, "bob", self.bob_tok, "phone")
		bob2 = self.device(self.b, "bob", self.bob_tok, "tablet")
		for d in (bob1, bob2):
			r = d.ok("register")
			self.assertEqual(r["acct"], "acct:bob@b.test")
			self.assertEqual(d.ok("publish", n=3, last_resort=True)["accepted"], 4)

		# the claim, through a.test
		res = alice.ok("claim", handles=["acct:bob@b.test"])["results"]
		self.assertEqual(len(res), 1, res)
		self.assertEqual(res[0]["handle"], "acct:bob@b.test")
		self.assertEqual(res[0]["error"], "", res[0])
		kps = res[0]["keyPackages"]
		self.assertEqual(len(kps), 2, kps)
		self.assertEqual(len({k["device"] for k in kps}), 2, kps)
		for k in kps:
			self.assertTrue(k["valid"], k)
			self.assertEqual(k["check"], "x509", k)
			self.assertEqual(k["acct"], "acct:bob@b.test")
			self.assertFalse(k["lastResort"], k)
		seen = set()
		for k in kps:
			v = alice.ok("verify", key_package=k["content"], acct="acct:bob@b.test")
			self.assertTrue(v["accepted"], v)
			self.assertEqual(v["check"], "x509")
			self.assertTrue(v["hook_accepted"], v)
			self.assertIn("b.test", v["reason"])
			seen.add(k["content"])
		self.assertEqual(len(seen), 2)
		# bob's stock went down by one on each device
		self.assertEqual(bob1.ok("stock")["available"], 2)
		self.assertEqual(bob2.ok("stock")["available"], 2)

		# a certificate c.test issued for acct:bob@b.test: refused, and why
		key_file, c_cert = self.c_ca()
		forged = alice.ok("forge", ca_key_file=key_file, ca_cert=c_cert,
				  san="acct:bob@b.test")["key_package"]
		for acct in ("acct:bob@b.test", None):
			args = {"key_package": forged}
			if acct:
				args["acct"] = acct
			v = alice.ok("verify", **args)
			self.assertFalse(v["accepted"], v)
			self.assertEqual(v["check"], "none", v)
			self.assertEqual(v["code"], "verify", v)
			self.assertIn("not certified by the CA of b.test", v["reason"], v)
			self.assertFalse(v["hook_accepted"], v)
			self.assertEqual(v["hook_check"], "none", v)
		# the same certificate is what c.test's CA would vouch for under its
		# own name only: for acct:bob@b.test it never passes
		v = alice.ok("verify", key_package=forged, acct="acct:carol@c.test")
		self.assertFalse(v["accepted"], v)
		self.assertIn("speaks for acct:bob@b.test", v["reason"], v)

		# a basic credential for bob that bob's actor does not list: refused
		# after a.test fetched his actor and keyPackages collection
		bk = alice.ok("basic_key_package", identity="acct:bob@b.test")
		v = alice.ok("verify", basic="acct:bob@b.test", signature_key=bk["signature_key"],
			     acct="acct:bob@b.test")
		self.assertFalse(v["accepted"], v)
		self.assertEqual(v["check"], "none")
		self.assertIn("lists no KeyPackage", v["reason"], v)

		# the CA documents are cached in alice's state, fetched through a.test
		entries = alice.dump()
		self.assertIn("ca/b.test", entries)
		self.assertEqual(entries["actor/acct:bob@b.test"], "https://b.test/users/bob")

	def test_verify_through_proxy_only(self):
		"""Alice verifies a b.test credential without any claim: the CA
		document comes through a.test's proxy (her device has no route to
		b.test)."""
		alice = self.device(self.a, "alice", self.alice_tok, "desk")
		alice.ok("register")
		bob = self.device(self.b, "bob", self.bob_tok, "watch")
		bob.ok("register")
		# bob's own credential as a forged-free KeyPackage: made with b's CA
		keys = sorted(glob.glob(os.path.join(self.b.data, "ca", "ca-*.key")))
		st, _, doc = self.b.get("/.well-known/aim-ca", accept="application/json")
		self.assertEqual(st, 200)
		good = alice.ok("forge", ca_key_file=keys[-1], ca_cert=doc["certificates"][0],
				san="acct:bob@b.test")["key_package"]
		v = alice.ok("verify", key_package=good, acct="acct:bob@b.test")
		self.assertTrue(v["accepted"], v)
		self.assertEqual(v["check"], "x509")


if __name__ == "__main__":
	aimtest.main()
