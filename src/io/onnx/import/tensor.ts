// TensorProto -> numbers, and the weight tensors converters make of them (filters from OIHW to HWIO).
import { Tensor, formatShape, keepHostCopy } from '../../../tensor.js';
import { bfloat16ToFloat, halfToFloat } from '../../half.js';
import { num, FLOAT, UINT8, INT8, INT32, INT64, FLOAT16, DOUBLE, BFLOAT16, type OnnxTensor } from '../proto.js';
import { fail } from './errors.js';

// ONNX's TensorProto.DataType numbers of the small integer types (read like uint8 / int8)
const UINT16 = 4, INT16 = 5, BOOL = 9, UINT32 = 12, UINT64 = 13;

/** 1 GiB of float32: a declared dimension beyond this is refused before allocating */
export const MAX_ELEMENTS = 1 << 28;

/** Numbers of a TensorProto (float data as Float32Array; integers exactly as doubles). */
export function tensorData(t: OnnxTensor, where: string): { data: Float32Array; dims: number[]; int: boolean } {
  const dims = (t.dims ?? []).map((d) => num(d));
  const n = dims.reduce((a, b) => a * b, 1);
  if (dims.some((d) => d < 0) || n > MAX_ELEMENTS) fail(`${where} declares dims ${formatShape(dims)} (${n} elements), more than edgegrad accepts (${MAX_ELEMENTS})`);
  const type = t.dataType ?? 0;
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  const out = new Float32Array(n);
  const check = (have: number) => {
    if (have !== n) fail(`${where} declares ${formatShape(dims)} = ${n} elements but holds ${Number.isInteger(have) ? have : `${raw!.length} bytes, not a whole number of elements`}`);
  };
  if (type === FLOAT) {
    if (raw) { check(raw.length / 4); out.set(new Float32Array(copyBytes(raw))); } else { check(t.floatData?.length ?? 0); out.set(t.floatData!); }
    return { data: out, dims, int: false };
  }
  if (type === FLOAT16 || type === BFLOAT16) {
    // raw little-endian 16-bit values, or (ONNX's packing) one per int32Data entry
    if (raw) check(raw.length / 2);
    const bits = raw ? new Uint16Array(copyBytes(raw)) : Uint16Array.from(t.int32Data ?? []);
    if (!raw) check(bits.length);
    const widen = type === FLOAT16 ? halfToFloat : bfloat16ToFloat;
    for (let i = 0; i < n; i++) out[i] = widen(bits[i]);
    return { data: out, dims, int: false };
  }
  if (type === DOUBLE) {
    if (raw) { check(raw.length / 8); out.set(new Float64Array(copyBytes(raw))); } else { check(t.doubleData?.length ?? 0); out.set(t.doubleData!); }
    return { data: out, dims, int: false };
  }
  if (type === UINT8 || type === INT8 || type === BOOL || type === UINT16 || type === INT16) {
    // raw little-endian values, or (ONNX's packing) one value per int32Data entry
    const bytes = raw ? copyBytes(raw) : undefined;
    const src = !bytes ? Int32Array.from(t.int32Data ?? [])
      : type === INT8 ? new Int8Array(bytes) : type === UINT16 ? new Uint16Array(bytes.slice(0, bytes.byteLength & ~1)) : type === INT16 ? new Int16Array(bytes.slice(0, bytes.byteLength & ~1)) : new Uint8Array(bytes);
    if (raw && (type === UINT16 || type === INT16) && raw.length % 2) check(raw.length / 2);
    check(src.length);
    out.set(src);
    return { data: out, dims, int: true };
  }
  if (type === INT64 || type === INT32) {
    const vals: number[] = [];
    if (raw) {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const size = type === INT64 ? 8 : 4;
      check(raw.length / size);
      for (let i = 0; i < n; i++) vals.push(type === INT64 ? Number(dv.getBigInt64(i * 8, true)) : dv.getInt32(i * 4, true));
    } else {
      const src = type === INT64 ? (t.int64Data ?? []).map((v) => num(v)) : t.int32Data ?? [];
      check(src.length);
      vals.push(...src);
    }
    out.set(vals);
    return { data: out, dims, int: true };
  }
  if (type === UINT32 || type === UINT64) {
    // raw little-endian values, or (ONNX's packing) one value per uint64Data entry
    const vals: number[] = [];
    if (raw) {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      check(raw.length / (type === UINT64 ? 8 : 4));
      for (let i = 0; i < n; i++) vals.push(type === UINT64 ? Number(dv.getBigUint64(i * 8, true)) : dv.getUint32(i * 4, true));
    } else {
      const src = ((t as { uint64Data?: Array<Parameters<typeof num>[0]> }).uint64Data ?? []).map((v) => num(v));
      check(src.length);
      vals.push(...src);
    }
    out.set(vals);
    return { data: out, dims, int: true };
  }
  return fail(`${where} has data type ${type}, which edgegrad does not read (float, float16, bfloat16, double, bool, int8, uint8, int16, uint16, int32, int64, uint32, uint64)`);
}

/** The bytes in a fresh, aligned buffer (a Node Buffer's slice() is a view into a shared pool). */
function copyBytes(b: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out.buffer;
}

/** OIHW (ONNX conv filters) -> HWIO (edgegrad's), on the CPU. */
export function oihwToHwioData(d: ArrayLike<number>, [O, I, H, W]: number[]): Float32Array {
  const v = new Float32Array(O * I * H * W);
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    v[((y * W + x) * I + i) * O + o] = d[((o * I + i) * H + y) * W + x];
  }
  return v;
}

/** OIHW (ONNX conv filters) -> an HWIO weight tensor on the active backend. */
export function oihwToHwio(d: Float32Array, shape: number[]): Tensor {
  const [O, I, H, W] = shape;
  return tensorFrom(oihwToHwioData(d, shape), [H, W, I, O]);
}

/** A weight tensor of exactly this shape: fewer or more values than it needs are an error, never garbage. */
export function tensorFrom(data: Float32Array, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) fail(`a weight has ${data.length} values where ${formatShape(shape)} needs ${n}`);
  const t = Tensor.empty(shape);
  t.write(data);
  // a weight on a GPU keeps its host copy: the passes after conversion read it, and it outlives a lost device
  keepHostCopy(t, data);
  return t;
}
