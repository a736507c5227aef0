import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Node 20's V8 has relaxed SIMD behind a flag (on by default from Node 22, and in Deno, Bun and
    // Chromium): enable it so the relaxed build runs the same suite as the other two.
    execArgv: ['--experimental-wasm-relaxed-simd'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
