/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The API listens here in development (`hospital serve` / `make run`).
const API = process.env.HOSPITAL_API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  server: {
    port: 5173,
    proxy: {
      "/api": { target: API, changeOrigin: true },
      "/fhir": { target: API, changeOrigin: true },
      "/health": { target: API, changeOrigin: true },
      "/ready": { target: API, changeOrigin: true },
      "/ws": { target: API.replace(/^http/, "ws"), ws: true, changeOrigin: true },
    },
  },
  build: {
    outDir: "dist",
    // Source maps are not shipped: they would publish the whole client source from the server.
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
