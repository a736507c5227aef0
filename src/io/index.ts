// eg.loadModel: bytes, a path or a URL -> a runnable model. ONNX today; the format is recognized from
// the bytes, not the name.
import type { GraphModel } from '../graph-model.js';
import { backendReady } from '../backend/index.js';
import { hasFiles, readBeside, readBytes } from './read.js';
import { idbLoad, idbSave } from './idb.js';
export { idbList, idbRemove } from './idb.js';
import type { TfjsModelJson } from './tfjs.js';
// the TF.js importer and the ONNX exporter are chunks of their own: a page that runs an ONNX model loads neither
const tfjs = () => import('./tfjs.js');

/** A TensorFlow.js layers model in memory: the model.json object and its weight shards' bytes, in order. */
export interface TfjsModelSource { modelJson: TfjsModelJson | string; weights: Uint8Array | Uint8Array[] }

/** Options of eg.loadModel. */
export interface LoadOptions {
  /**
   * ONNX only: graph inputs bound to values at load, as if the file stored them as initializers (ONNX
   * Runtime's addInitializer): a shape, axes or weights fed as an input become constants, and the model's
   * inputs are the others.
   */
  constants?: Record<string, import('../tensor.js').Tensor>;
  /**
   * ONNX only: sizes for named (symbolic) input dimensions beside the batch, as ONNX Runtime's
   * freeDimensionOverrides ({ seq: 128 }: every input dimension the file names 'seq' is 128).
   */
  freeDimensionOverrides?: Record<string, number>;
  /**
   * NaN and infinite inputs: 'refuse' (default: predict names the input and example) or 'allow', for a
   * model that handles them as IEEE arithmetic and ONNX Runtime do (IsNaN, casts, masks of missing values).
   */
  nonFinite?: 'refuse' | 'allow';
  /**
   * 'float16': the weights of dense layers, convolutions and matrix products kept as float16 in the backend's
   * memory (a GPU's too: half the bytes), each widened to float32 right before its layer (computation stays
   * float32; values rounded to half once). Those weights do not train; saved, they are FLOAT16 initializers.
   * summary() says how many and the bytes. Default 'float32'.
   */
  weights?: 'float32' | 'float16';
  /**
   * With weights: 'float16' on a WebGPU device with 'shader-f16': 'float16' runs inference's dense layers,
   * convolutions and matrix products from those halves in f16 (f16 products, float32 sums; bias, activations
   * and every other op float32). Refused at load where it cannot run (another backend, no shader-f16):
   * summary() names the nodes. Default 'float32'.
   */
  compute?: 'float32' | 'float16';
}

export async function loadModel(source: string | URL | Uint8Array | ArrayBuffer | TfjsModelSource, options: LoadOptions = {}): Promise<GraphModel> {
  await backendReady();
  const nf = options.nonFinite;
  if (nf !== undefined && nf !== 'refuse' && nf !== 'allow') throw new Error(`edgegrad.loadModel: options.nonFinite must be 'refuse' or 'allow', got ${JSON.stringify(nf)}`);
  const w = options.weights;
  if (w !== undefined && w !== 'float32' && w !== 'float16') throw new Error(`edgegrad.loadModel: options.weights must be 'float32' or 'float16', got ${JSON.stringify(w)}`);
  const c = options.compute ?? 'float32';
  if (c !== 'float32' && (c !== 'float16' || w !== 'float16')) throw new Error(`edgegrad.loadModel: options.compute must be 'float32' or 'float16' (with weights: 'float16'), got ${JSON.stringify(c)}${c === 'float16' ? ` with weights: ${JSON.stringify(w ?? 'float32')}` : ''}`);
  const model = await loadAny(source, options);
  model.nonFinite = nf ?? 'refuse';
  if (w === 'float16') model.halfStorage = await (await import('../graph/half.js')).storeHalf(model.graph, c);
  // an int8 model (a QDQ file): its plan-time pass loads with it
  if (model.graph.nodes.some((n) => n.attrs.q !== undefined)) await import('../quantize/u8-links.js');
  return model;
}

async function loadAny(source: string | URL | Uint8Array | ArrayBuffer | TfjsModelSource, options: LoadOptions): Promise<GraphModel> {
  const onlyOnnx = () => {
    for (const k of ['constants', 'freeDimensionOverrides'] as const) if (options[k] && Object.keys(options[k]!).length) throw new Error(`edgegrad.loadModel: options.${k} applies to ONNX models; this is a TensorFlow.js model`);
  };
  if (typeof source === 'object' && !(source instanceof Uint8Array) && !(source instanceof ArrayBuffer) && !(source instanceof URL)) {
    return withFile('tfjs-model', () => {
      onlyOnnx();
      const json = typeof source.modelJson === 'string' ? JSON.parse(source.modelJson) as TfjsModelJson : source.modelJson;
      const shards = Array.isArray(source.weights) ? source.weights : [source.weights];
      if (shards.some((s) => !(s instanceof Uint8Array))) throw new Error('edgegrad.loadModel: weights must be a Uint8Array or a list of them');
      return tfjs().then((t) => t.importTfjs(json, concat(shards), 'tfjs-model'));
    });
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
    // shards are read from beside model.json only, each bounded by the bytes its group declares
    return withFile(String(source), async () => {
      onlyOnnx();
      const { importTfjs, manifestGroupBytes } = await tfjs();
      const groups = manifestGroupBytes(json, String(source));
      const shards: Uint8Array[] = [];
      for (const { paths, bytes: declared } of groups) {
        let got = 0;
        for (const p of paths) {
          const b = await readBeside(source as string | URL, p, 'weight shard', declared - got);
          got += b.length;
          shards.push(b);
        }
      }
      return importTfjs(json, concat(shards), name);
    });
  }
  const { importOnnx } = await import('./onnx.js');
  // external-data files are read beside the model when it came from a path or URL, and nowhere else
  const from = typeof source === 'string' || source instanceof URL ? source : undefined;
  const file = from === undefined ? 'bytes' : String(from);
  return withFile(file, () => importOnnx(bytes, name, from === undefined ? undefined : (loc: string, maxBytes: number) => readBeside(from, loc, 'external data file', maxBytes, true), options));
}

/**
 * Import errors name the file. Errors that are not edgegrad's own (a malformed field that slipped past the
 * checks) become one that says where, instead of a bare TypeError.
 */
async function withFile<T>(file: string, f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (/^edgegrad/.test(msg)) throw new Error(msg.includes(`'${file}'`) ? msg : msg.replace(/^(edgegrad[.\w]*(?: \([^)]*\))?): /, `$1: '${file}': `));
    throw new Error(`edgegrad.loadModel: '${file}': malformed model (${(e as Error).name}: ${msg})`);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

import type { ExportSource } from './onnx-export.js';

/** The ONNX bytes of a model (opset 17), runnable by ONNX Runtime. */
export async function toOnnx(src: ExportSource): Promise<Uint8Array> {
  return (await import('./onnx-export.js')).exportOnnx(src);
}

/**
 * Save as ONNX: a path (Node, Deno, Bun; written to a temporary file renamed into place) or
 * 'indexeddb://name' in a browser (one transaction).
 */
export async function saveModel(src: ExportSource, target: string): Promise<void> {
  if (typeof target !== 'string' || !target) throw new Error(`edgegrad.save: target must be a file path, got ${String(target)}`);
  if (!target.startsWith('indexeddb://') && !hasFiles()) {
    throw new Error(`edgegrad.save: cannot write '${target}': this runtime has no file system (a page or a browser worker); save to 'indexeddb://name', or take the bytes with eg.toOnnx(model) (a download, your app's file API)`);
  }
  const bytes = await toOnnx(src);
  if (target.startsWith('indexeddb://')) await idbSave(target.slice('indexeddb://'.length), bytes);
  else await (await import('./write.js')).writeFileAtomic(target, bytes);
}
