// Starts real lbs-agent processes for the end-to-end tests, each in its own directory; for the
// autopilot, the demo's phone system on each box and a real three-member etcd vote set up by the
// real `lbs-agent witness setup` on both boxes and the witness's script.

import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from "node:fs";
import { request, Agent as HttpsAgent } from "node:https";
import { createServer, connect } from "node:net";
import { connect as tlsConnect } from "node:tls";
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

/** The demo's phone system (`start|stop|running DIR PORT`): a SIP server that answers OPTIONS. */
export const pbxScript = join(root, "scripts", "demo", "pbx.sh");

export class Agent {
  /**
   * `pbx`: the agent runs a phone system ([pbx] start, stop, running and sip_check: the demo's,
   * answering SIP at 127.0.0.1:`pbx.sip`); `failover`: more `[failover]` lines; `pbxVersion`:
   * what the box's PBX says its version is (`[pbx] version`).
   */
  static async create(name, { port, role = "primary", pbx, failover = "", pbxVersion = "Asterisk 20.6.0" } = {}) {
    const a = new Agent();
    a.name = name;
    a.dir = mkdtempSync(join(tmpdir(), "lbs-e2e-agent-"));
    a.port = port ?? (await freePort());
    a.config = join(a.dir, "agent.toml");
    const probe = `echo '{"calls": 3, "phones": 12}'`;
    let pbxLines = "";
    if (pbx) {
      a.sip = pbx.sip;
      const args = (cmd) => JSON.stringify([pbxScript, cmd, join(a.dir, "pbx"), String(pbx.sip)]);
      pbxLines =
        `start = ${args("start")}\nstop = ${args("stop")}\nrunning = ${args("running")}\n` +
        `sip_check = "127.0.0.1:${pbx.sip}"\ncheck_interval = "1s"\n`;
    }
    writeFileSync(
      a.config,
      `[server]\nname = "${name}"\nlisten = "127.0.0.1:${a.port}"\nstate_dir = "${join(a.dir, "state")}"\n\n` +
        `[metrics]\ninterval = "1s"\n\n[pbx]\nprobe = ["/bin/sh", "-c", ${JSON.stringify(probe)}]\n` +
        `version = ["/bin/echo", ${JSON.stringify(pbxVersion)}]\n${pbxLines}\n` +
        (failover ? `[failover]\n${failover}\n\n` : "") +
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
    // Gone already (exited, or killed: then only its signal is set).
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGCONT"); // a frozen agent would not see the SIGTERM
    this.proc.kill("SIGTERM");
    await exited;
  }

  /** SIGSTOP: the agent is there but answers nothing (a hung agent); `thaw` resumes it. */
  freeze() {
    this.proc?.kill("SIGSTOP");
  }

  thaw() {
    this.proc?.kill("SIGCONT");
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

  /** Runs the box's phone system command (`start`, `stop`); `running` answers a boolean. */
  pbx(cmd) {
    const args = [cmd, join(this.dir, "pbx"), String(this.sip)];
    if (cmd !== "running") return execFileSync(pbxScript, args, { encoding: "utf8" });
    try {
      execFileSync(pbxScript, args);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A call to the agent's API (`/api/v1` + `path`) with this agent's token, over TLS pinned to
   * its certificate's fingerprint (checked before the request is sent); resolves to
   * `{ status, body }` with the body parsed from JSON.
   */
  api(path, { method = "GET", body, token = this.token } = {}) {
    const want = this.fingerprint();
    const port = this.port;
    const pinned = new HttpsAgent({ keepAlive: false });
    pinned.createConnection = (_options, done) => {
      const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false });
      socket.once("error", done);
      socket.once("secureConnect", () => {
        const got = socket.getPeerCertificate().fingerprint256?.replace(/:/g, "").toLowerCase();
        if (got === want) return done(null, socket);
        socket.destroy();
        done(new Error(`the agent on port ${port} presents ${got}, not the certificate of its link (${want})`));
      });
    };
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path: `/api/v1${path}`,
          method,
          agent: pinned,
          headers: {
            authorization: `Bearer ${token}`,
            ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d) => (text += d));
          res.on("end", () => {
            let parsed;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              parsed = text;
            }
            resolve({ status: res.statusCode, body: parsed });
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** `GET /api/v1/autopilot`: what this box says of automatic failover. */
  async autopilot() {
    const { status, body } = await this.api("/autopilot");
    if (status !== 200) throw new Error(`GET /api/v1/autopilot on ${this.name}: ${status} ${JSON.stringify(body)}`);
    return body;
  }

  fingerprint() {
    return new URL(this.link.replace("lbs://", "https://")).searchParams.get("fp");
  }

  readLog() {
    return this.log;
  }
}

/**
 * The vote for automatic failover as an office has it, on one machine: three etcd members on
 * 127.0.0.1 (the primary), 127.0.0.2 (the backup) and 127.0.0.3 (the witness) — Linux answers on
 * all of 127.0.0.0/8 — set up the way a contractor does it: `lbs-agent witness setup --witness …`
 * on the primary, the witness's script it writes, `lbs-agent witness setup` on the backup; each
 * with its files under a folder of its own (`--install-root`, the script's `LBS_WITNESS_ROOT`)
 * instead of /etc, and etcd started here from the settings they wrote, as Debian's etcd.service
 * would. The agents are restarted to read their new `[witness]`.
 */
export class Vote {
  static async setUp(primary, backup) {
    const v = new Vote();
    v.dir = mkdtempSync(join(tmpdir(), "lbs-e2e-vote-"));
    v.roots = { a: join(v.dir, "a"), b: join(v.dir, "b"), witness: join(v.dir, "witness") };
    v.procs = {};
    const [client, peer] = [String(await freePort()), String(await freePort())];
    const script = join(v.dir, "lbs-witness-setup.sh");
    v.said = primary.cli(
      "witness", "setup", "--witness", "127.0.0.3", "--address", "127.0.0.1", "--partner-address", "127.0.0.2",
      "--client-port", client, "--peer-port", peer, "--script", script, "--install-root", v.roots.a,
    );
    v.said += execFileSync("sh", [script], { encoding: "utf8", env: { ...process.env, LBS_WITNESS_ROOT: v.roots.witness } });
    v.said += backup.cli("witness", "setup", "--install-root", v.roots.b);
    for (const m of Object.keys(v.roots)) v.start(m);
    await primary.stop();
    await backup.stop();
    await primary.start();
    await backup.start();
    return v;
  }

  /** Starts member `m` (`a`, `b` or `witness`) from its settings, with the data it has. */
  start(m) {
    const env = join(this.roots[m], "etc", "default", "etcd");
    if (!existsSync(env)) throw new Error(`no etcd settings at ${env}: the witness setup did not write them`);
    const proc = spawn("sh", ["-c", 'set -a; . "$1"; exec etcd', "sh", env], { stdio: ["ignore", "pipe", "pipe"] });
    proc.log = "";
    proc.stdout.on("data", (d) => (proc.log += d));
    proc.stderr.on("data", (d) => (proc.log += d));
    this.procs[m] = proc;
  }

  /** Stops member `m` as systemd would (SIGTERM) and waits until it has exited. */
  async stop(m) {
    const proc = this.procs[m];
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    await exited;
  }

  async stopAll() {
    await Promise.all(Object.keys(this.procs).map((m) => this.stop(m)));
  }

  /** Deletes the vote's files (etcd preallocates its log: a few hundred MB a run). */
  remove() {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Every member's output, for a failure message or the artifacts. */
  logs() {
    return Object.entries(this.procs)
      .map(([m, p]) => `--- ${m}\n${p.log.split("\n").slice(-40).join("\n")}`)
      .join("\n");
  }
}

export { readFileSync };
