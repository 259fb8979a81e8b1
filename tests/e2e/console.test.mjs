// End-to-end: the real LBS Console (WebKitGTK under Xvfb) driven through tauri-driver, against
// real agents. Screenshots land in artifacts/screenshots/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { WebDriver } from "./webdriver.mjs";
import { Agent, consoleBin, root, freePort } from "./agents.mjs";

const shots = join(root, "artifacts", "screenshots");
mkdirSync(shots, { recursive: true });

let driverProc;
let consoleEnv;
let wd;
let agentA;
let agentB;

async function shot(name) {
  writeFileSync(join(shots, `${name}.png`), await wd.screenshot());
}

before(async () => {
  assert.ok(existsSync(consoleBin), `${consoleBin} is missing: build the workspace first`);
  agentA = await Agent.create("PBX A (server room)");
  agentB = await Agent.create("PBX B (backup)", { role: "backup" });
  await agentA.start();
  await agentB.start();

  const port = await freePort();
  const env = {
    ...process.env,
    LBS_CONSOLE_DATA_DIR: mkdtempSync(join(tmpdir(), "lbs-e2e-console-")),
    LBS_CONSOLE_KEYRING_SERVICE: `lbs-console-e2e-${process.pid}`,
  };
  consoleEnv = env;
  // The driver's output (and the app's, which it starts) goes to a file, not to this process's
  // output: an app left running would otherwise hold the test runner's pipe open forever.
  const log = openSync(join(root, "artifacts", "e2e-driver.log"), "w");
  driverProc = spawn("tauri-driver", ["--port", String(port), "--native-driver", "/usr/bin/WebKitWebDriver"], {
    env,
    stdio: ["ignore", log, log],
  });
  wd = new WebDriver(`http://127.0.0.1:${port}`);
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      await wd.start({ "tauri:options": { application: consoleBin } });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
});

/** Processes started with this run's console data directory in their environment: the app. */
function ourConsoles() {
  if (!consoleEnv) return [];
  const marker = `LBS_CONSOLE_DATA_DIR=${consoleEnv.LBS_CONSOLE_DATA_DIR}\0`;
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, "latin1").includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

after(async () => {
  await wd?.quit();
  driverProc?.kill();
  // Quitting the session normally closes the app; if it did not, it must not outlive the tests.
  const deadline = Date.now() + 5000;
  while (ourConsoles().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of ourConsoles()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await agentA?.stop();
  await agentB?.stop();
});

test("an empty console explains what to do", async () => {
  const title = await wd.waitFor("#empty-title");
  assert.equal(await wd.text(title), "Welcome to LBS Console");
  const buttons = await wd.findAll('[data-testid="add-server"]');
  assert.equal(buttons.length, 2, "one add button in the sidebar, one in the welcome");
  await shot("01-empty");
});

test("a pasted connection link adds the server and its graphs fill with history", async () => {
  await wd.click(await wd.waitFor('[data-testid="add-server"]'));
  const tab = await wd.waitFor('[data-testid="tab-link"]');
  await wd.click(tab);
  await wd.type(await wd.waitFor('[data-testid="link-input"]'), agentA.link);
  await shot("02-add-dialog");
  await wd.click(await wd.waitFor('[data-testid="link-submit"]'));
  const name = await wd.waitFor('[data-testid="server-name"]', {
    predicate: async (id) => (await wd.text(id)).includes("PBX A"),
  });
  assert.match(await wd.text(name), /PBX A/);
  const role = await wd.waitFor('[data-testid="server-role"]');
  assert.equal(await wd.text(role), "Primary");
  await wd.waitFor('[data-testid="server-reachable"]', {
    predicate: async (id) => (await wd.attr(id, "data-state")) === "reachable",
  });
  for (const kind of ["resources", "network", "pbx_activity"]) {
    await wd.waitFor(`[data-testid="chart-${kind}"]`, {
      timeout: 20000,
      predicate: async (id) => Number(await wd.attr(id, "data-points")) > 0,
    });
  }
  await shot("03-server-graphs");
});

test("the time range picker asks for a longer range", async () => {
  const chart = await wd.waitFor('[data-testid="chart-pbx_activity"]');
  const before = Number(await wd.attr(chart, "data-points"));
  await wd.click(await wd.waitFor('[data-testid="range-24h"]'));
  await wd.waitFor('[data-testid="chart-pbx_activity"]', {
    timeout: 20000,
    predicate: async (id) => Number(await wd.attr(id, "data-points")) > before,
  });
  await shot("04-range-24h");
});

test("manual add shows the fingerprint to confirm, then pins it", async () => {
  await wd.click(await wd.waitFor('[data-testid="add-server"]'));
  await wd.click(await wd.waitFor('[data-testid="tab-manual"]'));
  await wd.type(await wd.waitFor('[data-testid="address-input"]'), `127.0.0.1:${agentB.port}`);
  await wd.type(await wd.waitFor('[data-testid="token-input"]'), agentB.token);
  await wd.click(await wd.waitFor('[data-testid="probe-submit"]'));
  const fp = await wd.waitFor('[data-testid="fingerprint"]');
  const shown = (await wd.text(fp)).replace(/[^0-9A-Fa-f]/g, "").toLowerCase();
  assert.equal(shown, agentB.fingerprint());
  await shot("05-confirm-fingerprint");
  await wd.click(await wd.waitFor('[data-testid="fingerprint-confirm"]'));
  await wd.waitFor('[data-testid="server-name"]', {
    predicate: async (id) => (await wd.text(id)).includes("PBX B"),
  });
  const items = await wd.findAll('[data-testid="server-list-item"]');
  assert.equal(items.length, 2);
  await wd.waitFor('[data-testid="server-role"]', { predicate: async (id) => (await wd.text(id)) === "Backup" });
});

test("a link with the wrong certificate fingerprint is refused with a warning", async () => {
  await wd.click(await wd.waitFor('[data-testid="add-server"]'));
  await wd.click(await wd.waitFor('[data-testid="tab-link"]'));
  const bad = agentA.link.replace(/fp=[0-9a-f]{64}/, `fp=${"ab".repeat(32)}`);
  await wd.type(await wd.waitFor('[data-testid="link-input"]'), bad);
  await wd.click(await wd.waitFor('[data-testid="link-submit"]'));
  const err = await wd.waitFor('[data-testid="dialog-error"]');
  assert.match(await wd.text(err), /different certificate/);
  await shot("06-certificate-mismatch");
  await wd.cmd("POST", "/actions", {
    actions: [{ type: "key", id: "kbd", actions: [{ type: "keyDown", value: "\uE00C" }, { type: "keyUp", value: "\uE00C" }] }],
  });
});

test("an agent that stops answering is shown as unreachable in plain words", async () => {
  await agentB.stop();
  const banner = await wd.waitFor('[data-testid="status-error"]', {
    timeout: 30000,
    predicate: async (id) => (await wd.attr(id, "data-kind")) === "unreachable",
  });
  assert.match(await wd.text(banner), /switched on/);
  await shot("07-unreachable");
});
