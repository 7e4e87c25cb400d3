"""aimd command line: --version/--help, argument errors (exit 2, one line),
init twice, user add (names, duplicates, token as last line), serve refusals."""

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import (AimTestCase, Server, ServerError, aimd_path, free_port,
		     get_json, note, run_aimd, sanitizer_reports)


class CliTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-cli-")
		cls.data = os.path.join(cls.tmp, "data")
		r = run_aimd("init", "--data", cls.data, "--domain", "cli.test",
			     "--url", "http://127.0.0.1:1")
		assert r.returncode == 0, r.stderr

	@classmethod
	def tearDownClass(cls):
		shutil.rmtree(cls.tmp, ignore_errors=True)

	def fresh_dir(self):
		return tempfile.mkdtemp(prefix="d", dir=self.tmp)

	def assertClean(self, r):
		self.assertEqual(sanitizer_reports(r.stdout + r.stderr), "")

	def assertUsageError(self, *args):
		"""Exit status 2 and exactly one non-empty line on stderr."""
		r = run_aimd(*args)
		self.assertEqual(r.returncode, 2, "aimd %s -> %d\nstdout %r\nstderr %r" %
				 (" ".join(args), r.returncode, r.stdout, r.stderr))
		lines = [l for l in r.stderr.splitlines() if l.strip()]
		self.assertEqual(len(lines), 1, "aimd %s: stderr not one line: %r" %
				 (" ".join(args), r.stderr))
		self.assertClean(r)
		return lines[0]

	# -- informational --------------------------------------------------
	def test_version(self):
		r = run_aimd("--version")
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertRegex(r.stdout, r"\d+\.\d+")
		self.assertIn("aim", r.stdout.lower())

	def test_help(self):
		r = run_aimd("--help")
		self.assertEqual(r.returncode, 0, r.stderr)
		for word in ("init", "serve", "user", "--data", "--domain", "--listen",
			     "--tls-cert", "--tls-key", "--url"):
			self.assertIn(word, r.stdout, "--help does not mention " + word)

	def test_command_help(self):
		"""`aimd CMD --help` prints CMD's own options, exit 0, wherever --help is."""
		want = {
			("init",): ("--data", "--domain", "--url"),
			("serve",): ("--listen", "--tls-cert", "--tls-key", "--max-body", "--rate-limit",
				     "--rate-burst", "--auth-fail-limit", "--inbox-host-rate",
				     "--inbox-host-concurrency", "--connect-to", "--ca-file",
				     "--allow-private-addresses", "--retry-base-ms", "--retry-max-ms",
				     "--retry-expire-s", "--delivery-workers", "--delivery-per-host",
				     "--breaker-threshold", "--breaker-cooldown-ms", "--log-level"),
			("user",): ("user add", "user token", "user set", "user list", "user tokens",
				    "user revoke", "user delete", "--yes"),
			("user", "add"): ("user add", "NAME"),
			("deliveries",): ("--data", "state"),
		}
		for cmd, words in want.items():
			for argv in (cmd + ("--help",), cmd + ("-h",), cmd + ("--data", "x", "--help"),
				     ("help",) + cmd[:1]):
				r = run_aimd(*argv)
				self.assertEqual(r.returncode, 0, "aimd %s: %s" % (" ".join(argv), r.stderr))
				self.assertEqual(r.stderr, "")
				for w in words:
					self.assertIn(w, r.stdout, "aimd %s lacks %s" % (" ".join(argv), w))
		# serve's help is serve's, not everything
		r = run_aimd("serve", "--help")
		self.assertNotIn("--domain", r.stdout)
		self.assertNotIn("manual-approval", r.stdout)

	def test_serve_help_options_are_accepted(self):
		"""Every option `aimd serve --help` lists is one serve takes."""
		import re
		r = run_aimd("serve", "--help")
		opts = sorted(set(re.findall(r"(--[a-z][a-z-]+)", r.stdout)) - {"--help"})
		self.assertGreaterEqual(len(opts), 20, opts)
		for o in opts:
			args = ["serve", "--data", self.fresh_dir() + "/none", o]
			if o != "--allow-private-addresses":
				args.append({"--listen": "127.0.0.1:1", "--connect-to": "a:1:127.0.0.1:1",
					     "--log-level": "warn"}.get(o, "1"))
			if o in ("--tls-cert", "--tls-key"):
				args += ["--tls-key" if o == "--tls-cert" else "--tls-cert", "x"]
			r = run_aimd(*args)
			self.assertNotIn("unknown option", r.stderr, "%s: %s" % (o, r.stderr))
			self.assertNotEqual(r.returncode, 0)	# the data directory does not exist

	def test_user_lists_subcommands(self):
		subs = ("add", "token", "set", "list", "tokens", "revoke", "delete")
		line = self.assertUsageError("user")
		for sub in subs:
			self.assertIn(sub, line)
		line = self.assertUsageError("user", "frob", "--data", self.data, "zed")
		for sub in subs:
			self.assertIn(sub, line)

	# -- argument errors --------------------------------------------------
	def test_no_arguments(self):
		self.assertUsageError()

	def test_unknown_command(self):
		self.assertUsageError("frobnicate")

	def test_unknown_flags(self):
		self.assertUsageError("--bogus")
		self.assertUsageError("serve", "--data", self.data, "--bogus")
		self.assertUsageError("init", "--data", self.fresh_dir() + "/x",
				      "--domain", "x.test", "--frob", "1")
		self.assertUsageError("user", "add", "--data", self.data, "--nope", "zed")
		# stray arguments and unknown subcommands
		self.assertUsageError("user", "add", "--data", self.data, "zed", "zod")
		self.assertUsageError("serve", "--data", self.data, "extra")
		self.assertUsageError("user", "frob", "--data", self.data, "zed")
		self.assertUsageError("user")

	def test_missing_data(self):
		self.assertUsageError("serve")
		self.assertUsageError("serve", "--listen", "127.0.0.1:%d" % free_port())
		self.assertUsageError("init", "--domain", "x.test")
		self.assertUsageError("user", "add", "zed")

	def test_missing_values(self):
		self.assertUsageError("serve", "--data")
		self.assertUsageError("init", "--data", self.fresh_dir() + "/x", "--domain")
		self.assertUsageError("init", "--data", self.fresh_dir() + "/x")
		self.assertUsageError("user", "add", "--data", self.data)

	def test_bad_listen_values(self):
		for bad in ("notaport", "127.0.0.1:", "127.0.0.1:abc", "127.0.0.1:70000",
			    "127.0.0.1:-1", "999.1.1.1:80", "[::1", ":::", ""):
			with self.subTest(listen=bad):
				self.assertUsageError("serve", "--data", self.data,
						      "--listen", bad)

	def test_tls_cert_without_key(self):
		r = run_aimd("serve", "--data", self.data, "--listen",
			     "127.0.0.1:%d" % free_port(), "--tls-cert", "/nonexistent.crt")
		self.assertNotEqual(r.returncode, 0)
		self.assertTrue(r.stderr.strip())

	# -- init ---------------------------------------------------------------
	def test_init_twice_refused(self):
		d = os.path.join(self.fresh_dir(), "data")
		r = run_aimd("init", "--data", d, "--domain", "twice.test")
		self.assertEqual(r.returncode, 0, r.stderr)
		r = run_aimd("init", "--data", d, "--domain", "twice.test")
		self.assertNotEqual(r.returncode, 0, "second init succeeded: " + r.stdout)
		self.assertTrue(r.stderr.strip(), "no error message")
		r = run_aimd("init", "--data", d, "--domain", "other.test")
		self.assertNotEqual(r.returncode, 0)
		self.assertClean(r)

	def test_bad_domain_or_url(self):
		for dom in ("", "a b", "bad/domain", "x@y"):
			with self.subTest(domain=dom):
				r = run_aimd("init", "--data", self.fresh_dir() + "/x",
					     "--domain", dom)
				self.assertNotEqual(r.returncode, 0, "domain %r accepted" % dom)
		for url in ("ftp://x.test", "not a url", "http://"):
			with self.subTest(url=url):
				r = run_aimd("init", "--data", self.fresh_dir() + "/x",
					     "--domain", "x.test", "--url", url)
				self.assertNotEqual(r.returncode, 0, "url %r accepted" % url)

	def test_user_add_on_missing_dir(self):
		r = run_aimd("user", "add", "--data", self.fresh_dir() + "/none", "zed")
		self.assertNotEqual(r.returncode, 0)
		self.assertTrue(r.stderr.strip())

	def test_serve_uninitialised_dir(self):
		d = self.fresh_dir()
		r = run_aimd("serve", "--data", d + "/none", "--listen",
			     "127.0.0.1:%d" % free_port(), timeout=30)
		self.assertNotEqual(r.returncode, 0)
		self.assertTrue(r.stderr.strip())

	# -- users ----------------------------------------------------------------
	def test_user_add_token_is_last_line(self):
		r = run_aimd("user", "add", "--data", self.data, "tok1")
		self.assertEqual(r.returncode, 0, r.stderr)
		lines = [l for l in r.stdout.splitlines() if l.strip()]
		tok = lines[-1].strip()
		self.assertRegex(tok, r"^[A-Za-z0-9_\-\.~+/=]{32,}$")
		r2 = run_aimd("user", "add", "--data", self.data, "tok2")
		self.assertEqual(r2.returncode, 0, r2.stderr)
		tok2 = [l for l in r2.stdout.splitlines() if l.strip()][-1].strip()
		self.assertNotEqual(tok, tok2)
		# no private key material on the console
		for out in (r.stdout, r.stderr, r2.stdout, r2.stderr):
			self.assertNotIn("PRIVATE KEY", out)

	def test_user_add_existing_refused(self):
		r = run_aimd("user", "add", "--data", self.data, "dup")
		self.assertEqual(r.returncode, 0, r.stderr)
		r = run_aimd("user", "add", "--data", self.data, "dup")
		self.assertNotEqual(r.returncode, 0, "duplicate user accepted")
		self.assertEqual(r.returncode, 1, "issue: existing name -> exit 1")
		self.assertTrue(r.stderr.strip())

	def test_bad_user_names(self):
		bad = ["", "Alice", "ALICE", "-alice", ".alice", "_alice", "al ice",
		       "al/ice", "al@ice", "al:ice", "a" * 65, "\u00e5lice", "al\nice",
		       "al%ice", "..", ".", "al\tice", "al*ce"]
		for name in bad:
			with self.subTest(name=name):
				r = run_aimd("user", "add", "--data", self.data, name)
				self.assertNotEqual(r.returncode, 0,
						    "bad name %r accepted" % name)
				self.assertIn(r.returncode, (1, 2))
				self.assertTrue(r.stderr.strip())
				self.assertClean(r)

	def test_data_dir_private(self):
		"""Keys live in the data dir: nothing in it is readable by others."""
		d = os.path.join(self.fresh_dir(), "data")
		self.assertEqual(run_aimd("init", "--data", d, "--domain", "p.test").returncode, 0)
		self.assertEqual(run_aimd("user", "add", "--data", d, "alice").returncode, 0)
		for root, dirs, files in os.walk(d):
			for name in [root] + [os.path.join(root, f) for f in files]:
				mode = os.stat(name).st_mode & 0o777
				self.assertEqual(mode & 0o007, 0, "%s has mode %o" % (name, mode))

	def test_tokens_stored_hashed(self):
		"""The issue: tokens are stored hashed; the plain token is nowhere
		in the data directory."""
		d = os.path.join(self.fresh_dir(), "data")
		self.assertEqual(run_aimd("init", "--data", d, "--domain", "h.test").returncode, 0)
		toks = []
		for name in ("alice", "bob"):
			r = run_aimd("user", "add", "--data", d, name)
			self.assertEqual(r.returncode, 0, r.stderr)
			toks.append(r.stdout.split()[-1])
		r = run_aimd("user", "token", "--data", d, "alice")
		if r.returncode == 0:
			toks.append(r.stdout.split()[-1])
		for root, dirs, files in os.walk(d):
			for f in files:
				with open(os.path.join(root, f), "rb") as fh:
					data = fh.read()
				for t in toks:
					self.assertNotIn(t.encode(), data, "plain token in " + f)
					try:
						raw = base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
					except ValueError:
						continue
					if len(raw) >= 16:
						self.assertNotIn(raw, data, "raw token in " + f)
						self.assertNotIn(raw.hex().encode(), data)

	def test_good_user_names(self):
		for name in ("a", "0day", "x.y-z_w", "b" * 64, "9"):
			with self.subTest(name=name):
				r = run_aimd("user", "add", "--data", self.data, name)
				self.assertEqual(r.returncode, 0,
						 "name %r refused: %s" % (name, r.stderr))


class ServeCliTest(AimTestCase):
	"""serve: port in use, IPv6 listen, readiness line."""

	def test_ready_line(self):
		srv = Server(domain="ready.test")
		try:
			srv.start()
			line = "aimd: listening on http://127.0.0.1:%d" % srv.port
			self.assertTrue(srv.wait_log(line), srv.log_current())
		finally:
			srv.cleanup()

	def test_default_base_url(self):
		"""Without --url, ids start with https://DOMAIN (routing looks at
		the path only, so the server still answers on 127.0.0.1)."""
		srv = Server(domain="dflt.test", url=False)
		try:
			tok = srv.add_user("alice")
			srv.start()
			st, hd, doc = srv.get("/users/alice")
			self.assertEqual(st, 200)
			self.assertEqual(doc["id"], "https://dflt.test/users/alice")
			self.assertEqual(doc["inbox"], "https://dflt.test/users/alice/inbox")
			st, hd, a = srv.post("/users/alice/outbox", note("dflt"), token=tok)
			self.assertEqual(st, 201, a)
			self.assertTrue(a["id"].startswith("https://dflt.test/activities/"))
			st, hd, jrd = srv.get("/.well-known/webfinger?resource=acct:alice@dflt.test",
					      accept="application/jrd+json")
			self.assertEqual(jrd["links"][0]["href"], "https://dflt.test/users/alice")
			# the GET path of an id is what routing uses
			st, hd, got = srv.get(a["id"].replace("https://dflt.test", ""))
			self.assertEqual(st, 200)
		finally:
			srv.cleanup()

	def test_port_in_use(self):
		srv = Server(domain="busy.test")
		srv.release_port()
		blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		try:
			blocker.bind(("127.0.0.1", srv.port))
			blocker.listen(1)
			p = subprocess.run(srv.serve_argv(), stdout=subprocess.PIPE,
					   stderr=subprocess.PIPE, text=True, timeout=30)
			self.assertNotEqual(p.returncode, 0)
			self.assertTrue(p.stderr.strip(), "no message when the port is busy")
			self.assertEqual(sanitizer_reports(p.stderr), "")
		finally:
			blocker.close()
			srv.cleanup()

	def test_ipv6_listen(self):
		try:
			s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
			s.bind(("::1", 0))
			s.close()
		except OSError:
			self.skipTest("no IPv6 loopback")
		port = free_port()
		srv = Server(domain="six.test", port=port, url="http://[::1]:%d" % port,
			     listen_host="[::1]")
		try:
			srv.start()
			st, hd, doc = get_json("http://[::1]:%d/.well-known/nodeinfo" % port,
					       accept="application/json")
			self.assertEqual(st, 200)
		finally:
			srv.cleanup()


class UserAdminTest(AimTestCase):
	"""aimd user list | tokens | revoke | delete, against a serving aimd: a
	revoked token is 401 at once, a deleted user's actor is 410 Gone."""

	assertClean = CliTest.assertClean
	assertUsageError = CliTest.assertUsageError

	def user_list(self, data):
		r = run_aimd("user", "list", "--data", data)
		self.assertEqual(r.returncode, 0, r.stderr)
		return {l.split("\t")[0]: l for l in r.stdout.splitlines() if l.strip()}

	def token_ids(self, data, name):
		r = run_aimd("user", "tokens", "--data", data, name)
		self.assertEqual(r.returncode, 0, r.stderr)
		return [l.split("\t")[0] for l in r.stdout.splitlines() if l.strip()]

	def test_user_list_and_tokens(self):
		import hashlib
		srv = Server(domain="adm.test")
		self.addCleanup(srv.cleanup)
		t1 = srv.add_user("ann")
		srv.add_user("ben")
		r = run_aimd("user", "token", "--data", srv.data, "ann")
		self.assertEqual(r.returncode, 0, r.stderr)
		t2 = r.stdout.split()[-1]
		users = self.user_list(srv.data)
		self.assertEqual(sorted(users), ["ann", "ben"])
		self.assertIn("tokens 2", users["ann"])
		self.assertIn("tokens 1", users["ben"])
		ids = self.token_ids(srv.data, "ann")
		self.assertEqual(ids, [hashlib.sha256(t.encode()).hexdigest()[:12] for t in (t1, t2)])
		# never the tokens themselves, nor key material
		for args in (("list",), ("tokens", "ann")):
			r = run_aimd("user", *args, "--data", srv.data)
			self.assertNotIn(t1, r.stdout + r.stderr)
			self.assertNotIn(t2, r.stdout + r.stderr)
			self.assertNotIn("PRIVATE", r.stdout + r.stderr)
		r = run_aimd("user", "tokens", "--data", srv.data, "nobody")
		self.assertEqual(r.returncode, 1)
		self.assertIn("no such user", r.stderr)

	def test_user_revoke(self):
		import hashlib
		srv = Server(domain="rev.test")
		self.addCleanup(srv.cleanup)
		t1 = srv.add_user("ann")
		t2 = run_aimd("user", "token", "--data", srv.data, "ann").stdout.split()[-1]
		t3 = run_aimd("user", "token", "--data", srv.data, "ann").stdout.split()[-1]
		srv.start()
		for t in (t1, t2, t3):
			self.assertEqual(srv.post("/users/ann/outbox", note("x"), token=t)[0], 201)
		id1 = hashlib.sha256(t1.encode()).hexdigest()[:12]
		# by the id `user tokens` shows, or by a prefix of it, while serving
		r = run_aimd("user", "revoke", "--data", srv.data, "ann", id1[:8])
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertIn("revoked 1 token of ann", r.stdout)
		st, _, doc = srv.post("/users/ann/outbox", note("x"), token=t1)
		self.assertEqual(st, 401, doc)
		self.assertEqual(srv.post("/users/ann/outbox", note("x"), token=t2)[0], 201)
		self.assertNotIn(id1, self.token_ids(srv.data, "ann"))
		# unknown, malformed, ambiguous
		r = run_aimd("user", "revoke", "--data", srv.data, "ann", id1)
		self.assertEqual(r.returncode, 1, r.stderr)
		self.assertIn("no token", r.stderr)
		self.assertUsageError("user", "revoke", "--data", srv.data, "ann", "xyz")
		self.assertUsageError("user", "revoke", "--data", srv.data, "ann")
		self.assertUsageError("user", "revoke", "--data", srv.data, "ann", t2)	# not a token
		r = run_aimd("user", "revoke", "--data", srv.data, "ann", "all")
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertIn("revoked 2 tokens of ann", r.stdout)
		self.assertEqual(srv.post("/users/ann/outbox", note("x"), token=t2)[0], 401)
		self.assertEqual(srv.post("/users/ann/outbox", note("x"), token=t3)[0], 401)
		self.assertIn("tokens 0", self.user_list(srv.data)["ann"])

	def test_user_delete(self):
		srv = Server(domain="del.test")
		self.addCleanup(srv.cleanup)
		ta = srv.add_user("ann")
		tb = srv.add_user("ben")
		srv.start()
		st, _, post = srv.post("/users/ann/outbox", note("mine", to=[srv.actor("ben")]), token=ta)
		self.assertEqual(st, 201, post)
		self.assertEqual(srv.get("/users/ann")[0], 200)
		# refused without the confirmation, nothing changes
		line = self.assertUsageError("user", "delete", "--data", srv.data, "ann")
		self.assertIn("--yes", line)
		self.assertEqual(srv.get("/users/ann")[0], 200)
		r = run_aimd("user", "delete", "--data", srv.data, "ann", "--yes")
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertIn("deleted user ann", r.stdout)
		# the actor and its collections are 410 Gone, its token is dead, its post is gone
		for path in ("/users/ann", "/users/ann/outbox", "/users/ann/followers"):
			st, hd, doc = srv.get(path)
			self.assertEqual(st, 410, (path, doc))
			self.assertEqual(hd.get("content-type", "").split(";")[0], "application/json", hd)
			self.assertEqual(doc.get("error"), "gone", doc)
		self.assertEqual(srv.post("/users/ann/outbox", note("x"), token=ta)[0], 410)
		self.assertEqual(srv.get("/users/ben/inbox", token=ta)[0], 401)	# the token is dead
		self.assertIn(srv.get(post["id"], token=tb)[0], (404, 410))
		st, _, inbox = srv.get("/users/ben/inbox", token=tb)
		self.assertEqual((st, inbox.get("totalItems")), (200, 0), inbox)
		# the name is not given out again; deleting twice says so
		self.assertIn("deleted", self.user_list(srv.data)["ann"])
		r = run_aimd("user", "add", "--data", srv.data, "ann")
		self.assertEqual(r.returncode, 1)
		self.assertIn("was deleted", r.stderr)
		r = run_aimd("user", "delete", "--data", srv.data, "ann", "--yes")
		self.assertEqual(r.returncode, 1)
		self.assertIn("was deleted", r.stderr)
		# a name that never existed is 404, not 410
		self.assertEqual(srv.get("/users/nobody")[0], 404)
		# ben is untouched
		self.assertEqual(srv.post("/users/ben/outbox", note("still here"), token=tb)[0], 201)


if __name__ == "__main__":
	unittest.main(verbosity=2)
