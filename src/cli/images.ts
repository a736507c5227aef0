// Images for the command: PNG (fast-png) and JPEG (jpeg-js), both pure JavaScript so the command runs the
// same in Node, Deno and Bun; pixels become float32 in [0, 1], resized (bilinear, half-pixel centres) and
// converted to the channels the model wants. A folder of class folders is a labelled dataset.
import { decode as decodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import * as eg from '../index.js';
import { readBytes } from '../io/read.js';

export const IMAGE_EXT = /\.(png|jpe?g)$/i;

/** Decoded pixels: height x width x channels (1 gray, 3 RGB; alpha dropped), values in [0, 1]. */
export interface Pixels { height: number; width: number; channels: 1 | 3; data: Float32Array }

export function decodeImage(bytes: Uint8Array, where: string): Pixels {
  const png = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const jpg = bytes[0] === 0xff && bytes[1] === 0xd8;
  if (!png && !jpg) throw new Error(`${where}: not a PNG or JPEG file (the first bytes are ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')})`);
  try {
    if (png) {
      const im = decodePng(bytes);
      if (im.palette) throw new Error('palette PNGs are not supported (save as RGB or grayscale)');
      const max = 2 ** im.depth - 1, ch = im.channels, keep = ch >= 3 ? 3 : 1;
      const data = new Float32Array(im.width * im.height * keep);
      for (let p = 0; p < im.width * im.height; p++) for (let c = 0; c < keep; c++) data[p * keep + c] = im.data[p * ch + c] / max;
      return { height: im.height, width: im.width, channels: keep as 1 | 3, data };
    }
    const im = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 512 });
    const data = new Float32Array(im.width * im.height * 3);
    for (let p = 0; p < im.width * im.height; p++) for (let c = 0; c < 3; c++) data[p * 3 + c] = im.data[p * 4 + c] / 255;
    return { height: im.height, width: im.width, channels: 3, data };
  } catch (e) {
    throw new Error(`${where}: cannot decode ${png ? 'PNG' : 'JPEG'}: ${(e as Error).message}`);
  }
}

/** [height, width, channels] (NHWC) of a model's image input, or undefined when it takes no image. */
export function imageInput(shape: number[], nchw: boolean): { h: number; w: number; c: number; nchw: boolean } | undefined {
  if (shape.length !== 3) return undefined;
  const [h, w, c] = nchw ? [shape[1], shape[2], shape[0]] : shape;
  return c === 1 || c === 3 ? { h, w, c, nchw } : undefined;
}

/** Pixels resized to h x w with c channels (gray <-> RGB), written NHWC or NCHW into out at offset. */
export function fitPixels(p: Pixels, to: { h: number; w: number; c: number; nchw: boolean }, out: Float32Array, offset: number): void {
  let t = eg.tensor(p.data, [1, p.height, p.width, p.channels]);
  if (p.height !== to.h || p.width !== to.w) { const r = eg.image.resizeBilinear(t, [to.h, to.w], false, true); t.dispose(); t = r; }
  const src = t.dataSync();
  t.dispose();
  const n = to.h * to.w;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < to.c; c++) {
      // RGB -> gray: ITU-R BT.601 luma; gray -> RGB: repeat
      const v = p.channels === to.c ? src[i * p.channels + c] : to.c === 1 ? 0.299 * src[i * 3] + 0.587 * src[i * 3 + 1] + 0.114 * src[i * 3 + 2] : src[i];
      out[offset + (to.nchw ? c * n + i : i * to.c + c)] = v;
    }
  }
}

interface Fs { readdir(p: string, o: { withFileTypes: true }): Promise<Array<{ name: string; isDirectory(): boolean; isFile(): boolean }>>; stat(p: string): Promise<{ isDirectory(): boolean }> }
async function fs(): Promise<Fs> {
  const spec = 'node:fs/promises';
  return (await import(spec)) as Fs;
}

/** Whether path is a folder (false for files; an error naming the path when it does not exist). */
export async function isFolder(path: string): Promise<boolean> {
  try { return (await (await fs()).stat(path)).isDirectory(); } catch { throw new Error(`${path}: no such file or folder`); }
}

/** A folder of class folders (DIR/cat/*.jpg, DIR/dog/*.png): the images as one tensor, labels by class. */
export async function loadImageFolder(dir: string, to: { h: number; w: number; c: number; nchw: boolean }, progress?: (done: number, total: number) => void):
  Promise<{ x: eg.Tensor; y: eg.Tensor; classes: string[]; perClass: number[] }> {
  const f = await fs();
  const entries = (await f.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (entries.length < 2) throw new Error(`${dir}: a dataset folder needs one sub-folder of images per class (at least two), found ${entries.length}`);
  const files: Array<{ path: string; label: number }> = [];
  const perClass: number[] = [];
  for (const [label, cls] of entries.entries()) {
    const imgs = (await f.readdir(`${dir}/${cls}`, { withFileTypes: true })).filter((e) => e.isFile() && IMAGE_EXT.test(e.name)).map((e) => e.name).sort();
    if (!imgs.length) throw new Error(`${dir}/${cls}: no images (.png, .jpg, .jpeg) in this class folder`);
    perClass.push(imgs.length);
    for (const name of imgs) files.push({ path: `${dir}/${cls}/${name}`, label });
  }
  const per = to.h * to.w * to.c;
  const data = new Float32Array(files.length * per);
  for (const [i, file] of files.entries()) {
    fitPixels(decodeImage(await readBytes(file.path, 'image'), file.path), to, data, i * per);
    progress?.(i + 1, files.length);
  }
  const shape = to.nchw ? [files.length, to.c, to.h, to.w] : [files.length, to.h, to.w, to.c];
  return { x: eg.tensor(data, shape), y: eg.tensor(Int32Array.from(files, (f) => f.label), [files.length], 'int32'), classes: entries, perClass };
}

/** Every image in dir, or in its sub-folders (one level), for calibration: [n, ...] in the model's layout. */
export async function loadImages(dir: string, to: { h: number; w: number; c: number; nchw: boolean }, limit = Infinity): Promise<eg.Tensor> {
  const f = await fs();
  const top = await f.readdir(dir, { withFileTypes: true });
  let files = top.filter((e) => e.isFile() && IMAGE_EXT.test(e.name)).map((e) => `${dir}/${e.name}`).sort();
  for (const sub of top.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort()) {
    files.push(...(await f.readdir(`${dir}/${sub}`, { withFileTypes: true })).filter((e) => e.isFile() && IMAGE_EXT.test(e.name)).map((e) => `${dir}/${sub}/${e.name}`).sort());
  }
  if (!files.length) throw new Error(`${dir}: no images (.png, .jpg, .jpeg) here or in its sub-folders`);
  // spread a limited sample over the whole set (the folders are sorted by class)
  if (files.length > limit) { const step = files.length / limit; files = Array.from({ length: limit }, (_, i) => files[Math.floor(i * step)]); }
  const per = to.h * to.w * to.c, data = new Float32Array(files.length * per);
  for (const [i, file] of files.entries()) fitPixels(decodeImage(await readBytes(file, 'image'), file), to, data, i * per);
  return eg.tensor(data, to.nchw ? [files.length, to.c, to.h, to.w] : [files.length, to.h, to.w, to.c]);
}
