// A worker thread (bench/run.mjs) that runs a model in onnxruntime-web with its own wasm instance and a
// given thread count, so one bench process can time onnxruntime-web with 2 threads beside its 1-thread
// rows (onnxruntime-web fixes its thread count when its wasm first loads). Messages: { onnx, input, shape,
// threads } -> { ready }, then { run: true } -> { ms } for one timed run.
import { parentPort } from 'node:worker_threads';

let session, feeds;
parentPort.on('message', async (m) => {
  try {
    if (m.onnx) {
      const ort = await import('onnxruntime-web');
      ort.env.wasm.numThreads = m.threads;
      session = await ort.InferenceSession.create(m.onnx);
      feeds = { [session.inputNames[0]]: new ort.Tensor('float32', m.input, m.shape) };
      for (let i = 0; i < 3; i++) await session.run(feeds);
      parentPort.postMessage({ ready: true });
    } else if (m.run) {
      const t0 = performance.now();
      await session.run(feeds);
      parentPort.postMessage({ ms: performance.now() - t0 });
    } else if (m.close) {
      await session?.release();
      parentPort.close();
    }
  } catch (e) {
    parentPort.postMessage({ error: String(e?.stack ?? e) });
  }
});
