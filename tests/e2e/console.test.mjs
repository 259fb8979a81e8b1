// End-to-end: the real LBS Console (WebKitGTK under Xvfb) driven through tauri-driver, against
// real agents. Screenshots land in artifacts/screenshots/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  writeFileSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { WebDriver } from "./webdriver.mjs";
import { Agent, consoleBin, root, freePort } from "./agents.mjs";
import { Notifications, Tray, closeWindow, saveAs, screenShot, until, visibleWindows } from "./desktop.mjs";

const shots = join(root, "artifacts", "screenshots");
mkdirSync(shots, { recursive: true });

let driverProc;
let consoleEnv;
let wd;
let agentA;
let agentB;
let notifications;
let tray;
/** Where the tests save files through the native dialog. */
const saved = mkdtempSync(join(tmpdir(), "lbs-e2e-saved-"));

async function shot(name) {
  writeFileSync(join(shots, `${name}.png`), await wd.screenshot());
}

before(async () => {
  assert.ok(existsSync(consoleBin), `${consoleBin} is missing: build the workspace first`);
  notifications = new Notifications(join(root, "artifacts", "e2e-notifications.log"));
  tray = new Tray();
  agentA = await Agent.create("PBX A (server room)");
  // B runs an older phone system than A: the Health tab says what that may break.
  agentB = await Agent.create("PBX B (comms room)", { role: "backup", pbxVersion: "Asterisk 18.9.0" });
  await agentA.start();
  await agentB.start();

  const port = await freePort();
  const env = {
    ...process.env,
    LBS_CONSOLE_DATA_DIR: mkdtempSync(join(tmpdir(), "lbs-e2e-console-")),
    LBS_CONSOLE_KEYRING_SERVICE: `lbs-console-e2e-${process.pid}`,
    // "Start at login" writes to the home directory: a private one, never the user's.
    HOME: mkdtempSync(join(tmpdir(), "lbs-e2e-home-")),
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

/** The console app's own process (not the driver's, nor WebKit's helpers), or null. */
function appPid() {
  const bin = realpathSync(consoleBin);
  return (
    ourConsoles().find((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/exe`) === bin;
      } catch {
        return false;
      }
    }) ?? null
  );
}

after(async () => {
  // The agents' own logs, for a failure's post-mortem (B's since its last start).
  for (const [name, agent] of [["a", agentA], ["b", agentB]]) {
    if (agent) writeFileSync(join(root, "artifacts", `e2e-agent-${name}.log`), agent.readLog());
  }
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
  notifications?.stop();
  tray?.stop();
});

/** Waits until `file` exists and is not empty; returns its bytes. */
function savedFile(file, timeout = 20000) {
  return until(() => existsSync(file) && readFileSync(file).length > 0 && readFileSync(file), {
    timeout,
    failure: () => `${file} was not saved`,
  });
}

/** Waits until the History tab says `file` was saved (after the whole file is written). */
function savedMessage(file) {
  return wd.waitFor('[data-testid="export-result"]', {
    timeout: 20000,
    predicate: async (id) => (await wd.text(id)) === `Saved to ${file}`,
  });
}

/** Waits until the office's sentence matches `re`; returns it. */
async function sentence(re, timeout = 30000) {
  const el = await wd.waitFor('[data-testid="pair-sentence"]', {
    timeout,
    predicate: async (id) => re.test(await wd.text(id)),
  });
  return wd.text(el);
}

/** The machine cards' [name, role, reachable] in order. */
async function cards() {
  const out = [];
  for (const id of await wd.findAll('[data-testid="machine-card"]')) {
    out.push([await wd.attr(id, "data-server"), await wd.attr(id, "data-role"), await wd.attr(id, "data-reachable")]);
  }
  return out;
}

async function waitCards(expected, timeout = 30000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await cards().catch(() => []);
    if (JSON.stringify(last) === JSON.stringify(expected)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.deepEqual(last, expected);
}

async function tab(name) {
  await wd.click(await wd.waitFor(`[data-testid="tab-${name}"]`));
}

/** Presses one key (a WebDriver key code) on whatever has the focus. */
async function press(value) {
  await wd.cmd("POST", "/actions", {
    actions: [{ type: "key", id: "kbd", actions: [{ type: "keyDown", value }, { type: "keyUp", value }] }],
  });
}

const escape = () => press("\uE00C");
const arrowRight = () => press("\uE014");

test("an empty console explains what to do", async () => {
  const title = await wd.waitFor("#empty-title");
  assert.equal(await wd.text(title), "Welcome to LBS Console");
  const buttons = await wd.findAll('[data-testid="add-server"]');
  assert.equal(buttons.length, 2, "one add button in the sidebar, one in the welcome");
  await shot("01-empty");
  // No office yet: the tray icon is amber (nothing is protected).
  await tray.waitFor("at_risk");
});

test("a pasted link adds the primary as an office that is not protected yet", async () => {
  await wd.click(await wd.waitFor('[data-testid="add-server"]'));
  await wd.click(await wd.waitFor('[data-testid="tab-link"]'));
  await wd.type(await wd.waitFor('[data-testid="link-input"]'), agentA.link);
  await shot("02-add-dialog");
  await wd.click(await wd.waitFor('[data-testid="link-submit"]'));
  await waitCards([["PBX A (server room)", "primary", "true"]]);
  assert.match(await sentence(/no partner/), /Not protected: PBX A \(server room\) has no partner/);
  await wd.waitFor('[data-testid="add-partner"]');
  await shot("03-office-one-server");
});

test("the history tab fills both graphs and a longer range asks for more", async () => {
  await tab("history");
  for (const kind of ["resources", "network", "pbx_activity"]) {
    await wd.waitFor(`[data-testid="chart-${kind}"]`, {
      timeout: 20000,
      predicate: async (id) => Number(await wd.attr(id, "data-points")) > 0,
    });
  }
  await shot("04-history");
  const chart = await wd.waitFor('[data-testid="chart-pbx_activity"]');
  const before = Number(await wd.attr(chart, "data-points"));
  await wd.click(await wd.waitFor('[data-testid="range-24h"]'));
  await wd.waitFor('[data-testid="chart-pbx_activity"]', {
    timeout: 20000,
    predicate: async (id) => Number(await wd.attr(id, "data-points")) > before,
  });
  // A is the primary: its primary period is shaded behind its graphs.
  const charts = await wd.waitFor('[data-testid="history-charts"]');
  assert.ok(Number(await wd.attr(charts, "data-bands")) >= 1, "a primary band");
  await tab("servers");
});

test("a range is exported as CSV and the graphs as a picture, through the native save dialog", async () => {
  await tab("history");
  await wd.click(await wd.waitFor('[data-testid="export-csv"]:not([disabled])', { timeout: 20000 }));
  const csv = join(saved, "history.csv");
  await new Promise((r) => setTimeout(r, 1500));
  screenShot(join(shots, "04b-save-dialog.png"));
  await saveAs(csv);
  // The app says "Saved" once the file is written whole; read it only then.
  await savedMessage(csv);
  const lines = (await savedFile(csv)).toString("utf8").trimEnd().split("\r\n");
  assert.match(lines[0], /^Time,Unix time,Active calls,Registered phones,.*CPU use \(%\)/);
  assert.ok(lines.length > 100, `${lines.length} lines for 24 hours`);

  await wd.click(await wd.waitFor('[data-testid="export-png"]:not([disabled])'));
  const png = join(saved, "graphs.png");
  await saveAs(png);
  await savedMessage(png);
  const bytes = await savedFile(png);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG file");
  assert.ok(bytes.length > 20000, `${bytes.length} bytes: the graphs, not an empty picture`);
  await tab("servers");
});

test("the partner added by address shows its fingerprint, is pinned, and the office is protected live", async () => {
  // The office is paired now: B copies A and they exchange heartbeats. (Paired before A was
  // added, A's link would have brought B in too: see the view-only test.)
  agentB.cli("pair", agentA.link);
  await wd.click(await wd.waitFor('[data-testid="add-partner"]'));
  await wd.click(await wd.waitFor('[data-testid="tab-manual"]'));
  await wd.type(await wd.waitFor('[data-testid="address-input"]'), `127.0.0.1:${agentB.port}`);
  await wd.type(await wd.waitFor('[data-testid="token-input"]'), agentB.token);
  await wd.click(await wd.waitFor('[data-testid="probe-submit"]'));
  const fp = await wd.waitFor('[data-testid="fingerprint"]');
  const shown = (await wd.text(fp)).replace(/[^0-9A-Fa-f]/g, "").toLowerCase();
  assert.equal(shown, agentB.fingerprint());
  await shot("05-confirm-fingerprint");
  await wd.click(await wd.waitFor('[data-testid="fingerprint-confirm"]'));
  await waitCards([
    ["PBX A (server room)", "primary", "true"],
    ["PBX B (comms room)", "backup", "true"],
  ]);
  assert.match(await sentence(/^Protected/), /^Protected/);
  assert.equal((await wd.findAll('[data-testid="office-list-item"]')).length, 1, "one office of two servers");
  await shot("06-dashboard-protected");
  await tray.waitFor("protected");
});

test("a link with the wrong certificate fingerprint is refused with a warning", async () => {
  await wd.click(await wd.waitFor('[data-testid="add-server"]'));
  await wd.click(await wd.waitFor('[data-testid="tab-link"]'));
  const bad = agentA.link.replace(/fp=[0-9a-f]{64}/, `fp=${"ab".repeat(32)}`);
  await wd.type(await wd.waitFor('[data-testid="link-input"]'), bad);
  await wd.click(await wd.waitFor('[data-testid="link-submit"]'));
  const err = await wd.waitFor('[data-testid="dialog-error"]');
  assert.match(await wd.text(err), /different certificate/);
  await shot("07-certificate-mismatch");
  await escape();
});

test("the sync tab, reached with the keyboard, lists every category on both servers", async () => {
  await tab("servers");
  await arrowRight();
  const sync = await wd.waitFor('[data-testid="tab-sync"]', {
    predicate: async (id) => (await wd.attr(id, "aria-selected")) === "true",
  });
  assert.ok(sync);
  const rows = await wd.waitFor('[data-testid="sync-row"]', { timeout: 20000 });
  assert.ok(rows);
  assert.ok((await wd.findAll('[data-testid="sync-row"]')).length >= 1);
  await shot("08-sync");
  // The link, as the backup measures it: a round trip in milliseconds, no loss, the same clock.
  const roundTrip = await wd.waitFor('[data-testid="link-round-trip"]', {
    timeout: 20000,
    predicate: async (id) => / ms$/.test(await wd.text(id)),
  });
  assert.match(await wd.text(roundTrip), /^\d+(\.\d)? ms$/);
  assert.equal(await wd.text(await wd.waitFor('[data-testid="link-loss"]')), "0%");
  assert.equal(await wd.text(await wd.waitFor('[data-testid="link-clock"]')), "The same time on both");
  assert.equal((await wd.findAll('[data-testid="link-warning"]')).length, 0, "a loopback link keeps up");
  await wd.cmd("POST", "/execute/sync", {
    script: 'document.querySelector(\'[data-testid="link-card"]\').scrollIntoView({ block: "center" }); return true;',
    args: [],
  });
  await shot("08d-link");
  await tab("servers");
});

test("the health tab shows both machines side by side, what differs first", async () => {
  await tab("health");
  const said = await wd.waitFor('[data-testid="health-summary"]', {
    timeout: 30000,
    predicate: async (id) => (await wd.text(id)) !== "",
  });
  // The same machine twice, but for the phone system's version.
  const differences = await wd.waitFor('[data-testid="health-difference"]', { timeout: 30000 });
  assert.match(await wd.text(differences), /Asterisk 18\.9\.0|18\.9/);
  assert.match(await wd.text(differences), /What to do: /);
  assert.notEqual(await wd.attr(said, "data-tone"), "ok");
  const first = (await wd.findAll('[data-testid="health-row"]'))[0];
  assert.equal(await wd.attr(first, "data-area"), "pbx", "what differs comes first");
  assert.notEqual(await wd.attr(first, "data-marked"), "");
  const heads = await wd.text(await wd.waitFor('[data-testid="health-table"] thead'));
  assert.match(heads, /PBX A \(server room\)\s*Primary\s*PBX B \(comms room\)\s*Backup/);
  await shot("08e-health");
  await wd.cmd("POST", "/execute/sync", {
    script: 'document.querySelector(\'[data-testid="health-table"]\').scrollIntoView({ block: "start" }); return true;',
    args: [],
  });
  await shot("08f-health-side-by-side");
  await tab("servers");
});

test("a voicemail deleted on the primary is put back from the backup's deleted files, over a newer one only when asked", async () => {
  const file = join(agentA.dir, "voicemail", "1001", "msg0.txt");
  const content = readFileSync(file, "utf8");
  rmSync(file);
  // The backup follows the delete by moving its copy into its trash.
  const trash = join(agentB.dir, "voicemail", ".lbs-sync", "trash");
  await until(() => existsSync(trash) && readdirSync(trash, { recursive: true }).some((f) => String(f).endsWith("msg0.txt")), {
    timeout: 30000,
    every: 250,
    failure: () => "the backup did not keep the deleted file",
  });
  await tab("sync");
  const row = '[data-testid="trash-row"][data-path="1001/msg0.txt"]';
  await wd.waitFor(row, { timeout: 20000 });
  await wd.scrollTo('[data-testid="trash"]');
  await new Promise((r) => setTimeout(r, 300));
  await shot("08b-deleted-files");
  // Meanwhile a new message took that name on the primary: it is replaced only when asked.
  writeFileSync(file, "a newer message\n");
  await wd.click(await wd.waitFor(`${row} [data-testid="trash-restore"]`));
  const refusal = await wd.waitFor('[data-testid="trash"] [role="alert"]', { timeout: 20000 });
  assert.match(await wd.text(refusal), /different file/);
  assert.equal(readFileSync(file, "utf8"), "a newer message\n", "not replaced unasked");
  await wd.click(await wd.waitFor(`${row} [data-testid="trash-replace"]`));
  await wd.waitFor('[data-testid="trash"] [role="status"]', {
    timeout: 20000,
    predicate: async (id) => /is back on PBX A/.test(await wd.text(id)),
  });
  assert.equal(readFileSync(file, "utf8"), content, "the voicemail is back on the primary, unchanged");
  // The newer message is now in the primary's own trash, listed there with its own Put back.
  const aside = '[data-testid="trash-primary-row"][data-path="1001/msg0.txt"]';
  await wd.waitFor(aside, { timeout: 20000 });
  await wd.scrollTo('[data-testid="trash"]');
  await new Promise((r) => setTimeout(r, 300));
  await shot("08c-kept-on-primary");
  await tab("servers");
});

test("a first switchover has no hold to wait out: the pair never failed over; then it runs and is logged", async () => {
  // A has been the primary since the pair was set up: no "settling" on its card.
  const primaryFor = '[data-testid="machine-card"][data-server="PBX A (server room)"] [data-testid="primary-for"]';
  const held = await wd.waitFor(primaryFor, { timeout: 20000 });
  assert.doesNotMatch(await wd.text(held), /settling/);
  await wd.click(await wd.waitFor('[data-testid="start-failover"]'));
  await wd.waitFor('[data-testid="wizard-facts"]', { timeout: 20000 });
  await shot("09-wizard-assess");
  await wd.click(await wd.waitFor('[data-testid="wizard-next"]'));
  const run = await wd.waitFor('[data-testid="wizard-run"]');
  for (const warn of await wd.findAll('[data-testid="wizard-warnings"]')) {
    assert.doesNotMatch(await wd.text(warn), /became the primary only/, "no hold before the first failover");
  }
  // A change still on its way to B is the only thing that may ask for a reason here.
  if ((await wd.attr(run, "disabled")) === "true") {
    await wd.type(await wd.waitFor('[data-testid="override-reason"]'), "Planned maintenance of PBX A tonight");
  }
  await wd.click(run);
  const result = await wd.waitFor('[data-testid="wizard-result"]', { timeout: 60000 });
  assert.equal(await wd.attr(result, "data-ok"), "true", await wd.text(result));
  assert.match(await wd.text(await wd.waitFor('[data-testid="downtime"]')), /Phones without a primary/);
  await shot("11-wizard-result");
  await wd.click(await wd.waitFor('[data-testid="wizard-done"]'));
  await waitCards([
    ["PBX A (server room)", "backup", "true"],
    ["PBX B (comms room)", "primary", "true"],
  ]);
  // B took the role from A: its hold runs now.
  await wd.waitFor('[data-testid="machine-card"][data-server="PBX B (comms room)"] [data-testid="primary-for"]', {
    timeout: 20000,
    predicate: async (id) => /settling/.test(await wd.text(id)),
  });
  await tab("events");
  await wd.waitFor('[data-testid="event-row"]', {
    timeout: 20000,
    predicate: async (id) => /Switched over|switchover/i.test(await wd.text(id)),
  });
  await shot("12-events");
  await tab("servers");
});

test("an unplanned failover: the primary is killed, confirmed off and the backup takes over", async () => {
  agentB.kill9();
  assert.match(await sentence(/^Primary PBX B \(comms room\) unreachable/, 40000), /unreachable/);
  // The manager is told even with the window in the background.
  await notifications.waitFor(/the primary PBX B \(comms room\) does not answer/);
  const err = await wd.waitFor('[data-testid="machine-error"]');
  assert.equal(await wd.attr(err, "data-kind"), "unreachable");
  await shot("13-primary-down");
  await tray.waitFor("down");
  screenShot(join(shots, "13b-tray-down.png"));
  await wd.click(await wd.waitFor('[data-testid="start-failover"]'));
  await wd.waitFor('[data-testid="wizard"][data-kind="unplanned"]', { timeout: 20000 });
  await wd.click(await wd.waitFor('[data-testid="wizard-next"]'));
  const run = await wd.waitFor('[data-testid="wizard-run"]');
  assert.equal(await wd.attr(run, "disabled"), "true");
  await wd.click(await wd.waitFor('[data-testid="confirm-off"]'));
  await wd.type(await wd.waitFor('[data-testid="confirm-name"]'), "PBX A (server room)");
  await shot("14-wizard-confirm-unplanned");
  await wd.click(run);
  const result = await wd.waitFor('[data-testid="wizard-result"]', { timeout: 60000 });
  assert.equal(await wd.attr(result, "data-ok"), "true", await wd.text(result));
  await shot("15-failover-result");
  await wd.click(await wd.waitFor('[data-testid="wizard-done"]'));
  await waitCards([
    ["PBX A (server room)", "primary", "true"],
    ["PBX B (comms room)", "primary", "false"],
  ]);
  await notifications.waitFor(/PBX A \(server room\) is now the primary/);
});

test("the history of a server that does not answer comes from this computer's copy", async () => {
  await tab("history");
  const section = '[data-testid="history-machine"][data-server="PBX B (comms room)"]';
  const note = await wd.waitFor(`${section} [data-testid="history-copy-note"]`, { timeout: 30000 });
  assert.match(await wd.text(note), /PBX B \(comms room\) is not answering\. These graphs are this computer's copy/);
  for (const kind of ["pbx_activity", "network", "resources"]) {
    await wd.waitFor(`${section} [data-testid="chart-${kind}"]`, {
      timeout: 20000,
      predicate: async (id) => Number(await wd.attr(id, "data-points")) > 0,
    });
  }
  await wd.alone(section);
  await shot("15b-history-copy");
  await wd.alone(section, false);
  await tab("servers");
});

test("the repaired box rejoins as the backup and the office is protected again", async () => {
  await agentB.start();
  await waitCards(
    [
      ["PBX A (server room)", "primary", "true"],
      ["PBX B (comms room)", "backup", "true"],
    ],
    60000,
  );
  assert.match(await sentence(/^Protected/, 60000), /^Protected/);
  await shot("16-reintegrated");
  await tray.waitFor("protected");
});

test("switching back during the hold is held back until a reason is typed", async () => {
  // A took the role from B by the failover: switching back now would come before the hold ends.
  await wd.click(await wd.waitFor('[data-testid="start-failover"]'));
  await wd.waitFor('[data-testid="wizard-facts"]', { timeout: 20000 });
  await wd.click(await wd.waitFor('[data-testid="wizard-next"]'));
  const warn = await wd.waitFor('[data-testid="wizard-warnings"]');
  assert.match(await wd.text(warn), /became the primary only/);
  const run = await wd.waitFor('[data-testid="wizard-run"]');
  assert.equal(await wd.attr(run, "disabled"), "true", "refused without a reason");
  await shot("10-wizard-hold-warning");
  await wd.type(await wd.waitFor('[data-testid="override-reason"]'), "Planned maintenance of PBX B tonight");
  await wd.waitFor('[data-testid="wizard-run"]', { predicate: async (id) => (await wd.attr(id, "disabled")) === null });
  // Not run: the manager thinks better of it.
  await escape();
  await until(async () => (await wd.findAll('[data-testid="wizard"]')).length === 0, {
    timeout: 5000,
    failure: () => "the wizard stayed open",
  });
  await waitCards([
    ["PBX A (server room)", "primary", "true"],
    ["PBX B (comms room)", "backup", "true"],
  ]);
});

test("a server followed to a new address: only the same machine is accepted", async () => {
  const card = '[data-testid="machine-card"][data-server="PBX B (comms room)"]';
  await wd.click(await wd.waitFor(`${card} [data-testid="change-address"]`));
  const input = await wd.waitFor(`${card} [data-testid="address-input"]`);
  await wd.type(input, `127.0.0.1:${agentA.port}`);
  await wd.click(await wd.waitFor(`${card} [data-testid="address-save"]`));
  const refusal = await wd.waitFor(`${card} [role="alert"]`, { timeout: 20000 });
  assert.match(await wd.text(refusal), /different certificate/);
  await shot("16b-address-refused");
  await wd.type(input, `localhost:${agentB.port}`);
  await wd.click(await wd.waitFor(`${card} [data-testid="address-save"]`));
  // The form closes on success; a refusal stays in the card as an alert.
  const after = await wd.waitFor(`${card} [data-testid="change-address"], ${card} [role="alert"]`, { timeout: 20000 });
  assert.equal(await wd.attr(after, "data-testid"), "change-address", `refused: ${await wd.text(after)}`);
  await wd.waitFor(`${card} [data-testid="machine-address"]`, {
    timeout: 20000,
    predicate: async (id) => (await wd.text(id)) === `localhost:${agentB.port}`,
  });
  assert.match(await sentence(/^Protected/, 30000), /^Protected/);
});

test("a replaced machine leaves the office but its history stays; added again, it is back", async () => {
  const card = '[data-testid="machine-card"][data-server="PBX B (comms room)"]';
  await wd.click(await wd.waitFor(`${card} [data-testid="remove-server"]`));
  await shot("16c-replace-machine");
  await wd.click(await wd.waitFor(`${card} [data-testid="remove-server-confirm"]`));
  await waitCards([["PBX A (server room)", "primary", "true"]]);
  await tab("history");
  const former = await wd.waitFor('[data-testid="history-former"]', { timeout: 20000 });
  assert.match(await wd.text(former), /PBX B \(comms room\) — replaced on/);
  await wd.waitFor('[data-testid="history-former"] [data-testid="chart-resources"]', {
    timeout: 20000,
    predicate: async (id) => Number(await wd.attr(id, "data-points")) > 0,
  });
  await wd.alone('[data-testid="history-former"]');
  await shot("16d-former-history");
  // Deleting it asks first (left unanswered: the tab is left next).
  await wd.click(await wd.waitFor('[data-testid="history-former"] [data-testid="forget-former"]'));
  await wd.waitFor('[data-testid="history-former"] [data-testid="forget-former-confirm"]');
  await shot("16e-forget-former");
  await wd.alone('[data-testid="history-former"]', false);
  await tab("servers");
  await wd.click(await wd.waitFor('[data-testid="add-partner"]'));
  await wd.click(await wd.waitFor('[data-testid="tab-link"]'));
  await wd.type(await wd.waitFor('[data-testid="link-input"]'), agentB.link);
  await wd.click(await wd.waitFor('[data-testid="link-submit"]'));
  await waitCards([
    ["PBX A (server room)", "primary", "true"],
    ["PBX B (comms room)", "backup", "true"],
  ]);
  await tab("history");
  await wd.waitFor('[data-testid="history-machine"][data-server="PBX B (comms room)"]', { timeout: 20000 });
  assert.equal((await wd.findAll('[data-testid="history-former"]')).length, 0, "no longer a former machine");
  await tab("servers");
});

test("the layout holds at the smallest window the console allows (900 × 600)", async () => {
  await tab("servers");
  await wd.cmd("POST", "/window/rect", { width: 900, height: 600 });
  const size = async () => wd.cmd("POST", "/execute/sync", { script: "return [innerWidth, innerHeight]", args: [] });
  await until(async () => JSON.stringify(await size()) === "[900,600]", {
    timeout: 10000,
    failure: () => "the window did not take 900 × 600",
  });
  assert.match(await sentence(/^Protected/, 30000), /^Protected/);
  await new Promise((r) => setTimeout(r, 500));
  await shot("20-smallest-window");
  const layout = await wd.cmd("POST", "/execute/sync", {
    script: `const box = (sel) => document.querySelector(sel).getBoundingClientRect();
      const names = [...document.querySelectorAll(".office-item-server-name, .server-item-name")];
      return {
        overflow: document.querySelector(".app").scrollWidth - innerWidth,
        sentence: box('[data-testid="pair-sentence"]').width,
        cut: names.filter((n) => n.scrollWidth > n.clientWidth + 1).map((n) => n.textContent),
        cards: [...document.querySelectorAll('[data-testid="machine-card"]')].map((c) => Math.round(c.getBoundingClientRect().top)),
      };`,
    args: [],
  });
  assert.ok(layout.overflow <= 0, `the page is ${layout.overflow} px wider than the window`);
  assert.ok(layout.sentence >= 300, `the office's sentence is squeezed to ${layout.sentence} px`);
  assert.deepEqual(layout.cut, [], "server names cut in the sidebar");
  assert.equal(new Set(layout.cards).size, 1, `both cards side by side: ${layout.cards}`);
  await tab("sync");
  await wd.waitFor('[data-testid="sync-row"]', { timeout: 20000 });
  await shot("20b-smallest-window-sync");
  await tab("servers");
  await wd.cmd("POST", "/window/rect", { width: 1200, height: 800 });
});

test("start at login is switched on and off in Settings: the XDG autostart entry appears and goes", async () => {
  const entry = join(consoleEnv.HOME, ".config", "autostart", "LBS Console.desktop");
  assert.ok(!existsSync(entry), "not on by default");
  await wd.click(await wd.waitFor('[data-testid="open-settings"]'));
  const checked = async (id) => (await wd.cmd("GET", `/element/${id}/property/checked`)) === true;
  await wd.click(await wd.waitFor('[data-testid="start-at-login"]:not([disabled])'));
  await until(() => existsSync(entry), { timeout: 10000, failure: () => `${entry} was not written` });
  // It starts this console, in the tray.
  assert.match(readFileSync(entry, "utf8"), new RegExp(`^Exec=${realpathSync(consoleBin)} --background`, "m"));
  await wd.waitFor('[data-testid="start-at-login"]:not([disabled])', { predicate: checked });
  await shot("21-settings");
  await wd.click(await wd.waitFor('[data-testid="start-at-login"]:not([disabled])'));
  await until(() => !existsSync(entry), { timeout: 10000, failure: () => `${entry} is still there` });
  await wd.waitFor('[data-testid="start-at-login"]:not([disabled])', { predicate: async (id) => !(await checked(id)) });
  await wd.click(await wd.waitFor('[data-testid="settings-done"]'));
});

test("closed, the console keeps watching from the tray: the backup going silent is notified, and its card says what it was", async () => {
  assert.match(await sentence(/^Protected/, 30000), /^Protected/);
  const pid = appPid();
  assert.ok(pid, "the console runs");
  // The window's close button, as a window manager sends it.
  await closeWindow("LBS Console");
  await until(() => visibleWindows("LBS Console").length === 0, {
    timeout: 10000,
    failure: () => "the window is still shown",
  });
  await notifications.waitFor(/LBS Console keeps watching/);
  assert.equal(appPid(), pid, "the same console still runs");
  await tray.waitFor("protected");
  screenShot(join(shots, "22-closed-to-tray.png"));
  // With the window closed, the backup stops answering: the console notices, says so, and the
  // tray turns amber.
  agentB.kill9();
  await notifications.waitFor(/the backup PBX B \(comms room\) stopped answering/);
  assert.match(notifications.text(), /The phones still work on PBX A \(server room\), but nothing is being copied/);
  await tray.waitFor("at_risk");
  // Started again, the console brings its window back rather than starting a second one.
  const again = spawn(consoleBin, [], { env: consoleEnv, stdio: "ignore" });
  assert.equal(await new Promise((r) => again.once("exit", r)), 0, "the second start hands over and exits");
  await until(() => visibleWindows("LBS Console").length === 1, {
    timeout: 10000,
    failure: () => "the window did not come back",
  });
  assert.equal(appPid(), pid, "still the one console");
  // B's card and the sidebar give the role it was last seen in, not a current one.
  const card = '[data-testid="machine-card"][data-server="PBX B (comms room)"]';
  const note = await wd.waitFor(`${card} [data-testid="machine-silent"]`, { timeout: 20000 });
  assert.match(await wd.text(note), /^Last seen as backup, silent for \d+ s$/);
  assert.equal((await wd.findAll(`${card} [data-testid="machine-role"]`)).length, 0, "no role badge for a silent box");
  assert.match(await wd.text(await wd.waitFor('[data-testid="server-list-silent"]')), /Last seen as backup, silent for/);
  await shot("23-backup-silent");
  await agentB.start();
  assert.match(await sentence(/^Protected/, 60000), /^Protected/);
});

test("view-only tokens see everything and the failover button says why it is disabled", async () => {
  await wd.click(await wd.waitFor('[data-testid="remove-office"]'));
  await shot("17-remove-office");
  await wd.click(await wd.waitFor('[data-testid="remove-office-confirm"]'));
  await wd.waitFor("#empty-title");
  // One view-only link to the primary brings in the whole office: B issues a view-only token of
  // its own through the pair, pinned by the pairing.
  await wd.click(await wd.waitFor('[data-testid="add-server"]'));
  await wd.click(await wd.waitFor('[data-testid="tab-link"]'));
  await wd.type(await wd.waitFor('[data-testid="link-input"]'), agentA.newLink("viewer"));
  await wd.click(await wd.waitFor('[data-testid="link-submit"]'));
  await waitCards([
    ["PBX A (server room)", "primary", "true"],
    ["PBX B (comms room)", "backup", "true"],
  ]);
  const button = await wd.waitFor('[data-testid="start-failover"]');
  assert.equal(await wd.attr(button, "disabled"), "true");
  const reason = await wd.waitFor('[data-testid="failover-disabled-reason"]');
  assert.match(await wd.text(reason), /view-only/);
  await shot("18-viewer");
  // An administrator's token entered on the backup's card lifts it.
  const card = '[data-testid="machine-card"][data-server="PBX B (comms room)"]';
  await wd.click(await wd.waitFor(`${card} [data-testid="change-token"]`));
  await wd.type(await wd.waitFor(`${card} [data-testid="token-change-input"]`), agentB.token);
  await shot("18b-new-token");
  await wd.click(await wd.waitFor(`${card} [data-testid="token-change-save"]`));
  await wd.waitFor('[data-testid="start-failover"]', {
    timeout: 20000,
    predicate: async (id) => (await wd.attr(id, "disabled")) === null,
  });
  assert.equal((await wd.findAll('[data-testid="failover-disabled-reason"]')).length, 0);
});

test("the dark theme", async () => {
  await wd.click(await wd.waitFor('[data-testid="theme-dark"]'));
  await wd.waitFor('html[data-theme="dark"]');
  // Buttons fade to their new colours (0.12 s): shoot once they are there.
  await new Promise((r) => setTimeout(r, 500));
  await shot("19-dark");
  await wd.click(await wd.waitFor('[data-testid="theme-system"]'));
});

test("without a tray to come back from, closing the window quits the console", async () => {
  tray.stop();
  await until(() => visibleWindows("panel").length === 0, { timeout: 10000, failure: () => "the tray is still shown" });
  const pid = appPid();
  assert.ok(pid, "the console runs");
  await closeWindow("LBS Console");
  await until(() => appPid() === null, {
    timeout: 15000,
    failure: () => "the console still runs with no tray to bring its window back",
  });
});
