// Reading bytes from where a model or dataset lives. Where a string without a scheme points depends on the
// runtime, never on the string: in Node, Deno, Bun and Electron's main process it is a path (read through
// node:fs, which all of them provide); in a page (an Electron renderer too) it is a URL relative to the page
// (document.baseURI), in a web worker relative to its script (self.location). http(s), data: and blob: URLs
// are fetched everywhere; file: URLs are read through node:fs where there is one, and in a page through
// XMLHttpRequest where the embedder allows it (fetch never reads them). Files a model names (weight shards,
// external data) are read only inside the model's own folder or URL prefix, and never beyond the bytes the
// model declares.

interface Stat { size: number; isFile(): boolean; isDirectory(): boolean }

interface Fs {
  realpath(p: string): Promise<string>;
  stat(p: string): Promise<Stat>;
  constants?: { O_RDONLY?: number; O_NONBLOCK?: number };
  open(p: string, flags: string | number): Promise<{ stat(): Promise<Stat>; read(b: Uint8Array, o: number, n: number, pos: number): Promise<{ bytesRead: number }>; close(): Promise<void> }>;
}

interface Xhr {
  open(method: string, url: string): void; send(): void; responseType: string; response: ArrayBuffer | null; status: number;
  onload: (() => void) | null; onerror: (() => void) | null;
}

interface Globals {
  document?: { baseURI?: string };
  location?: { href?: string };
  process?: { versions?: { node?: string }; type?: string };
  Deno?: { version?: unknown };
  XMLHttpRequest?: new () => Xhr;
}

const g = globalThis as Globals;

/** Whether this runtime reads files by path: Node, Bun, Deno, Electron (also a renderer with Node integration). */
export function hasFiles(): boolean {
  return !!(g.process?.versions?.node || g.Deno?.version);
}

/**
 * What a relative URL resolves against: a page's base URI, a web worker's script. None in Node, Deno, Bun
 * and Electron's main process (a DOM emulation there, such as jsdom, does not make strings URLs); an
 * Electron renderer or its worker is a page even with Node integration (process.type says which).
 */
export function pageBase(): string | undefined {
  const electronPage = g.process?.type === 'renderer' || g.process?.type === 'worker';
  if (hasFiles() && !electronPage) return undefined;
  if (typeof g.document?.baseURI === 'string') return g.document.baseURI;
  return typeof g.location?.href === 'string' ? g.location.href : undefined;
}

async function nodeFs(what: string, src: string | URL): Promise<Fs> {
  const spec = 'node:fs/promises'; // a variable, so the library needs no Node typings and bundlers leave it
  try {
    return (await import(spec)) as Fs;
  } catch {
    throw new Error(`edgegrad: cannot read ${what} '${String(src)}': this runtime has no file system (pass the bytes, or a URL)`);
  }
}

export const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * A string without a scheme (or a Windows drive path) is a path where files are read by path, a URL
 * relative to the page or worker elsewhere; a string with a scheme or a URL is that URL. undefined: a path.
 */
function asUrl(src: string | URL): URL | undefined {
  if (typeof src !== 'string') return new URL(String(src));
  if (SCHEME.test(src) && !/^[a-z]:[\\/]/i.test(src)) return new URL(src);
  const base = pageBase();
  return base === undefined ? undefined : new URL(src, base);
}

/**
 * A file: URL read from a page, where fetch refuses the scheme: XMLHttpRequest reads it where the embedder
 * allows it (Electron, a webview with file access from file URLs, Chromium's --allow-file-access-from-files).
 */
function readFileUrlInPage(url: URL, what: string, maxBytes: number, prefix = false): Promise<Uint8Array> {
  const refused = () => new Error(`edgegrad: cannot read ${what} '${url.href}': this page may not read file: URLs, or the file is missing (fetch never reads them; XMLHttpRequest did not either). Pass the bytes instead (an <input type="file">, drag and drop, or your app's file API), or serve the files over http(s) or your webview's own scheme`);
  const X = g.XMLHttpRequest;
  if (!X) return Promise.reject(refused());
  return new Promise((ok, fail) => {
    const r = new X();
    r.open('GET', url.href);
    r.responseType = 'arraybuffer';
    r.onload = () => {
      if ((r.status !== 0 && r.status !== 200) || !r.response) return fail(refused());
      if (r.response.byteLength > maxBytes && prefix) return ok(new Uint8Array(r.response, 0, maxBytes));
      if (r.response.byteLength > maxBytes) return fail(new Error(`edgegrad: ${what} '${url.href}' is ${r.response.byteLength} bytes, more than the ${maxBytes} the model declares`));
      ok(new Uint8Array(r.response));
    };
    r.onerror = () => fail(refused());
    try { r.send(); } catch { fail(refused()); }
  });
}

function ioError(what: string, src: string | URL, e: unknown): Error {
  const code = (e as { code?: string }).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a file'
    : code === 'ENOTDIR' ? 'a part of the path is not a folder' : (e as Error).message;
  return new Error(`edgegrad: cannot read ${what} '${String(src)}': ${why}`);
}

/** Whether `u` is on the origin of the folder URL `dir`, below it. */
function inside(u: URL, dir: URL): boolean {
  return u.origin === dir.origin && u.pathname.startsWith(dir.pathname);
}

/**
 * The bytes at a path or URL. Only regular files are read (a device or a FIFO is refused, never opened
 * for reading); with `maxBytes`, a larger file is refused before it is read. With `within`, an HTTP answer
 * that was redirected outside that folder URL is refused.
 */
export async function readBytes(src: string | URL, what = 'file', maxBytes?: number, within?: URL): Promise<Uint8Array> {
  const url = asUrl(src);
  if (!url || url.protocol === 'file:') {
    if (url && !hasFiles()) return readFileUrlInPage(url, what, maxBytes ?? Infinity);
    const fs = await nodeFs(what, src);
    let path: string;
    try {
      path = url ? decodeURIComponent(url.pathname) : (src as string);
    } catch {
      throw new Error(`edgegrad: cannot read ${what} '${String(src)}': malformed percent-encoding`);
    }
    return readBounded(fs, path, what, maxBytes ?? Infinity, false, String(src));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'data:' && url.protocol !== 'blob:') {
    throw new Error(`edgegrad: cannot read ${what} '${String(src)}': unsupported scheme '${url.protocol}'`);
  }
  const r = await fetch(url);
  if (!r.ok) throw new Error(`edgegrad: ${url} answered ${r.status} ${r.statusText}`);
  // a redirect must not carry a file a model names out of the model's URL prefix (`within`)
  if (within && r.url && !inside(new URL(r.url), within)) {
    await r.body?.cancel();
    throw new Error(`edgegrad: ${what} '${url}' was redirected to '${r.url}', outside the model's URL prefix '${within.href}'`);
  }
  if (maxBytes === undefined) return new Uint8Array(await r.arrayBuffer());
  const declared = Number(r.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) throw new Error(`edgegrad: ${what} '${url}' is ${declared} bytes, more than the ${maxBytes} the model declares`);
  // stream with a cap: a server that sends more than declared is cut off, not buffered
  const reader = r.body!.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > maxBytes) { await reader.cancel(); throw new Error(`edgegrad: ${what} '${url}' is more than the ${maxBytes} bytes the model declares`); }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/**
 * A regular file of at most maxBytes (with `prefix`, its first maxBytes, however long it is), read through
 * one handle, so what was checked is what is read.
 */
async function readBounded(fs: Fs, path: string, what: string, maxBytes: number, prefix = false, shown = path): Promise<Uint8Array> {
  // a FIFO or a device would block or never end: only regular files are read. Checked before opening (a
  // FIFO opened for reading waits for a writer) and again on the handle (in case the path changed between)
  const notAFile = (st: Stat) => new Error(`edgegrad: cannot read ${what} '${shown}': ${st.isDirectory() ? 'a folder, not a file' : 'not a regular file'}`);
  let st: Stat;
  try { st = await fs.stat(path); } catch (e) { throw ioError(what, shown, e); }
  if (!st.isFile()) throw notAFile(st);
  let h: Awaited<ReturnType<Fs['open']>>;
  const c = fs.constants;
  const flags = c?.O_NONBLOCK !== undefined && c.O_RDONLY !== undefined ? c.O_RDONLY | c.O_NONBLOCK : 'r';
  try { h = await fs.open(path, flags); } catch (e) { throw ioError(what, shown, e); }
  try {
    st = await h.stat();
    if (!st.isFile()) throw notAFile(st);
    if (st.size > maxBytes && !prefix) throw new Error(`edgegrad: ${what} '${shown}' is ${st.size} bytes, more than the ${maxBytes} the model declares`);
    const out = new Uint8Array(Math.min(st.size, maxBytes));
    let o = 0;
    while (o < out.length) {
      const { bytesRead } = await h.read(out, o, out.length - o, o);
      if (bytesRead === 0) break;
      o += bytesRead;
    }
    return o === out.length ? out : out.subarray(0, o);
  } finally {
    await h.close();
  }
}

/**
 * A file that a model names (a weight shard, an external-data file), read from beside the model. `entry`
 * must be a relative path without '..' segments, also after percent-decoding, and must not name a
 * scheme; on a file system it must resolve (symlinks included) inside the model's folder, at a URL below
 * the model's folder on the same origin. At most `maxBytes` are read (a longer file is refused, or with
 * `prefix` read only that far: external data shared by several models). Errors name the entry.
 */
export async function readBeside(model: string | URL, entry: string, what: string, maxBytes: number, prefix = false): Promise<Uint8Array> {
  const refuse = (why: string): never => { throw new Error(`edgegrad.loadModel: ${what} '${entry}' listed in '${String(model)}' ${why}`); };
  if (typeof entry !== 'string' || !entry) refuse('is not a file name');
  let decoded = entry;
  try { decoded = decodeURIComponent(entry); } catch { refuse('has malformed percent-encoding'); }
  for (const e of [entry, decoded]) {
    if (SCHEME.test(e)) refuse('names a scheme: only files beside the model are read');
    if (e.includes('\0')) refuse('contains a NUL byte');
    if (e.startsWith('/') || e.startsWith('\\') || /^[a-z]:/i.test(e)) refuse('is absolute: only files beside the model are read');
    if (e.split(/[\\/]/).includes('..')) refuse("leaves the model's folder ('..')");
  }
  const url = asUrl(model);
  if (url && url.protocol !== 'file:') {
    const dir = new URL('.', url);
    const target = new URL(entry, dir);
    if (!inside(target, dir)) refuse("resolves outside the model's URL prefix");
    return readBytes(target, what, maxBytes, dir);
  }
  if (url && !hasFiles()) return readFileUrlInPage(new URL(entry, url), what, maxBytes, prefix);
  const fs = await nodeFs(what, model);
  let modelPath: string;
  try { modelPath = url ? decodeURIComponent(url.pathname) : String(model); } catch { return refuse('cannot be resolved: the model path is malformed'); }
  const sep = modelPath.includes('\\') && !modelPath.includes('/') ? '\\' : '/';
  const dirPath = modelPath.includes(sep) ? modelPath.slice(0, modelPath.lastIndexOf(sep) + 1) : `.${sep}`;
  let realDir: string, realTarget: string;
  try { realDir = await fs.realpath(dirPath); } catch (e) { throw ioError('model folder', dirPath, e); }
  try {
    realTarget = await fs.realpath(dirPath + decoded);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') refuse(`is missing (no such file beside it)`);
    throw ioError(what, entry, e);
  }
  const realSep = realDir.includes('\\') && !realDir.includes('/') ? '\\' : '/';
  if (realTarget === realDir) refuse("is the model's folder, not a file");
  if (!realTarget.startsWith(realDir.endsWith(realSep) ? realDir : realDir + realSep)) refuse("resolves outside the model's folder (through a link)");
  return readBounded(fs, realTarget, what, maxBytes, prefix, entry);
}
