// ONNX export: the inference graph of a model -> ModelProto (opset 17). The boundary (the input, and the
// output back to the boundary's layout) is written here; each node by its op's exporter (table.ts).
import type { Graph, Node } from '../../../graph/ir.js';
import { protoRoot, FLOAT } from '../proto.js';
import { attrInts, ExportContext, fail, OPSET } from './context.js';
import { exportNode } from './table.js';

export interface ExportSource {
  graph: Graph;
  name: string;
  /** whether the model's image input/output are NCHW at its boundary (imported) or NHWC (built here) */
  nchwBoundary: boolean;
  /** weight storage: float32 (default) or float16 (half the size; each weight is cast to float in the graph) */
  weights?: 'float32' | 'float16';
}

type Dim = { dimValue?: number; dimParam?: string };
const dim = (d: number): Dim => (d === -1 ? { dimParam: 'batch' } : { dimValue: d });
const valueInfo = (name: string, dims: Dim[]) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims } } } });

export async function exportOnnx(src: ExportSource): Promise<Uint8Array> {
  const gpu = src.graph.values.find((v) => v.tensor && !v.tensor.backend.syncRead);
  if (gpu) throw new Error(`edgegrad.save / toOnnx: model '${src.name}' has its weights on the '${gpu.tensor!.location}' backend, which the exporter cannot read yet: build or load it on wasm to save or export it`);
  const { graph: g, name, nchwBoundary } = src;
  const cx = new ExportContext(g, src.weights);
  const inputInfo = writeInput(cx, nchwBoundary);
  const outId = g.outputs[0];
  for (const n of g.nodes) exportNode(cx, n, n.outputs[0] === outId && !isMapOut(g, n) ? 'output' : undefined);
  const outDims = writeOutput(cx, outId, nchwBoundary);
  const root = await protoRoot();
  const model = root.ModelProto.create({
    irVersion: 8,
    producerName: 'edgegrad',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: { name, node: cx.nodes, initializer: cx.inits, input: [inputInfo], output: [valueInfo('output', outDims)] },
  });
  return root.ModelProto.encode(model).finish();
}

/** The graph's one input: an image NCHW at an NCHW boundary, else NHWC and transposed to NCHW inside. */
function writeInput(cx: ExportContext, nchwBoundary: boolean): unknown {
  const g = cx.g;
  if (g.inputs.length !== 1) fail(`models with ${g.inputs.length} inputs are not exported yet`);
  const xId = g.inputs[0];
  const xs = cx.shapeOf(xId);
  if (xs.length !== 4) {
    cx.onnxName.set(xId, cx.unique('input'));
    return valueInfo(cx.onnxName.get(xId)!, xs.map(dim));
  }
  const [, H, W, C] = xs;
  cx.isMap.add(xId);
  if (nchwBoundary) {
    cx.onnxName.set(xId, cx.unique('input'));
    return valueInfo(cx.onnxName.get(xId)!, [dim(-1), dim(C), dim(H), dim(W)]);
  }
  const inName = cx.unique('input');
  cx.onnxName.set(xId, cx.emit('Transpose', [inName], [attrInts('perm', [0, 3, 1, 2])], 'input/to_nchw'));
  return valueInfo(inName, [dim(-1), dim(H), dim(W), dim(C)]);
}

/** The value 'output': a map goes back to the boundary's layout. Returns its dims. */
function writeOutput(cx: ExportContext, outId: number, nchwBoundary: boolean): Dim[] {
  const outName = cx.onnxName.get(outId)!;
  const os = cx.shapeOf(outId);
  if (!cx.isMap.has(outId)) {
    if (outName !== 'output') cx.emit('Identity', [outName], [], 'output/identity', 'output');
    return os.map(dim);
  }
  const [, H, W, C] = os;
  if (nchwBoundary) {
    cx.emit('Identity', [outName], [], 'output/identity', 'output');
    return [dim(-1), dim(C), dim(H), dim(W)];
  }
  cx.emit('Transpose', [outName], [attrInts('perm', [0, 2, 3, 1])], 'output/to_nhwc', 'output');
  return [dim(-1), dim(H), dim(W), dim(C)];
}

/** Whether a node's output is a feature map (so the graph output needs a layout transpose after it). */
function isMapOut(g: Graph, n: Node): boolean {
  const s = g.values[n.outputs[0]].shape;
  return s.length === 4 && n.op !== 'nhwcToNchw';
}
