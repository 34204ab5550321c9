import { connect, type TLSSocket } from 'node:tls';

/**
 * A lean HTTP/1.1 client for load generation: one kept-alive TLS connection per request in flight,
 * request bytes built before the clock starts, and a response read as far as its status line and
 * Content-Length only. node:https's agent, header objects and parser cost the load generator about
 * as much CPU per request as the service it measures; on a 2-core machine that is CPU taken from
 * the service, so the bench would measure its own client.
 */

export interface RawAnswer {
  readonly status: number;
  readonly body: Buffer;
}

export interface RawTlsOptions {
  readonly host: string;
  readonly port: number;
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;

/** The bytes of one `POST path` with a JSON body, ready to write as they are. */
export function buildJsonPost(host: string, port: number, path: string, body: string): Buffer {
  const payload = Buffer.from(body, 'utf8');
  const head =
    `POST ${path} HTTP/1.1\r\nhost: ${host}:${port}\r\ncontent-type: application/json\r\n` +
    `content-length: ${payload.length}\r\nconnection: keep-alive\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

export class RawHttpsConnection {
  readonly #socket: TLSSocket;
  #chunks: Buffer[] = [];
  #length = 0;
  #waiting: { resolve: (a: RawAnswer) => void; reject: (e: Error) => void } | undefined;

  private constructor(socket: TLSSocket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => this.#onData(c));
    socket.on('error', (e) => this.#fail(e));
    socket.on('close', () => this.#fail(new Error('the server closed the connection')));
  }

  /** Connects and finishes the handshake (the server must accept our certificate). */
  static open(o: RawTlsOptions): Promise<RawHttpsConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: o.host, port: o.port, ca: o.ca, cert: o.cert, key: o.key });
      socket.once('secureConnect', () => {
        socket.off('error', reject);
        resolve(new RawHttpsConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends prebuilt request bytes; resolves with the status and the raw body. One at a time. */
  request(bytes: Buffer): Promise<RawAnswer> {
    if (this.#waiting) return Promise.reject(new Error('one request at a time per connection'));
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#socket.write(bytes);
    });
  }

  close(): void {
    this.#waiting = undefined;
    this.#socket.destroy();
  }

  #onData(c: Buffer): void {
    this.#chunks.push(c);
    this.#length += c.length;
    const all = this.#chunks.length === 1 ? c : Buffer.concat(this.#chunks, this.#length);
    const end = all.indexOf(HEADER_END);
    if (end < 0) return;
    const head = all.toString('latin1', 0, end);
    const m = CONTENT_LENGTH.exec(head);
    if (!m) {
      this.#fail(new Error(`an answer without Content-Length: ${head.slice(0, 80)}`));
      return;
    }
    const bodyStart = end + HEADER_END.length;
    const total = bodyStart + Number(m[1]);
    if (all.length < total) {
      this.#chunks = [all];
      return;
    }
    if (all.length > total) {
      this.#fail(new Error('more bytes than one answer: the server sent what was not asked for'));
      return;
    }
    this.#chunks = [];
    this.#length = 0;
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.resolve({ status: Number(head.slice(9, 12)), body: all.subarray(bodyStart, total) });
  }

  #fail(e: Error): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.reject(e);
  }
}
