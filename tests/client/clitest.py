"""clitest: runs the `aim` command for the client tests.

  fed = Domains(("a.test", "b.test"))   # HTTPS servers whose BASE is https://NAME
  aim = Aim(home)                       # one home directory = one device
  r = aim("whoami", "--json")           # CompletedProcess; r.json() the stdout JSON
  aim.ok("stock", "--json")             # the parsed JSON, or AssertionError
  aim.login(srv, "alice", token, device="phone", connect_to=[...], ca_file=...)
"""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest


class Result:
	def __init__(self, p):
		self.returncode = p.returncode
		self.stdout = p.stdout
		self.stderr = p.stderr

	def json(self):
		return json.loads(self.stdout)

	def __repr__(self):
		return "aim exit %d, stdout %r, stderr %r" % (self.returncode, self.stdout[:2000],
							     self.stderr[:2000])


class Aim:
	def __init__(self, home, env=None):
		self.home = home
		self.env = dict(os.environ)
		if env:
			self.env.update(env)

	def __call__(self, *args, timeout=120, stdin=None, timeout_ok=None):
		"""Runs aim ARGS; timeout_ok: stop it (SIGTERM) after that many
		seconds and return what it printed (listen, chat)."""
		argv = [aimtest.aim_path(), "--home", self.home] + [str(a) for a in args]
		if timeout_ok is None:
			p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
					   text=True, timeout=timeout, env=self.env, input=stdin)
		else:
			proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
						stdin=subprocess.PIPE, text=True, env=self.env)
			try:
				out, err = proc.communicate(stdin, timeout=timeout_ok)
			except subprocess.TimeoutExpired:
				proc.terminate()
				out, err = proc.communicate(timeout=30)
			p = subprocess.CompletedProcess(argv, proc.returncode, out, err)
		r = Result(p)
		rep = aimtest.sanitizer_reports(p.stderr)
		if rep:
			raise AssertionError("sanitizer report from aim %s:\n%s" % (args, rep))
		return r

	def ok(self, *args, **kw):
		r = self(*args, **kw)
		if r.returncode != 0:
			raise AssertionError("aim %s failed: %r" % (" ".join(map(str, args)), r))
		if "--json" in args:
			return r.json()
		return r.stdout

	def login(self, srv, user, token, device="phone", connect_to=(), ca_file=None, keys=5):
		args = ["login", srv.base, "--user", user, "--token", token, "--device", device,
			"--keys", keys, "--json"]
		for m in connect_to:
			args += ["--connect-to", m]
		if ca_file:
			args += ["--ca-file", ca_file]
		return self.ok(*args)

	def popen(self, *args):
		argv = [aimtest.aim_path(), "--home", self.home] + [str(a) for a in args]
		return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
					stdin=subprocess.PIPE, text=True, env=self.env)


class Domains(aimtest.Federation):
	"""HTTPS servers whose BASE is https://NAME (port 443, as in production:
	acct:bob@b.test, https://b.test/users/bob and bob's certificate name one
	domain). Each listens on a free loopback port; every process reaches
	NAME:443 through a --connect-to mapping."""

	def __init__(self, names=("a.test", "b.test")):
		self.dir = tempfile.mkdtemp(prefix="aimtest-cli-")
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

	def start_all(self):
		self.start(extra_args=lambda srv: fedtest.serve_args(self))

	def route(self, name):
		"""The one mapping a device of NAME gets: its own server only."""
		return ["%s:443:127.0.0.1:%d" % (name, self.servers[name].port)]
