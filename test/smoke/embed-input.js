// A 28x28 ring (NHWC [1, 28, 28, 1], pixels in [0, 1]): the input the embedding checks classify with
// models/digits-cnn.onnx. A classic script (it defines the global embedRing) so file:// pages can load it too.
globalThis.embedRing = () => Float32Array.from({ length: 784 }, (_, i) => {
  const y = Math.floor(i / 28) - 13.5, x = (i % 28) - 13.5;
  return Math.abs(Math.hypot(x, y) - 8) < 2 ? 1 : 0;
});
