// The importer's own protobuf decoder (src/io/onnx/decode.ts) against onnx-proto / protobufjs, the decoder it
// replaced: every ONNX file the tests have (ONNX's node tests, the fixtures, the shipped models) decodes to the
// same messages, field by field of the schema (int64 values as numbers, unset fields as protobufjs gives them);
// damaged files give an error naming a byte offset, or (where protobufjs reads them too) the same messages.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { SCHEMA, decodeModel, type SchemaMessage } from '../src/io/onnx/decode.js';
import { rng } from './helpers.js';

const { onnx } = onnxProto as unknown as { onnx: { ModelProto: { decode(b: Uint8Array): unknown } } };
const NODE_TESTS = '/usr/share/libonnx-testdata/data/node';
const root = join(import.meta.dirname, '..');

function onnxFiles(dir: string, depth = 3): string[] {
  if (!existsSync(dir) || depth < 0) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? onnxFiles(p, depth - 1) : f.endsWith('.onnx') ? [p] : [];
  });
}

const num = (v: unknown): unknown => (v !== null && typeof v === 'object' && 'toNumber' in (v as object) ? (v as { toNumber(): number }).toNumber() : v);
const same = (x: unknown, y: unknown) => Object.is(x, y) || (typeof x === 'number' && typeof y === 'number' && x === y);

/** The first difference between our message and protobufjs's, field by field of the schema ('' when none). */
function diff(m: SchemaMessage, ours: Record<string, unknown> | null, theirs: Record<string, unknown> | null, path: string): string {
  if (ours === null || theirs === null || theirs === undefined) return (ours === null) === (theirs === null || theirs === undefined) ? '' : `${path}: ${ours === null ? 'unset' : 'set'} here, ${theirs === null ? 'unset' : 'set'} in onnx-proto`;
  for (const [, name, kind, repeated] of m.fields) {
    const a = ours[name], b = theirs[name], at = `${path}.${name}`;
    const one = (x: unknown, y: unknown, p: string): string => {
      if (typeof kind === 'object') return diff(kind, x as Record<string, unknown> | null, y as Record<string, unknown> | null, p);
      if (kind === 'bytes') {
        const u = x as Uint8Array, v = (y ?? new Uint8Array(0)) as Uint8Array;
        return u.length === v.length && u.every((c, i) => c === v[i]) ? '' : `${p}: ${u.length} bytes here, ${v.length} in onnx-proto`;
      }
      const yv = kind === 'int64' || kind === 'uint64' ? num(y) : y;
      return same(x, yv) || (Number.isNaN(x) && Number.isNaN(yv)) ? '' : `${p}: ${String(x)} here, ${String(yv)} in onnx-proto`;
    };
    if (repeated) {
      const u = a as unknown[], v = (b ?? []) as unknown[];
      if (u.length !== v.length) return `${at}: ${u.length} entries here, ${v.length} in onnx-proto`;
      for (let i = 0; i < u.length; i++) { const d = one(u[i], v[i], `${at}[${i}]`); if (d) return d; }
    } else {
      const d = one(a, b, at);
      if (d) return d;
    }
  }
  return '';
}

describe('the ONNX decoder (src/io/onnx/decode.ts)', () => {
  it('decodes every ONNX file of the tests as onnx-proto does', () => {
    const files = [...onnxFiles(join(root, 'test', 'fixtures')), ...onnxFiles(join(root, 'models')), ...onnxFiles(NODE_TESTS, 1)];
    expect(files.length).toBeGreaterThan(process.env.CI || existsSync(NODE_TESTS) ? 900 : 5);
    const bad: string[] = [];
    for (const f of files) {
      const bytes = new Uint8Array(readFileSync(f));
      const d = diff(SCHEMA.Model, decodeModel(bytes) as unknown as Record<string, unknown>, onnx.ModelProto.decode(bytes) as Record<string, unknown>, 'model');
      if (d) bad.push(`${f}: ${d}`);
    }
    expect(bad).toEqual([]);
  });

  it('a damaged file: an error that names a byte offset, or the messages protobufjs reads from it too', () => {
    const good = new Uint8Array(readFileSync(join(root, 'models', 'digits-cnn.onnx')));
    const r = rng(7);
    let refused = 0, read = 0;
    for (let k = 0; k < 300; k++) {
      const bytes = k < 100 ? good.subarray(0, Math.floor(r() * good.length)) : Uint8Array.from(good);
      if (k >= 100) for (let j = 0; j < 1 + (k % 4); j++) bytes[Math.floor(r() * Math.min(bytes.length, 4000))] = Math.floor(r() * 256);
      let ours: unknown, err: Error | undefined;
      try { ours = decodeModel(bytes); } catch (e) { err = e as Error; }
      if (err) {
        expect(err.message).toMatch(/^invalid protobuf at byte \d+: /);
        refused++;
        continue;
      }
      let theirs: unknown;
      try { theirs = onnx.ModelProto.decode(bytes); } catch { /* stricter or laxer: protobufjs ignores wire types */ }
      // (invalid UTF-8 in a string: TextDecoder's replacement characters differ from protobufjs's own decoder's)
      const d = theirs ? diff(SCHEMA.Model, ours as Record<string, unknown>, theirs as Record<string, unknown>, 'model') : '';
      if (!d.includes('\ufffd')) expect(d).toBe('');
      read++;
    }
    expect(refused).toBeGreaterThan(50);
    expect(read).toBeGreaterThan(0);
    // graphs nested in attributes without end: refused before the stack is
    let deep = new Uint8Array(0);
    for (let i = 0; i < 200; i++) {
      // AttributeProto.g (field 6) holding a GraphProto whose node (field 1) holds an attribute (field 5) ...
      const wrap = (field: number, inner: Uint8Array) => Uint8Array.from([(field << 3) | 2, ...varint(inner.length), ...inner]);
      deep = wrap(1, wrap(5, wrap(6, deep)));
    }
    expect(() => decodeModel(Uint8Array.from([(7 << 3) | 2, ...varint(deep.length), ...deep]))).toThrow(/invalid protobuf at byte \d+: messages nested more than 64 deep/);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) { out.push((n & 127) | 128); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}
