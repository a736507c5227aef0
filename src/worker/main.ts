// The worker script (dist/worker.js): edgegrad in a Web Worker (browsers, Electron renderers, Deno, Bun) or
// a worker_threads worker (Node, Electron's main process), serving the thread that started it.
import { serve, type Port } from './host.js';
import type { Call, Abort, Reply } from './protocol.js';

interface WebScope { postMessage(m: unknown, t: Transferable[]): void; addEventListener(t: 'message', f: (e: MessageEvent) => void): void }
interface NodePort { postMessage(m: unknown, t: Transferable[]): void; on(t: 'message', f: (m: Call | Abort) => void): void }

async function port(): Promise<Port> {
  const spec = 'node:worker_threads'; // a variable: browsers and bundlers never see it
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown; Bun?: unknown };
  if (g.process?.versions?.node && !g.Deno && !g.Bun) {
    const { parentPort } = (await import(spec)) as { parentPort: NodePort | null };
    if (!parentPort) throw new Error('edgegrad: dist/worker.js is a worker script: start it with eg.worker()');
    return { post: (m: Reply, t) => parentPort.postMessage(m, t), listen: (f) => parentPort.on('message', f) };
  }
  const self = globalThis as unknown as WebScope;
  return { post: (m: Reply, t) => self.postMessage(m, t), listen: (f) => self.addEventListener('message', (e) => f(e.data as Call | Abort)) };
}

serve(await port());
