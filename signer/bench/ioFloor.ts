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
 * With `rules` as well, it also does the curve work the rules require of every decision, where the
 * signer does it (signer/validate.ts, signer/service.ts; counted on the native addon's calls): two
 * x-only taproot tweaks of the NUMS key (the staking output's and the unbonding output's), one
 * BIP340 verification over the request's staker signature, and one of custody's signature. A request
 * carrying its staking tx has the first tweak and the staker's verification done while its
 * `gettxout` is out, as the signer does (step 5 before step 6); the reference's request has them
 * after its `getrawtransaction`. The tweaks' inputs and the verified message are stand-ins (the floor
 * knows no params): libsecp256k1's cost does not depend on them. That is the floor of any signer that
 * checks what the protocol requires: everything but parsing, choosing and recording the decision.
 *
 * With `check` instead (custody too), it checks each request as the signer must, on its real data,
 * through staking/'s own check (UnbondingCheck, the one signer/validate.ts calls): both txs parsed,
 * the staker's signature under the params version (the staking output's tree), inclusion and
 * depth from the node (asked and read where the signer asks and reads them), then the whole check
 * under the params of that height (the unbonding output's tree, the sighash); custody signs that
 * sighash and its signature is verified. That is the signer's protocol core with none of the
 * service around it (framework, request shapes, anti-replay memory, audit records, metrics, logs):
 * what it allocates, and so its collections, are the core's. A request that fails the check is
 * answered 500, which the bench refuses.
 *
 * argv[2]: JSON { ca, cert, key (file paths), rpcUrl, cookieFile, file (the append target),
 * custody?: { tokenLabel, pinFile, anchorLabel, key (x-only hex) }, rules?: true,
 * check?: { paramsFile } }. Prints
 * `listening <port>` once it accepts connections; stops on SIGTERM.
 */
import { constants, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:https';
import { pino } from 'pino';
import { RpcClient } from '../../bitcoind/index.ts';
import {
  hashToTxid,
  parseCompressedKey,
  parseHex,
  parseXOnlyKey,
  sha256,
  xOnlyTweakAdd,
} from '../../common/index.ts';
import { type CustodyBackend, openCustody, parseCustodyConfig } from '../../hsm/index.ts';
import { parseGlobalParams } from '../../params/index.ts';
import {
  type Leaf,
  NUMS_INTERNAL_KEY,
  parseTransaction,
  UnbondingCheck,
  verifySchnorr,
} from '../../staking/index.ts';

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
  readonly rules?: true;
  /** The signer's global-params file: `check` does staking/'s whole check under it. */
  readonly check?: { readonly paramsFile: string };
}

/** The fields of a sign request the floor reads. */
interface RequestBody {
  readonly unbonding_tx_hex: string;
  readonly staker_unbonding_sig_hex: string;
  readonly covenant_public_key: string;
  readonly staking_output_pk_script_hex: string;
  readonly staking_tx_hex?: string;
}

const o = JSON.parse(process.argv[2]!) as FloorOptions;
if ((o.rules || o.check) && !o.custody)
  throw new Error('ioFloor.ts: rules and check need custody (the custody signature is verified)');
if (o.rules && o.check) throw new Error('ioFloor.ts: rules or check, not both');
const params = o.check ? parseGlobalParams(JSON.parse(readFileSync(o.check.paramsFile, 'utf8'))) : undefined;
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

/** The rules' curve work on stand-ins: one x-only tweak of the NUMS key (an output's). */
function tweak(seed: Uint8Array): Uint8Array {
  const t = sha256(seed);
  if (!xOnlyTweakAdd(NUMS_INTERNAL_KEY, t)) throw new Error('rules floor: tweak refused');
  return t;
}

/**
 * The rules' first half (signer/validate.ts step 5): the staking output's tweak and the staker's
 * signature verified, over a stand-in message with the request's covenant key (a valid point, so
 * libsecp256k1 does the whole verification; whether it verifies does not change its cost).
 */
function stakerCheck(body: RequestBody, spending: ReturnType<typeof parseTransaction>): Uint8Array {
  const t = tweak(spending.ins[0]!.hash);
  const key = parseHex(body.covenant_public_key, 'covenant_public_key', 'BENCH', { bytes: 33 }).subarray(1);
  const sig = parseHex(body.staker_unbonding_sig_hex, 'staker_unbonding_sig_hex', 'BENCH', { bytes: 64 });
  verifySchnorr(spending.ins[0]!.hash, key, sig);
  return t;
}

/** A block's height by its hash, asked once (a hash's height never changes), as the signer keeps them. */
const heights = new Map<string, number>();
async function heightOf(blockhash: string): Promise<number> {
  let h = heights.get(blockhash);
  if (h === undefined) {
    h = (await rpc.getblockheader(blockhash, true)).height;
    heights.set(blockhash, h);
  }
  return h;
}

/**
 * `check`: the request checked as the signer must, by staking/'s own check (UnbondingCheck) on the
 * request's real data: both txs parsed, the staker's signature under the params version (the staking
 * output's tree), then inclusion and depth from the node, then the whole check under the params of
 * that height (the unbonding output's tree, the sighash). Returns the sighash custody signs.
 */
async function checked(
  body: RequestBody,
  spending: ReturnType<typeof parseTransaction>,
): Promise<Uint8Array> {
  const spent = hashToTxid(spending.ins[0]!.hash);
  const stakerSignature = parseHex(body.staker_unbonding_sig_hex, 'staker_unbonding_sig_hex', 'BENCH', {
    bytes: 64,
  });
  /** The check, once the staker's signature verified under a params version that could apply. */
  const checkOf = (stakingTx: ReturnType<typeof parseTransaction>): UnbondingCheck => {
    const check = new UnbondingCheck({ stakingTx, unbondingTx: spending, stakerSignature });
    if (!params!.versions.some((v) => check.stakerSignedUnder(v)))
      throw new Error('check floor: the staker signature does not verify');
    return check;
  };
  let check: UnbondingCheck;
  let place: { height: number; confirmations: number };
  if (body.staking_tx_hex !== undefined) {
    // Asked first, read after the staker's signature, as the signer does (signer/validate.ts steps 4–6).
    const asked = rpc.gettxout(spent, spending.ins[0]!.index, false);
    asked.catch(() => undefined);
    check = checkOf(parseTransaction(body.staking_tx_hex));
    const out = await asked;
    if (!out) throw new Error('check floor: the staking output is not unspent');
    place = {
      height: (await heightOf(out.bestblock)) - out.confirmations + 1,
      confirmations: out.confirmations,
    };
  } else {
    const tx = await rpc.getrawtransaction(spent, true);
    check = checkOf(parseTransaction(tx.hex));
    place = { height: await heightOf(tx.blockhash!), confirmations: tx.confirmations! };
  }
  return check.assert(params!, place, {
    covenantPk: parseCompressedKey(body.covenant_public_key, 'covenant_public_key', 'BENCH'),
    stakingOutputPkScript: parseHex(
      body.staking_output_pk_script_hex,
      'staking_output_pk_script_hex',
      'BENCH',
    ),
  }).sighash;
}

/**
 * Without `check`: the node asked as the signer asks it, and with `rules` the rules' curve work on
 * stand-ins where the signer does it. Returns the stand-in sighash custody signs.
 */
async function lookedUp(
  body: RequestBody,
  spending: ReturnType<typeof parseTransaction>,
): Promise<Uint8Array> {
  const spent = hashToTxid(spending.ins[0]!.hash);
  let first: Uint8Array | undefined;
  if (body.staking_tx_hex !== undefined) {
    const asked = rpc.call('gettxout', [spent, spending.ins[0]!.index, false]);
    if (o.rules) first = stakerCheck(body, spending);
    await asked;
  } else await rpc.call('getrawtransaction', [spent, true]);
  // The unbonding output's tweak (signer/validate.ts step 7), after the staker's check.
  if (o.rules) tweak(first ?? stakerCheck(body, spending));
  return spending.ins[0]!.hash;
}

/** What the signer asks custody per request at 1 in flight, the append to disk meanwhile. */
async function custodyCalls(
  spending: ReturnType<typeof parseTransaction>,
  sighash: Uint8Array,
): Promise<void> {
  if (!custody || !signingKey) {
    await log.write(RECORD);
    return;
  }
  const signature = await custody.sign({
    key: signingKey,
    sighash,
    unbondingTx: spending,
    stakingOutput: { script: new Uint8Array(34), valueSat: 0n },
    leaf: {} as Leaf,
  });
  // The signer verifies custody's signature against its own sighash and key before anything leaves.
  if ((o.rules || o.check) && !verifySchnorr(sighash, signingKey, signature))
    throw new Error('floor: custody signature does not verify');
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
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RequestBody;
          // The txid the unbonding tx spends, through the parser the signer uses (its first step too).
          const spending = parseTransaction(body.unbonding_tx_hex);
          const sighash = o.check ? await checked(body, spending) : await lookedUp(body, spending);
          await custodyCalls(spending, sighash);
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
