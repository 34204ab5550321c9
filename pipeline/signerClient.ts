import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { CodedError, parseCompressedKey, type XOnlyKey, xOnlyOf } from '../common/index.ts';
import {
  SIGN_UNBONDING_PATH,
  type SignerErrorBody,
  type SignUnbondingRequestBody,
  type SignUnbondingResponse,
} from '../staking/index.ts';

/** One covenant signer the pipeline asks, as configured. */
export interface SignerEndpoint {
  readonly name: string;
  readonly url: string;
  /** The covenant key this signer holds (33-byte compressed hex, as in the params). */
  readonly publicKeyHex: string;
  readonly key: XOnlyKey;
  readonly timeoutMs: number;
}

/** A wire shape as received: every field, nested or not, may be absent or of any type. */
type Loose<T> = { readonly [K in keyof T]?: T[K] extends object ? Loose<T[K]> : unknown };

/** Largest answer read from a signer (the reference client reads at most 1 MB). */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Asks covenant signers for unbonding signatures over mutual TLS: the pipeline's client
 * certificate, each signer's own CA, a keep-alive connection per signer, a per-signer timeout.
 */
/** A certificate or key file of the config; a missing one stops start-up naming the option. */
function readTlsFile(file: string, option: string): Buffer {
  try {
    return readFileSync(file);
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new CodedError('PIPELINE_CONFIG_INVALID', `cannot read ${option} ${file} (${errno})`, {
      cause,
      details: { file, option },
    });
  }
}

export class SignerClient {
  readonly endpoint: SignerEndpoint;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;

  /**
   * `tls` for an https:// signer; an http:// one (loopback only, checked by the config loader) is a
   * reference-style signer behind a TLS sidecar on this host and takes none.
   */
  constructor(
    endpoint: SignerEndpoint,
    tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string },
  ) {
    this.endpoint = endpoint;
    if (new URL(endpoint.url).protocol === 'http:') {
      this.#agent = new HttpAgent({ keepAlive: true, maxSockets: 32 });
      this.#request = httpRequest;
      return;
    }
    if (!tls) {
      throw new CodedError('PIPELINE_CONFIG_INVALID', `signer ${endpoint.name}: https:// needs TLS files`);
    }
    this.#agent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 32,
      cert: readTlsFile(tls.certFile, 'tls.client_cert_file'),
      key: readTlsFile(tls.keyFile, 'tls.client_key_file'),
      ca: readTlsFile(tls.caFile, `signer ${endpoint.name}'s ca_file`),
    });
    this.#request = httpsRequest;
  }

  /**
   * The 64-byte signature the signer returns, unverified (the caller verifies).
   * @throws {CodedError} PIPELINE_SIGNER_TIMEOUT, PIPELINE_SIGNER_UNREACHABLE, PIPELINE_SIGNER_REFUSED
   *   (with the signer's code in details), PIPELINE_SIGNER_BAD_ANSWER
   */
  sign(body: SignUnbondingRequestBody, signal?: AbortSignal): Promise<Uint8Array> {
    const { name, url, timeoutMs } = this.endpoint;
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const req = this.#request(
        new URL(SIGN_UNBONDING_PATH, url),
        {
          method: 'POST',
          agent: this.#agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER_BYTES) {
              req.destroy();
              done(() =>
                reject(
                  new CodedError(
                    'PIPELINE_SIGNER_BAD_ANSWER',
                    `signer ${name} sent more than ${MAX_ANSWER_BYTES} bytes`,
                  ),
                ),
              );
              return;
            }
            chunks.push(c);
          });
          res.on('error', (e) =>
            done(() =>
              reject(
                new CodedError('PIPELINE_SIGNER_UNREACHABLE', `signer ${name}: ${e.message}`, { cause: e }),
              ),
            ),
          );
          res.on('end', () =>
            done(() => {
              let json: unknown;
              try {
                json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
              } catch {
                json = undefined;
              }
              // Unchecked until each field is tested below: a signer may send anything.
              const j = json as Loose<SignUnbondingResponse & SignerErrorBody> | undefined;
              if (res.statusCode !== 200) {
                const code =
                  typeof j?.code === 'string'
                    ? j.code
                    : typeof j?.errorCode === 'string'
                      ? j.errorCode
                      : `HTTP_${res.statusCode}`;
                reject(
                  new CodedError(
                    'PIPELINE_SIGNER_REFUSED',
                    `signer ${name} refused (${res.statusCode} ${code})`,
                    {
                      details: {
                        signer: name,
                        status: res.statusCode,
                        signerCode: code,
                        message: typeof j?.message === 'string' ? j.message.slice(0, 300) : undefined,
                      },
                    },
                  ),
                );
                return;
              }
              const hex = j?.data?.signature_hex;
              if (typeof hex !== 'string' || !/^[0-9a-fA-F]{128}$/.test(hex)) {
                reject(
                  new CodedError(
                    'PIPELINE_SIGNER_BAD_ANSWER',
                    `signer ${name} answered 200 without a 64-byte signature_hex`,
                  ),
                );
                return;
              }
              resolve(Uint8Array.from(Buffer.from(hex, 'hex')));
            }),
          );
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        done(() =>
          reject(
            new CodedError('PIPELINE_SIGNER_TIMEOUT', `signer ${name} did not answer within ${timeoutMs} ms`),
          ),
        );
      }, timeoutMs);
      const onAbort = () => {
        req.destroy();
        done(() =>
          reject(
            new CodedError('PIPELINE_SIGNER_ABORTED', `request to signer ${name} abandoned: quorum reached`),
          ),
        );
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (e) =>
        done(() =>
          reject(new CodedError('PIPELINE_SIGNER_UNREACHABLE', `signer ${name}: ${e.message}`, { cause: e })),
        ),
      );
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** Parses a configured signer's key; x-only is what witnesses and verification use. */
export function endpointOf(cfg: {
  name: string;
  url: string;
  public_key: string;
  timeout_ms: number;
}): SignerEndpoint {
  const pk = parseCompressedKey(cfg.public_key, `signers.${cfg.name}.public_key`, 'PIPELINE_CONFIG_INVALID');
  return {
    name: cfg.name,
    url: cfg.url,
    publicKeyHex: cfg.public_key.toLowerCase(),
    key: xOnlyOf(pk),
    timeoutMs: cfg.timeout_ms,
  };
}
