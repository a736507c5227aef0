// ONNX export: the inference graph of a model -> ModelProto (opset 17), runnable by ONNX Runtime, with
// layer and node names preserved. Feature maps are NHWC in edgegrad's IR and NCHW in ONNX: filters are
// written OIHW, a map's flatten (NHWC order in a model built here) becomes Transpose + Reshape, and the
// model keeps the layout of its own boundary (NHWC for models built here, NCHW for imported ones).
//
// The exporter lives in onnx/export/: index.ts (the boundary and the loop), context.ts (what an exporter may
// read and do), table.ts (graph op -> exporter, from the op families), and a module per family (conv, dense,
// activation, pool, norm, elementwise, shape, spatial, quant). A new op is an entry in its family's table.
export { exportOnnx, type ExportSource } from './onnx/export/index.js';
