import { vi } from 'vitest';
import { RpcClient } from '../../bitcoind/index.ts';

/**
 * Runs `fn` and names every JSON-RPC method any RpcClient in this process sent meanwhile, single
 * calls and batch entries alike: for tests that say which node calls a decision costs (an
 * in-process signer's client is not the test's, so the prototype is watched).
 */
export async function rpcMethodsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; methods: string[] }> {
  const call = vi.spyOn(RpcClient.prototype, 'call');
  const batch = vi.spyOn(RpcClient.prototype, 'batch');
  try {
    const result = await fn();
    const methods = [
      ...call.mock.calls.map((c) => c[0]),
      ...batch.mock.calls.flatMap((c) => c[0].map((q) => q.method)),
    ];
    return { result, methods };
  } finally {
    call.mockRestore();
    batch.mockRestore();
  }
}
