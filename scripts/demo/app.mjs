// The demo page: the shipped digits-cnn (trained on 0-4) fine-tuned to the digits 5-9 in a worker, with live
// curves; cancel; predict a drawn or dropped digit; quantize to int8 and compare; save to IndexedDB and find
// the model there after a reload. Everything heavy runs in the worker (eg.worker()): this thread only draws.
// The page exposes its state as data-* attributes (read by test/demo.test.ts).
import * as eg from '/dist/index.js';
import { LineChart } from '/demo/chart.mjs';
import { inkOf, show28, toMnist } from '/demo/mnist.mjs';

const SAVE_AS = 'digits-5-9';
const BATCH = 32;
const $ = (id) => document.getElementById(id);
const pct = (v) => `${(v * 100).toFixed(1)}%`;
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;

const state = {
  worker: undefined, // eg.EdgeWorker
  base: undefined, // digits-cnn in the worker
  data: undefined, // { x, y, xv, yv, labelsV, images, testIdx }
  model: undefined, // the model predict / quantize / save act on (a RemoteModel)
  source: '',
  ctl: undefined, // the running fit's AbortController
  busy: true, // a call is running in the worker: the buttons that start one are off
};
window.demo = { eg, state };

function status(text, error = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', error);
}

/** Buttons that need a model (and an idle worker) follow `busy`. */
function setBusy(busy) {
  state.busy = busy;
  $('fit').disabled = busy || !state.base;
  for (const b of document.querySelectorAll('#saved button')) b.disabled = busy;
  $('cancel').disabled = !state.ctl;
  for (const id of ['predict-btn', 'quantize-btn', 'save']) $(id).disabled = busy || !state.model;
}

function fail(where, e) {
  console.error(e);
  status(`${where}: ${e?.message ?? e}`, true);
}

// ---- data: the transfer split of models/digits-transfer.mjs (npm start) ----
async function loadData() {
  const d = await eg.data.loadDigits();
  const trainIdx = [], testIdx = [], seen = new Array(10).fill(0);
  for (let n = 0; n < d.count; n++) {
    const l = d.labels[n];
    if (l < 5) continue;
    if (n < 8000) { if (seen[l]++ < 100) trainIdx.push(n); } else testIdx.push(n);
  }
  const labels = (idx) => Int32Array.from(idx, (i) => d.labels[i] - 5);
  const labelsV = labels(testIdx);
  return {
    x: eg.data.gather(d.images, trainIdx), y: eg.tensor(labels(trainIdx), [trainIdx.length], 'int32'),
    xv: eg.data.gather(d.images, testIdx), yv: eg.tensor(labelsV, [testIdx.length], 'int32'), labelsV,
    xb: eg.data.gather(d.images, testIdx.slice(0, 256)), // the batch the speed comparison predicts
  };
}

/** Held-out accuracy from predictions (works for every model the worker holds, imported graphs included). */
async function accuracyOf(model) {
  const p = (await model.predict(state.data.xv)).dataSync(), want = state.data.labelsV;
  let right = 0;
  for (let i = 0; i < want.length; i++) {
    let best = 0;
    for (let k = 1; k < 5; k++) if (p[i * 5 + k] > p[i * 5 + best]) best = k;
    if (best === want[i]) right++;
  }
  return right / want.length;
}

/**
 * Median wall time of model.predict(x) for each model over `runs` (after a warm-up), in ms, as seen from this
 * page. The models take turns, so a busy moment of the machine falls on both alike.
 */
async function medianMs(models, x, runs = 7) {
  const t = models.map(() => []);
  for (const m of models) await m.predict(x);
  for (let i = 0; i < runs; i++) {
    for (const [k, m] of models.entries()) { const t0 = performance.now(); await m.predict(x); t[k].push(performance.now() - t0); }
  }
  return t.map((v) => v.sort((a, b) => a - b)[runs >> 1]);
}

function showModel(model, source, accuracy) {
  if (state.model && state.model !== model) state.model.dispose().catch(() => {});
  state.model = model;
  // a comparison of the model before says nothing of this one
  $('quant-table').hidden = true;
  $('quant-status').textContent = '';
  state.source = source;
  const info = $('model-info');
  info.textContent = `model: ${source} · held-out accuracy (digits 5–9, ${state.data.labelsV.length} images) ${pct(accuracy)}`;
  info.dataset.source = source;
  info.dataset.accuracy = String(accuracy);
}

// ---- 1. fine-tune, with live curves ----
const lossChart = new LineChart($('loss-chart'), {
  title: 'loss', xLabel: 'epoch', yLabel: 'cross-entropy',
  series: [
    { name: 'train (batch)', color: '#9db8d8' },
    { name: 'train', color: '#2f6fb5', dots: true },
    { name: 'validation', color: '#d0542c', dots: true, dash: [5, 3] },
  ],
});
const accChart = new LineChart($('acc-chart'), {
  title: 'accuracy', xLabel: 'epoch', yLabel: 'accuracy', yMin: 0, yMax: 1,
  series: [
    { name: 'train', color: '#2f6fb5', dots: true },
    { name: 'validation', color: '#d0542c', dots: true, dash: [5, 3] },
  ],
});

async function fineTune() {
  const { worker: w, data } = state;
  const result = $('train-result');
  const asked = Number($('epochs').value);
  if (!(Number.isInteger(asked) && asked >= 1 && asked <= 500)) { result.textContent = `epochs must be a whole number from 1 to 500, not '${$('epochs').value}'`; return; }
  const epochs = asked;
  result.textContent = 'building the model…';
  delete result.dataset.accuracy;
  delete result.dataset.outcome;
  lossChart.clear(); accChart.clear();
  lossChart.setXMax(epochs); accChart.setXMax(epochs);
  const ctl = state.ctl = new AbortController();
  setBusy(true);
  let model, feats;
  try {
    // the backbone up to 'flatten', frozen (its features are computed once and cached), and a new head
    feats = await (await state.base.cut('flatten')).freeze();
    model = await w.sequential({ name: 'digits_5_9', layers: [feats, { dense: { units: 64, activation: 'relu', seed: 4 } }, { dense: { units: 5, activation: 'softmax', seed: 5 } }] });
    await model.compile({ optimizer: { adam: { learningRate: 1e-3 } }, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  } catch (e) {
    state.ctl = undefined; setBusy(false); fail('building the model', e); return;
  }
  const perEpoch = Math.ceil(data.x.shape[0] / BATCH);
  let epoch = 0, batch = 0, last = {}, afterAbort = 0, epochsDone = 0;
  const t0 = performance.now();
  let outcome = 'done', stopMs;
  try {
    await model.fit(data.x, data.y, {
      epochs, batchSize: BATCH, seed: 1, validationData: [data.xv, data.yv], signal: ctl.signal,
      callbacks: {
        onEpochBegin: (e) => { epoch = e; },
        onBatchEnd: (b, logs) => {
          if (ctl.signal.aborted) afterAbort++; // reports arriving after Cancel: batches done before the worker saw it
          batch = b;
          lossChart.add('train (batch)', epoch + (b + 1) / perEpoch, logs.loss);
          result.textContent = `epoch ${epoch + 1}/${epochs} · batch ${b + 1}/${perEpoch} · loss ${logs.loss.toFixed(4)}`;
        },
        onEpochEnd: (e, logs) => {
          last = logs;
          epochsDone = e + 1;
          lossChart.add('train', e + 1, logs.loss); lossChart.add('validation', e + 1, logs.val_loss);
          accChart.add('train', e + 1, logs.accuracy); accChart.add('validation', e + 1, logs.val_accuracy);
        },
      },
    });
  } catch (e) {
    if (e?.name !== 'AbortError') { state.ctl = undefined; setBusy(false); fail('fine-tuning', e); return; }
    outcome = 'cancelled';
    stopMs = performance.now() - state.abortedAt;
  }
  state.ctl = undefined;
  const seconds = (performance.now() - t0) / 1000;
  // the cut backbone lives on in the sequential model (the worker holds it there): only our handle goes
  feats.dispose().catch(() => {});
  if (outcome === 'cancelled' && epochsDone === 0 && state.model) {
    // cancelled before a whole epoch: the model that was there stays (this one learned next to nothing)
    model.dispose().catch(() => {});
    result.dataset.outcome = outcome;
    if (stopMs !== undefined) Object.assign(result.dataset, { stopMs: stopMs.toFixed(1), batchesAfterCancel: String(afterAbort) });
    result.textContent = `cancelled in the first epoch (stopped ${stopMs.toFixed(0)} ms after Cancel): the model before is kept (${state.source})`;
    setBusy(false);
    return;
  }
  // cancelled or not, the model holds the weights of its last step and stays usable
  const accuracy = await accuracyOf(model);
  showModel(model, outcome === 'done' ? `fine-tuned, ${epochs} epochs` : `fine-tuned, cancelled in epoch ${epoch + 1}`, accuracy);
  result.dataset.outcome = outcome;
  result.dataset.accuracy = String(accuracy);
  result.dataset.seconds = seconds.toFixed(2);
  if (stopMs !== undefined) Object.assign(result.dataset, { stopMs: stopMs.toFixed(1), batchesAfterCancel: String(afterAbort) });
  result.textContent = outcome === 'done'
    ? `done in ${seconds.toFixed(1)} s · train accuracy ${pct(last.accuracy ?? 0)} · held-out ${pct(accuracy)}`
    : `cancelled at epoch ${epoch + 1}, batch ${batch + 1} (stopped ${stopMs.toFixed(0)} ms after Cancel) · held-out ${pct(accuracy)}`;
  setBusy(false);
}

function cancel() {
  if (!state.ctl) return;
  state.abortedAt = performance.now();
  state.ctl.abort();
  $('cancel').disabled = true;
}

// ---- 2. predict: the drawing pad, dropped images ----
const pad = $('pad'), padCtx = pad.getContext('2d');
function clearPad() {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
  show28($('preview'), null);
  $('probs').replaceChildren();
}
{
  let last = null;
  const at = (e) => { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * (pad.width / r.width), (e.clientY - r.top) * (pad.height / r.height)]; };
  const stroke = (from, to) => {
    padCtx.strokeStyle = '#fff';
    padCtx.lineWidth = 22;
    padCtx.lineCap = padCtx.lineJoin = 'round';
    padCtx.beginPath(); padCtx.moveTo(...from); padCtx.lineTo(...to); padCtx.stroke();
  };
  // pointer events cover mouse, pen and touch (touch-action: none keeps the page from scrolling)
  pad.addEventListener('pointerdown', (e) => { pad.setPointerCapture(e.pointerId); last = at(e); stroke(last, last); });
  pad.addEventListener('pointermove', (e) => { if (!last) return; const p = at(e); stroke(last, p); last = p; });
  for (const t of ['pointerup', 'pointercancel']) pad.addEventListener(t, () => { last = null; });
  // an image: drawn onto the pad as white ink on black, as the model will see it
  pad.addEventListener('dragover', (e) => { e.preventDefault(); pad.classList.add('over'); });
  pad.addEventListener('dragleave', () => pad.classList.remove('over'));
  pad.addEventListener('drop', (e) => {
    e.preventDefault();
    pad.classList.remove('over');
    const file = [...(e.dataTransfer?.files ?? [])].find((f) => f.type.startsWith('image/'));
    if (file) loadImage(file);
  });
  $('file').addEventListener('change', (e) => { const f = e.target.files?.[0]; if (f) loadImage(f); });
}

async function loadImage(file) {
  try {
    const bmp = await createImageBitmap(file);
    const s = Math.min(pad.width / bmp.width, pad.height / bmp.height);
    const w = Math.max(1, Math.round(bmp.width * s)), h = Math.max(1, Math.round(bmp.height * s));
    const tmp = new OffscreenCanvas(w, h), t = tmp.getContext('2d');
    t.drawImage(bmp, 0, 0, w, h);
    const { ink } = inkOf(t.getImageData(0, 0, w, h));
    const img = new ImageData(w, h);
    for (let i = 0; i < w * h; i++) { const v = Math.round(255 * ink[i]); img.data.set([v, v, v, 255], i * 4); }
    clearPad();
    padCtx.putImageData(img, (pad.width - w) >> 1, (pad.height - h) >> 1);
    if (state.model && !state.busy) await predict();
  } catch (e) {
    fail(`reading ${file.name}`, e);
  }
}

async function predict() {
  const probs = $('probs');
  const px = toMnist(padCtx.getImageData(0, 0, pad.width, pad.height));
  show28($('preview'), px);
  if (!px) { probs.textContent = 'draw a digit first'; return; }
  const p = Array.from((await state.model.predict(eg.tensor(px, [1, 28, 28, 1]))).dataSync());
  const top = p.indexOf(Math.max(...p));
  const rows = p.flatMap((v, k) => {
    const digit = document.createElement('span'); digit.className = 'digit'; digit.textContent = String(k + 5);
    const bar = document.createElement('div'); bar.className = k === top ? 'bar top' : 'bar'; bar.style.width = `${Math.max(1, v * 200)}px`;
    const val = document.createElement('span'); val.textContent = pct(v);
    return [digit, bar, val];
  });
  probs.replaceChildren(...rows);
  probs.dataset.probs = JSON.stringify(p);
  probs.dataset.top = String(top + 5);
}

// ---- 3. quantize to int8 ----
async function quantize() {
  const { worker: w, data, model } = state;
  const out = $('quant-status');
  setBusy(true);
  try {
    out.textContent = 'calibrating on the 500 training images…';
    const q = await w.quantize(model, { calibration: data.x });
    out.textContent = 'measuring…';
    const ms = await medianMs([model, q], data.xb);
    const rows = [];
    for (const [k, m] of [model, q].entries()) rows.push({ bytes: (await m.toOnnx()).byteLength, ms: ms[k], accuracy: await accuracyOf(m) });
    await q.dispose();
    const [f, i] = rows;
    const fill = (id, r, text) => {
      const tr = $(id);
      for (const [k, v] of Object.entries(r)) tr.dataset[k] = String(v);
      tr.querySelector('.size').textContent = text.size;
      tr.querySelector('.time').textContent = text.time;
      tr.querySelector('.acc').textContent = text.acc;
    };
    fill('q-float', f, { size: kb(f.bytes), time: `${f.ms.toFixed(1)} ms`, acc: pct(f.accuracy) });
    fill('q-int8', i, { size: kb(i.bytes), time: `${i.ms.toFixed(1)} ms`, acc: pct(i.accuracy) });
    fill('q-ratio', {}, { size: `${(f.bytes / i.bytes).toFixed(2)}x smaller`, time: `${(f.ms / i.ms).toFixed(2)}x`, acc: `${((i.accuracy - f.accuracy) * 100).toFixed(1)} points` });
    $('quant-table').hidden = false;
    out.textContent = `int8: ${(f.bytes / i.bytes).toFixed(2)}x smaller, ${(f.ms / i.ms).toFixed(2)}x the float speed`;
  } catch (e) {
    out.textContent = '';
    fail('quantizing', e);
  }
  setBusy(false);
}

// ---- 4. IndexedDB ----
/** The models saved in IndexedDB (eg.listModels), by name. */
async function savedModels() {
  return (await eg.listModels()).map((m) => ({ name: m.url.slice('indexeddb://'.length), bytes: m.bytes, savedAt: m.savedAt.getTime() }));
}

async function listSaved() {
  const ul = $('saved');
  const list = await savedModels();
  ul.replaceChildren(...list.map((m) => {
    const li = document.createElement('li');
    li.dataset.name = m.name;
    li.textContent = `indexeddb://${m.name} · ${kb(m.bytes)} · saved ${m.savedAt ? new Date(m.savedAt).toLocaleString() : '?'}`;
    const b = document.createElement('button');
    b.textContent = 'Load';
    b.disabled = !!state.busy;
    b.addEventListener('click', () => loadSaved(m.name));
    li.append(b);
    return li;
  }));
  if (!list.length) ul.innerHTML = '<li class="note">none yet</li>';
  return list;
}

async function loadSaved(name) {
  setBusy(true);
  try {
    status(`loading indexeddb://${name} in the worker…`);
    const m = await state.worker.loadModel(`indexeddb://${name}`);
    showModel(m, `indexeddb://${name}`, await accuracyOf(m));
    status(ready());
  } catch (e) {
    fail(`loading indexeddb://${name}`, e);
  }
  setBusy(false);
}

async function save() {
  const out = $('save-status');
  setBusy(true);
  try {
    await state.model.save(`indexeddb://${SAVE_AS}`);
    out.textContent = `saved as indexeddb://${SAVE_AS}: reload the page to find it there`;
    out.dataset.saved = SAVE_AS;
    await listSaved();
  } catch (e) {
    fail('saving', e);
  }
  setBusy(false);
}

// ---- start ----
function ready() {
  const { info } = state.worker;
  const t = info.threads;
  const threads = typeof t === 'object' && t ? `${t.threads}${t.reason ? ` (${t.reason})` : ''}` : String(t);
  return `worker: backend ${info.backend} · build ${info.build} · threads ${threads} · page ${crossOriginIsolated ? 'cross-origin isolated' : 'not isolated'}`;
}

lossChart.setXMax(Number($('epochs').value) || 20);
accChart.setXMax(Number($('epochs').value) || 20);
$('fit').addEventListener('click', () => fineTune().catch((e) => { state.ctl = undefined; setBusy(false); fail('fine-tuning', e); }));
$('cancel').addEventListener('click', cancel);
$('predict-btn').addEventListener('click', () => predict().catch((e) => fail('predict', e)));
$('clear').addEventListener('click', clearPad);
$('quantize-btn').addEventListener('click', () => quantize());
$('save').addEventListener('click', () => save());
clearPad();

try {
  // wasm on both sides: the int8 kernels run there; this thread needs one thread only (it makes tensors)
  await eg.ready({ backend: 'wasm', threads: 1 });
  status('starting the worker, loading the digits…');
  const [w, data] = await Promise.all([eg.worker({ backend: { backend: 'wasm' } }), loadData()]);
  state.worker = w;
  state.data = data;
  status(ready());
  $('status').dataset.backend = w.info.backend;
  state.base = await w.loadModel('/models/digits-cnn.onnx');
  const list = await listSaved();
  if (list.some((m) => m.name === SAVE_AS)) await loadSaved(SAVE_AS);
  setBusy(false);
  document.body.dataset.ready = 'true';
} catch (e) {
  fail('starting', e);
}
