// The desktop around the app under Xvfb: the native save dialog driven with xdotool, a real
// notification daemon with dbus-monitor recording what the app asks it to show, and screenshots
// of the whole X screen (the save dialog is not part of the web view).

import { execFileSync, spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function xdotool(...args) {
  return execFileSync("xdotool", args, { encoding: "utf8" }).trim();
}

/** Waits for a visible window titled exactly `title`; returns its X id. */
export async function waitWindow(title, timeout = 20000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      const ids = xdotool("search", "--onlyvisible", "--name", `^${title}$`);
      if (ids) return ids.split("\n")[0];
    } catch {
      // none yet: xdotool exits 1
    }
    if (Date.now() > deadline) throw new Error(`no "${title}" window appeared`);
    await sleep(200);
  }
}

/** Types `path` into the GTK save dialog's name field (it takes a full path) and saves. */
export async function saveAs(path) {
  const win = await waitWindow("Save");
  // The dialog lays itself out before it takes keys.
  await sleep(500);
  xdotool("windowfocus", "--sync", win);
  xdotool("key", "ctrl+a");
  xdotool("type", "--delay", "5", path);
  xdotool("key", "Return");
}

/** A screenshot of the whole X screen, dialogs included. */
export function screenShot(file) {
  execFileSync("import", ["-window", "root", file]);
}

/** Runs a notification daemon and records the Notify calls on the session bus. */
export class Notifications {
  constructor(logFile) {
    this.logFile = logFile;
    const log = openSync(logFile, "w");
    this.monitor = spawn("dbus-monitor", ["--session", "interface='org.freedesktop.Notifications',member='Notify'"], {
      stdio: ["ignore", log, log],
    });
    this.daemon = spawn("/usr/lib/notification-daemon/notification-daemon", [], { stdio: "ignore" });
  }

  /** Everything the app asked to show so far, as dbus-monitor printed it. */
  text() {
    return readFileSync(this.logFile, "utf8");
  }

  async waitFor(re, timeout = 30000) {
    const deadline = Date.now() + timeout;
    while (!re.test(this.text())) {
      if (Date.now() > deadline) throw new Error(`no notification matched ${re}:\n${this.text()}`);
      await sleep(250);
    }
  }

  stop() {
    this.monitor.kill();
    this.daemon.kill();
  }
}
