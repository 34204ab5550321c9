/**
 * The 1-in-flight floor of bench:signer: a process that does for each request the I/O the signer
 * does, and nothing else. It takes the same mTLS request, asks the same node about the staking tx
 * the unbonding tx spends (the tx parsed as the signer parses it; on the project's RPC client, the
 * call the signer makes: one `gettxout` of the output spent when the request carries the staking tx
 * in `staking_tx_hex`, signer/validate.ts step 6, else `getrawtransaction <txid> true`), appends a
 * record of the audit log's size to a file opened with O_DSYNC, and answers a fixed body. No
 * validation, no signature, no HSM, no framework: what one request costs on this machine in
 * wake-ups, TLS, a node round trip and a synced write, so that the signer's latency at 1 in flight
 * can be read beside what its I/O alone takes here.
 *
 * With `custody` (the signer's pkcs11 token), it also makes the custody calls the signer makes per
 * request at 1 in flight, through the project's own backend: the signature (the sealed key
 * unsealed in the token, BIP340 over a 32-byte stand-in for the sighash), one MAC call for a record
 * and an anchor, and the anchor's compare-and-replace in the token while the append goes to disk.
 * That is the floor of a signer that keeps issue 20's anchor: everything it must do but decide.
 *
 * argv[2]: JSON { ca, cert, key (file paths), rpcUrl, cookieFile, file (the append target),
 * custody?: { tokenLabel, pinFile, anchorLabel, key (x-only hex) } }. Prints `listening <port>` once
 * it accepts connections; stops on SIGTERM.
 */
import { constants, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:https';
import { pino } from 'pino';
import { RpcClient } from '../../bitcoind/index.ts';
import { hashToTxid, parseXOnlyKey } from '../../common/index.ts';
import { type CustodyBackend, openCustody, parseCustodyConfig } from '../../hsm/index.ts';
import { type Leaf, parseTransaction } from '../../staking/index.ts';

interface FloorOptions {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly rpcUrl: string;
  readonly cookieFile: string;
  readonly file: string;
  readonly custody?: {
    readonly tokenLabel: string;
    readonly pinFile: string;
    /** Not the signer's: the floor's anchor must not move the one the signer compares with. */
    readonly anchorLabel: string;
    readonly key: string;
  };
}

const o = JSON.parse(process.argv[2]!) as FloorOptions;
const rpc = new RpcClient({ url: o.rpcUrl, cookieFile: o.cookieFile, timeoutMs: 30_000 });
const log = await open(
  o.file,
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC,
  0o600,
);
// About one audit record's length (a decision with its facts and MAC).
const RECORD = Buffer.from(`${'x'.repeat(700)}\n`);
const ANSWER = Buffer.from(JSON.stringify({ signature_hex: '00'.repeat(64) }));
// About the signer's anchor for a batch of one decision (the head and the record it carries).
const ANCHOR = Buffer.from('a'.repeat(1_250));
const custody: CustodyBackend | undefined = o.custody
  ? await openCustody(
      parseCustodyConfig({
        backend: 'pkcs11',
        pkcs11: {
          token_label: o.custody.tokenLabel,
          pin_file: o.custody.pinFile,
          sessions: 4,
          audit_anchor_label: o.custody.anchorLabel,
        },
      }),
      { logger: pino({ level: 'warn' }) },
    )
  : undefined;
const signingKey = o.custody ? parseXOnlyKey(o.custody.key, 'custody.key', 'BENCH') : undefined;
let anchor = await custody?.audit.readAnchor();

/** What the signer asks custody per request at 1 in flight, the append to disk meanwhile. */
async function custodyCalls(spending: ReturnType<typeof parseTransaction>): Promise<void> {
  if (!custody || !signingKey) {
    await log.write(RECORD);
    return;
  }
  await custody.sign({
    key: signingKey,
    sighash: spending.ins[0]!.hash,
    unbondingTx: spending,
    stakingOutput: { script: new Uint8Array(34), valueSat: 0n },
    leaf: {} as Leaf,
  });
  await custody.audit.mac([RECORD, ANCHOR]);
  const next = Buffer.from(ANCHOR);
  next.writeUInt32BE(Math.floor(Math.random() * 2 ** 32), 0);
  const [written, stored] = await Promise.allSettled([
    log.write(RECORD),
    custody.audit.writeAnchor(next, anchor),
  ]);
  if (written.status === 'rejected') throw written.reason;
  if (stored.status === 'rejected') throw stored.reason;
  anchor = next;
}

const server = createServer(
  {
    ca: readFileSync(o.ca),
    cert: readFileSync(o.cert),
    key: readFileSync(o.key),
    requestCert: true,
    rejectUnauthorized: true,
    keepAliveTimeout: 60_000,
  },
  (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            unbonding_tx_hex: string;
            staking_tx_hex?: string;
          };
          // The txid the unbonding tx spends, through the parser the signer uses (its first step too).
          const spending = parseTransaction(body.unbonding_tx_hex);
          const spent = hashToTxid(spending.ins[0]!.hash);
          if (body.staking_tx_hex !== undefined)
            await rpc.call('gettxout', [spent, spending.ins[0]!.index, false]);
          else await rpc.call('getrawtransaction', [spent, true]);
          await custodyCalls(spending);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': ANSWER.length });
          res.end(ANSWER);
        } catch (e) {
          res.writeHead(500).end(String(e));
        }
      })();
    });
  },
);
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  console.log(`listening ${typeof a === 'object' && a ? a.port : 0}`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void Promise.all([log.close(), custody?.close()]).then(() => process.exit(0));
});
