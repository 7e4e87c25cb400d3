// Self-test of fedify-server.mjs: two instances on loopback (one knocking first with
// draft-cavage, one with RFC 9421) follow each other and exchange Create(Note) with verified
// HTTP signatures; a hand-made actor then proves that bad signatures are refused in both schemes.
// Runs twice: plain HTTP on 127.0.0.1, then HTTPS with a throw-away certificate and host names
// (a.test, b.test) mapped to 127.0.0.1 by --resolve. The HTTPS round is skipped without openssl.
// Usage: node fedify-selftest.mjs [http|https]   Exit status 0 only when every check passed.

globalThis.navigator ??= { userAgent: "node" };

import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { randomUUID } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { signRequest } from "@fedify/fedify";
import { Agent, fetch as undiciFetch } from "undici";

const here = dirname(fileURLToPath(import.meta.url));
const CAVAGE = "draft-cavage-http-signatures-12";
let passed = 0;
let failed = 0;
const children = [];

function check(cond, what) {
	if (cond) {
		passed++;
	} else {
		failed++;
		console.log(`FAIL: ${what}`);
	}
	return cond;
}

function startServer(args, env) {
	const child = spawn(process.execPath, [join(here, "fedify-server.mjs"), ...args],
		{ stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
	children.push(child);
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error("fedify-server did not start in 60 s")), 60000);
		createInterface({ input: child.stdout }).once("line", (line) => {
			clearTimeout(t);
			resolve(JSON.parse(line));
		});
		child.once("exit", (code) => reject(new Error(`fedify-server exited (${code})`)));
	});
}

// the fetch for this round (HTTPS: trusts the round's certificate, resolves the test names)
let doFetch = fetch;

async function api(base, path, body) {
	const res = await doFetch(`${base}${path}`, body === undefined ? {} : {
		method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
	});
	return res.json();
}

async function waitFor(what, fn, ms = 10000) {
	const end = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v)
			return v;
		if (Date.now() > end) {
			check(false, `timed out waiting for ${what}`);
			return null;
		}
		await new Promise((r) => setTimeout(r, 100));
	}
}

function lastOf(list, type, actor) {
	return list.filter((r) => r.type === type && r.actor === actor).at(-1);
}

function signedOk(rec, scheme, what) {
	check(rec !== undefined, `${what}: received`);
	if (rec === undefined)
		return;
	check(rec.http_signature?.verified === true, `${what}: HTTP signature verified`);
	check(rec.http_signature?.scheme === scheme, `${what}: scheme ${rec.http_signature?.scheme} = ${scheme}`);
}

// ---- a hand-made actor whose key the test holds, to forge and to sign requests ----

async function miniActor() {
	const pair = await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048,
		publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"]);
	const other = await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048,
		publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"]);
	const spki = Buffer.from(await crypto.subtle.exportKey("spki", pair.publicKey)).toString("base64");
	const pem = `-----BEGIN PUBLIC KEY-----\n${spki.match(/.{1,64}/g).join("\n")}\n-----END PUBLIC KEY-----\n`;
	let base;
	const server = createServer((req, res) => {
		const actor = `${base}/carol`;
		if (req.url === "/carol") {
			res.writeHead(200, { "content-type": "application/activity+json" });
			res.end(JSON.stringify({
				"@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
				id: actor, type: "Person", preferredUsername: "carol", inbox: `${actor}/inbox`,
				publicKey: { id: `${actor}#main-key`, owner: actor, publicKeyPem: pem },
			}));
		} else {
			res.writeHead(req.method === "POST" ? 202 : 404);
			res.end();
		}
	});
	await new Promise((r) => server.listen(0, "127.0.0.1", r));
	base = `http://127.0.0.1:${server.address().port}`;
	return { server, actor: `${base}/carol`, keyId: new URL(`${base}/carol#main-key`), pair, other };
}

function noteFrom(actor, to, content) {
	return {
		"@context": "https://www.w3.org/ns/activitystreams",
		id: `${actor}/creates/${randomUUID()}`,
		type: "Create",
		actor,
		to: [to],
		object: { id: `${actor}/notes/${randomUUID()}`, type: "Note", attributedTo: actor, to: [to], content },
	};
}

async function post(inbox, activity, key, keyId, spec, tamper) {
	const body = JSON.stringify(activity);
	let req = new Request(inbox, { method: "POST", body,
		headers: { "content-type": "application/activity+json", accept: "application/activity+json" } });
	if (key !== null)
		req = await signRequest(req, key, keyId, { spec });
	const headers = Object.fromEntries(req.headers);
	return (await doFetch(inbox, { method: "POST", headers, body: tamper ? body.replace("hi", "HI") : body })).status;
}

async function forgery(B, bob) {
	const m = await miniActor();
	try {
		const inbox = `${B.origin}/users/bob/inbox`;
		for (const spec of [CAVAGE, "rfc9421"]) {
			const before = (await api(B.origin, "/_test/received")).length;
			const tag = spec === CAVAGE ? "cavage" : "rfc9421";
			check(await post(inbox, noteFrom(m.actor, bob, "hi unsigned"), null) === 401,
				`${tag}: unsigned POST refused with 401`);
			check(await post(inbox, noteFrom(m.actor, bob, "hi wrong key"), m.other.privateKey, m.keyId, spec)
				=== 401, `${tag}: signature by another key refused with 401`);
			check(await post(inbox, noteFrom(m.actor, bob, "hi tampered"), m.pair.privateKey, m.keyId, spec, true)
				=== 401, `${tag}: body changed after signing refused with 401`);
			const after = (await api(B.origin, "/_test/received")).length;
			check(after === before, `${tag}: no refused activity was recorded`);
			const good = noteFrom(m.actor, bob, `hi signed ${tag}`);
			const st = await post(inbox, good, m.pair.privateKey, m.keyId, spec);
			check(st >= 200 && st < 300, `${tag}: correctly signed POST accepted (${st})`);
			const got = (await api(B.origin, "/_test/received")).find((r) => r.id === good.id);
			signedOk(got, spec, `${tag}: hand-signed Create`);
			check(got?.content === `hi signed ${tag}`, `${tag}: note content recorded`);
		}
	} finally {
		m.server.close();
	}
}

async function round(argsA, argsB, env, scheme, contextB) {
	// A knocks first with draft-cavage, B with RFC 9421: each side sees the other's scheme
	const [A, B] = await Promise.all([
		startServer(["--users", "alice", "--first-knock", "cavage", ...argsA], env),
		startServer(["--users", "bob", "--first-knock", "rfc9421", ...argsB], env),
	]);
	check(A.origin.startsWith(`${scheme}://`) && B.origin.startsWith(`${scheme}://`),
		`origins ${A.origin} ${B.origin} use ${scheme}`);
	const alice = A.actors.alice;
	const bob = B.actors.bob;
	const bHost = new URL(B.origin).host;

	// alice follows bob by handle (WebFinger), bob auto-accepts
	const f1 = await api(A.origin, "/_test/follow", { from: "alice", to: `acct:bob@${bHost}` });
	check(f1.ok, `alice follows bob: ${f1.error ?? ""}`);
	signedOk(lastOf(await api(B.origin, "/_test/received"), "Follow", alice), CAVAGE, "B got alice's Follow");
	await waitFor("bob's Accept at A", async () => lastOf(await api(A.origin, "/_test/received"), "Accept", bob));
	signedOk(lastOf(await api(A.origin, "/_test/received"), "Accept", bob), "rfc9421", "A got bob's Accept");
	check((await api(B.origin, "/_test/followers?user=bob")).includes(alice), "alice is bob's follower");
	check((await api(A.origin, "/_test/following?user=alice"))[bob] === "accepted", "alice's follow accepted");

	// bob follows alice by actor URL
	const f2 = await api(B.origin, "/_test/follow", { from: "bob", to: alice });
	check(f2.ok, `bob follows alice: ${f2.error ?? ""}`);
	signedOk(lastOf(await api(A.origin, "/_test/received"), "Follow", bob), "rfc9421", "A got bob's Follow");
	await waitFor("alice's Accept at B", async () => lastOf(await api(B.origin, "/_test/received"), "Accept", alice));
	check((await api(A.origin, "/_test/followers?user=alice")).includes(bob), "bob is alice's follower");
	check((await api(B.origin, "/_test/following?user=bob"))[alice] === "accepted", "bob's follow accepted");

	// notes both ways
	const n1 = await api(A.origin, "/_test/send", { from: "alice", to: bob, type: "Create", content: "hi bob" });
	check(n1.ok, `alice sends a note: ${n1.error ?? ""}`);
	const r1 = (await api(B.origin, "/_test/received?type=Create")).find((r) => r.id === n1.id);
	signedOk(r1, CAVAGE, "B got alice's Create");
	check(r1?.content === "hi bob" && r1?.user === "bob", "note content and recipient at B");
	check(r1?.body?.object?.content === "hi bob", "raw body recorded at B");
	const n2 = await api(B.origin, "/_test/send", { from: "bob", to: alice, inbox: `${A.origin}/users/alice/inbox`,
		type: "Create", content: "hi alice" });
	check(n2.ok, `bob sends a note to an explicit inbox: ${n2.error ?? ""}`);
	const r2 = (await api(A.origin, "/_test/received?type=Create")).find((r) => r.id === n2.id);
	signedOk(r2, "rfc9421", "A got bob's Create");
	check(r2?.content === "hi alice", "note content at A");

	// a raw activity passes through unchanged in meaning
	const raw = await api(A.origin, "/_test/send", { from: "alice", to: bob, activity: { type: "Create",
		object: { type: "Note", content: "raw note", attributedTo: alice, to: bob } } });
	check(raw.ok, `raw activity sent: ${raw.error ?? ""}`);
	const r3 = (await api(B.origin, "/_test/received?type=Create")).find((r) => r.id === raw.id);
	check(r3?.content === "raw note" && r3?.http_signature?.verified === true, "raw Create received and verified");

	// verbatim AIM-style activity: extension fields arrive untouched, signed in the asked scheme
	const aimAdd = { type: "Add", object: bob, target: `${alice}/channels/c1/followers`,
		commit: "AAEAAQ==", welcome: "AAEAAw==", to: [bob] };
	for (const [spec, knock] of [[undefined, true], ["rfc9421", false]]) {
		const v = await api(A.origin, "/_test/send", { from: "alice", to: bob, activity: aimAdd, spec,
			double_knock: knock });
		check(v.ok && v.status === 202 && v.attempts.length === 1, `verbatim Add sent (${v.error ?? v.status})`);
		const rv = (await api(B.origin, "/_test/received?type=Add")).find((r) => r.id === v.id);
		signedOk(rv, spec ?? CAVAGE, `B got the verbatim Add (${spec ?? "first knock"})`);
		check(rv?.body?.commit === "AAEAAQ==" && rv?.body?.welcome === "AAEAAw==", "extension fields kept");
	}

	// a context URL nobody can fetch: refused unless the receiver was given it with --context
	if (contextB) {
		const mimi = { "@context": ["https://www.w3.org/ns/activitystreams", "urn:ietf:ns:mimi"], type: "Create",
			object: { type: "Note", content: "mimi", attributedTo: alice, to: bob }, "mimi:welcome": "AAEAAw==",
			to: [bob] };
		const toB = await api(A.origin, "/_test/send", { from: "alice", to: bob, activity: mimi });
		check(toB.ok && toB.status === 202, `mimi-context activity accepted by B with --context (${toB.status})`);
		const rm = (await api(B.origin, "/_test/received?type=Create")).find((r) => r.id === toB.id);
		check(rm?.content === "mimi" && rm?.body?.["mimi:welcome"] === "AAEAAw==", "mimi Create recorded at B");
		const toA = await api(B.origin, "/_test/send", { from: "bob", to: alice,
			activity: { ...mimi, object: { ...mimi.object, attributedTo: bob, to: alice }, to: [alice] } });
		check(toA.ok && toA.status >= 400, `mimi-context activity refused by plain Fedify (${toA.status})`);
	}

	// every request A and B took was signed and verified
	for (const [name, srv] of [["A", A], ["B", B]]) {
		const reqs = (await api(srv.origin, "/_test/requests")).filter((r) => r.body?.object?.content !== "mimi");
		check(reqs.length > 0 && reqs.every((r) => r.http_signature.verified && r.status < 300),
			`${name}: all inbox requests verified and accepted`);
	}

	// Fedify's own sends carry an LD signature and a proof; replayed without any HTTP signature,
	// a --strict 0 server (plain Fedify behaviour) accepts them, the default strict one does not
	if (contextB) {
		const sent = (await api(B.origin, "/_test/requests")).find((r) => r.body?.id === n1.id)?.body;
		check(sent?.signature !== undefined && sent?.proof !== undefined, "Fedify's Create has LD signature and proof");
		const C = await startServer(["--users", "carol", "--strict", "0"], env);
		const plain = { method: "POST", headers: { "content-type": "application/activity+json" },
			body: JSON.stringify(sent) };
		check((await doFetch(`${B.origin}/inbox`, plain)).status === 401, "strict server: no HTTP signature, 401");
		const st = (await doFetch(`${C.origin}/inbox`, plain)).status;
		check(st === 202, `--strict 0: accepted on the LD signature/proof alone (${st})`);
		const rc = (await api(C.origin, "/_test/received")).find((r) => r.id === n1.id);
		check(rc?.http_signature?.verified === false, "--strict 0: recorded as not HTTP-signed");
	}

	// Undo(Follow)
	const u = await api(A.origin, "/_test/send", { from: "alice", to: bob, type: "Undo" });
	check(u.ok, `alice undoes her follow: ${u.error ?? ""}`);
	check(!(await api(B.origin, "/_test/followers?user=bob")).includes(alice), "alice no longer follows bob");

	await forgery(B, bob);
}

function stopAll() {
	for (const c of children.splice(0))
		c.kill("SIGTERM");
}

async function httpRound() {
	doFetch = fetch;
	const dir = mkdtempSync(join(tmpdir(), "fedify-selftest-"));
	try {
		const ctxFile = join(dir, "mimi.jsonld");
		writeFileSync(ctxFile, JSON.stringify({ "@context": { mimi: "urn:ietf:ns:mimi#" } }));
		await round([], ["--context", `urn:ietf:ns:mimi=${ctxFile}`], {}, "http", true);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

async function httpsRound() {
	const dir = mkdtempSync(join(tmpdir(), "fedify-selftest-"));
	try {
		const cert = join(dir, "cert.pem");
		const key = join(dir, "key.pem");
		try {
			execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
				"-nodes", "-days", "2", "-subj", "/CN=a.test", "-keyout", key, "-out", cert,
				"-addext", "subjectAltName=DNS:a.test,DNS:b.test,IP:127.0.0.1",
				"-addext", "basicConstraints=critical,CA:TRUE"], { stdio: "ignore" });
		} catch {
			skipped++;
			console.log("SKIP: https round (openssl could not make a certificate)");
			return;
		}
		const resolve = "a.test=127.0.0.1,b.test=127.0.0.1";
		const agent = new Agent({ connect: { ca: readFileSync(cert), lookup(h, o, cb) {
			return o?.all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4);
		} } });
		doFetch = (url, init = {}) => undiciFetch(url, { ...init, dispatcher: agent });
		const tls = ["--cert", cert, "--key", key, "--resolve", resolve];
		await round([...tls, "--origin", "https://a.test:{port}"], [...tls, "--origin", "https://b.test:{port}"],
			{ NODE_EXTRA_CA_CERTS: cert }, "https");
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

let skipped = 0;
const rounds = process.argv.length > 2 ? process.argv.slice(2) : ["http", "https"];
for (const r of rounds) {
	const before = [passed, failed];
	try {
		if (r === "http")
			await httpRound();
		else if (r === "https")
			await httpsRound();
		else
			throw new Error(`unknown round ${r}`);
	} catch (e) {
		failed++;
		console.log(`FAIL: ${r}: ${e.stack ?? e}`);
	} finally {
		stopAll();
	}
	console.log(`round ${r}: ${passed - before[0]} passed, ${failed - before[1]} failed`);
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 ? 0 : 1);
