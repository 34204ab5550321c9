// The HTTP/1.1 client both node clients share (RestClient's GETs, RpcTransport's POSTs): one
// kept-alive connection, plain or TLS, that writes requests and matches responses to them in order,
// and a pool of such connections for one request at a time each. Node's http client costs 130–250 µs
// of CPU per small call and writes every request with its own system call; this one reads into one
// reused buffer per connection (or a large body straight into its own memory) and writes a request
// with one write.
import { constants as bufferConstants } from 'node:buffer';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { CodedError } from '../common/index.ts';
import type { BitcoindErrorCode } from './errors.ts';

/** Status line and headers of one response; bitcoind sends about 150 bytes. */
const MAX_HEAD_BYTES = 8 * 1024;
/** A chunk-size line or trailer line; anything longer is no HTTP server's. */
const MAX_LINE_BYTES = 1024;
/** What one read may fill: Node's own read size. */
const READ_BYTES = 64 * 1024;
/**
 * A body with at least this much still to come is read straight into its own memory rather than
 * copied from the read buffer: most of a large body then crosses from the kernel once.
 */
const DIRECT_READ_BYTES = 16 * 1024;
/** The longest body a string can be made of: past it, a JSON answer could not be read anyway. */
export const TEXT_BODY_LIMIT: BodyLimit = {
  bytes: bufferConstants.MAX_STRING_LENGTH,
  what: 'the longest string this process can make',
};
const END_OF_HEAD = Buffer.from('\r\n\r\n', 'latin1');
const LF = 0x0a;
/** Node's https agent keeps connections alive this long unused; bitcoind closes its end at 30 s. */
const IDLE_MS = 60_000;
/** Errors of a write or read on a connection the node had already closed. */
const CLOSED_UNDER_US = new Set(['ECONNRESET', 'EPIPE']);

/** Where connections go, from a node's URL, parsed once. */
export class HttpTarget {
  readonly tls: boolean;
  /** Without the brackets of an IPv6 literal. */
  readonly host: string;
  readonly port: number;
  /** The Host header: host and port as the URL gives them. */
  readonly hostHeader: string;
  /** The last TLS session the node gave, to resume on the next connection (as Node's https agent does). */
  session: Buffer | undefined;

  constructor(u: URL) {
    this.tls = u.protocol === 'https:';
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = u.port ? Number(u.port) : this.tls ? 443 : 80;
    this.hostHeader = u.host;
  }

  /** One key per host, port and scheme: what may share a pool. */
  get key(): string {
    return `${this.tls ? 'https' : 'http'}://${this.hostHeader}`;
  }
}

/**
 * Why a response will not come. `network`: the connection failed (errno when the system gave one,
 * none when the node closed it); `stale` when the request went out on a connection that had already
 * carried a response and failed before any byte of its own answer, the way a kept-alive connection
 * the node closed while this process was busy fails: the node never read the request. `protocol`:
 * the bytes are not an HTTP/1.1 response this client takes. `local`: the owner ended it (a deadline).
 */
export type HttpFailure =
  | { kind: 'network'; why: string; errno: string | undefined; cause: unknown; stale: boolean }
  | { kind: 'protocol'; why: string }
  | { kind: 'local'; error: CodedError<BitcoindErrorCode> };

/** The longest body a request takes, and what that bound is, for the message that refuses one. */
export interface BodyLimit {
  readonly bytes: number;
  readonly what: string;
}

/** The receiver of one response. */
export interface HttpExchange {
  /** The body in memory of its own (transferable), never a slice of Node's shared pool. */
  readonly owned: boolean;
  /** A longer body fails the connection as a `protocol` failure before it is buffered. */
  readonly limit: BodyLimit;
  /**
   * With `owned`, where a body of `bytes` (Content-Length) is read into, when not fresh memory of
   * its own: a Buffer of exactly `bytes` whose memory nothing else uses.
   */
  readonly bodyMemory?: (bytes: number) => Buffer;
  answer(status: number, body: Buffer): void;
  fail(failure: HttpFailure): void;
}

interface Pending {
  readonly exchange: HttpExchange;
  /** Written after the connection had carried a response. */
  readonly reused: boolean;
}

/** Where the parser is within the current response. */
const Part = {
  Head: 0,
  /** A body of known length: `#body` being filled. */
  Body: 1,
  ChunkSize: 2,
  ChunkData: 3,
  /** The CRLF after a chunk's data. */
  ChunkEnd: 4,
  Trailer: 5,
} as const;
type Part = (typeof Part)[keyof typeof Part];

/**
 * One kept-alive HTTP/1.1 connection: requests written in order, responses matched to them in order
 * (libevent serves a connection's requests one after another). It takes what bitcoind sends, a
 * status line, headers and a body of `Content-Length` bytes, and a chunked body as Node's own HTTP
 * server sends it (the unit tests' stand-ins); anything else fails every request on the connection as
 * a `protocol` failure. A failure fails every pending request, and the connection is not used again.
 *
 * Over plain TCP it reads into buffers of its own (`onread`): one read buffer reused for every read,
 * or the rest of a large body itself, instead of the fresh 64 KiB buffer per read that a stream's
 * 'data' event hands over (allocated, its pages faulted in, and collected each time). Over TLS the
 * socket's 'data' events feed the same parser.
 */
export class HttpConnection {
  readonly #socket: Socket | TLSSocket;
  readonly #pending: Pending[] = [];
  readonly #onIdle: ((c: HttpConnection) => void) | undefined;
  readonly #onClosed: ((c: HttpConnection) => void) | undefined;
  #dead = false;
  /** Responses completed: a request written after the first is on a reused connection. */
  #completed = 0;
  /** A response completed during the read being parsed (the idle hook runs after the read). */
  #answeredInRead = false;
  /** The node said `Connection: close` in the response being read. */
  #closeAfter = false;
  // Parser state.
  #part: Part = Part.Head;
  #head: Buffer | undefined;
  #status = 0;
  #body: Buffer | undefined;
  #filled = 0;
  #chunks: Buffer[] = [];
  #chunkBytes = 0;
  #chunkLeft = 0;
  #line = '';
  // Plain TCP: the read buffer, and whether the socket reads next into the body's own memory.
  readonly #readBuffer: Buffer | undefined;
  #direct = false;

  /**
   * @param hooks.idle called when the last pending response has been read and the connection can
   *   take another request; `closed` once, when it is dead (failed, closed by the node, or destroyed).
   */
  constructor(
    t: HttpTarget,
    hooks: { idle?: (c: HttpConnection) => void; closed?: (c: HttpConnection) => void } = {},
  ) {
    this.#onIdle = hooks.idle;
    this.#onClosed = hooks.closed;
    if (t.tls) {
      // Node's https agent's options: the system's CAs (and NODE_EXTRA_CA_CERTS), the host name
      // checked against the certificate, SNI unless the host is an IP address.
      const socket = tlsConnect({
        host: t.host,
        port: t.port,
        ...(isIP(t.host) ? {} : { servername: t.host }),
        ...(t.session ? { session: t.session } : {}),
      });
      socket.on('session', (s: Buffer) => {
        t.session = s;
      });
      socket.on('data', (d: Buffer) => this.#guarded(d, d.length));
      this.#socket = socket;
    } else {
      this.#readBuffer = Buffer.allocUnsafeSlow(READ_BYTES);
      this.#socket = netConnect({
        host: t.host,
        port: t.port,
        onread: {
          // Called for the first read, then after each callback: where the next read goes.
          buffer: () => this.#nextReadBuffer(),
          callback: (n: number, buf: Uint8Array) => {
            if (this.#direct) this.#guardedDirect(n);
            else this.#guarded(buf as Buffer, n);
            return true; // keep reading
          },
        },
      });
    }
    this.#socket.setNoDelay(true);
    this.#socket.setKeepAlive(true, 1000);
    this.#socket.setTimeout(IDLE_MS);
    this.#socket.on('timeout', () => {
      // A pending request has a deadline of its own.
      if (this.#pending.length === 0) this.#networkFailure(undefined);
    });
    this.#socket.on('error', (e: NodeJS.ErrnoException) => this.#networkFailure(e));
    // 'end' (the node's FIN) comes before 'close': a connection the node closed takes no request.
    this.#socket.on('end', () => this.#networkFailure(undefined));
    this.#socket.on('close', () => this.#networkFailure(undefined));
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Responses still to come. */
  get load(): number {
    return this.#pending.length;
  }

  /**
   * Writes `request` (one or several pipelined requests, with one socket write) and expects `count`
   * responses for `exchange`. On a dead connection the exchange fails at once.
   */
  send(request: string, encoding: 'latin1' | 'utf8', exchange: HttpExchange, count = 1): void {
    if (this.#dead) {
      exchange.fail({
        kind: 'network',
        why: 'the connection is closed',
        errno: undefined,
        cause: undefined,
        stale: false,
      });
      return;
    }
    const reused = this.#completed > 0;
    for (let i = 0; i < count; i++) this.#pending.push({ exchange, reused: reused && i === 0 });
    this.#socket.write(request, encoding);
  }

  /** Keeps the process alive while requests are pending, and not for an idle connection. */
  ref(): void {
    this.#socket.ref();
  }
  unref(): void {
    this.#socket.unref();
  }

  /** Fails every pending response with `error` and closes the socket. Idempotent. */
  destroy(error: CodedError<BitcoindErrorCode>): void {
    this.#fail({ kind: 'local', error });
  }

  #networkFailure(e: NodeJS.ErrnoException | undefined): void {
    if (this.#dead) return;
    const head = this.#pending[0];
    const started = this.#part !== Part.Head || this.#head !== undefined;
    const closedUnderUs = e === undefined || CLOSED_UNDER_US.has(e.code ?? '');
    this.#fail({
      kind: 'network',
      why: e ? `${e.code ?? 'error'}: ${e.message}` : 'the node closed the connection',
      errno: e?.code,
      cause: e,
      stale: head?.reused === true && !started && closedUnderUs,
    });
  }

  #fail(failure: HttpFailure): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#socket.destroy();
    this.#body = undefined;
    this.#chunks = [];
    const pending = this.#pending.splice(0);
    for (let i = 0; i < pending.length; i++) {
      // Only the first request can have been half answered; the rest are not stale either way.
      const f = failure.kind === 'network' && i > 0 ? { ...failure, stale: false } : failure;
      pending[i]!.exchange.fail(f);
    }
    this.#onClosed?.(this);
  }

  #nextReadBuffer(): Buffer {
    const body = this.#body;
    this.#direct =
      this.#part === Part.Body && !this.#dead && body!.length - this.#filled >= DIRECT_READ_BYTES;
    return this.#direct ? body!.subarray(this.#filled) : this.#readBuffer!;
  }

  /** `n` bytes were read straight into the body, after what it held. */
  #guardedDirect(n: number): void {
    if (this.#dead) return;
    this.#filled += n;
    if (this.#filled === this.#body!.length) this.#guarded(undefined, 0);
  }

  /** `n` bytes arrived in `d`, or (no `d`) the body is full. */
  #guarded(d: Buffer | undefined, n: number): void {
    try {
      if (d) this.#onData(d, n);
      else this.#complete(this.#takeBody());
    } catch (e) {
      this.#fail({ kind: 'protocol', why: (e as Error).message });
    }
    if (this.#answeredInRead) {
      this.#answeredInRead = false;
      if (!this.#dead && this.#pending.length === 0) this.#onIdle?.(this);
    }
  }

  /** The first `n` bytes of `d`, which may be reused for the next read once this returns. */
  #onData(d: Buffer, n: number): void {
    let off = 0;
    while (off < n && !this.#dead) {
      switch (this.#part) {
        case Part.Head:
          off = this.#readHead(d, off, n);
          break;
        case Part.Body: {
          const body = this.#body!;
          const k = Math.min(body.length - this.#filled, n - off);
          d.copy(body, this.#filled, off, off + k);
          this.#filled += k;
          off += k;
          if (this.#filled === body.length) this.#complete(this.#takeBody());
          break;
        }
        case Part.ChunkData: {
          const k = Math.min(this.#chunkLeft, n - off);
          this.#chunks.push(Buffer.from(d.subarray(off, off + k)));
          this.#chunkLeft -= k;
          off += k;
          if (this.#chunkLeft === 0) this.#part = Part.ChunkEnd;
          break;
        }
        default:
          off = this.#readLine(d, off, n);
      }
    }
  }

  #readHead(d: Buffer, off: number, n: number): number {
    const carried = this.#head?.length ?? 0;
    // Looked for only within what a head may span, whatever the read's size.
    const fresh = d.subarray(off, Math.min(n, off + MAX_HEAD_BYTES + 4));
    const chunk = this.#head ? Buffer.concat([this.#head, fresh]) : fresh;
    const end = chunk.indexOf(END_OF_HEAD);
    if (end < 0 || end > MAX_HEAD_BYTES) {
      if (chunk.length > MAX_HEAD_BYTES) throw new Error('a response header is too long');
      this.#head = Buffer.from(chunk); // owns its bytes: `d` is reused
      return n;
    }
    this.#head = undefined;
    this.#startBody(chunk.toString('latin1', 0, end));
    // Bytes of `d` consumed up to the body: the header's end within `chunk`, less what was carried.
    return off + end + 4 - carried;
  }

  #startBody(head: string): void {
    const pending = this.#pending[0];
    if (!pending) throw new Error('a response arrived with no request pending');
    const status = /^HTTP\/1\.([01]) (\d{3})/.exec(head);
    if (!status) throw new Error('a response does not start with an HTTP/1.x status line');
    this.#status = Number(status[2]);
    const connection = /\r\nconnection: *([^\r]*)/i.exec(head)?.[1]?.toLowerCase();
    // HTTP/1.0 closes unless asked to keep alive; 1.1 keeps alive unless told to close.
    this.#closeAfter = status[1] === '0' ? connection !== 'keep-alive' : connection === 'close';
    if (this.#status === 204 || this.#status === 304) {
      // No body whatever the headers say (RFC 9112 §6.3); bitcoind answers a JSON-RPC 2.0
      // notification (a call without an id, which this client never sends) with 204.
      this.#complete(Buffer.alloc(0));
      return;
    }
    const encoding = /\r\ntransfer-encoding: *([^\r]*)/i.exec(head)?.[1];
    const lengthHeader = /\r\ncontent-length:/i.test(head);
    const limit = pending.exchange.limit;
    if (encoding !== undefined) {
      // Both would let a proxy and this client disagree on where the body ends (RFC 9112 §6.3).
      if (lengthHeader) throw new Error('a response has both a transfer encoding and a Content-Length');
      if (encoding.trim().toLowerCase() !== 'chunked')
        throw new Error('a response uses a transfer encoding other than chunked');
      this.#part = Part.ChunkSize;
      this.#chunkBytes = 0;
      return;
    }
    const length = /\r\ncontent-length: *(\d{1,10}) *(?:\r\n|$)/i.exec(head);
    if (!length) throw new Error('a response has no Content-Length');
    const bytes = Number(length[1]);
    if (bytes > limit.bytes) throw new Error(`a response body of ${bytes} bytes exceeds ${limit.what}`);
    const ex = pending.exchange;
    this.#body = ex.owned
      ? (ex.bodyMemory?.(bytes) ?? Buffer.allocUnsafeSlow(bytes))
      : Buffer.allocUnsafe(bytes);
    this.#filled = 0;
    this.#part = Part.Body;
    if (bytes === 0) this.#complete(this.#takeBody());
  }

  /** A line of the chunked framing (size, the CRLF after data, trailers), however it is split. */
  #readLine(d: Buffer, off: number, n: number): number {
    const lf = d.indexOf(LF, off);
    if (lf < 0 || lf >= n) {
      this.#line += d.toString('latin1', off, n);
      if (this.#line.length > MAX_LINE_BYTES) throw new Error('a chunked body has a line too long');
      return n;
    }
    let line = this.#line + d.toString('latin1', off, lf);
    this.#line = '';
    if (line.endsWith('\r')) line = line.slice(0, -1);
    switch (this.#part) {
      case Part.ChunkSize: {
        const size = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/.exec(line);
        if (!size) throw new Error('a chunked body has a bad chunk size');
        this.#chunkLeft = Number.parseInt(size[1]!, 16);
        this.#chunkBytes += this.#chunkLeft;
        const limit = this.#pending[0]!.exchange.limit;
        if (this.#chunkBytes > limit.bytes) throw new Error(`a chunked body exceeds ${limit.what}`);
        this.#part = this.#chunkLeft === 0 ? Part.Trailer : Part.ChunkData;
        break;
      }
      case Part.ChunkEnd:
        if (line !== '') throw new Error('a chunk does not end where its size says');
        this.#part = Part.ChunkSize;
        break;
      default: // Trailer: fields are ignored; an empty line ends the response.
        if (line === '') {
          const chunks = this.#chunks;
          this.#chunks = [];
          const body = Buffer.concat(chunks, this.#chunkBytes);
          this.#complete(
            this.#pending[0]!.exchange.owned && body.buffer.byteLength !== body.length
              ? Buffer.from(body)
              : body,
          );
        }
    }
    return lf + 1;
  }

  #takeBody(): Buffer {
    const body = this.#body!;
    this.#body = undefined;
    return body;
  }

  #complete(body: Buffer): void {
    this.#part = Part.Head;
    this.#completed++;
    const { exchange } = this.#pending.shift()!;
    this.#answeredInRead = true;
    exchange.answer(this.#status, body);
    if (this.#closeAfter && !this.#dead) {
      // Whatever else was pipelined will not be answered; this one was, whole.
      this.#fail({
        kind: 'network',
        why: 'the node closed the connection',
        errno: undefined,
        cause: undefined,
        stale: false,
      });
    }
  }
}

/**
 * Connections to one node, one request at a time each, at most `max`; requests beyond wait in order.
 * The most recently used idle connection goes first (as Node's agent schedules): the others may
 * reach the node's idle timeout and close, which costs nothing. Idle connections do not keep the
 * process alive.
 */
export class HttpPool {
  readonly #target: HttpTarget;
  readonly #max: number;
  readonly #idle: HttpConnection[] = [];
  readonly #waiting: PoolRequest[] = [];
  #open = 0;

  constructor(target: HttpTarget, max: number) {
    this.#target = target;
    this.#max = max;
  }

  /** Sends `request` on a free connection, or when one frees up; `exchange` receives the answer. */
  send(request: string, exchange: HttpExchange): PoolRequest {
    const r = new PoolRequest(this, request, exchange);
    const conn = this.#free();
    if (conn) r.start(conn);
    else this.#waiting.push(r);
    return r;
  }

  /** A request that has not started leaves the queue. */
  dequeue(r: PoolRequest): boolean {
    const i = this.#waiting.indexOf(r);
    if (i < 0) return false;
    this.#waiting.splice(i, 1);
    return true;
  }

  #free(): HttpConnection | undefined {
    const idle = this.#idle.pop();
    if (idle) {
      idle.ref();
      return idle;
    }
    if (this.#open >= this.#max) return undefined;
    this.#open++;
    return new HttpConnection(this.#target, {
      idle: (c) => this.#release(c),
      closed: (c) => this.#closed(c),
    });
  }

  #release(c: HttpConnection): void {
    const next = this.#waiting.shift();
    if (next) {
      next.start(c);
      return;
    }
    c.unref();
    this.#idle.push(c);
  }

  #closed(c: HttpConnection): void {
    this.#open--;
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
    const next = this.#waiting.shift();
    if (next) next.start(this.#free()!);
  }
}

/** One request of an HttpPool: queued, then on one connection. */
export class PoolRequest {
  readonly #pool: HttpPool;
  readonly #request: string;
  readonly #exchange: HttpExchange;
  #conn: HttpConnection | undefined;

  constructor(pool: HttpPool, request: string, exchange: HttpExchange) {
    this.#pool = pool;
    this.#request = request;
    this.#exchange = exchange;
  }

  start(conn: HttpConnection): void {
    this.#conn = conn;
    conn.send(this.#request, 'utf8', this.#exchange);
  }

  /** Ends the request with `error`: out of the queue, or its connection destroyed (the node may still answer). */
  cancel(error: CodedError<BitcoindErrorCode>): void {
    if (this.#conn) this.#conn.destroy(error);
    else if (this.#pool.dequeue(this)) this.#exchange.fail({ kind: 'local', error });
  }
}
