// ONNX export: the inference graph of a model -> ModelProto (opset 17). The boundary (the inputs, and the
// outputs back to the boundary's layout) is written here; each node by its op's exporter (table.ts).
import type { Graph, Node } from '../../../graph/ir.js';
import { protoRoot, FLOAT, INT64 } from '../proto.js';
import { attrInt, attrInts, ExportContext, fail, OPSET } from './context.js';
import { exportNode } from './table.js';
import { classNamesProps } from './metadata.js';

export interface ExportSource {
  graph: Graph;
  name: string;
  /** whether the model's image input/output are NCHW at its boundary (imported) or NHWC (built here) */
  nchwBoundary: boolean;
  /** weight storage: float32 (default) or float16 (half the size; each weight is cast to float in the graph) */
  weights?: 'float32' | 'float16';
  /** names of the graph's inputs and outputs, in order (an imported model's own); default input / output */
  inputNames?: string[];
  outputNames?: string[];
  /** per input / output: whether a rank-4 one is NCHW at the boundary (an imported model's own); default nchwBoundary */
  inputsNchw?: boolean[];
  outputsNchw?: boolean[];
  /** per input: its ONNX element type (1 float, 6 int32, 7 int64); default float */
  inputTypes?: number[];
  /** the output classes' names, stored in metadata_props (see metadata.ts) */
  classNames?: readonly string[];
}

type Dim = { dimValue?: number; dimParam?: string };
const dim = (d: number): Dim => (d === -1 ? { dimParam: 'batch' } : { dimValue: d });
const valueInfo = (name: string, dims: Dim[], elemType = FLOAT) => ({ name, type: { tensorType: { elemType, shape: { dim: dims } } } });

export async function exportOnnx(src: ExportSource): Promise<Uint8Array> {
  const { graph: g, name, nchwBoundary } = src;
  // weights on a GPU are read back first (once each), for the synchronous writing below
  const host = new Map<number, Float32Array | Int32Array>();
  for (const [id, v] of g.values.entries()) {
    if (v.tensor && !v.tensor.backend.syncRead) host.set(id, await v.tensor.data() as Float32Array | Int32Array);
  }
  const cx = new ExportContext(g, src.weights, host);
  // the boundary's names first, so that no value written later takes one of them
  const inNames = g.inputs.map((_, k) => cx.unique(src.inputNames?.[k] ?? (g.inputs.length === 1 ? 'input' : `input_${k}`)));
  const outNames = g.outputs.map((_, k) => cx.unique(src.outputNames?.[k] ?? (g.outputs.length === 1 ? 'output' : `output_${k}`)));
  const inputInfo = g.inputs.map((id, k) => writeInput(cx, id, inNames[k], src.inputsNchw?.[k] ?? nchwBoundary, src.inputTypes?.[k] ?? FLOAT));
  // a node whose value is an output (as it stands: not a map needing a layout change) writes it under the
  // output's name directly; other outputs get an Identity or Transpose after
  const direct = new Map<number, string>();
  g.outputs.forEach((id, k) => { if (!direct.has(id) && !g.inputs.includes(id)) direct.set(id, outNames[k]); });
  for (const n of g.nodes) exportNode(cx, n, direct.has(n.outputs[0]) && !isMapOut(g, n) ? direct.get(n.outputs[0]) : undefined);
  // an integer output is an index (ArgMax's), which ONNX writes as int64
  const outputInfo = g.outputs.map((id, k) => valueInfo(outNames[k], writeOutput(cx, id, outNames[k], src.outputsNchw?.[k] ?? nchwBoundary), g.values[id].dtype === 'int32' ? INT64 : FLOAT));
  const root = await protoRoot();
  const model = root.ModelProto.create({
    irVersion: 8,
    producerName: 'edgegrad',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: { name, node: cx.nodes, initializer: cx.inits, input: inputInfo, output: outputInfo },
    metadataProps: classNamesProps(src.classNames),
  });
  return root.ModelProto.encode(model).finish();
}

/** An input: an image NCHW at an NCHW boundary, else NHWC and transposed to NCHW inside. */
function writeInput(cx: ExportContext, xId: number, inName: string, nchwBoundary: boolean, elemType: number): unknown {
  const xs = cx.shapeOf(xId);
  // a whole tensor of a fixed shape (no batch axis) is plain whatever its rank: no image layout at its boundary
  if (xs.length !== 4 || elemType !== FLOAT || xs[0] !== -1) {
    // integers the graph reads as float (converted at edgegrad's boundary) go through a Cast in the file
    const asFloat = elemType !== FLOAT && cx.g.values[xId].dtype === 'float32';
    cx.onnxName.set(xId, asFloat ? cx.emit('Cast', [inName], [attrInt('to', FLOAT)], `${inName}/to_float`) : inName);
    return valueInfo(inName, xs.map(dim), elemType);
  }
  const [, H, W, C] = xs;
  cx.isMap.add(xId);
  if (nchwBoundary) {
    cx.onnxName.set(xId, inName);
    return valueInfo(inName, [dim(-1), dim(C), dim(H), dim(W)]);
  }
  cx.onnxName.set(xId, cx.emit('Transpose', [inName], [attrInts('perm', [0, 3, 1, 2])], `${inName}/to_nchw`));
  return valueInfo(inName, [dim(-1), dim(H), dim(W), dim(C)]);
}

/** An output under its name: a map goes back to the boundary's layout. Returns its dims. */
function writeOutput(cx: ExportContext, outId: number, name: string, nchwBoundary: boolean): Dim[] {
  const have = cx.onnxName.get(outId)!;
  const os = cx.shapeOf(outId);
  if (!cx.isMap.has(outId)) {
    if (have !== name) cx.emit('Identity', [have], [], `${name}/identity`, name);
    return os.map(dim);
  }
  const [N, H, W, C] = os;
  if (nchwBoundary) {
    if (have !== name) cx.emit('Identity', [have], [], `${name}/identity`, name);
    return [dim(N), dim(C), dim(H), dim(W)];
  }
  cx.emit('Transpose', [have], [attrInts('perm', [0, 2, 3, 1])], `${name}/to_nhwc`, name);
  return [dim(N), dim(H), dim(W), dim(C)];
}

/** Whether a node's output is a feature map (so the graph output needs a layout transpose after it). */
function isMapOut(g: Graph, n: Node): boolean {
  const s = g.values[n.outputs[0]].shape;
  return s.length === 4 && n.op !== 'nhwcToNchw';
}
