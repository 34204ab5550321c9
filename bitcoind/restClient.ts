import { CodedError, isCodedError } from '../common/index.ts';
import type { BitcoindErrorCode } from './errors.ts';
import {
  type BodyLimit,
  HttpConnection,
  type HttpExchange,
  type HttpFailure,
  HttpTarget,
} from './httpConnection.ts';
import { optionsError, parseNodeUrl, timeoutOption } from './options.ts';

/**
 * A serialized block is at most 4,000,000 bytes (the weight limit); a larger body is no block, and
 * is refused before it is buffered.
 */
const BLOCK_LIMIT: BodyLimit = { bytes: 4_000_000, what: 'any block' };
const DEFAULT_CONNECTIONS = 4;
const HEX_HASH = /^[0-9a-f]{64}$/;

export interface RestClientOptions {
  /** The node's RPC endpoint, `http://127.0.0.1:8332` (REST is served on the same port); userinfo is ignored. */
  readonly url: string;
  /** Deadline of one call (all the requests it pipelines), milliseconds (default 30 000). */
  readonly timeoutMs?: number;
  /** Kept-alive connections, used least-loaded first (default 4). */
  readonly connections?: number;
}

/**
 * The read-only, unauthenticated REST interface of a node started with `-rest=1`, for what the
 * indexer fetches in bulk: block hashes by height and raw blocks as binary. A call's requests are
 * pipelined on one kept-alive HTTP/1.1 connection, written with a single socket write, and
 * answered in order (libevent serves a connection's requests one after another). Against
 * `getblock <hash> 0` this saves the node its hex encoding and JSON, and the client its JSON parse
 * and hex decode: in bench:indexer's chain, the node served the same 29.5 MB in 0.21–0.25 s with
 * 0.25 s of CPU, against 0.52–0.57 s and 0.51 s over JSON-RPC, and the client used 0.13–0.18 s of
 * CPU against 0.33–0.40 s. Node's http client and undici write every request with its own system
 * call, which cost more than the hex saved (measured: a sync over one request per block was slower
 * than over JSON-RPC batches); hence the small client of httpConnection.ts, which RpcClient shares.
 *
 * Calls reject with `RPC_HTTP` (details: status, path, body: the node's message, e.g. for a hash it
 * does not know, 404 "… not found"; 404 with an empty body for every path when REST is off),
 * `RPC_TIMEOUT`, `RPC_UNREACHABLE` or `RPC_BAD_RESPONSE`; a failure fails every call pipelined on
 * that connection, and the next call opens a new one.
 * @example
 * const rest = new RestClient({ url: 'http://127.0.0.1:18443' });
 * const [hash] = await rest.blockHashes([0]);
 * const [genesis] = await rest.blocks([hash]);
 */
export class RestClient {
  /** `http(s)://host:port`, no credentials: safe to log. */
  readonly url: string;
  readonly timeoutMs: number;
  readonly #target: HttpTarget;
  readonly #max: number;
  readonly #conns: HttpConnection[] = [];

  /** @throws {CodedError} RPC_BAD_OPTIONS for a URL that is not http(s), or a bad timeout or connection count */
  constructor(o: RestClientOptions) {
    const u = parseNodeUrl(o.url);
    const timeoutMs = timeoutOption(o.timeoutMs);
    const max = o.connections ?? DEFAULT_CONNECTIONS;
    if (!Number.isSafeInteger(max) || max < 1 || max > 64) {
      throw optionsError('connections must be an integer in [1, 64]', 'connections');
    }
    this.#target = new HttpTarget(u);
    this.url = `${u.protocol}//${u.host}`;
    this.timeoutMs = timeoutMs;
    this.#max = max;
  }

  /**
   * Whether the node serves REST: `/rest/chaininfo.json` answers 200. A node without `-rest`
   * answers 404 (false).
   * @throws {CodedError} RPC_UNREACHABLE, RPC_TIMEOUT, RPC_BAD_RESPONSE, RPC_HTTP (another status)
   */
  async available(): Promise<boolean> {
    try {
      await this.#get(['/rest/chaininfo.json'], false);
      return true;
    } catch (e) {
      if (isCodedError(e, 'RPC_HTTP') && e.details?.status === 404) return false;
      throw e;
    }
  }

  /**
   * The hashes (display hex) of the blocks at `heights` on the node's active chain.
   * @throws {CodedError} RPC_HTTP (404 for a height above the tip), RPC_BAD_RESPONSE, …
   */
  async blockHashes(heights: readonly number[]): Promise<string[]> {
    for (const h of heights) {
      if (!Number.isSafeInteger(h) || h < 0) throw optionsError(`not a block height: ${h}`, 'heights');
    }
    // Hashes are decoded here: their bodies need no memory of their own.
    const bodies = await this.#get(
      heights.map((h) => `/rest/blockhashbyheight/${h}.hex`),
      false,
    );
    return bodies.map((b, i) => {
      const hash = b.toString('latin1').trim();
      if (!HEX_HASH.test(hash)) {
        throw new CodedError<BitcoindErrorCode>(
          'RPC_BAD_RESPONSE',
          `the node's REST answer for the hash at height ${heights[i]} is not a block hash`,
          { details: { url: this.url, height: heights[i] } },
        );
      }
      return hash;
    });
  }

  /**
   * Raw serialized blocks by hash (display hex). Each owns its memory (never a slice of a shared
   * pool), so it can be transferred to another thread: memory of its own, or with `memory`, memory
   * given back to it (each block then a view of the start of its ArrayBuffer, which may be longer).
   * @throws {CodedError} RPC_HTTP (404 for an unknown hash), RPC_BAD_RESPONSE, …
   */
  blocks(hashes: readonly string[], memory?: BlockMemory): Promise<Uint8Array[]> {
    for (const h of hashes) {
      if (!HEX_HASH.test(h)) return Promise.reject(optionsError('not a block hash in hex', 'hashes'));
    }
    return this.#get(
      hashes.map((h) => `/rest/block/${h}.bin`),
      true,
      memory,
    );
  }

  /** Closes every connection; calls in flight reject with RPC_UNREACHABLE. */
  close(): void {
    for (const c of this.#conns.splice(0)) c.destroy(unreachable(this.url, 'the client was closed'));
  }

  toJSON(): { url: string } {
    return { url: this.url };
  }

  /**
   * One call: its requests pipelined on the least-loaded connection. `owned`: each body gets
   * memory of its own (transferable); otherwise small bodies may share Node's pool.
   */
  #get(paths: readonly string[], owned = true, memory?: BlockMemory): Promise<Buffer[]> {
    if (paths.length === 0) return Promise.resolve([]);
    for (let i = this.#conns.length - 1; i >= 0; i--) if (this.#conns[i]!.dead) this.#conns.splice(i, 1);
    let conn = this.#conns.reduce<HttpConnection | undefined>(
      (best, c) => (!best || c.load < best.load ? c : best),
      undefined,
    );
    if (!conn || (conn.load > 0 && this.#conns.length < this.#max)) {
      conn = new HttpConnection(this.#target);
      this.#conns.push(conn);
    }
    const c = conn;
    return new Promise<Buffer[]>((resolve, reject) => {
      const call = new Call(paths, owned, this.url, this.timeoutMs, c, resolve, reject);
      if (memory) call.bodyMemory = (bytes) => memory.take(bytes);
      let requests = '';
      for (const p of paths) requests += `GET ${p} HTTP/1.1\r\nHost: rest\r\nAccept: */*\r\n\r\n`;
      c.send(requests, 'latin1', call, paths.length);
    });
  }
}

/**
 * The requests of one call, answered in order on one connection; settled once, at its first failure
 * or its last answer (later answers to it are read and dropped).
 */
class Call implements HttpExchange {
  readonly limit = BLOCK_LIMIT;
  bodyMemory: ((bytes: number) => Buffer) | undefined;
  readonly bodies: Buffer[];
  /** Answers received so far. */
  #answered = 0;
  #settled = false;
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly paths: readonly string[],
    readonly owned: boolean,
    readonly url: string,
    timeoutMs: number,
    conn: HttpConnection,
    readonly resolve: (bodies: Buffer[]) => void,
    readonly reject: (e: CodedError<BitcoindErrorCode>) => void,
  ) {
    this.bodies = new Array<Buffer>(paths.length);
    // A call the node does not answer in time takes its connection with it: whatever else was
    // pipelined there would be answered after it.
    this.#timer = setTimeout(
      () =>
        conn.destroy(
          new CodedError<BitcoindErrorCode>(
            'RPC_TIMEOUT',
            `the node's REST interface did not answer ${paths.length} request(s) within ${timeoutMs} ms`,
            { details: { url, timeoutMs } },
          ),
        ),
      timeoutMs,
    );
  }

  answer(status: number, body: Buffer): void {
    const i = this.#answered++;
    if (status === 200) {
      this.bodies[i] = body;
      if (this.#answered === this.paths.length) this.#settle(this.bodies);
      return;
    }
    const path = this.paths[i]!;
    const message = body.subarray(0, 200).toString('utf8').trim();
    this.#settle(
      new CodedError<BitcoindErrorCode>(
        'RPC_HTTP',
        `the node's REST interface answered ${status} for ${path}${message ? `: ${message}` : status === 404 ? ' (is the node started with -rest=1?)' : ''}`,
        { details: { url: this.url, status, path, body: message } },
      ),
    );
  }

  fail(f: HttpFailure): void {
    if (f.kind === 'local') this.#settle(f.error);
    else if (f.kind === 'protocol') {
      this.#settle(
        new CodedError<BitcoindErrorCode>('RPC_BAD_RESPONSE', `the node's REST interface: ${f.why}`, {
          details: { url: this.url },
        }),
      );
    } else this.#settle(unreachable(this.url, f.why, f.cause));
  }

  #settle(outcome: Buffer[] | CodedError<BitcoindErrorCode>): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    if (Array.isArray(outcome)) this.resolve(outcome);
    else this.reject(outcome);
  }
}

function unreachable(url: string, why: string, cause?: unknown): CodedError<BitcoindErrorCode> {
  return new CodedError<BitcoindErrorCode>('RPC_UNREACHABLE', `the node's REST interface at ${url}: ${why}`, {
    ...(cause ? { cause } : {}),
    details: { url, ...(cause ? { errno: (cause as NodeJS.ErrnoException).code } : {}) },
  });
}

/**
 * Memory for raw blocks, used again (`RestClient.blocks`): a block read into fresh memory costs
 * its reader the kernel's page faults and zeroing of every page of it, and its freeing an unmap,
 * at each block; on the indexer's full blocks (about 220 kB) that was a larger share of receiving
 * one than reading it from the socket. Memory comes back by `give` once nothing reads it: an
 * ArrayBuffer transferred back from the thread that used it, whose views there are then
 * detached, so nothing can still read a block while the next is written over it.
 */
export class BlockMemory {
  readonly #free: ArrayBuffer[] = [];
  #freeBytes = 0;
  readonly #maxFreeBytes: number;

  /** `maxFreeBytes`: at most this much memory is kept for reuse (default 64 MiB); more given back is dropped. */
  constructor(maxFreeBytes = 64 * 1024 * 1024) {
    this.#maxFreeBytes = maxFreeBytes;
  }

  /** Memory kept for reuse, bytes. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /**
   * A Buffer of exactly `bytes` at the start of an ArrayBuffer of its own: the smallest given back
   * that is long enough, or a new one, rounded up so that a somewhat larger block fits it later.
   */
  take(bytes: number): Buffer {
    const free = this.#free;
    let best = -1;
    for (let i = 0; i < free.length; i++) {
      const n = free[i]!.byteLength;
      if (n >= bytes && (best < 0 || n < free[best]!.byteLength)) best = i;
    }
    if (best >= 0) {
      const ab = free[best]!;
      free[best] = free[free.length - 1]!;
      free.pop();
      this.#freeBytes -= ab.byteLength;
      return Buffer.from(ab, 0, bytes);
    }
    const size = Math.ceil((bytes + (bytes >>> 3) + 1) / MEMORY_GRAIN) * MEMORY_GRAIN;
    return Buffer.from(Buffer.allocUnsafeSlow(size).buffer, 0, bytes);
  }

  /**
   * Memory to use again. The caller gives only memory nothing reads any more (transferred back, or
   * never handed out); a detached (empty) ArrayBuffer is ignored.
   */
  give(buffers: Iterable<ArrayBuffer>): void {
    for (const ab of buffers) {
      const n = ab.byteLength;
      // Given twice, one memory would take two blocks at once.
      if (n === 0 || this.#freeBytes + n > this.#maxFreeBytes || this.#free.includes(ab)) continue;
      this.#free.push(ab);
      this.#freeBytes += n;
    }
  }
}

/** Memory for a block is taken in multiples of this. */
const MEMORY_GRAIN = 64 * 1024;
