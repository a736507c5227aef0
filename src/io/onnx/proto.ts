// The ONNX protobuf messages as edgegrad reads and writes them (decoded by onnx-proto / protobufjs), and the
// TensorProto data type codes: shared by the importer (import/) and the exporter (export/).

export type Long = number | { toNumber(): number };
export interface OnnxTensor { name?: string; dims?: Long[]; dataType?: number; rawData?: Uint8Array; floatData?: number[]; int64Data?: Long[]; int32Data?: number[]; doubleData?: number[]; dataLocation?: number; externalData?: Array<{ key?: string; value?: string }> }
export interface OnnxAttr { name: string; type?: number; f?: number; i?: Long; s?: Uint8Array; t?: OnnxTensor; ints?: Long[]; floats?: number[]; strings?: Uint8Array[] }
export interface OnnxNode { input: string[]; output: string[]; name?: string; opType: string; attribute: OnnxAttr[] }
export interface OnnxValueInfo { name: string; type?: { tensorType?: { elemType?: number; shape?: { dim: Array<{ dimValue?: Long; dimParam?: string }> } } } }
export interface OnnxGraph { node: OnnxNode[]; initializer: OnnxTensor[]; input: OnnxValueInfo[]; output: OnnxValueInfo[]; name?: string }
export interface OnnxModel {
  irVersion?: Long; producerName?: string; opsetImport: Array<{ domain?: string; version?: Long }>;
  graph?: OnnxGraph;
}

/** TensorProto.DataType codes edgegrad reads or writes */
export const FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, FLOAT16 = 10, DOUBLE = 11, BFLOAT16 = 16;

/** A protobuf int64 (a number, or a Long object past 2^53) as a number; d when absent. */
export const num = (v: Long | undefined, d = 0): number => (v === undefined || v === null ? d : typeof v === 'number' ? v : v.toNumber());

interface ModelProto {
  decode(b: Uint8Array): OnnxModel;
  create(o: unknown): unknown;
  encode(m: unknown): { finish(): Uint8Array };
}

/** onnx-proto's message classes, loaded on first use (its CommonJS build exports them as onnx or default.onnx). */
export async function protoRoot(): Promise<{ ModelProto: ModelProto }> {
  const m = (await import('onnx-proto')) as unknown as { onnx?: unknown; default?: { onnx?: unknown } };
  return (m.onnx ?? m.default?.onnx) as { ModelProto: ModelProto };
}
