// Stands in for ref/backend.ts in the classic-script build, which leaves the reference backend out to stay
// small (it is for tests, and for engines without WebAssembly, which no page that loads a script lacks).
export const RefBackend = {
  createSync(): never {
    throw new Error("edgegrad: the classic script (dist/edgegrad.js) leaves out the reference backend 'ref': use the ES module build (dist/index.js) for it");
  },
};
