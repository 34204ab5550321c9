// The node's credentials (user and password, or the cookie file re-read when the node restarts),
// held so that no message, detail or enumerable property ever carries them.
import { readFile } from 'node:fs/promises';
import { CodedError } from '../common/index.ts';
import type { BitcoindErrorCode } from './errors.ts';

/** The Authorization header, kept away from every message, detail and enumerable property. */
export class Credentials {
  readonly #fixed: string | undefined;
  readonly #cookieFile: string | undefined;
  #cookieHeader: string | undefined;

  constructor(fixed: { user: string; password: string } | undefined, cookieFile: string | undefined) {
    this.#fixed = fixed ? basic(`${fixed.user}:${fixed.password}`) : undefined;
    this.#cookieFile = cookieFile;
  }

  get usesCookie(): boolean {
    return this.#cookieFile !== undefined;
  }

  /** The header when it is known without reading anything: a call can then leave at once (RpcTransport). */
  get known(): string | undefined {
    return this.#fixed ?? this.#cookieHeader;
  }

  async header(): Promise<string> {
    const known = this.known;
    if (known) return known;
    const file = this.#cookieFile!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code;
      throw new CodedError<BitcoindErrorCode>(
        'RPC_UNREACHABLE',
        `cannot read the RPC cookie file ${file} (${errno ?? 'error'}); is the node running with this datadir?`,
        { cause: err, details: { cookieFile: file, errno } },
      );
    }
    // The file is `__cookie__:<hex>`, i.e. user:password already.
    const line = text.split(/\r?\n/, 1)[0] ?? '';
    if (!line.includes(':')) {
      throw new CodedError<BitcoindErrorCode>(
        'RPC_BAD_OPTIONS',
        `the RPC cookie file ${file} is not user:password`,
        {
          details: { cookieFile: file },
        },
      );
    }
    this.#cookieHeader = basic(line);
    return this.#cookieHeader;
  }

  forgetCookie(): void {
    this.#cookieHeader = undefined;
  }

  toJSON(): string {
    return '[credentials]';
  }
}

// Base64 also guarantees a valid header value, so fetch never rejects it with a message that quotes it.
function basic(userPass: string): string {
  return `Basic ${Buffer.from(userPass, 'utf8').toString('base64')}`;
}
