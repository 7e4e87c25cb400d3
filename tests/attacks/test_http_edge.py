#!/usr/bin/env python3
"""The HTTP edge as a hostile client sees it (issue 16: request smuggling,
Expect: 100-continue, limits and timeouts; issue 14: connections that scale).

Raw sockets against a real aimd: each case sends bytes a well-behaved client
would not, and checks the status, that the connection is closed where the
framing was ambiguous, and that nothing after the refused request is served.
"""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
from aimtest import AimTestCase, main, parse_raw_status  # noqa: E402


def exchange(port, data, timeout=4.0, host="127.0.0.1", chunks=None, pause=0.0):
	"""Sends data (or chunks, pause seconds apart) and reads until the server
	closes or timeout. Returns (raw bytes, closed): closed is True when the
	server ended the connection (EOF or reset) before the timeout."""
	s = socket.create_connection((host, port), timeout)
	out = b""
	closed = False
	try:
		try:
			for i, part in enumerate(chunks or [data]):
				if i and pause:
					time.sleep(pause)
				s.sendall(part)
		except OSError:
			pass
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline:
			s.settimeout(max(0.05, deadline - time.monotonic()))
			try:
				b = s.recv(65536)
			except socket.timeout:
				break
			except OSError:
				closed = True
				break
			if not b:
				closed = True
				break
			out += b
	finally:
		s.close()
	return out, closed


def responses(raw):
	"""How many status lines the raw bytes hold (a smuggled second request
	answered would add one)."""
	return raw.count(b"HTTP/1.1 ") + raw.count(b"HTTP/1.0 ")


class SmugglingTest(AimTestCase):
	"""RFC 9112 6.1 and 6.3: a request whose length is ambiguous is a 400
	and the connection is closed, before any of its body is parsed as a
	request of its own."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="edge.test")
		cls.tok = cls.srv.add_user("alice")
		cls.srv.start()

	def post(self, headers, body=b""):
		return (b"POST /users/alice/inbox HTTP/1.1\r\nHost: edge.test\r\n" + headers +
			b"\r\n" + body)

	def assertRefusedClosed(self, raw, closed, status, code=None):
		self.assertEqual(parse_raw_status(raw), status, raw[:300])
		self.assertTrue(closed, "connection kept open after %r" % raw[:200])
		self.assertEqual(responses(raw), 1, "a second request was served: %r" % raw[:600])
		head, _, body = raw.partition(b"\r\n\r\n")
		self.assertIn(b"application/json", head, raw[:300])
		if code:
			self.assertIn(code.encode(), body)

	def test_two_content_lengths(self):
		raw, closed = exchange(self.srv.port, self.post(
			b"Content-Length: 5\r\nContent-Length: 60\r\n",
			b"hello" + b"GET /users/alice HTTP/1.1\r\nHost: edge.test\r\n\r\n"))
		self.assertRefusedClosed(raw, closed, 400, "bad_framing")

	def test_identical_content_lengths_are_one(self):
		# RFC 9110 8.6: a list of identical values may be taken as one
		raw, _ = exchange(self.srv.port, self.post(
			b"Content-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n", b"{}"),
			timeout=3)
		self.assertNotIn(b"bad_framing", raw)
		self.assertNotEqual(parse_raw_status(raw), 0, raw)

	def test_content_length_and_chunked(self):
		raw, closed = exchange(self.srv.port, self.post(
			b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
			b"0\r\n\r\nGET /users/alice HTTP/1.1\r\nHost: edge.test\r\n\r\n"))
		self.assertRefusedClosed(raw, closed, 400, "bad_framing")

	def test_unknown_transfer_coding(self):
		raw, closed = exchange(self.srv.port, self.post(
			b"Transfer-Encoding: gzip\r\n", b"hello"))
		self.assertRefusedClosed(raw, closed, 400, "bad_framing")

	def test_chunked_not_last(self):
		raw, closed = exchange(self.srv.port, self.post(
			b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"))
		self.assertRefusedClosed(raw, closed, 400, "bad_framing")

	def test_other_coding_before_chunked(self):
		raw, closed = exchange(self.srv.port, self.post(
			b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"))
		self.assertRefusedClosed(raw, closed, 501, "not_implemented")

	def test_transfer_encoding_in_http10(self):
		raw, closed = exchange(self.srv.port,
				       b"POST /users/alice/inbox HTTP/1.0\r\nHost: edge.test\r\n"
				       b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
		self.assertEqual(parse_raw_status(raw), 400, raw[:300])
		self.assertTrue(closed)

	def test_plain_chunked_still_served(self):
		body = b'{"type":"Note"}'
		raw, _ = exchange(self.srv.port, self.post(
			b"Transfer-Encoding: chunked\r\nConnection: close\r\n",
			b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)), timeout=3)
		# no signature: the inbox refuses it, but the framing was accepted
		self.assertEqual(parse_raw_status(raw), 401, raw[:300])


class BodyLimitTest(AimTestCase):
	"""Bodies over the limit: 413 before 100 Continue, and for chunked
	bodies a 413, not a reset."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="edge.test")
		cls.tok = cls.srv.add_user("alice")
		cls.srv.start()

	def test_expect_continue_over_limit(self):
		# A client that waits for 100 Continue before sending gets the 413
		# instead, and no 100 Continue first (2 MB: over the 1 MiB limit,
		# under the size below which a body would be drained).
		raw, closed = exchange(self.srv.port,
				       b"POST /users/alice/outbox HTTP/1.1\r\nHost: edge.test\r\n"
				       b"Authorization: Bearer " + self.tok.encode() + b"\r\n"
				       b"Content-Type: application/activity+json\r\n"
				       b"Content-Length: 2000000\r\nExpect: 100-continue\r\n\r\n",
				       timeout=3)
		self.assertNotIn(b"100 Continue", raw)
		self.assertEqual(parse_raw_status(raw), 413, raw[:300])
		self.assertTrue(closed)

	def test_expect_continue_under_limit(self):
		raw, _ = exchange(self.srv.port,
				  b"POST /users/alice/outbox HTTP/1.1\r\nHost: edge.test\r\n"
				  b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n", timeout=1.5)
		self.assertTrue(raw.startswith(b"HTTP/1.1 100 Continue"), raw[:200])


if __name__ == "__main__":
	main()
