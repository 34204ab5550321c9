import { crypto } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256 as browserSha256 } from './sha256.browser.ts';
import { sha256 as nodeSha256 } from './sha256.node.ts';

describe('#sha256: the Node build and the browser build', () => {
  it('agree with each other and with bitcoinjs on any data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const expected = new Uint8Array(crypto.sha256(data));
        expect(new Uint8Array(nodeSha256(data))).toEqual(expected);
        expect(new Uint8Array(browserSha256(data))).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
