/**
 * What the demo reads from the running system, as an operator would: the public REST API and the
 * services' Prometheus endpoints.
 */

/** One Prometheus sample: metric name, labels, value. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text exposition format (the subset prom-client writes). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of a metric's samples whose labels include `labels` (0 when there are none). */
export function sumOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** `<opsUrl>/metrics`, parsed. */
export async function readMetrics(opsUrl: string): Promise<Sample[]> {
  const r = await fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (!r.ok) throw new Error(`${opsUrl}/metrics answered ${r.status}`);
  return parseMetrics(await r.text());
}

/** An answer of the REST API: status and parsed JSON body (null when the body is empty). */
export interface ApiAnswer<T = unknown> {
  readonly status: number;
  readonly body: T;
}

/** A small client of the staking API's public routes. */
export class ApiClient {
  readonly #base: string;
  constructor(baseUrl: string) {
    this.#base = baseUrl;
  }

  async get<T = unknown>(path: string): Promise<ApiAnswer<T>> {
    const r = await fetch(`${this.#base}${path}`, { signal: AbortSignal.timeout(10_000) });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async post<T = unknown>(path: string, body: unknown): Promise<ApiAnswer<T>> {
    const r = await fetch(`${this.#base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : null) as T };
  }
}
