import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// WebGPU in Node on CPU-only machines: Dawn (npm 'webgpu') on the SwiftShader Vulkan driver that Debian's
// chromium ships. The dynamic loader reads LD_LIBRARY_PATH when a process starts, so it is set here, before
// the worker processes are forked (test/webgpu.test.ts).
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (existsSync(swiftshader) && !process.env.VK_ICD_FILENAMES) {
  process.env.VK_ICD_FILENAMES = swiftshader;
  process.env.LD_LIBRARY_PATH = ['/usr/lib/chromium', process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}

export default defineConfig({
  test: {
    pool: 'forks',
    // Node 20's V8 has relaxed SIMD behind a flag (on by default from Node 22, and in Deno, Bun and
    // Chromium): enable it so the relaxed build runs the same suite as the other two.
    execArgv: ['--experimental-wasm-relaxed-simd'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'] } },
      // the training, transfer, fine-tuning and import suites again under constant memory pressure: every
      // allocation that does not fit evicts the coldest tensors and plans first (EDGEGRAD_RECLAIM_FLOOR=0),
      // so code that holds a pointer or a view too long fails here; `EDGEGRAD_RECLAIM_FLOOR=0 npm test`
      // runs everything that way
      {
        extends: true,
        test: {
          name: 'pressure',
          include: ['test/train.test.ts', 'test/transfer.test.ts', 'test/finetune.test.ts', 'test/onnx.test.ts', 'test/quantize.test.ts', 'test/memory.test.ts'],
          env: { EDGEGRAD_RECLAIM_FLOOR: '0' },
        },
      },
    ],
  },
});
