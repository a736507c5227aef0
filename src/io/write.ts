// Writing model files safely: the bytes go to a temporary file beside the target, flushed to the disk
// (fsync), then renamed over it, and the folder is flushed too: a crash, a kill or a full disk leaves either
// the old file or the new one, never a broken one. A temporary file left by a killed save (its process
// gone) is removed by the next save to the same path.

interface Handle { write(d: Uint8Array, o: number, n: number): Promise<{ bytesWritten: number }>; sync(): Promise<void>; close(): Promise<void> }
interface Fs {
  open(p: string, flags: string): Promise<Handle>;
  rename(a: string, b: string): Promise<void>;
  rm(p: string, o: { force: boolean }): Promise<void>;
  readdir(p: string): Promise<string[]>;
}

interface Proc { pid?: number; kill?(pid: number, sig: number): void }

function splitPath(path: string): { dir: string; base: string } {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i < 0 ? { dir: '.', base: path } : { dir: path.slice(0, i) || '/', base: path.slice(i + 1) };
}

/** Whether a process of this id is running (unknown: assume it is, and leave its file alone). */
function alive(pid: number): boolean {
  const proc = (globalThis as { process?: Proc }).process;
  if (!proc?.kill) return true;
  try { proc.kill(pid, 0); return true; } catch (e) { return (e as { code?: string }).code === 'EPERM'; }
}

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const spec = 'node:fs/promises'; // Node, Deno and Bun; a variable so the library needs no Node typings
  const fs = (await import(spec)) as Fs;
  const pid = (globalThis as { process?: Proc }).process?.pid ?? 0;
  const { dir, base } = splitPath(path);
  const tmp = `${path}.tmp-${pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  // temporary files of earlier saves to this path whose process is gone (killed mid-save)
  try {
    for (const f of await fs.readdir(dir)) {
      const m = f.startsWith(`${base}.tmp-`) ? /^(\d+)-/.exec(f.slice(base.length + 5)) : null;
      if (m && Number(m[1]) !== pid && !alive(Number(m[1]))) await fs.rm(`${dir}/${f}`, { force: true });
    }
  } catch { /* an unreadable folder fails below, with the write */ }
  try {
    const h = await fs.open(tmp, 'w');
    try {
      let o = 0;
      while (o < bytes.length) o += (await h.write(bytes, o, bytes.length - o)).bytesWritten;
      await h.sync();
    } finally {
      await h.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    const code = (e as { code?: string }).code;
    throw new Error(`edgegrad.save: cannot write '${path}'${code ? ` (${code})` : ''}: ${(e as Error).message}; any earlier file there is unchanged`);
  }
  // the rename itself is durable once the folder is flushed (not every platform can open a folder)
  try { const d = await fs.open(dir, 'r'); try { await d.sync(); } finally { await d.close(); } } catch { /* best effort */ }
}
