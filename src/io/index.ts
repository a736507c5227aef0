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
