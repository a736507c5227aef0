// eg.worker(): models that load, train, predict and save in a worker (a Web Worker in browsers, Electron
// renderers, Deno and Bun; worker_threads in Node and Electron's main process), driven from this thread with
// the same calls as in-thread models, made async. Training there leaves this thread free: a page stays
// responsive, and an AbortSignal stops a worker's fit after the batch in progress.
import { ready, type ReadyOptions } from '../backend/index.js';
import { Tensor } from '../tensor.js';
import type { CompileArgs, FitArgs, History } from '../model.js';
import type { Logs } from '../train/callbacks.js';
import type { QuantizeOptions } from '../quantize/index.js';
import type { SaveOptions } from '../graph-model.js';
import type { BatchNormMode } from '../layers/layer.js';
import type { OptimizerName } from '../train/optimizers.js';
import { abortError, customReason } from '../train/pace.js';
import { workerExecArgv } from '../backend/wasm/pool.js';
import { pageBase, SCHEME } from '../io/read.js';
import { fromWire, isWireModel, isWireTensor, rebuildError, wireTensor, deepMap, type Call, type Abort, type Reply, type WireModel } from './protocol.js';

export interface WorkerOptions {
  /**
   * The worker script: by default `worker.js` beside the library (dist/worker.js), found from the
   * library's own URL. Give it where a bundler moved the files, or for the classic-script build.
   */
  url?: string | URL;
  /** The backend the worker uses (eg.ready's options there). */
  backend?: ReadyOptions;
}

/** What the worker reported when it started. */
export interface WorkerInfo { backend: string; build: string; threads: unknown }

/** An optimizer by name, or by name with its config: { adam: { learningRate: 1e-3 } }. */
export type OptimizerSpec = OptimizerName | { [name: string]: Record<string, unknown> };
/** A layer by its eg.layers factory and config: { dense: { units: 10, activation: 'softmax' } }. */
export type LayerSpec = { [factory: string]: Record<string, unknown> };

/** Progress hooks of a worker's fit: called on this thread as the worker reports (they cannot stop it: use the signal). */
export interface RemoteCallbacks {
  onTrainBegin?(): void;
  onEpochBegin?(epoch: number): void;
  onBatchEnd?(batch: number, logs: Logs): void;
  onEpochEnd?(epoch: number, logs: Logs): void;
  onTrainEnd?(logs: Logs): void;
  onFeaturesProgress?(done: number, total: number): void;
}

export interface RemoteFitArgs extends Omit<FitArgs, 'callbacks' | 'validationData'> {
  validationData?: [Tensor, Tensor];
  /** Progress hooks on this thread, and eg.callbacks made in the worker from specs: { earlyStopping: { patience: 3 } }. */
  callbacks?: Array<RemoteCallbacks | { earlyStopping: Record<string, unknown> } | { reduceLROnPlateau: Record<string, unknown> }> | RemoteCallbacks;
}

interface Endpoint {
  post(msg: Call | Abort, transfer: Transferable[]): void;
  /** Keep the process alive while calls are in flight (Node), not after. */
  busy(on: boolean): void;
  terminate(): void;
}

interface Pending { resolve(v: unknown): void; reject(e: unknown): void; on?: (event: string, args: unknown[]) => void }

type NodeWorker = {
  postMessage(m: unknown, t?: Transferable[]): void; on(e: string, f: (v: never) => void): void;
  terminate(): Promise<number>; ref(): void; unref(): void;
};

const isNode = (): boolean => {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown; Bun?: unknown };
  return !!g.process?.versions?.node && !g.Deno && !g.Bun;
};

/** A path or URL as the worker must see it: relative to this page (or this worker), not to the worker script. */
function absolute(src: string | URL): string {
  if (src instanceof URL) return src.href;
  if (SCHEME.test(src)) return src;
  const base = pageBase(); // the loaders' own rule (src/io/read.ts)
  return base ? new URL(src, base).href : src; // Node, Deno, Bun: a path, and the worker shares the working folder
}

/** A signal aborted when any of `signals` is (with its reason): AbortSignal.any where the runtime has it. */
function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as unknown as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (any) return any(signals);
  const c = new AbortController();
  for (const s of signals) {
    if (s.aborted) { c.abort(s.reason); break; }
    s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

/** The worker script's URL: given (a URL, a path, or relative to this page), or worker.js beside the library. */
function scriptUrl(given: string | URL | undefined): URL {
  if (given === undefined) {
    try {
      return new URL('./worker.js', import.meta.url);
    } catch {
      throw new Error("edgegrad.worker: cannot tell where the worker script is: pass { url } (the package's dist/worker.js)");
    }
  }
  const a = absolute(given);
  if (SCHEME.test(a)) return new URL(a);
  const cwd = (globalThis as { process?: { cwd(): string } }).process?.cwd();
  if (!cwd) throw new Error(`edgegrad.worker: the worker script '${a}' is not a URL`);
  return new URL(a.split('/').map(encodeURIComponent).join('/'), `file://${cwd.split('/').map(encodeURIComponent).join('/')}/`);
}

/** A worker running edgegrad, and the models it holds. */
export class EdgeWorker {
  private next = 1;
  private readonly pending = new Map<number, Pending>();
  private dead?: Error;

  /** @internal */
  constructor(private readonly ep: Endpoint, readonly url: string) {}

  /** What the worker's backend is (filled in by eg.worker()). */
  info: WorkerInfo = { backend: '', build: '', threads: 1 };

  /** @internal A reply from the worker. */
  receive(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    if ('event' in r) { p.on?.(r.event, r.args); return; }
    this.pending.delete(r.id);
    if (this.pending.size === 0) this.ep.busy(false);
    if (r.ok) p.resolve(r.value);
    else p.reject(rebuildError(r.error));
  }

  /** @internal The worker died (its script failed to load, or it crashed): every call in flight fails. */
  fail(e: Error): void {
    this.dead = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.ep.busy(false);
  }

  /** @internal */
  async call(op: string, args: unknown[], target?: number, opts: { on?: Pending['on']; signal?: AbortSignal } = {}): Promise<unknown> {
    if (this.dead) throw this.dead;
    const { signal } = opts;
    if (signal?.aborted) throw abortError(signal, `worker ${op}`);
    const transfer: Transferable[] = [];
    const wire = await deepMap(args, async (v) => {
      if (v instanceof Tensor) return wireTensor(v, transfer);
      if (v instanceof RemoteModel) { if (v.worker !== this) throw new Error(`edgegrad.worker: ${op}: model '${v.name}' belongs to another worker`); return { $model: v.id, name: v.name }; }
      if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0));
      if (v instanceof Uint8Array) return v.slice();
      if (typeof v === 'function') throw new Error(`edgegrad.worker: ${op}: functions cannot cross to a worker`);
      return v;
    }) as unknown[];
    const id = this.next++;
    const value = await new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, on: opts.on });
      this.ep.busy(true);
      const onAbort = () => this.ep.post({ abort: id }, []);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      const p = this.pending.get(id)!;
      p.resolve = (v) => { done(); resolve(v); };
      // a worker's AbortError says where it stopped; abort(reason) rejects with that reason, as fetch does
      p.reject = (e) => { done(); reject(signal?.aborted && (e as Error)?.name === 'AbortError' ? customReason(signal) ?? e : e); };
      try {
        this.ep.post({ id, op, target, args: wire }, transfer);
      } catch (e) {
        this.pending.delete(id);
        done();
        reject(new Error(`edgegrad.worker: ${op}: its arguments cannot be sent to the worker (${(e as Error).message})`));
      }
    });
    return this.unwire(value);
  }

  private unwire(v: unknown): unknown {
    if (isWireTensor(v)) return fromWire(v, 'result');
    if (isWireModel(v)) return new RemoteModel(this, v);
    if (Array.isArray(v)) return v.map((x) => this.unwire(x));
    if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.unwire(x)]));
    return v;
  }

  /** Load a model in the worker: ONNX bytes, or a path / URL (relative URLs resolve against this page). */
  async loadModel(source: string | URL | Uint8Array | ArrayBuffer): Promise<RemoteModel> {
    return this.call('loadModel', [typeof source === 'string' || source instanceof URL ? absolute(source) : source]) as Promise<RemoteModel>;
  }

  /** A sequential model in the worker over models it holds and new layers given as specs ({ dense: { units: 10 } }). */
  async sequential(cfg: { name?: string; layers: Array<RemoteModel | LayerSpec> }): Promise<RemoteModel> {
    return this.call('sequential', [cfg]) as Promise<RemoteModel>;
  }

  /** eg.quantize of a model the worker holds: a new model there. */
  async quantize(model: RemoteModel, opts: QuantizeOptions = {}): Promise<RemoteModel> {
    return this.call('quantize', [model, opts]) as Promise<RemoteModel>;
  }

  /** Stop the worker; calls in flight fail. */
  terminate(): void {
    this.fail(new Error('edgegrad.worker: the worker was terminated'));
    this.ep.terminate();
  }
}

/** A model held by a worker: the in-thread model's calls, async. */
export class RemoteModel {
  readonly id: number;
  readonly name: string;

  /** @internal */
  constructor(readonly worker: EdgeWorker, w: WireModel) {
    this.id = w.$model;
    this.name = w.name;
  }

  private call(op: string, ...args: unknown[]): Promise<unknown> {
    return this.worker.call(op, args, this.id);
  }

  /** The model's summary text (printed here too unless print is false). */
  async summary(opts: { print?: boolean } = {}): Promise<string> {
    const s = await this.call('summary') as string;
    if (opts.print !== false) console.log(s);
    return s;
  }

  /** The model up to a node or layer, as a new model in the worker. */
  async cut(at: string | number): Promise<RemoteModel> {
    return this.call('cut', at) as Promise<RemoteModel>;
  }

  async freeze(opts: { upTo?: string | number; batchNorm?: BatchNormMode } = {}): Promise<this> {
    await this.call('freeze', opts);
    return this;
  }

  async unfreeze(opts: { batchNorm?: BatchNormMode } = {}): Promise<this> {
    await this.call('unfreeze', opts);
    return this;
  }

  /** Set lrScale / trainable / batchNormMode on the model or, with `layer` (name or index), on one of its layers. */
  async set(props: { lrScale?: number; trainable?: boolean; batchNormMode?: BatchNormMode }, layer?: string | number): Promise<this> {
    await this.call('set', props, layer);
    return this;
  }

  async compile(args: Omit<CompileArgs, 'optimizer'> & { optimizer: OptimizerSpec }): Promise<void> {
    await this.call('compile', args);
  }

  /**
   * Train in the worker. Progress hooks run here as the worker reports them; `signal` stops the fit after
   * the batch in progress (the promise rejects with an AbortError; the worker's weights are those of the
   * last completed step).
   */
  async fit(x: Tensor, y: Tensor, args: RemoteFitArgs = {}): Promise<History> {
    const { callbacks, signal, ...rest } = args;
    const list = callbacks === undefined ? [] : Array.isArray(callbacks) ? callbacks : [callbacks];
    const hooks: RemoteCallbacks[] = [], builtins: object[] = [];
    const HOOKS = ['onTrainBegin', 'onEpochBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd', 'onFeaturesProgress'];
    list.forEach((c, i) => {
      if (c && typeof c === 'object' && ('earlyStopping' in c || 'reduceLROnPlateau' in c)) builtins.push(c);
      else if (c && typeof c === 'object' && 'setModel' in c) throw new Error("edgegrad.worker: fit: eg.callbacks.* act on a model in their own thread: give a worker's fit their options, { earlyStopping: { patience: 3 } }");
      else if (c && typeof c === 'object' && Object.keys(c).length && Object.keys(c).every((k) => HOOKS.includes(k) && typeof (c as Record<string, unknown>)[k] === 'function')) hooks.push(c as RemoteCallbacks);
      else throw new Error(`edgegrad.worker: fit: callbacks[${i}] is neither progress hooks (${HOOKS.join(', ')}: functions) nor { earlyStopping: {...} } / { reduceLROnPlateau: {...} }: got ${JSON.stringify(c)}`);
    });
    const names = [...new Set(hooks.flatMap((h) => Object.keys(h).filter((k) => typeof (h as Record<string, unknown>)[k] === 'function')))];
    // a hook that throws stops the fit (after the batch in progress) and the fit rejects with its error,
    // as in this thread: the hooks run here, so the error is caught here and the worker is told to stop
    const stop = new AbortController();
    let hookError: { e: unknown } | undefined;
    const on = (event: string, a: unknown[]) => {
      if (hookError) return;
      try {
        for (const h of hooks) (h as Record<string, ((...v: unknown[]) => void) | undefined>)[event]?.(...a);
      } catch (e) {
        hookError = { e };
        stop.abort();
      }
    };
    const both = signal ? anySignal([signal, stop.signal]) : stop.signal;
    try {
      return await (this.worker.call('fit', [x, y, { ...rest, hooks: names, builtins }], this.id, { on, signal: both }) as Promise<History>);
    } catch (e) {
      throw hookError ? hookError.e : e;
    } finally {
      if (hookError === undefined) stop.abort(); // releases the listener on the user's signal
    }
  }

  /**
   * Outputs for x, as tensors on this thread: one tensor, or (an imported model with several inputs or
   * outputs) tensors in order / a { name: tensor } map, as the model's predict.
   */
  async predict(x: Tensor, opts?: { batchSize?: number }): Promise<Tensor>;
  async predict(x: Tensor | Tensor[] | Record<string, Tensor>, opts?: { batchSize?: number }): Promise<Tensor | Tensor[] | Record<string, Tensor>>;
  async predict(x: Tensor | Tensor[] | Record<string, Tensor>, opts: { batchSize?: number } = {}): Promise<Tensor | Tensor[] | Record<string, Tensor>> {
    return this.call('predict', x, opts) as Promise<Tensor>;
  }

  async evaluate(x: Tensor, y: Tensor, opts: { batchSize?: number } = {}): Promise<Logs> {
    return this.call('evaluate', x, y, opts) as Promise<Logs>;
  }

  /** Save where the worker can write: indexeddb://name in browsers' workers, a path in Node, Deno and Bun. */
  async save(target: string, options: SaveOptions = {}): Promise<void> {
    await this.call('save', target, options);
  }

  /** The model's ONNX bytes. */
  async toOnnx(options: SaveOptions = {}): Promise<Uint8Array> {
    return this.call('toOnnx', options) as Promise<Uint8Array>;
  }

  /** The model on this thread (through its ONNX bytes): for inference here, or to keep after the worker ends. */
  async local(options: SaveOptions = {}): Promise<import('../graph-model.js').GraphModel> {
    const io = await import('../io/index.js');
    return io.loadModel(await this.toOnnx(options));
  }

  /** Free the model in the worker. */
  async dispose(): Promise<void> {
    await this.call('dispose');
  }
}

function webEndpoint(w: Worker, client: () => EdgeWorker | undefined, failed: (e: Error) => void): Endpoint {
  w.onmessage = (e: MessageEvent) => client()?.receive(e.data as Reply);
  w.onerror = (e: ErrorEvent) => {
    e.preventDefault?.();
    failed(new Error(`edgegrad.worker: the worker failed: ${e.message || 'its script did not load (check the URL, that it is served as JavaScript, and a CSP worker-src)'}`));
  };
  return { post: (m, t) => w.postMessage(m, t), busy: () => {}, terminate: () => w.terminate() };
}

function nodeEndpoint(w: NodeWorker, client: () => EdgeWorker | undefined, failed: (e: Error) => void): Endpoint {
  w.on('message', (m: never) => client()?.receive(m as Reply));
  w.on('error', (e: never) => failed(new Error(`edgegrad.worker: the worker failed: ${(e as Error).message}`)));
  w.on('exit', (code: never) => failed(new Error(`edgegrad.worker: the worker exited (code ${code as number})`)));
  w.unref();
  return { post: (m, t) => w.postMessage(m, t), busy: (on) => (on ? w.ref() : w.unref()), terminate: () => { void w.terminate(); } };
}

/**
 * Start a worker running edgegrad. Its models are driven from here (`loadModel`, `sequential`, then the
 * model's compile / fit / predict / evaluate / save, all async); tensors cross by copy, and results come
 * back as tensors on this thread.
 */
export async function worker(opts: WorkerOptions = {}): Promise<EdgeWorker> {
  await ready(); // results become tensors here
  const url = scriptUrl(opts.url);
  let client: EdgeWorker | undefined;
  let early: Error | undefined;
  const failed = (e: Error) => { if (client) client.fail(e); else early = e; };
  let ep: Endpoint;
  if (isNode()) {
    const spec = 'node:worker_threads';
    const wt = (await import(spec)) as { Worker: new (u: URL, o: { execArgv?: string[] }) => NodeWorker };
    ep = nodeEndpoint(new wt.Worker(url, { execArgv: workerExecArgv() }), () => client, failed);
  } else if (typeof Worker === 'function') {
    let w: Worker;
    try {
      w = new Worker(url, { type: 'module', name: 'edgegrad' });
    } catch (e) {
      const fileHint = url.protocol === 'file:' ? ': a page opened from file:// cannot start workers (serve it over http(s) or your webview\'s own scheme, or train in the page: fit yields to the event loop)' : '';
      throw new Error(`edgegrad.worker: cannot start a worker from '${url.href}'${fileHint} (${(e as Error).message})`);
    }
    ep = webEndpoint(w, () => client, failed);
  } else {
    throw new Error('edgegrad.worker: this runtime has no workers (no Worker, no node:worker_threads)');
  }
  client = new EdgeWorker(ep, url.href);
  if (early) client.fail(early);
  try {
    const info = await client.call('ready', [opts.backend ?? {}]) as { name: string; build: string; threads: unknown };
    client.info = { backend: info.name, build: info.build, threads: info.threads };
  } catch (e) {
    ep.terminate();
    throw e;
  }
  return client;
}
