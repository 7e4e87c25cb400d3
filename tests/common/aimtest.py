"""aimtest: black-box test harness for aimd (Python 3 standard library only).

Runs real `aimd` processes in temporary data directories and talks to them
over HTTP(S). Used by tests/core/test_*.py and the federation tests.

  srv = Server(domain="a.test")            # temp dir + `aimd init`
  token = srv.add_user("alice")            # last line of `aimd user add`
  srv.start()                              # `aimd serve`, waits until ready
  st, hdrs, body = request("GET", srv.url + "/users/alice")
  srv.stop()                               # SIGTERM, exit 0, no sanitizer report
  srv.cleanup()

Also: AimTestCase.server() (a Server cleaned up after the class),
assertRefused/assertErrorBody (the {"error","detail"} JSON contract),
get_json/post_json/raw_exchange, SSEClient (text/event-stream reader),
make_ca/make_cert (openssl CLI test CA), Federation (a.test, b.test, c.test
over HTTPS from one CA). aimpeer.py has the request signers and a scripted
remote peer.

Environment: AIM_BIN_DIR (the build's bin dir; default build/bin in the
repository), AIM_KEEP_TMP=1 keeps the temporary directories, AIM_TEST_VERBOSE=1
prints server logs on stop.
"""

import http.client
import json
import os
import queue
import random
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

REPO = os.environ.get("AIM_SOURCE_DIR") or os.path.dirname(
	os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AP_TYPE = "application/activity+json"
LD_TYPE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
		     "runtime error:", "ERROR: ThreadSanitizer",
		     "WARNING: ThreadSanitizer")

# ---------------------------------------------------------------------------
# Paths and processes
# ---------------------------------------------------------------------------


def bin_dir():
	return os.environ.get("AIM_BIN_DIR") or os.path.join(REPO, "build", "bin")


def aimd_path():
	return os.path.join(bin_dir(), "aimd")


def aim_path():
	return os.path.join(bin_dir(), "aim")


def run_aimd(*args, timeout=120, check=False):
	"""Runs `aimd ARGS` to completion; returns a CompletedProcess (text)."""
	return subprocess.run([aimd_path()] + [str(a) for a in args],
			      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
			      text=True, timeout=timeout, check=check)


def sanitizer_reports(text):
	"""Lines of `text` that belong to a sanitizer report (empty if none)."""
	lines = text.splitlines()
	for i, line in enumerate(lines):
		if any(m in line for m in SANITIZER_MARKERS):
			return "\n".join(lines[max(0, i - 2):i + 40])
	return ""


def free_port():
	"""A TCP port on 127.0.0.1 that was free a moment ago."""
	with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def reserve_port(port=0):
	"""(port, socket): the socket stays bound (SO_REUSEADDR, not
	listening), so no other bind(0) on this machine gets the port while
	aimd is being prepared; aimd (which also sets SO_REUSEADDR) can
	still bind it. Close the socket once aimd listens."""
	s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	try:
		s.bind(("127.0.0.1", port))
	except OSError:
		s.close()
		raise
	return s.getsockname()[1], s


def keep_tmp():
	return os.environ.get("AIM_KEEP_TMP") == "1"


def _die_with_parent():
	"""In the child: SIGKILL when the test process dies (Linux), so a
	killed test run leaves no aimd behind."""
	try:
		import ctypes
		libc = ctypes.CDLL(None, use_errno=True)
		libc.prctl(1, signal.SIGKILL)	# PR_SET_PDEATHSIG
	except (OSError, AttributeError):
		pass


class ServerError(AssertionError):
	pass


class Server:
	"""One aimd instance in its own temporary data directory.

	domain: the DOMAIN given to `aimd init`; url: BASE (default
	http(s)://127.0.0.1:PORT; False: no --url, so BASE is https://DOMAIN
	while the harness still connects to 127.0.0.1:PORT); tls: (cert_file,
	key_file) to serve HTTPS;
	extra_args: more `aimd serve` arguments; init_args: more `aimd init`
	arguments.
	"""

	def __init__(self, domain="local.test", url=None, port=None, tls=None,
		     extra_args=(), init_args=(), env=None, listen_host="127.0.0.1",
		     ca=None, reservation=None):
		self.domain = domain
		self.ctx = ca.ssl_context() if ca else None
		self.reservation = reservation
		if port is None and listen_host == "127.0.0.1":
			port, self.reservation = reserve_port()
		self.port = port or free_port()
		self.tls = tls
		self.scheme = "https" if tls else "http"
		self.listen_host = listen_host
		# url=False: no --url at init (BASE defaults to https://DOMAIN);
		# self.url is where the harness connects, self.base is BASE.
		self.url = url or "%s://127.0.0.1:%d" % (self.scheme, self.port)
		self.base = self.url if url is not False else "https://" + domain
		self.extra_args = list(extra_args)
		self.env = dict(os.environ)
		if env:
			self.env.update(env)
		self.tmp = tempfile.mkdtemp(prefix="aimtest-%s-" % domain)
		self.data = os.path.join(self.tmp, "data")
		self.proc = None
		self.tokens = {}
		self.runs = 0
		self.out_path = None
		self.err_path = None
		url_args = [] if url is False else ["--url", self.url]
		r = run_aimd("init", "--data", self.data, "--domain", domain,
			     *url_args, *init_args)
		if r.returncode != 0:
			raise ServerError("aimd init failed (%d): %s%s" %
					  (r.returncode, r.stdout, r.stderr))

	# -- users -----------------------------------------------------------
	def add_user(self, name):
		"""Creates a user; returns its bearer token (last stdout line)."""
		r = run_aimd("user", "add", "--data", self.data, name)
		if r.returncode != 0:
			raise ServerError("aimd user add %s failed (%d): %s%s" %
					  (name, r.returncode, r.stdout, r.stderr))
		lines = [l for l in r.stdout.splitlines() if l.strip()]
		if not lines:
			raise ServerError("aimd user add printed no token")
		tok = lines[-1].strip()
		self.tokens[name] = tok
		return tok

	def get(self, path, token=None, accept=AP_TYPE, headers=None):
		"""get_json on BASE+path (or an absolute URL)."""
		url = path if "://" in path else self.url + path
		return get_json(url, token=token, accept=accept, ctx=self.ctx,
				headers=headers)

	def post(self, path, obj, token=None, content_type=AP_TYPE, **kw):
		"""post_json on BASE+path (or an absolute URL)."""
		url = path if "://" in path else self.url + path
		return post_json(url, obj, token=token, ctx=self.ctx,
				 content_type=content_type, **kw)

	def req(self, method, path, **kw):
		"""request() on BASE+path (or an absolute URL)."""
		url = path if "://" in path else self.url + path
		kw.setdefault("ctx", self.ctx)
		return request(method, url, **kw)

	def actor(self, name):
		"""The actor id of a local user (under BASE)."""
		return "%s/users/%s" % (self.base, name)

	def acct(self, name):
		return "acct:%s@%s" % (name, self.domain)

	# -- process ---------------------------------------------------------
	def serve_argv(self):
		argv = [aimd_path(), "serve", "--data", self.data,
			"--listen", "%s:%d" % (self.listen_host, self.port)]
		if self.tls:
			argv += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
		return argv + self.extra_args

	def start(self, timeout=20):
		if self.proc is not None:
			raise ServerError("server already running")
		self.runs += 1
		self.out_path = os.path.join(self.tmp, "serve-%d.out" % self.runs)
		self.err_path = os.path.join(self.tmp, "serve-%d.err" % self.runs)
		out = open(self.out_path, "wb")
		err = open(self.err_path, "wb")
		try:
			self.proc = subprocess.Popen(self.serve_argv(), stdout=out,
						     stderr=err, stdin=subprocess.DEVNULL,
						     env=self.env, preexec_fn=_die_with_parent)
		finally:
			out.close()
			err.close()
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline:
			if self.proc.poll() is not None:
				rc = self.proc.returncode
				self.proc = None
				raise ServerError("aimd serve exited with %d at start:\n%s" %
						  (rc, self.log()))
			if "listening on" in self.log_current() or self._answers():
				self.release_port()
				return self
			time.sleep(0.05)
		log = self.log()
		self.kill9()
		raise ServerError("aimd serve not ready after %ss:\n%s" % (timeout, log))

	def release_port(self):
		if self.reservation is not None:
			self.reservation.close()
			self.reservation = None

	def _reserve(self):
		"""Holds the port again while the server is down (restart)."""
		if self.reservation is None and self.listen_host == "127.0.0.1":
			try:
				self.reservation = reserve_port(self.port)[1]
			except OSError:
				pass

	def _answers(self):
		try:
			st, _, _ = request("GET", self.url + "/.well-known/nodeinfo",
					   ctx=self.client_ctx(), timeout=2)
			return st == 200
		except (OSError, http.client.HTTPException):
			return False

	def client_ctx(self):
		"""SSL context trusting this server's CA (given as ca=), or None."""
		return self.ctx

	def running(self):
		return self.proc is not None and self.proc.poll() is None

	def signal(self, sig):
		if self.proc is not None:
			self.proc.send_signal(sig)

	def stop(self, timeout=10, check=True):
		"""SIGTERM; waits; asserts exit 0 and no sanitizer report."""
		if self.proc is None:
			return None
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
		try:
			rc = self.proc.wait(timeout)
		except subprocess.TimeoutExpired:
			self.proc.kill()
			self.proc.wait()
			self.proc = None
			raise ServerError("aimd did not exit within %ss of SIGTERM:\n%s" %
					  (timeout, self.log_current()))
		self.proc = None
		self._reserve()
		if os.environ.get("AIM_TEST_VERBOSE") == "1":
			sys.stderr.write(self.log_current())
		if check:
			self.check_sanitizers()
			self.check_log_hygiene()
			if rc != 0:
				raise ServerError("aimd exited with status %d after SIGTERM:\n%s" %
						  (rc, self.log_current()))
		return rc

	def kill9(self):
		if self.proc is None:
			return
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGKILL)
		self.proc.wait()
		self.proc = None
		self._reserve()

	def restart(self, timeout=20):
		self.stop()
		return self.start(timeout)

	def wait_log(self, text, timeout=5):
		"""Waits until text appears in the current run's log; returns
		whether it did."""
		deadline = time.monotonic() + timeout
		while True:
			if text in self.log_current():
				return True
			if time.monotonic() >= deadline:
				return False
			time.sleep(0.05)

	def check_log_hygiene(self):
		"""No bearer token of this server's users and no private key in
		its log."""
		log = self.log_current()
		for name, tok in self.tokens.items():
			if tok and tok in log:
				raise ServerError("the token of %s appears in aimd's log" % name)
		if "PRIVATE KEY" in log:
			raise ServerError("private key material in aimd's log")

	def check_sanitizers(self):
		rep = sanitizer_reports(self.log_current())
		if rep:
			raise ServerError("sanitizer report from aimd:\n" + rep)

	def _read(self, path):
		if not path or not os.path.exists(path):
			return ""
		with open(path, "rb") as f:
			return f.read().decode("utf-8", "replace")

	def log_current(self):
		return self._read(self.out_path) + self._read(self.err_path)

	def log(self):
		"""stdout and stderr of every run so far."""
		parts = []
		for i in range(1, self.runs + 1):
			parts.append(self._read(os.path.join(self.tmp, "serve-%d.out" % i)))
			parts.append(self._read(os.path.join(self.tmp, "serve-%d.err" % i)))
		return "".join(parts)

	def cleanup(self):
		try:
			self.stop()
		finally:
			self.release_port()
			if not keep_tmp():
				shutil.rmtree(self.tmp, ignore_errors=True)

	def __enter__(self):
		return self

	def __exit__(self, *exc):
		if exc[0] is not None:
			self.kill9()
		self.cleanup()


# ---------------------------------------------------------------------------
# Test CA (openssl command line)
# ---------------------------------------------------------------------------


class CA:
	def __init__(self, cert, key):
		self.cert = cert
		self.key = key

	def ssl_context(self):
		ctx = ssl.create_default_context(cafile=self.cert)
		return ctx


def _openssl(*args, cwd=None):
	r = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
			   stderr=subprocess.PIPE, text=True, cwd=cwd)
	if r.returncode != 0:
		raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr))
	return r.stdout


def make_ca(directory, name="aim test CA"):
	os.makedirs(directory, exist_ok=True)
	cert = os.path.join(directory, "ca.crt")
	key = os.path.join(directory, "ca.key")
	_openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
		 "-keyout", key, "-out", cert, "-days", "7", "-subj", "/CN=" + name,
		 "-addext", "basicConstraints=critical,CA:TRUE",
		 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	return CA(cert, key)


def make_cert(ca, directory, hostname):
	"""A server certificate for hostname (SAN DNS:hostname, IP:127.0.0.1)
	signed by ca; returns (cert_file, key_file)."""
	os.makedirs(directory, exist_ok=True)
	key = os.path.join(directory, hostname + ".key")
	csr = os.path.join(directory, hostname + ".csr")
	cert = os.path.join(directory, hostname + ".crt")
	ext = os.path.join(directory, hostname + ".ext")
	with open(ext, "w") as f:
		f.write("basicConstraints=CA:FALSE\n"
			"keyUsage=critical,digitalSignature,keyEncipherment\n"
			"extendedKeyUsage=serverAuth\n"
			"subjectAltName=DNS:%s,IP:127.0.0.1\n" % hostname)
	_openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
		 "-keyout", key, "-out", csr, "-subj", "/CN=" + hostname)
	_openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key,
		 "-CAcreateserial", "-out", cert, "-days", "7", "-sha256",
		 "-extfile", ext)
	return cert, key


class Federation:
	"""Several HTTPS aimd servers (default a.test, b.test, c.test) with
	certificates from one test CA. Server NAME is initialised with
	--url https://NAME:PORT and listens on 127.0.0.1:PORT; clients here
	reach it through connect_addr() (every *.test name is 127.0.0.1).

	  fed = Federation()
	  tok = fed["a.test"].add_user("alice")
	  fed.start(extra_args=lambda srv: ["--ca-file", fed.ca.cert, ...])
	  ...
	  fed.cleanup()
	"""

	def __init__(self, names=("a.test", "b.test", "c.test"), init_args=()):
		self.dir = tempfile.mkdtemp(prefix="aimtest-fed-")
		self.ca = make_ca(os.path.join(self.dir, "ca"))
		self.servers = {}
		try:
			for name in names:
				port, res = reserve_port()
				tls = make_cert(self.ca, os.path.join(self.dir, "ca"), name)
				self.servers[name] = Server(domain=name, port=port,
							    url="https://%s:%d" % (name, port),
							    tls=tls, ca=self.ca, reservation=res,
							    init_args=init_args)
		except Exception:
			self.cleanup()
			raise

	def __getitem__(self, name):
		return self.servers[name]

	def connect_to(self):
		"""curl-style HOST:PORT:ADDR:PORT entries mapping every server's
		name to 127.0.0.1."""
		return ["%s:%d:127.0.0.1:%d" % (n, s.port, s.port)
			for n, s in self.servers.items()]

	def start(self, extra_args=None):
		"""Starts every server; extra_args(server) -> list adds serve flags."""
		for srv in self.servers.values():
			if extra_args:
				srv.extra_args = list(extra_args(srv))
			srv.start()

	def stop(self):
		errors = []
		for srv in self.servers.values():
			try:
				srv.stop()
			except ServerError as e:
				errors.append(str(e))
		if errors:
			raise ServerError("\n".join(errors))

	def cleanup(self):
		try:
			errors = []
			for srv in self.servers.values():
				try:
					srv.cleanup()
				except ServerError as e:
					errors.append(str(e))
			if errors:
				raise ServerError("\n".join(errors))
		finally:
			if not keep_tmp():
				shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# HTTP client
# ---------------------------------------------------------------------------

# Host names that resolve to 127.0.0.1 in tests (anything under .test too).
LOCAL_HOSTS = {"localhost", "127.0.0.1"}


def connect_addr(host):
	if host in LOCAL_HOSTS or host.endswith(".test"):
		return "127.0.0.1"
	return host


def _connection(url, ctx=None, timeout=30):
	u = urllib.parse.urlsplit(url)
	host = u.hostname
	port = u.port or (443 if u.scheme == "https" else 80)
	if u.scheme == "https":
		if ctx is None:
			ctx = ssl.create_default_context()
		c = http.client.HTTPSConnection(host, port, context=ctx, timeout=timeout)
	elif u.scheme == "http":
		c = http.client.HTTPConnection(host, port, timeout=timeout)
	else:
		raise ValueError("unsupported scheme in " + url)
	addr = connect_addr(host)

	def create(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
		return socket.create_connection((addr, address[1]), timeout, source_address)
	c._create_connection = create
	path = u.path or "/"
	if u.query:
		path += "?" + u.query
	return c, path


def _headers_dict(resp):
	h = {}
	for k, v in resp.getheaders():
		k = k.lower()
		h[k] = h[k] + ", " + v if k in h else v
	return h


def request(method, url, headers=None, body=None, token=None, ctx=None,
	    timeout=30):
	"""One HTTP request; returns (status, {lower-case header: value}, body).

	body may be bytes, str or a JSON-serialisable object (then sent as
	application/activity+json unless headers say otherwise)."""
	hdrs = dict(headers or {})
	if token is not None:
		hdrs["Authorization"] = "Bearer " + token
	if body is not None and not isinstance(body, (bytes, bytearray, str)):
		body = json.dumps(body).encode()
		if not any(k.lower() == "content-type" for k in hdrs):
			hdrs["Content-Type"] = AP_TYPE
	if isinstance(body, str):
		body = body.encode()
	c, path = _connection(url, ctx, timeout)
	try:
		try:
			c.request(method, path, body=body, headers=hdrs)
		except (BrokenPipeError, ConnectionResetError):
			# the server answered early (e.g. 413) and closed: the
			# answer may still be readable
			pass
		resp = c.getresponse()
		data = resp.read()
		return resp.status, _headers_dict(resp), data
	finally:
		c.close()


def raw_exchange(url, data, ctx=None, timeout=15, chunks=None):
	"""Sends raw bytes to the server of url (TLS if https) and reads until
	the server closes or timeout; returns the raw response bytes. If
	sending fails (the server closed early), still returns what arrived."""
	u = urllib.parse.urlsplit(url)
	port = u.port or (443 if u.scheme == "https" else 80)
	s = socket.create_connection((connect_addr(u.hostname), port), timeout)
	if u.scheme == "https":
		s = (ctx or ssl.create_default_context()).wrap_socket(
			s, server_hostname=u.hostname)
	out = b""
	try:
		try:
			for part in (chunks or [data]):
				s.sendall(part)
		except OSError:
			pass
		while not _raw_complete(out):
			try:
				b = s.recv(65536)
			except OSError:	# timeout, reset
				break
			if not b:
				break
			out += b
	finally:
		s.close()
	return out


def _raw_complete(raw):
	head, sep, body = raw.partition(b"\r\n\r\n")
	if not sep:
		return False
	for line in head.split(b"\r\n")[1:]:
		k, _, v = line.partition(b":")
		if k.strip().lower() == b"content-length":
			try:
				return len(body) >= int(v.strip())
			except ValueError:
				return False
	return False


def parse_raw_status(raw):
	"""Status code of a raw HTTP response (0 if none)."""
	try:
		return int(raw.split(b" ", 2)[1])
	except (IndexError, ValueError):
		return 0


def parse_json(body):
	return json.loads(body.decode("utf-8"))


def get_json(url, token=None, accept=AP_TYPE, ctx=None, headers=None):
	"""GET; returns (status, headers, parsed JSON or None)."""
	h = {"Accept": accept} if accept else {}
	h.update(headers or {})
	st, hd, body = request("GET", url, headers=h, token=token, ctx=ctx)
	try:
		doc = parse_json(body) if body else None
	except ValueError:
		doc = None
	return st, hd, doc


def post_json(url, obj, token=None, ctx=None, content_type=AP_TYPE,
	      headers=None, retry_429=True):
	"""POST obj as JSON; returns (status, headers, parsed JSON or None).
	On 429 it waits Retry-After (at most 5 s) and retries (up to 20 times)
	unless retry_429 is False."""
	h = {"Content-Type": content_type, "Accept": AP_TYPE}
	h.update(headers or {})
	data = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
	for _ in range(20):
		st, hd, body = request("POST", url, headers=h, body=data, token=token,
				       ctx=ctx)
		if st != 429 or not retry_429:
			break
		time.sleep(retry_after(hd))
	try:
		doc = parse_json(body) if body else None
	except ValueError:
		doc = None
	return st, hd, doc


def retry_after(hdrs, cap=5.0):
	try:
		return min(cap, max(0.05, float(hdrs.get("retry-after", "1"))))
	except ValueError:
		return 1.0


def get_retry(url, **kw):
	"""get_json that waits out 429 answers (see post_json)."""
	for _ in range(20):
		st, hd, doc = get_json(url, **kw)
		if st != 429:
			return st, hd, doc
		time.sleep(retry_after(hd))
	return st, hd, doc


def note(content="hello", to=(AS_PUBLIC,), cc=(), **extra):
	n = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Note",
	     "content": content, "to": list(to)}
	if cc:
		n["cc"] = list(cc)
	n.update(extra)
	return n


def rand_text(n=12):
	return "".join(random.choice(string.ascii_letters + string.digits)
		       for _ in range(n))


# ---------------------------------------------------------------------------
# Server-Sent Events
# ---------------------------------------------------------------------------


class SSEClient:
	"""Reads a text/event-stream in a background thread.

	next_event(timeout) returns dicts {"id", "event", "data"} (data lines
	joined with newlines). status/headers hold the response head; comments
	counts ':' lines, comment_log keeps (time, text) of each."""

	def __init__(self, url, token=None, last_event_id=None, ctx=None,
		     timeout=10, headers=None):
		h = {"Accept": "text/event-stream"}
		if token is not None:
			h["Authorization"] = "Bearer " + token
		if last_event_id is not None:
			h["Last-Event-ID"] = str(last_event_id)
		h.update(headers or {})
		self.conn, path = _connection(url, ctx, timeout)
		self.conn.request("GET", path, headers=h)
		self.sock = self.conn.sock	# getresponse() may drop conn.sock
		self.resp = self.conn.getresponse()
		self.status = self.resp.status
		self.headers = _headers_dict(self.resp)
		self.q = queue.Queue()
		self.comments = 0
		self.comment_log = []	# (monotonic time, text) of ':' lines
		self.retry = None
		self.opened = time.monotonic()
		self.closed = False
		self.body = b""
		if self.status != 200:
			self.body = self.resp.read()
			self.conn.close()
			self.closed = True
			return
		# no read timeout on the stream itself: the reader thread blocks
		try:
			self.sock.settimeout(None)
		except OSError:
			pass
		self.thread = threading.Thread(target=self._run, daemon=True)
		self.thread.start()

	def _run(self):
		ev = {}
		data = []
		try:
			while True:
				line = self.resp.fp.readline()
				if not line:
					break
				line = line.decode("utf-8", "replace").rstrip("\r\n")
				if line == "":
					# an event without data is not dispatched
					if data:
						ev["data"] = "\n".join(data)
						self.q.put(ev)
					ev = {}
					data = []
					continue
				if line.startswith(":"):
					self.comments += 1
					self.comment_log.append((time.monotonic(), line[1:].strip()))
					continue
				field, _, value = line.partition(":")
				if value.startswith(" "):
					value = value[1:]
				if field == "data":
					data.append(value)
				elif field in ("id", "event"):
					ev[field] = value
				elif field == "retry":
					self.retry = value
		except (OSError, ValueError, http.client.HTTPException):
			pass
		self.q.put(None)	# end of stream

	def next_event(self, timeout=5):
		"""The next event, or None on timeout / end of stream."""
		try:
			ev = self.q.get(timeout=timeout)
		except queue.Empty:
			return None
		if ev is None:
			self.closed = True
		return ev

	def close(self):
		try:
			self.sock.shutdown(socket.SHUT_RDWR)
		except OSError:
			pass
		self.conn.close()
		self.resp.close()


# ---------------------------------------------------------------------------
# Assertions and helpers for test cases
# ---------------------------------------------------------------------------


class AimTestCase(unittest.TestCase):
	"""unittest.TestCase with aimd-specific checks."""

	maxDiff = 4000

	@classmethod
	def server(cls, **kw):
		"""A Server (see there) stopped and removed after the class, even
		when setUpClass fails half-way."""
		srv = Server(**kw)
		cls.addClassCleanup(srv.cleanup)
		return srv

	def assertErrorBody(self, status, hdrs, body, code=None):
		"""The contract: every refusal is JSON {"error", "detail"}."""
		ct = hdrs.get("content-type", "").split(";")[0].strip().lower()
		self.assertEqual(ct, "application/json",
				 "error %d content type %r body %r" % (status, ct, body[:200]))
		doc = parse_json(body) if isinstance(body, (bytes, bytearray)) else body
		self.assertIsInstance(doc, dict, "error body %r" % (body,))
		self.assertIsInstance(doc.get("error"), str, doc)
		self.assertTrue(doc["error"], doc)
		self.assertIsInstance(doc.get("detail"), str, doc)
		if code is not None:
			self.assertEqual(doc["error"], code)
		return doc

	def assertRefused(self, resp, status, code=None):
		"""resp = (status, headers, body bytes) from request()."""
		st, hd, body = resp
		self.assertEqual(st, status, "expected %d, got %d: %r" % (status, st, body[:300]))
		return self.assertErrorBody(st, hd, body, code)

	def assertNotServerError(self, st, what=""):
		self.assertLess(st, 500, "5xx for %s" % what)


def main():
	unittest.main(verbosity=2)
