import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { onRawRequests } from '../test/infra/rawHttpRequests.ts';
import { testTempDir } from '../test/infra/tempDirs.ts';
import { rejection } from '../test/rejection.ts';
import { RpcClient } from './rpcClient.ts';

/**
 * RpcTransport on the shared HTTP/1.1 client (httpConnection.ts): how it answers the ways a node
 * closes kept-alive connections, and answers cut or framed in every way the client takes.
 */
const servers: (Server | HttpServer)[] = [];
const sockets = new Set<Socket>();
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers.splice(0)) {
    if ('closeAllConnections' in s) s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  for (const c of children.splice(0)) {
    if (c.exitCode === null) {
      c.kill();
      await once(c, 'exit');
    }
  }
});

const AUTH = { user: 'u', password: 'p' };

/** A JSON-RPC answer to one request body. */
function rpcAnswer(raw: string, result: unknown): string {
  return JSON.stringify({ result, error: null, id: (JSON.parse(raw) as { id: number }).id });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      raw += c;
    });
    req.on('end', () => resolve(raw));
  });
}

/** Node's HTTP server, which (like bitcoind's -rpcservertimeout) closes a kept-alive connection idle for `keepAliveMs`. */
async function httpNode(
  keepAliveMs: number,
  result: (i: number) => unknown,
): Promise<{ url: string; connections: () => number; requests: () => number }> {
  let connections = 0;
  let requests = 0;
  const server = createHttpServer(async (req, res) => {
    const i = requests++;
    const raw = await readBody(req);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(rpcAnswer(raw, result(i)));
  });
  server.keepAliveTimeout = keepAliveMs;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    requests: () => requests,
  };
}

/**
 * A node in a process of its own that closes a kept-alive connection idle for 50 ms, as bitcoind
 * does after -rpcservertimeout: it closes on time while this process is busy. Method
 * `stats` answers how many connections and requests it has seen; any other, the request's number.
 */
async function separateNode(): Promise<{
  url: string;
  stats: (rpc: RpcClient) => Promise<{ connections: number; requests: number }>;
}> {
  const script = `const net = require('node:net');
    let connections = 0, requests = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.on('error', () => {});
      let buffered = Buffer.alloc(0), idle;
      socket.on('data', (d) => {
        clearTimeout(idle);
        buffered = Buffer.concat([buffered, d]);
        for (;;) {
          const end = buffered.indexOf('\\r\\n\\r\\n');
          if (end < 0) break;
          const length = Number(/content-length: *(\\d+)/i.exec(buffered.toString('latin1', 0, end))[1]);
          if (buffered.length < end + 4 + length) break;
          const { id, method } = JSON.parse(buffered.toString('utf8', end + 4, end + 4 + length));
          buffered = buffered.subarray(end + 4 + length);
          const result = method === 'stats' ? { connections, requests } : requests++;
          const body = JSON.stringify({ result, error: null, id });
          socket.write('HTTP/1.1 200 OK\\r\\nContent-Length: ' + body.length + '\\r\\n\\r\\n' + body);
        }
        idle = setTimeout(() => socket.destroy(), 50);
      });
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return {
    url: `http://127.0.0.1:${line.toString().trim()}`,
    stats: (rpc) => rpc.call('stats'),
  };
}

/** A node whose raw answer bytes a test writes: `answer` gets the request's body and its number on its connection. */
async function scriptedNode(
  answer: (body: string, n: number, socket: Socket) => void,
): Promise<{ url: string; connections: () => number; requests: () => number }> {
  let connections = 0;
  let requests = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onRawRequests(socket, ({ body, n }) => {
      requests++;
      answer(body.toString('utf8'), n, socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    requests: () => requests,
  };
}

function ok(body: string, extra = ''): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([
    Buffer.from(
      `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n${extra}Content-Length: ${b.length}\r\n\r\n`,
    ),
    b,
  ]);
}

/** Keeps the event loop busy, as a long synchronous step of a service does. */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // spin
  }
}

describe('RpcTransport: connections the node closes', () => {
  it('sends a call again when its kept-alive connection was closed while the event loop was busy', async () => {
    const node = await separateNode();
    const rpc = new RpcClient({ url: node.url, ...AUTH });
    expect(await rpc.call('uptime')).toBe(0);
    // The node closes the idle connection meanwhile; the pool cannot see it before this call goes out.
    busy(300);
    expect(await rpc.call('uptime')).toBe(1);
    busy(300);
    expect(await node.stats(rpc)).toEqual({ connections: 3, requests: 2 });
  });

  it('keeps several calls in flight on as many connections, and serves them again after the node closed them all', async () => {
    const node = await separateNode();
    const rpc = new RpcClient({ url: node.url, ...AUTH });
    const first = await Promise.all(Array.from({ length: 8 }, () => rpc.call<number>('uptime')));
    expect(new Set(first).size).toBe(8);
    busy(300);
    const second = await Promise.all(Array.from({ length: 8 }, () => rpc.call<number>('uptime')));
    expect(new Set(second).size).toBe(8);
    busy(300);
    expect(await node.stats(rpc)).toEqual({ connections: 17, requests: 16 });
  });

  it('sends a call again when the node closes (FIN) a reused connection before answering', async () => {
    const node = await scriptedNode((body, n, socket) => {
      if (n === 0) socket.write(ok(rpcAnswer(body, 7)));
      else socket.end();
    });
    const rpc = new RpcClient({ url: node.url, ...AUTH });
    expect(await rpc.call('uptime')).toBe(7);
    expect(await rpc.call('uptime')).toBe(7);
    expect(node.requests()).toBe(3);
  });

  it('does not send again a call whose answer had begun: the node may have done it (RPC_UNREACHABLE)', async () => {
    const node = await scriptedNode((body, n, socket) => {
      if (n === 0) socket.write(ok(rpcAnswer(body, 7)));
      else socket.end(ok(rpcAnswer(body, 8)).subarray(0, 30));
    });
    const rpc = new RpcClient({ url: node.url, ...AUTH });
    expect(await rpc.call('uptime')).toBe(7);
    const err = await rejection(rpc.call('sendtoaddress', ['x', '1']));
    expect(err.code).toBe('RPC_UNREACHABLE');
    expect(err.message).toContain('the node closed the connection');
    expect(node.requests()).toBe(2);
  });

  it('takes a Connection: close answer and sends the next call on a new connection', async () => {
    const node = await scriptedNode((body, _n, socket) =>
      socket.end(ok(rpcAnswer(body, 'bye'), 'Connection: close\r\n')),
    );
    const rpc = new RpcClient({ url: node.url, ...AUTH });
    expect(await rpc.call('uptime')).toBe('bye');
    expect(await rpc.call('uptime')).toBe('bye');
    expect(node.requests()).toBe(2);
    expect(node.connections()).toBe(2);
  });
});

describe('RpcTransport: answers', () => {
  it('reads an answer cut into many TCP chunks, with a Content-Length or chunked, larger than the read buffer or not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 200_000 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 4 }),
        async (size, chunked, cuts, chunkSizes) => {
          // Non-ASCII too: the body is UTF-8, and a character may be cut between reads.
          const result = 'é€x'.repeat(Math.ceil(size / 3)).slice(0, size);
          const node = await scriptedNode((body, _n, socket) => {
            const json = Buffer.from(rpcAnswer(body, result));
            let wire: Buffer;
            if (!chunked) wire = ok(json.toString());
            else {
              const parts = [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')];
              for (let off = 0, k = 0; off < json.length; k++) {
                const n = Math.min(chunkSizes[k % chunkSizes.length]!, json.length - off);
                parts.push(
                  Buffer.from(`${n.toString(16)}\r\n`),
                  json.subarray(off, off + n),
                  Buffer.from('\r\n'),
                );
                off += n;
              }
              parts.push(Buffer.from('0\r\n\r\n'));
              wire = Buffer.concat(parts);
            }
            for (let off = 0, k = 0; off < wire.length; k++) {
              socket.write(wire.subarray(off, off + cuts[k % cuts.length]!));
              off += cuts[k % cuts.length]!;
            }
          });
          const rpc = new RpcClient({ url: node.url, ...AUTH });
          expect(await rpc.call('getblock')).toBe(result);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('reads many small answers byte by byte on one kept-alive connection', async () => {
    const node = await scriptedNode((body, n, socket) => {
      const wire = ok(rpcAnswer(body, n));
      for (let i = 0; i < wire.length; i++) socket.write(wire.subarray(i, i + 1));
    });
    const rpc = new RpcClient({ url: node.url, ...AUTH });
    for (let i = 0; i < 20; i++) expect(await rpc.call('uptime')).toBe(i);
    expect(node.connections()).toBe(1);
  });
});

describe('RpcTransport: when a call leaves', () => {
  it('writes a call to its kept-alive connection before returning to the caller once the credentials are known, so the caller can work while the node answers', async () => {
    const node = await httpNode(60_000, (i) => i);
    const cookieFile = join(testTempDir('rpc-cookie-'), '.cookie');
    writeFileSync(cookieFile, '__cookie__:0123abcd');
    for (const rpc of [
      new RpcClient({ url: node.url, ...AUTH, timeoutMs: 5_000 }),
      new RpcClient({ url: node.url, cookieFile, timeoutMs: 5_000 }),
    ]) {
      // The first call opens the connection (and reads the cookie); the next ones reuse both.
      await rpc.call('uptime');
      const write = vi.spyOn(Socket.prototype, 'write');
      try {
        const answer = rpc.call<number>('uptime');
        expect(write).toHaveBeenCalledTimes(1);
        expect(String(write.mock.calls[0]![0])).toContain('"method":"uptime"');
        expect(typeof (await answer)).toBe('number');
      } finally {
        write.mockRestore();
      }
    }
  });
});

describe('RpcTransport: the process', () => {
  it('does not keep the process alive with an idle kept-alive connection', async () => {
    const node = await httpNode(60_000, () => 'done');
    const client = new URL('./rpcClient.ts', import.meta.url).pathname;
    const script = `import { RpcClient } from ${JSON.stringify(client)};
      const rpc = new RpcClient({ url: ${JSON.stringify(node.url)}, user: 'u', password: 'p' });
      console.log(await rpc.call('uptime'));`;
    const started = Date.now();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 20_000 },
    );
    expect(stdout.trim()).toBe('done');
    expect(node.connections()).toBe(1);
    // The server keeps the connection for 60 s: the child exited on its own well before.
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
