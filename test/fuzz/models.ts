// Model-file fuzzing: seeded mutants of real ONNX and TF.js models (truncation, byte flips, dims, dtypes,
// lengths, node wiring and cycles, attributes, op types, opsets, paths, huge repeated fields, malformed
// JSON fields). Each mutant must either load and then compute the same outputs whatever garbage the free
// memory holds (nothing reads uninitialized memory), or fail with an edgegrad error that names the file:
// never a bare TypeError / RangeError, a trap, a hang, or a read outside the model's folder.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import type { HeapBackend } from '../../src/backend/index.js';
import * as eg from '../../src/index.js';
import type { GraphModel } from '../../src/graph-model.js';

export type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

type Proto = ReturnType<typeof onnx.ModelProto.decode>;

/** One mutation of an ONNX file; returns the bytes and what was done (to reproduce a failure). */
export function mutateOnnx(src: Uint8Array, r: Rand): { what: string; bytes: Uint8Array } {
  const kind = int(r, 0, 13);
  // copies: a Node Buffer's slice() is a view, and the seed must stay intact
  if (kind === 0) { const n = int(r, 0, src.length - 1); return { what: `truncate at ${n}`, bytes: new Uint8Array(src.subarray(0, n)) }; }
  if (kind === 1) {
    const b = new Uint8Array(src);
    const flips: number[] = [];
    for (let k = int(r, 1, 8); k > 0; k--) { const i = int(r, 0, b.length - 1); b[i] ^= int(r, 1, 255); flips.push(i); }
    // flips in the header and graph structure matter more than in weight bytes: bias a few towards the start
    for (let k = int(r, 0, 3); k > 0; k--) { const i = int(r, 0, Math.min(b.length - 1, 4096)); b[i] ^= int(r, 1, 255); flips.push(i); }
    return { what: `flip bytes ${flips.join(',')}`, bytes: b };
  }
  const m: Proto = onnx.ModelProto.decode(src);
  const g = m.graph!;
  const nodes = g.node ?? [], inits = g.initializer ?? [];
  let what = '';
  const anyInit = () => inits[int(r, 0, inits.length - 1)];
  const anyNode = () => nodes[int(r, 0, nodes.length - 1)];
  switch (kind) {
    case 2: { const t = anyInit(); if (t?.dims?.length) { const k = int(r, 0, t.dims.length - 1); const v = pick(r, [0, -1, 2 ** 31 - 1, 2 ** 40, 3, Number(t.dims[k]) + 1]); t.dims[k] = v; what = `initializer '${t.name}' dim ${k} = ${v}`; } break; }
    case 3: { const t = anyInit(); if (t) { t.dataType = pick(r, [0, 2, 5, 9, 10, 11, 16, 99]); what = `initializer '${t.name}' dataType ${t.dataType}`; } break; }
    case 4: {
      const t = anyInit();
      if (t) {
        const len = t.rawData?.length ?? 0;
        const n = pick(r, [0, 1, 3, Math.floor(len / 2), len - 1, len + 4]);
        const raw = new Uint8Array(Math.max(0, n));
        raw.set((t.rawData ?? new Uint8Array()).subarray(0, raw.length));
        t.rawData = raw; t.floatData = [];
        what = `initializer '${t.name}' raw ${len} -> ${n} bytes`;
      }
      break;
    }
    case 5: {
      const n = anyNode();
      const names = [...nodes.flatMap((x) => x.output ?? []), ...inits.map((t) => t.name!), '', 'nope'];
      if (n?.input?.length) { const k = int(r, 0, n.input.length - 1); n.input[k] = pick(r, names); what = `node '${n.name}' input ${k} = '${n.input[k]}'`; }
      break;
    }
    case 6: {
      // a cycle: an early node reads a later node's output (or its own)
      const i = int(r, 0, nodes.length - 1), j = int(r, i, nodes.length - 1);
      if (nodes[i].input?.length && nodes[j].output?.length) { nodes[i].input![0] = nodes[j].output![0]; what = `cycle: node ${i} reads node ${j}'s output`; }
      break;
    }
    case 7: {
      const n = anyNode();
      const a = n?.attribute?.[int(r, 0, (n.attribute?.length ?? 1) - 1)];
      if (a) {
        const v = pick(r, [0, -1, 1e9, 2 ** 31 - 1, -(2 ** 31)]);
        if (a.ints?.length) a.ints = a.ints.map(() => v);
        a.i = v; a.f = pick(r, [NaN, Infinity, -1, 0, 1e30]);
        if (a.s?.length) a.s = new TextEncoder().encode(pick(r, ['bogus', '', 'SAME_UPPER', 'VALID']));
        what = `node '${n.name}' attribute '${a.name}' = ${v}`;
      }
      break;
    }
    case 8: { const n = anyNode(); if (n) { n.opType = pick(r, ['Conv', 'Relu', 'Gemm', 'MatMul', 'Reshape', 'Foo', 'Add', 'Concat', 'BatchNormalization', 'MaxPool', 'Flatten', 'Softmax', '']); what = `node '${n.name}' op ${n.opType}`; } break; }
    case 9: {
      const d = g.input?.[0]?.type?.tensorType?.shape?.dim;
      if (d?.length) { const k = int(r, 0, d.length - 1); const v = pick(r, [0, -5, 2 ** 31 - 1, 2 ** 40, 1]); d[k] = onnx.TensorShapeProto.Dimension.create({ dimValue: v }); what = `input dim ${k} = ${v}`; }
      break;
    }
    case 10: { const times = int(r, 2, 60); g.node = Array.from({ length: times }, () => nodes).flat(); what = `nodes repeated ${times}x`; break; }
    case 11: {
      const t = anyInit();
      if (t) {
        t.dataLocation = 1;
        const loc = pick(r, ['../../etc/passwd', 'http://127.0.0.1:9/w.bin', 'file:///etc/passwd', '/dev/zero', '%2e%2e/x', 'missing.bin', '']);
        t.externalData = [onnx.StringStringEntryProto.create({ key: 'location', value: loc }), onnx.StringStringEntryProto.create({ key: 'length', value: String(pick(r, [4, 1e12, -1])) })];
        what = `initializer '${t.name}' external at '${loc}'`;
      }
      break;
    }
    case 12: { const v = pick(r, [1, 7, 10, 99, -1, 0]); m.opsetImport = [onnx.OperatorSetIdProto.create({ domain: '', version: v })]; what = `opset ${v}`; break; }
    default: { if (inits.length) { const k = int(r, 0, inits.length - 1); what = `initializer '${inits[k].name}' removed`; inits.splice(k, 1); } break; }
  }
  return { what: what || `kind ${kind} (no-op)`, bytes: onnx.ModelProto.encode(m).finish() };
}

/** One mutation of a TF.js model.json (as an object) and its weight bytes. */
export function mutateTfjs(json: unknown, weights: Uint8Array, r: Rand): { what: string; json: unknown; weights: Uint8Array } {
  const j = structuredClone(json) as Record<string, unknown>;
  const kind = int(r, 0, 3);
  if (kind === 0) { const n = int(r, 0, weights.length); return { what: `weights truncated to ${n}`, json: j, weights: weights.slice(0, n) }; }
  if (kind === 1) { return { what: 'weights 8 bytes longer', json: j, weights: new Uint8Array([...weights, 1, 2, 3, 4, 5, 6, 7, 8]) }; }
  // a random field somewhere in the JSON: deleted, or replaced by a value of the wrong kind
  const spots: Array<{ obj: Record<string, unknown> | unknown[]; key: string | number; path: string }> = [];
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) v.forEach((x, i) => { spots.push({ obj: v, key: i, path: `${path}[${i}]` }); walk(x, `${path}[${i}]`); });
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { spots.push({ obj: v as Record<string, unknown>, key: k, path: `${path}.${k}` }); walk(x, `${path}.${k}`); }
  };
  walk(j, '');
  const s = pick(r, spots);
  const value = pick(r, [null, 'abc', -1, 0, 1e9, 2 ** 31, [], {}, true, [null, 'x'], undefined]);
  if (value === undefined && !Array.isArray(s.obj)) delete (s.obj as Record<string, unknown>)[s.key as string];
  else (s.obj as Record<string | number, unknown>)[s.key] = value;
  return { what: `${s.path} = ${JSON.stringify(value) ?? 'deleted'}`, json: j, weights };
}

/** Fill the free wasm memory with a byte: what a stale read would see. */
function poison(be: HeapBackend, byte: number): void {
  be.arena.fillFree(byte);
}

export type Outcome = 'loaded' | 'refused';

/**
 * Load a mutant from `path` (its file written there already). Throws, with the mutation, on a crash (a
 * non-edgegrad error, an error that does not name the file) or a model whose outputs depend on what the
 * free memory held.
 */
export async function tryModel(be: HeapBackend, path: string, what: string, load: () => Promise<GraphModel>): Promise<Outcome> {
  let m: GraphModel;
  try {
    m = await load();
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    if (!(e instanceof Error) || !/^edgegrad/.test(msg)) throw new Error(`crash on mutant (${what}): ${(e as Error)?.name}: ${msg}`);
    if (!msg.includes(path) && !msg.includes('tfjs-model')) throw new Error(`mutant (${what}): the error does not name the file: ${msg}`);
    return 'refused';
  }
  const per = m.inputShape.reduce((a, b) => a * b, 1);
  if (per > 1 << 20) return 'loaded'; // valid but too big to run here quickly
  const x = eg.randomUniform([2, ...m.inputShape], -1, 1, 7);
  const run = (byte: number): Float32Array | string => {
    poison(be, byte);
    m.dispose(); // plans go: the next predict plans anew on the poisoned memory
    try { return m.predict(x).dataSync() as Float32Array; } catch (e) {
      const msg = (e as Error)?.message ?? String(e);
      if (!/^edgegrad/.test(msg)) throw new Error(`crash in predict of mutant (${what}): ${(e as Error)?.name}: ${msg}`);
      return msg;
    }
  };
  const a = run(0x00), b = run(0x7f);
  if (typeof a === 'string' || typeof b === 'string') {
    if (a !== b) throw new Error(`mutant (${what}): predict failed once and not the other time: ${String(a)} / ${String(b)}`);
    return 'loaded';
  }
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) throw new Error(`mutant (${what}) computes on uninitialized memory: output ${i} is ${a[i]} or ${b[i]} depending on what the free memory held`);
  }
  m.dispose();
  return 'loaded';
}

export function writeMutant(dir: string, name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}
