// One curve for every room: native libsecp256k1 under Node, JavaScript in a browser bundle. The
// choice is package.json's `imports` condition, so no room picks a library itself.
export { ecc, isPublicKey, isXOnlyPublicKey, xOnlyTweakAdd } from '#curve';
