"""Helpers of the channels tests: the MLS driver (tests/interop/mls_driver.c)
over JSON lines, MLS objects as they go on the wire, and the posts."""

import base64
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest

JSON = "application/json"


class Mls:
	"""One mls_driver process: many clients, each one identity."""

	def __init__(self):
		self.p = subprocess.Popen([os.path.join(aimtest.bin_dir(), "mls_driver")],
					  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
		self.n = 0
		self.lock = threading.Lock()

	def __call__(self, cmd, check=True, **kw):
		with self.lock:
			self.n += 1
			kw.update(id=self.n, cmd=cmd)
			self.p.stdin.write(json.dumps(kw) + "\n")
			self.p.stdin.flush()
			r = json.loads(self.p.stdout.readline())
		if check and not r.get("ok"):
			raise AssertionError("mls_driver %s: %r" % (cmd, r))
		return r

	def close(self):
		try:
			self.p.stdin.write(json.dumps({"id": 0, "cmd": "quit"}) + "\n")
			self.p.stdin.close()
		except (BrokenPipeError, ValueError):
			pass
		self.p.wait(timeout=10)


def obj(kind, hexbytes):
	"""A SWICG MLS object of the hex bytes."""
	return {"type": kind, "mediaType": "message/mls", "encoding": "base64",
		"content": base64.b64encode(bytes.fromhex(hexbytes)).decode()}


def unobj(o):
	return base64.b64decode(o["content"]).hex()
