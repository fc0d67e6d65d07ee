// Drives GraphiQL in headless Chromium for tests/graphiql.rs: opens the page,
// runs a query from it with a token typed into the headers editor, and prints
// one JSON line with what it saw; the Rust test makes the assertions.
//
// Every request that is not to the server is aborted and recorded, so the
// page must work with no network but the server.
//
// Environment: HEADCOUNT_URL (the server, e.g. http://127.0.0.1:1234),
// HEADCOUNT_TOKEN (a bearer secret), HEADCOUNT_QUERY, optional
// HEADCOUNT_SCREENSHOT (a PNG path), CHROMIUM (default /usr/bin/chromium).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = new URL(process.env.HEADCOUNT_URL);
const token = process.env.HEADCOUNT_TOKEN;
const query = process.env.HEADCOUNT_QUERY;
const screenshot = process.env.HEADCOUNT_SCREENSHOT;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const TIMEOUT = 30_000;

const profile = mkdtempSync(join(tmpdir(), "headcount-chromium-"));
const seen = {
  status: null,
  contentType: null,
  blocked: [],
  requests: [],
  errors: [],
  initialHeaders: null,
  docs: null,
  result: null,
};

// Never outlive the Rust test that waits for us.
setTimeout(() => {
  console.log(JSON.stringify({ ...seen, errors: [...seen.errors, "driver: timed out"] }));
  process.exit(2);
}, 4 * TIMEOUT).unref();

// The text of a CodeMirror 5 editor (GraphiQL 4 uses those).
function editorValue(selector) {
  const el = document.querySelector(selector);
  return el && el.CodeMirror ? el.CodeMirror.getValue() : null;
}

const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 720 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.origin === base.origin) return route.continue();
    seen.blocked.push(url.href);
    return route.abort("internetdisconnected");
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on("request", (r) => seen.requests.push(`${r.method()} ${r.url()}`));
  page.on("pageerror", (e) => seen.errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") seen.errors.push(`console: ${m.text()}`);
  });

  // A navigation, so Chromium sends its own Accept: text/html,...
  const response = await page.goto(new URL("/graphql", base).href);
  seen.status = response.status();
  seen.contentType = response.headers()["content-type"] ?? null;

  await page.waitForSelector(".graphiql-container .graphiql-query-editor .CodeMirror");
  await page.waitForFunction(() =>
    [...document.querySelectorAll(".graphiql-editor-tool .CodeMirror")].some((el) =>
      el.CodeMirror.getValue().includes("Authorization"),
    ),
  );
  // The visible headers editor is the one GraphiQL opened for the token.
  const headersEditor = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror";
  seen.initialHeaders = await page.evaluate(editorValue, headersEditor);

  await page.evaluate((q) => {
    document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(q);
  }, query);
  await page.evaluate(
    ([selector, headers]) => document.querySelector(selector).CodeMirror.setValue(headers),
    [headersEditor, JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2)],
  );
  // GraphiQL asked for the schema on load, with the placeholder token (401);
  // with a real one, re-fetching it fills the documentation explorer.
  const introspection = page.waitForResponse(
    (r) => r.request().method() === "POST" && (r.request().postData() ?? "").includes("IntrospectionQuery"),
  );
  await page.click('button[aria-label="Re-fetch GraphQL schema"]');
  await introspection;
  await page.click('button[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector(".graphiql-doc-explorer-content >> text=Root Types");
  seen.docs = await page.innerText(".graphiql-doc-explorer-content");

  await page.click(".graphiql-execute-button");
  await page.waitForFunction(() => {
    const el = document.querySelector(".result-window .CodeMirror");
    return el && el.CodeMirror.getValue().trim().startsWith("{");
  });
  seen.result = await page.evaluate(editorValue, ".result-window .CodeMirror");
  if (screenshot) await page.screenshot({ path: screenshot });
} catch (err) {
  seen.errors.push(`driver: ${err.message}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(seen));
