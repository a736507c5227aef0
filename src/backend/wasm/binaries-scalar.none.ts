// Stands in for binaries-scalar.generated.ts in the classic-script build, which leaves the scalar build out to
// stay small: engines without WebAssembly SIMD load dist/edgegrad-scalar.js before it (globalThis.edgegradScalarBuild).
export const scalar: string = '';
