import { CodedError } from './codedError.ts';

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * Decodes a hex string strictly: even length, hex digits only, and the exact byte length when
 * `bytes` is given. Node's Buffer.from(hex) silently stops at the first bad digit, which would turn
 * a malformed key into a shorter, wrong one; this never does.
 * @throws {CodedError} `code` (the caller's code) naming `field`.
 */
export function parseHex<C extends string>(
  value: unknown,
  field: string,
  code: C,
  opts: { bytes?: number; maxBytes?: number } = {},
): Uint8Array {
  if (typeof value !== 'string')
    throw new CodedError(code, `${field} must be a hex string`, { details: { field } });
  if (!HEX_RE.test(value)) {
    throw new CodedError(code, `${field} is not valid hex (even number of 0-9a-f digits)`, {
      details: { field },
    });
  }
  const len = value.length / 2;
  if (opts.bytes !== undefined && len !== opts.bytes) {
    throw new CodedError(code, `${field} must be ${opts.bytes} bytes, got ${len}`, { details: { field } });
  }
  if (opts.maxBytes !== undefined && len > opts.maxBytes) {
    throw new CodedError(code, `${field} must be at most ${opts.maxBytes} bytes, got ${len}`, {
      details: { field },
    });
  }
  return Uint8Array.from(Buffer.from(value, 'hex'));
}

/**
 * Lowercase hex of bytes. V8 keeps a typed array of up to 64 bytes inside its heap, and reading its
 * `.buffer` moves the bytes out into an ArrayBuffer of their own, which the next scavenge must sweep
 * (signer/README.md, Performance): short ones are copied into Buffer's pool instead.
 */
export function toHex(bytes: Uint8Array): string {
  if (bytes.byteLength <= 64) return Buffer.from(bytes).toString('hex');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Byte-wise equality without allocating. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lexicographic byte comparison (Go bytes.Compare). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Transaction hash (internal byte order) from a txid in display order, and back. */
export function txidToHash(txidHex: string, code: string, field = 'txid'): Uint8Array {
  return parseHex(txidHex, field, code, { bytes: 32 }).reverse();
}
export function hashToTxid(hash: Uint8Array): string {
  return toHex(Uint8Array.from(hash).reverse());
}
