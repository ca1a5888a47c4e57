// The Domains page of an agent's serve (zdctl serve --cluster) in a real
// browser: a domain the cluster manages shows its desired workspace and
// each host applying it, and Edit -> Update writes the cluster's
// transaction, which the host then applies: proved with real connections.
// run.sh sets the stage after the page's own test: etcd on 127.0.0.1:2379,
// the domain cart (10.99.0.2:80) in it on blue, serve --cluster --node host1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through tests/browser/run.sh`);
  return value;
};
const serve = JSON.parse(env('ZD_SERVE_JSON'));
const { chromium } = createRequire(path.join(env('ZD_BROWSER_DEPS'), 'package.json'))('playwright-core');
const TIMEOUT = 10_000;
const cardSelector = 'article.card[data-domain="cart"]';

// The workspace that answers one HTTP request on a new connection to cart.
function answerOfNewConnection() {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '10.99.0.2', port: 80 });
    let data = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no answer from cart')); }, TIMEOUT);
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: cart\r\nConnection: close\r\n\r\n'));
    // zd-echo --http answers with the workspace's name as the body.
    socket.on('data', (chunk) => {
      data += chunk;
      const body = data.split('\r\n\r\n')[1];
      if (body && body.trim()) { clearTimeout(timer); socket.destroy(); resolve(body.trim()); }
    });
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

let browser;
let page;
let failed = null;

async function waitForText(selector, want) {
  try {
    await page.waitForFunction(([selector, want]) => {
      const node = document.querySelector(selector);
      return node !== null && node.textContent.includes(want);
    }, [selector, want], { timeout: TIMEOUT });
  } catch (e) {
    const now = await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() => null);
    throw new Error(`${selector} did not show "${want}" within ${TIMEOUT} ms (it shows ${JSON.stringify(now)})`);
  }
}

function step(name, fn) {
  test(name, { timeout: 4 * TIMEOUT }, async (t) => {
    if (failed) return t.skip(`the step "${failed}" failed`);
    try {
      await fn();
    } catch (e) {
      failed = name;
      const file = path.join(env('ZD_SHOTS'), 'failure-cluster.png');
      await page?.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.error(`browser test: the step "${name}" failed; the page then: ${file}`);
      throw e;
    }
  });
}

before(async () => {
  browser = await chromium.launch({ executablePath: env('ZD_CHROMIUM'), headless: true,
    args: ['--no-sandbox'], timeout: TIMEOUT * 3 });
  page = await (await browser.newContext({ viewport: { width: 1100, height: 760 } })).newPage();
  page.setDefaultTimeout(TIMEOUT);
});

after(async () => { await browser?.close(); });

step('a. cart shows the cluster: blue desired, host1 applied', async () => {
  await page.goto(serve.url);
  await waitForText(`${cardSelector} .hosts`, 'host1 applied');
  await waitForText(`${cardSelector} .hosts`, 'blue');
  await waitForText(`${cardSelector} .active`, 'blue');
  assert.equal(await answerOfNewConnection(), 'blue');
});

step('b. Edit, green, Update: one cluster transaction, then host1 applies it', async () => {
  const revision = Number((await page.locator(`${cardSelector} .hosts`).textContent()).match(/revision (\d+)/)[1]);
  await page.getByRole('button', { name: 'Edit cart' }).click();
  await page.locator(`${cardSelector} label.choice[data-workspace="green"] input`).check();
  await page.locator(cardSelector).getByRole('button', { name: 'Update' }).click();
  await waitForText(`${cardSelector} .feedback.ok`, 'Written to the cluster at revision');
  await waitForText(`${cardSelector} .hosts`, 'green');
  await waitForText(`${cardSelector} .hosts`, 'host1 applied');
  const now = Number((await page.locator(`${cardSelector} .hosts`).textContent()).match(/revision (\d+)/)[1]);
  assert.ok(now > revision, `the desired revision moved on (${revision} -> ${now})`);
  await waitForText(`${cardSelector} .active`, 'green');
  for (let i = 0; i < 5; i++)
    assert.equal(await answerOfNewConnection(), 'green', 'every new connection to cart goes to green');
});
