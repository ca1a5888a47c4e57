// The Domains page: one stream of server-sent events keeps it current (the
// status and recent history, once a second when something changed), and
// every action is one call on the JSON API, with the token of this tab.
'use strict';

const TOKEN_KEY = 'zd-token';
const cards = new Map(); // domain name -> its card's elements
const feedback = new Map(); // domain name -> {text, kind}: kept across redraws
let latest = { status: { domains: [], workspaces: [] }, history: [] };

// The token arrives in the URL's fragment (never sent to the server, never
// logged) and stays in this tab's sessionStorage; the fragment is cleared.
function takeToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
  constructor(message, status, detail) {
    super(message);
    this.status = status;
    this.detail = detail || {};
  }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: 'Bearer ' + sessionStorage.getItem(TOKEN_KEY),
               'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) showLogin(true);
  if (!response.ok)
    throw new ApiError((data.error && data.error.message) || response.statusText, response.status, data.error);
  return data;
}

function showLogin(show) {
  document.getElementById('login').hidden = !show;
  if (show) document.getElementById('token-input').focus();
}

function setLive(on, text) {
  const live = document.getElementById('live');
  live.classList.toggle('on', on);
  live.classList.toggle('off', !on);
  document.getElementById('live-text').textContent = text;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Server-sent events read with fetch, which (unlike EventSource) can send
// the Authorization header. The server ends a stream after a while; this
// reconnects, and says so while it cannot.
async function follow() {
  for (;;) {
    try {
      const response = await fetch('/api/v1/events', {
        headers: { Authorization: 'Bearer ' + sessionStorage.getItem(TOKEN_KEY) },
        cache: 'no-store', credentials: 'omit',
      });
      if (response.status === 401) {
        setLive(false, 'token refused');
        showLogin(true);
        return;
      }
      if (!response.ok) throw new Error(response.statusText);
      setLive(true, 'live');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end; (end = buffer.indexOf('\n\n')) >= 0;) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          for (const line of frame.split('\n'))
            if (line.startsWith('data: ')) draw(JSON.parse(line.slice(6)));
        }
      }
    } catch (e) {
      setLive(false, 'reconnecting…');
    }
    await sleep(1000);
  }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// What a workspace's health check and sockets say. A failing check comes
// first: the data plane passes such a workspace over. Without a check, it is
// ready when the data plane holds all of its sockets.
function health(workspace) {
  const h = workspace.health;
  const since = h && h.since ? ' since ' + h.since.slice(11, 19) : '';
  if (h && h.failing) return { kind: 'bad', text: 'failing' + since, title: h.said || '' };
  const alive = workspace.sockets.filter((s) => s.alive).length;
  if (workspace.sockets.length === 0 || alive === 0) return { kind: 'bad', text: 'no live socket' };
  if (alive < workspace.sockets.length)
    return { kind: 'warn', text: `${alive} of ${workspace.sockets.length} sockets live` };
  if (h && h.since) return { kind: 'ok', text: 'healthy' + since, title: h.said || '' };
  if (h) return { kind: 'warn', text: 'not checked yet', title: checkText(h.check) };
  return { kind: 'ok', text: 'ready' };
}

function badge({ kind, text, title }) {
  const node = el('span', { class: 'badge ' + kind, text });
  if (title) node.title = title;
  return node;
}

function workspaceNamed(name) {
  return latest.status.workspaces.find((w) => w.name === name);
}

function say(domain, text, kind) {
  feedback.set(domain, { text, kind });
  const card = cards.get(domain);
  if (card) showFeedback(card, domain);
}

function showFeedback(card, domain) {
  const { text, kind } = feedback.get(domain) || { text: '', kind: '' };
  card.feedback.textContent = text;
  card.feedback.className = 'feedback ' + kind;
}

function makeCard(name) {
  const node = document.getElementById('domain-card').content.firstElementChild.cloneNode(true);
  const q = (selector) => node.querySelector(selector);
  const card = {
    node, name: q('.domain-name'), bindings: q('.bindings'), active: q('.active'),
    previous: q('.previous'), canary: q('.canary'), steered: q('.steered'), check: q('.check'),
    edit: q('.edit'), revert: q('.revert'), editor: q('.editor'), choices: q('.choices'),
    asCanary: q('.as-canary'), weight: q('.weight'), promote: q('.promote'), abort: q('.abort-canary'),
    cancel: q('.cancel'), feedback: q('.feedback'), history: q('.history tbody'), choiceNames: '',
    clusterFact: q('.cluster-fact'), hosts: q('.hosts'),
  };
  node.dataset.domain = name;
  card.edit.setAttribute('aria-label', `Edit ${name}`);
  card.revert.setAttribute('aria-label', `Revert ${name}`);
  card.editor.setAttribute('aria-label', `Choose the workspace of ${name}`);
  card.edit.addEventListener('click', () => openEditor(card, name));
  card.cancel.addEventListener('click', () => closeEditor(card));
  card.editor.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeEditor(card); });
  card.editor.addEventListener('submit', (e) => { e.preventDefault(); update(card, name); });
  card.revert.addEventListener('click', () =>
    act(card, name, 'POST', 'revert', {}, clusterDomain(name) !== undefined));
  card.abort.addEventListener('click', () => act(card, name, 'DELETE', 'canary'));
  card.asCanary.addEventListener('change', () => {
    card.weight.disabled = card.promote.disabled = !card.asCanary.checked;
  });
  card.weight.disabled = card.promote.disabled = true;
  return card;
}

function openEditor(card, name) {
  card.editor.hidden = false;
  card.edit.setAttribute('aria-expanded', 'true');
  card.choiceNames = ''; // rebuilt on opening: picks what serves now, not the last pick
  drawChoices(card, latest.status.domains.find((d) => d.name === name));
  const checked = card.choices.querySelector('input:checked') || card.choices.querySelector('input');
  if (checked) checked.focus();
}

function closeEditor(card) {
  card.editor.hidden = true;
  card.edit.setAttribute('aria-expanded', 'false');
  card.edit.focus();
}

// The workspaces to pick from, each with its health and what it holds of
// this domain. Rebuilt only when the set of names changes, so a choice
// being made is not lost to a redraw.
function drawChoices(card, domain) {
  const workspaces = latest.status.workspaces;
  const names = workspaces.map((w) => w.name).join('\n');
  if (names !== card.choiceNames) {
    card.choiceNames = names;
    card.choices.replaceChildren(...workspaces.map((w) => {
      const input = el('input', { type: 'radio', name: 'ws-' + domain.name, value: w.name });
      if (w.name === (domain.canary ? domain.canary.workspace : domain.active)) input.checked = true;
      return el('label', { class: 'choice', 'data-workspace': w.name }, input,
        el('span', {}, el('span', { class: 'name', text: w.name }), el('br'),
           el('span', { class: 'meta' })),
        el('span', { class: 'health' }));
    }));
  }
  for (const w of workspaces) {
    const row = card.choices.querySelector(`[data-workspace="${CSS.escape(w.name)}"]`);
    const open = (w.connections && w.connections[domain.name]) || 0;
    const role = w.name === domain.active ? 'serving' : domain.canary && w.name === domain.canary.workspace
      ? `canary, ${domain.canary.weight}%` : w.name === domain.previous ? 'previous' : '';
    row.querySelector('.meta').textContent =
      `${open} open connection${open === 1 ? '' : 's'} to ${domain.name}` + (role ? ` · ${role}` : '');
    row.querySelector('.health').replaceChildren(badge(health(w)));
  }
}

async function update(card, name) {
  const picked = card.choices.querySelector('input:checked');
  if (!picked) return say(name, 'Pick a workspace first.', 'error');
  if (card.asCanary.checked) {
    const orders = { workspace: picked.value, weight: Number(card.weight.value) };
    if (Number(card.promote.value) > 0) orders.promote_after = card.promote.value + 'm';
    return act(card, name, 'POST', 'canary', orders);
  }
  // A domain the cluster manages is switched in the cluster: one etcd
  // transaction; its card then shows each host applying it.
  return act(card, name, 'POST', 'switch', { workspace: picked.value },
    clusterDomain(name) !== undefined);
}

// The cluster's view of a domain (serve --cluster), if it manages it.
function clusterDomain(name) {
  const cluster = latest.cluster;
  return cluster && cluster.domains ? cluster.domains.find((d) => d.name === name) : undefined;
}

// The desired workspace, and each live host: applied, lagging, or failed.
function drawCluster(card, name) {
  const desired = clusterDomain(name);
  card.clusterFact.hidden = !desired && !(latest.cluster && latest.cluster.error);
  if (latest.cluster && latest.cluster.error) {
    card.hosts.replaceChildren(badge({ kind: 'bad', text: 'etcd unreachable', title: latest.cluster.error }));
    return;
  }
  if (!desired) return;
  const hosts = Object.entries(desired.nodes).map(([host, state]) => {
    const failed = typeof state !== 'string';
    const kind = failed ? 'bad' : state === 'applied' ? 'ok' : 'warn';
    const text = `${host} ${failed ? 'failed' : state}`;
    return el('span', { class: 'host', 'data-host': host },
      badge({ kind, text, title: failed ? state.failed : `${host}: ${state}` }));
  });
  card.hosts.replaceChildren(`${desired.active || 'none'} (revision ${desired.revision}) `, ...hosts);
}

function describe(action, result) {
  if (action === 'canary' && result.canary)
    return result.changed ? `${result.canary} now takes ${result.weight}% of new connections; ${result.active} the rest.`
      : `${result.canary} already takes ${result.weight}%.`;
  if (action === 'canary') return `Canary ended: ${result.active} takes every new connection.`;
  if (!result.changed) return `Already on ${result.to}: nothing changed.`;
  return `New connections now go to ${result.to} (from ${result.from || 'none'}). Open ones stay where they are.`;
}

function describeCluster(result) {
  if (!result.changed) return `The cluster already has ${result.to}: nothing changed.`;
  return `Written to the cluster at revision ${result.revision}: ${result.from || 'none'} → ${result.to}. ` +
    'Each host applies it (below).';
}

async function act(card, name, method, action, body, cluster = false) {
  const buttons = card.node.querySelectorAll('button');
  buttons.forEach((b) => { b.disabled = true; });
  say(name, action === 'switch' || action === 'canary' && method === 'POST' ? 'Checking and switching…' : 'Working…', '');
  try {
    const base = cluster ? '/api/v1/cluster/domains/' : '/api/v1/domains/';
    const result = await api(method, `${base}${encodeURIComponent(name)}/${action}`, body);
    say(name, cluster ? describeCluster(result) : describe(action, result), 'ok');
    if (!card.editor.hidden) closeEditor(card);
  } catch (e) {
    say(name, 'Refused: ' + e.message, 'error');
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    drawAll();
  }
}

function checkText(check) {
  if (!check) return 'none';
  return check.kind === 'tcp' ? 'tcp connect' : 'GET ' + check.path;
}

function drawDomain(card, domain) {
  card.name.textContent = domain.name;
  card.bindings.replaceChildren(...domain.bindings.map((b) => el('li', { text: b })));
  card.active.textContent = domain.active || 'none (refused)';
  card.previous.textContent = domain.previous || '—';
  if (domain.canary) {
    const bar = el('span');
    bar.style.width = domain.canary.weight + '%';
    const c = domain.canary;
    const orders = (c.promote_after_ms ? `promoted after ${Math.round(c.promote_after_ms / 60000 * 10) / 10} min healthy` : 'not promoted by itself') +
      (c.revert_on_failure ? ', ends if it fails' : ', kept if it fails');
    card.canary.replaceChildren(`${c.workspace} · ${c.weight}%`,
      el('span', { class: 'share', 'aria-hidden': 'true' }, bar),
      el('small', { class: 'orders', text: orders }));
  } else {
    card.canary.textContent = '—';
  }
  const c = domain.counters;
  card.steered.textContent = `${c.steered}` + (c.fallbacks ? ` (${c.fallbacks} fell back)` : '') +
    (c.drops ? ` · ${c.drops} dropped` : '');
  card.check.textContent = checkText(domain.check);
  card.revert.disabled = !domain.previous;
  card.abort.hidden = !domain.canary;
  if (!card.editor.hidden) drawChoices(card, domain);
  drawCluster(card, domain.name);
  const rows = latest.history.filter((e) => e.domain === domain.name).slice(-10).reverse();
  card.history.replaceChildren(...(rows.length ? rows.map((e) => el('tr', {},
    el('td', { class: 'num', text: e.seq }), el('td', { text: e.time.replace('T', ' ').replace('Z', '') }),
    el('td', { text: e.from || '—' }), el('td', { text: e.to || '—' }),
    el('td', { text: e.how + (e.weight != null ? ` ${e.weight}%` : '') }),
    el('td', { text: `uid ${e.uid} · pid ${e.pid}` })))
    : [el('tr', {}, el('td', { colspan: '6', class: 'muted', text: 'No changes yet.' }))]));
  showFeedback(card, domain.name);
}

function drawWorkspaces() {
  const body = document.getElementById('workspaces');
  body.replaceChildren(...latest.status.workspaces.map((w) => {
    const alive = w.sockets.filter((s) => s.alive).length;
    const open = Object.entries(w.connections || {}).filter(([, n]) => n > 0)
      .map(([domain, n]) => `${domain}: ${n}`).join(', ') || '0';
    return el('tr', { 'data-workspace': w.name },
      el('th', { scope: 'row', text: w.name }), el('td', {}, badge(health(w))),
      el('td', { class: 'num', text: `${alive} / ${w.sockets.length}` }),
      el('td', { class: 'num open', text: open }),
      el('td', { class: 'num', text: w.counters.steered }),
      el('td', { class: 'num', text: w.pid == null ? '—' : w.pid }));
  }));
}

function drawAll() {
  const domains = latest.status.domains;
  const list = document.getElementById('domains');
  for (const [name, card] of cards)
    if (!domains.some((d) => d.name === name)) { card.node.remove(); cards.delete(name); }
  for (const domain of domains) {
    let card = cards.get(domain.name);
    if (!card) {
      card = makeCard(domain.name);
      cards.set(domain.name, card);
      list.append(card.node);
    }
    drawDomain(card, domain);
  }
  document.getElementById('empty').hidden = domains.length > 0;
  drawWorkspaces();
}

function draw(snapshot) {
  latest = snapshot;
  drawAll();
}

function start() {
  document.getElementById('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('token-input').value.trim());
    showLogin(false);
    follow();
  });
  if (!takeToken()) {
    setLive(false, 'no token');
    showLogin(true);
    return;
  }
  follow();
}

start();
