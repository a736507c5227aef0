// The worker's side: holds the models a thread loaded or built through it, and runs the calls it is sent
// (load, build, compile, fit, predict, evaluate, save, quantize) one message at a time; fit reports its
// progress as events and yields between batches, so a cancel message is seen within one batch.
import * as eg from '../index.js';
import type { Callback } from '../train/callbacks.js';
import type { Layer } from '../layers/layer.js';
import { isWireModel, isWireTensor, fromWire, deepMap, wireTensor, type Call, type Abort, type Reply } from './protocol.js';

/** Where messages come from and go to: a Web Worker's global scope, or Node's parentPort. */
export interface Port {
  post(msg: Reply, transfer: Transferable[]): void;
  listen(f: (msg: Call | Abort) => void): void;
}

type AnyModel = eg.Model | eg.GraphModel;
const HOOKS = ['onTrainBegin', 'onEpochBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd', 'onFeaturesProgress'] as const;
/** Properties a thread may set on a worker's model (or on one of its layers). */
const SETTABLE = ['lrScale', 'trainable', 'batchNormMode'] as const;

export function serve(port: Port): void {
  const models = new Map<number, AnyModel>();
  const aborts = new Map<number, AbortController>();
  let nextId = 1;
  const keep = (m: AnyModel) => { const id = nextId++; models.set(id, m); return { $model: id, name: m.name }; };
  const model = (v: unknown, where: string): AnyModel => {
    const m = isWireModel(v) ? models.get(v.$model) : undefined;
    if (!m) throw new Error(`edgegrad.worker: ${where}: not a model of this worker (disposed?)`);
    return m;
  };

  async function run(c: Call, args: unknown[], emit: (event: string, args: unknown[]) => void): Promise<unknown> {
    if (c.target === undefined) {
      switch (c.op) {
        case 'ready': {
          const be = await eg.ready(args[0] as eg.ReadyOptions);
          const info = be as eg.Backend & { build?: string; threads?: unknown };
          return { name: be.name, build: info.build ?? be.name, threads: info.threads ?? 1 };
        }
        case 'loadModel': return keep(await eg.loadModel(args[0] as string | Uint8Array));
        case 'sequential': {
          const cfg = args[0] as { name?: string; layers: unknown[] };
          if (!Array.isArray(cfg?.layers) || cfg.layers.length === 0) throw new Error('edgegrad.worker: sequential needs { layers: [...] } with at least one layer (a model of this worker, or a spec { dense: {...} })');
          const layers = cfg.layers.map((l, i) => (isWireModel(l) ? model(l, `sequential layers[${i}]`) : layerOf(l, i)));
          return keep(eg.sequential({ name: cfg.name, layers: layers as Array<Layer | eg.GraphModel> }));
        }
        case 'quantize': return keep(await eg.quantize(model(c.args[0], 'quantize'), args[1] as eg.QuantizeOptions));
        default: throw new Error(`edgegrad.worker: unknown call '${c.op}'`);
      }
    }
    const m = model({ $model: c.target }, c.op);
    switch (c.op) {
      case 'summary': return m.summary({ print: false });
      case 'cut': return keep(m.cut(args[0] as string | number));
      case 'freeze': case 'unfreeze': (m as eg.Model)[c.op](args[0] as object); return undefined;
      case 'set': {
        const [props, at] = args as [Record<string, unknown>, string | number | undefined];
        const target = at === undefined ? m : layerAt(m, at);
        for (const [k, v] of Object.entries(props)) {
          if (!(SETTABLE as readonly string[]).includes(k)) throw new Error(`edgegrad.worker: set: '${k}' cannot be set (settable: ${SETTABLE.join(', ')})`);
          if (!(k in target)) throw new Error(`edgegrad.worker: set: '${(target as { name?: string }).name}' has no '${k}'`);
          (target as unknown as Record<string, unknown>)[k] = v;
        }
        return undefined;
      }
      case 'compile': {
        const a = { ...(args[0] as eg.CompileArgs & { optimizer: unknown }) };
        a.optimizer = optimizerOf(a.optimizer) as eg.Optimizer;
        trainable(m, 'compile').compile(a as eg.CompileArgs);
        return undefined;
      }
      case 'fit': {
        const [x, y, o] = args as [eg.Tensor, eg.Tensor, Record<string, unknown> & { hooks?: string[]; builtins?: Array<Record<string, object>>; validationData?: [unknown, unknown] }];
        const ctl = new AbortController();
        aborts.set(c.id, ctl);
        const relay: Callback = {};
        for (const h of o.hooks ?? []) {
          if (!(HOOKS as readonly string[]).includes(h)) continue;
          (relay as Record<string, unknown>)[h] = (...a: unknown[]) => { emit(h, a); };
        }
        const cbs: Callback[] = [relay, ...(o.builtins ?? []).map(builtinCallback)];
        const { hooks: _h, builtins: _b, ...rest } = o;
        try {
          return await trainable(m, 'fit').fit(x, y, { yieldEvery: 0, ...rest, callbacks: cbs, signal: ctl.signal } as eg.FitArgs);
        } finally {
          aborts.delete(c.id);
        }
      }
      case 'predict': return m instanceof eg.Model ? m.predict(args[0] as eg.Tensor, args[1] as { batchSize?: number }) : m.predict(args[0] as eg.Tensor[]);
      case 'evaluate': return trainable(m, 'evaluate').evaluate(args[0] as eg.Tensor, args[1] as eg.Tensor, args[2] as { batchSize?: number });
      case 'save': await m.save(args[0] as string, args[1] as eg.SaveOptions); return undefined;
      case 'toOnnx': return eg.toOnnx(m, args[0] as eg.SaveOptions);
      case 'dispose': models.delete(c.target); (m as { dispose?: () => void }).dispose?.(); return undefined;
      default: throw new Error(`edgegrad.worker: a model has no call '${c.op}'`);
    }
  }

  async function handle(c: Call): Promise<void> {
    const transfer: Transferable[] = [];
    const emit = (event: string, a: unknown[]) => port.post({ id: c.id, event, args: a }, []);
    const made: eg.Tensor[] = [];
    try {
      // the call's tensors live for the call (fit's validation data included)
      const args = await deepMap(c.args, (v) => (isWireTensor(v) ? (made[made.length] = fromWire(v, `${c.op} argument`)) : v)) as unknown[];
      let value = await run(c, args, emit);
      if (value instanceof Uint8Array) transfer.push(value.buffer as ArrayBuffer);
      // tensors (one, or several outputs in an array or by name) cross as their bytes
      else value = await deepMap(value, async (v) => { if (!(v instanceof eg.Tensor)) return v; const w = await wireTensor(v, transfer); v.dispose(); return w; });
      port.post({ id: c.id, ok: true, value }, transfer);
    } catch (e) {
      const err = e as Error;
      port.post({ id: c.id, ok: false, error: { name: err?.name ?? 'Error', message: err?.message ?? String(e), stack: err?.stack } }, []);
    } finally {
      for (const t of made) t.dispose();
    }
  }

  // calls run in order, one at a time (a second fit waits for the first); an abort is handled at once
  let queue = Promise.resolve();
  port.listen((msg) => {
    if ('abort' in msg) { aborts.get(msg.abort)?.abort(); return; }
    queue = queue.then(() => handle(msg));
  });
}

function trainable(m: AnyModel, op: string, inference = false): eg.Model {
  if (!inference && !(m instanceof eg.Model)) {
    throw new Error(`edgegrad.worker: ${op}: model '${m.name}' is an imported graph: put it in a sequential model to ${op} it (worker.sequential({ layers: [model, ...] }))`);
  }
  return m as eg.Model;
}

/** A layer from its spec, { dense: { units: 10 } }, as eg.layers.dense({ units: 10 }). */
function layerOf(spec: unknown, i: number): Layer {
  const keys = spec && typeof spec === 'object' ? Object.keys(spec) : [];
  const names = Object.keys(eg.layers);
  if (keys.length !== 1 || !names.includes(keys[0])) {
    throw new Error(`edgegrad.worker: sequential layers[${i}]: a layer is a model of this worker or a spec { <name>: config } with a name of eg.layers (${names.join(', ')}), got ${JSON.stringify(spec)}`);
  }
  const make = (eg.layers as Record<string, (c: unknown) => Layer>)[keys[0]];
  const cfg = ((spec as Record<string, unknown>)[keys[0]] ?? {}) as Record<string, unknown>;
  // wrappers (bidirectional, timeDistributed) take their inner layers as specs too
  const inner = (v: unknown): unknown => (v && typeof v === 'object' && !(v instanceof eg.Layer) ? layerOf(v, i) : v);
  return make('layer' in cfg || 'backwardLayer' in cfg ? { ...cfg, layer: inner(cfg.layer), ...('backwardLayer' in cfg ? { backwardLayer: inner(cfg.backwardLayer) } : {}) } : cfg);
}

function layerAt(m: AnyModel, at: string | number): Layer {
  const layers = (m as eg.Model).layers as Layer[] | undefined;
  const l = layers && (typeof at === 'number' ? layers[at] : layers.find((x) => x.name === at));
  if (!l) throw new Error(`edgegrad.worker: set: model '${m.name}' has no layer ${JSON.stringify(at)}${layers ? ` (layers: ${layers.map((x) => x.name).join(', ')})` : ''}`);
  return l;
}

/** An optimizer from a name ('adam') or a spec ({ adam: { learningRate: 1e-3 } }). */
function optimizerOf(o: unknown): eg.Optimizer | string {
  if (typeof o === 'string') return o;
  const keys = o && typeof o === 'object' ? Object.keys(o) : [];
  const names = Object.keys(eg.optimizers);
  if (keys.length !== 1 || !names.includes(keys[0])) {
    throw new Error(`edgegrad.worker: compile: optimizer must be a name or a spec { <name>: config } with a name of eg.optimizers (${names.join(', ')}), got ${JSON.stringify(o)}`);
  }
  return (eg.optimizers as Record<string, (c: unknown) => eg.Optimizer>)[keys[0]]((o as Record<string, unknown>)[keys[0]]);
}

/** The callbacks of eg.callbacks from their specs: { earlyStopping: { patience: 3 } }. */
function builtinCallback(spec: Record<string, object>): Callback {
  const [k] = Object.keys(spec);
  const make = (eg.callbacks as Record<string, (o: object) => Callback>)[k];
  if (!make) throw new Error(`edgegrad.worker: fit: unknown callback '${k}' (have ${Object.keys(eg.callbacks).join(', ')})`);
  return make(spec[k]);
}
