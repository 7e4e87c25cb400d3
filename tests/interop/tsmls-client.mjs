// Small helper to run tsmls-driver.mjs as a child process from Node scripts.
//   const d = await TsMlsDriver.start();  const r = await d.call("create_client", {suite: 1});
//   await d.close();
// call() resolves with the response object (ok true or false); req() throws when ok is false.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));

export class TsMlsDriver {
	constructor(label) {
		this.label = label;
		this.child = spawn(process.execPath, [join(here, "tsmls-driver.mjs")], {
			stdio: ["pipe", "pipe", "inherit"],
		});
		this.waiting = [];
		this.nextId = 1;
		this.exited = false;
		createInterface({ input: this.child.stdout }).on("line", (line) => {
			const w = this.waiting.shift();
			if (w !== undefined)
				w.resolve(JSON.parse(line));
		});
		this.child.on("exit", (code) => {
			this.exited = true;
			for (const w of this.waiting.splice(0))
				w.reject(new Error(`${this.label}: driver exited (${code})`));
		});
	}

	static async start(label = "driver") {
		const d = new TsMlsDriver(label);
		const h = await d.req("hello");
		if (h.driver !== "tsmls-driver")
			throw new Error("unexpected hello");
		return d;
	}

	call(cmd, args = {}) {
		if (this.exited)
			return Promise.reject(new Error(`${this.label}: driver is gone`));
		const id = this.nextId++;
		return new Promise((resolve, reject) => {
			this.waiting.push({ resolve, reject });
			this.child.stdin.write(JSON.stringify({ id, cmd, ...args }) + "\n");
		}).then((r) => {
			if (r.id !== id)
				throw new Error(`${this.label}: response id ${r.id} != ${id}`);
			return r;
		});
	}

	async req(cmd, args = {}) {
		const r = await this.call(cmd, args);
		if (!r.ok)
			throw new Error(`${this.label}: ${cmd} failed: ${r.error}`);
		return r;
	}

	async close() {
		if (this.exited)
			return;
		const done = new Promise((resolve) => this.child.on("exit", resolve));
		this.child.stdin.end();
		await done;
	}
}
