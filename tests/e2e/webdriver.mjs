// A minimal W3C WebDriver client over fetch: just what the console's end-to-end tests use.
// (No dependency: the protocol is a handful of JSON calls.)

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf"; // the W3C web element identifier

export class WebDriver {
  constructor(base) {
    this.base = base;
    this.session = null;
  }

  async cmd(method, path, body) {
    const url = this.session && !path.startsWith("/session") ? `${this.base}/session/${this.session}${path}` : `${this.base}${path}`;
    const res = await fetch(url, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(`${method} ${path} → ${res.status}: ${JSON.stringify(json.value ?? json)}`);
      err.webdriver = json.value?.error;
      throw err;
    }
    return json.value;
  }

  async start(capabilities) {
    const value = await this.cmd("POST", "/session", { capabilities: { alwaysMatch: capabilities } });
    this.session = value.sessionId;
  }

  async quit() {
    if (this.session) {
      await this.cmd("DELETE", `/session/${this.session}`).catch(() => {});
      this.session = null;
    }
  }

  async findAll(css) {
    const found = await this.cmd("POST", "/elements", { using: "css selector", value: css });
    return found.map((e) => e[ELEMENT]);
  }

  /** Waits for the first element matching `css` that is displayed. */
  async waitFor(css, { timeout = 15000, predicate } = {}) {
    const deadline = Date.now() + timeout;
    let last = "";
    while (Date.now() < deadline) {
      try {
        for (const id of await this.findAll(css)) {
          if (!(await this.cmd("GET", `/element/${id}/displayed`))) continue;
          if (!predicate || (await predicate(id))) return id;
        }
      } catch (e) {
        last = String(e);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`timed out waiting for ${css} ${last}`);
  }

  click(id) {
    return this.cmd("POST", `/element/${id}/click`, {});
  }

  /**
   * Replaces what a field holds with `text`, and checks that it does: a clear that the page's
   * script did not see would leave the old text in front of the new.
   */
  async type(id, text) {
    await this.cmd("POST", `/element/${id}/clear`, {});
    await this.cmd("POST", `/element/${id}/value`, { text });
    let holds = await this.cmd("GET", `/element/${id}/property/value`);
    if (holds !== text) {
      // Select all and delete, as a person would (Control+A, Backspace), then type again.
      console.error(`# the field held "${holds}" after clear and typing; typing again`);
      await this.cmd("POST", `/element/${id}/value`, { text: `\uE009a\uE009\uE003${text}` });
      holds = await this.cmd("GET", `/element/${id}/property/value`);
    }
    if (holds !== text) throw new Error(`the field holds "${holds}" after typing "${text}"`);
  }

  text(id) {
    return this.cmd("GET", `/element/${id}/text`);
  }

  attr(id, name) {
    return this.cmd("GET", `/element/${id}/attribute/${name}`);
  }

  /**
   * Scrolls the app's main pane so the first element matching `css` is at its top, as far as
   * the pane scrolls (for a screenshot of what is below).
   */
  scrollTo(css) {
    return this.cmd("POST", "/execute/sync", {
      script: `const el = document.querySelector(arguments[0]);
        const pane = el.closest(".main") ?? document.scrollingElement;
        pane.scrollTop += el.getBoundingClientRect().top - pane.getBoundingClientRect().top - 16;`,
      args: [css],
    });
  }

  /**
   * Hides the siblings of the first element matching `css` (for a screenshot of that element
   * alone, at the top of its pane), or shows them again with `false`.
   */
  alone(css, on = true) {
    return this.cmd("POST", "/execute/sync", {
      script: `const el = document.querySelector(arguments[0]);
        for (const s of el.parentElement.children) if (s !== el) s.style.display = arguments[1] ? "none" : "";
        (el.closest(".main") ?? document.scrollingElement).scrollTop = 0;`,
      args: [css, on],
    });
  }

  /** PNG screenshot of the window, as a Buffer. */
  async screenshot() {
    return Buffer.from(await this.cmd("GET", "/screenshot"), "base64");
  }
}
