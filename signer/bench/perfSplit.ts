import { execFileSync } from 'node:child_process';

/**
 * Where a process's CPU goes per request, by part of the request path, from a `perf record -g`
 * profile (cpu-clock) with JS symbols (--perf-basic-prof). `npm run bench:signer` records the signer
 * and the custody floor (ioFloor.ts with custody) over the same 1-in-flight requests and prints the
 * two side by side: the difference is what deciding costs beyond the work every signer does.
 *
 * Each sample goes to the first part that one of its frames names, from the sampled frame up to
 * the root, so a sample in OpenSSL under a TLS write is TLS, not the fastify reply that asked for
 * it. libsecp256k1 and SoftHSM are built without frame pointers: perf cannot walk up out of them,
 * so their samples are named by the library alone.
 */
const PARTS: ReadonlyArray<readonly [string, RegExp]> = [
  ['V8 garbage collection', /Heap::|Scavenge|MarkCompact|Sweeper|GCTracer|ConcurrentMarking/],
  // Not OpenSSL's EVP_ or digest symbols: node:crypto's hashes and SoftHSM's MAC run there too.
  ['TLS (OpenSSL)', /TLSWrap|SSL_|ssl3_|tls1_|tls13_/],
  ['custody: audit anchor write', /anchor\.ts|writeAnchor|#storeAnchor|#setLabel/],
  ['custody: MAC', /pkcs11\/audit\.ts/],
  ['custody: signature', /workingKey|pkcs11\/backend|hsm\/signing|pkcs11\/token/],
  [
    'decision (validation, staking/, curve calls)',
    /validate\.ts|unbondingCheck|staking\/|verifySchnorr|common\/curve|params\//,
  ],
  ['audit log (records, anchor body)', /signer\/audit\.ts/],
  ['node RPC client', /rpcTransport|httpConnection|bitcoind\/|signer\/chain\.ts/],
  ['metrics (prom-client)', /prom-client|signer\/metrics\.ts/],
  // The libuv pool's thread (`worker`) runs nothing but file system calls in these processes.
  ['file writes (libuv pool)', /fs\/promises|fsCall|FSReqCallback|uv__fs|uv_fs|\bworker \(/],
  ['fastify, pino', /fastify|pino|avvio|find-my-way|fast-json|ajv|secure-json/],
  ['the signer\u2019s own request code', /signer\/service\.ts|signer\/server\.ts/],
  ['Node HTTP', /_http_|http_common|llhttp|Parser::/],
  ['Node streams, sockets', /internal\/streams|node:net|stream_base|LibuvStreamWrap|uv__read|uv__write/],
  ['event loop, promises', /uv__io_poll|uv_run|epoll|processTicksAndRejections|processImmediate/],
];

const BY_LIBRARY: ReadonlyArray<readonly [string, RegExp]> = [
  ['curve (libsecp256k1)', /libsecp256k1/],
  ['SoftHSM', /libsofthsm2/],
];

const FALLBACK: ReadonlyArray<readonly [string, RegExp]> = [
  ['kernel, other', /kernel\.kallsyms|\[k\]/],
  ['libc (malloc, system calls), other', /libc\.so/],
  ['V8 and Node, other', /.*/],
];

/** The part a sample's stack (sampled frame first) belongs to. */
export function partOf(stack: readonly string[]): string {
  const leaf = stack[0] ?? '';
  for (const [name, re] of BY_LIBRARY) if (re.test(leaf)) return name;
  for (const frame of stack) for (const [name, re] of PARTS) if (re.test(frame)) return name;
  for (const [name, re] of FALLBACK) if (re.test(leaf)) return name;
  return 'V8 and Node, other';
}

/** µs of CPU per request by part: `perf script` of `data`, `hz` samples a second, over `requests`. */
export function cpuByPart(data: string, requests: number, hz: number): Map<string, number> {
  const text = execFileSync('perf', ['script', '-i', data, '-F', 'ip,sym,dso'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const samples = new Map<string, number>();
  for (const block of text.split(/\n\s*\n/)) {
    const stack = block
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    if (stack.length === 0) continue;
    const part = partOf(stack);
    samples.set(part, (samples.get(part) ?? 0) + 1);
  }
  const perRequest = new Map<string, number>();
  for (const [part, n] of samples) perRequest.set(part, (n / hz / requests) * 1e6);
  return perRequest;
}

/** Two processes' parts side by side, largest difference first, with the totals. */
export function partTable(
  a: { readonly name: string; readonly parts: Map<string, number> },
  b: { readonly name: string; readonly parts: Map<string, number> },
): string {
  const names = [...new Set([...a.parts.keys(), ...b.parts.keys()])];
  const at = (m: Map<string, number>, k: string) => m.get(k) ?? 0;
  names.sort((x, y) => at(a.parts, y) - at(b.parts, y) - (at(a.parts, x) - at(b.parts, x)));
  const sum = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);
  const row = (label: string, x: number, y: number) =>
    `    ${label.padEnd(48)} ${x.toFixed(0).padStart(7)} ${y.toFixed(0).padStart(7)} ${(x - y).toFixed(0).padStart(7)}`;
  return [
    `    ${'µs of CPU per request (perf samples)'.padEnd(48)} ${a.name.padStart(7)} ${b.name.padStart(7)}    diff`,
    ...names.map((n) => row(n, at(a.parts, n), at(b.parts, n))),
    row('total', sum(a.parts), sum(b.parts)),
  ].join('\n');
}
