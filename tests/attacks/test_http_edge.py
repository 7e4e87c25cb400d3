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


def open_idle(port, host="127.0.0.1", n=1):
	"""n connected sockets that send nothing."""
	out = []
	for _ in range(n):
		s = socket.create_connection((host, port), 5)
		out.append(s)
	return out


def get_from(port, host, path="/.well-known/nodeinfo", timeout=4.0, extra=b""):
	"""A GET from the local address host (127.0.0.x); returns the raw answer."""
	s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	s.settimeout(timeout)
	s.bind((host, 0))
	s.connect(("127.0.0.1", port))
	out = b""
	try:
		s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: edge.test\r\n" + extra +
			  b"Connection: close\r\n\r\n")
		while True:
			b = s.recv(65536)
			if not b:
				break
			out += b
	except OSError:
		pass
	finally:
		s.close()
	return out


class TimeoutTest(AimTestCase):
	"""Deadlines for the whole of the headers and of the body: a sender
	dripping a byte at a time is cut off with a 408 (the inactivity timer
	alone restarts with every byte)."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="edge.test",
				     extra_args=["--header-timeout", "2", "--body-timeout", "2"])
		cls.tok = cls.srv.add_user("alice")
		cls.srv.start()

	def test_headers_dripped(self):
		t0 = time.monotonic()
		head = b"GET /users/alice HTTP/1.1\r\nHost: edge.test\r\nX-Slow: "
		raw, closed = exchange(self.srv.port, None, timeout=7,
				       chunks=[head] + [b"a"] * 30, pause=0.2)
		self.assertTrue(closed, "a dripping sender kept its connection: %r" % raw[:200])
		self.assertLess(time.monotonic() - t0, 6.5)
		self.assertEqual(parse_raw_status(raw), 408, raw[:300])

	def test_silent_connection(self):
		raw, closed = exchange(self.srv.port, b"", timeout=6)
		self.assertTrue(closed)
		self.assertEqual(parse_raw_status(raw), 408, raw[:300])

	def test_body_dripped(self):
		t0 = time.monotonic()
		head = (b"POST /users/alice/outbox HTTP/1.1\r\nHost: edge.test\r\n"
			b"Authorization: Bearer " + self.tok.encode() + b"\r\n"
			b"Content-Type: application/activity+json\r\nContent-Length: 100\r\n\r\n")
		raw, closed = exchange(self.srv.port, None, timeout=7,
				       chunks=[head] + [b" "] * 30, pause=0.2)
		self.assertTrue(closed, "a dripping body kept its connection: %r" % raw[:200])
		self.assertLess(time.monotonic() - t0, 6.5)
		self.assertEqual(parse_raw_status(raw), 408, raw[:300])

	def test_keepalive_still_works(self):
		# two requests on one connection, the second after a pause longer
		# than neither deadline: the idle keep-alive is not the header
		# deadline
		s = socket.create_connection(("127.0.0.1", self.srv.port), 5)
		try:
			req = b"GET /.well-known/nodeinfo HTTP/1.1\r\nHost: edge.test\r\n\r\n"
			s.sendall(req)
			first = s.recv(65536)
			self.assertEqual(parse_raw_status(first), 200, first[:200])
			time.sleep(1.0)
			s.sendall(req)
			second = s.recv(65536)
			self.assertEqual(parse_raw_status(second), 200, second[:200])
		finally:
			s.close()


class ConnectionCapTest(AimTestCase):
	"""Caps in total and per address, with room kept to answer: past a cap
	the client is told (503 or 429 with Retry-After), not cut off, and
	other addresses are still served."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="edge.test",
				     extra_args=["--max-connections", "24",
						 "--max-connections-per-ip", "4",
						 "--header-timeout", "8"])
		cls.tok = cls.srv.add_user("alice")
		cls.srv.start()

	def test_per_address(self):
		held = open_idle(self.srv.port, "127.0.0.1", 4)
		try:
			time.sleep(0.3)
			raw = get_from(self.srv.port, "127.0.0.1")
			self.assertEqual(parse_raw_status(raw), 429, raw[:300])
			self.assertIn(b"Retry-After", raw)
			# another address is served meanwhile
			raw = get_from(self.srv.port, "127.0.0.2")
			self.assertEqual(parse_raw_status(raw), 200, raw[:300])
		finally:
			for s in held:
				s.close()
		time.sleep(0.3)
		raw = get_from(self.srv.port, "127.0.0.1")
		self.assertEqual(parse_raw_status(raw), 200, raw[:300])

	def test_total(self):
		held = []
		try:
			for i in range(6):	# 6 addresses x 4 = the total cap of 24
				for _ in range(4):
					s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
					s.bind(("127.0.0.%d" % (10 + i), 0))
					s.connect(("127.0.0.1", self.srv.port))
					held.append(s)
			time.sleep(0.3)
			raw = get_from(self.srv.port, "127.0.0.30")
			self.assertEqual(parse_raw_status(raw), 503, raw[:300])
			self.assertIn(b"Retry-After", raw)
		finally:
			for s in held:
				s.close()
		time.sleep(0.3)
		raw = get_from(self.srv.port, "127.0.0.30")
		self.assertEqual(parse_raw_status(raw), 200, raw[:300])


class LockoutTest(AimTestCase):
	"""Bad tokens from an address block further bad tokens from it, not the
	valid tokens of the same address (issue 16)."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="edge.test", extra_args=["--auth-fail-limit", "3"])
		cls.tok = cls.srv.add_user("alice")
		cls.srv.start()

	def test_valid_token_not_locked_out(self):
		for _ in range(4):
			st, _, _ = self.srv.get("/users/alice/inbox", token="bad" * 10)
		self.assertEqual(st, 429)
		st, _, _ = self.srv.get("/users/alice/inbox", token="bad" * 10)
		self.assertEqual(st, 429)
		st, _, body = self.srv.get("/users/alice/inbox", token=self.tok)
		self.assertEqual(st, 200, body)


class StreamTest(AimTestCase):
	"""Event streams: capped per user (429 past it), each a parked
	connection woken by a write for its user."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="edge.test", extra_args=["--streams-per-user", "2"])
		cls.alice = cls.srv.add_user("alice")
		cls.bob = cls.srv.add_user("bob")
		cls.srv.start()

	def test_streams_per_user(self):
		from aimtest import SSEClient, note
		url = self.srv.url + "/users/alice/inbox"
		a = [SSEClient(url, token=self.alice) for _ in range(2)]
		try:
			for c in a:
				self.assertEqual(c.status, 200)
			third = SSEClient(url, token=self.alice)
			self.assertEqual(third.status, 429, third.body)
			self.assertIn(b"rate_limited", third.body)
			# bob's stream is not counted against alice
			b = SSEClient(self.srv.url + "/users/bob/inbox", token=self.bob)
			self.assertEqual(b.status, 200)
			# a note to alice reaches both her streams, not bob's
			n = note("hi alice", to=[self.srv.actor("alice")])
			st, _, _ = self.srv.post("/users/bob/outbox", n, token=self.bob)
			self.assertIn(st, (200, 201, 202))
			for c in a:
				ev = c.next_event(timeout=5)
				self.assertIsNotNone(ev)
				self.assertIn("hi alice", ev["data"])
			b.close()
		finally:
			for c in a:
				c.close()
		# closed streams free their places
		time.sleep(0.5)
		again = SSEClient(url, token=self.alice)
		self.assertEqual(again.status, 200)
		again.close()


class FdLimitTest(AimTestCase):
	"""The soft descriptor limit is raised at start-up to what the
	configured caps need; a hard limit too low for them refuses to start
	with a message that says so (instead of 500s and 401s once the
	descriptors run out)."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="edge.test")

	def serve_with(self, soft, hard, extra=()):
		import resource
		import subprocess
		from aimtest import aimd_path, free_port

		def limit():
			resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
		argv = [aimd_path(), "serve", "--data", self.srv.data,
			"--listen", "127.0.0.1:%d" % free_port()] + list(extra)
		p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
				     stdin=subprocess.DEVNULL, preexec_fn=limit)
		try:
			out, err = p.communicate(timeout=3)
			return p.returncode, out.decode(), err.decode()
		except subprocess.TimeoutExpired:
			p.terminate()
			out, err = p.communicate(timeout=10)
			return None, out.decode(), err.decode()

	def test_hard_limit_too_low(self):
		rc, out, err = self.serve_with(256, 512, ["--max-connections", "1000"])
		self.assertIsNotNone(rc, "aimd served with too few descriptors: %s" % err[-500:])
		self.assertNotEqual(rc, 0)
		self.assertIn("file descriptors", err)
		self.assertIn("hard limit", err)
		self.assertNotIn("listening on", out)

	def test_soft_limit_raised(self):
		rc, out, err = self.serve_with(256, 4096, ["--max-connections", "1000"])
		self.assertIsNone(rc, "aimd did not serve: %s" % err[-800:])
		self.assertIn("listening on", out)
		self.assertIn("file descriptor limit raised from 256", err)


class OutOfDescriptorsTest(AimTestCase):
	"""With the descriptor limit just at what the caps need, every
	connection slot full of event streams: requests are answered 200 or
	503, never 500, and a valid token never gets 401 (issue 16: the
	database could not be opened and valid tokens got "bad bearer
	token")."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="edge.test", extra_args=[
			"--max-connections", "40", "--max-connections-per-ip", "1000",
			"--streams-per-user", "1000", "--rate-limit", "100000",
			"--rate-burst", "100000"])
		cls.tok = cls.srv.add_user("alice")
		# aimd starts under the least limit it accepts for 40 connections
		need = 40 + 16 + 48 + 16 + 64 + 128
		argv = cls.srv.serve_argv
		cls.srv.serve_argv = lambda: [
			sys.executable, "-c",
			"import os, resource, sys; "
			"resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d)); "
			"os.execv(sys.argv[1], sys.argv[1:])" % (need, need)] + argv()
		cls.srv.start()

	def test_full_of_streams(self):
		from aimtest import SSEClient
		url = self.srv.url + "/users/alice/inbox"
		streams = []
		try:
			for _ in range(40):
				c = SSEClient(url, token=self.tok, timeout=5)
				if c.status != 200:
					break
				streams.append(c)
			self.assertGreaterEqual(len(streams), 30)
			seen = set()
			for i in range(30):
				raw = get_from(self.srv.port, "127.0.0.%d" % (2 + i % 5),
					       path="/users/alice/inbox",
					       extra=b"Accept: application/activity+json\r\n"
					       b"Authorization: Bearer " + self.tok.encode() + b"\r\n")
				st = parse_raw_status(raw)
				seen.add(st)
				self.assertIn(st, (200, 503), raw[:300])
			self.assertIn(503, seen)
		finally:
			for c in streams:
				c.close()
		time.sleep(0.5)
		raw = get_from(self.srv.port, "127.0.0.2", path="/users/alice/inbox",
			       extra=b"Accept: application/activity+json\r\n"
			       b"Authorization: Bearer " + self.tok.encode() + b"\r\n")
		self.assertEqual(parse_raw_status(raw), 200, raw[:300])


if __name__ == "__main__":
	main()
