// Models in a browser's IndexedDB: 'indexeddb://name' keys a record in the database 'edgegrad', store
// 'models'. A put is one transaction, so a failed save leaves the earlier record as it was.
const DB = 'edgegrad', STORE = 'models';

function open(): Promise<IDBDatabase> {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) return Promise.reject(new Error('edgegrad: indexeddb:// needs a runtime with IndexedDB (a browser)'));
  return new Promise((resolve, reject) => {
    const req = idb.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new Error(`edgegrad: cannot open IndexedDB '${DB}': ${req.error?.message}`));
  });
}

export async function idbSave(name: string, bytes: Uint8Array): Promise<void> {
  const db = await open();
  try {
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      tx.objectStore(STORE).put({ bytes, savedAt: Date.now() }, name);
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(new Error(`edgegrad.save: IndexedDB refused 'indexeddb://${name}' (${tx.error?.message}); any earlier model there is unchanged`));
    });
  } finally {
    db.close();
  }
}

export async function idbLoad(name: string): Promise<Uint8Array> {
  const db = await open();
  try {
    const rec = await new Promise<{ bytes: Uint8Array } | undefined>((resolve, reject) => {
      const req = db.transaction(STORE, 'readonly').objectStore(STORE).get(name);
      req.onsuccess = () => resolve(req.result as { bytes: Uint8Array } | undefined);
      req.onerror = () => reject(new Error(`edgegrad.loadModel: reading 'indexeddb://${name}' failed: ${req.error?.message}`));
    });
    if (!rec) throw new Error(`edgegrad.loadModel: no model saved as 'indexeddb://${name}'`);
    return rec.bytes;
  } finally {
    db.close();
  }
}

/** The saved models: name, size in bytes and when saved (ms since the epoch), by name. Never creates the database. */
export async function idbList(): Promise<Array<{ name: string; bytes: number; savedAt: number }>> {
  const idb = (globalThis as { indexedDB?: IDBFactory & { databases?: () => Promise<Array<{ name?: string }>> } }).indexedDB;
  if (!idb) throw new Error('edgegrad.listModels: indexeddb:// needs a runtime with IndexedDB (a browser)');
  if (idb.databases && !(await idb.databases()).some((d) => d.name === DB)) return [];
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const out: Array<{ name: string; bytes: number; savedAt: number }> = [];
      const req = db.transaction(STORE, 'readonly').objectStore(STORE).openCursor();
      req.onsuccess = () => {
        const c = req.result;
        if (!c) { resolve(out.sort((a, b) => (a.name < b.name ? -1 : 1))); return; }
        const v = c.value as { bytes?: Uint8Array; savedAt?: number };
        out.push({ name: String(c.key), bytes: v.bytes?.byteLength ?? 0, savedAt: v.savedAt ?? 0 });
        c.continue();
      };
      req.onerror = () => reject(new Error(`edgegrad.listModels: reading IndexedDB '${DB}' failed: ${req.error?.message}`));
    });
  } finally {
    db.close();
  }
}

/** Delete a saved model; false if there was none by that name. */
export async function idbRemove(name: string): Promise<boolean> {
  const db = await open();
  try {
    return await new Promise<boolean>((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite'), store = tx.objectStore(STORE);
      let had = false;
      const get = store.getKey(name);
      get.onsuccess = () => { had = get.result !== undefined; if (had) store.delete(name); };
      tx.oncomplete = () => resolve(had);
      tx.onerror = tx.onabort = () => reject(new Error(`edgegrad.removeModel: IndexedDB refused to delete 'indexeddb://${name}' (${tx.error?.message})`));
    });
  } finally {
    db.close();
  }
}
