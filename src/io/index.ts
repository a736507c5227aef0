// eg.loadModel: bytes, a path or a URL -> a runnable model. ONNX today; the format is recognized from
// the bytes, not the name.
import type { GraphModel } from '../graph/graph-model.js';
import { readBytes } from './read.js';
import { idbLoad, idbSave } from './idb.js';
import { importTfjs, type TfjsModelJson } from './tfjs.js';

/** A TensorFlow.js layers model in memory: the model.json object and its weight shards' bytes, in order. */
export interface TfjsModelSource { modelJson: TfjsModelJson | string; weights: Uint8Array | Uint8Array[] }

export async function loadModel(source: string | URL | Uint8Array | ArrayBuffer | TfjsModelSource): Promise<GraphModel> {
  if (typeof source === 'object' && !(source instanceof Uint8Array) && !(source instanceof ArrayBuffer) && !(source instanceof URL)) {
    const json = typeof source.modelJson === 'string' ? JSON.parse(source.modelJson) as TfjsModelJson : source.modelJson;
    const shards = Array.isArray(source.weights) ? source.weights : [source.weights];
    return importTfjs(json, concat(shards), 'tfjs-model');
  }
  const idb = typeof source === 'string' && source.startsWith('indexeddb://') ? source.slice('indexeddb://'.length) : undefined;
  const bytes = idb !== undefined ? await idbLoad(idb)
    : source instanceof Uint8Array ? source : source instanceof ArrayBuffer ? new Uint8Array(source) : await readBytes(source as string | URL, 'model');
  const name = typeof source === 'string' ? source.replace(/^indexeddb:\/\//, '').replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '') : 'model';
  if (bytes.length === 0) throw new Error(`edgegrad.loadModel: '${typeof source === 'string' ? source : 'bytes'}' is empty`);
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
  if (head.startsWith('{')) {
    if (typeof source !== 'string' && !(source instanceof URL)) {
      throw new Error('edgegrad.loadModel: these bytes are JSON (a TensorFlow.js model.json?): pass its path or URL, or { modelJson, weights }');
    }
    let json: TfjsModelJson;
    try { json = JSON.parse(new TextDecoder().decode(bytes)); } catch (e) { throw new Error(`edgegrad.loadModel: '${String(source)}' is not valid JSON (${(e as Error).message})`); }
    const base = String(source).replace(/[^\\/]*$/, '');
    const paths = (json.weightsManifest ?? []).flatMap((gr) => gr.paths);
    const shards = await Promise.all(paths.map(async (p) => {
      try {
        return await readBytes(base + p, 'weight shard');
      } catch (e) {
        throw new Error(`edgegrad.loadModel: weight shard '${p}' listed in '${String(source)}' is missing (${(e as Error).message})`);
      }
    }));
    return importTfjs(json, concat(shards), name);
  }
  const { importOnnx } = await import('./onnx.js');
  // external-data files are read beside the model when it came from a path or URL
  const base = typeof source === 'string' || source instanceof URL ? String(source).replace(/[^\\/]*$/, '') : undefined;
  return importOnnx(bytes, name, base === undefined ? undefined : (loc) => readBytes(base + loc, 'external data file'));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

import { exportOnnx, type ExportSource } from './onnx-export.js';
import { writeFileAtomic } from './write.js';

/** The ONNX bytes of a model (opset 17), runnable by ONNX Runtime. */
export async function toOnnx(src: ExportSource): Promise<Uint8Array> {
  return exportOnnx(src);
}

/**
 * Save as ONNX: a path (Node, Deno, Bun; written to a temporary file renamed into place) or
 * 'indexeddb://name' in a browser (one transaction).
 */
export async function saveModel(src: ExportSource, target: string): Promise<void> {
  if (typeof target !== 'string' || !target) throw new Error(`edgegrad.save: target must be a file path, got ${String(target)}`);
  const bytes = await exportOnnx(src);
  if (target.startsWith('indexeddb://')) await idbSave(target.slice('indexeddb://'.length), bytes);
  else await writeFileAtomic(target, bytes);
}
