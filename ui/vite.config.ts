import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { loadEnv, type Plugin } from "vite";
import { defineConfig } from "vitest/config";

const tauriModule = fileURLToPath(new URL("./src/lib/tauri.ts", import.meta.url));
const mockModule = fileURLToPath(new URL("./src/dev/mockTauri.ts", import.meta.url));

/**
 * Dev-only: with VITE_MOCK_IPC=1, `vite` (serve) swaps src/lib/tauri.ts for an in-memory fake
 * backend so the UI can be looked at in a plain browser. `apply: "serve"` keeps it out of
 * `vite build`, so the fake never ships.
 */
function mockIpc(): Plugin {
  return {
    name: "sotto-mock-ipc",
    apply: "serve",
    enforce: "pre",
    async resolveId(source, importer, options) {
      if (importer === undefined || importer === mockModule) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      return resolved?.id === tauriModule ? mockModule : null;
    },
  };
}

export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, fileURLToPath(new URL(".", import.meta.url)), "VITE_");
  const useMock = mode !== "test" && env.VITE_MOCK_IPC === "1";
  return {
    plugins: [react(), ...(useMock ? [mockIpc()] : [])],
    clearScreen: false,
    server: { port: 1420, strictPort: true },
    build: { target: "es2022" },
    test: {
      environment: "jsdom",
      setupFiles: ["./src/test/setup.ts"],
      env: { TZ: "UTC" },
    },
  };
});
