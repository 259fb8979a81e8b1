// End-to-end: automatic failover ("autopilot") in the real LBS Console (WebKitGTK under Xvfb,
// through tauri-driver) against two real paired agents that run a phone system (the demo's: a SIP
// server the agents start and stop) and a real three-member etcd vote with TLS, set up by the
// real `lbs-agent witness setup` on both boxes and the witness's script (members on 127.0.0.1,
// .2 and .3). The office shows it is on autopilot and who takes over; the manager switches it off
// (a reason required) and on again, and both agents say so through their API; the witness's etcd
// member stopped shows the witness out of reach while the pair stays on autopilot, and back to
// normal when it runs again; the primary's agent and phone system killed, the backup takes over
// by itself and the console shows it.
// Screenshots land in artifacts/screenshots/ (autopilot-e2e-*.png).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { WebDriver } from "./webdriver.mjs";
import { Agent, Vote, consoleBin, root, freePort } from "./agents.mjs";
import { Notifications, until } from "./desktop.mjs";

const shots = join(root, "artifacts", "screenshots");
mkdirSync(shots, { recursive: true });

let driverProc;
let consoleEnv;
let wd;
let agentA;
let agentB;
let vote;
let notifications;

const A = "PBX A (server room)";
const B = "PBX B (comms room)";

async function shot(name) {
  await painted();
  writeFileSync(join(shots, `autopilot-e2e-${name}.png`), await wd.screenshot());
}

before(async () => {
  assert.ok(existsSync(consoleBin), `${consoleBin} is missing: build the workspace first`);
  for (const tool of ["etcd", "etcdctl"]) {
    assert.ok(
      process.env.PATH.split(":").some((d) => existsSync(join(d, tool))),
      `${tool} is missing: run scripts/setup.sh (it installs etcd-server and etcd-client)`,
    );
  }
  notifications = new Notifications(join(root, "artifacts", "e2e-autopilot-notifications.log"));
  // Each box asks the other's phone system at its own SIP port ([failover] partner_sip).
  const [sipA, sipB] = [await freePort(), await freePort()];
  // The default lease and heartbeat: the takeover the office gets out of the box (about 11 s).
  const failover = (partnerSip) => `partner_sip = "127.0.0.1:${partnerSip}"`;
  agentA = await Agent.create(A, { pbx: { sip: sipA }, failover: failover(sipB) });
  agentB = await Agent.create(B, { role: "backup", pbx: { sip: sipB }, failover: failover(sipA) });
  await agentA.start();
  await agentB.start();
  agentB.cli("pair", agentA.link);
  vote = await Vote.setUp(agentA, agentB);
  // The pair on autopilot before the console looks: both boxes armed, A holding the leader key.
  await until(
    async () => {
      const [a, b] = [await agentA.autopilot(), await agentB.autopilot()];
      return a.armed && b.armed && a.leader === A;
    },
    { timeout: 60000, every: 500, failure: () => `the pair is not on autopilot:\n${vote.said}\n${vote.logs()}` },
  );

  const port = await freePort();
  consoleEnv = {
    ...process.env,
    LBS_CONSOLE_DATA_DIR: mkdtempSync(join(tmpdir(), "lbs-e2e-autopilot-")),
    LBS_CONSOLE_KEYRING_SERVICE: `lbs-console-e2e-autopilot-${process.pid}`,
  };
  const log = openSync(join(root, "artifacts", "e2e-autopilot-driver.log"), "w");
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
    if (agent) writeFileSync(join(root, "artifacts", `e2e-autopilot-agent-${name}.log`), agent.readLog());
  }
  if (vote) writeFileSync(join(root, "artifacts", "e2e-autopilot-etcd.log"), vote.logs());
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
  // The phone systems outlive their agents (their own session, like a service): stopped here.
  for (const agent of [agentA, agentB]) {
    try {
      agent?.pbx("stop");
    } catch (e) {
      console.error(`# ${agent.name}'s phone system: ${e}`);
    }
  }
  await vote?.stopAll();
  vote?.remove();
  notifications?.stop();
});

/** Waits until the element `css` shows text matching `re`; returns the text. */
async function textOf(css, re, timeout = 30000) {
  let last = "";
  try {
    const el = await wd.waitFor(css, {
      timeout,
      predicate: async (id) => re.test((last = await wd.text(id))),
    });
    return wd.text(el);
  } catch (e) {
    throw new Error(`${css} never matched ${re}; it last said: ${last}\n${e.message}`);
  }
}

const line = (re, timeout) => textOf('[data-testid="autopilot-sentence"]', re, timeout);
const notes = (re, timeout) => textOf('[data-testid="autopilot-notes"]', re, timeout);

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

/** Whether the vote's details (the members as each server reaches them) are open. */
async function voteOpen() {
  return wd.cmd("POST", "/execute/sync", {
    script: 'return document.querySelector(\'[data-testid="autopilot-vote"]\')?.open ?? null;',
    args: [],
  });
}

/** Both agents' word on the autopilot, through their API, once `check(a, b)` holds. */
async function bothSay(what, check, timeout = 20000) {
  let last;
  return until(
    async () => {
      last = [await agentA.autopilot(), await agentB.autopilot()];
      return check(...last) && last;
    },
    { timeout, every: 300, failure: () => `the agents never said ${what}:\n${JSON.stringify(last, null, 1)}` },
  );
}

const kinds = (s) => s.blockers.map((b) => b.kind);

/** Opens the failover wizard and returns its word on automatic failover once it matches `re`. */
async function wizardNote(re) {
  await wd.click(await wd.waitFor('[data-testid="start-failover"]:not([disabled])'));
  return textOf('[data-testid="wizard-autopilot"]', re);
}

async function closeWizard() {
  await wd.click(await wd.waitFor('[data-testid="wizard-cancel"]'));
  await gone('[data-testid="wizard"]');
}
/** When the primary's agent went silent (the takeover tests). */
let t0;
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("the office shows it is on autopilot, and who takes over", async () => {
  await wd.click(await wd.waitFor('[data-testid="add-server"]'));
  await wd.click(await wd.waitFor('[data-testid="tab-link"]'));
  await wd.type(await wd.waitFor('[data-testid="link-input"]'), agentA.link);
  await wd.click(await wd.waitFor('[data-testid="link-submit"]'));
  await textOf('[data-testid="pair-sentence"]', /^Protected/, 60000);
  const said = await line(/^Autopilot: on/);
  assert.match(said, new RegExp(`^Autopilot: on — if ${esc(A)} fails, ${esc(B)} takes over by itself \\(about \\d+ s\\)\\.$`));
  assert.equal(await wd.attr(await wd.waitFor('[data-testid="autopilot"]'), "data-level"), "on");
  assert.match(await notes(/configuration/), /On since it was set up \(the servers' configuration\)\./);
  // All is well: the vote is folded away, its line says so.
  assert.equal(
    await textOf('[data-testid="autopilot-vote-summary"]', /answers/),
    `Every member of the vote answers ${A} and ${B}.`,
  );
  assert.equal(await voteOpen(), false);
  assert.equal(await wd.text(await wd.waitFor('[data-testid="autopilot-switch"]')), "Switch off…");
  await shot("01-on");
});

test("the manager switches it off with a reason, both agents hold it, the office says who and why", async () => {
  await wd.click(await wd.waitFor('[data-testid="autopilot-switch"]'));
  await wd.waitFor('[data-testid="autopilot-dialog"][data-on="false"]');
  // Not without a reason.
  const send = await wd.waitFor('[data-testid="autopilot-send"]');
  assert.equal(await wd.attr(send, "disabled"), "true");
  assert.match(await wd.text(await wd.waitFor('[data-testid="autopilot-missing"]')), /^Say why you switch it off/);
  await wd.click(await wd.waitFor('[data-testid="autopilot-reason"]'));
  await wd.cmd("POST", `/element/${await wd.waitFor('[data-testid="autopilot-reason"]')}/value`, { text: "\uE007" });
  await wd.waitFor('[data-testid="autopilot-dialog"]'); // Enter sent nothing: still open
  assert.equal((await agentA.autopilot()).switch, null, "nothing was switched");
  await shot("02-switch-off-dialog");

  await wd.type(await wd.waitFor('[data-testid="autopilot-reason"]'), "moving the witness to the new NAS");
  await wd.type(await wd.waitFor('[data-testid="autopilot-by"]'), "Sam");
  await wd.click(await wd.waitFor('[data-testid="autopilot-send"]:not([disabled])'));
  assert.match(
    await textOf('[data-testid="autopilot-result"]', /off/),
    new RegExp(`^Automatic failover is off for ${esc(A)} and ${esc(B)}\\. If the primary fails, fail over with the failover wizard\\.$`),
  );
  await gone('[data-testid="autopilot-dialog"]');

  // Both agents hold it, through their own API: off, by Sam, why.
  const [a, b] = await bothSay("off by Sam", (a, b) => [a, b].every((s) => s.switch?.on === false));
  for (const s of [a, b]) {
    assert.equal(s.armed, false);
    assert.equal(kinds(s)[0], "switched_off");
    assert.equal(s.switch.by, "Sam");
    assert.equal(s.switch.reason, "moving the witness to the new NAS");
  }
  assert.deepEqual(a.switch, b.switch, "the partner was told the same switch");

  const off = await line(/^Autopilot: off/);
  assert.match(
    off,
    /^Autopilot: off since (yesterday )?\d\d:\d\d — Sam switched automatic failover off \("moving the witness to the new NAS"\)\. Switch it on again when the work is done\.$/,
  );
  assert.match(await notes(/Sam/), /^Switched off by Sam at (yesterday )?\d\d:\d\d: moving the witness to the new NAS\./);
  assert.equal(await wd.attr(await wd.waitFor('[data-testid="autopilot"]'), "data-level"), "off");
  assert.equal(await wd.text(await wd.waitFor('[data-testid="autopilot-switch"]')), "Switch on…");
  await shot("03-off");
  // A person's decision is no alarm.
  assert.doesNotMatch(notifications.text(), /automatic failover is off/);
});

test("the manager switches it on again", async () => {
  await wd.click(await wd.waitFor('[data-testid="autopilot-switch"]'));
  await wd.waitFor('[data-testid="autopilot-dialog"][data-on="true"]');
  // A reason is optional to switch it on.
  await wd.type(await wd.waitFor('[data-testid="autopilot-by"]'), "Sam");
  await wd.click(await wd.waitFor('[data-testid="autopilot-send"]:not([disabled])'));
  assert.match(
    await textOf('[data-testid="autopilot-result"]', /on for/),
    new RegExp(`^Automatic failover is on for ${esc(A)} and ${esc(B)}\\.$`),
  );
  const [a, b] = await bothSay("on and armed", (a, b) => a.armed && b.armed);
  assert.equal(a.switch.on, true);
  assert.equal(b.switch.by, "Sam");
  await line(/^Autopilot: on — if /);
  assert.match(await notes(/Switched on/), /^Switched on by Sam at (yesterday )?\d\d:\d\d\./);
  await shot("04-on-again");
});

test("the witness's etcd stopped: the witness out of reach, the pair still on autopilot", async () => {
  await vote.stop("witness");
  const [a, b] = await bothSay("the witness out of reach", (a, b) =>
    [a, b].every((s) => s.members.some((m) => m.name === "witness" && !m.reachable)),
  );
  // Two of three still decide: still armed, with a warning.
  for (const s of [a, b]) {
    assert.equal(s.armed, true, JSON.stringify(s));
    assert.deepEqual(kinds(s), ["witness_unreachable"]);
  }
  // Seen from both boxes (the console reads each every 2 s).
  await textOf('[data-testid="autopilot-vote-summary"]', new RegExp(`^The witness is out of reach of ${esc(A)} and ${esc(B)}\\.$`));
  await until(async () => (await voteOpen()) === true, {
    timeout: 10000,
    failure: () => "the vote's details did not open by themselves",
  });
  const witness = await wd.waitFor('[data-testid="autopilot-member"][data-member="Witness"]');
  assert.match(await wd.text(witness), /Out of reach since (yesterday )?\d\d:\d\d/);
  assert.match(await wd.text(witness), /Out of reach since (yesterday )?\d\d:\d\d: connection refused/);
  // Still on autopilot, and it says since when and what one more loss would do.
  assert.match(await line(/^Autopilot: on/), new RegExp(`^Autopilot: on — if ${esc(A)} fails, ${esc(B)} takes over`));
  assert.equal(await wd.attr(await wd.waitFor('[data-testid="autopilot"]'), "data-level"), "on");
  assert.match(
    await textOf('[data-testid="autopilot-next"]', /witness/),
    /^The witness has not answered since (yesterday )?\d\d:\d\d: automatic failover still works, but one more lost server would stop it\. Check that the witness machine is on and connected\.$/,
  );
  await shot("05-witness-lost");
  await notifications.waitFor(/the witness does not answer/);
  assert.doesNotMatch(notifications.text(), /automatic failover is off/, "not off: no alarm saying so");

  // The witness's member started again with its data: both boxes see it answer again.
  vote.start("witness");
  await bothSay(
    "every member answers again",
    (a, b) => [a, b].every((s) => s.members.every((m) => m.reachable) && s.blockers.length === 0),
    60000,
  );
  await textOf('[data-testid="autopilot-vote-summary"]', /^Every member of the vote answers/);
});

test("the primary's agent hung while its phones answer: the backup holds back and says why", async () => {
  assert.ok(agentA.pbx("running"), "A runs the phones");
  assert.ok(!agentB.pbx("running"), "B does not");
  const { settings } = await agentB.autopilot();
  agentA.freeze();
  t0 = Date.now();
  // At once the office is down, and says the backup takes over by itself.
  const down = await textOf('[data-testid="pair-sentence"]', new RegExp(`^Primary ${esc(A)} unreachable`), 10000);
  assert.ok(Date.now() - t0 < settings.takeover_secs * 1000, `seen down after ${Date.now() - t0} ms: ${down}`);
  assert.match(
    await wd.text(await wd.waitFor('[data-testid="pair-state"] .state-next')),
    new RegExp(`^Automatic failover is on: ${esc(B)} takes over by itself about ${settings.takeover_secs} s after ${esc(A)} went silent\\.`),
  );
  await shot("07-primary-down");
  // Then B finds A's phone system still answering: nothing moves, and it says why.
  const held = await until(
    async () => (await agentB.autopilot()).held,
    { timeout: (settings.takeover_secs + 15) * 1000, every: 300, failure: () => "B never held back" },
  );
  assert.match(held, new RegExp(`^${esc(A)}'s agent does not answer, but its phone system still answers at 127\\.0\\.0\\.1:${agentA.sip}`));
  assert.equal((await agentB.api("/failover")).body.role, "backup", "nothing moved");
  assert.equal(
    await line(/holds back/),
    `Autopilot: ${B} holds back — ${held}`,
  );
  assert.match(await wd.text(await wd.waitFor('[data-testid="autopilot-next"]')), new RegExp(`^If you know ${esc(A)} is off`));
  assert.match(
    await textOf('[data-testid="pair-state"] .state-next', /did not take over/),
    new RegExp(`^${esc(B)} did not take over by itself: `),
  );
  await notifications.waitFor(new RegExp(`${esc(B)} did not take over by itself`));
  await shot("08-holding-back");
  // The wizard too, and that it goes ahead on a person's word.
  assert.match(await wizardNote(/is holding back/), new RegExp(`^${esc(B)} is holding back`));
  await shot("08b-wizard-holding-back");
  await closeWizard();
});

test("the primary's phone system stopped too: the backup takes over by itself; the old primary rejoins as the backup", async () => {
  agentA.pbx("stop");
  const stopped = Date.now();
  let failover;
  await until(
    async () => {
      failover = (await agentB.api("/failover")).body;
      return failover.role === "primary" && failover.pbx?.running === true;
    },
    { timeout: 30000, every: 200, failure: () => `B did not take over: ${JSON.stringify(failover)}` },
  );
  console.error(
    `# B took over by itself ${Date.now() - stopped} ms after A's phone system stopped (${Date.now() - t0} ms after its agent hung)`,
  );
  assert.ok(agentB.pbx("running"), "B runs the phones");
  const b = await agentB.autopilot();
  assert.equal(b.last_automatic?.by, B, JSON.stringify(b));
  assert.equal(b.held, null);
  assert.ok(kinds(b).includes("flap_guard"), JSON.stringify(b));

  // The console: B is the primary, the autopilot paused by the flap guard, the last automatic failover.
  await wd.waitFor(`[data-testid="machine-card"][data-server="${B}"] [data-testid="primary-for"]`, { timeout: 30000 });
  assert.match(await line(/^Autopilot: paused/), /^Autopilot: paused until (tomorrow )?\d\d:\d\d — /);
  assert.match(
    await notes(/Last automatic failover/),
    new RegExp(`Last automatic failover: ${esc(B)} took over at (yesterday )?\\d\\d:\\d\\d\\.`),
  );
  await notifications.waitFor(new RegExp(`${esc(B)} is now the primary`));
  await shot("09-taken-over");

  // The events list: B promoted itself, by the autopilot.
  await wd.click(await wd.waitFor('[data-testid="tab-events"]'));
  const row = await wd.waitFor('[data-testid="event-row"][data-kind="promoted"]', { timeout: 30000 });
  assert.match(await wd.text(row), /automatic failover/);
  assert.match(await wd.text(row), /autopilot/);
  await wd.scrollTo('[data-testid="events-table"]');
  await shot("10-events");
  await wd.scrollTo('[data-testid="pair-state"]');
  await wd.click(await wd.waitFor('[data-testid="tab-servers"]'));

  // A's agent wakes: it hears of B's higher epoch and rejoins as the backup, its phones off.
  agentA.thaw();
  await until(async () => (await agentA.api("/failover")).body.role === "backup", {
    timeout: 30000,
    failure: () => "A did not rejoin as the backup",
  });
  await wd.waitFor(`[data-testid="machine-card"][data-server="${A}"] [data-testid="machine-role"]`, {
    timeout: 30000,
    predicate: async (id) => /Backup/.test(await wd.text(id)),
  });
  assert.ok(!agentA.pbx("running"), "A's phones stay off");
  await textOf('[data-testid="pair-sentence"]', /^Protected/, 60000);
  await shot("11-rejoined");
});
