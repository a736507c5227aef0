// ONNX import: ModelProto bytes -> GraphModel. Parse, check the opset and the inputs, build the
// converter context, convert each node with its op's converter (table.ts), then the int8 and fusion passes.
import { Graph } from '../../../graph/ir.js';
import { GraphModel } from '../../../graph-model.js';
import { fuseActivations } from '../../../graph/passes.js';
import '../../../ops/index.js';
import { castRound } from '../../../ops/cast.js';
import { decodeModel } from '../decode.js';
import { num, BFLOAT16, DOUBLE, FLOAT, FLOAT16, type OnnxGraph, type OnnxModel, type OnnxNode, type OnnxValueInfo } from '../proto.js';
import { ImportContext, type Val } from './context.js';
import { Tensor, formatShape, hostCopyOf, tensor } from '../../../tensor.js';
import { fail } from './errors.js';
import { loadExternal, type ExternalReader } from './external.js';
import { int8FromQdq } from './int8.js';
import { quantizedIntegers } from './quant.js';
import { convertNode, READS_QUANTIZED } from './table.js';
import { MAX_ELEMENTS } from './tensor.js';
import { readClassNames } from '../export/metadata.js';

export type { ExternalReader };

/** Options of an ONNX import (eg.loadModel's second argument). */
export interface ImportOptions {
  /**
   * Graph inputs bound to values at load, as if the file stored them as initializers (ONNX Runtime's
   * SessionOptions.addInitializer): a parameter fed as an input (a shape, axes, a scale, a filter) becomes a
   * constant, so the ops that need it constant can read it, and the model's remaining inputs are the others.
   */
  constants?: Record<string, Tensor>;
  /**
   * Sizes for named (symbolic) input dimensions, as ONNX Runtime's freeDimensionOverrides: { seq: 128 }
   * fixes every input dimension the file calls 'seq' (a sequence length, an image size), so a model whose
   * inputs have symbolic dimensions besides the batch loads with those sizes.
   */
  freeDimensionOverrides?: Record<string, number>;
}

export async function importOnnx(bytes: Uint8Array, name = 'onnx-model', readExternal?: ExternalReader, opts: ImportOptions = {}): Promise<GraphModel> {
  const { m, og, opset } = await parse(bytes);
  await loadExternal(og.initializer, readExternal);
  overrideDimensions(og, opts.freeDimensionOverrides ?? {});
  const bound = bindConstants(og, opts.constants ?? {});
  const build = (batched: boolean) => {
    const cx = new ImportContext(new Graph(), opset, READS_QUANTIZED);
    for (const init of og.initializer) cx.initializer(init, true);
    for (const c of bound) { cx.vals.set(c.name, c.val); cx.constantType(c.name, c.elem); }
    return buildModel(cx, m, og, name, batched);
  };
  // inputs declared in full whose first dimensions differ ([1, 4, 1, 6] and [3, 4, 5, 6], broadcast) cannot
  // share a batch: whole tensors from the start
  const names = bound.map((c) => c.name);
  // a graph with no inputs (everything constant): nothing has a batch; predict([]) returns its outputs
  if (freeInputs(og, names).length === 0) return build(false);
  if (fixedShapes(og, names) && new Set(freeInputs(og, names).map((i) => num(i.type?.tensorType?.shape?.dim?.[0]?.dimValue, -1))).size > 1) return build(false);
  try {
    return build(true);
  } catch (e) {
    // The first axis of every input is a free batch, as exporters mean it even where they write a fixed 1. A
    // graph that computes across that axis (reduces, concatenates or splits it, broadcasts a rank-1 input
    // against it, takes a scalar input) cannot have one: where every input's shape is declared in full, it
    // loads again as ONNX states it, each input one whole tensor of its declared shape (no batch axis).
    if (!(e instanceof Error) || !fixedShapes(og, bound.map((c) => c.name))) throw e;
    try {
      return build(false);
    } catch (e2) {
      throw /batch/.test(e.message) ? e2 : e;
    }
  }
}

/** The graph inputs that are neither initializers nor bound at load. */
function freeInputs(og: OnnxGraph, bound: string[]) {
  const inits = new Set([...og.initializer.map((t) => t.name), ...bound]);
  return og.input.filter((i) => !inits.has(i.name));
}

/** Whether every input of the graph declares all its dimensions (a whole tensor can stand in for it). */
function fixedShapes(og: OnnxGraph, bound: string[]): boolean {
  return freeInputs(og, bound).every((i) => i.type?.tensorType?.shape?.dim?.every((d) => dimSize(d) >= 0) ?? false);
}

/** A declared dimension's size (0 included: an empty axis), or -1 where it is symbolic or not given. */
function dimSize(d: { dimValue?: unknown }): number {
  return Object.prototype.hasOwnProperty.call(d, 'dimValue') ? num(d.dimValue as Parameters<typeof num>[0], -1) : -1;
}

/** Named input dimensions given sizes (ImportOptions.freeDimensionOverrides), in the decoded graph itself. */
function overrideDimensions(og: OnnxGraph, sizes: Record<string, number>): void {
  const named = new Set(og.input.flatMap((i) => (i.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam).filter((p): p is string => !!p)));
  for (const [nm, size] of Object.entries(sizes)) {
    if (!named.has(nm)) fail(`freeDimensionOverrides: no input has a dimension named '${nm}' (named dimensions: ${[...named].map((p) => `'${p}'`).join(', ') || 'none'})`);
    if (!(Number.isInteger(size) && size >= 1)) fail(`freeDimensionOverrides: '${nm}' must be a positive integer, got ${size}`);
  }
  for (const i of og.input) for (const d of i.type?.tensorType?.shape?.dim ?? []) if (d.dimParam && sizes[d.dimParam] !== undefined) d.dimValue = sizes[d.dimParam] as unknown as typeof d.dimValue;
}

/** The inputs bound at load (ImportOptions.constants) as constant values, each checked against its declaration. */
function bindConstants(og: OnnxGraph, constants: Record<string, Tensor>): Array<{ name: string; val: Val; elem: number }> {
  const inits = new Set(og.initializer.map((t) => t.name));
  const free = og.input.filter((i) => !inits.has(i.name));
  return Object.entries(constants).map(([nm, t]) => {
    const info = free.find((i) => i.name === nm);
    if (!info) fail(`constants: the graph has no input '${nm}' (inputs: ${free.map((i) => `'${i.name}'`).join(', ') || 'none'})`);
    if (!(t instanceof Tensor)) fail(`constants: '${nm}' must be a Tensor (eg.tensor(data, shape))`);
    const tt = info.type?.tensorType, elem = tt?.elemType ?? FLOAT, integer = INTEGER_TYPES.has(elem);
    if (!FLOAT_TYPES.has(elem) && !integer) fail(`constants: input '${nm}' is ${TYPE_NAMES[elem] ?? `of ONNX type ${elem}`}: edgegrad binds float and integer inputs`);
    const dims = (tt?.shape?.dim ?? []).map((d) => num(d.dimValue, -1));
    if (tt?.shape && (dims.length !== t.rank || dims.some((d, a) => d >= 1 && d !== t.shape[a]))) fail(`constants: input '${nm}' is declared [${dims.map((d) => (d < 1 ? '?' : d)).join(', ')}], got ${formatShape(t.shape)}`);
    const data = Float32Array.from(t.dataSync());
    // a float16 / bfloat16 input holds its type's values, as at predict
    if (elem === FLOAT16 || elem === BFLOAT16) castRound(data, data, elem === FLOAT16 ? 'float16' : 'bfloat16');
    if (integer && data.some((v) => !Number.isInteger(v))) fail(`constants: input '${nm}' is ${TYPE_NAMES[elem]}, and the values bound to it are not all integers`);
    return { name: nm, val: { shape: t.shape.slice(), konst: { data, int: integer } }, elem };
  });
}

/** The model, its inputs with a batch axis (batched) or as whole tensors of their declared shapes. */
function buildModel(cx: ImportContext, m: OnnxModel, og: OnnxGraph, name: string, batched: boolean): GraphModel {
  const inputs = graphInputs(cx, og, batched);
  const outTypes = og.output.map((o) => elemTypeOf(o, 'output'));
  for (const n of og.node) convertNode(cx, n);

  const g = cx.g;
  const outputs = og.output.map((o, j) => {
    if (!cx.vals.has(o.name)) fail(`the model output '${o.name}' is not computed by the graph`);
    let v = cx.materialize(o.name);
    // a quantized tensor as an output: its integers (returned as int32, below)
    if (v.quant) v = quantizedIntegers(cx, o.name, v);
    if (v.id === undefined) {
      // a constant output (a Shape of whole tensors, say) is returned as it is; with a batch it might hold the
      // batch's size, unknown at load
      if (batched) fail(`the model output '${o.name}' is a constant (it does not depend on the input${inputs.length > 1 ? 's' : ''}): with a batch dimension edgegrad cannot return it`);
      const k = v.konst!, shape = v.shape.length ? v.shape : [1];
      const t = k.int ? tensor(Int32Array.from(k.data), shape, 'int32') : tensor(k.data, shape);
      const id = g.node('reshape', [g.param(`${o.name}/constant`, t, false)], { shape: v.shape.slice() }, o.name)[0];
      return { name: o.name, id: roundedTo(g, outTypes[j], id, o.name), nchw: false };
    }
    // integers held in float (Val.itype, masks) where the file declares an integer or bool output: int32 at the boundary
    const asInt = INTEGER_TYPES.has(o.type?.tensorType?.elemType ?? FLOAT) && g.values[v.id].dtype !== 'int32';
    return { name: o.name, id: roundedTo(g, outTypes[j], v.id, o.name), nchw: !!v.nhwc, ...(asInt ? { asInt } : {}) };
  });
  if (outputs.length === 0) fail('the graph declares no output');
  g.outputs = outputs.map((o) => o.id);
  const report = int8FromQdq(g, (id) => hostCopyOf(g.values[id].tensor) as Float32Array | undefined);
  fuseActivations(g);
  const [first] = inputs;
  const per = (i: (typeof inputs)[number]) => i.dims.filter((_, a) => a !== i.batchAxis);
  const model = new GraphModel(g, og.name || name, first ? per(first) : [], !!first?.nchw, outputs[0].nchw, { format: 'ONNX', opset: cx.opset, producer: m.producerName ?? '' },
    { inputs: inputs.map((i) => ({ name: i.name, shape: per(i), nchw: i.nchw, dtype: i.dtype, onnxType: i.onnxType, ...(i.batchAxis ? { batchAxis: i.batchAxis } : {}), ...(i.asFloat ? { asFloat: true } : {}), ...declared(i.onnxType, i.dtype) })), outputs: outputs.map((o, k) => ({ name: o.name, nchw: o.nchw, ...(o.asInt ? { asInt: true } : {}), ...declared(outTypes[k], o.asInt || g.values[o.id].dtype === 'int32' ? 'int32' : 'float32') })) });
  if (report) model.quantization = report;
  // a file that stores its weights as float16 saves that way again
  if (og.initializer.some((t) => t.dataType === FLOAT16)) model.storage = 'float16';
  // the class names edgegrad stores in metadata_props (finetune, model.classNames)
  const classNames = readClassNames((m as OnnxModel & { metadataProps?: Array<{ key?: string; value?: string }> }).metadataProps);
  if (classNames) model.classNames = classNames;
  return model;
}

/** The decoded model, its graph and its opset (1-21), or an error that says why not. */
async function parse(bytes: Uint8Array): Promise<{ m: OnnxModel; og: OnnxGraph; opset: number }> {
  let m: OnnxModel;
  try {
    m = decodeModel(bytes);
  } catch (e) {
    return fail(`not a valid ONNX file (${(e as Error).message})`);
  }
  const og = m.graph;
  if (!og || !og.node?.length) fail(`no graph in the file (${bytes.length} bytes): not an ONNX model`);
  const opsetEntry = m.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = num(opsetEntry?.version);
  // opsets before 11 are read through upgrade.ts (each old op form rewritten to its current one)
  if (!(opset >= 1 && opset <= 21)) fail(`ONNX opset ${opset} is not supported (opsets 1-21)`);
  return { m, og: og!, opset };
}

/** ONNX's integer and boolean element types: read as int32 indices */
const INTEGER_TYPES = new Set([2, 3, 4, 5, 6, 7, 9, 12, 13]);
const TYPE_NAMES: Record<number, string> = { 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'a string', 9: 'bool', 10: 'float16', 11: 'float64 (double)', 12: 'uint32', 13: 'uint64', 16: 'bfloat16' };
/** ONNX's float types: float32 inside and at predict (float16 and bfloat16 values rounded to their type) */
const FLOAT_TYPES = new Set([FLOAT, FLOAT16, DOUBLE, BFLOAT16]);

/**
 * The element type of a graph input or output: a tensor of numbers (float32, float16, bfloat16, float64, an
 * integer type or bool), or an error that names it and says what it is instead.
 */
function elemTypeOf(v: OnnxValueInfo, what: 'input' | 'output'): number {
  const t = v.type as (OnnxValueInfo['type'] & { sequenceType?: unknown; optionalType?: unknown; mapType?: unknown; sparseTensorType?: unknown }) | undefined;
  if (t && !t.tensorType) {
    const kind = t.sequenceType ? 'a sequence' : t.optionalType ? 'an optional' : t.mapType ? 'a map' : t.sparseTensorType ? 'a sparse tensor' : 'not a tensor';
    fail(`${what} '${v.name}' is ${kind}: edgegrad's ${what}s are tensors (sequence, optional, map and sparse types are out of its scope)`);
  }
  const elem = t?.tensorType?.elemType ?? FLOAT;
  if (elem === 8) fail(`${what} '${v.name}' is a string tensor: edgegrad computes numbers (string tensors are out of its scope)`);
  if (!FLOAT_TYPES.has(elem) && !INTEGER_TYPES.has(elem)) fail(`${what} '${v.name}' is ${TYPE_NAMES[elem] ?? `of ONNX type ${elem}`}: edgegrad's ${what}s are float32, float16, bfloat16, float64 (double) or integers`);
  return elem;
}

/** The model's value `id`, rounded to float16 or bfloat16 where the file declares that type (ops/cast.ts). */
function roundedTo(g: Graph, elem: number, id: number, name: string): number {
  const to = elem === FLOAT16 ? 'float16' : elem === BFLOAT16 ? 'bfloat16' : undefined;
  if (!to) return id;
  // a Cast to that type computed it already
  if (g.nodes.some((n) => n.op === 'cast' && n.attrs.to === to && n.outputs.includes(id))) return id;
  return g.node('cast', [id], { to }, `${name}/${to}`)[0];
}

/**
 * The float type the file declares for an input or output where predict's is float32 (float16, bfloat16,
 * float64); integer types are listed as predict's int32, as before.
 */
function declared(elem: number, dtype: 'float32' | 'int32'): { declared?: string } {
  const nm = elem === DOUBLE ? 'float64' : elem === FLOAT16 || elem === BFLOAT16 ? TYPE_NAMES[elem] : undefined;
  return nm && dtype === 'float32' ? { declared: nm } : {};
}

/**
 * The model's inputs (the graph inputs that are not initializers), each with a free batch dimension first. A
 * rank-4 input is NCHW, unless its only use is a Transpose to NCHW: then it is NHWC (models exported from
 * NHWC frameworks, edgegrad's own included), and that Transpose costs nothing (see transpose in shape.ts).
 */
function graphInputs(cx: ImportContext, og: OnnxGraph, batched: boolean): Array<{ name: string; dims: number[]; nchw: boolean; dtype: 'float32' | 'int32'; onnxType: number; batchAxis: number; asFloat?: boolean }> {
  const realInputs = og.input.filter((i) => !cx.vals.has(i.name));
  return realInputs.map((inInfo) => {
    const tt = inInfo.type?.tensorType;
    const elem = elemTypeOf(inInfo, 'input');
    const integer = INTEGER_TYPES.has(elem);
    cx.constantType(inInfo.name, elem);
    const b = batched ? batchAxis(og, inInfo.name) : -1;
    const inDims = (tt?.shape?.dim ?? []).map((d, i) => (i === b ? -1 : dimSize(d)));
    if (inDims.length === 0 && batched) fail(`input '${inInfo.name}' is a scalar: edgegrad's inputs have a batch dimension first`);
    const per = inDims.filter((_, i) => i !== b);
    const steps = og.node.some((nd) => ['LSTM', 'GRU', 'RNN'].includes(nd.opType)) ? ' (a recurrent model runs a fixed number of steps here: export it with a fixed sequence length)' : '';
    if (per.some((d) => d < 0)) {
      const names = (tt?.shape?.dim ?? []).filter((d, i) => i !== b && dimSize(d) < 0).map((d) => d.dimParam).filter(Boolean);
      const how = names.length ? `: give ${names.length > 1 ? 'them sizes' : 'it a size'} at load, eg.loadModel(file, { freeDimensionOverrides: { ${names.map((p) => `${/^[A-Za-z_$][\w$]*$/.test(p!) ? p : `'${p}'`}: ...`).join(', ')} } })` : '';
      fail(`input '${inInfo.name}' has dynamic dimensions ${JSON.stringify(inDims)} beyond the batch${steps}${how}`);
    }
    // bounded before anything is planned: a declared [3, 224, 2^31] input would ask for terabytes at predict
    if (per.reduce((p, d) => p * d, 1) > MAX_ELEMENTS) fail(`input '${inInfo.name}' declares ${JSON.stringify(per)} per example, more than edgegrad accepts (${MAX_ELEMENTS} elements)`);
    const uses = og.node.filter((nd) => nd.input.includes(inInfo.name));
    const permOf = (nd: OnnxNode) => nd.attribute.find((a) => a.name === 'perm')?.ints?.map((v) => num(v)).join(',');
    // indices: what a Gather reads as its input 1 (embeddings)
    const asIndices = (nd: OnnxNode) => nd.opType === 'Gather' && nd.input.indexOf(inInfo.name) === 1;
    if (integer && uses.length > 0 && !uses.some(asIndices)) {
      // integers read by anything else (arithmetic, comparisons, a Cast to float, max pooling, the integer
      // quantized ops), bools as masks of 0s and 1s (logic.ts): float inside, exact up to 2^24, converted at
      // the boundary (predict takes int32 tensors); the integer converters give them integer semantics
      const xId = cx.g.input(inInfo.name, inDims);
      cx.vals.set(inInfo.name, { id: xId, shape: inDims, ...(elem === 9 ? { mask: true } : { itype: elem }) });
      return { name: inInfo.name, dims: inDims, nchw: false, dtype: 'int32' as const, onnxType: elem, batchAxis: b, asFloat: true };
    }
    if (integer) {
      // indices: int32 inside, whatever integer type the file declares (predict takes int32 tensors)
      const xId = cx.g.input(inInfo.name, inDims, 'int32');
      cx.vals.set(inInfo.name, { id: xId, shape: inDims, dtype: 'int32' });
      return { name: inInfo.name, dims: inDims, nchw: false, dtype: 'int32' as const, onnxType: elem, batchAxis: b };
    }
    const nhwcInput = inDims.length === 4 && b === 0 && uses.length === 1 && uses[0].opType === 'Transpose' && permOf(uses[0]) === '0,3,1,2';
    const inNchw = inDims.length === 4 && b === 0 && !nhwcInput;
    const xId = cx.g.input(inInfo.name, inNchw ? [-1, inDims[2], inDims[3], inDims[1]] : inDims);
    // float16 / bfloat16 / float64 inputs take float32 tensors; a float16 or bfloat16 one rounds them to its
    // type first, as the model computes on those values (a float64 one holds any float32 as it is)
    cx.vals.set(inInfo.name, { id: roundedTo(cx.g, elem, xId, inInfo.name), nhwc: inNchw, shape: inDims });
    return { name: inInfo.name, dims: inDims, nchw: inNchw, dtype: 'float32' as const, onnxType: elem, batchAxis: b };
  });
}

/**
 * The batch axis of an input: 0, but 1 where an LSTM / GRU / RNN of layout 0 reads it (through Slices, as
 * PyTorch splits the states of stacked layers) as its X [T, batch, F] or an initial state [dirs, batch, H],
 * and none (-1: a whole tensor of a fixed shape) where one reads it as its weights W, R, B or P.
 */
function batchAxis(og: OnnxGraph, name: string, depth = 0): number {
  for (const nd of og.node) {
    const k = nd.input.indexOf(name);
    if (k < 0) continue;
    if (['LSTM', 'GRU', 'RNN'].includes(nd.opType)) {
      if ([1, 2, 3, 7].includes(k)) return -1;
      if ([0, 5, 6].includes(k) && num(nd.attribute.find((a) => a.name === 'layout')?.i, 0) === 0) return 1;
    }
    if (k === 0 && (nd.opType === 'Slice' || nd.opType === 'Identity') && depth < 4 && batchAxis(og, nd.output[0], depth + 1) === 1) return 1;
  }
  return 0;
}
