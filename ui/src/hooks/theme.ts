// Light, dark, or as the system says: the choice is kept on this computer and applied as
// `data-theme` on the root element, which the colour variables in theme.css follow.

export type ThemeChoice = "system" | "light" | "dark";
export type ColorScheme = "light" | "dark";

const KEY = "lbs-theme";
const QUERY = "(prefers-color-scheme: dark)";
export const THEME_EVENT = "lbs-theme-change";

function systemScheme(): ColorScheme {
  return typeof window !== "undefined" && window.matchMedia?.(QUERY).matches ? "dark" : "light";
}

export function savedChoice(): ThemeChoice {
  try {
    const v = window.localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : "system";
  } catch {
    return "system";
  }
}

export function resolve(choice: ThemeChoice, system: ColorScheme): ColorScheme {
  return choice === "system" ? system : choice;
}

/** Applies and remembers a choice. */
export function applyTheme(choice: ThemeChoice): void {
  try {
    window.localStorage.setItem(KEY, choice);
  } catch {
    // Private mode: the choice lasts this session only.
  }
  document.documentElement.dataset.theme = resolve(choice, systemScheme());
  window.dispatchEvent(new Event(THEME_EVENT));
}

/** At start: the saved choice, and following the system while the choice is "system". */
export function initTheme(): void {
  applyTheme(savedChoice());
  window.matchMedia?.(QUERY).addEventListener("change", () => {
    if (savedChoice() === "system") applyTheme("system");
  });
}

export function appliedScheme(): ColorScheme {
  return document.documentElement.dataset.theme === "dark" ? "dark" : "light";
}
