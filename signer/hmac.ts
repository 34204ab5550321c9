import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CodedError } from '../common/index.ts';

/*
 * The reference phase-2 signer's `X-Covenant-HMAC` (covenant-emulator@cdb5178:
 * covenant-signer/signerservice/middlewares/hmac_auth.go:18, 71-102; client.go:26-41): lowercase hex
 * HMAC-SHA256, keyed by the UTF-8 bytes of the configured string, over the raw body only. Nothing
 * binds a MAC to a time, a request or a route, so any captured request verifies for ever.
 *
 * Our opt-in extension, which a reference emulator can adopt by sending two more headers:
 *   X-Covenant-Timestamp: unix time in seconds, decimal
 *   X-Covenant-Nonce:     16 to 128 characters of [A-Za-z0-9_-], fresh per request
 *   X-Covenant-HMAC:      lowercase hex HMAC-SHA256(key, input), input = the UTF-8 bytes of
 *     "covenant-hmac-v1\n" + METHOD + "\n" + PATH + "\n" + TIMESTAMP + "\n" + NONCE + "\n" +
 *     lowercase hex SHA-256 of the raw body bytes (of the empty string for no body)
 * PATH is the request target as sent (e.g. "/v1/sign-transactions"), METHOD upper case. A request
 * is accepted once: its timestamp within ±window of the signer's clock, its nonce not seen within
 * the window. The body-only form is accepted only with allow_body_only_hmac = true.
 */

export const HMAC_HEADER = 'x-covenant-hmac';
export const HMAC_TIMESTAMP_HEADER = 'x-covenant-timestamp';
export const HMAC_NONCE_HEADER = 'x-covenant-nonce';
const NONCE_RE = /^[A-Za-z0-9_-]{16,128}$/;
const HEX64_RE = /^[0-9a-f]{64}$/;

export interface HmacOptions {
  /** The shared key as the reference configures it: a string, used as its UTF-8 bytes. */
  readonly key: string;
  readonly allowBodyOnly: boolean;
  readonly windowSeconds: number;
  /** Nonces remembered at once; beyond it, new requests are refused until old ones expire. */
  readonly maxNonces: number;
  readonly now?: () => number;
}

/** The hardened MAC input (see the header comment). */
export function hmacInput(
  method: string,
  path: string,
  timestamp: string,
  nonce: string,
  body: Uint8Array,
): Buffer {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return Buffer.from(
    `covenant-hmac-v1\n${method.toUpperCase()}\n${path}\n${timestamp}\n${nonce}\n${bodyHash}`,
    'utf8',
  );
}

/** What a client sends: the three headers for one request. */
export function hardenedHmacHeaders(
  key: string,
  method: string,
  path: string,
  body: Uint8Array,
  nonce: string,
  timestamp = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const ts = String(timestamp);
  return {
    [HMAC_TIMESTAMP_HEADER]: ts,
    [HMAC_NONCE_HEADER]: nonce,
    [HMAC_HEADER]: createHmac('sha256', Buffer.from(key, 'utf8'))
      .update(hmacInput(method, path, ts, nonce, body))
      .digest('hex'),
  };
}

const fail = (code: string, message: string): never => {
  throw new CodedError(code, message);
};

function header(req: Pick<FastifyRequest, 'headers'>, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** Checks one request's MAC; remembers its nonce once it verifies. */
export class HmacVerifier {
  readonly #key: Buffer;
  /** nonce → when it may be forgotten (ms); insertion order is expiry order (one window for all). */
  readonly #nonces = new Map<string, number>();
  constructor(readonly opts: HmacOptions) {
    this.#key = Buffer.from(opts.key, 'utf8');
  }

  #mac(data: Uint8Array): Buffer {
    return createHmac('sha256', this.#key).update(data).digest();
  }

  #equal(givenHex: string, expected: Buffer): boolean {
    // Case-sensitive lowercase hex, as the reference compares the hex strings.
    return HEX64_RE.test(givenHex) && timingSafeEqual(Buffer.from(givenHex, 'hex'), expected);
  }

  /**
   * @throws {CodedError} SIGNER_HMAC_MISSING, SIGNER_HMAC_BODY_ONLY_REFUSED, SIGNER_HMAC_INVALID,
   *   SIGNER_HMAC_STALE, SIGNER_HMAC_REPLAY, SIGNER_BUSY (the nonce store is full)
   */
  verify(
    req: { method: string; url: string; headers: FastifyRequest['headers'] },
    body: Uint8Array,
  ): 'hardened' | 'body-only' {
    const given = header(req, HMAC_HEADER);
    if (given === undefined) fail('SIGNER_HMAC_MISSING', 'the X-Covenant-HMAC header is required');
    const ts = header(req, HMAC_TIMESTAMP_HEADER);
    const nonce = header(req, HMAC_NONCE_HEADER);
    if (ts === undefined && nonce === undefined) {
      if (!this.opts.allowBodyOnly) {
        fail(
          'SIGNER_HMAC_BODY_ONLY_REFUSED',
          'a body-only X-Covenant-HMAC can be replayed; send X-Covenant-Timestamp and X-Covenant-Nonce (signer/README.md)',
        );
      }
      if (!this.#equal(given!, this.#mac(body)))
        fail('SIGNER_HMAC_INVALID', 'X-Covenant-HMAC does not verify');
      return 'body-only';
    }
    if (ts === undefined || nonce === undefined || !/^[0-9]{1,12}$/.test(ts) || !NONCE_RE.test(nonce)) {
      fail(
        'SIGNER_HMAC_INVALID',
        'X-Covenant-Timestamp (unix seconds) and X-Covenant-Nonce (16-128 of [A-Za-z0-9_-]) must both be set',
      );
    }
    // The MAC first: an unauthenticated caller learns nothing about clocks and cannot fill the store.
    if (!this.#equal(given!, this.#mac(hmacInput(req.method, req.url, ts!, nonce!, body))))
      fail('SIGNER_HMAC_INVALID', 'X-Covenant-HMAC does not verify');
    const now = (this.opts.now ?? Date.now)();
    const windowMs = this.opts.windowSeconds * 1000;
    if (Math.abs(now - Number(ts) * 1000) > windowMs) {
      fail(
        'SIGNER_HMAC_STALE',
        `X-Covenant-Timestamp is more than ${this.opts.windowSeconds} s from the signer's clock`,
      );
    }
    for (const [n, until] of this.#nonces) {
      if (until > now) break;
      this.#nonces.delete(n);
    }
    if (this.#nonces.has(nonce!)) fail('SIGNER_HMAC_REPLAY', 'this X-Covenant-Nonce was already used');
    if (this.#nonces.size >= this.opts.maxNonces)
      fail('SIGNER_BUSY', 'too many authenticated requests in the HMAC window');
    // Forgotten only once its timestamp is out of the window, so it cannot come back.
    this.#nonces.set(nonce!, now + 2 * windowMs);
    return 'hardened';
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    covenantRawBody?: Buffer;
  }
}

/**
 * Route options that check the MAC before the body is validated: the raw body is kept while it is
 * read (bounded by `bodyLimit`), then verified in preValidation; a refusal is thrown as a coded
 * error, so the server's handler counts, logs and audits it.
 */
export function hmacRouteOptions(verifier: HmacVerifier, bodyLimit: number) {
  return {
    preParsing: async (req: FastifyRequest, _reply: unknown, payload: NodeJS.ReadableStream) => {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of payload as AsyncIterable<Buffer | string>) {
        const b = typeof c === 'string' ? Buffer.from(c) : c;
        size += b.length;
        if (size > bodyLimit)
          throw new CodedError('SIGNER_BODY_TOO_LARGE', `the request body is larger than ${bodyLimit} bytes`);
        chunks.push(b);
      }
      req.covenantRawBody = Buffer.concat(chunks);
      return Readable.from([req.covenantRawBody]);
    },
    preValidation: async (req: FastifyRequest) => {
      verifier.verify(req, req.covenantRawBody ?? Buffer.alloc(0));
    },
  };
}

/** Registers HMAC checks on the given routes of `app` (an onRoute hook: call before they are added). */
export function requireHmacOn(
  app: FastifyInstance,
  paths: ReadonlySet<string>,
  verifier: HmacVerifier,
  bodyLimit: number,
): void {
  const opts = hmacRouteOptions(verifier, bodyLimit);
  app.addHook('onRoute', (route) => {
    if (!paths.has(route.url)) return;
    const add = <T>(existing: T | T[] | undefined, hook: T): T[] => [
      ...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]),
      hook,
    ];
    route.preParsing = add(route.preParsing, opts.preParsing as never);
    route.preValidation = add(route.preValidation, opts.preValidation as never);
  });
}
