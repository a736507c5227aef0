// A protobuf decoder for ONNX's ModelProto, written against onnx.proto3 (the field numbers and types below),
// so that a page reading an ONNX file carries no protobuf library: a schema table and one loop. It gives
// what onnx-proto / protobufjs give (their field names in camelCase, the same defaults: 0, '', empty bytes for
// unset scalars, null for unset messages and oneof members, [] for repeated fields), with int64 values as
// numbers (exact below 2^53, as protobufjs gives them without the long library), bytes as views into the
// file (no copy), and an error naming the byte offset on a malformed file. test/onnx-decode.test.ts checks
// it against onnx-proto on every ONNX file the tests have. The exporter still encodes with onnx-proto.
import type { OnnxModel } from './proto.js';

type Kind = 'string' | 'bytes' | 'int32' | 'int64' | 'uint64' | 'float' | 'double' | 'bool' | Msg;
/** [field number, name, kind, repeated, in a oneof (unset: null)] */
type Field = readonly [number, string, Kind, boolean?, boolean?];
interface Msg { name: string; fields: Field[]; byNo?: Map<number, Field> }

const msg = (name: string): Msg => ({ name, fields: [] });
const Model = msg('ModelProto'), Graph = msg('GraphProto'), Node = msg('NodeProto'), Attribute = msg('AttributeProto');
const Tensor = msg('TensorProto'), Segment = msg('Segment'), Sparse = msg('SparseTensorProto'), ValueInfo = msg('ValueInfoProto');
const Type = msg('TypeProto'), TensorType = msg('TypeProto.Tensor'), SequenceType = msg('TypeProto.Sequence'), MapType = msg('TypeProto.Map');
const OptionalType = msg('TypeProto.Optional'), SparseType = msg('TypeProto.SparseTensor'), Shape = msg('TensorShapeProto');
const Dim = msg('TensorShapeProto.Dimension'), OpsetId = msg('OperatorSetIdProto'), Entry = msg('StringStringEntryProto');
const Func = msg('FunctionProto'), Annotation = msg('TensorAnnotation'), Training = msg('TrainingInfoProto');

Model.fields = [[1, 'irVersion', 'int64'], [8, 'opsetImport', OpsetId, true], [2, 'producerName', 'string'], [3, 'producerVersion', 'string'],
  [4, 'domain', 'string'], [5, 'modelVersion', 'int64'], [6, 'docString', 'string'], [7, 'graph', Graph], [14, 'metadataProps', Entry, true],
  [20, 'trainingInfo', Training, true], [25, 'functions', Func, true]];
OpsetId.fields = [[1, 'domain', 'string'], [2, 'version', 'int64']];
Entry.fields = [[1, 'key', 'string'], [2, 'value', 'string']];
Graph.fields = [[1, 'node', Node, true], [2, 'name', 'string'], [5, 'initializer', Tensor, true], [15, 'sparseInitializer', Sparse, true],
  [10, 'docString', 'string'], [11, 'input', ValueInfo, true], [12, 'output', ValueInfo, true], [13, 'valueInfo', ValueInfo, true],
  [14, 'quantizationAnnotation', Annotation, true]];
Node.fields = [[1, 'input', 'string', true], [2, 'output', 'string', true], [3, 'name', 'string'], [4, 'opType', 'string'], [7, 'domain', 'string'],
  [5, 'attribute', Attribute, true], [6, 'docString', 'string']];
Attribute.fields = [[1, 'name', 'string'], [21, 'refAttrName', 'string'], [13, 'docString', 'string'], [20, 'type', 'int32'], [2, 'f', 'float'],
  [3, 'i', 'int64'], [4, 's', 'bytes'], [5, 't', Tensor], [6, 'g', Graph], [22, 'sparseTensor', Sparse], [14, 'tp', Type], [7, 'floats', 'float', true],
  [8, 'ints', 'int64', true], [9, 'strings', 'bytes', true], [10, 'tensors', Tensor, true], [11, 'graphs', Graph, true],
  [23, 'sparseTensors', Sparse, true], [15, 'typeProtos', Type, true]];
Tensor.fields = [[1, 'dims', 'int64', true], [2, 'dataType', 'int32'], [3, 'segment', Segment], [4, 'floatData', 'float', true],
  [5, 'int32Data', 'int32', true], [6, 'stringData', 'bytes', true], [7, 'int64Data', 'int64', true], [8, 'name', 'string'], [12, 'docString', 'string'],
  [9, 'rawData', 'bytes'], [13, 'externalData', Entry, true], [14, 'dataLocation', 'int32'], [10, 'doubleData', 'double', true], [11, 'uint64Data', 'uint64', true]];
Segment.fields = [[1, 'begin', 'int64'], [2, 'end', 'int64']];
Sparse.fields = [[1, 'values', Tensor], [2, 'indices', Tensor], [3, 'dims', 'int64', true]];
ValueInfo.fields = [[1, 'name', 'string'], [2, 'type', Type], [3, 'docString', 'string']];
Type.fields = [[1, 'tensorType', TensorType, false, true], [4, 'sequenceType', SequenceType, false, true], [5, 'mapType', MapType, false, true],
  [9, 'optionalType', OptionalType, false, true], [8, 'sparseTensorType', SparseType, false, true], [6, 'denotation', 'string']];
TensorType.fields = [[1, 'elemType', 'int32'], [2, 'shape', Shape]];
SequenceType.fields = [[1, 'elemType', Type]];
MapType.fields = [[1, 'keyType', 'int32'], [2, 'valueType', Type]];
OptionalType.fields = [[1, 'elemType', Type]];
SparseType.fields = [[1, 'elemType', 'int32'], [2, 'shape', Shape]];
Shape.fields = [[1, 'dim', Dim, true]];
Dim.fields = [[1, 'dimValue', 'int64', false, true], [2, 'dimParam', 'string', false, true], [3, 'denotation', 'string']];
Func.fields = [[1, 'name', 'string'], [4, 'input', 'string', true], [5, 'output', 'string', true], [6, 'attribute', 'string', true],
  [11, 'attributeProto', Attribute, true], [7, 'node', Node, true], [8, 'docString', 'string'], [9, 'opsetImport', OpsetId, true], [10, 'domain', 'string']];
Annotation.fields = [[1, 'tensorName', 'string'], [2, 'quantParameterTensorNames', Entry, true]];
Training.fields = [[1, 'initialization', Graph], [2, 'algorithm', Graph], [3, 'initializationBinding', Entry, true], [4, 'updateBinding', Entry, true]];

/** The schema's messages (for the test that checks this decoder against onnx-proto). */
export const SCHEMA = { Model, Graph, Node, Attribute, Tensor, ValueInfo, Type, Dim } as const;
export type { Msg as SchemaMessage };

const utf8 = new TextDecoder('utf-8');

class Reader {
  pos = 0;
  private readonly view: DataView;
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(what: string, at = this.pos): never {
    throw new Error(`invalid protobuf at byte ${at}: ${what}`);
  }

  /** A varint as its low and high 32 bits. */
  varint64(end: number): [number, number] {
    let lo = 0, hi = 0;
    const at = this.pos;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= end) this.fail('index out of range (a varint runs past its message)', at);
      const b = this.buf[this.pos++];
      if (shift < 28) lo |= (b & 127) << shift;
      else if (shift === 28) { lo |= (b & 127) << 28; hi |= (b & 127) >>> 4; } else hi |= (b & 127) << (shift - 32);
      if (b < 128) return [lo >>> 0, hi >>> 0];
    }
    return this.fail('invalid varint (more than 10 bytes)', at);
  }

  /** A varint's low 32 bits, unsigned (lengths, tags: protobufjs keeps the low 32 bits too). */
  uint32(end: number): number {
    return this.varint64(end)[0];
  }

  /** An int64 as a number: exact below 2^53; negative from the two's complement (protobufjs's LongBits.toNumber). */
  int64(end: number, unsigned = false): number {
    let [lo, hi] = this.varint64(end);
    if (!unsigned && hi >>> 31) {
      lo = (~lo + 1) >>> 0;
      hi = ~hi >>> 0;
      if (!lo) hi = (hi + 1) >>> 0;
      return -(lo + hi * 4294967296);
    }
    return lo + hi * 4294967296;
  }

  bytes(end: number): Uint8Array {
    const n = this.uint32(end), at = this.pos;
    if (at + n > end) this.fail(`index out of range (a field of ${n} bytes runs past its message, which ends at byte ${end})`, at);
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }

  fixed(size: 4 | 8, end: number): number {
    if (this.pos + size > end) this.fail('index out of range (a fixed-size value runs past its message)');
    const v = size === 4 ? this.view.getFloat32(this.pos, true) : this.view.getFloat64(this.pos, true);
    this.pos += size;
    return v;
  }

  /** Skip a field of this wire type (fields newer than the schema, or unknown to it). */
  skip(wire: number, end: number): void {
    switch (wire) {
      case 0: this.varint64(end); return;
      case 1: this.fixed(8, end); return;
      case 2: this.bytes(end); return;
      case 5: this.fixed(4, end); return;
      case 3: for (;;) { const tag = this.uint32(end); if ((tag & 7) === 4) return; this.skip(tag & 7, end); }
      default: this.fail(`invalid wire type ${wire}`);
    }
  }
}

function fieldsOf(m: Msg): Map<number, Field> {
  return m.byNo ??= new Map(m.fields.map((f) => [f[0], f]));
}

/** The default of an unset field, as protobufjs's generated classes give it. */
function unset(f: Field): unknown {
  const [, , kind, repeated, oneof] = f;
  if (repeated) return [];
  if (oneof || typeof kind === 'object') return null;
  return kind === 'string' ? '' : kind === 'bytes' ? new Uint8Array(0) : kind === 'bool' ? false : 0;
}

const WIRE: Record<string, number> = { string: 2, bytes: 2, int32: 0, int64: 0, uint64: 0, bool: 0, float: 5, double: 1 };

function scalar(r: Reader, kind: Exclude<Kind, Msg>, end: number): unknown {
  switch (kind) {
    case 'string': return utf8.decode(r.bytes(end));
    case 'bytes': return r.bytes(end);
    case 'int32': return r.varint64(end)[0] | 0;
    case 'int64': return r.int64(end);
    case 'uint64': return r.int64(end, true);
    case 'bool': return r.varint64(end)[0] !== 0;
    case 'float': return r.fixed(4, end);
    case 'double': return r.fixed(8, end);
  }
}

/** Depth of nested messages allowed (a graph in an attribute in a graph ...): a hostile file cannot recurse the stack away. */
const MAX_DEPTH = 64;

function read(r: Reader, m: Msg, end: number, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) r.fail(`messages nested more than ${MAX_DEPTH} deep`);
  const out: Record<string, unknown> = {};
  for (const f of m.fields) out[f[1]] = unset(f);
  const fields = fieldsOf(m);
  while (r.pos < end) {
    const at = r.pos, tag = r.uint32(end), no = tag >>> 3, wire = tag & 7;
    if (no === 0) r.fail('invalid tag (field number 0)', at);
    const f = fields.get(no);
    if (!f) { r.skip(wire, end); continue; }
    const [, name, kind, repeated] = f;
    if (typeof kind === 'object') {
      if (wire !== 2) r.fail(`${m.name}.${name}: wire type ${wire} where a message (2) belongs`, at);
      const n = r.uint32(end), start = r.pos;
      if (start + n > end) r.fail(`index out of range (${m.name}.${name} of ${n} bytes runs past its message, which ends at byte ${end})`, start);
      const v = read(r, kind, start + n, depth + 1);
      if (repeated) (out[name] as unknown[]).push(v); else out[name] = v;
      continue;
    }
    if (repeated && wire === 2 && WIRE[kind] !== 2) {
      // packed: a run of values in one length-delimited field
      const n = r.uint32(end), stop = r.pos + n;
      if (stop > end) r.fail(`index out of range (packed ${m.name}.${name} of ${n} bytes runs past its message)`);
      const list = out[name] as unknown[];
      while (r.pos < stop) list.push(scalar(r, kind, stop));
      continue;
    }
    if (wire !== WIRE[kind]) r.fail(`${m.name}.${name}: wire type ${wire} where ${kind} (${WIRE[kind]}) belongs`, at);
    const v = scalar(r, kind, end);
    if (repeated) (out[name] as unknown[]).push(v); else out[name] = v;
  }
  if (r.pos !== end) r.fail(`index out of range (a field runs past the end of ${m.name} at byte ${end})`);
  return out;
}

/** ModelProto from the bytes of an .onnx file (a view: bytes fields point into `bytes`). */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  const r = new Reader(bytes);
  return read(r, Model, bytes.length, 0) as unknown as OnnxModel;
}

/** Any schema message from bytes (tests). */
export function decodeMessage(m: Msg, bytes: Uint8Array): Record<string, unknown> {
  return read(new Reader(bytes), m, bytes.length, 0);
}
