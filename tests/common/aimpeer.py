"""aimpeer: a scripted remote ActivityPub peer for black-box federation
tests (Python standard library + the openssl command line).

  keys = rsa_key(tmpdir, "mallory")          # (key file, public PEM)
  peer = Peer(ca=fed.ca, hostname="evil.test")   # HTTPS on 127.0.0.1
  peer.add_actor("mallory", keys[1])          # /users/mallory + WebFinger
  peer.start()
  h = sign_cavage("POST", url, keys[0], peer.actor_id("mallory") + "#main-key",
		  body=data)                  # Host, Date, Digest, Signature
  ...
  peer.received                               # requests aimd made to the peer
  peer.stop()

Signatures: draft-cavage-http-signatures-12 rsa-sha256 (what Mastodon
sends) and RFC 9421 with Ed25519 and Content-Digest (RFC 9530).
"""

import base64
import hashlib
import http.server
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from email.utils import formatdate

AP_TYPE = "application/activity+json"


# ---------------------------------------------------------------------------
# Keys and signatures (openssl command line)
# ---------------------------------------------------------------------------


def _openssl(args, data=None):
	r = subprocess.run(["openssl"] + list(args), input=data, stdout=subprocess.PIPE,
			   stderr=subprocess.PIPE)
	if r.returncode != 0:
		raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
	return r.stdout


def rsa_key(directory, name, bits=2048):
	"""An RSA key pair: (private key file, public key PEM text)."""
	key = os.path.join(directory, name + ".rsa.pem")
	_openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % bits,
		  "-out", key])
	pub = _openssl(["pkey", "-in", key, "-pubout"]).decode()
	return key, pub


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(b):
	n = int.from_bytes(b, "big")
	out = ""
	while n:
		n, r = divmod(n, 58)
		out = B58[r] + out
	return "1" * (len(b) - len(b.lstrip(b"\0"))) + out


def ed25519_key(directory, name):
	"""An Ed25519 key pair: (private key file, 32 raw public bytes,
	FEP-521a publicKeyMultibase 'z' + base58btc(0xed01 + key))."""
	key = os.path.join(directory, name + ".ed25519.pem")
	_openssl(["genpkey", "-algorithm", "ED25519", "-out", key])
	der = _openssl(["pkey", "-in", key, "-pubout", "-outform", "DER"])
	raw = der[-32:]
	return key, raw, "z" + b58encode(b"\xed\x01" + raw)


def rsa_sha256_sign(key, data):
	return _openssl(["dgst", "-sha256", "-sign", key], data)


def ed25519_sign(key, data):
	with tempfile.NamedTemporaryFile() as f:
		f.write(data)
		f.flush()
		return _openssl(["pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", f.name])


def http_date(t=None):
	return formatdate(t if t is not None else time.time(), usegmt=True)


def sign_cavage(method, url, key, key_id, body=None, headers=None, date=None,
		covered=("(request-target)", "host", "date", "digest"),
		algorithm="rsa-sha256"):
	"""Headers for a cavage-signed request (Host, Date, Digest when there is
	a body, Signature), merged over `headers`. covered/algorithm can be
	changed to build bad signatures on purpose."""
	u = urllib.parse.urlsplit(url)
	h = dict(headers or {})
	h.setdefault("Host", u.netloc)
	h.setdefault("Date", http_date(date))
	if body is not None:
		if isinstance(body, str):
			body = body.encode()
		h.setdefault("Digest", "SHA-256=" +
			     base64.b64encode(hashlib.sha256(body).digest()).decode())
	low = {k.lower(): v for k, v in h.items()}
	target = u.path + ("?" + u.query if u.query else "")
	lines = []
	for c in covered:
		if c == "(request-target)":
			lines.append("(request-target): %s %s" % (method.lower(), target))
		else:
			lines.append("%s: %s" % (c, low.get(c, "")))
	sig = rsa_sha256_sign(key, "\n".join(lines).encode())
	h["Signature"] = 'keyId="%s",algorithm="%s",headers="%s",signature="%s"' % (
		key_id, algorithm, " ".join(covered), base64.b64encode(sig).decode())
	return h


def sign_rfc9421(method, url, key, key_id, body=None, headers=None, created=None,
		 covered=("@method", "@target-uri", "content-digest"), label="sig1",
		 alg="ed25519"):
	"""Headers for an RFC 9421 Ed25519 signature (Content-Digest per
	RFC 9530 when there is a body, Signature-Input, Signature). alg=None
	leaves the alg parameter out."""
	h = dict(headers or {})
	if body is not None:
		if isinstance(body, str):
			body = body.encode()
		h.setdefault("Content-Digest", "sha-256=:%s:" %
			     base64.b64encode(hashlib.sha256(body).digest()).decode())
	low = {k.lower(): v for k, v in h.items()}
	created = int(time.time()) if created is None else created
	comps = " ".join('"%s"' % c for c in covered)
	params = '(%s);created=%d;keyid="%s"' % (comps, created, key_id)
	if alg:
		params += ';alg="%s"' % alg
	lines = []
	for c in covered:
		if c == "@method":
			v = method.upper()
		elif c == "@target-uri":
			v = url
		elif c == "@authority":
			v = urllib.parse.urlsplit(url).netloc.lower()
		elif c == "@path":
			v = urllib.parse.urlsplit(url).path
		else:
			v = low.get(c, "")
		lines.append('"%s": %s' % (c, v))
	lines.append('"@signature-params": ' + params)
	sig = ed25519_sign(key, "\n".join(lines).encode())
	h["Signature-Input"] = "%s=%s" % (label, params)
	h["Signature"] = "%s=:%s:" % (label, base64.b64encode(sig).decode())
	return h


# ---------------------------------------------------------------------------
# A scripted peer server
# ---------------------------------------------------------------------------


class Peer:
	"""An HTTP(S) server on 127.0.0.1 that plays a remote instance.

	docs maps a path (with query, if any) to (status, content type, body
	bytes, extra headers dict); anything else is 404. Every request is
	appended to `received` as a dict (method, path, headers, body). A
	handler function for a path can be set in `handlers` (it gets the
	record and returns (status, content type, body))."""

	def __init__(self, hostname="peer.test", ca=None, certdir=None, port=0):
		self.hostname = hostname
		self.docs = {}
		self.handlers = {}
		self.received = []
		self.lock = threading.Lock()
		peer = self

		class Handler(http.server.BaseHTTPRequestHandler):
			protocol_version = "HTTP/1.1"

			def log_message(self, *a):
				pass

			def handle_any(self):
				n = int(self.headers.get("Content-Length") or 0)
				body = self.rfile.read(n) if n else b""
				rec = {"method": self.command, "path": self.path,
				       "headers": {k.lower(): v for k, v in self.headers.items()},
				       "body": body}
				with peer.lock:
					peer.received.append(rec)
				route = self.path
				if route in peer.handlers:
					st, ct, out = peer.handlers[route](rec)
					extra = {}
				elif route in peer.docs:
					st, ct, out, extra = peer.docs[route]
				else:
					st, ct, out, extra = (404, "application/json",
							      b'{"error":"not_found"}', {})
				self.send_response(st)
				self.send_header("Content-Type", ct)
				self.send_header("Content-Length", str(len(out)))
				for k, v in extra.items():
					self.send_header(k, v)
				self.end_headers()
				if self.command != "HEAD":
					self.wfile.write(out)

			do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

		self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
		self.httpd.daemon_threads = True
		self.port = self.httpd.server_address[1]
		self.scheme = "http"
		self.own_dir = None
		if ca is not None:
			from aimtest import make_cert
			if certdir is None:
				certdir = self.own_dir = tempfile.mkdtemp(prefix="aimpeer-")
			cert, key = make_cert(ca, certdir, hostname)
			ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
			ctx.load_cert_chain(cert, key)
			self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
			self.scheme = "https"
		self.url = "%s://%s:%d" % (self.scheme, hostname, self.port)
		self.thread = None

	def serve(self, path, doc, status=200, content_type=AP_TYPE, headers=None):
		"""Serves doc (dict -> JSON, or bytes) at path."""
		body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
		self.docs[path] = (status, content_type, body, dict(headers or {}))

	def actor_id(self, name):
		return "%s/users/%s" % (self.url, name)

	def add_actor(self, name, rsa_public_pem, ed25519_multibase=None, type_="Person"):
		"""Serves an actor document and its WebFinger JRD; returns the doc."""
		aid = self.actor_id(name)
		doc = {"@context": ["https://www.w3.org/ns/activitystreams",
				    "https://w3id.org/security/v1"],
		       "id": aid, "type": type_, "preferredUsername": name,
		       "inbox": aid + "/inbox", "outbox": aid + "/outbox",
		       "followers": aid + "/followers", "following": aid + "/following",
		       "endpoints": {"sharedInbox": self.url + "/inbox"},
		       "publicKey": {"id": aid + "#main-key", "owner": aid,
				     "publicKeyPem": rsa_public_pem}}
		if ed25519_multibase:
			doc["assertionMethod"] = [{"id": aid + "#ed25519-key", "type": "Multikey",
						   "controller": aid,
						   "publicKeyMultibase": ed25519_multibase}]
		self.serve(urllib.parse.urlsplit(aid).path, doc)
		acct = "acct:%s@%s" % (name, self.hostname)
		jrd = {"subject": acct, "aliases": [aid],
		       "links": [{"rel": "self", "type": AP_TYPE, "href": aid}]}
		for res in (acct, urllib.parse.quote(acct, safe="")):
			self.serve("/.well-known/webfinger?resource=" + res, jrd,
				   content_type="application/jrd+json")
		return doc

	def requests_to(self, path, method=None):
		with self.lock:
			return [r for r in self.received if r["path"].split("?")[0] == path and
				(method is None or r["method"] == method)]

	def start(self):
		self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
		self.thread.start()
		return self

	def stop(self):
		if self.thread is not None:
			self.httpd.shutdown()
			self.thread = None
		self.httpd.server_close()
		if self.own_dir:
			shutil.rmtree(self.own_dir, ignore_errors=True)
