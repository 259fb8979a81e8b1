// The desktop around the app under Xvfb: the native save dialog driven with xdotool, a real
// notification daemon with dbus-monitor recording what the app asks it to show, and screenshots
// of the whole X screen (the save dialog is not part of the web view).

import { execFileSync, spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `check` every `every` ms until it answers something truthy, and returns that; after
 * `timeout` ms, fails with `failure()` (called then, so it can say what was last seen).
 */
export async function until(check, { timeout, every = 200, failure }) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const found = await check();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(failure());
    await sleep(every);
  }
}

/** `xdotool search --onlyvisible --name <re>`: the ids of the windows shown, none when it exits 1. */
function shownWindows(nameRe) {
  try {
    return xdotool("search", "--onlyvisible", "--name", nameRe).split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

function xdotool(...args) {
  return execFileSync("xdotool", args, { encoding: "utf8" }).trim();
}

/** Waits for a visible window titled exactly `title`; returns its X id. */
export function waitWindow(title, timeout = 20000) {
  return until(() => shownWindows(`^${title}$`)[0], { timeout, failure: () => `no "${title}" window appeared` });
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
    const closed = () => !shownWindows("^Save$").includes(win);
    if (await until(closed, { timeout: 3000, failure: () => "still open" }).catch(() => false)) return;
    if (attempt === 3) throw new Error(`the save dialog did not take "${path}"`);
  }
}

/** The X ids of the windows shown titled exactly `title` (none when there are none). */
export function visibleWindows(title) {
  return shownWindows(`^${title}$`);
}

/**
 * Python (ctypes, libX11) that sends WM_DELETE_WINDOW to the window given as argv[1]: what a
 * window manager sends when the user clicks a window's close button. (There is no window manager
 * under Xvfb, and WebDriver's "close window" asks the web view to close, not the window.)
 */
const DELETE_WINDOW = `
import ctypes, sys
x = ctypes.cdll.LoadLibrary("libX11.so.6")
x.XOpenDisplay.restype = ctypes.c_void_p
x.XOpenDisplay.argtypes = [ctypes.c_char_p]
x.XInternAtom.restype = ctypes.c_ulong
x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
class ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("l", ctypes.c_long * 5)]
class XEvent(ctypes.Union):
    _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]
x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
x.XFlush.argtypes = [ctypes.c_void_p]
x.XCloseDisplay.argtypes = [ctypes.c_void_p]
d = x.XOpenDisplay(None)
if not d:
    sys.exit("cannot open the X display")
win = int(sys.argv[1])
e = XEvent()
e.xclient.type = 33  # ClientMessage
e.xclient.window = win
e.xclient.message_type = x.XInternAtom(d, b"WM_PROTOCOLS", 0)
e.xclient.format = 32
e.xclient.l[0] = x.XInternAtom(d, b"WM_DELETE_WINDOW", 0)
if not x.XSendEvent(d, win, 0, 0, ctypes.byref(e)):
    sys.exit("XSendEvent failed")
x.XFlush(d)
x.XCloseDisplay(d)
`;

/** Closes the window titled `title` as its close button would (WM_DELETE_WINDOW). */
export async function closeWindow(title) {
  const win = await waitWindow(title);
  execFileSync("python3", ["-c", DELETE_WINDOW, win]);
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

  waitFor(re, timeout = 30000) {
    return until(() => re.test(this.text()), {
      timeout,
      every: 250,
      failure: () => `no notification matched ${re}:\n${this.text()}`,
    });
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

  waitFor(state, timeout = 20000) {
    let last;
    return until(async () => (last = await this.state()) === state, {
      timeout,
      every: 500,
      failure: () => `the tray shows ${last}, not ${state}`,
    });
  }

  stop() {
    this.proc.kill();
  }
}
