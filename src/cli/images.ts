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

/** What a model's image input takes: height, width, channels (1 or 3), and whether it is NCHW. */
export interface Fit { h: number; w: number; c: number; nchw: boolean }

/** [height, width, channels] (NHWC) of a model's image input, or undefined when it takes no image. */
export function imageInput(shape: number[], nchw: boolean): Fit | undefined {
  if (shape.length !== 3) return undefined;
  const [h, w, c] = nchw ? [shape[1], shape[2], shape[0]] : shape;
  return c === 1 || c === 3 ? { h, w, c, nchw } : undefined;
}

/** Pixels resized to h x w with c channels (gray <-> RGB), written NHWC or NCHW into out at offset. */
export function fitPixels(p: Pixels, to: Fit, out: Float32Array, offset: number): void {
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

/** The image files (sorted paths) directly in dir, and its visible sub-folders (sorted names). */
async function listFolder(dir: string): Promise<{ images: string[]; folders: string[] }> {
  const entries = await (await fs()).readdir(dir, { withFileTypes: true });
  return {
    images: entries.filter((e) => e.isFile() && IMAGE_EXT.test(e.name)).map((e) => `${dir}/${e.name}`).sort(),
    folders: entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(),
  };
}

/** The images at these paths, decoded and fitted to the model's input, as one tensor [n, ...]. */
async function decodeAll(paths: string[], to: Fit, progress?: (done: number, total: number) => void): Promise<eg.Tensor> {
  const per = to.h * to.w * to.c, data = new Float32Array(paths.length * per);
  for (const [i, path] of paths.entries()) {
    fitPixels(decodeImage(await readBytes(path, 'image'), path), to, data, i * per);
    progress?.(i + 1, paths.length);
  }
  return eg.tensor(data, to.nchw ? [paths.length, to.c, to.h, to.w] : [paths.length, to.h, to.w, to.c]);
}

/** 'photos/' -> 'photos' (paths joined to it, and errors, without a double slash); '/' stays. */
const trimSlashes = (dir: string): string => dir.replace(/(.)[\\/]+$/, '$1');

/** A folder of class folders (DIR/cat/*.jpg, DIR/dog/*.png): the images as one tensor, labels by class. */
export async function loadImageFolder(dir: string, to: Fit, progress?: (done: number, total: number) => void):
  Promise<{ x: eg.Tensor; y: eg.Tensor; classes: string[]; perClass: number[] }> {
  dir = trimSlashes(dir);
  const classes = (await listFolder(dir)).folders;
  if (classes.length < 2) throw new Error(`${dir}: a dataset folder needs one sub-folder of images per class (at least two), found ${classes.length}`);
  const paths: string[] = [], labels: number[] = [], perClass: number[] = [];
  for (const [label, cls] of classes.entries()) {
    const imgs = (await listFolder(`${dir}/${cls}`)).images;
    if (!imgs.length) throw new Error(`${dir}/${cls}: no images (.png, .jpg, .jpeg) in this class folder`);
    perClass.push(imgs.length);
    for (const path of imgs) { paths.push(path); labels.push(label); }
  }
  const x = await decodeAll(paths, to, progress);
  return { x, y: eg.tensor(Int32Array.from(labels), [labels.length], 'int32'), classes, perClass };
}

/** Every image in dir, or in its sub-folders (one level), for calibration: [n, ...] in the model's layout. */
export async function loadImages(dir: string, to: Fit, limit = Infinity): Promise<eg.Tensor> {
  dir = trimSlashes(dir);
  const top = await listFolder(dir);
  let files = top.images;
  for (const sub of top.folders) files.push(...(await listFolder(`${dir}/${sub}`)).images);
  if (!files.length) throw new Error(`${dir}: no images (.png, .jpg, .jpeg) here or in its sub-folders`);
  // spread a limited sample over the whole set (the folders are sorted by class)
  if (files.length > limit) { const step = files.length / limit; files = Array.from({ length: limit }, (_, i) => files[Math.floor(i * step)]); }
  return decodeAll(files, to);
}
