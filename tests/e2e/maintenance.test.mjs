// End-to-end: maintenance mode from the real LBS Console (WebKitGTK under Xvfb, through
// tauri-driver) against two real paired agents. The office manager starts it from the office
// view; both agents hold it; the primary is stopped during the work and no notification is
// shown; ending it from the console (through the backup) tells what is still wrong; a length
// beyond the agents' limits is refused in the dialog, before asking them; one set at a box shows
// in the console.
// Screenshots land in artifacts/screenshots/ (maintenance-*.png).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { WebDriver } from "./webdriver.mjs";
import { Agent, consoleBin, root, freePort } from "./agents.mjs";
import { Notifications, until } from "./desktop.mjs";

const shots = join(root, "artifacts", "screenshots");
mkdirSync(shots, { recursive: true });

let driverProc;
let consoleEnv;
let wd;
let agentA;
let agentB;
let notifications;

const A = "PBX A (server room)";
const B = "PBX B (comms room)";

async function shot(name) {
  writeFileSync(join(shots, `maintenance-${name}.png`), await wd.screenshot());
}

before(async () => {
  assert.ok(existsSync(consoleBin), `${consoleBin} is missing: build the workspace first`);
  notifications = new Notifications(join(root, "artifacts", "e2e-maintenance-notifications.log"));
  agentA = await Agent.create(A);
  agentB = await Agent.create(B, { role: "backup" });
  await agentA.start();
  await agentB.start();
  // Paired before the console sees them: A's link brings B into the office too.
  agentB.cli("pair", agentA.link);

  const port = await freePort();
  consoleEnv = {
    ...process.env,
    LBS_CONSOLE_DATA_DIR: mkdtempSync(join(tmpdir(), "lbs-e2e-maintenance-")),
    LBS_CONSOLE_KEYRING_SERVICE: `lbs-console-e2e-maintenance-${process.pid}`,
  };
  const log = openSync(join(root, "artifacts", "e2e-maintenance-driver.log"), "w");
  driverProc = spawn("tauri-driver", ["--port", String(port), "--native-driver", "/usr/bin/WebKitWebDriver"], {
    env: consoleEnv,
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

/** The app's processes: those started with this run's console data directory. */
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
  for (const [name, agent] of [["a", agentA], ["b", agentB]]) {
    if (agent) writeFileSync(join(root, "artifacts", `e2e-maintenance-agent-${name}.log`), agent.readLog());
  }
  await wd?.quit();
  driverProc?.kill();
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
  notifications?.stop();
});

/** Waits until the element `css` shows text matching `re`; returns the text. */
async function textOf(css, re, timeout = 30000) {
  const el = await wd.waitFor(css, { timeout, predicate: async (id) => re.test(await wd.text(id)) });
  return wd.text(el);
}

const sentence = (re, timeout) => textOf('[data-testid="pair-sentence"]', re, timeout);

/** Nothing matching `css` is shown. */
async function gone(css, timeout = 30000) {
  await until(
    async () => {
      for (const id of await wd.findAll(css)) {
        if (await wd.cmd("GET", `/element/${id}/displayed`).catch(() => false)) return false;
      }
      return true;
    },
    { timeout, failure: () => `${css} is still shown` },
  );
}

/** Resolves once the page has drawn two more frames (a screenshot then shows what changed). */
function painted() {
  return wd.cmd("POST", "/execute/async", {
    script: "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
    args: [],
  });
}

/** Resizes the window and waits until the page has laid itself out at that size. */
async function resize(width, height) {
  await wd.cmd("POST", "/window/rect", { width, height });
  // The inner size, give or take the window's frame.
  let inner;
  await until(
    async () => {
      inner = await wd.cmd("POST", "/execute/sync", { script: "return [window.innerWidth, window.innerHeight];", args: [] });
      return Math.abs(inner[0] - width) <= 40 && Math.abs(inner[1] - height) <= 80;
    },
    { timeout: 10000, failure: () => `the window is ${inner?.join("×")}, not about ${width}×${height}` },
  );
  await painted();
}

/** What `lbs-agent maintenance` prints on a box. */
const atBox = (agent) => agent.cli("maintenance");

test("the office is added with one link and is protected", async () => {
  await wd.click(await wd.waitFor('[data-testid="add-server"]'));
  await wd.click(await wd.waitFor('[data-testid="tab-link"]'));
  await wd.type(await wd.waitFor('[data-testid="link-input"]'), agentA.link);
  await wd.click(await wd.waitFor('[data-testid="link-submit"]'));
  assert.match(await sentence(/^Protected/, 60000), /^Protected/);
});

test("maintenance is started from the office view and both servers hold it", async () => {
  await wd.click(await wd.waitFor('[data-testid="start-maintenance"]'));
  await wd.waitFor('[data-testid="maintenance-dialog"]');
  // Nothing starts without a reason.
  const start = await wd.waitFor('[data-testid="maintenance-start"]');
  assert.equal(await wd.attr(start, "disabled"), "true");
  assert.match(await wd.text(await wd.waitFor('[data-testid="maintenance-missing"]')), /Say why/);
  await wd.type(await wd.waitFor('[data-testid="maintenance-reason"]'), "replacing the disk of PBX A");
  await wd.type(await wd.waitFor('[data-testid="maintenance-by"]'), "Sam");
  const lengths = await wd.findAll('[data-testid="maintenance-length"]');
  await wd.click(lengths[2]); // 2 hours
  await wd.waitFor('[data-testid="maintenance-length"]:checked', {
    predicate: async (id) => id === lengths[2],
  });
  await painted();
  await shot("01-dialog");
  await wd.click(await wd.waitFor('[data-testid="maintenance-start"]:not([disabled])'));

  const said = await textOf('[data-testid="maintenance-sentence"]', /^Maintenance until/);
  assert.match(said, /^Maintenance until (tomorrow )?\d\d:\d\d — Sam: replacing the disk of PBX A\.$/);
  assert.match(
    await textOf('[data-testid="maintenance-result"]', /Maintenance is on/),
    new RegExp(`^Maintenance is on for ${escape(A)} and ${escape(B)} until (tomorrow )?\\d\\d:\\d\\d\\.$`),
  );
  await wd.waitFor('[data-testid="office-maintenance-mark"]');
  await gone('[data-testid="start-maintenance"]');
  // Both boxes hold it, for the two hours picked: the one the console asked, and its partner.
  for (const agent of [agentA, agentB]) {
    assert.match(atBox(agent), /^Maintenance for the pair: until .*set by Sam: replacing the disk of PBX A/);
    const { maintenance } = JSON.parse(agent.cli("status", "--json"));
    assert.equal(maintenance.until_unix - maintenance.set_at_unix, 7200);
  }
  await shot("02-on");
  await wd.click(await wd.waitFor('[data-testid="theme-dark"]'));
  await painted();
  await shot("02b-on-dark");
  await wd.click(await wd.waitFor('[data-testid="theme-system"]'));
});

test("the primary stopped during the work raises no notification; ending it from the console tells it then", async () => {
  await agentA.stop();
  // Seen as silent over several polls (the sentence counts the seconds).
  await sentence(/^Primary PBX A \(server room\) unreachable for ([6-9]|\d\d) s/, 60000);
  assert.doesNotMatch(notifications.text(), /does not answer/, "held during the maintenance");
  await textOf('[data-testid="maintenance-sentence"]', /Sam: replacing the disk/);
  await shot("03-primary-stopped-during-work");

  // Ended through the backup, the only box that answers: it says A did not hear it.
  await wd.click(await wd.waitFor('[data-testid="end-maintenance"]:not([disabled])'));
  assert.match(
    await textOf('[data-testid="maintenance-result"]', /Maintenance ended/),
    new RegExp(`^Maintenance ended on ${escape(B)}; ${escape(A)} did not answer and will learn it when it does\\.$`),
  );
  await gone('[data-testid="maintenance-note"]');
  await notifications.waitFor(/the primary PBX A \(server room\) does not answer/);
  await shot("04-ended-while-primary-down");

  // A comes back and learns the end from the heartbeat.
  await agentA.start();
  assert.match(await sentence(/^Protected/, 60000), /^Protected/);
  await until(() => /^No maintenance/.test(atBox(agentA)), {
    timeout: 20000,
    failure: () => `A still says: ${atBox(agentA)}`,
  });
});

test("a length beyond the agents' limits is refused in the dialog, before asking them", async () => {
  await wd.click(await wd.waitFor('[data-testid="start-maintenance"]'));
  await wd.type(await wd.waitFor('[data-testid="maintenance-reason"]'), "moving the rack");
  await wd.click(await wd.waitFor('[data-testid="maintenance-length-custom"]'));
  await wd.type(await wd.waitFor('[data-testid="maintenance-hours"]'), "30");
  const missing = await textOf('[data-testid="maintenance-missing"]', /lasts/);
  assert.equal(missing, "Type a number of hours: a maintenance lasts from 1 minute to 24 hours.");
  assert.equal(await wd.attr(await wd.waitFor('[data-testid="maintenance-start"]'), "disabled"), "true");
  await shot("05-refused");
  await wd.click(await wd.waitFor('[data-testid="maintenance-cancel"]'));
  await gone('[data-testid="maintenance-dialog"]');
  assert.match(atBox(agentA), /^No maintenance/);
});

test("maintenance set at a box shows in the console, and its end too", async () => {
  agentB.cli("maintenance", "on", "--for", "45m", "--reason", "updating the phone system", "--by", "Kim");
  assert.match(
    await textOf('[data-testid="maintenance-sentence"]', /Kim/),
    /^Maintenance until (tomorrow )?\d\d:\d\d — Kim: updating the phone system\.$/,
  );
  await wd.waitFor('[data-testid="office-maintenance-mark"]');
  // At the smallest window the console allows, the note still reads well.
  await resize(900, 600);
  await shot("06-set-at-the-box-900x600");
  await resize(1200, 800);
  agentA.cli("maintenance", "off");
  await gone('[data-testid="maintenance-note"]');
  await gone('[data-testid="office-maintenance-mark"]');
  await wd.waitFor('[data-testid="start-maintenance"]');
});

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
