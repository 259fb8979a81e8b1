// Prints the console's figures (not a test: nothing here passes or fails). Run with
// `bash scripts/bench-console.sh`, which builds what it needs.
//
// 1. Cold start: the real app (release build) against a demo pair of real agents, from launching
//    it to the dashboard showing the office's sentence ("Protected…"). Aim: under 1.5 s.
// 2. Graphs: the console's chart path (alignHistory + the Chart component on uPlot) with 1k, 10k
//    and 100k points per series in the real WebKit (MiniBrowser, the engine the app runs on
//    Linux), beside a bare canvas polyline of the same points measured in the same run.

import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";

import { Agent, consoleBin, freePort, root } from "../e2e/agents.mjs";
import { WebDriver } from "../e2e/webdriver.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = openSync(join(root, "artifacts", "bench-console-driver.log"), "w");

async function session(driverArgs, env, capabilities) {
  const port = await freePort();
  const [bin, ...args] = driverArgs(port);
  const proc = spawn(bin, args, { env, stdio: ["ignore", log, log] });
  const wd = new WebDriver(`http://127.0.0.1:${port}`);
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      await wd.cmd("GET", "/status").catch(() => {
        throw new Error("driver not up");
      });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(100);
    }
  }
  return { wd, proc, start: () => wd.start(capabilities) };
}

async function coldStart() {
  console.log(`console: ${consoleBin}`);
  const a = await Agent.create("PBX A (server room)");
  const b = await Agent.create("PBX B (comms room)", { role: "backup" });
  await a.start();
  await b.start();
  b.cli("pair", a.link);
  const env = {
    ...process.env,
    LBS_CONSOLE_DATA_DIR: mkdtempSync(join(tmpdir(), "lbs-bench-console-")),
    LBS_CONSOLE_KEYRING_SERVICE: `lbs-console-bench-${process.pid}`,
  };
  const driver = (port) => ["tauri-driver", "--port", String(port), "--native-driver", "/usr/bin/WebKitWebDriver"];
  const caps = { "tauri:options": { application: consoleBin } };
  const protectedSentence = async (wd) =>
    wd.waitFor('[data-testid="pair-sentence"]', {
      timeout: 30000,
      predicate: async (id) => /^Protected/.test(await wd.text(id)),
    });

  // Once: add the pair, as the manager would; every later start finds it in the console's store.
  {
    const s = await session(driver, env, caps);
    await s.start();
    for (const agent of [a, b]) {
      await s.wd.click(await s.wd.waitFor('[data-testid="add-server"]'));
      await s.wd.click(await s.wd.waitFor('[data-testid="tab-link"]'));
      await s.wd.type(await s.wd.waitFor('[data-testid="link-input"]'), agent.link);
      await s.wd.click(await s.wd.waitFor('[data-testid="link-submit"]'));
      await s.wd.waitFor('[data-testid="machine-card"]');
    }
    await protectedSentence(s.wd);
    await s.wd.quit();
    s.proc.kill();
    await sleep(1000);
  }

  const launch = [];
  const inPage = [];
  for (let i = 0; i < 5; i++) {
    const s = await session(driver, env, caps);
    const t0 = performance.now();
    await s.start();
    await protectedSentence(s.wd);
    launch.push(performance.now() - t0);
    inPage.push(await s.wd.cmd("POST", "/execute/sync", { script: "return performance.now()", args: [] }));
    await s.wd.quit();
    s.proc.kill();
    await sleep(1000);
  }
  await a.stop();
  await b.stop();
  console.log(
    `cold start to a populated dashboard (demo pair, 5 runs): median ${median(launch).toFixed(0)} ms from launching the app ` +
      `(max ${Math.max(...launch).toFixed(0)} ms; includes the WebDriver session), ` +
      `median ${median(inPage).toFixed(0)} ms of it inside the window (aim < 1500 ms)`,
  );
}

async function graphs() {
  const dir = join(root, "target", "bench-ui");
  const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
  const server = createServer((req, res) => {
    const path = join(dir, new URL(req.url, "http://x").pathname);
    let body;
    try {
      body = readFileSync(path);
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/chart.html`;
  const s = await session((port) => ["/usr/bin/WebKitWebDriver", `--port=${port}`], process.env, {
    "webkitgtk:browserOptions": {
      binary: "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
      args: ["--automation"],
    },
  });
  await s.start();
  await s.wd.cmd("POST", "/url", { url });
  let result;
  const deadline = Date.now() + 120000;
  while (!(result = await s.wd.cmd("POST", "/execute/sync", { script: "return window.__bench ?? null", args: [] }))) {
    if (Date.now() > deadline) throw new Error("the chart benchmark did not finish");
    await sleep(500);
  }
  await s.wd.quit();
  s.proc.kill();
  server.close();
  if (result.error) throw new Error(result.error);
  console.log(`graphs (3 series with min–max bands, 1100 × 200 px; one painted frame alone takes ${result.emptyFrameMs.toFixed(1)} ms):`);
  for (const f of result.sizes) {
    console.log(
      `  ${String(f.points).padStart(6)} points per series: align ${f.alignMs.toFixed(1)} ms, first frame ${f.firstFrameMs.toFixed(1)} ms, ` +
        `redraw with new data ${f.redrawMs.toFixed(1)} ms, hover ${f.hoverMs.toFixed(1)} ms; ` +
        `bare canvas polyline ${f.polylineMs.toFixed(1)} ms → redraw = ${(f.redrawMs / f.polylineMs).toFixed(2)} × polyline`,
    );
  }
}

await graphs();
await coldStart();
