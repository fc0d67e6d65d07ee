// The GraphQL over HTTP conformance audit (graphql-http's serverAudits)
// against a running headcount. Usage: node audit.mjs URL TOKEN
// Exits non-zero on any failure (MUST) or warning (SHOULD); notices (MAY)
// are printed only.
import { serverAudits } from 'graphql-http';

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error('usage: node audit.mjs http://HOST:PORT/graphql TOKEN');
  process.exit(2);
}

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await Promise.all(serverAudits({ url, fetchFn }).map((audit) => audit.fn()));
const tally = { ok: 0, warn: 0, error: 0, notice: 0 };
for (const result of results) {
  tally[result.status] += 1;
  if (result.status !== 'ok') {
    const detail = result.reason ?? '';
    console.log(`${result.status.toUpperCase()}: ${result.name}${detail ? ` — ${detail}` : ''}`);
  }
}
console.log(
  `graphql-http audit: ${tally.ok} ok, ${tally.error} failures, ${tally.warn} warnings, ${tally.notice} notices`,
);
process.exit(tally.error + tally.warn > 0 ? 1 : 0);
