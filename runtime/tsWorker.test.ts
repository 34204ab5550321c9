import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { startTsWorker, threadNameOf } from './tsWorker.ts';

describe('startTsWorker', () => {
  it('runs a TypeScript module on a thread named after it, so tools tell the threads apart', async () => {
    const w = startTsWorker(new URL('./tsWorker.probe.ts', import.meta.url));
    try {
      const [comm] = await once(w, 'message');
      expect(comm).toBe('tsWorker.probe');
    } finally {
      await w.terminate();
    }
  });

  it('names a thread by its module file, without .worker.ts, within 15 bytes', () => {
    expect(threadNameOf(new URL('file:///x/indexer/fetchThread.worker.ts'))).toBe('fetchThread');
    expect(threadNameOf(new URL('file:///x/indexer/relay.worker.ts'))).toBe('relay');
    expect(threadNameOf(new URL('file:///x/indexer/verdictThread.worker.ts'))).toBe('verdictThread');
    expect(threadNameOf(new URL('file:///x/testkit/outboxReaderThread.ts'))).toBe('outboxReaderThr');
    expect(threadNameOf(new URL('file:///x/%C3%A9t%C3%A9.ts'))).toBe('_t_');
  });
});
