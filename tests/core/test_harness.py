"""Self-checks of the test harness itself (tests/common/aimtest.py): SSE
parsing, the sanitizer-report scan, the test CA. No aimd involved."""

import http.server
import os
import shutil
import ssl
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import (AimTestCase, SSEClient, get_json, make_ca, make_cert,
		     sanitizer_reports)


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
