// Ops on the height and width of a map: resize2d as Resize (scales that floor to the output size in float32,
// as ONNX computes it), zeroPad2d as Pad.
import { attrStr, type ExportFamily } from './context.js';

/** a float32 scale whose product with the input size i floors to the output size o */
function resizeScale(o: number, i: number): number {
  let v = Math.fround(o / i);
  while (Math.floor(Math.fround(i * v)) < o) v = Math.fround(v * (1 + 2 ** -23));
  return v;
}

export const spatialFamily: ExportFamily = {
  resize2d: (cx, n) => {
    const a = n.attrs, x = n.inputs[0];
    const [, H, W] = cx.shapeOf(x), [OH, OW] = a.size as [number, number];
    const nearest = a.method === 'nearest';
    const ctm = a.alignCorners ? 'align_corners' : a.halfPixelCenters ? (nearest ? 'tf_half_pixel_for_nn' : 'half_pixel') : 'asymmetric';
    const attrs: unknown[] = [attrStr('mode', nearest ? 'nearest' : 'linear'), attrStr('coordinate_transformation_mode', ctm)];
    if (nearest) attrs.push(attrStr('nearest_mode', a.alignCorners ? 'round_prefer_ceil' : 'floor'));
    const scales = cx.floatInitRaw(`${n.name}/scales`, [4], [1, 1, resizeScale(OH, H), resizeScale(OW, W)]);
    cx.setOut(n, cx.emit('Resize', [cx.valueName(x), '', scales], attrs, n.name), true);
  },
  zeroPad2d: (cx, n) => {
    const [[t, b], [l, r]] = n.attrs.padding as [[number, number], [number, number]];
    cx.setOut(n, cx.emit('Pad', [cx.valueName(n.inputs[0]), cx.intInit(`${n.name}/pads`, [0, 0, t, l, 0, 0, b, r])], [], n.name), true);
  },
};
