// Builds the benchmark pages in ui/bench/ (not part of the app) into target/bench-ui/.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  root: "ui/bench",
  base: "./",
  plugins: [react()],
  cacheDir: "../../node_modules/.vite-bench",
  build: {
    outDir: "../../target/bench-ui",
    emptyOutDir: true,
    rollupOptions: { input: { chart: "ui/bench/chart.html" } },
  },
});
