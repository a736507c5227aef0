// The importer's one error: every message starts with 'edgegrad.loadModel: ' (loadModel adds the file name).

export function fail(msg: string): never {
  throw new Error(`edgegrad.loadModel: ${msg}`);
}
