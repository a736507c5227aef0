// Reading bytes from where a model or dataset lives: a path or file: URL (Node, Deno and Bun, through
// node:fs, which all three provide) or an http(s) URL (fetch, everywhere).
export async function readBytes(src: string | URL, what = 'file'): Promise<Uint8Array> {
  const url = typeof src === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(src) ? undefined : new URL(String(src));
  if (!url || url.protocol === 'file:') {
    const spec = 'node:fs/promises'; // typed here so the library needs no Node typings
    const fs = (await import(spec)) as { readFile(p: string | URL): Promise<Uint8Array> };
    try {
      return new Uint8Array(await fs.readFile(url ?? (src as string)));
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new Error(`edgegrad: cannot read ${what} '${String(src)}'${code === 'ENOENT' ? ': no such file' : `: ${(e as Error).message}`}`);
    }
  }
  const r = await fetch(url);
  if (!r.ok) throw new Error(`edgegrad: ${url} answered ${r.status} ${r.statusText}`);
  return new Uint8Array(await r.arrayBuffer());
}
