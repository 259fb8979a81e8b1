// Starts real lbs-agent processes for the end-to-end tests, each in its own directory.

import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const root = new URL("../..", import.meta.url).pathname;
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, "target");
export const agentBin = process.env.LBS_AGENT_BIN ?? join(targetDir, "debug", "lbs-agent");
export const consoleBin = process.env.LBS_CONSOLE_BIN ?? join(targetDir, "debug", "lbs-console");

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function waitForPort(port, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = connect(port, "127.0.0.1");
      sock.once("connect", () => {
        sock.destroy();
        resolve();
      });
      sock.once("error", () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} never opened`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

export class Agent {
  static async create(name, { port, role = "primary" } = {}) {
    const a = new Agent();
    a.dir = mkdtempSync(join(tmpdir(), "lbs-e2e-agent-"));
    a.port = port ?? (await freePort());
    a.config = join(a.dir, "agent.toml");
    const probe = `echo '{"calls": 3, "phones": 12}'`;
    writeFileSync(
      a.config,
      `[server]\nname = "${name}"\nlisten = "127.0.0.1:${a.port}"\nstate_dir = "${join(a.dir, "state")}"\n\n` +
        `[metrics]\ninterval = "1s"\n\n[pbx]\nprobe = ["/bin/sh", "-c", ${JSON.stringify(probe)}]\n\n` +
        `[[sync.category]]\nname = "voicemail"\nlabel = "Voicemail"\npriority = 1\nroots = ["${join(a.dir, "voicemail")}"]\n`,
    );
    // A few voicemails on each box, so the sync has something to show.
    mkdirSync(join(a.dir, "voicemail", "1001"), { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(a.dir, "voicemail", "1001", `msg${i}.txt`), `${name} message ${i}\n`);
    const out = execFileSync(agentBin, ["init", "--config", a.config, "--role", role], { encoding: "utf8" });
    a.link = out.split("\n").map((l) => l.trim()).find((l) => l.startsWith("lbs://"));
    a.token = new URL(a.link.replace("lbs://", "https://")).searchParams.get("token");
    execFileSync(agentBin, ["demo", "seed-history", "--config", a.config, "--days", "2"]);
    return a;
  }

  async start() {
    this.proc = spawn(agentBin, ["run", "--config", this.config], { stdio: ["ignore", "ignore", "pipe"] });
    this.log = "";
    this.proc.stderr.on("data", (d) => (this.log += d));
    await waitForPort(this.port);
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGTERM");
    await exited;
  }

  /** Runs `lbs-agent <args…> --config <this agent's config>`; returns its output. */
  cli(...args) {
    return execFileSync(agentBin, [...args, "--config", this.config], { encoding: "utf8" });
  }

  /** A new token's connection link (`viewer` may only look). */
  newLink(role) {
    return this.cli("token", "create", "--role", role)
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l.startsWith("lbs://"));
  }

  kill9() {
    this.proc?.kill("SIGKILL");
  }

  fingerprint() {
    return new URL(this.link.replace("lbs://", "https://")).searchParams.get("fp");
  }

  readLog() {
    return this.log;
  }
}

export { readFileSync };
