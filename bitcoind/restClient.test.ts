import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { onRawRequests } from '../test/infra/rawHttpRequests.ts';
import { rejection } from '../test/rejection.ts';
import { BlockMemory, RestClient } from './restClient.ts';

/**
 * The REST client against a scripted stand-in for bitcoind's HTTP server on a loopback port: the
 * server reads pipelined GET requests and `answer` writes whatever bytes a test needs, in chunks
 * it chooses, so framing, errors and timeouts can be checked byte by byte.
 */
type Answer = (path: string, socket: Socket) => void;

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function fakeNode(
  answer: Answer,
): Promise<{ url: string; paths: string[]; connections: () => number }> {
  const paths: string[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onRawRequests(socket, ({ head }) => {
      const path = head.split(' ')[1]!;
      paths.push(path);
      answer(path, socket);
    });
  });
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  }) as typeof server.close;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    connections: () => connections,
  };
}

const response = (status: number, body: Uint8Array | string, extra = ''): Buffer => {
  const b = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  return Buffer.concat([
    Buffer.from(
      `HTTP/1.1 ${status} X\r\nContent-Type: application/octet-stream\r\n${extra}Content-Length: ${b.length}\r\n\r\n`,
    ),
    b,
  ]);
};

const hashOf = (i: number) => i.toString(16).padStart(64, '0');

describe('RestClient', () => {
  /** Asks for `bodies` in one call; the fake node answers once every request arrived, cut at `cuts`. */
  async function roundTrip(bodies: readonly Uint8Array[], cuts: readonly number[]): Promise<void> {
    await roundTripInto(bodies, cuts);
  }

  /** `roundTrip`, the blocks read into `memory` when given; returns them. */
  async function roundTripInto(
    bodies: readonly Uint8Array[],
    cuts: readonly number[],
    memory?: BlockMemory,
  ): Promise<Uint8Array[]> {
    let wire: Buffer[] = [];
    const node = await fakeNode((path, socket) => {
      const i = Number.parseInt(path.slice('/rest/block/'.length, -'.bin'.length), 16);
      wire.push(response(200, bodies[i]!));
      if (wire.length < bodies.length) return;
      const all = Buffer.concat(wire);
      wire = [];
      let off = 0;
      for (let k = 0; off < all.length; k++) {
        const n = cuts[k % cuts.length]!;
        socket.write(all.subarray(off, off + n));
        off += n;
      }
    });
    const rest = new RestClient({ url: node.url, connections: 1 });
    try {
      const got = await rest.blocks(
        bodies.map((_, i) => hashOf(i)),
        memory,
      );
      expect(got.map((b) => Buffer.from(b).toString('hex'))).toEqual(
        bodies.map((b) => Buffer.from(b).toString('hex')),
      );
      for (const b of got) {
        // Owns its memory: the start of an ArrayBuffer no other block shares.
        expect(b.byteOffset).toBe(0);
        if (!memory) expect(b.byteLength).toBe(b.buffer.byteLength);
      }
      expect(new Set(got.map((b) => b.buffer)).size).toBe(got.length);
      return got;
    } finally {
      rest.close();
    }
  }

  it('matches pipelined answers to their requests in order, however the bytes are split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }),
        roundTrip,
      ),
      { numRuns: 60 },
    );
  });

  it('reads bodies larger than a read, split anywhere, each into memory of its own', async () => {
    // Large bodies are read straight into their own memory once their head is in: a read then
    // ends where the body does, and the next response's head is read apart.
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 90_000 }), { minLength: 1, maxLength: 8 }),
        (sizes, cuts) =>
          roundTrip(
            sizes.map((n) => randomBytes(n)),
            cuts,
          ),
      ),
      { numRuns: 25 },
    );
  });

  it('reads bodies into memory given back, whatever it held, split anywhere, one ArrayBuffer a body', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 90_000 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 300_000 }), { maxLength: 6 }),
        async (sizes, cuts, given) => {
          const memory = new BlockMemory();
          // Memory that held something else: each body must overwrite exactly its own bytes.
          const old = given.map((n) => new Uint8Array(n).fill(0xee).buffer);
          memory.give(old);
          const got = await roundTripInto(
            sizes.map((n) => randomBytes(n)),
            cuts,
            memory,
          );
          const reused = got.filter((b) => old.includes(b.buffer as ArrayBuffer)).length;
          // A body takes given memory when some is long enough (and none twice: see roundTrip).
          const fits = sizes.some((n) => given.some((m) => m >= n));
          expect(reused > 0).toBe(fits);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('asks for hashes by height and blocks by hash on the paths bitcoind serves', async () => {
    const block = randomBytes(1000);
    const node = await fakeNode((path, socket) => {
      if (path.startsWith('/rest/blockhashbyheight/')) socket.write(response(200, `${hashOf(7)}\n`));
      else socket.write(response(200, block));
    });
    const rest = new RestClient({ url: node.url });
    try {
      expect(await rest.blockHashes([5, 6])).toEqual([hashOf(7), hashOf(7)]);
      expect(Buffer.from((await rest.blocks([hashOf(9)]))[0]!).equals(block)).toBe(true);
      expect(node.paths).toEqual([
        '/rest/blockhashbyheight/5.hex',
        '/rest/blockhashbyheight/6.hex',
        `/rest/block/${hashOf(9)}.bin`,
      ]);
    } finally {
      rest.close();
    }
  });

  it('reports an HTTP error with the node’s message, and keeps the connection for the next call', async () => {
    const node = await fakeNode((path, socket) => {
      if (path.includes(hashOf(1))) socket.write(response(404, `${hashOf(1)} not found`));
      else socket.write(response(200, 'ok'));
    });
    const rest = new RestClient({ url: node.url, connections: 1 });
    try {
      const e = await rejection(rest.blocks([hashOf(0), hashOf(1), hashOf(2)]));
      expect(e.code).toBe('RPC_HTTP');
      expect(e.details).toMatchObject({ status: 404, path: `/rest/block/${hashOf(1)}.bin` });
      expect(e.message).toContain('not found');
      expect((await rest.blocks([hashOf(3)]))[0]!.byteLength).toBe(2);
      expect(node.connections()).toBe(1);
    } finally {
      rest.close();
    }
  });

  it('says REST is off when every path is 404 with no message, and hints at -rest=1', async () => {
    const node = await fakeNode((_path, socket) => socket.write(response(404, '')));
    const rest = new RestClient({ url: node.url });
    try {
      expect(await rest.available()).toBe(false);
      const e = await rejection(rest.blocks([hashOf(1)]));
      expect(e.code).toBe('RPC_HTTP');
      expect(e.message).toContain('-rest=1');
    } finally {
      rest.close();
    }
    const on = await fakeNode((_path, socket) => socket.write(response(200, '{"chain":"regtest"}')));
    const rest2 = new RestClient({ url: on.url });
    try {
      expect(await rest2.available()).toBe(true);
      expect(on.paths).toEqual(['/rest/chaininfo.json']);
    } finally {
      rest2.close();
    }
  });

  it.each([
    ['no Content-Length', Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\nabc'), /no Content-Length/],
    [
      'a chunked body',
      Buffer.from(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      ),
      /transfer encoding/,
    ],
    [
      'a body larger than any block',
      Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4000001\r\n\r\n'),
      /exceeds any block/,
    ],
    ['no status line', Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'), /status line/],
    ['an endless header', Buffer.alloc(9000, 0x41), /header is too long/],
  ])('refuses %s as RPC_BAD_RESPONSE, failing the call, and starts afresh', async (_what, bytes, message) => {
    let first = true;
    const node = await fakeNode((_path, socket) => {
      socket.write(first ? bytes : response(200, 'fine'));
      first = false;
    });
    const rest = new RestClient({ url: node.url, connections: 1 });
    try {
      const e = await rejection(rest.blocks([hashOf(1)]));
      expect(e.code).toBe('RPC_BAD_RESPONSE');
      expect(e.message).toMatch(message);
      expect(Buffer.from((await rest.blocks([hashOf(2)]))[0]!).toString()).toBe('fine');
      expect(node.connections()).toBe(2);
    } finally {
      rest.close();
    }
  });

  it('fails the calls on a connection the node closes mid-body, then opens a new one', async () => {
    let first = true;
    const node = await fakeNode((_path, socket) => {
      if (first) {
        first = false;
        socket.end(response(200, randomBytes(100)).subarray(0, 80));
      } else socket.write(response(200, 'again'));
    });
    const rest = new RestClient({ url: node.url, connections: 1 });
    try {
      const e = await rejection(rest.blocks([hashOf(1), hashOf(2)]));
      expect(e.code).toBe('RPC_UNREACHABLE');
      expect(Buffer.from((await rest.blocks([hashOf(3)]))[0]!).toString()).toBe('again');
    } finally {
      rest.close();
    }
  });

  it('times out a call the node does not answer', async () => {
    const node = await fakeNode(() => undefined);
    const rest = new RestClient({ url: node.url, timeoutMs: 150 });
    try {
      const e = await rejection(rest.blockHashes([1]));
      expect(e.code).toBe('RPC_TIMEOUT');
      expect(e.details).toMatchObject({ timeoutMs: 150 });
    } finally {
      rest.close();
    }
  });

  it('reports a refused connection as RPC_UNREACHABLE', async () => {
    const node = await fakeNode(() => undefined);
    const port = Number(new URL(node.url).port);
    await new Promise<void>((r) => servers.pop()!.close(() => r()));
    const rest = new RestClient({ url: `http://127.0.0.1:${port}` });
    const e = await rejection(rest.blocks([hashOf(1)]));
    expect(e.code).toBe('RPC_UNREACHABLE');
    expect(e.details).toMatchObject({ errno: 'ECONNREFUSED' });
  });

  it('drops a connection that sends an answer nobody asked for', async () => {
    const node = await fakeNode((_path, socket) =>
      socket.write(Buffer.concat([response(200, 'a'), response(200, 'b')])),
    );
    const rest = new RestClient({ url: node.url, connections: 1 });
    try {
      expect(Buffer.from((await rest.blocks([hashOf(1)]))[0]!).toString()).toBe('a');
      // The extra answer made the first connection untrustworthy: the next call needs a new one.
      expect(Buffer.from((await rest.blocks([hashOf(2)]))[0]!).toString()).toBe('a');
      expect(node.connections()).toBe(2);
    } finally {
      rest.close();
    }
  });

  it('spreads concurrent calls over at most `connections` connections', async () => {
    const node = await fakeNode((_path, socket) => setTimeout(() => socket.write(response(200, 'x')), 20));
    const rest = new RestClient({ url: node.url, connections: 3 });
    try {
      await Promise.all(Array.from({ length: 8 }, (_, i) => rest.blocks([hashOf(i)])));
      expect(node.connections()).toBe(3);
      expect(node.paths).toHaveLength(8);
    } finally {
      rest.close();
    }
  });

  it('checks its options and arguments before sending anything', async () => {
    for (const [o, field] of [
      [{ url: 'ftp://127.0.0.1:1' }, 'url'],
      [{ url: 'not a url' }, 'url'],
      [{ url: 'http://127.0.0.1:1', timeoutMs: 0 }, 'timeoutMs'],
      [{ url: 'http://127.0.0.1:1', connections: 0 }, 'connections'],
    ] as const) {
      let e: unknown;
      try {
        new RestClient(o);
      } catch (err) {
        e = err;
      }
      expect(isCodedError(e, 'RPC_BAD_OPTIONS') && e.details?.field).toBe(field);
    }
    const node = await fakeNode(() => undefined);
    const rest = new RestClient({ url: node.url });
    try {
      expect((await rejection(rest.blocks(['../../etc/passwd']))).code).toBe('RPC_BAD_OPTIONS');
      expect((await rejection(rest.blockHashes([-1]))).code).toBe('RPC_BAD_OPTIONS');
      expect((await rejection(rest.blockHashes([1.5]))).code).toBe('RPC_BAD_OPTIONS');
      expect(node.paths).toEqual([]);
      expect(JSON.stringify(new RestClient({ url: 'http://user:pw@127.0.0.1:1' }))).not.toContain('pw');
    } finally {
      rest.close();
    }
  });
});

describe('BlockMemory', () => {
  it('gives a view of exactly the bytes asked for, at the start of new memory with room to spare', () => {
    const m = new BlockMemory();
    const b = m.take(100_000);
    expect(b.length).toBe(100_000);
    expect(b.byteOffset).toBe(0);
    expect(b.buffer.byteLength).toBeGreaterThan(100_000);
    expect(b.buffer.byteLength % (64 * 1024)).toBe(0);
  });

  it('takes the smallest memory given back that is long enough, each once', () => {
    const m = new BlockMemory();
    const [small, mid, large] = [1000, 5000, 9000].map((n) => new ArrayBuffer(n));
    m.give([large!, small!, mid!]);
    expect(m.freeBytes).toBe(15_000);
    expect(m.take(4000).buffer).toBe(mid);
    expect(m.take(4000).buffer).toBe(large);
    const fresh = m.take(4000).buffer;
    expect([small, mid, large]).not.toContain(fresh);
    expect(m.take(1000).buffer).toBe(small);
    expect(m.freeBytes).toBe(0);
  });

  it('ignores memory given twice, detached memory, and memory beyond its bound', () => {
    const m = new BlockMemory(10_000);
    const a = new ArrayBuffer(4000);
    m.give([a, a]);
    expect(m.freeBytes).toBe(4000);
    const moved = new ArrayBuffer(3000);
    structuredClone(moved, { transfer: [moved] }); // detached here, as after a transfer
    m.give([moved, new ArrayBuffer(7000), new ArrayBuffer(6000)]);
    expect(m.freeBytes).toBe(10_000);
    expect(m.take(4000).buffer).toBe(a);
    expect(m.take(4000).buffer.byteLength).toBe(6000);
  });
});
