import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { CodedError } from '../common/index.ts';
import { onRawRequests } from '../test/infra/rawHttpRequests.ts';
import {
  type BodyLimit,
  HttpConnection,
  type HttpExchange,
  type HttpFailure,
  HttpPool,
  HttpTarget,
} from './httpConnection.ts';

/**
 * The shared HTTP/1.1 client against a scripted server on a loopback port: the server reads
 * requests (head and Content-Length body) and `answer` writes whatever bytes a test needs, cut
 * where it chooses, so framing and connection handling are checked byte by byte.
 */
type Answer = (request: { path: string; n: number }, socket: Socket) => void;

const servers: Server[] = [];
const connections: HttpConnection[] = [];
afterEach(async () => {
  for (const c of connections.splice(0)) c.destroy(new CodedError('RPC_UNREACHABLE', 'test over'));
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function scriptedNode(
  answer: Answer,
): Promise<{ target: HttpTarget; connections: () => number; closed: () => number }> {
  let opened = 0;
  let closed = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    opened++;
    sockets.add(socket);
    socket.on('close', () => {
      closed++;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    onRawRequests(socket, ({ head, n }) => answer({ path: head.split(' ')[1]!, n }, socket));
  });
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  }) as typeof server.close;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return { target: new HttpTarget(url), connections: () => opened, closed: () => closed };
}

const LIMIT: BodyLimit = { bytes: 1_000_000, what: 'the test limit' };

/** Collects `count` answers, or the first failure. */
function exchange(count: number, limit = LIMIT) {
  const answers: { status: number; body: Buffer }[] = [];
  let failure: HttpFailure | undefined;
  let settle: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const ex: HttpExchange = {
    owned: true,
    limit,
    answer(status, body) {
      answers.push({ status, body: Buffer.from(body) });
      if (answers.length === count) settle();
    },
    fail(f) {
      failure ??= f;
      settle();
    },
  };
  return { ex, answers, failure: () => failure, done };
}

function open(target: HttpTarget, hooks?: ConstructorParameters<typeof HttpConnection>[1]): HttpConnection {
  const c = new HttpConnection(target, hooks);
  connections.push(c);
  return c;
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`;

/** A response with a Content-Length, or chunked into pieces of the sizes given (cycled). */
function response(status: number, body: Buffer, chunks?: readonly number[], extra = ''): Buffer {
  if (!chunks) {
    return Buffer.concat([
      Buffer.from(
        `HTTP/1.1 ${status} X\r\nContent-Type: application/json\r\n${extra}Content-Length: ${body.length}\r\n\r\n`,
      ),
      body,
    ]);
  }
  const parts: Buffer[] = [Buffer.from(`HTTP/1.1 ${status} X\r\n${extra}Transfer-Encoding: chunked\r\n\r\n`)];
  for (let off = 0, k = 0; off < body.length; k++) {
    const n = Math.min(chunks[k % chunks.length]!, body.length - off);
    // A chunk extension on some chunks: allowed, and ignored.
    parts.push(
      Buffer.from(`${n.toString(16)}${k % 3 === 1 ? ';x=y' : ''}\r\n`),
      body.subarray(off, off + n),
      Buffer.from('\r\n'),
    );
    off += n;
  }
  parts.push(Buffer.from('0\r\nX-Trailer: 1\r\n\r\n'));
  return Buffer.concat(parts);
}

function writeCut(socket: Socket, bytes: Buffer, cuts: readonly number[]): void {
  for (let off = 0, k = 0; off < bytes.length; k++) {
    const n = cuts[k % cuts.length]!;
    socket.write(bytes.subarray(off, off + n));
    off += n;
  }
}

describe('HttpConnection framing', () => {
  /** `bodies` pipelined on one connection, answered (chunked when a `chunks` entry is given) once all arrived, cut at `cuts`. */
  async function roundTrip(
    bodies: readonly { body: Uint8Array; chunks: number[] | null }[],
    cuts: readonly number[],
  ): Promise<void> {
    let wire: Buffer[] = [];
    const node = await scriptedNode(({ path }, socket) => {
      const i = Number(path.slice(1));
      const b = bodies[i]!;
      wire.push(response(200 + 10 * i, Buffer.from(b.body), b.chunks ?? undefined));
      if (wire.length < bodies.length) return;
      const all = Buffer.concat(wire);
      wire = [];
      writeCut(socket, all, cuts);
    });
    const conn = open(node.target);
    const got = exchange(bodies.length);
    conn.send(bodies.map((_, i) => GET(`/${i}`)).join(''), 'latin1', got.ex, bodies.length);
    await got.done;
    expect(got.failure()).toBeUndefined();
    expect(got.answers.map((a) => a.status)).toEqual(bodies.map((_, i) => 200 + 10 * i));
    expect(got.answers.map((a) => a.body.toString('hex'))).toEqual(
      bodies.map((b) => Buffer.from(b.body).toString('hex')),
    );
    expect(conn.dead).toBe(false);
    expect(conn.load).toBe(0);
  }

  it('reads Content-Length and chunked bodies pipelined on one connection, however the bytes are split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            body: fc.uint8Array({ minLength: 0, maxLength: 300 }),
            chunks: fc.option(fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 4 })),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        fc.array(fc.integer({ min: 1, max: 23 }), { minLength: 1, maxLength: 20 }),
        roundTrip,
      ),
      { numRuns: 60 },
    );
  });

  it('reads bodies larger than the reused read buffer (64 KiB), chunked or not, split anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            body: fc.integer({ min: 0, max: 300_000 }).map((n) => randomBytes(n)),
            chunks: fc.option(fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 4 })),
          }),
          { minLength: 1, maxLength: 3 },
        ),
        fc.array(fc.integer({ min: 1, max: 90_000 }), { minLength: 1, maxLength: 8 }),
        roundTrip,
      ),
      { numRuns: 20 },
    );
  });

  it.each([
    [
      'both a transfer encoding and a Content-Length',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      /both a transfer encoding and a Content-Length/,
    ],
    [
      'a transfer encoding other than chunked',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      /other than chunked/,
    ],
    [
      'a chunk size that is not hex',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      /bad chunk size/,
    ],
    [
      'a chunk longer than its size',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n',
      /does not end where its size says/,
    ],
    [
      'a chunked body over the limit',
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${(LIMIT.bytes + 1).toString(16)}\r\n`,
      /chunked body exceeds the test limit/,
    ],
    [
      'a body over the limit',
      `HTTP/1.1 200 OK\r\nContent-Length: ${LIMIT.bytes + 1}\r\n\r\n`,
      /exceeds the test limit/,
    ],
    ['a body read until the connection closes', 'HTTP/1.1 200 OK\r\n\r\nabc', /no Content-Length/],
  ])('refuses %s as a protocol failure, and takes no more requests', async (_what, bytes, message) => {
    const node = await scriptedNode((_req, socket) => socket.write(bytes));
    const closed: HttpConnection[] = [];
    const conn = open(node.target, { closed: (c) => closed.push(c) });
    const got = exchange(1);
    conn.send(GET('/'), 'latin1', got.ex);
    await got.done;
    const f = got.failure();
    expect(f?.kind === 'protocol' && f.why).toMatch(message);
    expect(conn.dead).toBe(true);
    expect(closed).toEqual([conn]);
  });

  it.each([
    [
      'HTTP/1.1 with Connection: close',
      'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok',
      true,
    ],
    ['HTTP/1.0 without keep-alive', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', true],
    [
      'HTTP/1.0 with Connection: keep-alive',
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok',
      false,
    ],
    [
      'HTTP/1.1 with Connection: keep-alive',
      'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok',
      false,
    ],
  ])('after an answer in %s, the connection is closed: %s', async (_what, bytes, closes) => {
    const node = await scriptedNode((_req, socket) => socket.write(bytes));
    const idle: HttpConnection[] = [];
    const conn = open(node.target, { idle: (c) => idle.push(c) });
    const got = exchange(1);
    conn.send(GET('/'), 'latin1', got.ex);
    await got.done;
    expect(got.failure()).toBeUndefined();
    expect(got.answers[0]!.body.toString()).toBe('ok');
    expect(conn.dead).toBe(closes);
    expect(idle).toEqual(closes ? [] : [conn]);
  });
});

describe('HttpConnection bodiless answers', () => {
  it('reads a 204 or 304 as no body, whatever its headers, and the next answer after it', async () => {
    const node = await scriptedNode(({ n }, socket) => {
      if (n === 2)
        socket.write(
          'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
        );
    });
    const conn = open(node.target);
    const got = exchange(3);
    conn.send(GET('/a') + GET('/b') + GET('/c'), 'latin1', got.ex, 3);
    await got.done;
    expect(got.failure()).toBeUndefined();
    expect(got.answers.map((a) => [a.status, a.body.toString()])).toEqual([
      [204, ''],
      [304, ''],
      [200, 'ok'],
    ]);
  });
});

describe('HttpConnection failures', () => {
  it('marks a failure stale only for a request on a reused connection closed before any byte of its answer', async () => {
    // The node answers the first request of a connection, then closes it (FIN) at the second, or
    // after half an answer to it.
    const half = response(200, Buffer.from('{"result":1}')).subarray(0, 20);
    for (const [how, stale] of [
      ['close', true],
      ['half', false],
    ] as const) {
      const node = await scriptedNode(({ n }, socket) => {
        if (n === 0) socket.write(response(200, Buffer.from('first')));
        else if (how === 'close') socket.end();
        else socket.end(half);
      });
      const conn = open(node.target);
      const first = exchange(1);
      conn.send(GET('/'), 'latin1', first.ex);
      await first.done;
      const second = exchange(1);
      conn.send(GET('/'), 'latin1', second.ex);
      await second.done;
      const f = second.failure();
      expect(f?.kind).toBe('network');
      expect(f?.kind === 'network' && f.stale).toBe(stale);
    }
  });

  it('never marks a failure on a new connection stale', async () => {
    const node = await scriptedNode((_req, socket) => socket.end());
    const conn = open(node.target);
    const got = exchange(1);
    conn.send(GET('/'), 'latin1', got.ex);
    await got.done;
    expect(got.failure()).toMatchObject({ kind: 'network', stale: false });
  });
});

describe('HttpPool', () => {
  function pooled(pool: HttpPool, path: string) {
    const got = exchange(1);
    const request = pool.send(GET(path), got.ex);
    return { request, done: got.done.then(() => got.answers[0] ?? got.failure()) };
  }

  it('opens at most `max` connections; requests beyond wait their turn, in order', async () => {
    const order: string[] = [];
    const node = await scriptedNode(({ path }, socket) => {
      order.push(path);
      setTimeout(() => socket.write(response(200, Buffer.from(path))), 10);
    });
    const pool = new HttpPool(node.target, 3);
    const all = Array.from({ length: 10 }, (_, i) => pooled(pool, `/${i}`).done);
    const answers = (await Promise.all(all)) as { body: Buffer }[];
    expect(answers.map((a) => a.body.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `/${i}`));
    expect(node.connections()).toBe(3);
    // The first three went out at once; the rest in the order they were asked.
    expect(order.slice(3)).toEqual(Array.from({ length: 7 }, (_, i) => `/${i + 3}`));
  });

  it('drops a connection the node closes while idle; the next request opens a new one', async () => {
    const node = await scriptedNode((_req, socket) => socket.end(response(200, Buffer.from('x'))));
    const pool = new HttpPool(node.target, 2);
    expect(((await pooled(pool, '/a').done) as { body: Buffer }).body.toString()).toBe('x');
    for (let i = 0; node.closed() < 1 && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
    expect(((await pooled(pool, '/b').done) as { body: Buffer }).body.toString()).toBe('x');
    expect(node.connections()).toBe(2);
  });

  it('cancels a waiting request without sending it, and a started one with its connection', async () => {
    const paths: string[] = [];
    const node = await scriptedNode(({ path }) => {
      paths.push(path); // never answers
    });
    const pool = new HttpPool(node.target, 1);
    const started = pooled(pool, '/started');
    const waiting = pooled(pool, '/waiting');
    for (let i = 0; paths.length < 1 && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
    const error = new CodedError('RPC_TIMEOUT', 'late');
    waiting.request.cancel(error);
    expect(await waiting.done).toEqual({ kind: 'local', error });
    started.request.cancel(error);
    expect(await started.done).toEqual({ kind: 'local', error });
    expect(paths).toEqual(['/started']);
  });
});
