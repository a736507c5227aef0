// The `edgegrad` command: info MODEL | predict MODEL INPUT [--json]. Errors are for people: what was
// wrong and where; exit code 1 for bad input, 2 for bad usage.
import * as eg from '../index.js';
import { readBytes } from '../io/read.js';

// the command runs in Node, Deno or Bun; typed here so the library needs no Node typings
declare const process: { argv: string[]; exitCode?: number };

const USAGE = `usage:
  edgegrad info MODEL [--json]            summary: nodes, parameters, FLOPs, planned memory
  edgegrad predict MODEL INPUT [--json]   run INPUT (.json nested array or .npy float32) through MODEL
MODEL is an .onnx file or a TensorFlow.js model.json (shards beside it).`;

class UsageError extends Error {}

/** A .npy file (NumPy format 1.0/2.0, little-endian float32 or float64, C order) as a tensor. */
export function parseNpy(bytes: Uint8Array, where: string): eg.Tensor {
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  if (magic !== '\x93NUMPY') throw new Error(`${where}: not a .npy file (bad magic at offset 0)`);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const hstart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(hstart, hstart + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (fortran) throw new Error(`${where}: Fortran-order arrays are not supported (header at offset ${hstart})`);
  if (descr !== '<f4' && descr !== '<f8') throw new Error(`${where}: dtype '${descr}' is not supported (float32 '<f4' or float64 '<f8')`);
  const n = shape.reduce((a, b) => a * b, 1), size = descr === '<f4' ? 4 : 8, off = hstart + hlen;
  if (bytes.length - off !== n * size) throw new Error(`${where}: header says ${JSON.stringify(shape)} (${n * size} bytes) but ${bytes.length - off} bytes follow at offset ${off}`);
  const copy = bytes.slice(off);
  const data = descr === '<f4' ? new Float32Array(copy.buffer) : Float32Array.from(new Float64Array(copy.buffer));
  return eg.tensor(data, shape);
}

async function loadInput(path: string): Promise<eg.Tensor> {
  const bytes = await readBytes(path, 'input');
  if (path.endsWith('.npy')) return parseNpy(bytes, path);
  if (path.endsWith('.json')) {
    let v: unknown;
    try { v = JSON.parse(new TextDecoder().decode(bytes)); } catch (e) { throw new Error(`${path}: not valid JSON (${(e as Error).message})`); }
    return eg.tensor(v as eg.NestedArray);
  }
  throw new Error(`${path}: unknown input format (use .json or .npy)`);
}

export async function main(argv: string[], out: (s: string) => void = (s) => console.log(s)): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  const [cmd, ...rest] = args;
  try {
    await eg.ready();
    if (cmd === 'info') {
      if (rest.length !== 1) throw new UsageError('info takes one MODEL');
      const m = await eg.loadModel(rest[0]);
      const summary = m.summary({ print: false });
      out(json ? JSON.stringify({ model: rest[0], name: m.name, format: m.info.format, inputShape: m.inputShape, nodes: m.nodeNames, summary }) : summary);
      return 0;
    }
    if (cmd === 'predict') {
      if (rest.length !== 2) throw new UsageError('predict takes MODEL and INPUT');
      const m = await eg.loadModel(rest[0]);
      let x = await loadInput(rest[1]);
      // one example without its batch dimension gets one
      if (x.rank === m.inputShape.length) x = x.reshape([1, ...x.shape]);
      const y = m.predict(x);
      const rows = y.arraySync() as number[][];
      const top = y.rank === 2 ? rows.map((r) => r.indexOf(Math.max(...r))) : undefined;
      out(json ? JSON.stringify({ shape: y.shape, output: rows, argmax: top }) : `output ${JSON.stringify(y.shape)}${top ? `, argmax per row: ${top.join(', ')}` : ''}\n${JSON.stringify(rows)}`);
      return 0;
    }
    throw new UsageError(cmd ? `unknown command '${cmd}'` : 'no command');
  } catch (e) {
    const msg = (e as Error).message.replace(/^edgegrad[.\w ()]*: /, '');
    console.error(e instanceof UsageError ? `edgegrad: ${msg}\n${USAGE}` : `edgegrad: ${msg}`);
    return e instanceof UsageError ? 2 : 1;
  }
}

// run when executed as the command (not when imported by tests)
const argv1 = typeof process !== 'undefined' ? process.argv[1] ?? '' : '';
if (/(^|[\\/])(edgegrad|cli\.js)$/.test(argv1) || /[\\/]cli[\\/]index\.(js|ts)$/.test(argv1)) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
