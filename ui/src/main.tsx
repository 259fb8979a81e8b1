// Entry point: mounts the app, reading the dev-only switches when running on the mock.

// First: repairs an invalid system locale before any library reads it.
import "./format/locale";

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { App, type AppProps } from "./App";
import { isMockMode } from "./api/commands";
import { initTheme } from "./hooks/theme";
import "./styles/theme.css";
import "./styles/app.css";

function devSwitches(): AppProps {
  if (!isMockMode()) return {};
  const params = new URLSearchParams(window.location.search);
  const dialog = params.get("dialog");
  const select = Number(params.get("select"));
  return {
    initialDialog: dialog === "link" || dialog === "add" ? "link" : dialog === "manual" ? "manual" : null,
    initialSelect: Number.isInteger(select) && select > 0 ? select : undefined,
  };
}

initTheme();

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element");

/** Never a blank window: an error nothing else caught is shown in plain words. */
function showFatal(error: unknown) {
  const box = document.createElement("div");
  box.className = "fatal-error";
  box.setAttribute("role", "alert");
  box.textContent =
    "The LBS Console hit a problem it could not recover from. Close it and open it again; if this keeps happening, send this text to your IT contractor: " +
    String(error instanceof Error ? (error.stack ?? error.message) : error);
  root?.replaceChildren(box);
}

createRoot(root, { onUncaughtError: showFatal }).render(
  <StrictMode>
    <App {...devSwitches()} />
  </StrictMode>,
);
