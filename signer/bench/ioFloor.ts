/**
 * The 1-in-flight floor of bench:signer: a process that does for each request the I/O the signer
 * does, and nothing else. It takes the same mTLS request, asks the same node for the staking tx
 * the unbonding tx spends (the tx parsed as the signer parses it; `getrawtransaction <txid> true`,
 * on the project's RPC client), appends a
 * record of the audit log's size to a file opened with O_DSYNC, and answers a fixed body. No
 * validation, no signature, no HSM, no framework: what one request costs on this machine in
 * wake-ups, TLS, a node round trip and a synced write, so that the signer's latency at 1 in flight
 * can be read beside what its I/O alone takes here.
 *
 * argv[2]: JSON { ca, cert, key (file paths), rpcUrl, cookieFile, file (the append target) }.
 * Prints `listening <port>` once it accepts connections; stops on SIGTERM.
 */
import { constants, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:https';
import { RpcClient } from '../../bitcoind/index.ts';
import { hashToTxid } from '../../common/index.ts';
import { parseTransaction } from '../../staking/index.ts';

interface FloorOptions {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly rpcUrl: string;
  readonly cookieFile: string;
  readonly file: string;
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
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { unbonding_tx_hex: string };
          // The txid the unbonding tx spends, through the parser the signer uses (its first step too).
          const spent = hashToTxid(parseTransaction(body.unbonding_tx_hex).ins[0]!.hash);
          await rpc.call('getrawtransaction', [spent, true]);
          await log.write(RECORD);
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
  void log.close().then(() => process.exit(0));
});
