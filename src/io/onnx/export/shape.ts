// Ops that move values: dropout, augmentation and training noise (nothing at inference; randomCrop's centre), the layout views nhwcToNchw / nchwToNhwc (nothing:
// ONNX holds maps NCHW already), transpose, slice, reshape (a map flattened in NHWC order gets a Transpose
// first), concat and grayscaleToRgb.
import { attrInt, attrInts, fail, type ExportFamily } from './context.js';

/** What acts only in training passes its input through at inference, and so in the exported graph. */
const passThrough: ExportFamily[string] = (cx, n) => cx.setOut(n, cx.valueName(n.inputs[0]), cx.isMap.has(n.inputs[0]));

export const shapeFamily: ExportFamily = {
  dropout: passThrough,
  gaussianNoise: passThrough,
  gaussianDropout: passThrough,
  imageAdjust: passThrough,
  // recurrent dropout's multipliers are 1 at inference: the recurrent node's export does not read them
  recurrentDropoutMask: () => undefined,
  // geometric augmentation: nothing at inference, but randomCrop's centre window
  randomAffine: (cx, n, out) => {
    const crop = n.attrs.crop as [number, number] | undefined, x = n.inputs[0];
    if (!crop) return passThrough(cx, n, out);
    const map = cx.isMap.has(x), [, H, W] = cx.shapeOf(x), top = Math.floor((H - crop[0]) / 2), left = Math.floor((W - crop[1]) / 2);
    const ins = [cx.valueName(x), cx.intInit(`${n.name}/starts`, [top, left]), cx.intInit(`${n.name}/ends`, [top + crop[0], left + crop[1]]), cx.intInit(`${n.name}/axes`, map ? [2, 3] : [1, 2])];
    cx.setOut(n, cx.emit('Slice', ins, [], n.name, out), map);
  },
  // the ONNX value of a map is NCHW already: this is its plain rank-4 view
  nhwcToNchw: (cx, n) => cx.setOut(n, cx.valueName(n.inputs[0])),
  // and a plain NCHW rank-4 value is a map as it stands
  nchwToNhwc: (cx, n) => cx.setOut(n, cx.valueName(n.inputs[0]), true),
  transpose: (cx, n, out) => {
    if (cx.isMap.has(n.inputs[0])) fail(`transpose of a feature map (node '${n.name}')`);
    cx.setOut(n, cx.emit('Transpose', [cx.valueName(n.inputs[0])], [attrInts('perm', n.attrs.perm as number[])], n.name, out));
  },
  slice: (cx, n, out) => {
    const a = n.attrs, x = n.inputs[0];
    const map = cx.isMap.has(x);
    const axis = map ? [0, 2, 3, 1][a.axis as number] : (a.axis as number);
    const step = (a.step as number | undefined) ?? 1;
    // a negative step's end -1 (before the first) is written past the start of the axis: ONNX's -1 is the last
    const end = step < 0 && (a.end as number) < 0 ? -(cx.shapeOf(x)[a.axis as number] + 1) : (a.end as number);
    const ins = [cx.valueName(x), cx.intInit(`${n.name}/starts`, [a.start as number]), cx.intInit(`${n.name}/ends`, [end]), cx.intInit(`${n.name}/axes`, [axis])];
    if (step !== 1) ins.push(cx.intInit(`${n.name}/steps`, [step]));
    cx.setOut(n, cx.emit('Slice', ins, [], n.name, out), map);
  },
  reshape: (cx, n, out) => {
    const x = n.inputs[0];
    let src = cx.valueName(x);
    // a map flattened by a model built here is in NHWC order
    if (cx.isMap.has(x)) src = cx.emit('Transpose', [src], [attrInts('perm', [0, 2, 3, 1])], `${n.name}/to_nhwc`);
    // the batch first (-1), or where it is elsewhere copied by a 0 (an imported time-major RNN's [T, batch, H])
    const shape = n.attrs.shape as number[], b = shape.indexOf(-1), xs = cx.shapeOf(x);
    const target = b > 0 ? shape.map((d, i) => (i === b && xs[b] === -1 ? 0 : d)) : shape.map((d, i) => (i === 0 ? -1 : d));
    if (target.length === 4 && n.attrs.layout === 'map') {
      // a reshape to a feature map (a Keras-style Reshape to [h, w, c]): NHWC order -> NCHW again
      const r = cx.emit('Reshape', [src, cx.intInit(`${n.name}/shape`, target)], [], n.name);
      cx.setOut(n, cx.emit('Transpose', [r], [attrInts('perm', [0, 3, 1, 2])], `${n.name}/to_nchw`), true);
    } else {
      cx.setOut(n, cx.emit('Reshape', [src, cx.intInit(`${n.name}/shape`, target)], [], n.name, out));
    }
  },
  concat: (cx, n, out) => {
    const map = cx.isMap.has(n.inputs[0]);
    cx.setOut(n, cx.emit('Concat', n.inputs.map((id) => cx.valueName(id)), [attrInt('axis', map ? 1 : -1)], n.name, out), map);
  },
  // a map's channel shuffle, as ShuffleNet writes it in ONNX: Reshape [N, g, C/g, H, W], Transpose, Reshape
  channelShuffle: (cx, n, out) => {
    const x = n.inputs[0];
    if (!cx.isMap.has(x)) fail(`channel shuffle of a value that is not a feature map (node '${n.name}')`);
    const [, H, W, C] = cx.shapeOf(x), g = n.attrs.groups as number;
    const r5 = cx.emit('Reshape', [cx.valueName(x), cx.intInit(`${n.name}/split`, [0, g, C / g, H, W])], [], `${n.name}/split`);
    const t = cx.emit('Transpose', [r5], [attrInts('perm', [0, 2, 1, 3, 4])], `${n.name}/swap`);
    cx.setOut(n, cx.emit('Reshape', [t, cx.intInit(`${n.name}/merge`, [0, C, H, W])], [], n.name, out), true);
  },
  // rows of a table by indices: Gather on axis 0
  embedding: (cx, n, out) => {
    const [table, ids] = n.inputs;
    cx.setOut(n, cx.emit('Gather', [cx.param(table), cx.valueName(ids)], [attrInt('axis', 0)], n.name, out));
  },
  // a take along an axis by indices: Gather
  gather: (cx, n, out) => {
    const [x, ids] = n.inputs;
    if (cx.isMap.has(x)) fail(`gather from a feature map (node '${n.name}')`);
    cx.setOut(n, cx.emit('Gather', [cx.valueName(x), cx.valueName(ids)], [attrInt('axis', n.attrs.axis as number)], n.name, out));
  },
  grayscaleToRgb: (cx, n, out) => {
    const x = cx.valueName(n.inputs[0]), map = cx.isMap.has(n.inputs[0]);
    cx.setOut(n, cx.emit('Concat', [x, x, x], [attrInt('axis', map ? 1 : -1)], n.name, out), map);
  },
};
