// The import and export tables are gathered from op families, a module each: one table from all of them.

/** op -> entry from the families; an op that two families claim is a bug, thrown when the module loads */
export function gatherFamilies<T>(families: Readonly<Record<string, Readonly<Record<string, T>>>>, what: string): Map<string, T> {
  const table = new Map<string, T>(), from = new Map<string, string>();
  for (const [family, ops] of Object.entries(families)) {
    for (const [op, entry] of Object.entries(ops)) {
      if (table.has(op)) throw new Error(`edgegrad: ${what} '${op}' is in both the ${from.get(op)} and ${family} families`);
      table.set(op, entry);
      from.set(op, family);
    }
  }
  return table;
}
