/**
 * At most `max` log lines of one kind per interval; the rest are counted and reported in one
 * summary line when the interval ends (or at close), so a flood of refusals — TLS handshakes from
 * anyone who can reach the port, or a listed client hammering past its rate limit — cannot fill
 * the disk through the log, yet the log still says how many there were.
 */
export class LogLimiter {
  readonly #max: number;
  readonly #intervalMs: number;
  readonly #summary: (suppressed: number, intervalMs: number) => void;
  readonly #now: () => number;
  #windowStart: number;
  #written = 0;
  #suppressed = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: {
    readonly max: number;
    readonly intervalMs: number;
    /** Writes the summary line for `suppressed` lines not written in the interval. */
    readonly summary: (suppressed: number, intervalMs: number) => void;
    readonly now?: () => number;
    /** Flush summaries on a timer too, so the count of a last burst is not held back (default true). */
    readonly timer?: boolean;
  }) {
    this.#max = opts.max;
    this.#intervalMs = opts.intervalMs;
    this.#summary = opts.summary;
    this.#now = opts.now ?? Date.now;
    this.#windowStart = this.#now();
    if (opts.timer ?? true) {
      this.#timer = setInterval(() => this.#roll(), opts.intervalMs);
      this.#timer.unref();
    }
  }

  /** Whether a line may be written now; when not, it is counted for the summary. */
  allow(): boolean {
    this.#roll();
    if (this.#written < this.#max) {
      this.#written++;
      return true;
    }
    this.#suppressed++;
    return false;
  }

  /** Writes any pending summary and stops the timer. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#flush();
  }

  #roll(): void {
    const now = this.#now();
    if (now - this.#windowStart < this.#intervalMs) return;
    this.#flush();
    this.#windowStart = now;
    this.#written = 0;
  }

  #flush(): void {
    if (this.#suppressed === 0) return;
    const n = this.#suppressed;
    this.#suppressed = 0;
    this.#summary(n, this.#intervalMs);
  }
}

/**
 * A fixed-window request limit per key (the signer's client certificate names, a bounded set the
 * allow-list fixes): a key's window opens with its first request and lasts `windowMs`; within it
 * the first `max` requests pass and the rest are refused with the seconds until it closes. These
 * are the semantics the signer had from @fastify/rate-limit's local store, kept here synchronous
 * and allocation-free on the path every request takes.
 */
export class ClientRateLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(opts: { readonly max: number; readonly windowMs: number; readonly now?: () => number }) {
    this.#max = opts.max;
    this.#windowMs = opts.windowMs;
    this.#now = opts.now ?? Date.now;
  }

  /** Counts a request of `key`: undefined when it passes, else the whole seconds to wait (≥ 1). */
  take(key: string): number | undefined {
    const now = this.#now();
    let w = this.#windows.get(key);
    if (w === undefined) {
      w = { start: now, count: 0 };
      this.#windows.set(key, w);
    } else if (now - w.start >= this.#windowMs) {
      w.start = now;
      w.count = 0;
    }
    w.count++;
    if (w.count <= this.#max) return undefined;
    return Math.ceil((this.#windowMs - (now - w.start)) / 1000);
  }
}
