/** One sync-progress report: where the indexer is, how fast it goes, how long until it is caught up. */
export interface SyncProgress {
  /** Last confirmed height processed. */
  readonly height: number;
  /** The node's tip. */
  readonly tip: number;
  /** The height the indexer is heading for: the tip minus the confirmation depth plus one. */
  readonly target: number;
  /** Confirmed blocks still to process (target − height, never negative). */
  readonly behind: number;
  readonly blocksPerSecond: number;
  readonly txsPerSecond: number;
  /** Seconds until `target` at the current block rate. */
  readonly etaSeconds: number;
  /** Share of the blocks from the start height to the target that are done, 0…1. */
  readonly progress: number;
}

/**
 * Measures the rate of a catch-up and says when it is time to report it. Rates are over the
 * blocks since the previous report (not since start-up), so a sync that slows down as blocks
 * fill up shows the slowdown; one report per `intervalMs` at most, so a fast sync of a long chain
 * does not flood the log (the node's own `UpdateTip` lines are per block, which is too many for
 * a JSON log that is shipped and stored).
 */
export class ProgressMeter {
  readonly #intervalMs: number;
  readonly #startHeight: number;
  readonly #now: () => number;
  #lastAt: number;
  #blocks = 0;
  #txs = 0;

  constructor(opts: { intervalMs: number; startHeight: number; now?: () => number }) {
    this.#intervalMs = opts.intervalMs;
    this.#startHeight = opts.startHeight;
    this.#now = opts.now ?? (() => performance.now());
    this.#lastAt = this.#now();
  }

  /**
   * Counts a commit of `blocks` blocks holding `txs` transactions, now at `height` with the node
   * at `tip`. Returns a report when one is due (the interval has passed and the indexer is still
   * behind `target`), else undefined.
   */
  record(a: {
    blocks: number;
    txs: number;
    height: number;
    tip: number;
    depth: number;
  }): SyncProgress | undefined {
    this.#blocks += a.blocks;
    this.#txs += a.txs;
    const target = a.tip - a.depth + 1;
    const behind = Math.max(0, target - a.height);
    const now = this.#now();
    const elapsedMs = now - this.#lastAt;
    if (behind === 0 || elapsedMs < this.#intervalMs || this.#blocks === 0) return undefined;
    // A commit can be quicker than the clock's resolution; a rate needs a non-zero duration.
    const seconds = Math.max(elapsedMs, 1) / 1000;
    const blocksPerSecond = this.#blocks / seconds;
    const txsPerSecond = this.#txs / seconds;
    const span = Math.max(1, target - this.#startHeight + 1);
    const done = Math.min(span, Math.max(0, a.height - this.#startHeight + 1));
    this.#lastAt = now;
    this.#blocks = 0;
    this.#txs = 0;
    return {
      height: a.height,
      tip: a.tip,
      target,
      behind,
      blocksPerSecond: round(blocksPerSecond, 2),
      txsPerSecond: round(txsPerSecond, 2),
      etaSeconds: Math.ceil(behind / blocksPerSecond),
      progress: round(done / span, 4),
    };
  }
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export type SyncState = 'starting' | 'syncing' | 'following' | 'stopped';

/**
 * Where the indexer stands against its node. Within the confirmation window it is where it should
 * be: those blocks wait for their depth; a block that arrived since the last poll is one more, read
 * at the next poll, so readiness does not flap at every new block.
 */
export function syncState(a: {
  readonly stopped: boolean;
  readonly nodeTip: number | undefined;
  /** Last processed height; undefined before the first block. */
  readonly last: number | undefined;
  readonly startHeight: number;
  readonly depth: number;
}): SyncState {
  if (a.stopped) return 'stopped';
  if (a.nodeTip === undefined) return 'starting';
  return a.nodeTip - (a.last ?? a.startHeight - 1) > a.depth ? 'syncing' : 'following';
}
