// Loopback HTTP peers that answer with raw bytes: the bitcoind client's tests write status lines,
// chunks, torn answers and closes by hand, which node:http would not let them. This reads the
// requests off a socket; what to answer, and when, is each test's.
import type { Socket } from 'node:net';

/** One request as read off its connection: the head (request line and headers), the body, its number on the connection. */
export interface RawRequest {
  readonly head: string;
  readonly body: Buffer;
  readonly n: number;
}

/**
 * Calls `onRequest` for every whole request (head, then Content-Length bytes of body) the socket
 * receives, in order, however the bytes are split across reads.
 */
export function onRawRequests(socket: Socket, onRequest: (request: RawRequest) => void): void {
  let buffered = Buffer.alloc(0);
  let n = 0;
  socket.on('data', (d: Buffer) => {
    buffered = Buffer.concat([buffered, d]);
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.toString('latin1', 0, end);
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      const body = buffered.subarray(end + 4, end + 4 + length);
      buffered = buffered.subarray(end + 4 + length);
      onRequest({ head, body, n: n++ });
    }
  });
}
