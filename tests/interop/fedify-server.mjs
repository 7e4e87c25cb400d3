// A small ActivityPub test server on Fedify 2.3.6 (Hono + @hono/node-server).
//
// Options (command line, or the environment variable in brackets):
//   --port N            [FEDIFY_PORT]        listen port; 0 = pick a free one (default 0)
//   --host ADDR         [FEDIFY_HOST]        listen address (default 127.0.0.1)
//   --origin URL        [FEDIFY_ORIGIN]      canonical origin (default http(s)://127.0.0.1:{port});
//                                            "{port}" is replaced by the port actually bound
//   --users a,b         [FEDIFY_USERS]       local actors (default alice,bob)
//   --first-knock S     [FEDIFY_FIRST_KNOCK] rfc9421 (default) or cavage
//   --cert F --key F    [FEDIFY_CERT/KEY]    serve HTTPS with this PEM certificate and key
//   --strict 0|1        [FEDIFY_STRICT]      1 (default): refuse (401) any inbox POST whose HTTP
//                                            signature does not verify, even when the body has an
//                                            LD signature or an object proof (Fedify alone would
//                                            then skip the HTTP signature check)
//   --rsa-bits N        [FEDIFY_RSA_BITS]    RSA key size (default 2048)
//   --context URL=FILE  [FEDIFY_CONTEXTS]    serve this JSON-LD context document for URL instead of
//                                            fetching it (repeatable; env: comma-separated)
//   --resolve h=ip,...  [FEDIFY_RESOLVE]     map host names to loopback addresses for outgoing
//                                            requests (e.g. f.test=127.0.0.1)
// On start it prints one JSON line on stdout: {"ready":true,"port":..,"origin":..,"actors":{..}}.
// Test endpoints are under /_test/ (see README.md). Keep it on loopback: allowPrivateAddress is on.

// Fedify 2.x reads navigator.userAgent when it re-imports an Ed25519 key; Node 20 has no navigator.
globalThis.navigator ??= { userAgent: "node" };

import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { lookup as dnsLookup } from "node:dns";
import { Hono } from "hono";
import { getRequestListener } from "@hono/node-server";
import { createFederation, generateCryptoKeyPair, getAuthenticatedDocumentLoader, MemoryKvStore, signRequest,
	verifyRequestDetailed } from "@fedify/fedify";
import { getDocumentLoader } from "@fedify/vocab-runtime";
import { Accept, Activity, Create, Endpoints, Follow, Note, Person, Reject, Undo, isActor } from "@fedify/vocab";

// ---- configuration ----

const CAVAGE = "draft-cavage-http-signatures-12";

function options() {
	const o = {
		port: process.env.FEDIFY_PORT ?? "0",
		host: process.env.FEDIFY_HOST ?? "127.0.0.1",
		origin: process.env.FEDIFY_ORIGIN,
		users: process.env.FEDIFY_USERS ?? "alice,bob",
		"first-knock": process.env.FEDIFY_FIRST_KNOCK ?? "rfc9421",
		cert: process.env.FEDIFY_CERT,
		key: process.env.FEDIFY_KEY,
		strict: process.env.FEDIFY_STRICT ?? "1",
		resolve: process.env.FEDIFY_RESOLVE ?? "",
		"rsa-bits": process.env.FEDIFY_RSA_BITS ?? "2048",
		context: process.env.FEDIFY_CONTEXTS ?? "",
	};
	const argv = process.argv.slice(2);
	for (let i = 0; i < argv.length; i++) {
		const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
		if (m === null || !(m[1] in o))
			throw new Error(`unknown argument ${argv[i]}`);
		const v = m[2] ?? argv[++i];
		o[m[1]] = m[1] === "context" && o.context !== "" ? `${o.context},${v}` : v;
	}
	const knock = { rfc9421: "rfc9421", cavage: "draft-cavage-http-signatures-12",
		"draft-cavage-http-signatures-12": "draft-cavage-http-signatures-12" }[o["first-knock"]];
	if (knock === undefined)
		throw new Error(`--first-knock: rfc9421 or cavage, not ${o["first-knock"]}`);
	const users = o.users.split(",").map((s) => s.trim()).filter((s) => s !== "");
	if (users.length === 0 || users.some((u) => !/^[a-z0-9_.-]{1,64}$/i.test(u)))
		throw new Error("--users: comma-separated names of [A-Za-z0-9_.-]");
	if ((o.cert === undefined) !== (o.key === undefined))
		throw new Error("--cert and --key go together");
	const resolve = new Map();
	for (const pair of o.resolve.split(",").filter((s) => s !== "")) {
		const [h, ip] = pair.split("=");
		if (!/^127\.\d+\.\d+\.\d+$|^::1$/.test(ip ?? ""))
			throw new Error(`--resolve ${pair}: only loopback addresses`);
		resolve.set(h.toLowerCase(), ip);
	}
	const contexts = new Map();
	for (const pair of o.context.split(",").filter((x) => x !== "")) {
		const at = pair.lastIndexOf("=");
		if (at <= 0)
			throw new Error(`--context ${pair}: expected URL=FILE`);
		contexts.set(pair.slice(0, at), JSON.parse(readFileSync(pair.slice(at + 1), "utf8")));
	}
	return { contexts, port: Number(o.port), host: o.host, origin: o.origin, users, firstKnock: knock,
		cert: o.cert, key: o.key, strict: o.strict !== "0", resolve, rsaBits: Number(o["rsa-bits"]) };
}

const cfg = options();

// Outgoing requests to names given in --resolve go to the mapped loopback address. Fedify uses the
// global fetch, whose undici dispatcher honours a custom DNS lookup.
if (cfg.resolve.size > 0) {
	const { Agent, setGlobalDispatcher } = await import("undici");
	setGlobalDispatcher(new Agent({
		connect: {
			lookup(hostname, opts, cb) {
				const ip = cfg.resolve.get(hostname.toLowerCase());
				if (ip === undefined)
					return dnsLookup(hostname, opts, cb);
				const family = ip.includes(":") ? 6 : 4;
				if (opts?.all)
					return cb(null, [{ address: ip, family }]);
				return cb(null, ip, family);
			},
		},
	}));
}

// ---- state ----

const received = []; // activities accepted by an inbox listener
const requests = []; // every POST to an inbox, accepted or not
const followers = new Map(); // user -> Map(actor id -> {id, inbox, sharedInbox})
const following = new Map(); // user -> Map(actor id -> {state, follow})
const keys = new Map(); // user -> [rsa CryptoKeyPair, ed25519 CryptoKeyPair]
const MAX_LOG = 10000;

for (const u of cfg.users) {
	followers.set(u, new Map());
	following.set(u, new Map());
	keys.set(u, [await rsaKeyPair(), await generateCryptoKeyPair("Ed25519")]);
}

// Fedify's generateCryptoKeyPair makes 4096-bit RSA keys, which take seconds each here;
// 2048 bits (--rsa-bits) keeps the start fast and is what most servers publish.
async function rsaKeyPair() {
	return crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: cfg.rsaBits,
		publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"]);
}

function push(list, item) {
	if (list.length >= MAX_LOG)
		list.shift();
	list.push(item);
}

// ---- HTTP server first, so that port 0 gives us the origin ----

let handler = () => new Response("starting", { status: 503 });
const listener = getRequestListener((req) => handler(req));
const server = cfg.cert === undefined ? createHttpServer(listener) :
	createHttpsServer({ cert: readFileSync(cfg.cert), key: readFileSync(cfg.key) }, listener);
await new Promise((resolve, reject) => {
	server.once("error", reject);
	server.listen(cfg.port, cfg.host, resolve);
});
const port = server.address().port;
const origin = (cfg.origin ?? `${cfg.cert === undefined ? "http" : "https"}://127.0.0.1:{port}`)
	.replace("{port}", String(port)).replace(/\/$/, "");

// ---- federation ----

// With --context, JSON-LD contexts that cannot be fetched (e.g. urn:ietf:ns:mimi) are served from
// files. Fedify refuses custom loaders together with allowPrivateAddress, so then the loaders
// are built here, each allowing private (loopback) addresses itself.
function withContexts(loader) {
	return async (url, opts) => {
		const doc = cfg.contexts.get(url);
		if (doc !== undefined)
			return { contextUrl: null, documentUrl: url, document: doc };
		return loader(url, opts);
	};
}

const federation = createFederation(cfg.contexts.size === 0 ? {
	kv: new MemoryKvStore(),
	origin,
	allowPrivateAddress: true,
	firstKnock: cfg.firstKnock,
} : {
	kv: new MemoryKvStore(),
	origin,
	firstKnock: cfg.firstKnock,
	documentLoaderFactory: () => withContexts(getDocumentLoader({ allowPrivateAddress: true })),
	contextLoaderFactory: () => withContexts(getDocumentLoader({ allowPrivateAddress: true })),
	authenticatedDocumentLoaderFactory: (identity) =>
		withContexts(getAuthenticatedDocumentLoader(identity, { allowPrivateAddress: true })),
});

federation
	.setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
		if (!keys.has(identifier))
			return null;
		const pairs = await ctx.getActorKeyPairs(identifier);
		return new Person({
			id: ctx.getActorUri(identifier),
			preferredUsername: identifier,
			name: `${identifier} (Fedify test peer)`,
			url: ctx.getActorUri(identifier),
			inbox: ctx.getInboxUri(identifier),
			outbox: ctx.getOutboxUri(identifier),
			followers: ctx.getFollowersUri(identifier),
			endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
			// RSA key as publicKey (what cavage verifiers look for); both keys as Multikey
			publicKey: pairs[0].cryptographicKey,
			assertionMethods: pairs.map((p) => p.multikey),
			manuallyApprovesFollowers: false,
		});
	})
	.setKeyPairsDispatcher(async (_ctx, identifier) => keys.get(identifier) ?? []);

federation.setOutboxDispatcher("/users/{identifier}/outbox", async () => ({ items: [] }));

federation.setFollowersDispatcher("/users/{identifier}/followers", async (_ctx, identifier) => {
	const f = followers.get(identifier);
	if (f === undefined)
		return null;
	return {
		items: [...f.values()].map((x) => ({
			id: new URL(x.id),
			inboxId: new URL(x.inbox),
			endpoints: x.sharedInbox === undefined ? null : { sharedInbox: new URL(x.sharedInbox) },
		})),
	};
});

function summary(ctx, activity) {
	const attempt = ctx.data?.attempt;
	if (attempt !== undefined)
		attempt.accepted = true;
	return {
		seq: received.length + 1,
		at: new Date().toISOString(),
		user: ctx.recipient ?? null,
		type: activity.constructor.name.replace(/\$\d+$/, ""),
		id: activity.id?.href ?? null,
		actor: activity.actorId?.href ?? null,
		object: activity.objectId?.href ?? null,
		http_signature: attempt?.http_signature ?? null,
		body: attempt?.body ?? null,
	};
}

async function record(ctx, activity, extra = {}) {
	const r = summary(ctx, activity);
	const obj = await activity.getObject({ documentLoader: ctx.documentLoader, crossOrigin: "trust" })
		.catch(() => null);
	if (obj instanceof Note)
		r.content = obj.content?.toString() ?? null;
	push(received, { ...r, ...extra });
}

async function actorRecipient(ctx, actor) {
	if (actor === null || !isActor(actor) || actor.id === null || actor.inboxId === null)
		return null;
	return {
		id: actor.id.href,
		inbox: actor.inboxId.href,
		sharedInbox: actor.endpoints?.sharedInbox?.href,
	};
}

federation
	.setInboxListeners("/users/{identifier}/inbox", "/inbox")
	.on(Follow, async (ctx, follow) => {
		await record(ctx, follow);
		const target = follow.objectId === null ? null : ctx.parseUri(follow.objectId);
		if (target?.type !== "actor" || !followers.has(target.identifier))
			return;
		const actor = await follow.getActor(ctx);
		const rcpt = await actorRecipient(ctx, actor);
		if (rcpt === null)
			return;
		followers.get(target.identifier).set(rcpt.id, rcpt);
		await ctx.sendActivity({ identifier: target.identifier }, actor, new Accept({
			id: new URL(`${ctx.getActorUri(target.identifier).href}/accepts/${randomUUID()}`),
			actor: ctx.getActorUri(target.identifier),
			object: follow,
		}), { immediate: true });
	})
	.on(Accept, async (ctx, accept) => {
		await record(ctx, accept);
		markFollowing(accept, "accepted");
	})
	.on(Reject, async (ctx, reject) => {
		await record(ctx, reject);
		markFollowing(reject, "rejected");
	})
	.on(Undo, async (ctx, undo) => {
		await record(ctx, undo);
		// the Follow is embedded and its id is on another origin: take it as given
		const obj = await undo.getObject({ documentLoader: ctx.documentLoader, contextLoader: ctx.contextLoader,
			crossOrigin: "trust" }).catch(() => null);
		if (obj instanceof Follow && obj.objectId !== null && undo.actorId !== null) {
			const target = ctx.parseUri(obj.objectId);
			if (target?.type === "actor")
				followers.get(target.identifier)?.delete(undo.actorId.href);
		}
	})
	.on(Activity, async (ctx, activity) => {
		await record(ctx, activity);
	})
	.onError((ctx, error) => {
		process.stderr.write(`inbox error: ${error.stack ?? error}\n`);
	});

// Accept/Reject of one of our Follows: the object is our Follow's id (or the Follow embedded);
// match it against the follows we sent to that actor.
function markFollowing(answer, state) {
	if (answer.actorId === null || answer.objectId === null)
		return;
	for (const f of following.values()) {
		const entry = f.get(answer.actorId.href);
		if (entry !== undefined && entry.follow === answer.objectId.href)
			entry.state = state;
	}
}

// ---- test API ----

// acct:user@host -> actor URL, by WebFinger over this server's own scheme (Fedify's own
// lookup only uses https, which loopback http peers do not speak)
async function resolveTarget(ctx, target) {
	if (typeof target !== "string" || target === "")
		throw new Error("target: expected an actor URL or acct:user@host");
	let actorUrl = target;
	const m = /^(?:acct:)?@?([^@/:]+)@([^@/]+)$/.exec(target);
	if (m !== null) {
		const scheme = new URL(origin).protocol;
		const wf = `${scheme}//${m[2]}/.well-known/webfinger?resource=${encodeURIComponent(`acct:${m[1]}@${m[2]}`)}`;
		const res = await fetch(wf, { headers: { accept: "application/jrd+json" } });
		if (!res.ok)
			throw new Error(`WebFinger ${wf}: HTTP ${res.status}`);
		const jrd = await res.json();
		const self = (jrd.links ?? []).find((l) => l.rel === "self" &&
			/^application\/(activity\+json|ld\+json)/.test(l.type ?? ""));
		if (self === undefined)
			throw new Error(`WebFinger ${wf}: no self link`);
		actorUrl = self.href;
	}
	const actor = await ctx.lookupObject(actorUrl);
	if (actor === null || !isActor(actor))
		throw new Error(`${actorUrl}: not an actor`);
	return actor;
}

function localUser(name) {
	if (!keys.has(name))
		throw new Error(`unknown local user ${JSON.stringify(name)}`);
	return name;
}

function newId(ctx, user, kind) {
	return new URL(`${ctx.getActorUri(user).href}/${kind}/${randomUUID()}`);
}

async function recipientFor(ctx, body) {
	if (body.inbox !== undefined) {
		if (typeof body.to !== "string")
			throw new Error("to: the remote actor id is needed with inbox");
		return { id: new URL(body.to), inboxId: new URL(body.inbox), endpoints: null };
	}
	return resolveTarget(ctx, body.to);
}

// "raw": the JSON goes out byte for byte as JSON.stringify(activity), HTTP-signed with the user's
// RSA key (keyId ACTOR#main-key) in the first-knock scheme (or body.spec), retried once with the
// other scheme on a 4xx/5xx unless body.double_knock is false. No LD signature, no proof, and no
// JSON-LD processing, so extension fields (commit, welcome, mimi:...) survive.
async function sendVerbatim(ctx, from, rcpt, json, body) {
	const inbox = body.shared === true && rcpt.endpoints?.sharedInbox ? rcpt.endpoints.sharedInbox : rcpt.inboxId;
	if (inbox === null || inbox === undefined)
		throw new Error("recipient has no inbox");
	const pair = (await ctx.getActorKeyPairs(from)).find((k) => k.privateKey.algorithm.name === "RSASSA-PKCS1-v1_5");
	const text = JSON.stringify(json);
	const first = { cavage: CAVAGE, rfc9421: "rfc9421", [CAVAGE]: CAVAGE }[body.spec ?? cfg.firstKnock];
	if (first === undefined)
		throw new Error("spec: rfc9421 or cavage");
	const specs = body.double_knock === false ? [first] : [first, first === CAVAGE ? "rfc9421" : CAVAGE];
	const attempts = [];
	for (const spec of specs) {
		const req = await signRequest(new Request(inbox, {
			method: "POST",
			headers: { "content-type": "application/activity+json", accept: "application/activity+json" },
			body: text,
		}), pair.privateKey, pair.keyId, { spec });
		const res = await fetch(req);
		attempts.push({ spec, status: res.status, body: (await res.text()).slice(0, 500) });
		if (res.status < 400)
			break;
	}
	return { id: json.id, inbox: inbox.href, status: attempts.at(-1).status, attempts, activity: json };
}

// body: {from, to, inbox?, type: "Create"|"Follow"|"Undo"|"raw", content?, activity?}
async function testSend(ctx, body) {
	const from = localUser(body.from);
	const actorUri = ctx.getActorUri(from);
	const rcpt = await recipientFor(ctx, body);
	const type = body.type ?? (body.activity !== undefined ? "raw" : "Create");
	let activity;
	if (type === "raw" || type === "fedify") {
		if (typeof body.activity !== "object" || body.activity === null || Array.isArray(body.activity))
			throw new Error("activity: expected a JSON-LD object");
		const json = { ...body.activity };
		json["@context"] ??= "https://www.w3.org/ns/activitystreams";
		json.id ??= newId(ctx, from, "activities").href;
		json.actor ??= actorUri.href;
		if (type === "raw")
			return sendVerbatim(ctx, from, rcpt, json, body);
		activity = await Activity.fromJsonLd(json, { documentLoader: ctx.documentLoader,
			contextLoader: ctx.contextLoader });
	} else if (type === "Create") {
		const note = new Note({
			id: newId(ctx, from, "notes"),
			attribution: actorUri,
			to: rcpt.id,
			content: body.content ?? "hello",
			mediaType: body.media_type,
		});
		activity = new Create({ id: newId(ctx, from, "creates"), actor: actorUri, to: rcpt.id, object: note });
	} else if (type === "Follow") {
		activity = new Follow({ id: newId(ctx, from, "follows"), actor: actorUri, object: rcpt.id });
		following.get(from).set(rcpt.id.href, { state: "pending", follow: activity.id.href });
	} else if (type === "Undo") {
		const f = following.get(from).get(rcpt.id.href);
		if (f === undefined)
			throw new Error("Undo: not following that actor");
		activity = new Undo({ id: newId(ctx, from, "undos"), actor: actorUri,
			object: new Follow({ id: new URL(f.follow), actor: actorUri, object: rcpt.id }) });
		following.get(from).delete(rcpt.id.href);
	} else {
		throw new Error(`type: Create, Follow, Undo, raw or fedify, not ${type}`);
	}
	await ctx.sendActivity({ identifier: from }, rcpt, activity, { immediate: true });
	return { id: activity.id?.href, activity: await activity.toJsonLd({ contextLoader: ctx.contextLoader }) };
}

const app = new Hono();

async function jsonBody(c) {
	const t = await c.req.text();
	if (t.length > 1024 * 1024)
		throw new Error("body too large");
	return t === "" ? {} : JSON.parse(t);
}

function apiError(c, e) {
	return c.json({ ok: false, error: String(e?.message ?? e) }, e instanceof SyntaxError ? 400 : 502);
}

app.get("/_test/info", (c) => c.json({
	ok: true, origin, port, first_knock: cfg.firstKnock, strict: cfg.strict,
	actors: Object.fromEntries(cfg.users.map((u) => [u, `${origin}/users/${u}`])),
}));
app.get("/_test/received", (c) => {
	const user = c.req.query("user");
	const type = c.req.query("type");
	return c.json(received.filter((r) => (user === undefined || r.user === user) &&
		(type === undefined || r.type === type)));
});
app.get("/_test/requests", (c) => c.json(requests));
app.get("/_test/followers", (c) => {
	const f = followers.get(c.req.query("user") ?? cfg.users[0]);
	return f === undefined ? c.json({ ok: false, error: "unknown user" }, 404) : c.json([...f.keys()]);
});
app.get("/_test/following", (c) => {
	const f = following.get(c.req.query("user") ?? cfg.users[0]);
	return f === undefined ? c.json({ ok: false, error: "unknown user" }, 404) :
		c.json(Object.fromEntries([...f.entries()].map(([k, v]) => [k, v.state])));
});
app.post("/_test/reset", (c) => {
	received.length = 0;
	requests.length = 0;
	return c.json({ ok: true });
});
app.post("/_test/send", async (c) => {
	try {
		const body = await jsonBody(c);
		const ctx = federation.createContext(new URL(origin), {});
		return c.json({ ok: true, ...(await testSend(ctx, body)) });
	} catch (e) {
		return apiError(c, e);
	}
});
// body: {from, to}
app.post("/_test/follow", async (c) => {
	try {
		const body = await jsonBody(c);
		const ctx = federation.createContext(new URL(origin), {});
		return c.json({ ok: true, ...(await testSend(ctx, { ...body, type: "Follow" })) });
	} catch (e) {
		return apiError(c, e);
	}
});

function signatureScheme(req) {
	if (req.headers.has("signature-input"))
		return "rfc9421";
	if (req.headers.has("signature"))
		return "draft-cavage-http-signatures-12";
	if (/^Signature /i.test(req.headers.get("authorization") ?? ""))
		return "draft-cavage-http-signatures-12";
	return null;
}

function isInboxPost(req) {
	if (req.method !== "POST")
		return false;
	const p = new URL(req.url).pathname;
	return p === "/inbox" || /^\/users\/[^/]+\/inbox$/.test(p);
}

// Every inbox POST: check the HTTP signature ourselves (so a test can prove it was checked even
// when the body carries an LD signature or proof), log the attempt, then hand it to Fedify.
async function inboxPost(req) {
	const body = await req.clone().text();
	const ctx = federation.createContext(req, {});
	const res = await verifyRequestDetailed(req.clone(), {
		documentLoader: ctx.documentLoader,
		contextLoader: ctx.contextLoader,
	});
	const attempt = {
		seq: requests.length + 1,
		at: new Date().toISOString(),
		path: new URL(req.url).pathname,
		http_signature: {
			scheme: signatureScheme(req),
			verified: res.verified,
			key_id: res.verified ? res.key.id?.href ?? null : res.reason.keyId?.href ?? null,
			key_owner: res.verified ? res.key.ownerId?.href ?? null : null,
			failure: res.verified ? null : res.reason.type,
		},
		body: (() => { try { return JSON.parse(body); } catch { return body; } })(),
		accepted: false,
		status: null,
	};
	push(requests, attempt);
	let response;
	if (cfg.strict && !res.verified)
		response = new Response("HTTP signature verification failed", { status: 401 });
	else
		response = await federation.fetch(req, { contextData: { attempt } });
	attempt.status = response.status;
	return response;
}

app.all("*", async (c) => {
	const req = c.req.raw;
	try {
		if (isInboxPost(req))
			return await inboxPost(req);
		return await federation.fetch(req, {
			contextData: {},
			onNotFound: () => new Response("Not found", { status: 404 }),
			onNotAcceptable: () => new Response("Not acceptable", { status: 406 }),
		});
	} catch (e) {
		process.stderr.write(`fedify-server: ${req.method} ${new URL(req.url).pathname} -> 500: ` +
			`${process.env.FEDIFY_DEBUG ? e.stack : String(e).split("\n")[0]}\n`);
		return new Response("internal error", { status: 500 });
	}
});

handler = (req) => app.fetch(req);

process.stdout.write(JSON.stringify({
	ready: true, port, origin, first_knock: cfg.firstKnock,
	actors: Object.fromEntries(cfg.users.map((u) => [u, `${origin}/users/${u}`])),
}) + "\n");

for (const sig of ["SIGTERM", "SIGINT"])
	process.on(sig, () => {
		server.close();
		server.closeAllConnections(); // keep-alive connections would hold close() for seconds
		process.exit(0);
	});
