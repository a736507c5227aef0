// Bundles the compiled TS (build/tsc, from `tsc -p tsconfig.build.json`) into one ESM file with the three
// wasm builds embedded, and ships the digits data file beside it (loaded relative to the bundle).
// Declarations come straight from tsc into dist/types (TypeScript 7 has no compiler API for a .d.ts
// bundler to call, and a tree of .d.ts files serves users equally well).
import { copyFileSync, mkdirSync } from 'node:fs';

export default {
  input: 'build/tsc/index.js',
  output: { file: 'dist/index.js', format: 'es', sourcemap: false },
  plugins: [{
    name: 'ship-data',
    writeBundle() {
      mkdirSync('dist', { recursive: true });
      copyFileSync('src/data/digits.u8.gz', 'dist/digits.u8.gz');
    },
  }],
};
