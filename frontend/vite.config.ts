import { defineConfig } from "vitest/config";

// The app is served by the gateway from dist/, on the same origin as its gRPC-web API.
// `npm run dev` proxies nothing: point it at a gateway with TODO_CORS_ORIGINS set, or use
// the gateway itself.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: { outDir: "dist", sourcemap: true, target: "es2022" },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
