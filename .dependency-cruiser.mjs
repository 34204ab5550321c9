// The architecture check (`npm run check:arch`): DESIGN.md's rules about rooms, as README.md's Layout
// table states them. The table is read from the README itself, so the rooms and their may-import
// columns are written in one place and the checker cannot drift from what the README promises.
import { readFileSync } from 'node:fs';

const README = new URL('./README.md', import.meta.url);

/** Files of a room that exist only for its tests: unit tests, benches, test kits, `test*.ts` helpers. */
const TEST_IN_ROOM = '(.*\\.test\\.ts|(.*/|)bench/.*|(.*/|)testkit(\\.ts|/.*)|test[A-Z][^/]*\\.ts)$';
const TEST_SUPPORT = `^[^/]+/${TEST_IN_ROOM}`;
const SERVICES = ['signer', 'indexer', 'api', 'pipeline'];
const PURE = ['common', 'params', 'staking'];
/** The `node` twins behind package.json's `#curve` and `#sha256` imports; a browser bundle takes `.browser.ts`. */
const NODE_TWINS = '^common/[^/]+\\.node\\.ts$';

/**
 * README.md's Layout table: folder → the rooms it may import, or 'everything'. Throws on a row it
 * cannot read, so an edit that breaks the table breaks the check loudly instead of loosening it.
 */
export function readRooms(markdown) {
  const section = markdown.split(/^## Layout$/m)[1]?.split(/^## /m)[0];
  if (!section) throw new Error('check:arch: README.md has no "## Layout" section');
  const rooms = new Map();
  for (const line of section.split('\n')) {
    const row = /^\| `([a-z]+)\/` \|.*\| ([^|]+) \|$/.exec(line);
    if (!row) continue;
    const [, room, column] = row;
    const text = column.trim();
    if (/^everything\b/.test(text)) rooms.set(room, 'everything');
    else if (text === '—') rooms.set(room, []);
    else {
      const names = text.split(',').map((s) => s.trim());
      for (const n of names) {
        if (!/^[a-z]+$/.test(n))
          throw new Error(`check:arch: README.md Layout, ${room}/: cannot read "${n}"`);
      }
      rooms.set(room, names);
    }
  }
  for (const [room, allowed] of rooms) {
    if (allowed === 'everything') continue;
    for (const n of allowed) {
      if (!rooms.has(n))
        throw new Error(`check:arch: README.md Layout, ${room}/ may import unknown room ${n}/`);
    }
  }
  if (rooms.size < 10) throw new Error(`check:arch: README.md Layout lists only ${rooms.size} rooms`);
  return rooms;
}

const alt = (names) => `^(${names.join('|')})/`;

function ruleSet(rooms) {
  const bounded = [...rooms].filter(([, allowed]) => allowed !== 'everything');
  const free = [...rooms].filter(([, allowed]) => allowed === 'everything').map(([room]) => room);
  const column = (room, allowed) => `${room}/ may import only ${allowed.join(', ') || 'no other room'}`;
  return [
    {
      name: 'unknown-room',
      comment:
        'Every top-level folder of code is a room in README.md Layout table, with its may-import column.',
      severity: 'error',
      from: { path: '^[^/]+/', pathNot: [alt([...rooms.keys()]), '^node_modules/'] },
      to: {},
    },
    {
      name: 'services-never-import-each-other',
      comment:
        'signer, indexer, api and pipeline meet only through libraries, the queue contract and the schema.',
      severity: 'error',
      from: { path: `^(${SERVICES.join('|')})/` },
      to: { path: alt(SERVICES), pathNot: '^$1/' },
    },
    {
      name: 'pure-rooms-no-node-builtin',
      comment: `${PURE.join(', ')} bundle for the browser: no Node built-in outside their tests and the .node.ts twins.`,
      severity: 'error',
      from: { path: alt(PURE), pathNot: [TEST_SUPPORT, NODE_TWINS] },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'through-index',
      comment:
        "Reach into another room only through its index.ts, its public surface (test/ has none: it is everyone's).",
      severity: 'error',
      from: { path: '^([^/]+)/', pathNot: alt(free) },
      to: {
        path: '^[^/]+/',
        dependencyTypesNot: ['core'],
        pathNot: ['^$1/', '^[^/]+/index\\.ts$', '^node_modules/', '^test/'],
      },
    },
    ...bounded.map(([room, allowed]) => ({
      name: `may-import:${room}`,
      comment: `${column(room, allowed)} (README.md Layout).`,
      severity: 'error',
      from: { path: `^${room}/`, pathNot: TEST_SUPPORT },
      to: {
        path: '^[^/]+/',
        dependencyTypesNot: ['core'],
        pathNot: [`^${room}/`, '^node_modules/', ...(allowed.length ? [alt(allowed)] : [])],
      },
    })),
    ...bounded.map(([room, allowed]) => ({
      name: `tests-may-import:${room}`,
      comment: `${room}/'s tests may import what ${room}/ may, and test/'s shared helpers.`,
      severity: 'error',
      from: { path: `^${room}/${TEST_IN_ROOM}` },
      to: {
        path: '^[^/]+/',
        dependencyTypesNot: ['core'],
        pathNot: [`^${room}/`, '^node_modules/', alt([...allowed, 'test'])],
      },
    })),
  ];
}

export default {
  forbidden: ruleSet(readRooms(readFileSync(README, 'utf8'))),
  options: {
    doNotFollow: { path: '^node_modules' },
    exclude: { path: '^(node_modules|\\.cache|web/dist|test-artifacts|coverage)/' },
    // Type-only imports count too: a type reached by a deep path is still a deep import.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      extensions: ['.ts', '.mjs', '.js', '.json'],
      // `#curve` and `#sha256` resolve to their browser twins, which is what the pure rooms promise.
      conditionNames: ['import', 'browser', 'default'],
    },
  },
};
