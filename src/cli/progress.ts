// A progress bar for long work: on a terminal one line redrawn in place (bar, count, elapsed, ETA and what
// the caller adds, e.g. loss and accuracy); elsewhere (pipes, CI logs) a plain line at most every 2 s.
declare const process: { stderr: { isTTY?: boolean; write(s: string): boolean; columns?: number } } | undefined;

export class Progress {
  private t0 = performance.now();
  private lastLine = 0;
  private readonly tty: boolean;

  constructor(private readonly label: string, private readonly total: number, private readonly write: (s: string) => void = (s) => process?.stderr.write(s), tty?: boolean) {
    this.tty = tty ?? !!(typeof process !== 'undefined' && process.stderr.isTTY);
  }

  update(done: number, extra = ''): void {
    const now = performance.now();
    const s = (now - this.t0) / 1000;
    const final = done >= this.total;
    if (!this.tty && !final && now - this.lastLine < 2000) return;
    this.lastLine = now;
    const eta = done > 0 ? (s / done) * (this.total - done) : NaN;
    const width = 24, fill = Math.round((width * done) / this.total);
    const bar = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}]`;
    const line = `${this.label} ${bar} ${done}/${this.total}  ${fmt(s)} elapsed, ETA ${Number.isFinite(eta) ? fmt(eta) : '?'}${extra ? `  ${extra}` : ''}`;
    this.write(this.tty ? `\r${line}\x1b[K${final ? '\n' : ''}` : `${line}\n`);
  }
}

function fmt(s: number): string {
  return s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}
