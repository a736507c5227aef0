// The planner's placement of buffers in one arena (graph/executor.ts placeInOrder): on random lifetimes and
// sizes, no two buffers alive at the same node share a byte, and the offsets are those of the plain form of
// the same rule (each buffer against the placed ones alive with it, sorted by offset), written out here.
import { describe, expect, it } from 'vitest';
import { placeInOrder, type Item } from '../src/graph/executor.js';

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n buffers over `nodes` node indices: sizes in 64-byte steps, some alive from before node 0 or to the end. */
function randomItems(n: number, nodes: number, seed: number): Item[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, id) => {
    const from = Math.floor(r() * (nodes + 1)) - 1, to = r() < 0.1 ? nodes : Math.min(nodes, from + 1 + Math.floor(r() * r() * nodes));
    return { id, size: 64 * (1 + Math.floor(r() * r() * 200)), from, to: Math.max(from, to) };
  });
}

/** The rule as first written: the placed buffers alive with this one, sorted by offset, walked for a gap. */
function reference(items: readonly Item[], bestFit: boolean): Map<number, number> {
  const placed: Array<{ off: number; size: number; from: number; to: number }> = [];
  const offsets = new Map<number, number>();
  for (const it of items) {
    const clash = placed.filter((p) => p.from <= it.to && it.from <= p.to).sort((a, b) => a.off - b.off);
    let off = 0, gap = Infinity, at = -1;
    for (const p of clash) {
      if (off + it.size <= p.off) {
        if (!bestFit) break;
        if (p.off - off < gap) { gap = p.off - off; at = off; }
      }
      off = Math.max(off, p.off + p.size);
    }
    if (bestFit && at >= 0) off = at;
    placed.push({ off, size: it.size, from: it.from, to: it.to });
    offsets.set(it.id, off);
  }
  return offsets;
}

/** The first pair of buffers alive at a common node whose bytes overlap, or '' if none. */
function collision(items: readonly Item[], offsets: Map<number, number>): string {
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i], b = items[j], oa = offsets.get(a.id)!, ob = offsets.get(b.id)!;
      if (a.from <= b.to && b.from <= a.to && oa < ob + b.size && ob < oa + a.size) return `buffers ${a.id} and ${b.id}`;
    }
  }
  return '';
}

/** The largest sum of sizes alive at one node: no placement is smaller. */
function liveBound(items: readonly Item[]): number {
  const at = new Map<number, number>();
  for (const it of items) for (let t = it.from; t <= it.to; t++) at.set(t, (at.get(t) ?? 0) + it.size);
  return Math.max(0, ...at.values());
}

describe('arena placement (placeInOrder)', () => {
  const orders: Array<[string, (a: Item, b: Item) => number]> = [
    ['largest first', (a, b) => b.size - a.size || a.from - b.from],
    ['longest-lived first', (a, b) => (b.to - b.from) - (a.to - a.from) || b.size - a.size],
    ['as given', () => 0],
  ];

  it('places random buffers with no two alive together overlapping, at the offsets of the plain rule, within the arena it reports', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const items = randomItems(5 + (seed * 7) % 120, 3 + (seed * 13) % 60, seed);
      for (const [name, order] of orders) {
        for (const bestFit of [false, true]) {
          const what = `seed ${seed}, ${name}${bestFit ? ', best fit' : ''}`;
          const sorted = items.slice().sort(order);
          const { offsets, total } = placeInOrder(sorted, bestFit);
          expect(collision(items, offsets), what).toBe('');
          expect([...offsets.entries()].sort((a, b) => a[0] - b[0]), what).toEqual([...reference(sorted, bestFit).entries()].sort((a, b) => a[0] - b[0]));
          expect(total, what).toBe(Math.max(0, ...items.map((it) => offsets.get(it.id)! + it.size)));
          expect(total, what).toBeGreaterThanOrEqual(liveBound(items));
        }
      }
    }
  });

  it('reuses a gap: a buffer alive after another dies takes its bytes, one alive with it goes above', () => {
    const items: Item[] = [{ id: 0, size: 128, from: 0, to: 2 }, { id: 1, size: 64, from: 3, to: 5 }, { id: 2, size: 64, from: 1, to: 4 }];
    const { offsets, total } = placeInOrder(items);
    expect([offsets.get(0), offsets.get(1), offsets.get(2)]).toEqual([0, 0, 128]);
    expect(total).toBe(192);
  });
});
