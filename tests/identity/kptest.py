"""kptest: devices for the KeyPackage directory tests, made with the
kp_tool helper program (tests/identity/kp_tool.c): an MLS signature key,
its CSR registered with aimd (POST /users/NAME/devices), and KeyPackages
with the x509 credential the server issued (good ones and bad ones)."""

import json
import os
import shutil
import subprocess
import tempfile

import aimtest

JSON = "application/json"


def kp_tool(*args):
	exe = os.path.join(aimtest.bin_dir(), "kp_tool")
	r = subprocess.run([exe] + [str(a) for a in args], stdout=subprocess.PIPE,
			   stderr=subprocess.PIPE, text=True, timeout=300)
	if r.returncode != 0:
		raise AssertionError("kp_tool %s: %s" % (" ".join(map(str, args[:3])), r.stderr))
	return r.stdout


def kp_info(b64):
	return json.loads(kp_tool("info", b64))


class Device:
	"""A device of user on srv: registered at once (unless register=False)."""

	def __init__(self, srv, user, name, suite=1, register=True):
		self.srv, self.user, self.name = srv, user, name
		self.home = tempfile.mkdtemp(prefix="kpdev-")
		self.csr = kp_tool("init", self.home, suite).strip()
		self.cert = None
		if register:
			self.register()

	def register(self, token=None):
		st, hd, doc = self.srv.post("/users/%s/devices" % self.user,
					    {"device": self.name, "csr": self.csr},
					    token=token or self.srv.tokens[self.user], content_type=JSON)
		if st != 201:
			raise AssertionError("device %s of %s: %d %r" % (self.name, self.user, st, doc))
		self.cert = doc["certificate"]
		kp_tool("cert", self.home, doc["certificate"], *doc["chain"])
		return doc

	def revoke(self):
		st, hd, body = self.srv.req("DELETE", "/users/%s/devices/%s" % (self.user, self.name),
					    token=self.srv.tokens[self.user])
		if st != 204:
			raise AssertionError("revoke %s: %d %r" % (self.name, st, body))

	def kps(self, n=1, *flags):
		return kp_tool("kp", self.home, n, *flags).split()

	def foreign(self, san):
		kp_tool("foreign", self.home, san)

	def upload(self, n=3, last_resort=True, token=None):
		"""Uploads n KeyPackages (and a last-resort one); returns them."""
		kps = self.kps(n) if n else []
		body = {"keyPackages": kps}
		lr = None
		if last_resort:
			lr = self.kps(1)[0]
			body["lastResort"] = lr
		st, hd, doc = self.srv.post("/users/%s/keyPackages" % self.user, body,
					    token=token or self.srv.tokens[self.user], content_type=JSON)
		if st != 201:
			raise AssertionError("upload for %s: %d %r" % (self.user, st, doc))
		return kps, lr

	def cleanup(self):
		shutil.rmtree(self.home, ignore_errors=True)


def stock(srv, user):
	st, hd, doc = srv.get("/users/%s/keyPackages/stock" % user, token=srv.tokens[user])
	if st != 200:
		raise AssertionError("stock of %s: %d %r" % (user, st, doc))
	return {d["device"]: (d["available"], d["lastResort"]) for d in doc["devices"]}


def upload(srv, user, kps, last_resort=None, token=None):
	body = {"keyPackages": kps}
	if last_resort is not None:
		body["lastResort"] = last_resort
	return srv.post("/users/%s/keyPackages" % user, body, token=token or srv.tokens[user],
			content_type=JSON)


def claim(srv, user, handles, suites=(1,)):
	"""The client API's claim: POST /users/USER/claim; returns the results."""
	st, hd, doc = srv.post("/users/%s/claim" % user,
			       {"handles": list(handles), "cipherSuites": list(suites)},
			       token=srv.tokens[user], content_type=JSON, retry_429=False)
	if st != 200:
		raise AssertionError("claim by %s: %d %r" % (user, st, doc))
	return doc["results"]


def collection_items(srv, user):
	st, hd, coll = srv.get("/users/%s/keyPackages" % user)
	if st != 200:
		raise AssertionError("keyPackages of %s: %d" % (user, st))
	items = []
	url = coll["first"]
	for _ in range(100):
		st, hd, page = srv.get(url)
		got = page.get("orderedItems", [])
		items += got
		if not got or "next" not in page:
			break
		url = page["next"]
	return coll["totalItems"], items
