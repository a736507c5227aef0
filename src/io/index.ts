// eg.loadModel: bytes, a path or a URL -> a runnable model. ONNX today; the format is recognized from
// the bytes, not the name.
import type { GraphModel } from '../graph/graph-model.js';
import { readBytes } from './read.js';

export async function loadModel(source: string | URL | Uint8Array | ArrayBuffer): Promise<GraphModel> {
  const bytes = source instanceof Uint8Array ? source : source instanceof ArrayBuffer ? new Uint8Array(source) : await readBytes(source, 'model');
  const name = typeof source === 'string' ? source.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '') : 'model';
  if (bytes.length === 0) throw new Error(`edgegrad.loadModel: '${typeof source === 'string' ? source : 'bytes'}' is empty`);
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
  if (head.startsWith('{')) {
    throw new Error('edgegrad.loadModel: this is JSON (a TensorFlow.js model.json?); edgegrad reads ONNX models so far');
  }
  const { importOnnx } = await import('./onnx.js');
  return importOnnx(bytes, name);
}

import { exportOnnx, type ExportSource } from './onnx-export.js';
import { writeFileAtomic } from './write.js';

/** The ONNX bytes of a model (opset 17), runnable by ONNX Runtime. */
export async function toOnnx(src: ExportSource): Promise<Uint8Array> {
  return exportOnnx(src);
}

/** Save as ONNX to a path (Node, Deno, Bun): written to a temporary file and renamed into place. */
export async function saveModel(src: ExportSource, target: string): Promise<void> {
  if (typeof target !== 'string' || !target) throw new Error(`edgegrad.save: target must be a file path, got ${String(target)}`);
  if (target.startsWith('indexeddb://')) throw new Error('edgegrad.save: indexeddb:// targets work in browsers only, and are not implemented yet');
  const bytes = await exportOnnx(src);
  await writeFileAtomic(target, bytes);
}
