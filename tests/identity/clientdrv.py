"""clientdrv: runs tests/identity/client_driver.c (the client library over
JSON lines) for the identity tests. One Device is one driver process, one
device, its state in HOME/client.db.

  dev = Device(home, server=srv.url, user="alice", token=tok, device="phone",
               ca_file=..., connect_to=[...])
  dev.ok("register")            # the answer, or AssertionError with the error
  dev.call("publish", n=3)      # the answer as it came ({"ok": false, ...} too)
"""

import base64
import json
import os
import subprocess

import aimtest


def driver_path():
	return os.path.join(aimtest.bin_dir(), "client_driver")


class Device:
	def __init__(self, home, create=True, ca_file=None, connect_to=(), **cfg):
		self.home = home
		self.proc = subprocess.Popen([driver_path()], stdin=subprocess.PIPE,
					     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
					     text=True)
		args = {"home": home, "connect_to": list(connect_to)}
		if ca_file:
			args["ca_file"] = ca_file
		if create:
			args.update(cfg)
			self.opened = self.call("init", **args)
		else:
			self.opened = self.call("open", **args)

	def call(self, cmd, **args):
		req = dict(args)
		req["cmd"] = cmd
		self.proc.stdin.write(json.dumps(req) + "\n")
		self.proc.stdin.flush()
		line = self.proc.stdout.readline()
		if not line:
			raise AssertionError("client_driver died on %s: %s" %
					     (cmd, self.proc.stderr.read()))
		return json.loads(line)

	def ok(self, cmd, **args):
		r = self.call(cmd, **args)
		if not r.get("ok"):
			raise AssertionError("%s failed: %s" % (cmd, json.dumps(r)))
		return r

	def dump(self):
		return self.ok("dump")["entries"]

	def close(self):
		if self.proc.stdout.closed:
			return
		if self.proc.poll() is None:
			try:
				self.proc.stdin.write('{"cmd": "quit"}\n')
				self.proc.stdin.flush()
			except BrokenPipeError:
				pass
			try:
				self.proc.wait(10)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
		err = self.proc.stderr.read()
		self.proc.stdout.close()
		self.proc.stdin.close()
		self.proc.stderr.close()
		rep = aimtest.sanitizer_reports(err)
		if rep:
			raise AssertionError("sanitizer report from client_driver:\n" + rep)


def mls_varint(b, i):
	"""An MLS variable-length integer (RFC 9420 section 2.1.2) at b[i]."""
	first = b[i]
	n = 1 << (first >> 6)
	v = first & 0x3F
	for k in range(1, n):
		v = (v << 8) | b[i + k]
	return v, i + n


def kp_private_keys(entry_json):
	"""The three private keys (init, encryption, signature) of a "kp/"
	entry of the client's store (mls_key_package_priv encoding)."""
	raw = base64.b64decode(json.loads(entry_json)["private"])
	i = 2
	keys = []
	for _ in range(3):
		n, i = mls_varint(raw, i)
		keys.append(raw[i:i + n])
		i += n
	return keys
