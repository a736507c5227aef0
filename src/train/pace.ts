// Long work that shares its thread: fit, evaluate and feature caching give the event loop a turn every few
// milliseconds (a page keeps painting and handling input; a worker receives its cancel message), and stop
// at the next turn once their AbortSignal is aborted.

/** Options of long-running calls (fit, features): cancellation and yielding to the event loop. */
export interface Pacing {
  /**
   * Cancels the call: it stops after the batch in progress and rejects with the signal's reason (an
   * 'AbortError' DOMException unless abort() was given another). The weights are those of the last
   * completed step; the model stays usable.
   */
  signal?: AbortSignal;
  /**
   * Give the event loop a turn when this many milliseconds passed since the last (checked between
   * batches). Default 25: a page stays responsive during fit; 0 yields after every batch; Infinity never.
   */
  yieldEvery?: number;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

type Immediate = (f: () => void) => unknown;

/**
 * A turn of the event loop: setImmediate (Node, Bun, Deno), else a MessageChannel message (browsers, their
 * workers; unlike setTimeout(0), never clamped to 4 ms). Not scheduler.yield(): its continuation runs ahead
 * of the tasks already queued (a worker's cancel message, a page's timers), which is what must get a turn.
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: Immediate };
  if (typeof g.setImmediate === 'function') { const si = g.setImmediate; return new Promise((r) => { si(r); }); }
  if (typeof MessageChannel === 'function') {
    return new Promise((r) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => { ch.port1.close(); r(); };
      ch.port2.postMessage(null);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
}

/** The reason abort() was given, unless it is the default AbortError (undefined then). */
export function customReason(signal: AbortSignal): unknown {
  const r: unknown = signal.reason;
  // the default reasons: Node's, Chromium's, Firefox's / Safari's, Deno's
  const isDefault = r === undefined || ((r as { name?: string }).name === 'AbortError' && /^(This operation was aborted|signal is aborted without reason|The operation was aborted\.?|The signal has been aborted)$/i.test((r as { message?: string }).message ?? ''));
  return isDefault ? undefined : r;
}

/** The error an aborted call rejects with: the signal's own reason, or an AbortError naming where it stopped. */
export function abortError(signal: AbortSignal, where: string): unknown {
  const r = customReason(signal);
  if (r !== undefined) return r;
  const msg = `edgegrad: ${where} was aborted`;
  return typeof DOMException === 'function' ? new DOMException(msg, 'AbortError') : Object.assign(new Error(msg), { name: 'AbortError' });
}

/** Checks a long call's signal and yields to the event loop on its schedule. */
export class Pacer {
  private last = now();
  private readonly every: number;

  constructor(private readonly opts: Pacing = {}, private readonly what = 'fit') {
    const e = opts.yieldEvery ?? 25;
    if (!(e >= 0)) throw new Error(`edgegrad.${what}: yieldEvery must be a number of milliseconds >= 0 (or Infinity), got ${e}`);
    const s = opts.signal;
    if (s !== undefined && (typeof s !== 'object' || s === null || typeof s.aborted !== 'boolean')) {
      throw new Error(`edgegrad.${what}: signal must be an AbortSignal (new AbortController().signal)`);
    }
    this.every = e;
  }

  /** Throws the abort error if the signal was aborted; `where` says what completed. */
  check(where = ''): void {
    const s = this.opts.signal;
    if (s?.aborted) throw abortError(s, `${this.what}${where ? ` (${where})` : ''}`);
  }

  /** Between units of work: yields when it is time, then checks the signal. */
  async step(where = ''): Promise<void> {
    this.check(where);
    if (this.every === Infinity) return;
    if (now() - this.last >= this.every) {
      await yieldToEventLoop();
      this.last = now();
      this.check(where);
    }
  }
}
