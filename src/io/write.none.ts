// Stands in for write.ts in the classic-script build (dist/edgegrad.js): a page has no files to write
// (Node's file system is what write.ts uses); it saves to IndexedDB.
export async function writeFileAtomic(path: string, _bytes: Uint8Array): Promise<void> {
  throw new Error(`edgegrad.save: cannot write '${path}': the classic script (dist/edgegrad.js) runs in a page, which saves to 'indexeddb://<name>'; files are written by the ES module build in Node, Deno or Bun`);
}
