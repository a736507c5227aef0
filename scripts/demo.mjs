// `npm run demo`: the demo page (scripts/demo/) on http://127.0.0.1, with the built library (dist/) and the
// shipped models (models/) beside it. Nothing else of the repository is served, and only on the loopback.
// The page is cross-origin isolated (COOP / COEP), so the worker may use the threaded wasm build.
//   node scripts/demo.mjs [--port 8090] [--no-isolation]
import { createServer } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');

// URL prefix -> folder of the repository
const ROUTES = [['/demo/', 'scripts/demo/'], ['/dist/', 'dist/'], ['/models/', 'models/']];
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.map': 'application/json', '.onnx': 'application/octet-stream', '.gz': 'application/octet-stream',
  '.png': 'image/png', '.svg': 'image/svg+xml',
};

/** The file a request path names, or undefined (outside the routes, a folder, or missing). */
function resolve(pathname) {
  if (pathname === '/' || pathname === '/index.html') return join(root, 'scripts/demo/index.html');
  const path = normalize(pathname);
  for (const [prefix, dir] of ROUTES) {
    if (!path.startsWith(prefix)) continue;
    const file = join(root, dir, path.slice(prefix.length));
    if (!file.startsWith(join(root, dir)) || !existsSync(file) || !statSync(file).isFile()) return undefined;
    return file;
  }
  return undefined;
}

/** Start the server; port 0 picks a free one. Resolves to { server, url }. */
export async function startDemoServer({ port = 8090, host = '127.0.0.1', isolate = true } = {}) {
  const server = createServer((req, res) => {
    let pathname;
    try { pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname); } catch { res.writeHead(400).end(); return; }
    const file = req.method === 'GET' || req.method === 'HEAD' ? resolve(pathname) : undefined;
    if (!file) { res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${pathname}`); return; }
    const headers = { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' };
    if (isolate) Object.assign(headers, { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : readFileSync(file));
  });
  await new Promise((ok, fail) => { server.once('error', fail); server.listen(port, host, ok); });
  return { server, url: `http://${host}:${server.address().port}/` };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--port');
  const port = at >= 0 ? Number(args[at + 1]) : Number(process.env.PORT ?? 8090);
  if (!existsSync(join(root, 'dist', 'index.js'))) {
    console.error('edgegrad demo: dist/ is not built: run `npm run build` first');
    process.exit(1);
  }
  const { url } = await startDemoServer({ port, isolate: !args.includes('--no-isolation') }).catch((e) => {
    console.error(`edgegrad demo: cannot listen on 127.0.0.1:${port} (${e.code ?? e.message}); try --port 0`);
    process.exit(1);
  });
  console.log(`edgegrad demo: ${url}  (Ctrl+C to stop)`);
}
