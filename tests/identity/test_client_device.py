"""The client library against one aimd (issue 10, "The client library"):
a device registers (CSR -> X.509 leaf for acct:alice@...), publishes
KeyPackages with a last-resort one, sees its stock and tops up below a
threshold. Its state file is mode 0600 and holds the private keys (the
signature key, each KeyPackage's init and encryption keys); the server's
database holds none of them. Refusals come back with the server's code."""

import base64
import glob
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase
from clientdrv import Device, kp_private_keys


def server_files_bytes(srv):
	"""Every byte of the server's data directory (database, WAL, CA key
	files, logs)."""
	out = b""
	for path in glob.glob(os.path.join(srv.data, "**"), recursive=True):
		if os.path.isfile(path):
			with open(path, "rb") as f:
				out += f.read()
	for p in (srv.out_path, srv.err_path):
		if p and os.path.exists(p):
			with open(p, "rb") as f:
				out += f.read()
	return out


class ClientDevice(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="a.test")
		cls.token = cls.srv.add_user("alice")
		cls.srv.add_user("amy")
		cls.srv.start()
		cls.tmp = cls.srv.tmp

	def device(self, name, device="phone", token=None, user="alice", create=True):
		d = Device(os.path.join(self.tmp, name), create=create, server=self.srv.url,
			   user=user, token=token or self.token, device=device)
		self.addCleanup(d.close)
		return d

	def test_register_publish_stock_topup(self):
		d = self.device("alice-phone")
		self.assertTrue(d.opened["ok"], d.opened)
		# nothing to publish with before a credential
		r = d.call("publish", n=1)
		self.assertFalse(r["ok"])
		self.assertEqual(r["code"], "state")

		reg = d.ok("register")
		self.assertTrue(reg["acct"].startswith("acct:alice@"), reg)
		self.assertTrue(reg["certificate"])
		self.assertGreater(reg["notAfter"], 0)

		pub = d.ok("publish", n=5, last_resort=True)
		self.assertEqual(pub["accepted"], 6)
		st = d.ok("stock")
		self.assertEqual(st["available"], 5)
		self.assertTrue(st["lastResort"])
		self.assertEqual(st["stored"], 6)

		# below the threshold: up to the target
		top = d.ok("topup", threshold=8, target=10)
		self.assertEqual(top["published"], 5)
		self.assertEqual(d.ok("stock")["available"], 10)
		# at or above it: nothing
		self.assertEqual(d.ok("topup", threshold=3, target=10)["published"], 0)
		self.assertEqual(d.ok("stock")["available"], 10)

		# the server's device list knows the device and its stock
		st_, _, body = self.srv.get("/users/alice/devices", token=self.token,
					   accept="application/json")
		self.assertEqual(st_, 200, body)
		devs = {x["device"]: x for x in body["devices"]}
		self.assertIn("phone", devs)
		self.assertFalse(devs["phone"]["revoked"])

		# the state file: mode 0600, the private keys in it
		path = os.path.join(self.tmp, "alice-phone", "client.db")
		self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
		entries = d.dump()
		dev = json.loads(entries["device"])
		sk = base64.b64decode(dev["signaturePrivateKey"])
		self.assertEqual(len(sk), 32)
		kps = [v for k, v in entries.items() if k.startswith("kp/")]
		self.assertEqual(len(kps), 11)
		secrets = [sk]
		for e in kps:
			keys = kp_private_keys(e)
			self.assertEqual(keys[2], sk)  # every KeyPackage signs with the device key
			secrets += keys[:2]
		with open(path, "rb") as f:
			state = f.read()
		self.assertTrue(base64.b64encode(sk) in state, "the state file lacks the private key")

		# ... and none of them anywhere on the server's side (the public key is there)
		blob = server_files_bytes(self.srv)
		pk = base64.b64decode(dev["signatureKey"])
		for s in secrets:
			for form in (s, base64.b64encode(s), s.hex().encode()):
				self.assertFalse(form in blob, "a private key is in the server's files")
		self.assertTrue(pk in blob or base64.b64encode(pk) in blob,
				"the server should hold the device's public key")

		# the state survives the process: a new driver opens the same home
		d.close()
		d2 = self.device("alice-phone", create=False)
		self.assertTrue(d2.opened["ok"], d2.opened)
		info = d2.ok("info")
		self.assertEqual(info["acct"], reg["acct"])
		self.assertEqual(info["certificate"], reg["certificate"])
		self.assertEqual(d2.ok("stock")["stored"], 11)

	def test_state_file_readable_by_others_is_refused(self):
		d = self.device("loose")
		d.close()
		path = os.path.join(self.tmp, "loose", "client.db")
		self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
		os.chmod(path, 0o644)
		d2 = self.device("loose", create=False)
		self.assertFalse(d2.opened["ok"])
		self.assertEqual(d2.opened["code"], "denied")
		self.assertIn("0600", d2.opened["error"])

	def test_refusals_carry_the_server_code(self):
		# a wrong token
		bad = self.device("bad-token", device="tablet", token="not-a-token")
		r = bad.call("register")
		self.assertFalse(r["ok"])
		self.assertEqual(r["status"], 401, r)
		# another user's path: the token of amy cannot register for alice
		amy_tok = self.srv.tokens["amy"]
		other = self.device("amy-as-alice", device="tablet", token=amy_tok)
		r = other.call("register")
		self.assertFalse(r["ok"])
		self.assertEqual(r["status"], 403, r)
		# a device id taken by another key
		first = self.device("first-laptop", device="laptop")
		first.ok("register")
		second = self.device("second-laptop", device="laptop")
		r = second.call("register")
		self.assertFalse(r["ok"])
		self.assertEqual(r["status"], 409, r)
		self.assertEqual(r["server_error"], "device_exists", r)
		# renewal with the same key
		first.ok("renew")

	def test_renew_with_a_new_key(self):
		d = self.device("alice-renew", device="renewer")
		old = d.ok("register")
		d.ok("publish", n=1)
		new = d.ok("renew", new_key=True)
		self.assertNotEqual(new["signature_key"], old["signature_key"])
		self.assertNotEqual(new["certificate"], old["certificate"])
		self.assertEqual(new["acct"], old["acct"])
		# KeyPackages of the new key are accepted; the old private parts stay
		self.assertEqual(d.ok("publish", n=2)["accepted"], 2)
		self.assertEqual(d.ok("stock")["stored"], 3)


if __name__ == "__main__":
	aimtest.main()
