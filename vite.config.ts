// Vite + Vitest configuration for the console's web front end (root: ui/, output: ui/dist/).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: "ui",
  // Relative asset paths: Tauri serves the built files from its own origin.
  base: "./",
  plugins: [react()],
  clearScreen: false,
  // Keep Vite/Vitest caches in the root node_modules (ui/node_modules is not git-ignored).
  cacheDir: "../node_modules/.vite",
  server: {
    // Tauri's devUrl points here; fail rather than silently move to another port.
    port: 1420,
    strictPort: true,
    watch: { ignored: ["**/src-tauri/**", "**/target/**", "**/crates/**"] },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // WebView2 (Windows) is Chromium; macOS and Linux use WebKit.
    target: ["chrome105", "safari15"],
    sourcemap: false,
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
  },
});
