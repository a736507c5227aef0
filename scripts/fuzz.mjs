// npm run fuzz -- [--cases N] [--models N] [--ref-work N]: the full fuzz campaigns (the test suite runs bounded ones):
// kernels on random shapes with guard bytes, and mutated model files (ONNX and TF.js).
// Runs the fuzz test files with EDGEGRAD_FUZZ_CASES cases per path and build; bigger cases check only the
// guard bytes unless their float64 reference costs less than --ref-work multiply-adds.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`fuzz: --${name} needs a positive integer, got ${JSON.stringify(args[i + 1])}`);
    process.exit(2);
  }
  return v;
};
const cases = opt('cases', 1000);
const models = opt('models', 10000);
const refWork = opt('ref-work', 2e6);
const files = ['test/kernel-fuzz.test.ts', 'test/model-fuzz.test.ts'];
console.log(`fuzz: ${cases} kernel cases per path and build, ${models} model-file mutants (${files.join(', ')})`);
const r = spawnSync('npx', ['vitest', 'run', ...files, '--testTimeout', String(3600_000)], {
  stdio: 'inherit',
  env: { ...process.env, EDGEGRAD_FUZZ_CASES: String(cases), EDGEGRAD_FUZZ_MODELS: String(models), EDGEGRAD_FUZZ_REF_WORK: String(refWork) },
});
process.exit(r.status ?? 1);
