// ONNX import: ModelProto bytes -> GraphModel. Parse, check the opset and the one input, build the
// converter context, convert each node with its op's converter (table.ts), then the int8 and fusion passes.
import { Graph } from '../../../graph/ir.js';
import { GraphModel } from '../../../graph-model.js';
import { fuseActivations } from '../../../graph/passes.js';
import '../../../ops/index.js';
import { num, protoRoot, FLOAT16, type OnnxGraph, type OnnxModel, type OnnxNode } from '../proto.js';
import { ImportContext } from './context.js';
import { fail } from './errors.js';
import { loadExternal, type ExternalReader } from './external.js';
import { int8FromQdq } from './int8.js';
import { convertNode, READS_QUANTIZED } from './table.js';
import { MAX_ELEMENTS } from './tensor.js';

export type { ExternalReader };

export async function importOnnx(bytes: Uint8Array, name = 'onnx-model', readExternal?: ExternalReader): Promise<GraphModel> {
  const { m, og, opset } = await parse(bytes);
  await loadExternal(og.initializer, readExternal);
  const cx = new ImportContext(new Graph(), opset, READS_QUANTIZED);
  for (const init of og.initializer) cx.initializer(init);
  const input = graphInput(cx, og);
  for (const n of og.node) convertNode(cx, n);

  const g = cx.g;
  const outName = og.output[0]?.name;
  const out = outName ? cx.vals.get(outName) : undefined;
  if (!out || out.id === undefined) fail(`the model output '${outName}' is not computed by the graph`);
  g.outputs = [out.id!];
  const report = int8FromQdq(g);
  fuseActivations(g);
  const model = new GraphModel(g, og.name || name, input.dims.slice(1), input.nchw, !!out.nhwc, { format: 'ONNX', opset, producer: m.producerName ?? '' });
  if (report) model.quantization = report;
  // one output per model: the others are said, never silently dropped
  model.ignoredOutputs = og.output.slice(1).map((o) => o.name ?? '');
  if (model.ignoredOutputs.length) {
    console.warn(`edgegrad.loadModel: '${model.name}' has ${og.output.length} outputs; edgegrad computes the first ('${outName}') and ignores ${model.ignoredOutputs.map((o) => `'${o}'`).join(', ')}`);
  }
  // a file that stores its weights as float16 saves that way again
  if (og.initializer.some((t) => t.dataType === FLOAT16)) model.storage = 'float16';
  return model;
}

/** The decoded model, its graph and its opset (1-21), or an error that says why not. */
async function parse(bytes: Uint8Array): Promise<{ m: OnnxModel; og: OnnxGraph; opset: number }> {
  const root = await protoRoot();
  let m: OnnxModel;
  try {
    m = root.ModelProto.decode(bytes);
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

/**
 * The model's one input (the graph input that is not an initializer), batch dimension free. A rank-4 input is
 * NCHW, unless its only use is a Transpose to NCHW: then it is NHWC (models exported from NHWC frameworks,
 * edgegrad's own included), and that Transpose costs nothing (see transpose in shape.ts).
 */
function graphInput(cx: ImportContext, og: OnnxGraph): { dims: number[]; nchw: boolean } {
  const realInputs = og.input.filter((i) => !cx.vals.has(i.name));
  if (realInputs.length !== 1) fail(`edgegrad imports models with one input; this one has ${realInputs.length} (${realInputs.map((i) => i.name).join(', ')})`);
  const inInfo = realInputs[0];
  const inDims = (inInfo.type?.tensorType?.shape?.dim ?? []).map((d, i) => (i === 0 ? -1 : num(d.dimValue, -1)));
  if (inDims.slice(1).some((d) => d < 1)) fail(`input '${inInfo.name}' has dynamic dimensions ${JSON.stringify(inDims)} beyond the batch`);
  // bounded before anything is planned: a declared [3, 224, 2^31] input would ask for terabytes at predict
  if (inDims.slice(1).reduce((a, b) => a * b, 1) > MAX_ELEMENTS) fail(`input '${inInfo.name}' declares ${JSON.stringify(inDims.slice(1))} per example, more than edgegrad accepts (${MAX_ELEMENTS} elements)`);
  const uses = og.node.filter((nd) => nd.input.includes(inInfo.name));
  const permOf = (nd: OnnxNode) => nd.attribute.find((a) => a.name === 'perm')?.ints?.map((v) => num(v)).join(',');
  const nhwcInput = inDims.length === 4 && uses.length === 1 && uses[0].opType === 'Transpose' && permOf(uses[0]) === '0,3,1,2';
  const inNchw = inDims.length === 4 && !nhwcInput;
  const xId = cx.g.input(inInfo.name, inNchw ? [-1, inDims[2], inDims[3], inDims[1]] : inDims);
  cx.vals.set(inInfo.name, { id: xId, nhwc: inNchw, shape: inDims });
  return { dims: inDims, nchw: inNchw };
}
