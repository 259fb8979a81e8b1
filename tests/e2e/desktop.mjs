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

/**
 * Types `path` into the GTK save dialog's name field (it takes a full path) and saves. Keys sent
 * before the dialog takes them are lost under load, so a dialog still open is typed into again.
 */
export async function saveAs(path) {
  const win = await waitWindow("Save");
  for (let attempt = 1; ; attempt++) {
    // The dialog lays itself out before it takes keys.
    await sleep(500 * attempt);
    xdotool("windowfocus", "--sync", win);
    xdotool("key", "ctrl+a");
    xdotool("type", "--delay", "5", path);
    xdotool("key", "Return");
    if (await windowGone(win, 3000)) return;
    if (attempt === 3) throw new Error(`the save dialog did not take "${path}"`);
  }
}

async function windowGone(win, timeout) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    let shown = "";
    try {
      shown = xdotool("search", "--onlyvisible", "--name", "^Save$");
    } catch {
      // none shown: xdotool exits 1
    }
    if (!shown.split("\n").includes(win)) return true;
    await sleep(200);
  }
  return false;
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

/** The dot colour of each tray icon (icons/tray-*.png), by the state it shows. */
const TRAY_DOTS = { protected: [31, 136, 61], at_risk: [212, 167, 44], down: [207, 34, 46] };

/**
 * A real system tray (trayer, an XEmbed tray) at the bottom right of the screen. The app's tray
 * icon lands in it; its state is read from the colour of the icon's dot.
 */
export class Tray {
  constructor() {
    this.proc = spawn(
      "trayer",
      ["--edge", "bottom", "--align", "right", "--widthtype", "pixel", "--width", "64", "--height", "32",
        "--transparent", "false", "--tint", "0xffffff"],
      { stdio: "ignore" },
    );
  }

  /** `protected`, `at_risk` or `down`: the state whose dot colour covers most pixels of the tray. */
  async state() {
    const win = await waitWindow("panel");
    // From the screen, not the panel's own window: the icon is a child window of another depth.
    const geometry = xdotool("getwindowgeometry", "--shell", win);
    const g = Object.fromEntries(geometry.split("\n").map((l) => l.split("=")));
    const crop = `${g.WIDTH}x${g.HEIGHT}+${g.X}+${g.Y}`;
    const pixels = execFileSync("import", ["-window", "root", "-crop", crop, "txt:-"], {
      encoding: "utf8",
      maxBuffer: 1 << 24,
    });
    const counts = Object.fromEntries(Object.keys(TRAY_DOTS).map((k) => [k, 0]));
    // One line per pixel, with its colour as #RRGGBB (or #RRRRGGGGBBBB from a 16-bit build).
    for (const [, hex] of pixels.matchAll(/#([0-9A-Fa-f]{12}|[0-9A-Fa-f]{6})\b/g)) {
      const step = hex.length / 3;
      const rgb = [0, 1, 2].map((i) => parseInt(hex.slice(i * step, i * step + 2), 16));
      for (const [state, dot] of Object.entries(TRAY_DOTS)) {
        if (Math.hypot(...rgb.map((c, i) => c - dot[i])) < 40) counts[state] += 1;
      }
    }
    const [best, n] = Object.entries(counts).sort((a, b) => b[1] - a[1])[0];
    return n >= 4 ? best : null;
  }

  async waitFor(state, timeout = 20000) {
    const deadline = Date.now() + timeout;
    let last;
    while ((last = await this.state()) !== state) {
      if (Date.now() > deadline) throw new Error(`the tray shows ${last}, not ${state}`);
      await sleep(500);
    }
  }

  stop() {
    this.proc.kill();
  }
}
