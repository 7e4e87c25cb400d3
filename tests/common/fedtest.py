"""fedtest: helpers for the federation tests (Python 3 standard library and
the `openssl` command only).

  keys = Keys(tmpdir)                         # RSA-2048 + Ed25519 (openssl)
  remote = FakeRemote(ca, "r.test")           # HTTPS actor server + inbox recorder
  actor = remote.add_actor("mallory")         # actor document with both keys
  fed = FedNet(remote=remote)                 # a.test, b.test, c.test aimd over HTTPS
  hdrs, body = sign_cavage(actor, "POST", url, body)
  st, hd, data = fed["b.test"].req("POST", url, headers=hdrs, body=body)

The signers here are written from the specifications (draft-cavage-12,
RFC 9421, RFC 9530), independently of src/http/sig.c, and can be told to get
things wrong (the threats.md A tests).
"""

import base64
import email.utils
import hashlib
import http.server
import json
import os
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import aimtest
from aimtest import AP_TYPE, AS_PUBLIC

AS_CTX = "https://www.w3.org/ns/activitystreams"

# ---------------------------------------------------------------------------
# Keys and raw signatures (openssl command line)
# ---------------------------------------------------------------------------


def _run(args, data=None):
	r = subprocess.run(args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
	if r.returncode != 0:
		raise RuntimeError("%s failed: %s" % (" ".join(args), r.stderr.decode()))
	return r.stdout


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58btc(b):
	n = int.from_bytes(b, "big")
	out = ""
	while n:
		n, r = divmod(n, 58)
		out = B58[r] + out
	pad = len(b) - len(b.lstrip(b"\0"))
	return "1" * pad + out


class Keys:
	"""An RSA-2048 and an Ed25519 key pair in PEM files under directory."""

	def __init__(self, directory, name="k"):
		os.makedirs(directory, exist_ok=True)
		self.rsa = os.path.join(directory, name + "-rsa.pem")
		self.ed = os.path.join(directory, name + "-ed25519.pem")
		_run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
		      "rsa_keygen_bits:2048", "-out", self.rsa])
		_run(["openssl", "genpkey", "-algorithm", "ED25519", "-out", self.ed])
		self.rsa_pub_pem = _run(["openssl", "pkey", "-in", self.rsa, "-pubout"]).decode()
		self.rsa_pub_file = self.rsa + ".pub"
		with open(self.rsa_pub_file, "w") as f:
			f.write(self.rsa_pub_pem)
		der = _run(["openssl", "pkey", "-in", self.ed, "-pubout", "-outform", "DER"])
		self.ed_raw = der[-32:]
		self.ed_multibase = "z" + base58btc(b"\xed\x01" + self.ed_raw)
		# kept in memory too: the files are written again if something
		# removes the temporary directory while the test runs
		self._pems = {}
		for path in (self.rsa, self.ed):
			with open(path, "rb") as f:
				self._pems[path] = f.read()

	def _file(self, path):
		if not os.path.exists(path):
			os.makedirs(os.path.dirname(path), exist_ok=True)
			fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
			with os.fdopen(fd, "wb") as f:
				f.write(self._pems[path])
		return path

	def sign_rsa(self, data):
		"""RSASSA-PKCS1-v1_5 with SHA-256."""
		return _run(["openssl", "dgst", "-sha256", "-sign", self._file(self.rsa)], data)

	def sign_rsa_sha1(self, data):
		return _run(["openssl", "dgst", "-sha1", "-sign", self._file(self.rsa)], data)

	def sign_ed25519(self, data):
		self._file(self.ed)
		with tempfile.NamedTemporaryFile() as f:
			f.write(data)
			f.flush()
			return _run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", self.ed,
				     "-in", f.name])


def verify_rsa(pub_pem, data, sig):
	"""RSASSA-PKCS1-v1_5 SHA-256 verification with the openssl command."""
	with tempfile.TemporaryDirectory() as d:
		pk = os.path.join(d, "pub.pem")
		sg = os.path.join(d, "sig")
		with open(pk, "w") as f:
			f.write(pub_pem)
		with open(sg, "wb") as f:
			f.write(sig)
		r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pk, "-signature", sg],
				   input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
		return r.returncode == 0


# ---------------------------------------------------------------------------
# Signing requests
# ---------------------------------------------------------------------------


def http_date(t=None):
	return email.utils.formatdate(t if t is not None else time.time(), usegmt=True)


def digest_header(body):
	return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def content_digest_header(body):
	return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def _authority(url):
	u = urllib.parse.urlsplit(url)
	default = 443 if u.scheme == "https" else 80
	host = u.hostname
	return host if (u.port or default) == default else "%s:%d" % (host, u.port)


def _target(url):
	u = urllib.parse.urlsplit(url)
	return (u.path or "/") + ("?" + u.query if u.query else "")


def sign_cavage(actor, method, url, body=None, *, headers="(request-target) host date digest",
		key_id=None, algorithm="rsa-sha256", date=None, created=None, expires=None,
		extra=None, tamper_body=None, sign=None, digest=None, auth_header=False):
	"""Headers for a draft-cavage-12 signed request and the body to send.

	actor: a RemoteActor (its keys sign). headers: the covered list (the
	signature parameter); every named header is sent. date: a Unix time
	for Date. created/expires: (created)/(expires) values. digest: a Digest
	value to send instead of the right one. tamper_body: bytes sent instead
	of the signed body. sign: a function(bytes) -> signature bytes
	(default RSA SHA-256). algorithm None: no algorithm parameter."""
	if isinstance(body, (dict, list)):
		body = json.dumps(body).encode()
	body = body if body is not None else b""
	h = {"Host": _authority(url), "Date": http_date(date)}
	if method.upper() == "POST":
		h["Content-Type"] = AP_TYPE
		h["Digest"] = digest if digest is not None else digest_header(body)
	if extra:
		h.update(extra)
	lines = []
	for name in headers.split():
		if name == "(request-target)":
			lines.append("(request-target): %s %s" % (method.lower(), _target(url)))
		elif name == "(created)":
			lines.append("(created): %d" % created)
		elif name == "(expires)":
			lines.append("(expires): %d" % expires)
		else:
			v = next((v for k, v in h.items() if k.lower() == name), None)
			if v is None:
				raise ValueError("header %s not in the request" % name)
			lines.append("%s: %s" % (name, v))
	sig = (sign or actor.keys.sign_rsa)("\n".join(lines).encode())
	params = ['keyId="%s"' % (key_id or actor.key_id)]
	if algorithm is not None:
		params.append('algorithm="%s"' % algorithm)
	params.append('headers="%s"' % headers)
	if created is not None:
		params.append("created=%d" % created)
	if expires is not None:
		params.append("expires=%d" % expires)
	params.append('signature="%s"' % base64.b64encode(sig).decode())
	if auth_header:
		h["Authorization"] = "Signature " + ",".join(params)
	else:
		h["Signature"] = ",".join(params)
	return h, (tamper_body if tamper_body is not None else body)


def sign_rfc9421(actor, method, url, body=None, *,
		 components=("@method", "@target-uri", "content-digest"), key_id=None,
		 alg="ed25519", created=None, expires=None, no_created=False, label="sig1",
		 tamper_body=None, use_rsa=False, content_digest=None, extra=None):
	"""Headers for an RFC 9421 signed request (Ed25519 by default, or
	rsa-v1_5-sha256 with use_rsa) and the body to send."""
	if isinstance(body, (dict, list)):
		body = json.dumps(body).encode()
	body = body if body is not None else b""
	now = int(time.time())
	h = {"Host": _authority(url), "Date": http_date()}
	if method.upper() == "POST":
		h["Content-Type"] = AP_TYPE
		h["Content-Digest"] = (content_digest if content_digest is not None
				       else content_digest_header(body))
	if extra:
		h.update(extra)
	u = urllib.parse.urlsplit(url)
	lines = []
	for c in components:
		if c == "@method":
			v = method.upper()
		elif c == "@target-uri":
			v = url
		elif c == "@authority":
			v = _authority(url)
		elif c == "@path":
			v = u.path or "/"
		elif c == "@request-target":
			v = _target(url)
		else:
			v = next((v for k, v in h.items() if k.lower() == c), None)
			if v is None:
				raise ValueError("field %s not in the request" % c)
		lines.append('"%s": %s' % (c, v))
	params = "(" + " ".join('"%s"' % c for c in components) + ")"
	if not no_created:
		params += ";created=%d" % (created if created is not None else now)
	if expires is not None:
		params += ";expires=%d" % expires
	params += ';keyid="%s"' % (key_id or (actor.key_id if use_rsa else actor.ed_key_id))
	if alg is not None:
		params += ';alg="%s"' % alg
	lines.append('"@signature-params": ' + params)
	base = "\n".join(lines).encode()
	sig = actor.keys.sign_rsa(base) if use_rsa else actor.keys.sign_ed25519(base)
	h["Signature-Input"] = "%s=%s" % (label, params)
	h["Signature"] = "%s=:%s:" % (label, base64.b64encode(sig).decode())
	return h, (tamper_body if tamper_body is not None else body)


# ---------------------------------------------------------------------------
# A fake remote server: actor documents, inboxes, a connection log
# ---------------------------------------------------------------------------


class RemoteActor:
	def __init__(self, remote, name, keys):
		self.remote = remote
		self.name = name
		self.keys = keys
		self.id = "%s/users/%s" % (remote.base, name)
		self.key_id = self.id + "#main-key"
		self.ed_key_id = self.id + "#ed25519-key"
		self.inbox = self.id + "/inbox"
		self.followers = self.id + "/followers"
		self.doc_override = None	# a dict to serve instead of doc()

	def doc(self):
		if self.doc_override is not None:
			return self.doc_override
		return {
			"@context": [AS_CTX, "https://w3id.org/security/v1",
				     "https://w3id.org/security/multikey/v1"],
			"id": self.id, "type": "Person", "preferredUsername": self.name,
			"inbox": self.inbox, "outbox": self.id + "/outbox",
			"followers": self.followers, "following": self.id + "/following",
			"endpoints": {"sharedInbox": self.remote.base + "/inbox"},
			"publicKey": {"id": self.key_id, "owner": self.id,
				      "publicKeyPem": self.keys.rsa_pub_pem},
			"assertionMethod": [{
				"id": self.ed_key_id, "type": "Multikey", "controller": self.id,
				"publicKeyMultibase": self.keys.ed_multibase}],
		}

	def activity(self, type_, obj, to=(AS_PUBLIC,), cc=(), **extra):
		a = {"@context": AS_CTX, "id": "%s/activities/%s" % (self.id, uuid.uuid4()),
		     "type": type_, "actor": self.id, "object": obj, "to": list(to)}
		if cc:
			a["cc"] = list(cc)
		a.update(extra)
		return a

	def note(self, content, to=(AS_PUBLIC,), cc=(), **extra):
		n = {"id": "%s/notes/%s" % (self.id, uuid.uuid4()), "type": "Note",
		     "attributedTo": self.id, "content": content, "to": list(to)}
		if cc:
			n["cc"] = list(cc)
		n.update(extra)
		return n

	def create_note(self, content, to=(AS_PUBLIC,), cc=(), **extra):
		n = self.note(content, to, cc, **extra)
		return self.activity("Create", n, to, cc)


class _Handler(http.server.BaseHTTPRequestHandler):
	protocol_version = "HTTP/1.1"

	def log_message(self, *a):
		pass

	def _body(self):
		n = int(self.headers.get("Content-Length") or 0)
		return self.rfile.read(n) if n else b""

	def _send(self, status, ctype, body, headers=None):
		if isinstance(body, (dict, list)):
			body = json.dumps(body).encode()
		elif isinstance(body, str):
			body = body.encode()
		self.send_response(status)
		if ctype:
			self.send_header("Content-Type", ctype)
		for k, v in (headers or {}).items():
			self.send_header(k, v)
		self.send_header("Content-Length", str(len(body)))
		self.end_headers()
		if self.command != "HEAD":
			self.wfile.write(body)

	def _handle(self):
		remote = self.server.remote
		body = self._body() if self.command in ("POST", "PUT") else b""
		rec = {"method": self.command, "path": self.path,
		       "headers": {k.lower(): v for k, v in self.headers.items()},
		       "body": body, "at": time.time()}
		remote._record(rec)
		path = self.path.split("?")[0]
		ans = remote.answer(self.command, path, rec)
		self._send(*ans)

	do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle


class _TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
	daemon_threads = True
	allow_reuse_address = True

	def __init__(self, addr, handler, ctx, remote):
		self.ctx = ctx
		self.remote = remote
		super().__init__(addr, handler)

	def get_request(self):
		sock, addr = self.socket.accept()
		self.remote._connected(addr)
		if self.ctx is None:
			return sock, addr
		sock.settimeout(10)
		try:
			return self.ctx.wrap_socket(sock, server_side=True), addr
		except (ssl.SSLError, OSError):
			sock.close()
			raise


class FakeRemote:
	"""An HTTPS (or plain HTTP, ca=None) server on 127.0.0.1 posing as a
	remote ActivityPub server named `name` (reached by aimd through
	--connect-to). Serves actor documents of added actors, WebFinger,
	empty collections; records every connection and request; inbox POSTs
	are answered with inbox_status (default 202).

	routes[path] = (status, content_type, body[, headers]) overrides any
	answer; handler(method, path, rec) may return such a tuple too."""

	def __init__(self, ca=None, name="r.test", directory=None, port=0, keys=None,
		     listen="127.0.0.1"):
		self.name = name
		self.lock = threading.Lock()
		self.requests = []
		self.connections = 0
		self.actors = {}
		self.routes = {}
		self.handler = None
		self.inbox_status = 202
		self.dir = directory or tempfile.mkdtemp(prefix="fedtest-remote-")
		self._keys = keys
		ctx = None
		if ca is not None:
			cert, key = aimtest.make_cert(ca, self.dir, name)
			ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
			ctx.load_cert_chain(cert, key)
		self.httpd = _TLSServer((listen, port), _Handler, ctx, self)
		self.port = self.httpd.server_address[1]
		self.scheme = "https" if ctx else "http"
		self.base = "%s://%s:%d" % (self.scheme, name, self.port)
		self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
		self.thread.start()

	def connect_to(self):
		return "%s:%d:127.0.0.1:%d" % (self.name, self.port, self.port)

	def add_actor(self, name, keys=None):
		if keys is None:
			if self._keys is None:
				self._keys = Keys(self.dir, "shared")
			keys = self._keys
		a = RemoteActor(self, name, keys)
		self.actors[name] = a
		return a

	def _record(self, rec):
		with self.lock:
			self.requests.append(rec)

	def _connected(self, addr):
		with self.lock:
			self.connections += 1

	def reset(self):
		with self.lock:
			self.requests = []
			self.connections = 0

	def posts(self, path=None):
		"""Recorded POSTs (optionally to one path), each with 'json'."""
		with self.lock:
			out = [r for r in self.requests if r["method"] == "POST" and
			       (path is None or r["path"].split("?")[0] == path)]
		for r in out:
			try:
				r["json"] = json.loads(r["body"])
			except ValueError:
				r["json"] = None
		return out

	def gets(self, path=None):
		with self.lock:
			return [r for r in self.requests if r["method"] == "GET" and
				(path is None or r["path"].split("?")[0] == path)]

	def answer(self, method, path, rec):
		if path in self.routes:
			return self.routes[path]
		if self.handler:
			a = self.handler(method, path, rec)
			if a is not None:
				return a
		if method == "POST":
			if path == "/inbox" or (path.startswith("/users/") and path.endswith("/inbox")):
				return (self.inbox_status, "application/json", b"{}")
			return (405, "application/json", b'{"error":"method"}')
		if path.startswith("/users/"):
			parts = path[7:].split("/")
			a = self.actors.get(parts[0])
			if a is None:
				return (404, "application/json", b'{"error":"not_found"}')
			if len(parts) == 1:
				return (200, AP_TYPE, a.doc())
			coll = "%s/%s" % (a.id, parts[1])
			return (200, AP_TYPE, {"@context": AS_CTX, "id": coll,
						"type": "OrderedCollection", "totalItems": 0,
						"orderedItems": []})
		if path == "/.well-known/webfinger":
			q = urllib.parse.parse_qs(urllib.parse.urlsplit(rec["path"]).query)
			res = (q.get("resource") or [""])[0]
			user = res[5:].split("@")[0] if res.startswith("acct:") else ""
			a = self.actors.get(user)
			if a is None:
				return (404, "application/json", b"{}")
			return (200, "application/jrd+json", {
				"subject": "acct:%s@%s" % (user, self.name),
				"links": [{"rel": "self", "type": AP_TYPE, "href": a.id}]})
		return (404, "application/json", b'{"error":"not_found"}')

	def close(self):
		self.httpd.shutdown()
		self.httpd.server_close()


class Listener:
	"""A bare TCP listener that counts connections (for the SSRF tests:
	nothing may ever connect to it)."""

	def __init__(self, host="127.0.0.1", port=0):
		fam = socket.AF_INET6 if ":" in host else socket.AF_INET
		self.sock = socket.socket(fam, socket.SOCK_STREAM)
		self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.sock.bind((host, port))
		self.sock.listen(16)
		self.port = self.sock.getsockname()[1]
		self.count = 0
		self.stopped = False
		self.thread = threading.Thread(target=self._run, daemon=True)
		self.thread.start()

	def _run(self):
		while not self.stopped:
			try:
				c, _ = self.sock.accept()
			except OSError:
				return
			if self.stopped:
				c.close()
				return
			self.count += 1
			c.close()

	def close(self):
		self.stopped = True
		try:
			self.sock.shutdown(socket.SHUT_RDWR)
		except OSError:
			pass
		self.sock.close()


# ---------------------------------------------------------------------------
# A federation of aimd servers plus a fake remote
# ---------------------------------------------------------------------------

# Short retry timings so the tests finish in seconds (see aimd --help).
FAST_RETRY_ARGS = os.environ.get("AIM_FED_RETRY_ARGS", "").split()


def serve_args(fed, remote=None, allow_private=True, extra=()):
	"""`aimd serve` flags for a server of Federation fed: --connect-to for
	every other server and the fake remote, --ca-file, and
	--allow-private-addresses unless allow_private is False."""
	args = []
	for m in fed.connect_to():
		args += ["--connect-to", m]
	if remote is not None:
		args += ["--connect-to", remote.connect_to()]
	args += ["--ca-file", fed.ca.cert]
	if allow_private:
		args.append("--allow-private-addresses")
	return args + list(extra)


def inbox_items(srv, user, limit_pages=20):
	"""Every item of user's inbox (newest first) over the client API."""
	tok = srv.tokens[user]
	url = srv.url + "/users/%s/inbox?page=true" % user
	items = []
	for _ in range(limit_pages):
		st, _, doc = aimtest.get_retry(url, token=tok, ctx=srv.ctx)
		if st != 200 or not doc:
			raise AssertionError("inbox of %s: %d %r" % (user, st, doc))
		items += doc.get("orderedItems") or doc.get("items") or []
		nxt = doc.get("next")
		if not nxt or not (doc.get("orderedItems") or doc.get("items")):
			break
		url = nxt if isinstance(nxt, str) else nxt.get("id")
		url = srv.url + urllib.parse.urlsplit(url).path + "?" + urllib.parse.urlsplit(url).query
	return items


def item_id(it):
	return it if isinstance(it, str) else it.get("id")


def object_of(it):
	o = it.get("object") if isinstance(it, dict) else None
	return o


def inbox_ids(srv, user):
	"""Ids of inbox items and of their objects."""
	ids = set()
	for it in inbox_items(srv, user):
		ids.add(item_id(it))
		o = object_of(it)
		if o is not None:
			ids.add(item_id(o))
	return ids


def wait_for(pred, timeout=30, step=0.1, what="condition"):
	"""Polls pred() until it returns a true value; returns it or raises."""
	deadline = time.monotonic() + timeout
	last = None
	while time.monotonic() < deadline:
		last = pred()
		if last:
			return last
		time.sleep(step)
	raise AssertionError("timed out after %ss waiting for %s (last %r)" % (timeout, what, last))


def post_outbox(srv, user, obj):
	"""POSTs an activity or object to user's outbox; returns the created activity."""
	st, hd, doc = srv.post("/users/%s/outbox" % user, obj, token=srv.tokens[user])
	if st != 201:
		raise AssertionError("outbox POST for %s: %d %r" % (user, st, doc))
	return doc
