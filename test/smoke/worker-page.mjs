// How long the page's main thread is blocked while a small CNN trains for an epoch on 1,000 digits: in the
// page itself (fit yields to the event loop) and in a worker (eg.worker()); and how soon cancelling stops
// each. The longest task is seen two ways: the browser's own long-task entries (tasks over 50 ms) and
// the largest gap between the turns of a heartbeat that asks for a turn of the event loop as often as it can.
const CNN = [
  { conv2d: { filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1], seed: 1 } },
  { maxPooling2d: { poolSize: 2 } },
  { conv2d: { filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', seed: 2 } },
  { maxPooling2d: { poolSize: 2 } },
  { flatten: {} },
  { dense: { units: 64, activation: 'relu', seed: 3 } },
  { dense: { units: 10, activation: 'softmax', seed: 4 } },
];

/** The longest stretch without a turn of the event loop while `work` runs, and the long tasks seen. */
async function blocked(work) {
  await new Promise((r) => setTimeout(r, 0)); // measure from a fresh task: not the one that set up the work
  const tasks = [];
  const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) tasks.push(e.duration); });
  obs.observe({ type: 'longtask' });
  let last = performance.now(), gap = 0, on = true;
  const ch = new MessageChannel();
  ch.port1.onmessage = () => { const t = performance.now(); gap = Math.max(gap, t - last); last = t; if (on) ch.port2.postMessage(0); };
  ch.port2.postMessage(0);
  const t0 = performance.now();
  let value, error;
  try { value = await work(); } catch (e) { error = e; }
  const end = performance.now(), ms = end - t0;
  on = false;
  await new Promise((r) => setTimeout(r, 100)); // long-task entries are delivered after the task
  obs.disconnect();
  ch.port1.close();
  return { value, error, ms, end, gap, longTasks: tasks, longest: Math.max(0, ...tasks) };
}

export async function responsiveness(eg) {
  await eg.ready();
  const d = await eg.data.loadDigits();
  const idx = Array.from({ length: 1000 }, (_, i) => i);
  const x = eg.data.gather(d.images, idx), y = eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [1000], 'int32');
  const compileArgs = { optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] };
  const out = {};

  // in the page: a model of eg.layers from the same specs (after a warm-up: the engine's optimizing tier)
  const build = () => { const m = eg.sequential(CNN.map((s) => { const [k] = Object.keys(s); return eg.layers[k](s[k]); })); m.compile(compileArgs); return m; };
  await build().fit(x, y, { epochs: 1, batchSize: 32, seed: 1 });
  const local = build();
  const inPage = await blocked(() => local.fit(x, y, { epochs: 1, batchSize: 32, seed: 1 }));
  out.inPage = { ms: inPage.ms, gap: inPage.gap, longest: inPage.longest, loss: inPage.value.history.loss[0] };
  // the same fit without yielding: what the page went through before
  const unpaced = build();
  const blocking = await blocked(() => unpaced.fit(x, y, { epochs: 1, batchSize: 32, seed: 1, yieldEvery: Infinity }));
  out.unpaced = { ms: blocking.ms, gap: blocking.gap, longest: blocking.longest, loss: blocking.value.history.loss[0] };

  // in-page cancel: abort after the 3rd batch
  const ctl = new AbortController();
  let after = -1, batches = 0;
  const cancelled = await blocked(() => local.fit(x, y, { epochs: 5, batchSize: 32, signal: ctl.signal, yieldEvery: 0, callbacks: { onBatchEnd: () => { batches++; if (batches === 3) { ctl.abort(); after = 0; } else if (after >= 0) after++; } } }));
  out.inPageCancel = { name: cancelled.error?.name, message: cancelled.error?.message, batchesAfterAbort: after };

  // in a worker
  const w = await eg.worker();
  const remote = await w.sequential({ layers: CNN });
  await remote.compile(compileArgs);
  const inWorker = await blocked(() => remote.fit(x, y, { epochs: 1, batchSize: 32, seed: 1 }));
  out.inWorker = { ms: inWorker.ms, gap: inWorker.gap, longest: inWorker.longest, loss: inWorker.value?.history.loss[0], error: inWorker.error && String(inWorker.error) };

  // cancel the worker's fit from the page after the 3rd batch it reports
  const ctl2 = new AbortController();
  const times = [];
  let abortedAt = 0, eventsAfter = -1;
  const wc = await blocked(() => remote.fit(x, y, { epochs: 20, batchSize: 16, signal: ctl2.signal, callbacks: { onBatchEnd: () => {
    times.push(performance.now());
    if (times.length === 3) { ctl2.abort(); abortedAt = performance.now(); eventsAfter = 0; } else if (eventsAfter >= 0) eventsAfter++;
  } } }));
  const steps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
  out.workerCancel = { name: wc.error?.name, message: wc.error?.message, eventsAfterAbort: eventsAfter, stopMs: wc.end - abortedAt, batchMs: steps[Math.floor(steps.length / 2)] ?? 0 };
  // the worker's model is still usable after the cancel
  const p = await remote.predict(eg.data.gather(d.images, [9000, 9001]));
  out.afterCancel = { shape: p.shape, sum: Array.from(p.dataSync()).reduce((a, b) => a + b, 0) };
  w.terminate();
  return out;
}
