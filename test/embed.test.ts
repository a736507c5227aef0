// Embedding the built package where users put it (issue 15): a page opened from file:// with the classic
// script, a page and its module worker under a strict Content Security Policy, CommonJS (Electron main),
// bundlers (Vite, esbuild) with no configuration, the packed package's dependencies and types, and the bytes
// a page downloads for ONNX inference. Real runs against dist/: headless Chromium (Debian's), Node, tsc, npm.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { browserTests, launchChromium, root, serve as serveFiles } from './browser.js';
import { extname, join, normalize } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';

const STRICT_CSP = "script-src 'self' 'wasm-unsafe-eval'";
/** What a page may download (gzip, all JS from dist/) to run an ONNX model: the bar of issue 15. */
const PAGE_BUDGET_GZIP = 150_000;
/**
 * The classic script: what a page needs to run and fine-tune a model (the ONNX importer included). The tools
 * the ES module build loads only when asked come in its add-on, dist/edgegrad-extras.js: issue 15's bar.
 */
const CLASSIC_BUDGET_GZIP = 150_000;

/** Node's answer for the ring input (CommonJS and ESM builds), computed once. */
interface Sparsity { layer: string; weight: string; size: number; zeros: number; sparsity: number }
let nodeCache: { y: number[]; esm: number[]; resolved: string; digits: number; tools: { cuts: string[]; features: number[]; quantized: number[]; sparsity: Sparsity[] } } | undefined;
const nodeRun = () => (nodeCache ??= JSON.parse(execFileSync(process.execPath, ['test/smoke/embed-require.cjs'], { cwd: root, encoding: 'utf8', timeout: 60_000 }).trim().split('\n').pop()!));

function expectClose(a: number[], b: number[]) {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 5));
}

/** dist/, models/ and the smoke pages on 127.0.0.1, HTML with the CSP named by ?csp= (strict | nowasm | none). */
function serve() {
  const csp: Record<string, string> = { strict: STRICT_CSP, nowasm: "script-src 'self'" };
  return serveFiles(['/dist/', '/models/', '/test/smoke/'], (req): Record<string, string> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const policy = csp[url.searchParams.get('csp') ?? ''];
    return extname(url.pathname) === '.html' && policy ? { 'content-security-policy': policy } : {};
  });
}

/** Headless Chromium (test/browser.ts) with `extra` flags, closed after f. */
async function withChromium<T>(extra: string[], f: (browser: import('playwright-core').BrowserContext) => Promise<T>): Promise<T> {
  const c = await launchChromium(['--disable-gpu', ...extra]);
  try {
    return await f(c.browser);
  } finally {
    await c.close();
  }
}

interface Classic {
  protocol: string; global: string; backend: string; byUrl?: number[]; byUrlError?: string; digits?: number; digitsError?: string; byBytes: number[];
  builds: string[]; scalar?: number[]; scalarError?: string; error?: string;
  /** the add-on's tools (test/smoke/embed-classic.js): their results, or the errors without the add-on */
  extrasErrors: string[]; half?: number[]; cuts?: string[]; features?: number[]; exported?: number[]; quantized?: number[]; sparsity?: Sparsity[]; isPruning?: boolean;
}

/** embed-classic.html (or another page running embed-classic.js) opened from file://, the model picked in its file input. */
async function runClassicPage(browser: import('playwright-core').BrowserContext, html = 'embed-classic.html'): Promise<Classic> {
  const page = await browser.newPage();
  await page.goto(pathToFileURL(join(root, 'test', 'smoke', html)).href);
  await page.waitForFunction('window.__waiting || window.__classic', undefined, { timeout: 60_000 });
  await page.setInputFiles('#model', join(root, 'models', 'digits-cnn.onnx'));
  await page.waitForFunction('window.__classic !== undefined', undefined, { timeout: 60_000 });
  return await page.evaluate('window.__classic') as Classic;
}

describe('embedding', () => {
  it('dist/ has the ESM, CommonJS and classic-script builds, minified, with source maps', () => {
    for (const f of ['index.js', 'edgegrad.cjs', 'edgegrad.js', 'edgegrad-extras.js', 'cli.js']) {
      const code = readFileSync(join(root, 'dist', f), 'utf8');
      expect(existsSync(join(root, 'dist', `${f}.map`)), `${f}.map`).toBe(true);
      expect(code).toMatch(/\/\/# sourceMappingURL=\S+\.map\s*$/);
      // minified: long lines, no comments of the sources
      expect(code.split('\n').length, f).toBeLessThan(40);
      // no eval, and no literal node: import that a browser bundler would try to resolve
      expect(code).not.toMatch(/\beval\(/);
      expect(code).not.toMatch(/import\(\s*["']node:/);
    }
    expect(readFileSync(join(root, 'dist', 'edgegrad.js'), 'utf8')).toMatch(/^var edgegrad=function/);
    // the classic script's add-on, run before it (or without it), says what to include first
    const addOn = readFileSync(join(root, 'dist', 'edgegrad-extras.js'), 'utf8');
    expect(() => runInNewContext(addOn, {})).toThrow(/edgegrad: dist\/edgegrad-extras\.js is an add-on of the classic script: include dist\/edgegrad\.js before it/);
  });

  it("require('edgegrad') works from CommonJS and predicts what the ES module build predicts", () => {
    const r = nodeRun();
    expect(r.resolved).toBe(join(root, 'dist', 'edgegrad.cjs'));
    expect(r.y).toHaveLength(5);
    expectClose(r.y, r.esm);
    expect(r.digits).toBe(10_000);
  });

  it('the packed package ships the builds and types and depends on nothing the bundle contains', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const deps = Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies });
    // onnx-proto and its protobufjs are bundled into the importer's chunk; @types/node breaks browser typings
    for (const d of ['onnx-proto', 'protobufjs', '@types/node']) expect(deps).not.toContain(d);
    const bundled = ['dist/index.js', 'dist/edgegrad.cjs'].map((f) => readFileSync(join(root, f), 'utf8')).join('\n');
    for (const d of deps) expect(bundled, `${d} is a dependency and imported by the bundle`).toMatch(new RegExp(`["']${d}["']`));
    expect(pkg.exports['.']).toMatchObject({ types: './dist/types/index.d.ts', import: './dist/index.js', require: './dist/edgegrad.cjs' });
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    const files = (packed.files as Array<{ path: string }>).map((f) => f.path);
    for (const f of ['dist/index.js', 'dist/index.js.map', 'dist/edgegrad.cjs', 'dist/edgegrad.js', 'dist/edgegrad-extras.js', 'dist/cli.js', 'dist/digits.u8.gz', 'dist/types/index.d.ts', 'package.json']) expect(files).toContain(f);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('node_modules/'))).toEqual([]);
  });

  it('the shipped types carry no embedded binaries, and a browser-only tsc --strict project accepts them', () => {
    const types = join(root, 'dist', 'types');
    let total = 0;
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.d.ts')) {
          const s = readFileSync(p, 'utf8');
          total += s.length;
          expect(s, p).not.toMatch(/"[^"\n]{1000,}"|'[^'\n]{1000,}'/);
          expect(s, p).not.toMatch(/reference types="node"|from ['"]node:/);
        }
      }
    };
    walk(types);
    expect(total).toBeLessThan(400_000);
    // a project with the DOM library only (no @types/node anywhere), strict, checking libraries too
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-types-'));
    try {
      const pkgDir = join(dir, 'node_modules', 'edgegrad');
      mkdirSync(join(pkgDir, 'dist'), { recursive: true });
      cpSync(types, join(pkgDir, 'dist', 'types'), { recursive: true });
      cpSync(join(root, 'package.json'), join(pkgDir, 'package.json'));
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'bundler', lib: ['ES2022', 'DOM'], strict: true, noEmit: true, skipLibCheck: false, types: [] },
        include: ['main.ts'],
      }));
      writeFileSync(join(dir, 'main.ts'), [
        "import * as eg from 'edgegrad';",
        'await eg.ready();',
        "const m = await eg.loadModel(new URL('model.onnx', document.baseURI));",
        'const y = m.predict(eg.zeros([1, 28, 28, 1]));',
        'const v: Float32Array | Int32Array | Uint8Array | Int8Array = await y.data();',
        'const digits = await eg.data.loadDigits();',
        // setTimeout is the DOM's (a number): with @types/node pulled in, this is TS2322
        'const timer: number = setTimeout(() => {}, 0);',
        'console.log(v.length, digits.count, timer);',
      ].join('\n'));
      const tsc = join(root, 'node_modules', '.bin', 'tsc');
      let out = '';
      try { execFileSync(tsc, ['-p', dir], { cwd: dir, encoding: 'utf8' }); } catch (e) { out = String((e as { stdout?: string }).stdout) + String((e as { stderr?: string }).stderr); }
      expect(out).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('esbuild bundles the package for the browser with no configuration, and the bundle runs', async () => {
    const { build } = await import('esbuild');
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-esbuild-'));
    try {
      // a project that installed edgegrad: node_modules/edgegrad is this package
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(root, join(dir, 'node_modules', 'edgegrad'), 'dir');
      writeFileSync(join(dir, 'main.js'), [
        "import * as eg from 'edgegrad';",
        'export async function run(bytes, input) {',
        '  await eg.ready({ backend: "wasm" });',
        '  const m = await eg.loadModel(bytes);',
        '  return Array.from(m.predict(eg.tensor(input, [1, 28, 28, 1])).dataSync());',
        '}',
      ].join('\n'));
      const r = await build({ entryPoints: [join(dir, 'main.js')], bundle: true, format: 'esm', platform: 'browser', splitting: true, outdir: join(dir, 'out'), logLevel: 'silent' });
      expect(r.errors).toEqual([]);
      expect(r.warnings).toEqual([]);
      // the browser bundle runs (Node has what it needs: the computed node: imports resolve at run time)
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', [
        "import { readFileSync } from 'node:fs';",
        `import '${pathToFileURL(join(root, 'test', 'smoke', 'embed-input.js')).href}';`,
        `const { run } = await import('${pathToFileURL(join(dir, 'out', 'main.js')).href}');`,
        `console.log(JSON.stringify(await run(readFileSync('${join(root, 'models', 'digits-cnn.onnx')}'), globalThis.embedRing())));`,
      ].join('\n')], { encoding: 'utf8', timeout: 60_000 });
      expectClose(JSON.parse(out.trim().split('\n').pop()!), nodeRun().y);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!browserTests)('Vite builds a page over the package with no configuration, and it runs under the strict CSP', async () => {
    const { build } = await import('vite');
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-vite-'));
    try {
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(root, join(dir, 'node_modules', 'edgegrad'), 'dir');
      writeFileSync(join(dir, 'index.html'), '<!doctype html>\n<script src="./embed-input.js"></script>\n<script type="module" src="./main.js"></script>\n');
      cpSync(join(root, 'test', 'smoke', 'embed-input.js'), join(dir, 'public', 'embed-input.js'));
      cpSync(join(root, 'models', 'digits-cnn.onnx'), join(dir, 'public', 'digits-cnn.onnx'));
      writeFileSync(join(dir, 'main.js'), [
        "import * as eg from 'edgegrad';",
        'try {',
        '  await eg.ready({ backend: "wasm" });',
        "  const m = await eg.loadModel('digits-cnn.onnx');",
        '  const y = Array.from(m.predict(eg.tensor(globalThis.embedRing(), [1, 28, 28, 1])).dataSync());',
        '  window.__vite = { y, digits: (await eg.data.loadDigits()).count };',
        '} catch (e) { window.__vite = { error: e.message }; }',
      ].join('\n'));
      await build({ root: dir, configFile: false, logLevel: 'silent', build: { outDir: join(dir, 'dist') } });
      const out = join(dir, 'dist');
      const server = createServer((req, res) => {
        const file = join(out, normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/\/$/, '/index.html'));
        if (!file.startsWith(out) || !existsSync(file)) { res.writeHead(404).end(); return; }
        const type = { '.html': 'text/html', '.js': 'text/javascript' }[extname(file)] ?? 'application/octet-stream';
        res.writeHead(200, { 'content-type': type, 'content-security-policy': STRICT_CSP }).end(readFileSync(file));
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      try {
        const r = await withChromium([], async (browser) => {
          const page = await browser.newPage();
          await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
          await page.waitForFunction(() => (window as { __vite?: unknown }).__vite !== undefined, undefined, { timeout: 60_000 });
          return await page.evaluate(() => (window as { __vite?: unknown }).__vite) as { y?: number[]; digits?: number; error?: string };
        });
        expect(r.error).toBeUndefined();
        expectClose(r.y!, nodeRun().y);
        // loadDigits() found its file: Vite copied it as an asset (new URL('./digits.u8.gz', import.meta.url))
        expect(r.digits).toBe(10_000);
      } finally {
        server.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it.skipIf(!browserTests)('the classic-script build runs from a file:// page: a model as bytes predicts; by URL, a clear error', async () => {
    const node = nodeRun();
    const r = await withChromium([], runClassicPage);
    expect(r.error).toBeUndefined();
    expect(r.protocol).toBe('file:');
    expect(r.global).toBe('object');
    expect(r.backend).toBe('wasm');
    expectClose(r.byBytes, node.y);
    // Chromium refuses file: reads to a file:// page: the errors say so and what to do instead
    expect(r.byUrlError).toMatch(/cannot read model 'file:\/\/\/.*\/models\/digits-cnn\.onnx': this page may not read file: URLs.*Pass the bytes instead/);
    expect(r.digitsError).toMatch(/cannot read digits file 'file:\/\/\/.*\/dist\/digits\.u8\.gz'.*Pass the bytes/);
    // the scalar build is not in the classic script: asked for, the error says which script brings it
    expect(r.builds).toEqual(['relaxed', 'simd']);
    expect(r.scalarError).toMatch(/no 'scalar' wasm build loaded .*load dist\/edgegrad-scalar\.js before it/);
    const withScalar = await withChromium([], (b) => runClassicPage(b, 'embed-classic-scalar.html'));
    expect(withScalar.error).toBeUndefined();
    expect(withScalar.builds).toEqual(['relaxed', 'simd', 'scalar']);
    expectClose(withScalar.scalar!, node.y);
    // the tools the ES module build loads on first use are in the add-on: without it, each says so
    const addOn = /: not in the classic script \(dist\/edgegrad\.js\) but in its add-on: include <script src="\.\.\.\/dist\/edgegrad-extras\.js"> after dist\/edgegrad\.js$/;
    expect(r.extrasErrors).toHaveLength(5);
    r.extrasErrors.forEach((e) => expect(e).toMatch(addOn));
    expect(r.extrasErrors[0]).toMatch(/^edgegrad: transfer\.sweepCuts\(\), cutCandidates\(\), cutFeatures\(\) and labelsCurve\(\):/);
    expect(r.extrasErrors[1]).toMatch(/^edgegrad: saving a model as ONNX \(save\(\), toOnnx\(\)\):/);
    expect(r.extrasErrors[2]).toMatch(/^edgegrad: quantize\(\):/);
    expect(r.extrasErrors[3]).toMatch(/^edgegrad: pruning\.pruneLowMagnitude\(\), stripPruning\(\), sparsity\(\), targets\(\) and Pruning:/);
    expect(r.extrasErrors[4]).toMatch(/^edgegrad: loadModel\(file, \{ weights: 'float16' \}\):/);
    // all such a page downloads is the one script: a budget of its own
    const classic = readFileSync(join(root, 'dist', 'edgegrad.js'));
    const gz = gzipSync(classic, { level: 9 }).length;
    console.log(`embed: the classic script is ${(classic.length / 1e3).toFixed(1)} kB, ${(gz / 1e3).toFixed(1)} kB gzip`);
    expect(gz).toBeLessThanOrEqual(CLASSIC_BUDGET_GZIP);
    // where the embedder allows file: reads (Electron, webviews with file access; here Chromium's flag),
    // the same relative URLs load through XMLHttpRequest
    const allowed = await withChromium(['--allow-file-access-from-files'], runClassicPage);
    expect(allowed.error).toBeUndefined();
    expect(allowed.byUrlError).toBeUndefined();
    expectClose(allowed.byUrl!, node.y);
    expect(allowed.digits).toBe(10_000);
  }, 120_000);

  it.skipIf(!browserTests)('with dist/edgegrad-extras.js after it, a classic page runs the tools the ES module build loads on first use', async () => {
    const node = nodeRun();
    const r = await withChromium([], (b) => runClassicPage(b, 'embed-classic-extras.html'));
    expect(r.error).toBeUndefined();
    expect(r.extrasErrors).toEqual([]);
    expectClose(r.byBytes, node.y);
    // the transfer tools (a chunk loaded on first use in the ES module build) give what they give there
    expect(r.cuts).toEqual(node.tools.cuts);
    expect(r.cuts!.length).toBeGreaterThan(0);
    expectClose(r.features!, node.tools.features);
    // the exporter (its own copy of the ONNX messages, with encode) writes what the classic script reads back
    expectClose(r.exported!, r.byBytes);
    // quantize and pruning, facades in the classic script: the add-on's functions, and its objects instanceof
    // the classic script's class (int8 kernels: the page may run the relaxed build, Node the SIMD one)
    expect(r.quantized!.length).toBe(node.tools.quantized.length);
    r.quantized!.forEach((v, i) => expect(Math.abs(v - node.tools.quantized[i])).toBeLessThan(1e-3));
    expect(r.sparsity).toEqual(node.tools.sparsity);
    expect(r.isPruning).toBe(true);
    // float16 weight storage: within half precision of the float32 model
    expect(r.half!.length).toBe(r.byBytes.length);
    r.half!.forEach((v, i) => expect(Math.abs(v - r.byBytes[i])).toBeLessThan(2e-3));
    expect(r.half).not.toEqual(r.byBytes); // rounded weights: not the float32 outputs to the bit
    const addOn = readFileSync(join(root, 'dist', 'edgegrad-extras.js'));
    console.log(`embed: the classic script's add-on is ${(addOn.length / 1e3).toFixed(1)} kB, ${(gzipSync(addOn, { level: 9 }).length / 1e3).toFixed(1)} kB gzip`);
  }, 120_000);

  it.skipIf(!browserTests)(`the ES module build under "${STRICT_CSP}" loads a model by a relative URL (page and worker); what it downloads is <= 150 kB gzip`, async () => {
    const node = nodeRun();
    const { server, port } = await serve();
    try {
      const js = new Map<string, Buffer>();
      const r = await withChromium([], async (browser) => {
        const page = await browser.newPage();
        // what the page (and its worker) asked for from dist/; the server sends those files as they are
        page.on('request', (req) => {
          const u = new URL(req.url());
          if (u.pathname.startsWith('/dist/') && u.pathname.endsWith('.js')) js.set(u.pathname, readFileSync(join(root, u.pathname)));
        });
        await page.goto(`http://127.0.0.1:${port}/test/smoke/embed-esm.html?csp=strict`);
        // functions, not strings: the CSP refuses the page to evaluate strings
        await page.waitForFunction(() => (window as { __esm?: unknown }).__esm !== undefined, undefined, { timeout: 60_000 });
        return await page.evaluate(() => (window as { __esm?: unknown }).__esm) as { y?: number[]; digits?: number; backend?: string; worker?: { y?: number[]; error?: string }; error?: string };
      });
      expect(r.error).toBeUndefined();
      expect(r.backend).toBe('wasm');
      expectClose(r.y!, node.y);
      expect(r.digits).toBe(10_000);
      // in a module worker, relative to the worker's script
      expect(r.worker?.error).toBeUndefined();
      expectClose(r.worker!.y!, node.y);
      // everything the page downloaded from dist/ for this: the entry and the chunks it loaded on the way
      const raw = [...js.values()].reduce((s, b) => s + b.length, 0);
      const gz = [...js.values()].reduce((s, b) => s + gzipSync(b, { level: 9 }).length, 0);
      console.log(`embed: a page running an ONNX model downloads ${js.size} files from dist/: ${(raw / 1e3).toFixed(1)} kB, ${(gz / 1e3).toFixed(1)} kB gzip (${[...js.keys()].join(', ')})`);
      expect(js.has('/dist/index.js')).toBe(true);
      expect(gz).toBeLessThanOrEqual(PAGE_BUDGET_GZIP);
    } finally {
      server.close();
    }
  }, 90_000);

  it.skipIf(!browserTests)("without 'wasm-unsafe-eval' in the CSP, the error names exactly that", async () => {
    const { server, port } = await serve();
    try {
      const r = await withChromium([], async (browser) => {
        const page = await browser.newPage();
        await page.goto(`http://127.0.0.1:${port}/test/smoke/embed-esm.html?csp=nowasm`);
        // functions, not strings: the CSP refuses the page to evaluate strings
        await page.waitForFunction(() => (window as { __esm?: unknown }).__esm !== undefined, undefined, { timeout: 60_000 });
        return await page.evaluate(() => (window as { __esm?: unknown }).__esm) as { error?: string };
      });
      expect(r.error).toBe("edgegrad: this page's Content Security Policy refuses to compile WebAssembly: add 'wasm-unsafe-eval' to its script-src directive (script-src 'self' 'wasm-unsafe-eval'); 'unsafe-eval' is not needed");
    } finally {
      server.close();
    }
  }, 90_000);
});
