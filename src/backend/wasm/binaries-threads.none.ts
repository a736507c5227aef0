// Stands in for binaries-threads.generated.ts in bundles that must stay small and can never run threads
// (the classic-script build for file:// pages, which cannot be cross-origin isolated): a bundler aliases
// the generated module to this one, and ready() then reports why it runs one thread.
export const relaxed_threads: string = '';
export const simd_threads: string = '';
