/**
 * The load generator of api.bench.ts, run as its own process so it does not share the API's event
 * loop: autocannon against one route for a duration, printing its result as one JSON line.
 * Arguments (JSON in argv[2]): { url, path, connections, durationS, stakersFile? }. With
 * `stakersFile` (a JSON array of staker keys), each request asks for a random staker's delegations.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

interface Args {
  url: string;
  path: string;
  connections: number;
  durationS: number;
  stakersFile?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const stakers: string[] | undefined = args.stakersFile
  ? JSON.parse(readFileSync(args.stakersFile, 'utf8'))
  : undefined;

const result = await autocannon({
  url: args.url,
  connections: args.connections,
  duration: args.durationS,
  pipelining: 1,
  requests: [
    {
      method: 'GET',
      path: args.path,
      ...(stakers
        ? {
            setupRequest: (req: { path: string }) => {
              req.path = `${args.path}${stakers[Math.floor(Math.random() * stakers.length)]}`;
              return req;
            },
          }
        : {}),
    },
  ],
});
process.stdout.write(
  `${JSON.stringify({
    requests: result.requests.total,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration,
  })}\n`,
);
