// The JSON-RPC transport to a node: options and credentials checked once, keep-alive HTTP, one call
// or a batch, a deadline per call, and every failure as one coded error that never quotes a secret.
// RpcClient (rpcClient.ts) adds the typed methods the project uses.
import { isAscii } from 'node:buffer';
import { CodedError } from '../common/index.ts';
import type { BitcoindErrorCode } from './errors.ts';
import { type HttpFailure, HttpPool, HttpTarget, TEXT_BODY_LIMIT } from './httpConnection.ts';
import { optionsError, parseNodeUrl, timeoutOption } from './options.ts';
import { Credentials } from './rpcCredentials.ts';

/** Kept-alive connections to a node, shared by every client of it in this process. */
const MAX_CONNECTIONS = 64;
const POOLS = new Map<string, HttpPool>();
const STALE_SOCKET = Symbol('stale socket');

function poolOf(u: URL): HttpPool {
  const target = new HttpTarget(u);
  let pool = POOLS.get(target.key);
  if (!pool) {
    pool = new HttpPool(target, MAX_CONNECTIONS);
    POOLS.set(target.key, pool);
  }
  return pool;
}

// Methods whose parameters can carry private keys or passphrases. bitcoind sometimes quotes the
// offending input in its error message (a descriptor parser says "key '…' is not valid"), so for these
// the quoted parts of its message are withheld: a typo'd key is still almost the key.
const SECRET_METHODS = new Set([
  'importdescriptors',
  'importmulti',
  'importprivkey',
  'signrawtransactionwithkey',
  'walletpassphrase',
  'walletpassphrasechange',
  'encryptwallet',
  'sethdseed',
]);

/** How to reach and authenticate to a node. Give exactly one of user+password, cookieFile, or URL userinfo. */
export interface RpcClientOptions {
  /** `http://127.0.0.1:8332`; userinfo in the URL is taken as user and password and removed from it. */
  url: string;
  user?: string;
  password?: string;
  /** bitcoind's `.cookie` file; re-read when the node answers 401, since a restarted node writes a new one. */
  cookieFile?: string;
  /** Wallet for wallet RPCs: calls go to `/wallet/<name>`. */
  wallet?: string;
  /** Per-call deadline, milliseconds (default 30 000). */
  timeoutMs?: number;
}

/** Positional or named JSON-RPC parameters. */
export type RpcParams = readonly unknown[] | Readonly<Record<string, unknown>>;

/** One call of a batch. */
export interface RpcCall {
  method: string;
  params?: RpcParams;
}

/** One answer of a batch, in the order of the calls: the result, or the CodedError this call alone failed with. */
export type BatchEntry<T = unknown> =
  | { ok: true; result: T }
  | { ok: false; error: CodedError<BitcoindErrorCode> };

// A raw block comes back as megabytes of hex: decoding an all-ASCII body as latin1 gives the same
// string without UTF-8 decoding, a measurable share of the indexer's sync.
function bodyText(body: Buffer): string {
  return isAscii(body) ? body.toString('latin1') : body.toString('utf8');
}

/**
 * One JSON-RPC 1.0 request, as JSON.stringify({ jsonrpc, id, method, params }) writes it, without
 * building the object around the parts.
 */
function requestJson(id: number, method: string, params: RpcParams): string {
  return `{"jsonrpc":"1.0","id":${id},"method":${JSON.stringify(method)},"params":${JSON.stringify(params)}}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The transport half of RpcClient (see there): construction, derived clients, `call` and `batch`.
 */
export class RpcTransport {
  /** The endpoint without credentials, including the wallet path; safe to log. */
  readonly url: string;
  readonly wallet: string | undefined;
  readonly timeoutMs: number;
  #credentials: Credentials;
  #nextId = 1;
  /** Where every request goes, parsed once: a URL parse per call is a measurable share of a small RPC. */
  readonly #pool: HttpPool;
  /** The request line and the headers every call of this client sends. */
  readonly #requestHead: string;

  constructor(opts: RpcClientOptions) {
    const parsed = parseNodeUrl(opts.url);
    let urlUser: string;
    let urlPassword: string;
    try {
      urlUser = decodeURIComponent(parsed.username);
      urlPassword = decodeURIComponent(parsed.password);
    } catch {
      throw optionsError('the credentials in url are not valid percent-encoding', 'url');
    }
    // fetch refuses URLs with userinfo, and a URL is what ends up in messages: strip it here.
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    parsed.hash = '';

    const sources = [
      opts.user !== undefined || opts.password !== undefined,
      opts.cookieFile !== undefined,
      !!urlUser,
    ];
    if (sources.filter(Boolean).length !== 1) {
      throw optionsError('give exactly one of user+password, cookieFile, or credentials in the url', 'auth');
    }
    let fixed: { user: string; password: string } | undefined;
    if (urlUser) fixed = { user: urlUser, password: urlPassword };
    else if (opts.cookieFile === undefined) {
      if (!opts.user || opts.password === undefined)
        throw optionsError('user and password go together', 'auth');
      fixed = { user: opts.user, password: opts.password };
    }
    this.#credentials = new Credentials(fixed, opts.cookieFile);

    this.timeoutMs = timeoutOption(opts.timeoutMs);

    if (opts.wallet !== undefined) {
      parsed.pathname = `/wallet/${encodeURIComponent(opts.wallet)}`;
    }
    this.wallet = opts.wallet;
    this.url = parsed.toString();
    this.#pool = poolOf(parsed);
    this.#requestHead = `POST ${parsed.pathname} HTTP/1.1\r\nHost: ${parsed.host}\r\nContent-Type: application/json\r\n`;
  }

  /** A client for the same node and credentials whose calls go to wallet `name`. */
  withWallet(name: string): this {
    return this.#derive({ wallet: name });
  }

  /** A client for the same node, wallet and credentials with another per-call deadline. */
  withTimeout(timeoutMs: number): this {
    return this.#derive({ timeoutMs });
  }

  #derive(change: { wallet?: string; timeoutMs?: number }): this {
    const base = new URL(this.url);
    if (change.wallet !== undefined) base.pathname = '/';
    // A placeholder user satisfies the constructor; the real credentials are shared below.
    // The same class as this one (RpcClient), so a derived client keeps the typed methods.
    const child = new (this.constructor as new (opts: RpcClientOptions) => this)({
      url: base.toString(),
      user: 'placeholder',
      password: '',
      wallet: change.wallet ?? this.wallet,
      timeoutMs: change.timeoutMs ?? this.timeoutMs,
    });
    child.#credentials = this.#credentials;
    return child;
  }

  toJSON(): Record<string, unknown> {
    return { url: this.url, wallet: this.wallet, timeoutMs: this.timeoutMs };
  }

  /**
   * Calls any RPC. The result is cast to `T`, not checked: bitcoind is trusted to answer in its own shape.
   * @throws {CodedError} `RPC_ERROR` (details: method, rpcCode, rpcMessage), `RPC_HTTP`, `RPC_TIMEOUT`,
   *   `RPC_UNREACHABLE`, `RPC_BAD_RESPONSE`.
   */
  async call<T = unknown>(method: string, params: RpcParams = []): Promise<T> {
    const id = this.#nextId++;
    const body = requestJson(id, method, params);
    const { status, parsed } = await this.#post(body, method);
    if (isRecord(parsed) && ('result' in parsed || 'error' in parsed)) {
      if (parsed.error !== null && parsed.error !== undefined) throw this.#rpcError(method, parsed.error);
      if (parsed.id !== id)
        throw this.#badResponse(method, `answer id ${String(parsed.id)} does not match ${id}`);
      if (status >= 200 && status < 300) return parsed.result as T;
    }
    throw this.#statusError(method, status);
  }

  /**
   * Sends several calls in one HTTP request (a JSON-RPC array) and returns one entry per call, in order.
   * A call that fails does not fail the others: its entry holds the CodedError (`RPC_ERROR` or
   * `RPC_BAD_RESPONSE`). The whole batch rejects only when the request itself fails (`RPC_HTTP`,
   * `RPC_TIMEOUT`, `RPC_UNREACHABLE`, `RPC_BAD_RESPONSE`, or an `RPC_ERROR` for the batch as a whole).
   */
  async batch<T = unknown>(calls: readonly RpcCall[]): Promise<BatchEntry<T>[]> {
    if (calls.length === 0) return [];
    const ids = calls.map(() => this.#nextId++);
    const body = `[${calls.map((c, i) => requestJson(ids[i]!, c.method, c.params ?? [])).join(',')}]`;
    const label = `batch of ${calls.length}`;
    const { status, parsed } = await this.#post(body, label);
    if (!Array.isArray(parsed)) {
      if (isRecord(parsed) && parsed.error !== null && parsed.error !== undefined) {
        throw this.#rpcError(label, parsed.error);
      }
      if (status >= 200 && status < 300) throw this.#badResponse(label, 'a batch answer must be an array');
      throw this.#statusError(label, status);
    }
    if (status < 200 || status >= 300) throw this.#statusError(label, status);
    // bitcoind answers in order, but JSON-RPC only promises matching ids: look them up only when
    // the order is not the calls' own.
    const inOrder = parsed.length === calls.length && parsed.every((e, i) => isRecord(e) && e.id === ids[i]);
    let byId: Map<unknown, Record<string, unknown>> | undefined;
    if (!inOrder) {
      byId = new Map();
      for (const entry of parsed) if (isRecord(entry)) byId.set(entry.id, entry);
    }
    return calls.map((c, i): BatchEntry<T> => {
      const entry = byId ? byId.get(ids[i]) : (parsed[i] as Record<string, unknown>);
      if (!entry)
        return {
          ok: false,
          error: this.#badResponse(c.method, 'the batch answer has no entry for this call'),
        };
      if (entry.error !== null && entry.error !== undefined) {
        return { ok: false, error: this.#rpcError(c.method, entry.error) };
      }
      if (!('result' in entry))
        return { ok: false, error: this.#badResponse(c.method, 'entry has no result') };
      return { ok: true, result: entry.result as T };
    });
  }

  async #post(body: string, label: string): Promise<{ status: number; parsed: unknown }> {
    let res = await this.#send(body, label);
    if ((res.status === 401 || res.status === 403) && this.#credentials.usesCookie) {
      // A restarted node has written a new cookie; read it once more before giving up.
      this.#credentials.forgetCookie();
      res = await this.#send(body, label);
    }
    if (res.text.length === 0) return { status: res.status, parsed: undefined };
    try {
      return { status: res.status, parsed: JSON.parse(res.text) };
    } catch (err) {
      if (res.status >= 200 && res.status < 300) {
        throw this.#badResponse(label, 'the body is not JSON', err);
      }
      return { status: res.status, parsed: undefined };
    }
  }

  async #send(body: string, label: string): Promise<{ status: number; text: string }> {
    // Known credentials are not awaited: the request is then written in the caller's synchronous
    // step, so a caller can ask first and work while the node answers (signer/validate.ts, step 4).
    const authorization = this.#credentials.known ?? (await this.#credentials.header());
    for (;;) {
      const sent = await this.#sendOnce(body, label, authorization);
      if (sent !== STALE_SOCKET) return sent;
    }
  }

  /**
   * One request; `STALE_SOCKET` when it went out on a kept-alive connection the node had already
   * closed. bitcoind closes a connection idle for `-rpcservertimeout` (30 s); when the event loop
   * was busy meanwhile (a long synchronous step), the pool has not yet seen the close and hands
   * out the dead connection, whose request then fails before any answer: the node never read it, so
   * sending it again, on another connection, is safe. A failure on a new connection is final.
   */
  #sendOnce(
    body: string,
    label: string,
    authorization: string,
  ): Promise<{ status: number; text: string } | typeof STALE_SOCKET> {
    return new Promise((resolve, reject) => {
      const request = `${this.#requestHead}Authorization: ${authorization}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      const timer = setTimeout(
        () =>
          sent.cancel(
            new CodedError<BitcoindErrorCode>(
              'RPC_TIMEOUT',
              `${label}: no answer from ${this.url} within ${this.timeoutMs} ms`,
              { details: { method: label, url: this.url, timeoutMs: this.timeoutMs } },
            ),
          ),
        this.timeoutMs,
      );
      const sent = this.#pool.send(request, {
        owned: false,
        limit: TEXT_BODY_LIMIT,
        answer: (status, text) => {
          clearTimeout(timer);
          resolve({ status, text: bodyText(text) });
        },
        fail: (f) => {
          clearTimeout(timer);
          if (f.kind === 'network' && f.stale) resolve(STALE_SOCKET);
          else reject(this.#failure(label, f));
        },
      });
    });
  }

  #failure(label: string, f: HttpFailure): CodedError<BitcoindErrorCode> {
    if (f.kind === 'local') return f.error;
    if (f.kind === 'protocol') return this.#badResponse(label, f.why);
    return new CodedError<BitcoindErrorCode>(
      'RPC_UNREACHABLE',
      `${label}: cannot reach ${this.url}${f.errno ? ` (${f.errno})` : `: ${f.why}`}`,
      { cause: f.cause, details: { method: label, url: this.url, errno: f.errno } },
    );
  }

  #rpcError(method: string, error: unknown): CodedError<BitcoindErrorCode> {
    if (!isRecord(error) || typeof error.code !== 'number' || typeof error.message !== 'string') {
      return this.#badResponse(method, 'the error member is not {code, message}');
    }
    const rpcMessage = SECRET_METHODS.has(method)
      ? error.message.replace(/'[^']*'|"[^"]*"/g, "'…'")
      : error.message;
    return new CodedError<BitcoindErrorCode>(
      'RPC_ERROR',
      `${method}: bitcoind error ${error.code}: ${rpcMessage}`,
      {
        details: { method, rpcCode: error.code, rpcMessage, url: this.url },
      },
    );
  }

  #statusError(method: string, status: number): CodedError<BitcoindErrorCode> {
    const what =
      status === 401 || status === 403
        ? `authentication failed (HTTP ${status}); check the RPC user and password or cookie file`
        : status >= 200 && status < 300
          ? undefined
          : `HTTP ${status} without a JSON-RPC answer`;
    if (what === undefined) return this.#badResponse(method, 'the body is not a JSON-RPC answer');
    return new CodedError<BitcoindErrorCode>('RPC_HTTP', `${method}: ${what} from ${this.url}`, {
      details: { method, status, url: this.url },
    });
  }

  #badResponse(method: string, why: string, cause?: unknown): CodedError<BitcoindErrorCode> {
    return new CodedError<BitcoindErrorCode>(
      'RPC_BAD_RESPONSE',
      `${method}: unusable answer from ${this.url}: ${why}`,
      {
        cause,
        details: { method, url: this.url },
      },
    );
  }
}
