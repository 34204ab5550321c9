// For tests in folders that may not import bitcoind/ (DESIGN.md, rooms): the one way to pick a port.
export { freePort } from '../../bitcoind/index.ts';
