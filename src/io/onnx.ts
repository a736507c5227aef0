// ONNX import: ModelProto (parsed by onnx-proto / protobufjs) -> graph IR. Images keep NCHW at the model's
// boundary; inside, feature maps are NHWC and convolution filters are converted once, here, from OIHW to
// HWIO. Flatten / Reshape of a feature map goes through an explicit NHWC -> NCHW transpose so the flattened
// order is ONNX's. Shape / Gather / Unsqueeze / Concat / Cast chains on static shapes fold to constants.
//
// The importer lives in onnx/import/: index.ts (parse, the one input, the loop, the passes after), context.ts
// (what a converter may read and do), table.ts (ONNX op type -> converter, from the op families), and a
// module per family (conv, pool, norm, activation, elementwise, dense, shape, spatial, constant, quant).
// A new op is a converter function and an entry in its family's table.
export { importOnnx, type ExternalReader } from './onnx/import/index.js';
