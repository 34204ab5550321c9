// common/hex.ts uses Node's Buffer for hex; in the browser bundle the `buffer` package provides the
// same API (esbuild `inject` points every free `Buffer` at this export).
export { Buffer } from 'buffer';
