// Bundles the compiled TS (build/tsc, from `tsc -p tsconfig.build.json`) with the wasm builds embedded
// (nothing to locate at run time), minified, with source maps back to src/:
// - dist/index.js (ESM): the entry for Node, Deno, Bun, browsers and bundlers, plus chunks loaded on first use
//   (the ONNX importer and its protobuf code, the reference and WebGPU backends);
// - dist/edgegrad.cjs: the same as one CommonJS file, for `require('edgegrad')` (Electron main, older tooling);
// - dist/edgegrad.js: a classic script (one file, chunks inlined) defining the global `edgegrad`, for
//   `<script src>` users and webviews that load pages from file:// (where module scripts are refused),
//   and dist/edgegrad-extras.js, its add-on of the tools the ES module build loads on first use (ADD_ON);
// - dist/cli.js: the `edgegrad` command over ./index.js.
// The digits data file is shipped beside them (loadDigits finds it relative to the bundle). Declarations
// come from tsc into dist/types (TypeScript 7 has no compiler API for a .d.ts bundler to call); the
// generated modules declare the embedded builds `string`, so no base64 reaches them.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import commonjs from '@rollup/plugin-commonjs';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import MagicString from 'magic-string';

/** ESM entries, by output name: each becomes dist/<name>.js and shares code with the others through chunks. */
const entries = { index: 'build/tsc/index.js' };

// layer.constructor.name is shown by model.summary(): class names stay.
const minify = () => terser({ ecma: 2020, keep_classnames: true, compress: { passes: 2 }, format: { comments: false } });

/**
 * A dynamic import of a Node built-in with a literal specifier (`import('node:os')`, or what the minifier
 * makes of `const spec = 'node:fs/promises'; import(spec)`) is resolved by browser bundlers (esbuild,
 * webpack, Vite), which then fail or need configuration: in the output the specifier becomes an expression
 * they leave alone. Runs after the minifier.
 */
const opaqueNodeImports = {
  name: 'opaque-node-imports',
  renderChunk(code) {
    const found = [...code.matchAll(/\bimport\(\s*(['"])(node:[\w/]+)\1\s*\)/g)];
    if (found.length === 0) return null;
    const ms = new MagicString(code);
    for (const m of found) ms.overwrite(m.index, m.index + m[0].length, `import(String(${m[1]}${m[2]}${m[1]}))`);
    return { code: ms.toString(), map: ms.generateMap({ hires: true }) };
  },
};
const outputPlugins = () => [minify(), opaqueNodeImports];

/**
 * protobufjs looks for optional Node modules (long, buffer, fs) through eval('require') ("inquire"): in a
 * bundle that is an eval a strict CSP refuses and that finds nothing anyway; it is replaced by "none found".
 */
const noInquire = {
  name: 'no-inquire',
  resolveId: (id) => (id === '@protobufjs/inquire' ? '\0no-inquire' : null),
  load: (id) => (id === '\0no-inquire' ? 'export default function inquire() { return null; }' : null),
};

/**
 * The generated modules of embedded wasm builds (`export const relaxed = '<base64>'`, ...), packed for
 * shipping. The builds share most of their bytes, so each module is stored as one stream in which later bytes
 * copy runs of earlier ones at any distance (an LZ77 without a window: a build copies from those before it,
 * the threaded builds from the single-threaded ones, which their module imports), written in hex, which gzip
 * compresses better than base64 (a byte stays a pair of characters, so repeats stay repeats). The modules
 * unpack when evaluated (a few ms) and export the same base64 strings as before.
 */
const PACKED = { 'binaries.generated.js': null, 'binaries-simd.generated.js': 'binaries.generated.js', 'binaries-threads.generated.js': 'binaries.generated.js', 'binaries-scalar.generated.js': 'binaries.generated.js' };
const generatedBuilds = (code) => [...code.matchAll(/^export const (\w+) = '([A-Za-z0-9+/=]*)';$/gm)].map(([, name, b64]) => ({ name, bytes: Buffer.from(b64, 'base64') }));
const packBinaries = {
  name: 'pack-wasm-binaries',
  transform(code, id) {
    const file = id.replace(/\\/g, '/').replace(/^.*\/backend\/wasm\//, '');
    if (!(file in PACKED) || !/\/backend\/wasm\//.test(id.replace(/\\/g, '/'))) return null;
    const builds = generatedBuilds(code);
    if (builds.length === 0) return null;
    // the builds of the module this one copies from: its bytes come first, already in place
    const base = PACKED[file] ? generatedBuilds(readFileSync(join(dirname(id), PACKED[file]), 'utf8')) : [];
    const dict = Buffer.concat(base.map((b) => b.bytes));
    const all = Buffer.concat([dict, ...builds.map((b) => b.bytes)]);
    let at = dict.length;
    const slices = builds.map(({ name, bytes }) => `${name} = b64(all.subarray(${at}, ${(at += bytes.length)}))`);
    const prefix = base.length === 0 ? '' : `import * as base from './${PACKED[file]}';
for (const k of ${JSON.stringify(base.map((b) => b.name))}) { const t = atob(base[k]); for (let i = 0; i < t.length; i++) all[o++] = t.charCodeAt(i); }
`;
    return {
      code: `// the wasm builds, packed by rollup.config.mjs (packBinaries)
const s = '${Buffer.from(lz(all, dict.length)).toString('hex')}';
const hex = new Uint8Array(128), ops = new Uint8Array(s.length / 2), all = new Uint8Array(${all.length});
for (let i = 0; i < 16; i++) hex['0123456789abcdef'.charCodeAt(i)] = i;
for (let i = 0; i < ops.length; i++) ops[i] = (hex[s.charCodeAt(2 * i)] << 4) | hex[s.charCodeAt(2 * i + 1)];
let p = 0, o = 0;
${prefix}const num = () => { let v = 0, m = 1, b; do { b = ops[p++]; v += (b & 127) * m; m *= 128; } while (b & 128); return v; };
for (;;) {
  const n = num();
  all.set(ops.subarray(p, p + n), o);
  p += n; o += n;
  if (o >= all.length) break;
  const from = num(), len = num();
  all.copyWithin(o, from, from + len);
  o += len;
}
function b64(u) { let t = ''; for (let i = 0; i < u.length; i += 8192) t += String.fromCharCode.apply(null, u.subarray(i, i + 8192)); return btoa(t); }
export const ${slices.join(', ')};
`,
      map: { mappings: '' }, // generated data: nothing to map back to
    };
  },
};

/**
 * bytes[start..] as runs of [varint n, n literal bytes, varint from, varint len] (copy len bytes from
 * position `from`, before this point; bytes[0, start) is there already), ending with a literal run: repeats
 * of 16 bytes or more at any distance (gzip finds the shorter, nearer ones after).
 */
function lz(bytes, start = 0) {
  const K = 16, out = [], heads = new Map();
  const key = (i) => bytes.toString('latin1', i, i + K);
  const add = (j) => { const k = key(j), c = heads.get(k); if (c) { c.push(j); if (c.length > 32) c.shift(); } else heads.set(k, [j]); };
  const num = (v) => { do { out.push((v & 127) | (v >= 128 ? 128 : 0)); v = Math.floor(v / 128); } while (v > 0); };
  for (let j = 0; j + K <= start; j++) add(j);
  let lit = start, i = start;
  const flush = (end) => { num(end - lit); for (let j = lit; j < end; j++) out.push(bytes[j]); };
  while (i + K <= bytes.length) {
    let best = 0, from = 0;
    for (const c of heads.get(key(i)) ?? []) {
      let n = 0;
      while (i + n < bytes.length && bytes[c + n] === bytes[i + n] && c + n < i) n++;
      if (n > best) { best = n; from = c; }
    }
    add(i);
    if (best >= K) {
      flush(i); num(from); num(best);
      for (let j = i + 1; j < i + best && j + K <= bytes.length; j += 4) add(j);
      i += best; lit = i;
    } else i++;
  }
  flush(bytes.length);
  return Uint8Array.from(out);
}

/**
 * onnx-proto's generated messages carry, besides create / encode / decode (what edgegrad calls), verify,
 * fromObject, toObject, toJSON and the length-delimited variants: two thirds of the code, never called.
 * They are dropped from the bundle (statements `Message.verify = function ...` and the like).
 */
const UNUSED_PROTO = new Set(['verify', 'fromObject', 'toObject', 'toJSON', 'encodeDelimited', 'decodeDelimited']);
const dropProto = (name, unused) => ({
  name,
  transform(code, id) {
    if (!id.replace(/\\/g, '/').endsWith('onnx-proto/dist/onnx.js')) return null;
    const ms = new MagicString(code);
    const walk = (node) => {
      if (!node || typeof node.type !== 'string') return;
      const e = node.type === 'ExpressionStatement' ? node.expression : undefined;
      if (e?.type === 'AssignmentExpression' && e.left.type === 'MemberExpression' && !e.left.computed && unused.has(e.left.property.name)) {
        ms.remove(node.start, node.end);
        return;
      }
      for (const v of Object.values(node)) {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') walk(v);
      }
    };
    walk(this.parse(code));
    return { code: ms.toString(), map: ms.generateMap({ hires: true }) };
  },
});
const leanOnnxProto = dropProto('lean-onnx-proto', UNUSED_PROTO);

/** tsc's source maps (with the TypeScript inlined), so the shipped maps lead back to src/. */
const tscSourceMaps = {
  name: 'tsc-source-maps',
  load(id) {
    if (!id.endsWith('.js') || !resolve(id).startsWith(resolve('build/tsc')) || !existsSync(`${id}.map`)) return null;
    return { code: readFileSync(id, 'utf8'), map: readFileSync(`${id}.map`, 'utf8') };
  },
};

const shipData = {
  name: 'ship-data',
  writeBundle() {
    mkdirSync('dist', { recursive: true });
    copyFileSync('src/data/digits.u8.gz', 'dist/digits.u8.gz');
  },
};

const onwarn = (w, warn) => {
  if (w.code === 'CIRCULAR_DEPENDENCY') return;
  warn(w);
};

/**
 * WGSL ships without its comments and indentation: in each template literal marked \`/* wgsl *\/\`, the text
 * between interpolations loses its // comments, and each run of whitespace becomes one space (WGSL reads
 * tokens, never layout). About 8 kB less raw, 2 kB less gzip, in every build that carries the WebGPU backend.
 */
const minifyWgsl = {
  name: 'minify-wgsl',
  transform(code, id) {
    if (!/backend[\\/]webgpu[\\/][^\\/]+\.js$/.test(id) || !code.includes('/* wgsl */')) return null;
    const ms = new MagicString(code);
    const marker = /\/\* wgsl \*\/\s*`/g;
    let m;
    while ((m = marker.exec(code))) {
      let i = m.index + m[0].length, part = i;
      const squeeze = (a, b) => {
        if (b <= a) return;
        const text = code.slice(a, b).replace(/\/\/[^\n]*/g, '').replace(/\s+/g, ' ');
        ms.overwrite(a, b, text.length ? text : ' ');
      };
      for (;;) {
        const c = code[i];
        if (c === '\\') { i += 2; continue; }
        if (c === '`') { squeeze(part, i); break; }
        if (c === '$' && code[i + 1] === '{') {
          squeeze(part, i);
          let depth = 0;
          for (i += 1; ; i++) { if (code[i] === '{') depth++; else if (code[i] === '}' && --depth === 0) break; }
          part = ++i;
          continue;
        }
        i++;
      }
      marker.lastIndex = i + 1;
    }
    return { code: ms.toString(), map: ms.generateMap({ hires: true }) };
  },
};

const plugins = () => [tscSourceMaps, minifyWgsl, packBinaries, leanOnnxProto, noInquire, nodeResolve({ preferBuiltins: true, browser: false }), commonjs()];

const library = {
  input: entries,
  // keep the core in dist/index.js itself (no facade): the digits file is found next to it
  preserveEntrySignatures: 'allow-extension',
  output: {
    dir: 'dist', format: 'es', sourcemap: true, entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js',
    plugins: outputPlugins(),
  },
  plugins: [...plugins(), shipData],
  onwarn,
};

/** One self-contained file (dynamic imports inlined) of the main entry, in `format`. */
const single = (file, format, extra = {}, more = []) => ({
  input: entries.index,
  output: { file, format, sourcemap: true, inlineDynamicImports: true, plugins: outputPlugins(), ...extra },
  plugins: [...more, ...plugins()],
  onwarn,
});

/**
 * The classic script never runs threads (a page from file:// cannot be cross-origin isolated; pages that can
 * take the ES module build): the threaded builds' module is replaced by its empty stand-in, and ready()
 * says why it runs one thread.
 */
/**
 * The classic script also leaves the scalar build out (7 kB of its gzip size): engines without WebAssembly
 * SIMD (Safari before 16.4) load dist/edgegrad-scalar.js before it, which sets globalThis.edgegradScalarBuild.
 */
const noScalarBuild = {
  name: 'no-scalar-build',
  resolveId: (id, importer) => (importer && id.endsWith('/binaries-scalar.generated.js') ? resolve(dirname(importer), id.replace(/\.generated\.js$/, '.none.js')) : null),
  writeBundle() {
    const b64 = readFileSync('build/wasm/edgegrad.scalar.wasm').toString('base64');
    writeFileSync('dist/edgegrad-scalar.js', `/* edgegrad's scalar wasm build, for the classic script (dist/edgegrad.js) on engines without WebAssembly SIMD: load this first */\nglobalThis.edgegradScalarBuild = '${b64}';\n`);
  },
};

/**
 * The classic script leaves out the reference backend (tests, and engines without wasm, need it) and the
 * WebGPU one (file:// pages and webviews run wasm; the ES module build has WebGPU), and with it float16
 * compute (graph/half-compute.js): their stand-ins say so.
 */
const wasmOnly = {
  name: 'wasm-only',
  resolveId(id, importer) {
    if (importer && id === './half-compute.js' && /[\\/]graph[\\/]half\.js$/.test(importer)) return resolve(dirname(importer), 'half-compute.none.js');
    if (!importer || !/[\\/]backend[\\/]index\.js$/.test(importer)) return null;
    if (id === './ref/backend.js') return resolve(dirname(importer), 'ref/none.js');
    if (id === './webgpu/backend.js') return resolve(dirname(importer), 'webgpu/none.js');
    return null;
  },
};

const noThreadBuilds = {
  name: 'no-thread-builds',
  resolveId: (id, importer) => (importer && id.endsWith('/binaries-threads.generated.js') ? resolve(dirname(importer), id.replace(/\.generated\.js$/, '.none.js')) : null),
};

/** The library entry as the command imports it ('../index.js' from build/tsc/cli), resolved or not. */
function isLibraryEntry(id) {
  return id === '../index.js' || resolve(id) === resolve(entries.index);
}

// The `edgegrad` command: its own small file over the library entry (kept external, so one copy of it).
const cli = {
  input: 'build/tsc/cli/index.js',
  external: isLibraryEntry,
  output: {
    file: 'dist/cli.js', format: 'es', sourcemap: true, banner: '#!/usr/bin/env node',
    paths: (id) => (isLibraryEntry(id) ? './index.js' : id), plugins: outputPlugins(),
  },
  plugins: plugins(),
  onwarn,
};

// The worker script (eg.worker()): its own small file over the library entry too. Whatever it imports from
// the library (its tensors above all) must be the library's own copy, so every module outside src/worker
// comes from ./index.js (each is imported by a name that index.js exports).
const tscRoot = resolve('build/tsc');
const fromLibrary = (id, parent) => {
  const abs = parent && id.startsWith('.') ? resolve(dirname(parent), id) : resolve(id);
  return abs.startsWith(tscRoot) && !abs.startsWith(join(tscRoot, 'worker'));
};
const workerScript = {
  input: 'build/tsc/worker/main.js',
  external: fromLibrary,
  output: { file: 'dist/worker.js', format: 'es', sourcemap: true, paths: () => './index.js', plugins: outputPlugins() },
  plugins: plugins(),
  onwarn,
};

/**
 * What the ES module build loads on first use for tools a page running or fine-tuning a model does without
 * (module under build/tsc: what it brings, for the error when the add-on is missing). The classic script
 * leaves them out and dist/edgegrad-extras.js, a classic script of its own included after it, brings them.
 */
const EXTRAS = {
  'compress/distill.js': 'distill()',
  'compress/cascade.js': 'cascadeCorrelation()',
  'pretrain/index.js': 'pretrain()',
  'compress/saliency.js': 'pruning.obd(), obs() and hessianDiagonal()',
  'compress/structured.js': 'pruning.pruneChannels()',
  'report/index.js': 'report.html(), lineChart() and confusionTable()',
  'report/confusion.js': 'confusionMatrix()',
  'transfer/index.js': 'transfer.sweepCuts(), cutCandidates(), cutFeatures() and labelsCurve()',
  'io/tfjs.js': 'loading a TensorFlow.js model',
  'io/onnx-export.js': 'saving a model as ONNX (save(), toOnnx())',
  'graph/half.js': "loadModel(file, { weights: 'float16' })",
};
const EXTRAS_HELPER = join(tscRoot, 'classic-extras.js');
/** A module's path under build/tsc ('io/tfjs.js'), or undefined for one elsewhere. */
const underTsc = (id) => (resolve(id).startsWith(tscRoot + '/') ? resolve(id).slice(tscRoot.length + 1).replace(/\\/g, '/') : undefined);

/**
 * Modules the classic script never runs, replaced by their stand-ins (<module>.none.js): the worker pool
 * (no threads: see noThreadBuilds) and the writing of files (a page saves to IndexedDB).
 */
const CLASSIC_STAND_INS = ['backend/wasm/pool.js', 'io/write.js'];
const classicStandIns = {
  name: 'classic-stand-ins',
  resolveId(id, importer) {
    if (!importer || !id.startsWith('.')) return null;
    const p = underTsc(resolve(dirname(importer), id));
    return p && CLASSIC_STAND_INS.includes(p) ? join(tscRoot, p.replace(/\.js$/, '.none.js')) : null;
  },
};

/**
 * In the classic script, `import('./<module>.js')` of a module in EXTRAS becomes extra('<module>.js', what)
 * (src/classic-extras.ts): the module as the add-on registered it, or an error naming the script to include.
 */
const toExtras = {
  name: 'classic-to-extras',
  transform(code, id) {
    if (!underTsc(id)) return null;
    const found = [...code.matchAll(/\bimport\((['"])(\.{1,2}\/[^'"]+)\1\)/g)].map((m) => ({ m, p: underTsc(resolve(dirname(id), m[2])) })).filter(({ p }) => p in EXTRAS);
    if (found.length === 0) return null;
    const ms = new MagicString(code);
    for (const { m, p } of found) ms.overwrite(m.index, m.index + m[0].length, `__classicExtra(${JSON.stringify(p)}, ${JSON.stringify(EXTRAS[p])})`);
    ms.prepend(`import { extra as __classicExtra } from ${JSON.stringify(EXTRAS_HELPER)};\n`);
    return { code: ms.toString(), map: ms.generateMap({ hires: true }) };
  },
};

const EXTRAS_ENTRY = '\0edgegrad-extras';
/** The add-on's entry: every ADD_ON module, registered with the classic script under its path. */
const extrasEntry = {
  name: 'classic-extras-entry',
  resolveId: (id) => (id === EXTRAS_ENTRY ? id : null),
  load(id) {
    if (id !== EXTRAS_ENTRY) return null;
    const paths = Object.keys(ADD_ON);
    return [
      ...paths.map((p, i) => `import * as m${i} from ${JSON.stringify(join(tscRoot, p))};`),
      `import { registerExtras } from ${JSON.stringify(EXTRAS_HELPER)};`,
      `registerExtras({ ${paths.map((p, i) => `${JSON.stringify(p)}: m${i}`).join(', ')} });`,
    ].join('\n');
  },
};

/**
 * Modules the library's entry imports statically, for tools a page running or fine-tuning a model does
 * without (module: what it brings). In the classic script each is a facade with the module's exports, all
 * functions and classes: a function calls the add-on's (an async one returns its Promise), a class makes the
 * add-on's objects and answers instanceof for them; without the add-on, the error names the script.
 */
const FACADES = {
  'quantize/index.js': 'quantize()',
  'worker/client.js': 'worker()',
  'compress/prune.js': 'pruning.pruneLowMagnitude(), stripPruning(), sparsity(), targets() and Pruning',
  'compress/schedules.js': 'pruning.polynomialDecay() and constantSparsity()',
};
const FACADE = '\0classic-facade:';
const facades = {
  name: 'classic-facades',
  resolveId(id, importer) {
    if (!importer || !id.startsWith('.')) return null;
    const p = underTsc(resolve(dirname(importer), id));
    return p && p in FACADES ? FACADE + p : null;
  },
  load(id) {
    if (!id.startsWith(FACADE)) return null;
    const p = id.slice(FACADE.length), path = JSON.stringify(p), what = JSON.stringify(FACADES[p]);
    const lines = [`import { extraNow, extraLoaded } from ${JSON.stringify(EXTRAS_HELPER)};`];
    for (const n of this.parse(readFileSync(join(tscRoot, p), 'utf8')).body) {
      if (n.type === 'ExportNamedDeclaration' && n.declaration?.type === 'FunctionDeclaration') {
        const f = n.declaration.id.name, call = `extraNow(${path}, ${what}).${f}(...a)`;
        lines.push(n.declaration.async ? `export async function ${f}(...a) { return ${call}; }` : `export function ${f}(...a) { return ${call}; }`);
      } else if (n.type === 'ExportNamedDeclaration' && n.declaration?.type === 'ClassDeclaration') {
        const c = n.declaration.id.name;
        lines.push(`export class ${c} {
  constructor(...a) { return new (extraNow(${path}, ${what}).${c})(...a); }
  static [Symbol.hasInstance](x) { const m = extraLoaded(${path}); return !!m && x instanceof m.${c}; }
}`);
      } else if (n.type.startsWith('Export')) {
        this.error(`${p}: a facade of the classic script can stand in for exported functions and classes only`);
      }
    }
    return lines.join('\n');
  },
};
/** All the add-on carries: module -> what it brings. */
const ADD_ON = { ...EXTRAS, ...FACADES };

/**
 * Only the ONNX exporter encodes ONNX messages, and it is in the add-on: the classic script's messages only
 * decode (encode is the larger part of their code), and the add-on has a copy of its own that only encodes.
 */
const decodeOnlyProto = dropProto('decode-only-onnx-proto', new Set(['encode']));
const encodeOnlyProto = dropProto('encode-only-onnx-proto', new Set(['decode']));
/**
 * With no encode, nothing in the classic script writes protobuf or calls a service: protobufjs's writers and
 * RPC stand empty (the writer's _configure, which protobufjs calls when it loads, does nothing).
 */
const PROTOBUF_UNUSED = { './writer': 'export function _configure() {}', './writer_buffer': 'export {};', './rpc': 'export {};' };
const noProtobufWriter = {
  name: 'no-protobuf-writer',
  resolveId: (id, importer) => (importer && /protobufjs[\\/]src[\\/]index-minimal\.js$/.test(importer) && id in PROTOBUF_UNUSED ? `\0protobuf-unused:${id}` : null),
  load: (id) => (id.startsWith('\0protobuf-unused:') ? PROTOBUF_UNUSED[id.slice('\0protobuf-unused:'.length)] : null),
};
/**
 * Modules of the classic script of which the add-on has its own copy: the ONNX messages with encode, and
 * what they are made of (packages, and the modules plugins make); the library's own modules it shares.
 */
const addOnOwnCopy = (id) => underTsc(id) === undefined || underTsc(id) === 'io/onnx/proto.js';

/**
 * In the add-on, `import('./<module>.js')` of a module of the classic script (loaded already) becomes a
 * resolved Promise of its namespace, imported statically: the add-on reads it through `__extras` too.
 */
const coreImportsStatic = (external) => ({
  name: 'core-imports-static',
  transform(code, id) {
    if (!underTsc(id)) return null;
    const found = [...code.matchAll(/\bimport\((['"])(\.{1,2}\/[^'"]+)\1\)/g)].filter((m) => external(resolve(dirname(id), m[2])));
    if (found.length === 0) return null;
    const ms = new MagicString(code);
    found.forEach((m, i) => {
      ms.overwrite(m.index, m.index + m[0].length, `Promise.resolve(__core${i})`);
      ms.prepend(`import * as __core${i} from ${JSON.stringify(m[2])};\n`);
    });
    return { code: ms.toString(), map: ms.generateMap({ hires: true }) };
  },
});

/** What makes the add-on (the modules of the classic script are `external`): the same stand-ins as it. */
const addOnOnly = (external) => [extrasEntry, noThreadBuilds, wasmOnly, classicStandIns, coreImportsStatic(external), encodeOnlyProto];

/** What makes the classic script from the library's entry (besides exposeToExtras). */
const classicOnly = [noThreadBuilds, noScalarBuild, wasmOnly, classicStandIns, facades, toExtras, decodeOnlyProto, noProtobufWriter];

/**
 * The split between the classic script and its add-on, found before either is built: the modules the
 * classic script holds (what its entry reaches without the add-on's), and what the add-on's modules import from
 * them (module -> names, or '*' for all), which the classic script exports as `__extras` for the add-on.
 */
async function classicSplit() {
  const { rollup } = await import('rollup');
  const core = new Set(), mutable = new Map(), imports = new Map();
  const recordCore = {
    name: 'record-core',
    moduleParsed(info) {
      core.add(info.id);
      // `export let` bindings may change: the add-on reads them through getters
      for (const n of info.ast.body) {
        if (n.type === 'ExportNamedDeclaration' && n.declaration?.type === 'VariableDeclaration' && n.declaration.kind !== 'const') {
          for (const d of n.declaration.declarations) if (d.id.type === 'Identifier') mutable.set(info.id, (mutable.get(info.id) ?? new Set()).add(d.id.name));
        }
      }
    },
  };
  const coreBundle = await rollup({ input: entries.index, plugins: [recordCore, ...classicOnly, ...plugins()], onwarn: () => {} });
  await coreBundle.close();
  for (const p of Object.keys(ADD_ON)) {
    if (core.has(join(tscRoot, p))) throw new Error(`rollup.config.mjs: ${p} is in the add-on but the classic script imports it statically`);
  }
  const external = (id) => core.has(id) && !addOnOwnCopy(id);
  const recordImports = {
    name: 'record-imports',
    async moduleParsed(info) {
      if (info.dynamicallyImportedIds.some(external)) this.error(`${info.id}: the classic add-on cannot import() a module of the classic script`);
      for (const n of info.ast.body) {
        if (!['ImportDeclaration', 'ExportNamedDeclaration', 'ExportAllDeclaration'].includes(n.type) || !n.source) continue;
        const r = await this.resolve(n.source.value, info.id);
        if (!r || !external(r.id)) continue;
        const names = imports.get(r.id) ?? new Set();
        imports.set(r.id, names);
        if (n.type === 'ExportAllDeclaration') names.add('*');
        for (const s of n.specifiers ?? []) {
          if (s.type === 'ImportNamespaceSpecifier') names.add('*');
          else if (s.type === 'ImportDefaultSpecifier') names.add('default');
          else names.add(n.type === 'ImportDeclaration' ? s.imported.name : s.local.name);
        }
      }
    },
  };
  const extrasBundle = await rollup({ input: EXTRAS_ENTRY, external: (id, _, resolved) => resolved && external(id), plugins: [recordImports, ...addOnOnly(external), ...plugins()], onwarn: () => {} });
  await extrasBundle.close();
  // each module's name in `__extras`: short (the names are in both scripts), in a stable order
  const keys = new Map([...imports.keys()].sort().map((id, i) => [id, `m${i}`]));
  return { external, mutable, imports, keys };
}

/**
 * The classic script's entry also exports `__extras`: for each module the add-on imports from, the bindings
 * it imports (getters for those that may change), so both scripts share one copy of the library.
 */
const exposeToExtras = ({ mutable, imports, keys }) => ({
  name: 'expose-to-extras',
  transform(code, id) {
    if (resolve(id) !== resolve(entries.index)) return null;
    const lines = [], fields = [];
    [...imports].forEach(([mod, names], i) => {
      const from = JSON.stringify(mod);
      if (names.has('*')) {
        lines.push(`import * as __x${i} from ${from};`);
        fields.push(`${keys.get(mod)}: __x${i}`);
        return;
      }
      const list = [...names];
      if (list.length === 0) return;
      lines.push(`import { ${list.map((n, j) => `${n} as __x${i}_${j}`).join(', ')} } from ${from};`);
      const may = mutable.get(mod) ?? new Set();
      fields.push(`${keys.get(mod)}: { ${list.map((n, j) => (may.has(n) ? `get ${n}() { return __x${i}_${j}; }` : `${n}: __x${i}_${j}`)).join(', ')} }`);
    });
    const ms = new MagicString(code);
    ms.append(`\n${lines.join('\n')}\nexport const __extras = { ${fields.join(', ')} };\n`);
    return { code: ms.toString(), map: ms.generateMap({ hires: true }) };
  },
});

const split = await classicSplit();

/** dist/edgegrad-extras.js: the ADD_ON modules over the classic script's own (edgegrad.__extras). */
const classicAddOn = {
  input: EXTRAS_ENTRY,
  external: (id, _, resolved) => resolved && split.external(id),
  output: {
    file: 'dist/edgegrad-extras.js', format: 'iife', sourcemap: true, interop: 'esModule', inlineDynamicImports: true,
    globals: (id) => `edgegrad.__extras.${split.keys.get(id)}`,
    banner: 'if (typeof edgegrad === "undefined" || !edgegrad.__extras) throw new Error("edgegrad: dist/edgegrad-extras.js is an add-on of the classic script: include dist/edgegrad.js before it");',
    plugins: outputPlugins(),
  },
  plugins: [...addOnOnly(split.external), ...plugins()],
  onwarn,
};

export default [
  library,
  workerScript,
  single('dist/edgegrad.cjs', 'cjs', { exports: 'named' }),
  single('dist/edgegrad.js', 'iife', { name: 'edgegrad', exports: 'named' }, [...classicOnly, exposeToExtras(split)]),
  classicAddOn,
  cli,
];
