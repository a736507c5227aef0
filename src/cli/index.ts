// The `edgegrad` command: info, predict, finetune, bench (see USAGE). Errors are for people: what was
// wrong and where; exit code 1 for bad input, 2 for bad usage.
import * as eg from '../index.js';
import { readBytes } from '../io/read.js';
import type { GraphModel } from '../graph-model.js';
import { IMAGE_EXT, decodeImage, fitPixels, imageInput, isFolder, loadImageFolder, loadImages } from './images.js';
import { Progress } from './progress.js';

// the command runs in Node, Deno or Bun; typed here so the library needs no Node typings
declare const process: { argv: string[]; exitCode?: number };

const USAGE = `usage:
  edgegrad info MODEL [--json]              summary: nodes, parameters, FLOPs, planned memory, class names
  edgegrad predict MODEL INPUT [--top K] [--json]
                                            run INPUT through MODEL: an image (.png, .jpg; resized to the
                                            model's input), a .npy (float32/float64, int32/int64) or a .json
                                            nested array; a classifier prints its K most likely classes
                                            with probabilities (by name where the model stores them)
  edgegrad predict MODEL --input NAME=FILE [--input NAME=FILE ...] [--json]
                                            a model with several inputs: each by name (info lists them)
  edgegrad finetune MODEL --data DIR|FILE.json --out OUT.onnx [--cut NODE|auto [--folds K]] [--epochs 10]
                    [--lr 0.001] [--batch 32] [--val 0.2] [--fp16] [--report FILE.html | --no-report]
                    [--labels-curve] [--json]
                                            MODEL below NODE, frozen, under a new softmax head trained on
                                            DIR/<class>/*.png|jpg or {"x", "y"} JSON; writes the
                                            whole model as ONNX with its class names, and an HTML report
                                            beside it (OUT.report.html: curves, confusion matrix);
                                            --cut auto tries each candidate cut on the validation split
                                            (--folds K: K-fold cross-validation over the training examples)
                                            and keeps the best; --labels-curve adds accuracy vs labels
  edgegrad quantize MODEL (--int8 | --fp16) --out OUT.onnx [--calibration DIR] [--weights-only]
                    [--data DIR] [--keep-float NODE,NODE] [--method auto|minmax|percentile|mse|entropy]
                    [--percentile P] [--no-bias-correction] [--max-loss POINTS] [--json]
                                            post-training quantization: int8 (activations calibrated on
                                            the images in DIR; ranges per layer by the error they cause,
                                            --method auto) or float16; prints sizes, and accuracies
                                            before / after on a labelled folder (--data); --max-loss keeps
                                            the costliest layers float until int8 is within POINTS of
                                            float on --data (or agrees with it on the calibration images)
  edgegrad prune MODEL --sparsity 0.7 --data DIR|FILE.json|digits --out OUT.onnx [--method magnitude|obd]
                 [--scope layer|global] [--epochs 2] [--lr 0.0003] [--batch 32] [--val 0.2] [--samples 1024]
                 [--json]               unstructured pruning of the dense and conv kernels in one shot, then
                                            recovery fine-tuning with the masks held; prints accuracy before,
                                            after pruning and after recovery on held-out data, and sparsity
                                            per layer ('digits': the shipped digits, README split)
  edgegrad prune MODEL --structured (--flops 0.5 | --sparsity 0.3) --data ... --out OUT.onnx
                 [--criterion taylor|l1] [--allocation uniform|sensitivity] [--multiple-of 8] [--epochs ...]
                                            structured pruning: whole channels removed and the layers that read
                                            them shrunk, to a fraction of the FLOPs (or --sparsity: of each
                                            layer's channels); a smaller, faster model, then recovery
  edgegrad distill TEACHER --student mlp-small|cnn-small|LAYERS.json|STUDENT.onnx --data DIR|FILE.json|digits
                   --out OUT.onnx [--temperature 4] [--alpha 0.9] [--epochs 10] [--labels N] [--lr 0.001]
                   [--batch 32] [--val 0.2] [--json]
                                            knowledge distillation: the student trained on the teacher's
                                            softened outputs (and the labels of N examples, all by default;
                                            the rest count as unlabelled); prints both accuracies on
                                            held-out data ('digits': the shipped digits, README split)
  edgegrad bench [MODEL] [--batch 1] [--runs 20] [--profile] [--json]
                                            inference time of MODEL, or GEMM / conv kernel speed
info, predict, finetune and bench take --backend wasm|webgpu|auto (default wasm): where they run; info's summary
says where each node runs there (quantize, distill, prune and finetune --cut auto run on wasm).
MODEL is an .onnx file or a TensorFlow.js model.json (shards beside it).
Exit codes: 0 done, 1 bad input (files, names, shapes), 2 bad usage.`;

class UsageError extends Error {}

/** --out is checked before any work: its folder exists and is writable, and it is not a folder itself. */
async function checkOut(path: string): Promise<void> {
  const spec = 'node:fs/promises';
  const fs = (await import(spec)) as { access(p: string, mode: number): Promise<void>; stat(p: string): Promise<{ isDirectory(): boolean }> };
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  const dir = i < 0 ? '.' : path.slice(0, i) || '/';
  const st = await fs.stat(path).catch(() => undefined);
  if (st?.isDirectory()) throw new UsageError(`--out '${path}' is a folder: give a file name (e.g. ${path.replace(/[\\/]$/, '')}/model.onnx)`);
  try {
    await fs.access(dir, 2 /* W_OK */);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new UsageError(`--out '${path}': ${code === 'ENOENT' ? `the folder '${dir}' does not exist` : `cannot write in '${dir}' (${code ?? (e as Error).message})`}`);
  }
}

/** A .npy file (NumPy format 1.0/2.0, little-endian float32 or float64, C order) as a tensor. */
export function parseNpy(bytes: Uint8Array, where: string): eg.Tensor {
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  if (magic !== '\x93NUMPY') throw new Error(`${where}: not a .npy file (bad magic at offset 0)`);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const hstart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(hstart, hstart + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (fortran) throw new Error(`${where}: Fortran-order arrays are not supported (header at offset ${hstart})`);
  const sizes: Record<string, number> = { '<f4': 4, '<f8': 8, '<i4': 4, '<i8': 8 };
  if (!descr || !sizes[descr]) throw new Error(`${where}: dtype '${descr}' is not supported (float32 '<f4', float64 '<f8', int32 '<i4', int64 '<i8')`);
  const n = shape.reduce((a, b) => a * b, 1), size = sizes[descr], off = hstart + hlen;
  if (bytes.length - off !== n * size) throw new Error(`${where}: header says ${JSON.stringify(shape)} (${n * size} bytes) but ${bytes.length - off} bytes follow at offset ${off}`);
  const copy = bytes.slice(off);
  if (descr === '<i4') return eg.tensor(new Int32Array(copy.buffer), shape, 'int32');
  if (descr === '<i8') {
    // indices and ids: int32 inside, with a clear error where a value does not fit
    const v = new BigInt64Array(copy.buffer), out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      if (v[i] > 2147483647n || v[i] < -2147483648n) throw new Error(`${where}: int64 value ${v[i]} at index ${i} does not fit int32`);
      out[i] = Number(v[i]);
    }
    return eg.tensor(out, shape, 'int32');
  }
  const data = descr === '<f4' ? new Float32Array(copy.buffer) : Float32Array.from(new Float64Array(copy.buffer));
  return eg.tensor(data, shape);
}

async function loadInput(path: string, m: GraphModel): Promise<eg.Tensor> {
  if (path.endsWith('.npy') || path.endsWith('.json')) return loadArray(path);
  const bytes = await readBytes(path, 'input');
  if (IMAGE_EXT.test(path)) {
    const to = imageInput(m.inputShape, m.inputNchw);
    if (!to) throw new Error(`${path}: model '${m.name}' takes input [batch, ${m.inputShape.join(', ')}], not images`);
    const data = new Float32Array(to.h * to.w * to.c);
    fitPixels(decodeImage(bytes, path), to, data, 0);
    return eg.tensor(data, [1, ...m.inputShape]);
  }
  throw new Error(`${path}: unknown input format (use .png, .jpg, .npy or .json)`);
}

/**
 * predict MODEL INPUT, or predict MODEL --input NAME=FILE ... for several inputs. Each input without its
 * batch dimension gets one; each output is printed with its name (and the arg-max per row of a 2-d one).
 */
async function predictCmd(args: string[], json: boolean, out: (s: string) => void): Promise<void> {
  const pos: string[] = [], named: Array<[string, string]> = [];
  let top: number | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') {
      const v = args[++i];
      top = Number(v);
      if (!(Number.isInteger(top) && top >= 1)) throw new UsageError(`--top needs a positive integer, got '${v ?? ''}'`);
      continue;
    }
    if (args[i] !== '--input') { pos.push(args[i]); continue; }
    const v = args[++i] ?? '', eq = v.indexOf('=');
    if (eq < 1) throw new UsageError(`--input needs NAME=FILE, got '${v}'`);
    named.push([v.slice(0, eq), v.slice(eq + 1)]);
  }
  if (pos.length !== (named.length ? 1 : 2)) throw new UsageError(named.length ? 'predict with --input takes only MODEL before them' : 'predict takes MODEL and INPUT (or MODEL --input NAME=FILE ...)');
  const m = await eg.loadModel(pos[0]);
  // on a GPU (--backend webgpu) the inputs are read and shaped on wasm, then copied there; outputs come back
  const be = await eg.ready(readyOptions), onGpu = !be.syncRead;
  if (onGpu) await eg.ready({ backend: 'wasm' });
  const names = m.inputNames, spec = m.boundary.inputs;
  if (!named.length && names.length > 1) throw new UsageError(`model '${m.name}' has ${names.length} inputs (${names.join(', ')}): give each with --input NAME=FILE`);
  for (const [n] of named) if (!names.includes(n)) throw new Error(`model '${m.name}' has no input '${n}' (inputs: ${names.join(', ')})`);
  const missing = names.filter((n) => named.length && !named.some(([k]) => k === n));
  if (missing.length) throw new Error(`model '${m.name}' needs --input for ${missing.join(', ')}`);
  const files = named.length ? names.map((n) => named.find(([k]) => k === n)![1]) : [pos[1]];
  const xs = await Promise.all(files.map(async (f, k) => {
    let x = names.length === 1 ? await loadInput(f, m) : await loadArray(f);
    // one example without its batch dimension gets one
    if (x.rank === spec[k].shape.length) x = x.reshape([1, ...x.shape]);
    // integer inputs from JSON arrays
    if (spec[k].dtype === 'int32' && x.dtype !== 'int32') x = eg.tensor(Int32Array.from(x.dataSync(), (v) => Math.round(v)), x.shape, 'int32');
    return x;
  }));
  if (onGpu) {
    await eg.ready(readyOptions);
    for (let k = 0; k < xs.length; k++) xs[k] = await xs[k].copyTo(be.name);
  }
  const res = m.predict(names.length === 1 ? xs[0] : xs);
  const ys = await Promise.all((res instanceof eg.Tensor ? [res] : Array.isArray(res) ? res : Object.values(res)).map((y) => y.copyTo('wasm')));
  const classNames = m.classNames;
  const report = ys.map((y, k) => {
    const rows = y.arraySync() as number[][];
    const argmax = y.rank === 2 ? rows.map((r) => r.indexOf(Math.max(...r))) : undefined;
    // a classifier's first output: its most likely classes, by name where the model stores them
    const names = k === 0 && classNames?.length === y.shape[1] ? classNames : undefined;
    const ranked = y.rank === 2 && (top !== undefined || names) ? topClasses(rows, Math.min(top ?? 3, y.shape[1]), names) : undefined;
    return { name: m.outputNames[k], shape: y.shape, output: rows, argmax, top: ranked };
  });
  if (json) {
    const one = report[0];
    out(JSON.stringify(report.length === 1 ? { shape: one.shape, output: one.output, argmax: one.argmax, ...(one.top ? { top: one.top } : {}), ...(classNames ? { classes: classNames } : {}) } : { outputs: report }));
    return;
  }
  for (const r of report) {
    if (r.top) {
      out(`${report.length > 1 ? `${r.name}: ` : ''}output ${JSON.stringify(r.shape)}, ${r.top[0].length} most likely per row:`);
      r.top.forEach((row, i) => out(`  ${r.top!.length > 1 ? `${i}: ` : ''}${row.map((c) => `${c.class} ${(c.probability * 100).toFixed(1)}%`).join(', ')}`));
      continue;
    }
    out(`${report.length > 1 ? `${r.name}: ` : ''}output ${JSON.stringify(r.shape)}${r.argmax ? `, argmax per row: ${r.argmax.join(', ')}` : ''}\n${JSON.stringify(r.output)}`);
  }
}

/**
 * The k most likely classes of each row, with probabilities: the row itself where it already is a distribution
 * (a softmax output: values in [0, 1] summing to 1), else its softmax (logits). Named by `names` or the index.
 */
export function topClasses(rows: number[][], k: number, names?: readonly string[]): Array<Array<{ index: number; class: string; probability: number }>> {
  return rows.map((r) => {
    const sum = r.reduce((a, b) => a + b, 0);
    let p = r;
    if (!(r.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) < 1e-3)) {
      const mx = Math.max(...r), e = r.map((v) => Math.exp(v - mx)), z = e.reduce((a, b) => a + b, 0);
      p = e.map((v) => v / z);
    }
    return p.map((v, index) => ({ index, class: names?.[index] ?? String(index), probability: v }))
      .sort((a, b) => b.probability - a.probability || a.index - b.index).slice(0, k);
  });
}

/** A .npy or .json array file as a tensor (inputs that are not images). */
async function loadArray(path: string): Promise<eg.Tensor> {
  const bytes = await readBytes(path, 'input');
  if (path.endsWith('.npy')) return parseNpy(bytes, path);
  if (path.endsWith('.json')) {
    let v: unknown;
    try { v = JSON.parse(new TextDecoder().decode(bytes)); } catch (e) { throw new Error(`${path}: not valid JSON (${(e as Error).message})`); }
    return eg.tensor(v as eg.NestedArray);
  }
  throw new Error(`${path}: unknown input format for a model with several inputs (use .npy or .json)`);
}

/** Flags --name value (and boolean --name) after the positional arguments. */
function parseFlags(args: string[], known: Record<string, 'string' | 'number' | 'boolean'>): { pos: string[]; flags: Record<string, string | number | boolean> } {
  const pos: string[] = [], flags: Record<string, string | number | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) { pos.push(a); continue; }
    const name = a.slice(2), kind = known[name];
    if (!kind) throw new UsageError(`unknown option '${a}'${Object.keys(known).length ? ` (options: ${Object.keys(known).map((k) => `--${k}`).join(', ')})` : ''}`);
    if (kind === 'boolean') { flags[name] = true; continue; }
    const v = args[++i];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`option '${a}' needs a value`);
    if (kind === 'number') {
      const num = Number(v);
      if (!Number.isFinite(num)) throw new UsageError(`option '${a}' needs a number, got '${v}'`);
      flags[name] = num;
    } else flags[name] = v;
  }
  return { pos, flags };
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/**
 * A labelled set as JSON: { "x": examples in the model's input layout, "y": integer labels from 0,
 * "classes"?: names }. Image maps of an NCHW model come back NHWC (the layout the backbone takes as a layer).
 */
async function loadJsonData(path: string, inputShape: number[], nchw: boolean): Promise<{ x: eg.Tensor; y: eg.Tensor; classes: string[]; perClass: number[] }> {
  let j: { x?: unknown; y?: unknown; classes?: unknown };
  try { j = JSON.parse(new TextDecoder().decode(await readBytes(path, 'data'))); } catch (e) { throw new Error(`${path}: not valid JSON (${(e as Error).message})`); }
  if (!Array.isArray(j.x) || !Array.isArray(j.y)) throw new Error(`${path}: needs "x" (examples) and "y" (labels) arrays`);
  const x = eg.tensor(j.x as eg.NestedArray);
  if (x.rank !== inputShape.length + 1 || inputShape.some((d, i) => d !== x.shape[i + 1])) throw new Error(`${path}: "x" is ${JSON.stringify(x.shape)}, the model takes [n, ${inputShape.join(', ')}]`);
  const labels = j.y as unknown[];
  if (labels.length !== x.shape[0]) throw new Error(`${path}: ${x.shape[0]} examples but ${labels.length} labels`);
  const bad = labels.findIndex((l) => !Number.isInteger(l) || (l as number) < 0);
  if (bad >= 0) throw new Error(`${path}: label ${bad} is ${JSON.stringify(labels[bad])}, not a class index (0, 1, ...)`);
  const k = Math.max(...(labels as number[])) + 1;
  const classes = Array.isArray(j.classes) ? (j.classes as unknown[]).map(String) : Array.from({ length: k }, (_, i) => String(i));
  if (classes.length < Math.max(k, 2)) throw new Error(`${path}: ${classes.length} class name(s) for labels up to ${k - 1} (at least two classes)`);
  const perClass = classes.map((_, c) => (labels as number[]).filter((l) => l === c).length);
  let xs = x;
  if (nchw) {
    const [n, c, h, w] = x.shape, src = x.dataSync(), dst = new Float32Array(src.length);
    for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) dst[(i * h * w + p) * c + ch] = src[(i * c + ch) * h * w + p];
    xs = eg.tensor(dst, [n, h, w, c]);
    x.dispose();
  }
  return { x: xs, y: eg.tensor(Int32Array.from(labels as number[]), [labels.length], 'int32'), classes, perClass };
}

async function finetune(args: string[], json: boolean, out: (s: string) => void): Promise<void> {
  const { pos, flags } = parseFlags(args, { data: 'string', out: 'string', cut: 'string', epochs: 'number', lr: 'number', batch: 'number', val: 'number', fp16: 'boolean', seed: 'number', report: 'string', 'no-report': 'boolean', 'labels-curve': 'boolean', folds: 'number' });
  if (pos.length !== 1) throw new UsageError('finetune takes one MODEL');
  if (!flags.data) throw new UsageError('finetune needs --data DIR (one folder of images per class)');
  if (!flags.out) throw new UsageError('finetune needs --out OUT.onnx');
  await checkOut(flags.out as string);
  const epochs = (flags.epochs as number) ?? 10, lr = (flags.lr as number) ?? 1e-3, batchSize = (flags.batch as number) ?? 32;
  const valFrac = (flags.val as number) ?? 0.2, seed = (flags.seed as number) ?? 1;
  if (!Number.isInteger(epochs) || epochs < 1) throw new UsageError(`--epochs must be a positive integer, got ${epochs}`);
  if (!(lr > 0)) throw new UsageError(`--lr must be positive, got ${lr}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch must be a positive integer, got ${batchSize}`);
  if (!(valFrac >= 0 && valFrac < 1)) throw new UsageError(`--val must be in [0, 1), got ${valFrac}`);
  const auto = flags.cut === 'auto', folds = flags.folds as number | undefined;
  if (folds !== undefined && !auto) throw new UsageError('--folds cross-validates the cut sweep: give it with --cut auto');
  if (folds !== undefined && !(Number.isInteger(folds) && folds >= 2)) throw new UsageError(`--folds must be an integer >= 2, got ${folds}`);
  if (((auto && folds === undefined) || flags['labels-curve']) && !(valFrac > 0)) throw new UsageError(`${auto ? '--cut auto picks the cut' : '--labels-curve measures accuracy'} on the validation split: give --val > 0`);
  if (flags.report && flags['no-report']) throw new UsageError('give --report FILE or --no-report, not both');
  const reportPath = flags['no-report'] ? undefined : (flags.report as string | undefined) ?? `${(flags.out as string).replace(/\.onnx$/i, '')}.report.html`;
  if (reportPath) await checkOut(reportPath);
  const t0 = performance.now();
  const base = await eg.loadModel(pos[0]);
  // a named cut is checked before the data loads (cut names the nodes near a wrong one)
  if (flags.cut && !auto) base.cut(flags.cut as string).dispose();
  const dir = flags.data as string;
  // the backbone runs as a layer, which takes NHWC whatever its file's boundary
  const nchw = base.inputNchw && base.inputShape.length === 3;
  const layerShape = nchw ? [base.inputShape[1], base.inputShape[2], base.inputShape[0]] : base.inputShape;
  let ds: { x: eg.Tensor; y: eg.Tensor; classes: string[]; perClass: number[] };
  if (await isFolder(dir)) {
    const to = imageInput(base.inputShape, base.inputNchw);
    if (!to) throw new Error(`${pos[0]}: model '${base.name}' takes input [batch, ${base.inputShape.join(', ')}], not images: give --data a .json file`);
    let loadBar: Progress | undefined;
    ds = await loadImageFolder(dir, { ...to, nchw: false }, (d, n) => { (loadBar ??= new Progress('images  ', n)).update(d); });
  } else if (dir.endsWith('.json')) {
    ds = await loadJsonData(dir, base.inputShape, nchw);
  } else {
    throw new Error(`${dir}: --data must be a folder with one sub-folder of images per class, or a .json file { "x": [...], "y": [...] }`);
  }
  // shuffle once (the folder is sorted by class) so the validation rows cover every class
  const order = eg.data.permutation(ds.x.shape[0], seed);
  const x = eg.data.gather(ds.x, order), y = eg.data.gather(ds.y, order);
  ds.x.dispose(); ds.y.dispose();
  // --cut auto: the same softmax head on each candidate cut's frozen features, scored on the validation split
  let sweep: eg.CutSweep | undefined;
  if (auto) {
    const xb = nchw ? nhwcToNchw(x) : x; // the sweep feeds the model as its file lays out inputs
    let bar: Progress | undefined;
    const cands = await eg.transfer.cutCandidates(base);
    if (!cands.length) throw new Error(`--cut auto: model '${base.name}' has no candidate cut (no block boundary before its output)`);
    // with --folds, over the training examples only: the validation split stays unseen by the choice
    const nt = x.shape[0] - Math.floor(x.shape[0] * valFrac);
    const [xs, ys] = folds ? [eg.data.slice(xb, 0, nt), eg.data.slice(y, 0, nt)] : [xb, y];
    sweep = await eg.transfer.sweepCuts(base, xs, ys, {
      candidates: cands, ...(folds ? { folds } : { validationSplit: valFrac }), epochs, learningRate: lr, batchSize, seed,
      onCut: (row, d, total) => { if (!json) (bar ??= new Progress('cuts    ', total)).update(d, `${row.cut}: ${pct(row.valAccuracy)}`); },
    });
    if (xs !== xb) { xs.dispose(); ys.dispose(); }
    if (xb !== x) xb.dispose();
  }
  const cutAt = auto ? sweep!.best.cut : (flags.cut as string | undefined);
  const backbone = (cutAt ? base.cut(cutAt) : base).freeze();
  const probe = eg.sequential([backbone]).predict(eg.zeros([1, ...layerShape]));
  const featureRank = probe.rank;
  probe.dispose();
  const layers: Array<eg.Layer | GraphModel> = [backbone];
  // the head the sweep scored at the chosen cut; else global average pooling over maps, flatten otherwise
  const pool = sweep ? sweep.best.pool : featureRank === 4 ? 'gap' : featureRank > 2 ? 'flatten' : 'none';
  if (pool === 'gap') layers.push(eg.layers.globalAveragePooling2d({ name: 'new_pool' }));
  else if (pool === 'flatten') layers.push(eg.layers.flatten({ name: 'new_flatten' }));
  layers.push(eg.layers.dense({ name: 'new_head', units: ds.classes.length, activation: 'softmax', seed }));
  const model = eg.sequential({ name: `${base.name.replace(/\W+/g, '_')}_finetuned`, layers });
  model.compile({ optimizer: eg.optimizers.adam({ learningRate: lr }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const n = x.shape[0], nVal = Math.floor(n * valFrac), steps = Math.ceil((n - nVal) / batchSize) * epochs;
  let featBar: Progress | undefined, trainBar: Progress | undefined, step = 0, epoch = 0, last = '';
  const tTrain = performance.now();
  const h = await model.fit(x, y, {
    epochs, batchSize, seed, validationSplit: valFrac || undefined,
    callbacks: [{
      onFeaturesProgress: (d, total) => { (featBar ??= new Progress('features', total)).update(d); },
      onEpochBegin: (e) => { epoch = e; },
      onBatchEnd: (_b, logs) => { step++; (trainBar ??= new Progress('training', steps)).update(step, `epoch ${epoch + 1}/${epochs}  loss ${logs.loss.toFixed(4)}${last}`); },
      onEpochEnd: (_e, logs) => { last = `  accuracy ${pct(logs.accuracy)}${logs.val_accuracy !== undefined ? `  val ${pct(logs.val_accuracy)}` : ''}`; },
    }],
  });
  const trainSeconds = (performance.now() - tTrain) / 1000;
  const outPath = flags.out as string;
  // the class names travel in the file (metadata_props 'edgegrad.classes'): predict and info print them
  model.classNames = ds.classes;
  await model.save(outPath, { weights: flags.fp16 ? 'float16' : 'float32' });
  const fin = (k: string) => h.history[k]?.at(-1);
  // the report: curves per epoch, the confusion matrix on the validation split (the training set without one)
  let confusion: number[][] | undefined, curve: eg.LabelsCurvePoint[] | undefined;
  if (reportPath || flags['labels-curve']) {
    const xv = eg.data.slice(x, nVal ? n - nVal : 0), yv = eg.data.slice(y, nVal ? n - nVal : 0);
    confusion = await eg.confusionMatrix(model, xv, yv);
    if (flags['labels-curve']) {
      // the same head on features computed once, with the first k training examples of each class
      const fe = eg.sequential({ name: 'features', layers: [backbone] });
      const xt = eg.data.slice(x, 0, n - nVal), yt = eg.data.slice(y, 0, n - nVal);
      const f = fe.predict(xt, { batchSize: 32 }), vf = fe.predict(xv, { batchSize: 32 });
      curve = await eg.transfer.labelsCurve(f, yt, vf, yv, { pool: pool === 'gap' ? 'gap' : 'flatten', epochs, learningRate: lr, batchSize, seed });
      [f, vf, xt, yt].forEach((t) => t.dispose());
    }
    xv.dispose(); yv.dispose();
  }
  if (reportPath) {
    const spec = 'node:fs/promises';
    const fs = (await import(spec)) as { writeFile(p: string, d: string): Promise<void> };
    await fs.writeFile(reportPath, await eg.report.html({
      title: `Fine-tuning ${pos[0]}`,
      details: [
        ['model', `${pos[0]}${cutAt ? ` cut at '${cutAt}'${auto ? ' (--cut auto)' : ''}` : ''}, frozen; new ${pool === 'gap' ? 'global average pooling + ' : pool === 'flatten' ? 'flatten + ' : ''}softmax head`],
        ['data', `${dir}: ${n - nVal} training, ${nVal} validation examples`],
        ['classes', ds.classes.map((c, i) => `${c} (${ds.perClass[i]})`).join(', ')],
        ['training', `${h.epoch.length} epochs, Adam at ${lr}, batch ${batchSize}; ${trainSeconds.toFixed(1)} s`],
        ['written', outPath],
      ],
      history: h,
      confusion: confusion && { matrix: confusion, classNames: ds.classes, what: nVal ? `${nVal} validation examples` : 'the training examples (no validation split)' },
      labelsCurve: curve,
      sweep: sweep?.rows,
    }));
  }
  const result = {
    model: pos[0], cut: cutAt ?? null, out: outPath, classes: ds.classes, perClass: ds.perClass, train: n - nVal, validation: nVal,
    epochs: h.epoch.length, loss: fin('loss'), accuracy: fin('accuracy'), valAccuracy: fin('val_accuracy') ?? null,
    cachedFeatures: h.cachedFeatures ?? null, trainSeconds: +trainSeconds.toFixed(2), totalSeconds: +((performance.now() - t0) / 1000).toFixed(2),
    report: reportPath ?? null, confusion: confusion ?? null, ...(sweep ? { sweep: sweep.rows } : {}), ...(curve ? { labelsCurve: curve } : {}),
  };
  if (json) { out(JSON.stringify(result)); return; }
  out('');
  if (sweep) {
    out(`  cut sweep    ${sweep.rows.length} cuts, the same softmax head on each (${sweep.folds ? `${sweep.folds}-fold cross-validation over ${sweep.validation} training examples` : `${sweep.train} training, ${sweep.validation} validation examples`}), best first:`);
    out(`    ${'cut'.padEnd(36)} ${'features'.padStart(12)} ${'head params'.padStart(11)} ${'val accuracy'.padStart(12)} ${'time'.padStart(8)}`);
    for (const r of sweep.rows) out(`    ${r.cut.slice(0, 36).padEnd(36)} ${r.featureShape.join('x').padStart(12)} ${String(r.params).padStart(11)} ${pct(r.valAccuracy).padStart(12)} ${`${r.seconds.toFixed(1)} s`.padStart(8)}`);
  }
  out(`  classes      ${ds.classes.map((c, i) => `${c} (${ds.perClass[i]})`).join(', ')}`);
  out(`  examples     ${result.train} training, ${nVal} validation`);
  out(`  backbone     ${pos[0]}${cutAt ? ` cut at '${cutAt}'${auto ? ' (best of the sweep)' : ''}` : ''}, frozen${h.cachedFeatures ? `; features ${JSON.stringify(h.cachedFeatures.shape)} computed once and cached` : ''}`);
  out(`  accuracy     ${pct(result.accuracy!)} training${result.valAccuracy !== null ? `, ${pct(result.valAccuracy)} validation` : ''} after ${result.epochs} epochs (loss ${result.loss!.toFixed(4)})`);
  out(`  time         ${trainSeconds.toFixed(1)} s training, ${result.totalSeconds.toFixed(1)} s in all`);
  if (curve) out(`  labels curve ${curve.map((p) => `${p.labels}/class ${pct(p.accuracy)}`).join(', ')} (validation)`);
  out(`  written      ${outPath} (ONNX${flags.fp16 ? ', float16 weights' : ''}; class names in its metadata)`);
  if (reportPath) out(`  report       ${reportPath} (curves, confusion matrix${curve ? ', accuracy vs labels' : ''}${sweep ? ', cut sweep' : ''})`);
}

/**
 * The student for `distill --student SPEC`: a built-in ('mlp-small': flatten, dense 32 relu, dense softmax;
 * 'cnn-small': conv 8 + pool, conv 16 + pool, flatten, dense softmax), a .json file with an array of layer
 * specs as the worker takes them ([{ "dense": { "units": 32, "activation": "relu" } }, ...]; the first gets the
 * teacher's input shape), or an .onnx / model.json file whose weights all train.
 */
async function distillStudent(spec: string, inputShape: number[], classes: number, seed: number): Promise<eg.Sequential> {
  const head = () => eg.layers.dense({ name: 'student_out', units: classes, activation: 'softmax', seed: seed + 9 });
  if (spec === 'mlp-small') {
    return eg.sequential({ name: 'student', layers: [eg.layers.flatten({ inputShape }), eg.layers.dense({ units: 32, activation: 'relu', seed }), head()] });
  }
  if (spec === 'cnn-small') {
    if (inputShape.length !== 3) throw new Error(`--student cnn-small takes images; the teacher's input is [batch, ${inputShape.join(', ')}]`);
    return eg.sequential({
      name: 'student',
      layers: [
        eg.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', inputShape, seed }), eg.layers.maxPool2d({ poolSize: 2 }),
        eg.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', seed: seed + 1 }), eg.layers.maxPool2d({ poolSize: 2 }),
        eg.layers.flatten(), head(),
      ],
    });
  }
  if (spec.endsWith('.json') && !spec.endsWith('model.json')) {
    let specs: unknown;
    try { specs = JSON.parse(new TextDecoder().decode(await readBytes(spec, 'student'))); } catch (e) { throw new Error(`${spec}: not valid JSON (${(e as Error).message})`); }
    if (!Array.isArray(specs) || !specs.length) throw new Error(`${spec}: needs an array of layer specs, e.g. [{ "flatten": {} }, { "dense": { "units": ${classes}, "activation": "softmax" } }]`);
    const factories = eg.layers as unknown as Record<string, (c: Record<string, unknown>) => eg.Layer>;
    const layers = specs.map((s: unknown, i: number) => {
      const keys = s && typeof s === 'object' && !Array.isArray(s) ? Object.keys(s) : [];
      if (keys.length !== 1 || typeof factories[keys[0]] !== 'function') {
        throw new Error(`${spec}: layer ${i} must be { <name>: config } with a name of eg.layers (${Object.keys(factories).join(', ')}), got ${JSON.stringify(s)}`);
      }
      const cfg = { ...((s as Record<string, Record<string, unknown>>)[keys[0]] ?? {}) };
      if (i === 0 && cfg.inputShape === undefined) cfg.inputShape = inputShape;
      return factories[keys[0]](cfg);
    });
    return eg.sequential({ name: 'student', layers });
  }
  if (spec.endsWith('.onnx') || spec.endsWith('.json')) {
    const m = await eg.loadModel(spec);
    m.single('distill (student)');
    return eg.sequential({ name: m.name.replace(/\W+/g, '_'), layers: [m] });
  }
  throw new UsageError(`--student must be 'mlp-small', 'cnn-small', a .json file of layer specs, or an .onnx / model.json file; got '${spec}'`);
}

/** distill TEACHER --student SPEC --data DIR|FILE.json|digits --out OUT.onnx: a small student trained on the teacher's softened outputs. */
async function distillCmd(args: string[], json: boolean, out: (s: string) => void): Promise<void> {
  const { pos, flags } = parseFlags(args, { student: 'string', data: 'string', out: 'string', temperature: 'number', alpha: 'number', epochs: 'number', lr: 'number', batch: 'number', val: 'number', labels: 'number', seed: 'number' });
  if (pos.length !== 1) throw new UsageError('distill takes one TEACHER model');
  if (!flags.student) throw new UsageError("distill needs --student SPEC ('mlp-small', 'cnn-small', LAYERS.json or STUDENT.onnx)");
  if (!flags.data) throw new UsageError("distill needs --data DIR (one folder of images per class), FILE.json or 'digits'");
  if (!flags.out) throw new UsageError('distill needs --out OUT.onnx');
  const temperature = (flags.temperature as number) ?? 4, alpha = (flags.alpha as number) ?? 0.9, epochs = (flags.epochs as number) ?? 10;
  const lr = (flags.lr as number) ?? 1e-3, batchSize = (flags.batch as number) ?? 32, val = (flags.val as number) ?? 0.2, seed = (flags.seed as number) ?? 1;
  if (!(temperature > 0)) throw new UsageError(`--temperature must be > 0, got ${temperature}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new UsageError(`--alpha must be in [0, 1], got ${alpha}`);
  if (!Number.isInteger(epochs) || epochs < 1) throw new UsageError(`--epochs must be a positive integer, got ${epochs}`);
  if (!(lr > 0)) throw new UsageError(`--lr must be positive, got ${lr}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch must be a positive integer, got ${batchSize}`);
  if (!(val > 0 && val < 1)) throw new UsageError(`--val must be in (0, 1), got ${val}`);
  if (flags.labels !== undefined && !(Number.isInteger(flags.labels) && (flags.labels as number) >= 0)) throw new UsageError(`--labels must be an integer >= 0, got ${flags.labels}`);
  await checkOut(flags.out as string);
  const t0 = performance.now();
  const teacher = await eg.loadModel(pos[0]);
  teacher.single('distill');
  const nchw = teacher.inputNchw && teacher.inputShape.length === 3;
  // the teacher and the student run as layers, on NHWC images (the teacher's file may be NCHW)
  const layerShape = nchw ? [teacher.inputShape[1], teacher.inputShape[2], teacher.inputShape[0]] : teacher.inputShape;
  const probe = teacher.predict(eg.zeros([1, ...teacher.inputShape])) as eg.Tensor;
  if (probe.rank !== 2) throw new Error(`teacher '${teacher.name}' gives [batch, ${probe.shape.slice(1).join(', ')}]; distill takes classifiers that give [batch, classes]`);
  const classes = probe.shape[1];
  probe.dispose();
  // the data: the training part (the first `--labels` keep their labels, the rest train on the teacher alone) and held-out examples
  const src = flags.data as string;
  let train: { x: eg.Tensor; y: eg.Tensor }, test: { x: eg.Tensor; y: eg.Tensor }, what: string;
  if (src === 'digits') {
    if (layerShape.join(',') !== '28,28,1') throw new Error(`--data digits: teacher '${teacher.name}' takes [batch, ${teacher.inputShape.join(', ')}], not 28x28 grayscale digits`);
    if (classes > 10) throw new Error(`--data digits: teacher '${teacher.name}' has ${classes} outputs, the digits have 10 classes`);
    const d = await eg.data.loadDigits();
    // the README's split: the first 8,000 train, the last 2,000 test (the digits below `classes`)
    const pick = (from: number, to: number) => { const idx: number[] = []; for (let n = from; n < to; n++) if (d.labels[n] < classes) idx.push(n); return idx; };
    const take = (idx: number[]) => ({ x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [idx.length], 'int32') });
    train = take(pick(0, 8000)); test = take(pick(8000, d.count));
    what = `the shipped digits 0-${classes - 1}: ${train.y.shape[0]} training (of the first 8,000), ${test.y.shape[0]} test (of the last 2,000)`;
  } else {
    let ds: { x: eg.Tensor; y: eg.Tensor; classes: string[] };
    if (await isFolder(src)) {
      const to = imageInput(teacher.inputShape, teacher.inputNchw);
      if (!to) throw new Error(`teacher '${teacher.name}' takes input [batch, ${teacher.inputShape.join(', ')}], not images: give --data a .json file`);
      let loadBar: Progress | undefined;
      ds = await loadImageFolder(src, { ...to, nchw: false }, (d, n) => { if (!json) (loadBar ??= new Progress('images  ', n)).update(d); });
    } else if (src.endsWith('.json')) {
      ds = await loadJsonData(src, teacher.inputShape, nchw);
    } else {
      throw new Error(`${src}: --data must be 'digits', a folder with one sub-folder of images per class, or a .json file { "x": [...], "y": [...] }`);
    }
    if (ds.classes.length !== classes) throw new Error(`${src}: ${ds.classes.length} classes (${ds.classes.join(', ')}), teacher '${teacher.name}' has ${classes} outputs`);
    const n = ds.x.shape[0], nTest = Math.floor(n * val);
    if (nTest < 1 || nTest >= n) throw new UsageError(`--val ${val} of ${n} examples leaves no test or no training data`);
    // shuffled once (a folder is sorted by class) so the held-out part covers every class
    const order = eg.data.permutation(n, seed), x = eg.data.gather(ds.x, order), y = eg.data.gather(ds.y, order);
    train = { x: eg.data.slice(x, 0, n - nTest), y: eg.data.slice(y, 0, n - nTest) };
    test = { x: eg.data.slice(x, n - nTest), y: eg.data.slice(y, n - nTest) };
    what = `${src}: ${n - nTest} training, ${nTest} held out (--val ${val})`;
  }
  const nTrain = train.x.shape[0], nLab = Math.min((flags.labels as number | undefined) ?? nTrain, nTrain);
  // with --labels N, N examples spread over the classes (the first of each in turn) keep their labels
  const yv = train.y.dataSync(), byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < nTrain; i++) byClass[yv[i]].push(i);
  const lab: number[] = [];
  for (let k = 0; lab.length < nLab; k++) for (const c of byClass) if (k < c.length && lab.length < nLab) lab.push(c[k]);
  const isLab = new Set(lab), unl = Array.from({ length: nTrain }, (_, i) => i).filter((i) => !isLab.has(i));
  const student = await distillStudent(flags.student as string, layerShape, classes, seed);
  student.compile({ optimizer: eg.optimizers.adam({ learningRate: lr }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  // the teacher's accuracy from its arg-max (it may give logits or probabilities), on NHWC images as a layer
  const tOut = eg.sequential({ name: 'teacher', layers: [teacher] }).predict(test.x, { batchSize: 64 }).dataSync(), tl = test.y.dataSync();
  let hits = 0;
  for (let i = 0; i < tl.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (tOut[i * classes + c] > tOut[i * classes + best]) best = c;
    if (best === tl[i]) hits++;
  }
  const teacherAcc = hits / tl.length;
  const xl = eg.data.gather(train.x, lab), yl = eg.data.gather(train.y, lab);
  const xu = unl.length ? eg.data.gather(train.x, unl) : undefined;
  const steps = Math.ceil(nTrain / batchSize) * epochs;
  let bar: Progress | undefined, step = 0, epoch = 0, last = '';
  const tTrain = performance.now();
  const h = await eg.distill(student, teacher, xl, lab.length ? yl : undefined, {
    temperature, alpha, epochs, batchSize, seed, unlabeled: xu, validationData: [test.x, test.y],
    callbacks: [{
      onEpochBegin: (e) => { epoch = e; },
      onBatchEnd: (_b, logs) => { step++; if (!json) (bar ??= new Progress('distill ', steps)).update(step, `epoch ${epoch + 1}/${epochs}  loss ${logs.loss.toFixed(4)}${last}`); },
      onEpochEnd: (_e, logs) => { last = `  held-out ${pct(logs.val_accuracy)}`; },
    }],
  });
  const trainSeconds = (performance.now() - tTrain) / 1000;
  const outPath = flags.out as string;
  await student.save(outPath);
  const result = {
    teacher: pos[0], student: flags.student, out: outPath, data: what, labelled: lab.length, unlabeled: unl.length, temperature, alpha, epochs: h.epoch.length,
    params: { teacher: teacher.countParams(), student: student.countParams() }, accuracy: { teacher: teacherAcc, student: h.history.val_accuracy.at(-1)!, test: test.y.shape[0] },
    teacherCached: h.teacherCached, trainSeconds: +trainSeconds.toFixed(2), totalSeconds: +((performance.now() - t0) / 1000).toFixed(2),
  };
  if (json) { out(JSON.stringify(result)); return; }
  out('');
  out(`  data         ${what}; ${lab.length} labelled, ${unl.length} unlabelled (the teacher's outputs alone)`);
  out(`  teacher      ${pos[0]}: ${result.params.teacher} params, ${pct(teacherAcc)} held-out${h.teacherCached ? '; logits computed once and cached' : ''}`);
  out(`  student      ${flags.student}: ${result.params.student} params (${pct(result.params.student / result.params.teacher)} of the teacher's), ${pct(result.accuracy.student)} held-out after ${result.epochs} epochs (T ${temperature}, alpha ${alpha})`);
  out(`  time         ${trainSeconds.toFixed(1)} s distilling, ${result.totalSeconds.toFixed(1)} s in all`);
  out(`  written      ${outPath} (ONNX)`);
}

/**
 * Labels of a folder of class folders for a model that already has outputs: a folder is the output of its
 * name among the model's class names, or of its number (folders 0, 1, ..., 10: not their sorted order);
 * otherwise the folders' sorted order, and `note` says so (a wrong mapping would only show as low accuracy).
 */
function labelsForModel<D extends { y: eg.Tensor; classes: string[] }>(ds: D, m: GraphModel, src: string): D & { note?: string } {
  const names = m.classNames;
  let to: number[];
  if (names) {
    to = ds.classes.map((c) => {
      const k = names.indexOf(c);
      if (k < 0) throw new Error(`${src}/${c}: not one of model '${m.name}''s classes (${names.join(', ')})`);
      return k;
    });
  } else if (ds.classes.every((c) => /^\d+$/.test(c))) {
    to = ds.classes.map(Number);
  } else {
    return { ...ds, note: `class folders taken as outputs 0-${ds.classes.length - 1} in sorted order (${ds.classes.join(', ')}): model '${m.name}' has no class names` };
  }
  const y = ds.y.dataSync();
  return { ...ds, y: eg.tensor(Int32Array.from(y, (v) => to[v]), ds.y.shape, 'int32') };
}

async function quantizeCmd(args: string[], json: boolean, out: (s: string) => void): Promise<void> {
  const { pos, flags } = parseFlags(args, { int8: 'boolean', fp16: 'boolean', out: 'string', calibration: 'string', 'weights-only': 'boolean', data: 'string', 'keep-float': 'string', percentile: 'number', samples: 'number', method: 'string', 'no-bias-correction': 'boolean', 'max-loss': 'number' });
  if (pos.length !== 1) throw new UsageError('quantize takes one MODEL');
  if (!!flags.int8 === !!flags.fp16) throw new UsageError('quantize needs exactly one of --int8 and --fp16');
  if (!flags.out) throw new UsageError('quantize needs --out OUT.onnx');
  await checkOut(flags.out as string);
  const weightsOnly = !!flags['weights-only'];
  if (flags.int8 && !weightsOnly && !flags.calibration) throw new UsageError('--int8 needs --calibration DIR (images like the ones the model will see), or --weights-only');
  const t0 = performance.now();
  const m = await eg.loadModel(pos[0]);
  const to = imageInput(m.inputShape, m.inputNchw);
  const calibration = flags.calibration ? await (async () => {
    if (!to) throw new Error(`${pos[0]}: model '${m.name}' takes input [batch, ${m.inputShape.join(', ')}], not images: calibration from a folder needs an image model`);
    return loadImages(flags.calibration as string, to, (flags.samples as number) ?? 256);
  })() : undefined;
  const method = (flags.method as string | undefined) ?? (flags.percentile !== undefined ? 'percentile' : 'auto');
  if (!['auto', 'minmax', 'percentile', 'mse', 'entropy'].includes(method)) throw new UsageError(`--method must be auto, minmax, percentile, mse or entropy, got '${method}'`);
  const maxLoss = flags['max-loss'] as number | undefined;
  if (maxLoss !== undefined && (flags.fp16 || weightsOnly)) throw new UsageError('--max-loss measures int8 activations: it needs --int8 without --weights-only');
  // labelled images: accuracies before / after, and what --max-loss measures
  const ds = flags.data ? await (async () => {
    if (!to) throw new Error(`${pos[0]}: model '${m.name}' takes no images: --data needs an image model`);
    return labelsForModel(await loadImageFolder(flags.data as string, to), m, flags.data as string);
  })() : undefined;
  let bar: Progress | undefined;
  const q = await eg.quantize(m, {
    onProgress: (d, n) => { (bar ??= new Progress('calibrate', n)).update(d); },
    weights: flags.fp16 ? 'float16' : 'int8', activations: flags.fp16 || weightsOnly ? 'float32' : 'int8', calibration,
    method: method as eg.QuantizeOptions['method'], percentile: flags.percentile as number | undefined,
    biasCorrection: !flags['no-bias-correction'], maxLoss, data: maxLoss !== undefined && ds ? { x: ds.x, y: ds.y } : undefined,
    keepFloat: flags['keep-float'] ? String(flags['keep-float']).split(',').map((s) => s.trim()).filter(Boolean) : undefined,
  });
  const outPath = flags.out as string;
  await q.save(outPath);
  const before = (await readBytes(pos[0], 'model')).length, after = (await readBytes(outPath, 'model')).length;
  let acc: { before: number; after: number; examples: number } | undefined;
  if (ds) {
    const score = (model: GraphModel) => {
      const y = model.predict(ds.x).arraySync() as number[][], labels = ds.y.dataSync();
      return y.filter((r, i) => r.indexOf(Math.max(...r)) === labels[i]).length / labels.length;
    };
    acc = { before: score(m), after: score(q), examples: ds.x.shape[0] };
  }
  const nodes = q.quantization!.nodes;
  const result = {
    model: pos[0], out: outPath, weights: q.quantization!.weights, activations: q.quantization!.activations,
    bytes: { before, after, ratio: +(before / after).toFixed(2) }, accuracy: acc ? { ...acc, ...(ds?.note ? { note: ds.note } : {}) } : null,
    nodes, maxLoss: q.quantization!.maxLoss ?? null, seconds: +((performance.now() - t0) / 1000).toFixed(2),
  };
  if (json) { out(JSON.stringify(result)); return; }
  const kinds = (as: string) => nodes.filter((n) => n.as === as);
  out(`  quantized    ${q.quantization!.weights} weights, ${q.quantization!.activations} activations${calibration ? ` (calibrated on ${calibration.shape[0]} images)` : ''}`);
  out(`  size         ${(before / 1024).toFixed(1)} kB -> ${(after / 1024).toFixed(1)} kB (${result.bytes.ratio}x smaller)`);
  if (acc) out(`  accuracy     ${pct(acc.before)} -> ${pct(acc.after)} on ${acc.examples} labelled images${ds?.note ? ` (${ds.note})` : ''}`);
  const low = kinds(flags.fp16 ? 'float16' : 'int8');
  out(`  layers       ${low.length} of ${nodes.length} dense/conv layers ${flags.fp16 ? 'float16' : 'int8'}${kinds('float32').length ? `; float32: ${kinds('float32').map((n) => `${n.name} (${n.reason})`).slice(0, 4).join(', ')}${kinds('float32').length > 4 ? `, ... ${kinds('float32').length - 4} more` : ''}` : ''}`);
  const worst = nodes.filter((n) => n.error !== undefined).sort((a, b) => b.error! - a.error!).slice(0, 3);
  if (worst.length) out(`  layer error  ${worst.map((n) => `${n.name} ${(100 * n.error!).toFixed(2)}% (${n.method}${n.biasCorrected ? ', bias corrected' : ''})`).join(', ')}${nodes.filter((n) => n.error !== undefined).length > 3 ? ', ...' : ''}: ||int8 - float|| / ||float|| at the layer's output`);
  const ml = q.quantization!.maxLoss;
  if (ml) out(`  max loss     ${ml.limit} points (${ml.measure === 'accuracy' ? `accuracy on ${ml.examples} labelled images` : `top-class agreement with float on ${ml.examples} calibration images`}): all int8 ${ml.allInt8Drop.toFixed(2)}, now ${ml.drop.toFixed(2)}${ml.kept.length ? `; kept float: ${ml.kept.join(', ')}` : ''}`);
  out(`  written      ${outPath} (ONNX${flags.fp16 ? ', float16 weights' : ', QDQ'})`);
}

/**
 * Labelled data for prune: the shipped digits ('digits': the classes the model has, first 8,000 train and
 * last 2,000 test, as the README splits them), or a folder / .json shuffled once and split by `val`.
 * Inputs come in the layout the model takes as a layer (NHWC images).
 */
async function pruneData(src: string, m: GraphModel, classes: number, val: number, seed: number): Promise<{ train: { x: eg.Tensor; y: eg.Tensor }; test: { x: eg.Tensor; y: eg.Tensor }; what: string }> {
  const nchw = m.inputNchw && m.inputShape.length === 3;
  const layerShape = nchw ? [m.inputShape[1], m.inputShape[2], m.inputShape[0]] : m.inputShape;
  if (src === 'digits') {
    if (layerShape.join(',') !== '28,28,1') throw new Error(`--data digits: model '${m.name}' takes [batch, ${m.inputShape.join(', ')}], not 28x28 grayscale digits`);
    if (classes > 10) throw new Error(`--data digits: model '${m.name}' has ${classes} outputs, the digits have 10 classes`);
    const d = await eg.data.loadDigits();
    const pick = (from: number, to: number) => { const idx: number[] = []; for (let n = from; n < to; n++) if (d.labels[n] < classes) idx.push(n); return idx; };
    const take = (idx: number[]) => ({ x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [idx.length], 'int32') });
    const train = take(pick(0, 8000)), test = take(pick(8000, d.count));
    return { train, test, what: `the shipped digits 0-${classes - 1}: ${train.y.shape[0]} training (of the first 8,000), ${test.y.shape[0]} test (of the last 2,000)` };
  }
  let ds: { x: eg.Tensor; y: eg.Tensor; classes: string[] };
  if (await isFolder(src)) {
    const to = imageInput(m.inputShape, m.inputNchw);
    if (!to) throw new Error(`model '${m.name}' takes input [batch, ${m.inputShape.join(', ')}], not images: give --data a .json file`);
    ds = labelsForModel(await loadImageFolder(src, { ...to, nchw: false }), m, src);
  } else if (src.endsWith('.json')) {
    ds = await loadJsonData(src, m.inputShape, nchw);
  } else {
    throw new Error(`${src}: --data must be 'digits', a folder with one sub-folder of images per class, or a .json file { "x": [...], "y": [...] }`);
  }
  if (ds.classes.length !== classes) throw new Error(`${src}: ${ds.classes.length} classes (${ds.classes.join(', ')}), model '${m.name}' has ${classes} outputs`);
  const n = ds.x.shape[0], nTest = Math.floor(n * val);
  if (nTest < 1 || nTest >= n) throw new UsageError(`--val ${val} of ${n} examples leaves no test or no training data`);
  const order = eg.data.permutation(n, seed), x = eg.data.gather(ds.x, order), y = eg.data.gather(ds.y, order);
  return { train: { x: eg.data.slice(x, 0, n - nTest), y: eg.data.slice(y, 0, n - nTest) }, test: { x: eg.data.slice(x, n - nTest), y: eg.data.slice(y, n - nTest) }, what: `${src}: ${n - nTest} training, ${nTest} held out (--val ${val})` };
}

async function pruneCmd(args: string[], json: boolean, out: (s: string) => void): Promise<void> {
  const { pos, flags } = parseFlags(args, {
    sparsity: 'number', data: 'string', out: 'string', method: 'string', scope: 'string', epochs: 'number', lr: 'number', batch: 'number', val: 'number', samples: 'number', seed: 'number',
    structured: 'boolean', flops: 'number', criterion: 'string', allocation: 'string', 'multiple-of': 'number',
  });
  if (pos.length !== 1) throw new UsageError('prune takes one MODEL');
  if (flags.structured) { await pruneStructuredCmd(pos[0], flags, json, out); return; }
  for (const f of ['flops', 'criterion', 'allocation', 'multiple-of']) if (flags[f] !== undefined) throw new UsageError(`--${f} is an option of structured pruning: add --structured`);
  if (flags.sparsity === undefined) throw new UsageError('prune needs --sparsity S (the share of dense and conv weights to remove, in [0, 1))');
  if (!flags.data) throw new UsageError("prune needs --data DIR (one folder of images per class), FILE.json or 'digits'");
  if (!flags.out) throw new UsageError('prune needs --out OUT.onnx');
  const sparsity = flags.sparsity as number, method = (flags.method as string) ?? 'magnitude';
  if (!(sparsity >= 0 && sparsity < 1)) throw new UsageError(`--sparsity must be in [0, 1), got ${sparsity}`);
  if (method !== 'magnitude' && method !== 'obd') throw new UsageError(`--method must be 'magnitude' or 'obd', got '${method}'`);
  const scope = (flags.scope as string) ?? 'global';
  if (scope !== 'global' && scope !== 'layer') throw new UsageError(`--scope must be 'global' or 'layer', got '${scope}'`);
  const epochs = (flags.epochs as number) ?? 2, lr = (flags.lr as number) ?? 3e-4, batchSize = (flags.batch as number) ?? 32;
  const val = (flags.val as number) ?? 0.2, seed = (flags.seed as number) ?? 1, samples = (flags.samples as number) ?? 1024;
  if (!Number.isInteger(epochs) || epochs < 0) throw new UsageError(`--epochs must be an integer >= 0, got ${epochs}`);
  if (!(lr > 0)) throw new UsageError(`--lr must be positive, got ${lr}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch must be a positive integer, got ${batchSize}`);
  if (!(val > 0 && val < 1)) throw new UsageError(`--val must be in (0, 1), got ${val}`);
  if (!Number.isInteger(samples) || samples < 1) throw new UsageError(`--samples must be a positive integer, got ${samples}`);
  await checkOut(flags.out as string);
  const t0 = performance.now();
  const m = await eg.loadModel(pos[0]);
  m.single('prune');
  const classes = m.predict(eg.zeros([1, ...m.inputShape])).shape;
  if (classes.length !== 2) throw new Error(`model '${m.name}' gives [batch, ${classes.slice(1).join(', ')}]; prune takes classifiers that give [batch, classes]`);
  const data = await pruneData(flags.data as string, m, classes[1], val, seed);
  // the model runs as a layer (NHWC inside) for pruning and training; its weights are the model's own
  const net = eg.sequential({ name: `${m.name.replace(/\W+/g, '_')}_pruned`, layers: [m] });
  const ends = m.graph.producer(m.graph.outputs[0]);
  const softmax = ends?.op === 'activation' && ends.attrs.activation === 'softmax';
  net.compile({ optimizer: eg.optimizers.adam({ learningRate: lr }), loss: softmax ? 'sparseCategoricalCrossentropy' : 'sparseSoftmaxCrossEntropy', metrics: ['accuracy'] });
  const acc = () => net.evaluate(data.test.x, data.test.y, { batchSize: 64 }).accuracy;
  const before = acc();
  const tPrune = performance.now();
  const p = method === 'obd'
    ? await eg.pruning.obd(net, { x: eg.data.slice(data.train.x, 0, Math.min(samples, data.train.x.shape[0])), sparsity, scope: scope as eg.PruningScope })
    : new eg.Pruning(net, { scope: scope as eg.PruningScope }).prune(sparsity);
  const pruneSeconds = (performance.now() - tPrune) / 1000;
  const pruned = acc();
  const steps = Math.ceil(data.train.x.shape[0] / batchSize) * epochs;
  let bar: Progress | undefined, step = 0, epoch = 0;
  const tTrain = performance.now();
  if (epochs > 0) {
    await net.fit(data.train.x, data.train.y, {
      epochs, batchSize, seed,
      callbacks: [p, {
        onEpochBegin: (e) => { epoch = e; },
        onBatchEnd: (_b, logs) => { step++; if (!json) (bar ??= new Progress('recovery', steps)).update(step, `epoch ${epoch + 1}/${epochs}  loss ${logs.loss.toFixed(4)}`); },
      }],
    });
  }
  const trainSeconds = (performance.now() - tTrain) / 1000;
  eg.pruning.stripPruning(p);
  const recovered = acc();
  const rows = eg.pruning.sparsity(m);
  const zeros = rows.reduce((s, r) => s + r.zeros, 0), size = rows.reduce((s, r) => s + r.size, 0);
  const outPath = flags.out as string;
  await m.save(outPath);
  const result = {
    model: pos[0], out: outPath, method, scope, sparsity: zeros / size, data: data.what, epochs,
    accuracy: { before, pruned, recovered, test: data.test.y.shape[0] },
    layers: rows.map((r) => ({ layer: r.layer, size: r.size, zeros: r.zeros, sparsity: r.sparsity })),
    pruneSeconds: +pruneSeconds.toFixed(2), trainSeconds: +trainSeconds.toFixed(2), totalSeconds: +((performance.now() - t0) / 1000).toFixed(2),
  };
  net.dispose();
  if (json) { out(JSON.stringify(result)); return; }
  out('');
  out(`  data         ${data.what}`);
  out(`  pruned       ${method === 'obd' ? 'Optimal Brain Damage (saliency ½·h·w², Gauss-Newton diagonal)' : 'magnitude |w|'}, ${scope} scope, to ${pct(zeros / size)} of ${size} dense and conv weights`);
  out(`  accuracy     ${pct(before)} before, ${pct(pruned)} after pruning, ${pct(recovered)} after ${epochs} epoch${epochs === 1 ? '' : 's'} of recovery (${data.test.y.shape[0]} held-out examples)`);
  out(`  layers       ${rows.map((r) => `${r.layer} ${pct(r.sparsity)}`).join(', ')}`);
  out(`  time         ${pruneSeconds.toFixed(1)} s pruning, ${trainSeconds.toFixed(1)} s recovery, ${result.totalSeconds.toFixed(1)} s in all`);
  out(`  written      ${outPath} (ONNX; the zeros are ordinary dense weights)`);
}

/**
 * prune MODEL --structured (--flops F | --sparsity S): whole channels removed by eg.pruning.pruneChannels (the
 * model as a layer, so the data is NHWC as pruneData gives it), recovery fine-tuning of the smaller model,
 * accuracies before / pruned / recovered, FLOPs and parameters before and after, the ONNX written.
 */
async function pruneStructuredCmd(model: string, flags: Record<string, string | number | boolean>, json: boolean, out: (s: string) => void): Promise<void> {
  if (!flags.data) throw new UsageError("prune needs --data DIR (one folder of images per class), FILE.json or 'digits'");
  if (!flags.out) throw new UsageError('prune needs --out OUT.onnx');
  if ((flags.flops === undefined) === (flags.sparsity === undefined)) throw new UsageError('prune --structured needs --flops F (the share of FLOPs to keep) or --sparsity S (the share of each layer\'s channels to remove), one of them');
  if (flags.method !== undefined || flags.scope !== undefined) throw new UsageError('--method and --scope are options of unstructured pruning; --structured takes --criterion and --allocation');
  const criterion = (flags.criterion as string) ?? 'taylor', allocation = (flags.allocation as string) ?? 'uniform';
  if (criterion !== 'taylor' && criterion !== 'l1') throw new UsageError(`--criterion must be 'taylor' or 'l1', got '${criterion}'`);
  if (allocation !== 'uniform' && allocation !== 'sensitivity') throw new UsageError(`--allocation must be 'uniform' or 'sensitivity', got '${allocation}'`);
  for (const f of ['flops', 'sparsity'] as const) if (flags[f] !== undefined && !((flags[f] as number) > 0 && (flags[f] as number) < 1)) throw new UsageError(`--${f} must be in (0, 1), got ${flags[f]}`);
  const epochs = (flags.epochs as number) ?? 2, lr = (flags.lr as number) ?? 3e-4, batchSize = (flags.batch as number) ?? 32;
  const val = (flags.val as number) ?? 0.2, seed = (flags.seed as number) ?? 1, samples = (flags.samples as number) ?? 512, multipleOf = (flags['multiple-of'] as number) ?? 1;
  if (!Number.isInteger(epochs) || epochs < 0) throw new UsageError(`--epochs must be an integer >= 0, got ${epochs}`);
  if (!(lr > 0)) throw new UsageError(`--lr must be positive, got ${lr}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch must be a positive integer, got ${batchSize}`);
  if (!(val > 0 && val < 1)) throw new UsageError(`--val must be in (0, 1), got ${val}`);
  if (!Number.isInteger(samples) || samples < 1) throw new UsageError(`--samples must be a positive integer, got ${samples}`);
  if (!Number.isInteger(multipleOf) || multipleOf < 1) throw new UsageError(`--multiple-of must be a positive integer, got ${multipleOf}`);
  await checkOut(flags.out as string);
  const t0 = performance.now();
  const m = await eg.loadModel(model);
  m.single('prune');
  const classes = m.predict(eg.zeros([1, ...m.inputShape])).shape;
  if (classes.length !== 2) throw new Error(`model '${m.name}' gives [batch, ${classes.slice(1).join(', ')}]; prune takes classifiers that give [batch, classes]`);
  const data = await pruneData(flags.data as string, m, classes[1], val, seed);
  const ends = m.graph.producer(m.graph.outputs[0]);
  const loss = ends?.op === 'activation' && ends.attrs.activation === 'softmax' ? 'sparseCategoricalCrossentropy' : 'sparseSoftmaxCrossEntropy';
  const compile = (n: eg.Sequential) => n.compile({ optimizer: eg.optimizers.adam({ learningRate: lr }), loss, metrics: ['accuracy'] });
  // the model as a layer (NHWC inside, as the data is); the pruned copy's graph is what gets written
  const net = eg.sequential({ name: `${m.name.replace(/\W+/g, '_')}_pruned`, layers: [m] });
  compile(net);
  const acc = (n: eg.Sequential) => n.evaluate(data.test.x, data.test.y, { batchSize: 64 }).accuracy;
  const before = acc(net);
  const n = Math.min(samples, data.train.x.shape[0]);
  const tPrune = performance.now();
  const { model: small, report } = await eg.pruning.pruneChannels(net, {
    ...(flags.flops !== undefined ? { flops: flags.flops as number } : { ratio: flags.sparsity as number }),
    criterion, allocation, multipleOf, data: { x: eg.data.slice(data.train.x, 0, n), y: eg.data.slice(data.train.y, 0, n), loss },
  });
  const pruneSeconds = (performance.now() - tPrune) / 1000;
  compile(small);
  const pruned = acc(small);
  const steps = Math.ceil(data.train.x.shape[0] / batchSize) * epochs;
  let bar: Progress | undefined, step = 0, epoch = 0;
  const tTrain = performance.now();
  if (epochs > 0) {
    await small.fit(data.train.x, data.train.y, {
      epochs, batchSize, seed,
      callbacks: [{
        onEpochBegin: (e) => { epoch = e; },
        onBatchEnd: (_b, logs) => { step++; if (!json) (bar ??= new Progress('recovery', steps)).update(step, `epoch ${epoch + 1}/${epochs}  loss ${logs.loss.toFixed(4)}`); },
      }],
    });
  }
  const trainSeconds = (performance.now() - tTrain) / 1000;
  const recovered = acc(small);
  const outPath = flags.out as string;
  await (small.layers[0] as unknown as { model: GraphModel }).model.save(outPath);
  const result = {
    model, out: outPath, structured: true, criterion, allocation, multipleOf, data: data.what, epochs,
    flops: report.flops, params: report.params,
    accuracy: { before, pruned, recovered, test: data.test.y.shape[0] },
    layers: report.layers.map((l) => ({ layer: l.name.slice(m.name.length + 1), channels: l.channels, kept: l.kept })),
    tied: report.tied.map((t) => ({ layer: t.name.slice(m.name.length + 1), reason: t.reason })),
    pruneSeconds: +pruneSeconds.toFixed(2), trainSeconds: +trainSeconds.toFixed(2), totalSeconds: +((performance.now() - t0) / 1000).toFixed(2),
  };
  net.dispose();
  small.dispose();
  if (json) { out(JSON.stringify(result)); return; }
  out('');
  out(`  data         ${data.what}`);
  out(`  pruned       whole channels by ${criterion === 'taylor' ? `Taylor |sum a dL/da| on ${n} training examples` : 'L1 norm of each filter'}, ${allocation} allocation: FLOPs ${report.flops.before} -> ${report.flops.after} (${pct(report.flops.after / report.flops.before)}), parameters ${report.params.before} -> ${report.params.after}`);
  out(`  accuracy     ${pct(before)} before, ${pct(pruned)} after pruning, ${pct(recovered)} after ${epochs} epoch${epochs === 1 ? '' : 's'} of recovery (${data.test.y.shape[0]} held-out examples)`);
  out(`  channels     ${result.layers.map((l) => `${l.layer} ${l.kept}/${l.channels}`).join(', ')}`);
  if (result.tied.length) out(`  kept whole   ${result.tied.map((t) => t.layer).join(', ')}`);
  out(`  time         ${pruneSeconds.toFixed(1)} s pruning, ${trainSeconds.toFixed(1)} s recovery, ${result.totalSeconds.toFixed(1)} s in all`);
  out(`  written      ${outPath} (ONNX; the removed channels are gone from every layer)`);
}

function median(v: number[]): number {
  const s = v.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function bench(args: string[], json: boolean, out: (s: string) => void): Promise<void> {
  const { pos, flags } = parseFlags(args, { batch: 'number', runs: 'number', profile: 'boolean' });
  const runs = (flags.runs as number) ?? 20, batch = (flags.batch as number) ?? 1;
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be a positive integer, got ${runs}`);
  if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`--batch must be a positive integer, got ${batch}`);
  const be = await eg.ready(readyOptions);
  // a GPU's work is timed to its end: a 4-byte read of the result waits for the queue
  const settle = async (t: eg.Tensor): Promise<void> => { if (!t.backend.syncRead) await t.backend.read(t.ptr, 4); t.dispose(); };
  const time = async (f: () => eg.Tensor): Promise<number> => {
    for (let i = 0; i < 3; i++) await settle(f()); // warm-up: V8 tiers the wasm up, a GPU compiles its pipelines
    const t: number[] = [];
    for (let i = 0; i < runs; i++) { const t0 = performance.now(); await settle(f()); t.push(performance.now() - t0); }
    return median(t);
  };
  const adapter = (be as unknown as { adapter?: { description?: string; device?: string } }).adapter;
  const what = be.name === 'wasm' ? `wasm build: ${be.build}` : `backend: ${be.name}${adapter ? `, ${adapter.description || adapter.device}` : ''}`;
  const rows: Array<{ what: string; ms: number; rate: string }> = [];
  if (pos.length > 1) throw new UsageError('bench takes at most one MODEL');
  if (flags.profile && !pos[0]) throw new UsageError('--profile times the nodes of a MODEL: give one');
  if (pos[0]) {
    const m = await eg.loadModel(pos[0]);
    const x = eg.randomUniform([batch, ...m.inputShape], 0, 1, 1);
    const flops = Number(/FLOPs per example: (\d+)/.exec(m.summary({ print: false }))?.[1] ?? 0);
    const ms = await time(() => m.predict(x) as eg.Tensor);
    rows.push({ what: `${pos[0]} inference, batch ${batch}`, ms, rate: `${((batch * 1000) / ms).toFixed(1)} examples/s${flops ? `, ${((flops * batch) / ms / 1e6).toFixed(1)} GFLOP/s` : ''}` });
    if (flags.profile) {
      if (!be.syncRead) throw new UsageError(`--profile times nodes one by one on wasm; the '${be.name}' backend runs them as one queue`);
      const nodes = m.profile(x, { runs });
      const byOp = new Map<string, { ms: number; count: number }>();
      for (const n of nodes) { const e = byOp.get(n.op) ?? { ms: 0, count: 0 }; e.ms += n.ms; e.count++; byOp.set(n.op, e); }
      const ops = [...byOp].map(([op, e]) => ({ op, ms: e.ms, count: e.count })).sort((a, b) => b.ms - a.ms);
      const total = nodes.reduce((a, n) => a + n.ms, 0);
      if (json) { out(JSON.stringify({ build: be.build, runs, rows, profile: { total, ops, nodes } })); return; }
      out(`edgegrad bench (${what}; median of ${runs} runs after 3 warm-up runs)`);
      for (const r of rows) out(`  ${r.what.padEnd(48)} ${(r.ms.toFixed(2) + ' ms').padStart(11)}  ${r.rate}`);
      out(`profile: ${nodes.length} nodes, ${total.toFixed(2)} ms timed node by node (median per node)`);
      out('  by op:');
      for (const o of ops) out(`    ${o.op.padEnd(20)} ${String(o.count).padStart(4)} nodes ${(o.ms.toFixed(3) + ' ms').padStart(11)} ${(100 * o.ms / total).toFixed(1).padStart(5)}%`);
      out('  slowest nodes:');
      for (const n of nodes.slice(0, 15)) out(`    ${n.node.slice(0, 48).padEnd(48)} ${n.op.padEnd(16)} ${(n.ms.toFixed(3) + ' ms').padStart(11)} ${(100 * n.share).toFixed(1).padStart(5)}%`);
      return;
    }
  } else {
    for (const n of [256, 512, 1024]) {
      const a = eg.randomUniform([n, n], -1, 1, 1), b = eg.randomUniform([n, n], -1, 1, 2);
      const ms = await time(() => eg.matMul(a, b));
      rows.push({ what: `GEMM ${n}x${n}x${n} f32`, ms, rate: `${((2 * n ** 3) / ms / 1e6).toFixed(1)} GFLOP/s` });
    }
    const x = eg.randomUniform([1, 56, 56, 64], -1, 1, 3), w = eg.randomUniform([3, 3, 64, 64], -1, 1, 4);
    const ms = await time(() => eg.conv2d(x, w, 1, 'same'));
    rows.push({ what: 'conv 3x3 56x56x64 -> 64', ms, rate: `${((2 * 56 * 56 * 64 * 64 * 9) / ms / 1e6).toFixed(1)} GFLOP/s` });
  }
  if (json) { out(JSON.stringify({ backend: be.name, build: be.build, runs, rows })); return; }
  out(`edgegrad bench (${what}; median of ${runs} runs after 3 warm-up runs)`);
  for (const r of rows) out(`  ${r.what.padEnd(48)} ${(r.ms.toFixed(2) + ' ms').padStart(11)}  ${r.rate}`);
}

const BACKENDS = ['wasm', 'webgpu', 'auto', 'ref'];
/** Commands that run wherever --backend says, and those that run on wasm only. */
const GPU_COMMANDS = ['info', 'predict', 'finetune', 'bench'];
const WASM_ONLY = ['quantize', 'distill', 'prune', 'finetune --cut auto'];

/** The backend main() started (--backend), for commands that ask for it again. */
let readyOptions: eg.ReadyOptions = {};

export async function main(argv: string[], out: (s: string) => void = (s) => console.log(s)): Promise<number> {
  const json = argv.includes('--json');
  let args = argv.filter((a) => a !== '--json').flatMap((a) => (a.startsWith('--backend=') ? ['--backend', a.slice(10)] : [a]));
  // --backend NAME: where the work runs, as eg.ready({ backend }) ('wasm' by default; 'webgpu')
  const bi = args.indexOf('--backend');
  const backend = bi >= 0 ? args[bi + 1] : undefined;
  if (bi >= 0) args = [...args.slice(0, bi), ...args.slice(bi + 2)];
  const [cmd, ...rest] = args;
  try {
    if (cmd === 'help' || cmd === '--help' || cmd === '-h') { out(USAGE); return 0; }
    if (bi >= 0 && !BACKENDS.includes(backend ?? '')) throw new UsageError(`--backend needs one of ${BACKENDS.map((b) => `'${b}'`).join(', ')}${backend === undefined ? '' : `, got '${backend}'`}`);
    // the commands that read results synchronously all along run on wasm only: say so before any work
    const autoCut = cmd === 'finetune' && rest[rest.indexOf('--cut') + 1] === 'auto' && rest.includes('--cut');
    if (backend === 'webgpu' && (WASM_ONLY.includes(cmd) || autoCut)) {
      throw new UsageError(`'${cmd}${cmd === 'finetune' ? ' --cut auto' : ''}' runs on wasm only (its evaluation reads results synchronously); --backend ${backend} works with ${GPU_COMMANDS.join(', ')}`);
    }
    readyOptions = backend ? { backend: backend as eg.ReadyOptions['backend'] } : {};
    await eg.ready(readyOptions);
    if (cmd === 'info') {
      if (rest.length !== 1) throw new UsageError('info takes one MODEL');
      const m = await eg.loadModel(rest[0]);
      const classes = m.classNames;
      const summary = m.summary({ print: false }); // its last line lists the class names, where the model has them
      out(json ? JSON.stringify({ model: rest[0], name: m.name, format: m.info.format, inputShape: m.inputShape, nodes: m.nodeNames, ...(classes ? { classes } : {}), summary }) : summary);
      return 0;
    }
    if (cmd === 'predict') { await predictCmd(rest, json, out); return 0; }
    if (cmd === 'finetune') { await finetune(rest, json, out); return 0; }
    if (cmd === 'bench') { await bench(rest, json, out); return 0; }
    if (cmd === 'quantize') { await quantizeCmd(rest, json, out); return 0; }
    if (cmd === 'distill') { await distillCmd(rest, json, out); return 0; }
    if (cmd === 'prune') { await pruneCmd(rest, json, out); return 0; }
    throw new UsageError(cmd ? `unknown command '${cmd}'` : 'no command');
  } catch (e) {
    const raw = (e as Error)?.message ?? String(e);
    // the JavaScript engine's own errors (a property of undefined, an index out of range) are bugs here or
    // in a malformed file that slipped past the checks: say so, and where, instead of a bare TypeError
    const engine = e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError;
    if (engine && !/^edgegrad/.test(raw)) {
      // not one of ours: say so, with what and where, instead of a bare TypeError
      console.error(`edgegrad: internal error in '${cmd}': ${(e as Error)?.name ?? 'Error'}: ${raw}${(e as Error)?.stack ? `\n  at ${String((e as Error).stack).split('\n').slice(1, 3).map((l) => l.trim().replace(/^at /, '')).join('\n  at ')}` : ''}\n(please report this with the command that caused it)`);
      return 1;
    }
    const msg = raw.replace(/^edgegrad[.\w ()]*: /, '');
    console.error(e instanceof UsageError ? `edgegrad: ${msg}\n${USAGE}` : `edgegrad: ${msg}`);
    return e instanceof UsageError ? 2 : 1;
  }
}

// run when executed as the command (not when imported by tests)
const argv1 = typeof process !== 'undefined' ? process.argv[1] ?? '' : '';
if (/(^|[\\/])(edgegrad|cli\.js)$/.test(argv1) || /[\\/]cli[\\/]index\.(js|ts)$/.test(argv1)) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}

/** [N, H, W, C] images as [N, C, H, W] (the command's data is on the CPU; it imports the library's API only). */
function nhwcToNchw(x: eg.Tensor): eg.Tensor {
  const [N, H, W, C] = x.shape, src = x.dataSync(), dst = new Float32Array(src.length);
  for (let n = 0; n < N; n++) for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) dst[(n * C + c) * H * W + p] = src[(n * H * W + p) * C + c];
  return eg.tensor(dst, [N, C, H, W]);
}
