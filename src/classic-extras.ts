// The classic script's add-on (dist/edgegrad-extras.js). In the classic build (rollup.config.mjs), each
// `import('./<module>.js')` of a module that the ES module build loads on first use and the add-on carries
// becomes extra('<module>.js', '<what it brings>'), and a module imported statically for such tools is a
// facade over extraNow: the add-on, loaded after the classic script, has put its modules here
// (registerExtras), or the error names the script to include.

const loaded: Record<string, Record<string, unknown>> = {};

/** Called by dist/edgegrad-extras.js when it runs: its modules, by their path under src/ (as .js). */
export function registerExtras(modules: Record<string, Record<string, unknown>>): void {
  Object.assign(loaded, modules);
}

/** The add-on's module at `path`; `what` names the tools it brings, for the error when it is missing. */
export function extraNow(path: string, what: string): Record<string, unknown> {
  const m = loaded[path];
  if (m) return m;
  throw new Error(`edgegrad: ${what}: not in the classic script (dist/edgegrad.js) but in its add-on: include <script src=".../dist/edgegrad-extras.js"> after dist/edgegrad.js`);
}

/** extraNow as import() gives a module: a Promise. */
export function extra(path: string, what: string): Promise<Record<string, unknown>> {
  return new Promise((ok) => ok(extraNow(path, what)));
}

/** The module at `path` if the add-on is loaded (the facades' classes answer instanceof through it). */
export function extraLoaded(path: string): Record<string, unknown> | undefined {
  return loaded[path];
}
