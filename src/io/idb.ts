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
