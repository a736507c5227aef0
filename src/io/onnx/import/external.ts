// ONNX external data: initializers whose bytes live in files beside the model (location, offset, length).
import { num, type OnnxTensor } from '../proto.js';
import { fail } from './errors.js';

/** Where external-data files are read from: the location string in the model, and the bytes it needs of it. */
export type ExternalReader = (location: string, maxBytes: number) => Promise<Uint8Array>;

const ELEMENT_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 10: 2, 11: 8 };

/**
 * Fill rawData of initializers kept in external files (ONNX external data: location, offset, length,
 * relative to the model file). Each file is read once.
 */
export async function loadExternal(inits: OnnxTensor[], read: ExternalReader | undefined): Promise<void> {
  const files = new Map<string, Promise<Uint8Array>>();
  const ext = inits.filter((t) => t.dataLocation === 1).map((t) => {
    const kv = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
    const loc = kv.location;
    if (!loc) fail(`initializer '${t.name}' is external but names no location`);
    if (!read) fail(`initializer '${t.name}' lives in the external file '${loc}': load the model from its path or URL so the file can be found beside it`);
    // the bytes its dims need, unless it says how many it takes
    const need = (t.dims ?? []).reduce((a: number, d) => a * num(d), 1) * (ELEMENT_BYTES[t.dataType ?? 0] ?? 4);
    // decimal digits only: '1e1', ' 4' or '0x10' are not byte counts, whatever Number() makes of them
    const count = (v: string | undefined, def: number) => (v === undefined ? def : /^\d{1,15}$/.test(v) ? Number(v) : NaN);
    const offset = count(kv.offset, 0), length = count(kv.length, need);
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length))) fail(`initializer '${t.name}': external offset ${JSON.stringify(kv.offset)} / length ${JSON.stringify(kv.length)} are not byte counts`);
    return { t, loc, offset, length };
  });
  // each file is read once, up to the last byte any initializer takes from it: never beyond what the model declares
  const ends = new Map<string, number>();
  for (const e of ext) ends.set(e.loc, Math.max(ends.get(e.loc) ?? 0, e.offset + e.length));
  for (const { t, loc, offset, length } of ext) {
    if (!files.has(loc)) files.set(loc, read!(loc, ends.get(loc)!).catch((e) => fail(`external data file '${loc}' for initializer '${t.name}': ${(e as Error).message.replace(/^edgegrad[.\w]*: /, '')}`)));
    const data = await files.get(loc)!;
    if (!(offset >= 0 && length >= 0 && offset + length <= data.length)) fail(`initializer '${t.name}' wants bytes [${offset}, ${offset + length}) of '${loc}', which holds ${data.length}`);
    t.rawData = data.subarray(offset, offset + length);
  }
}
