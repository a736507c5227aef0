// The webgpu check in a module worker (navigator.gpu is there too).
import * as eg from '/dist/index.js';
import { checkWebGpu } from '/test/smoke/webgpu-check.mjs';
checkWebGpu(eg).then((r) => postMessage(r), (e) => postMessage({ error: String(e && e.stack || e) }));
