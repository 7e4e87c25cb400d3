"""Self-checks of the test harness itself (tests/common): the signers of
aimpeer against published known answers (draft-cavage C.2, RFC 9421
B.2.6), key helpers, the scripted Peer over HTTPS, the test CA, SSE parsing
and the sanitizer-report scan. No aimd involved."""

import base64
import http.server
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimpeer import (Peer, b58encode, ed25519_key, rsa_key, sign_cavage, sign_rfc9421)
from aimtest import (AimTestCase, SSEClient, get_json, make_ca, make_cert, post_json,
		     sanitizer_reports)


# draft-cavage-http-signatures-12, Appendix C (keyId="Test")
CAVAGE_KEY = """-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----
"""
CAVAGE_C2_SIG = ("qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2a"
		 "Ajn7ndmw2iicw3HMbe8VfEdKFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9F"
		 "swtemr3lgdDEmn04swr2Os0=")

# RFC 9421 B.1.4 test-key-ed25519 and the B.2.6 signature
ED_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
B26_SIG = ("wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lI"
	   "p5WPpBKRCw==")


class SignerTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-harness-")
		cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)

	def write(self, name, text):
		p = os.path.join(self.tmp, name)
		with open(p, "w") as f:
			f.write(text)
		return p

	def test_cavage_c2_known_answer(self):
		key = self.write("cavage.pem", CAVAGE_KEY)
		h = sign_cavage("POST", "https://example.com/foo?param=value&pet=dog", key, "Test",
				headers={"Date": "Sun, 05 Jan 2014 21:31:40 GMT"},
				covered=("(request-target)", "host", "date"))
		self.assertEqual(h["Host"], "example.com")
		self.assertEqual(h["Signature"],
				 'keyId="Test",algorithm="rsa-sha256",headers="(request-target) '
				 'host date",signature="%s"' % CAVAGE_C2_SIG)

	def test_rfc9421_b26_known_answer(self):
		key = self.write("ed.pem", ED_KEY)
		h = sign_rfc9421("POST", "https://example.com/foo?param=Value&Pet=dog", key,
				 "test-key-ed25519", created=1618884473, label="sig-b26", alg=None,
				 headers={"Date": "Tue, 20 Apr 2021 02:07:55 GMT",
					  "Content-Type": "application/json",
					  "Content-Length": "18"},
				 covered=("date", "@method", "@path", "@authority",
					  "content-type", "content-length"))
		self.assertEqual(h["Signature"], "sig-b26=:%s:" % B26_SIG)
		self.assertEqual(h["Signature-Input"],
				 'sig-b26=("date" "@method" "@path" "@authority" "content-type" '
				 '"content-length");created=1618884473;keyid="test-key-ed25519"')

	def test_digests(self):
		key, pub = rsa_key(self.tmp, "k1")
		body = b'{"hello": "world"}'
		h = sign_cavage("POST", "https://example.com/foo", key, "k", body=body)
		# draft-cavage Appendix C request digest
		self.assertEqual(h["Digest"], "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=")
		ekey, raw, mb = ed25519_key(self.tmp, "e1")
		h = sign_rfc9421("POST", "https://example.com/foo", ekey, "e", body=body)
		# the same SHA-256 of {"hello": "world"} as RFC 9530 digest fields
		self.assertEqual(h["Content-Digest"],
				 "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:")

	def test_round_trip_with_openssl(self):
		key, pub = rsa_key(self.tmp, "k2")
		self.assertIn("BEGIN PUBLIC KEY", pub)
		h = sign_cavage("POST", "https://a.test:8443/users/x/inbox", key, "k", body=b"{}")
		sig = base64.b64decode(h["Signature"].split('signature="')[1].rstrip('"'))
		signing = ("(request-target): post /users/x/inbox\nhost: a.test:8443\n"
			   "date: %s\ndigest: %s" % (h["Date"], h["Digest"])).encode()
		pubf = self.write("k2.pub", pub)
		sigf = os.path.join(self.tmp, "k2.sig")
		with open(sigf, "wb") as f:
			f.write(sig)
		r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pubf, "-signature",
				    sigf], input=signing, stdout=subprocess.PIPE,
				   stderr=subprocess.PIPE)
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		ekey, raw, mb = ed25519_key(self.tmp, "e2")
		self.assertEqual(len(raw), 32)
		self.assertTrue(mb.startswith("z6Mk"), mb)	# 0xed01 prefix in base58btc
		self.assertEqual(b58encode(b"\0\0\x01"), "112")


class PeerTest(AimTestCase):
	def test_https_peer(self):
		tmp = tempfile.mkdtemp(prefix="aimtest-peer-")
		self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
		ca = make_ca(tmp)
		key, pub = rsa_key(tmp, "mallory")
		peer = Peer(hostname="evil.test", ca=ca, certdir=tmp).start()
		self.addCleanup(peer.stop)
		peer.add_actor("mallory", pub)
		peer.handlers["/users/mallory/inbox"] = lambda rec: (202, "application/json", b"{}")
		ctx = ca.ssl_context()
		st, hd, doc = get_json(peer.actor_id("mallory"), ctx=ctx)
		self.assertEqual(st, 200)
		self.assertEqual(doc["publicKey"]["publicKeyPem"], pub)
		st, hd, jrd = get_json(peer.url + "/.well-known/webfinger?resource=acct:mallory@evil.test",
				       ctx=ctx)
		self.assertEqual(st, 200)
		self.assertEqual(jrd["links"][0]["href"], peer.actor_id("mallory"))
		st, hd, _ = post_json(peer.actor_id("mallory") + "/inbox", {"type": "Note"}, ctx=ctx)
		self.assertEqual(st, 202)
		self.assertEqual(len(peer.requests_to("/users/mallory/inbox", "POST")), 1)
		st, hd, _ = get_json(peer.url + "/nope", ctx=ctx)
		self.assertEqual(st, 404)
		with self.assertRaises(ssl.SSLCertVerificationError):
			get_json(peer.url + "/users/mallory")


class MiscTest(AimTestCase):
	def test_sanitizer_scan(self):
		self.assertEqual(sanitizer_reports("info: all good\nlistening on x\n"), "")
		for line in ("==12==ERROR: AddressSanitizer: heap-use-after-free on address",
			     "==12==ERROR: LeakSanitizer: detected memory leaks",
			     "src/x.c:10:5: runtime error: signed integer overflow"):
			self.assertIn(line, sanitizer_reports("a\nb\n" + line + "\nmore\n"))

	def test_ca_and_https(self):
		tmp = tempfile.mkdtemp(prefix="aimtest-harness-")
		self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
		ca = make_ca(tmp)
		cert, key = make_cert(ca, tmp, "x.test")

		class H(http.server.BaseHTTPRequestHandler):
			def log_message(self, *a):
				pass

			def do_GET(self):
				body = b'{"host": "%s"}' % self.headers["Host"].encode()
				self.send_response(200)
				self.send_header("Content-Length", str(len(body)))
				self.end_headers()
				self.wfile.write(body)
		srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
		ctx.load_cert_chain(cert, key)
		srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
		threading.Thread(target=srv.serve_forever, daemon=True).start()
		self.addCleanup(srv.server_close)
		self.addCleanup(srv.shutdown)
		port = srv.server_address[1]
		# x.test maps to 127.0.0.1 with SNI and Host x.test
		st, hd, doc = get_json("https://x.test:%d/" % port, ctx=ca.ssl_context())
		self.assertEqual(doc, {"host": "x.test:%d" % port})
		st, hd, doc = get_json("https://127.0.0.1:%d/" % port, ctx=ca.ssl_context())
		self.assertEqual(st, 200)
		with self.assertRaises(ssl.SSLCertVerificationError):
			get_json("https://x.test:%d/" % port)
		with self.assertRaises(ssl.SSLCertVerificationError):
			get_json("https://y.test:%d/" % port, ctx=ca.ssl_context())

	def test_sse_parser(self):
		class H(http.server.BaseHTTPRequestHandler):
			protocol_version = "HTTP/1.1"

			def log_message(self, *a):
				pass

			def do_GET(self):
				self.send_response(200)
				self.send_header("Content-Type", "text/event-stream")
				self.end_headers()
				self.wfile.write(b": stream open\nretry: 3000\n\n"
						 b"id: 7\nevent: activity\ndata: {\"a\":\ndata: 1}\n\n"
						 b": keepalive\n\nid: 8\r\nevent: activity\r\ndata: {}\r\n\r\n")
				self.wfile.flush()
				time.sleep(0.3)
				self.close_connection = True	# end of stream
		srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
		threading.Thread(target=srv.serve_forever, daemon=True).start()
		self.addCleanup(srv.server_close)
		self.addCleanup(srv.shutdown)
		c = SSEClient("http://127.0.0.1:%d/s" % srv.server_address[1])
		try:
			e = c.next_event(2)
			self.assertEqual(e, {"id": "7", "event": "activity", "data": '{"a":\n1}'})
			e = c.next_event(2)
			self.assertEqual(e, {"id": "8", "event": "activity", "data": "{}"})
			self.assertEqual([t for _, t in c.comment_log], ["stream open", "keepalive"])
			self.assertEqual(c.retry, "3000")
			self.assertIsNone(c.next_event(2))
			self.assertTrue(c.closed)
		finally:
			c.close()


if __name__ == "__main__":
	unittest.main(verbosity=2)
