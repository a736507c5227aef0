// Bundles the compiled TS (build/tsc, from `tsc -p tsconfig.build.json`) into ESM with the three wasm builds
// embedded: dist/index.js, plus chunks loaded on first use (the ONNX importer and its protobuf code), and
// ships the digits data file beside it (loaded relative to the bundle). Declarations come straight from
// tsc into dist/types (TypeScript 7 has no compiler API for a .d.ts bundler to call).
import { copyFileSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import commonjs from '@rollup/plugin-commonjs';
import { nodeResolve } from '@rollup/plugin-node-resolve';

const library = {
  input: 'build/tsc/index.js',
  // keep the core in dist/index.js itself (no facade): the digits file is found next to it
  preserveEntrySignatures: 'allow-extension',
  output: { dir: 'dist', format: 'es', sourcemap: false, entryFileNames: 'index.js', chunkFileNames: 'chunks/[name]-[hash].js' },
  plugins: [
    nodeResolve({ preferBuiltins: true }),
    commonjs(),
    {
      name: 'ship-data',
      writeBundle() {
        mkdirSync('dist', { recursive: true });
        copyFileSync('src/data/digits.u8.gz', 'dist/digits.u8.gz');
      },
    },
  ],
  onwarn(w, warn) {
    // protobufjs reaches for optional modules through eval('require'); that is by design
    if (w.code === 'EVAL' || w.code === 'CIRCULAR_DEPENDENCY') return;
    warn(w);
  },
};

/** The library entry as the command imports it ('../index.js' from build/tsc/cli), resolved or not. */
function isLibraryEntry(id) {
  return id === '../index.js' || resolve(id) === resolve('build/tsc/index.js');
}

// The `edgegrad` command: its own small file over the library entry (kept external, so one copy of it).
const cli = {
  input: 'build/tsc/cli/index.js',
  external: isLibraryEntry,
  output: { file: 'dist/cli.js', format: 'es', banner: '#!/usr/bin/env node', paths: (id) => (isLibraryEntry(id) ? './index.js' : id) },
  plugins: [nodeResolve({ preferBuiltins: true }), commonjs()],
  onwarn: library.onwarn,
};

export default [library, cli];
