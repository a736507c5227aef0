// Writing model files safely: the bytes go to a temporary file beside the target, which is then renamed
// over it, so a crash or a full disk leaves either the old file or the new one, never a broken one.
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const spec = 'node:fs/promises'; // Node, Deno and Bun; typed here so the library needs no Node typings
  const fs = (await import(spec)) as {
    writeFile(p: string, d: Uint8Array): Promise<void>;
    rename(a: string, b: string): Promise<void>;
    rm(p: string, o: { force: boolean }): Promise<void>;
  };
  const tmp = `${path}.tmp-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    const code = (e as { code?: string }).code;
    throw new Error(`edgegrad.save: cannot write '${path}'${code ? ` (${code})` : ''}: ${(e as Error).message}; any earlier file there is unchanged`);
  }
}
