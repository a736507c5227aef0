// A drawing or a photo of a digit, made to look like an MNIST example (LeCun et al.): white ink on black in
// [0, 1], the ink's bounding box scaled (aspect kept) to fit 20x20 by area averaging, then placed in a 28x28
// frame so that its centre of mass is at the centre.

/** Ink per pixel in [0, 1] from RGBA: luminance (Rec. 601), inverted when the picture is dark ink on light paper. */
export function inkOf(image) {
  const { width: w, height: h, data } = image;
  const ink = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const a = data[i * 4 + 3] / 255;
    // transparent pixels count as the background: composite onto black
    ink[i] = (a * (0.299 * data[i * 4] + 0.587 * data[i * 4 + 1] + 0.114 * data[i * 4 + 2])) / 255;
  }
  // the border tells the paper's colour: light paper means dark ink
  let sum = 0, n = 0;
  for (let x = 0; x < w; x++) { sum += ink[x] + ink[(h - 1) * w + x]; n += 2; }
  for (let y = 0; y < h; y++) { sum += ink[y * w] + ink[y * w + w - 1]; n += 2; }
  if (sum / n > 0.5) for (let i = 0; i < ink.length; i++) ink[i] = 1 - ink[i];
  return { width: w, height: h, ink };
}

/** For each of `to` output cells spanning [i*s, (i+1)*s) of `from` input cells: the input cells and their overlaps. */
function coverage(from, to, s) {
  const out = [];
  for (let i = 0; i < to; i++) {
    const a = i * s, b = Math.min((i + 1) * s, from), cells = [];
    for (let j = Math.floor(a); j < b; j++) {
      const wgt = Math.min(b, j + 1) - Math.max(a, j);
      if (wgt > 0) cells.push([j, wgt]);
    }
    out.push(cells);
  }
  return out;
}

/**
 * The 28x28 MNIST-style image (Float32Array of 784, row-major) of an ImageData-like { width, height, data },
 * or null when there is no ink.
 */
export function toMnist(image, { threshold = 0.1 } = {}) {
  const { width: w, height: h, ink } = inkOf(image);
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (ink[y * w + x] > threshold) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) return null;
  const cw = x1 - x0 + 1, ch = y1 - y0 + 1;
  // one scale for both axes: the longer side becomes 20 pixels
  const s = Math.max(cw, ch) / 20;
  const tw = Math.max(1, Math.round(cw / s)), th = Math.max(1, Math.round(ch / s));
  const cx = coverage(cw, tw, s), cy = coverage(ch, th, s);
  const small = new Float32Array(tw * th);
  for (let ty = 0; ty < th; ty++) for (let tx = 0; tx < tw; tx++) {
    let acc = 0, area = 0;
    for (const [sy, wy] of cy[ty]) for (const [sx, wx] of cx[tx]) { acc += wy * wx * ink[(y0 + sy) * w + x0 + sx]; area += wy * wx; }
    small[ty * tw + tx] = area ? acc / area : 0;
  }
  // centre of mass of the scaled digit, moved to the frame's centre (14, 14)
  let m = 0, mx = 0, my = 0;
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) { const v = small[y * tw + x]; m += v; mx += v * (x + 0.5); my += v * (y + 0.5); }
  const ox = Math.round(14 - mx / m), oy = Math.round(14 - my / m);
  const out = new Float32Array(28 * 28);
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) {
    const X = x + ox, Y = y + oy;
    if (X >= 0 && X < 28 && Y >= 0 && Y < 28) out[Y * 28 + X] = Math.min(1, small[y * tw + x]);
  }
  return out;
}

/** Draw a 28x28 image in [0, 1] on a canvas (white on black), scaled up without smoothing. */
export function show28(canvas, pixels) {
  const img = new ImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(255 * (pixels ? pixels[i] : 0));
    img.data.set([v, v, v, 255], i * 4);
  }
  const tmp = new OffscreenCanvas(28, 28);
  tmp.getContext('2d').putImageData(img, 0, 0);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}
