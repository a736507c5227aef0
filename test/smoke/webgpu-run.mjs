// The webgpu check from a server-side runtime (Bun with bun-webgpu; Node with webgpu): prints its report.
import * as eg from 'edgegrad';
import { checkWebGpu } from './webgpu-check.mjs';
const r = await checkWebGpu(eg);
console.log(JSON.stringify(r));
process.exit(0);
