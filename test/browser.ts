// Headless Chromium for the tests that need a page: Debian's chromium (.ci/run installs it), a fresh
// profile, the flags this closed network needs (DESIGN.md), and the repository's files served on 127.0.0.1.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';
export const root = join(import.meta.dirname, '..');
/** Chromium is there, or CI (which must have it: a test then fails instead of skipping). */
export const browserTests = existsSync(CHROMIUM) || !!process.env.CI;

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json',
  '.onnx': 'application/octet-stream', '.gz': 'application/gzip', '.map': 'application/json',
};

/**
 * The files below `prefixes` of the repository over HTTP on 127.0.0.1 (nothing else), with `headers(req)`
 * added to every answer (a CSP, COOP / COEP).
 */
export async function serve(prefixes = ['/dist/', '/test/smoke/', '/test/fixtures/', '/models/'], headers: (req: IncomingMessage) => Record<string, string> = () => ({})): Promise<{ server: Server; port: number; url: (path: string) => string }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const file = join(root, path);
    if (!prefixes.some((p) => path.startsWith(p)) || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', ...headers(req) }).end(readFileSync(file));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  return { server, port, url: (p) => `http://127.0.0.1:${port}${p}` };
}

/** Headless Chromium with a fresh profile (removed by close()), plus `extra` flags. */
export async function launchChromium(extra: string[] = []) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is required (bash .ci/run installs it)`);
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'edgegrad-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', ...extra, '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { browser, profile, close: async () => { await browser.close(); rmSync(profile, { recursive: true, force: true }); } };
}
