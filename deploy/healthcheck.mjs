// Container health check: exit 0 when the service's ops listener answers /readyz with 200.
// Usage: node deploy/healthcheck.mjs <ops port>
const port = Number(process.argv[2]);
fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(4000) }).then(
  (r) => process.exit(r.ok ? 0 : 1),
  () => process.exit(1),
);
