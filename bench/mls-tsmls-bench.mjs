// ts-mls 1.6.4 on the operations bench_mls.c measures for aim (see the comment at its top):
// suite 1, a committer (leaf 0) and one receiver (the last leaf, joining from the last Welcome)
// with real state, the other members added in Commits of at most 1000 Adds (tree out of band);
// then the median time of: a Commit
// adding one member (create / process) and its Welcome size, an empty-path Commit (one external
// PSK proposal), a full-path Update (no proposals), and the mean of 50 application messages of
// 100 bytes (encrypt / decrypt). Commits are PublicMessages; encoding and decoding the
// MLSMessage bytes are part of create and process.
//
// Usage: node bench/mls-tsmls-bench.mjs --sizes 2,10,100 --budget SECONDS
// Prints one JSON line per size: {size, create_add, ..., welcome_bytes, setup_s} (milliseconds)
// or {size, skipped: "why"} when the size did not fit in what was left of the budget.
// ts-mls is loaded from tests/interop/node_modules (scripts/test-setup.sh installs it).

import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const interop = join(here, "..", "tests", "interop");
const require = createRequire(join(interop, "package.json"));
const mls = await import(pathToFileURL(require.resolve("ts-mls")).href);
const {
	acceptAll, createApplicationMessage, createCommit, createGroup, decodeMlsMessage,
	defaultCapabilities, defaultLifetime, encodeMlsMessage, generateKeyPackage,
	getCiphersuiteFromName, getCiphersuiteImpl, joinGroup, makePskIndex, processPrivateMessage,
	processPublicMessage,
} = mls;
const { encodeRatchetTree, decodeRatchetTree } = await import(
	pathToFileURL(join(dirname(require.resolve("ts-mls")), "ratchetTree.js")).href);

const BATCH = 1000;
const APP_REPS = 50; // aim: 200 (ts-mls is slower; the mean settles well before)

class OverBudget extends Error {}
let deadline = Infinity;
function checkBudget(what) {
	if (now() > deadline)
		throw new OverBudget(what);
}

function arg(name, dflt) {
	const i = process.argv.indexOf(`--${name}`);
	return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const sizes = arg("sizes", "2,10,100,1000,10000").split(",").map(Number);
const budgetMs = Number(arg("budget", "75")) * 1000;
const impl = await getCiphersuiteImpl(getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"));
const pskId = new TextEncoder().encode("bench-psk");
const psks = { [Buffer.from(pskId).toString("base64")]: new Uint8Array(32).fill(7) };
const now = () => performance.now();

function median(v) {
	const s = [...v].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function keyPackage(i) {
	const cred = { credentialType: "basic", identity: new TextEncoder().encode(`member-${i}@bench.test`) };
	return generateKeyPackage(cred, defaultCapabilities(), defaultLifetime, [], impl);
}

// committer commits (as PublicMessage, encoded), receiver decodes and processes
async function round(st, proposals) {
	const t0 = now();
	const r = await createCommit({ state: st.a, cipherSuite: impl, pskIndex: makePskIndex(st.a, psks) }, {
		extraProposals: proposals, ratchetTreeExtension: false, wireAsPublicMessage: true,
	});
	const bytes = encodeMlsMessage(r.commit);
	const t1 = now();
	const m = decodeMlsMessage(bytes, 0)[0];
	const p = await processPublicMessage(st.b, m.publicMessage, makePskIndex(st.b, psks), impl, acceptAll);
	const t2 = now();
	st.a = r.newState;
	st.b = p.newState;
	const welcome = r.welcome === undefined ? 0 :
		encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: r.welcome }).length;
	return { create: t1 - t0, process: t2 - t1, welcome };
}

function lastLeaf(tree) {
	for (let i = tree.length - 1; i >= 0; i -= 1)
		if (i % 2 === 0 && tree[i] !== undefined)
			return i / 2;
	return -1;
}

async function benchSize(n) {
	const t0 = now();
	const kps = [];
	for (let i = 0; i < n; i++) {
		kps.push(await keyPackage(i));
		if (i % 64 === 0)
			checkBudget(`generating KeyPackages (${i} of ${n})`);
	}
	const st = { a: await createGroup(randomBytes(16), kps[0].publicPackage, kps[0].privatePackage, [], impl), b: undefined };
	for (let from = 1; from < n; from += BATCH) {
		checkBudget(`adding members (${from} of ${n})`);
		const adds = kps.slice(from, Math.min(n, from + BATCH)).map((kp) => ({ proposalType: "add", add: { keyPackage: kp.publicPackage } }));
		const r = await createCommit({ state: st.a, cipherSuite: impl, pskIndex: makePskIndex(st.a, psks) }, {
			extraProposals: adds, ratchetTreeExtension: false, wireAsPublicMessage: true,
		});
		st.a = r.newState;
		if (from + adds.length === n) {
			const tree = decodeRatchetTree(encodeRatchetTree(st.a.ratchetTree), 0)[0];
			st.b = await joinGroup(r.welcome, kps[n - 1].publicPackage, kps[n - 1].privatePackage,
				makePskIndex(undefined, psks), impl, tree);
		}
	}
	const setup = now() - t0;
	const reps = n <= 10 ? 5 : n <= 100 ? 3 : 1; // aim: 9 / 5 / 3 (medians either way)
	const v = { create_add: [], process_add: [], create_empty: [], process_empty: [], create_update: [], process_update: [] };
	let welcome = 0;
	for (let k = 0; k < reps; k++) {
		checkBudget(`measuring (run ${k + 1} of ${reps})`);
		const joiner = await keyPackage(n + k);
		let r = await round(st, [{ proposalType: "add", add: { keyPackage: joiner.publicPackage } }]);
		v.create_add.push(r.create);
		v.process_add.push(r.process);
		welcome = r.welcome;
		await round(st, [{ proposalType: "remove", remove: { removed: lastLeaf(st.a.ratchetTree) } }]);
		r = await round(st, [{ proposalType: "psk", psk: { preSharedKeyId: { psktype: "external", pskId, pskNonce: randomBytes(32) } } }]);
		v.create_empty.push(r.create);
		v.process_empty.push(r.process);
		r = await round(st, []);
		v.create_update.push(r.create);
		v.process_update.push(r.process);
	}
	const out = { size: n, setup_s: setup / 1000, welcome_bytes: welcome,
		tree_bytes: encodeRatchetTree(st.a.ratchetTree).length };
	for (const [k, list] of Object.entries(v))
		out[k] = median(list);
	const pt = new Uint8Array(100).fill(0x78);
	let enc = 0, dec = 0;
	for (let k = 0; k < APP_REPS; k++) {
		checkBudget("application messages");
		const t0m = now();
		const r = await createApplicationMessage(st.a, pt, impl);
		const bytes = encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: r.privateMessage });
		const t1m = now();
		const m = decodeMlsMessage(bytes, 0)[0];
		const p = await processPrivateMessage(st.b, m.privateMessage, makePskIndex(st.b, psks), impl, acceptAll);
		const t2m = now();
		if (p.kind !== "applicationMessage" || p.message.length !== 100)
			throw new Error("application message not read back");
		st.a = r.newState;
		st.b = p.newState;
		enc += t1m - t0m;
		dec += t2m - t1m;
	}
	out.encrypt = enc / APP_REPS;
	out.decrypt = dec / APP_REPS;
	return out;
}

// Sizes in order until the budget is used up: a size is skipped when its setup alone (scaled
// linearly from the last size, a lower bound) would not fit, and abandoned when the budget runs
// out while it is measured.
const start = now();
deadline = start + budgetMs;
let last; // {n, setup_ms} of the last size run
let over;
for (const n of sizes) {
	const left = deadline - now();
	const setupEstimate = last === undefined ? 0 : last.setup_ms * (n / last.n);
	if (over !== undefined) {
		console.log(JSON.stringify({ size: n, skipped: `not tried: ${over}` }));
		continue;
	}
	if (setupEstimate > left) {
		over = `the ${budgetMs / 1000} s budget is used up`;
		console.log(JSON.stringify({ size: n, skipped: `skipped: its setup alone needs about ` +
			`${Math.round(setupEstimate / 1000)} s, ${Math.max(0, Math.round(left / 1000))} s left of the ` +
			`${budgetMs / 1000} s budget` }));
		continue;
	}
	const t0 = now();
	try {
		const r = await benchSize(n);
		last = { n, setup_ms: r.setup_s * 1000 };
		console.log(JSON.stringify(r));
		process.stderr.write(`mls-tsmls-bench: ts-mls, ${n} members done (${((now() - t0) / 1000).toFixed(1)} s)\n`);
	} catch (e) {
		if (!(e instanceof OverBudget))
			throw e;
		over = `the ${budgetMs / 1000} s budget is used up`;
		console.log(JSON.stringify({ size: n, skipped: `abandoned after ${((now() - t0) / 1000).toFixed(0)} s ` +
			`while ${e.message}: the ${budgetMs / 1000} s budget is used up` }));
	}
}
