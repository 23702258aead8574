// Drives the lineage web UI of `dk lineage serve` in headless Chromium (playwright-core) and
// prints what the page showed as JSON; the Rust tests in tests/ui.rs assert on it.
//
//   node lineage_ui.js '{"mode": "full" | "dev" | "bench", "base": "http://127.0.0.1:PORT", ...}'
'use strict';

const path = require('path');
const { chromium } = require(process.env.DK_TEST_PLAYWRIGHT);

const config = JSON.parse(process.argv[2]);
const enc = encodeURIComponent;
const nodePath = (kind, ns, name) => `/lineage/${kind}/${enc(ns)}/${enc(name)}`;

async function graphFacts(page) {
  await page.waitForSelector('svg.graph[data-ready="true"]', { timeout: 15000 });
  return page.evaluate(() => ({
    nodes: [...document.querySelectorAll('svg.graph g.node')].map((g) => ({
      id: g.dataset.id,
      classes: g.getAttribute('class'),
      text: [...g.querySelectorAll('text')].map((t) => t.textContent),
    })),
    edges: [...document.querySelectorAll('svg.graph path.edge')].map((e) => [e.dataset.from, e.dataset.to]),
    columnEdges: [...document.querySelectorAll('svg.graph path.col-edge')].map((e) => [e.dataset.from, e.dataset.to]),
    fields: [...document.querySelectorAll('svg.graph text.field')].map((t) => ({ name: t.dataset.field, pii: t.classList.contains('field-pii') })),
  }));
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.DK_TEST_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: config.colorScheme || 'light' });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => {
    // The sign-in page is what a 401 leads to; Chromium logs each one.
    const expected = config.token && message.text().includes('status of 401');
    if (message.type() === 'error' && !expected) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));
  const shot = (name) => page.screenshot({ path: path.join(config.artifacts, name), fullPage: true });
  const out = { problems };

  if (config.mode === 'bench') {
    const times = [];
    for (let i = 0; i < config.repeat; i += 1) {
      await page.goto(`${config.base}${nodePath('job', config.job.namespace, config.job.name)}?depth=${config.depth}`);
      await page.waitForSelector('svg.graph[data-ready="true"]', { timeout: 30000 });
      times.push(await page.evaluate(() => window.dkGraphReadyAt));
      out.nodes = await page.evaluate(() => document.querySelectorAll('svg.graph g.node').length);
    }
    out.times = times;
  } else if (config.mode === 'dev') {
    await page.goto(`${config.base}${nodePath('job', config.job.namespace, config.job.name)}`);
    out.graph = await graphFacts(page);
    await shot('ui-dev-stack.png');
  } else {
    const home = await page.goto(`${config.base}/`);
    out.headers = home.headers();
    // With a token the page asks for it first.
    out.signIn = await page.waitForSelector('form.signin', { timeout: 5000 }).then(() => true, () => false);
    if (out.signIn) {
      await page.fill('#token', 'wrong');
      await page.click('form.signin button');
      await page.waitForSelector('form.signin .error');
      out.wrongToken = await page.textContent('form.signin .error');
      await page.fill('#token', config.token);
      await page.click('form.signin button');
    }
    await page.waitForSelector('h1:text("Recorded lineage")');

    // Search by keyboard: type, arrow down to the job, Enter.
    await page.focus('#search');
    await page.keyboard.type(config.search);
    await page.waitForSelector('#results li[data-path]');
    out.results = await page.$$eval('#results li[data-path]', (items) => items.map((i) => i.textContent));
    const wanted = out.results.findIndex((text) => text.startsWith(`job${config.job.name}`));
    for (let i = 0; i < wanted; i += 1) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    out.graph = await graphFacts(page);
    out.url = page.url();
    out.runs = await page.$$eval('tr.run', (rows) => rows.map((r) => ({
      failed: r.classList.contains('failed'),
      cells: [...r.querySelectorAll('td')].map((c) => c.textContent),
    })));
    out.meta = await page.$$eval('dl.meta dd', (cells) => cells.map((c) => c.textContent));

    // Deeper, then the fields of the PII dataset next to the job.
    await page.fill('#depth', String(config.depth));
    await page.dispatchEvent('#depth', 'change');
    // The page's policy forbids eval, which waitForFunction needs: wait for one node more.
    await page.waitForSelector(`svg.graph g.node:nth-child(${out.graph.nodes.length + 1})`);
    await page.click(`svg.graph g.node[data-id="${config.expand}"] .toggle-fields`);
    await page.waitForSelector('svg.graph text.field');
    out.deep = await graphFacts(page);
    await shot('ui-graph.png');
    // The dark theme follows the system.
    await page.emulateMedia({ colorScheme: 'dark' });
    out.darkBackground = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await shot('ui-graph-dark.png');
    await page.emulateMedia({ colorScheme: 'light' });

    await page.goto(`${config.base}${nodePath('dataset', config.dataset.namespace, config.dataset.name)}`);
    await page.waitForSelector('tr.field');
    await page.waitForSelector('svg.graph[data-ready="true"]');
    out.dataset = await page.evaluate(() => ({
      title: document.querySelector('h1').textContent,
      fields: [...document.querySelectorAll('tr.field')].map((r) => ({ cells: [...r.querySelectorAll('td')].map((c) => c.textContent), pii: r.classList.contains('pii') })),
      producers: [...document.querySelectorAll('ul.producers li')].map((li) => li.textContent),
      consumers: [...document.querySelectorAll('ul.consumers li')].map((li) => li.textContent),
      badges: [...document.querySelectorAll('main > p .badge')].map((b) => b.textContent),
    }));
    await shot('ui-dataset.png');

    await page.goto(`${config.base}/governance`);
    await page.waitForSelector('tr.flow');
    out.flows = await page.$$eval('tr.flow', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent)));
    await shot('ui-governance.png');

    // A hostile name renders as text: no element made from it, no script run.
    await page.goto(`${config.base}${nodePath('job', config.hostile.namespace, config.hostile.name)}`);
    const hostile = await graphFacts(page);
    out.hostile = await page.evaluate(() => ({
      title: document.querySelector('h1').textContent,
      images: document.querySelectorAll('img[src="x"]').length,
      pwned: window.pwned === 1,
    }));
    out.hostile.nodes = hostile.nodes;
    await page.focus('#search');
    await page.keyboard.type('<img');
    await page.waitForSelector('#results li[data-path]');
    out.hostile.results = await page.$$eval('#results li[data-path]', (items) => items.map((i) => i.textContent));
    out.hostile.imagesAfterSearch = await page.evaluate(() => document.querySelectorAll('img[src="x"]').length);
    await shot('ui-hostile.png');
  }
  await browser.close();
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
