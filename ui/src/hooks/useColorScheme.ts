// The colour scheme now applied (light or dark), following changes live, for the charts.

import { useSyncExternalStore } from "react";

import { appliedScheme, THEME_EVENT, type ColorScheme } from "./theme";

export type { ColorScheme };

function subscribe(onChange: () => void): () => void {
  if (typeof window === "undefined") return () => {};
  window.addEventListener(THEME_EVENT, onChange);
  return () => window.removeEventListener(THEME_EVENT, onChange);
}

function snapshot(): ColorScheme {
  return typeof document === "undefined" ? "light" : appliedScheme();
}

export function useColorScheme(): ColorScheme {
  return useSyncExternalStore(subscribe, snapshot, () => "light");
}
