// dk lineage UI. Every name shown comes from events anyone could POST: text is only ever set
// with textContent or as an SVG attribute value, never parsed as HTML.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const TOKEN_KEY = 'dk-lineage-token';
const main = document.getElementById('main');

// ---- DOM helpers --------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function show(...children) {
  main.replaceChildren(...children);
}

function link(href, text) {
  return el('a', { href, text, onclick: (e) => { if (!e.ctrlKey && !e.metaKey) { e.preventDefault(); go(href); } } });
}

function enc(text) { return encodeURIComponent(text); }

function nodePath(kind, namespace, name) {
  return `/lineage/${kind}/${enc(namespace)}/${enc(name)}`;
}

function when(text) {
  if (!text) return '—';
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  return s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
}

function badge(kind, text) { return el('span', { class: `badge ${kind}`, text }); }

function table(headers, rows) {
  return el('table', {},
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, ...rows));
}

// ---- API ----------------------------------------------------------------------------------

class Unauthorized extends Error {}

async function api(path) {
  const headers = { Accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { headers, credentials: 'omit' });
  if (response.status === 401) throw new Unauthorized();
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (response.status === 404) return null;
  if (!response.ok) throw new Error((body && body.message) || `HTTP ${response.status}`);
  return body;
}

function signIn(retry) {
  const input = el('input', { type: 'password', id: 'token', autocomplete: 'current-password', required: true });
  const message = el('p', { class: 'muted', text: 'This server requires the token it was started with (DK_LINEAGE_TOKEN).' });
  const form = el('form', { class: 'signin', 'aria-labelledby': 'signin-title' },
    el('h1', { id: 'signin-title', text: 'Sign in' }), message,
    el('label', { for: 'token', text: 'Token' }), input,
    el('button', { type: 'submit', text: 'Sign in' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value);
    try {
      await api('/api/v1/namespaces?limit=1');
      retry();
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      message.textContent = err instanceof Unauthorized ? 'That token was refused.' : String(err.message);
      message.className = 'error';
    }
  });
  show(form);
  input.focus();
}

// ---- Routing ------------------------------------------------------------------------------

function go(path) {
  history.pushState(null, '', path);
  route();
}

window.addEventListener('popstate', () => route());

async function route() {
  const parts = location.pathname.split('/').filter(Boolean);
  try {
    if (parts[0] === 'lineage' && (parts[1] === 'job' || parts[1] === 'dataset') && parts.length >= 4) {
      const namespace = decodeURIComponent(parts[2]);
      const name = parts.slice(3).map(decodeURIComponent).join('/');
      if (parts[1] === 'job') await jobPage(namespace, name);
      else await datasetPage(namespace, name);
    } else if (parts[0] === 'governance') {
      await governancePage();
    } else {
      await homePage();
    }
  } catch (err) {
    if (err instanceof Unauthorized) signIn(route);
    else show(el('p', { class: 'error', role: 'alert', text: `Could not load this page: ${err.message}` }));
  }
}

// ---- Search -------------------------------------------------------------------------------

const searchBox = document.getElementById('search');
const results = document.getElementById('results');
let active = -1;
let searchSeq = 0;

function setActive(index) {
  const items = [...results.children];
  active = items.length ? (index + items.length) % items.length : -1;
  items.forEach((item, i) => item.setAttribute('aria-selected', i === active ? 'true' : 'false'));
  if (active >= 0) {
    searchBox.setAttribute('aria-activedescendant', items[active].id);
    items[active].scrollIntoView({ block: 'nearest' });
  } else {
    searchBox.removeAttribute('aria-activedescendant');
  }
}

function closeResults() {
  results.hidden = true;
  searchBox.setAttribute('aria-expanded', 'false');
  active = -1;
}

// The server takes at most 64 bytes of UTF-8 (MAX_SEARCH in server.rs).
function searchText(text) {
  let q = text.trim();
  while (new TextEncoder().encode(q).length > 64) q = Array.from(q).slice(0, -1).join('');
  return q;
}

async function search(text) {
  const seq = ++searchSeq;
  if (!text.trim()) { closeResults(); return; }
  let found;
  try {
    found = await api(`/api/v1/search?q=${enc(searchText(text))}&limit=20`);
  } catch (err) {
    if (err instanceof Unauthorized) { closeResults(); signIn(route); }
    return;
  }
  if (seq !== searchSeq) return;
  const items = (found ? found.results : []).map((hit, i) => {
    const kind = hit.type === 'JOB' ? 'job' : 'dataset';
    const item = el('li', { role: 'option', id: `result-${i}`, 'aria-selected': 'false', 'data-path': nodePath(kind, hit.namespace, hit.name) },
      el('span', { class: 'kind', text: kind }),
      el('span', { text: hit.name }),
      el('span', { class: 'muted', text: hit.namespace }));
    item.addEventListener('mousedown', (event) => { event.preventDefault(); open(item); });
    return item;
  });
  if (!items.length) items.push(el('li', { class: 'muted', role: 'option', 'aria-disabled': 'true', text: 'No job or dataset matches' }));
  results.replaceChildren(...items);
  results.hidden = false;
  searchBox.setAttribute('aria-expanded', 'true');
  setActive(items[0].dataset.path ? 0 : -1);
}

function open(item) {
  if (!item || !item.dataset.path) return;
  closeResults();
  searchBox.value = '';
  go(item.dataset.path);
}

let searchTimer = null;
searchBox.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => search(searchBox.value), 120);
});
searchBox.addEventListener('keydown', (event) => {
  if (event.key === 'ArrowDown') { event.preventDefault(); setActive(active + 1); }
  else if (event.key === 'ArrowUp') { event.preventDefault(); setActive(active - 1); }
  else if (event.key === 'Enter') { event.preventDefault(); open(results.children[Math.max(active, 0)]); }
  else if (event.key === 'Escape') { closeResults(); }
});
searchBox.addEventListener('blur', () => setTimeout(closeResults, 100));
document.addEventListener('keydown', (event) => {
  if (event.key === '/' && document.activeElement !== searchBox && !(event.target instanceof HTMLInputElement)) {
    event.preventDefault();
    searchBox.focus();
  }
});

// ---- Graph --------------------------------------------------------------------------------

function pill(group, x, y, cls, text) {
  const width = 8 + text.length * 7;
  group.append(svg('rect', { class: `pill-${cls}`, x, y, width, height: 16, rx: 8 }));
  group.append(svg('text', { class: `pill-${cls}-text`, x: x + width / 2, y: y + 12, 'text-anchor': 'middle' }, text));
  return width + 4;
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// The graph panel: depth control, pan and zoom, expandable datasets. Coordinates come from the
// server's layout.
function graphPanel(kind, namespace, name) {
  const expanded = new Set();
  const asked = Number.parseInt(new URLSearchParams(location.search).get('depth'), 10);
  let depth = asked >= 1 && asked <= 50 ? asked : 2;
  let view = { x: 0, y: 0, k: 1 };
  const canvas = svg('svg', { class: 'graph', role: 'img', 'aria-label': `Lineage graph around ${name}` });
  const world = svg('g', {});
  canvas.append(world);
  const status = el('span', { class: 'muted', 'aria-live': 'polite' });
  const depthInput = el('input', { type: 'number', min: 1, max: 50, value: depth, id: 'depth', 'aria-label': 'Depth' });
  const notice = el('div', {});
  const apply = () => world.setAttribute('transform', `translate(${view.x} ${view.y}) scale(${view.k})`);
  let size = { width: 0, height: 0 };
  const fit = () => {
    const box = canvas.getBoundingClientRect();
    if (!size.width || !box.width) return;
    const k = Math.min(1.2, (box.width - 40) / size.width, (box.height - 40) / Math.max(size.height, 1));
    view = { k, x: (box.width - size.width * k) / 2, y: (box.height - size.height * k) / 2 };
    apply();
  };
  const zoom = (factor, cx, cy) => {
    const k = Math.min(4, Math.max(0.05, view.k * factor));
    view = { k, x: cx - (cx - view.x) * (k / view.k), y: cy - (cy - view.y) * (k / view.k) };
    apply();
  };
  canvas.addEventListener('wheel', (event) => {
    event.preventDefault();
    const box = canvas.getBoundingClientRect();
    zoom(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });
  let drag = null;
  canvas.addEventListener('pointerdown', (event) => {
    if (event.target.closest('.node')) return;
    drag = { x: event.clientX - view.x, y: event.clientY - view.y };
    canvas.setPointerCapture(event.pointerId);
    canvas.classList.add('dragging');
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drag) return;
    view.x = event.clientX - drag.x;
    view.y = event.clientY - drag.y;
    apply();
  });
  const stop = () => { drag = null; canvas.classList.remove('dragging'); };
  canvas.addEventListener('pointerup', stop);
  canvas.addEventListener('pointercancel', stop);

  // Answers can arrive out of order (a depth change, then a click on a field toggle): only the
  // newest request's graph is drawn, or an older one would undo what the user just asked for.
  let requested = 0;
  async function load() {
    const request = ++requested;
    status.textContent = 'Loading…';
    let query = `/api/v1/ui/graph?kind=${kind}&namespace=${enc(namespace)}&name=${enc(name)}&depth=${depth}`;
    for (const id of expanded) query += `&expand=${enc(id)}`;
    const graph = await api(query);
    if (request !== requested) return;
    if (!graph) { status.textContent = 'Not recorded.'; return; }
    draw(graph);
    size = { width: graph.width, height: graph.height };
    fit();
    const count = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
    status.textContent = `${count(graph.nodes.length, 'node')}, ${count(graph.edges.length, 'edge')} at depth ${graph.depth}`;
    notice.replaceChildren(graph.truncated
      ? el('p', { class: 'notice', role: 'status', text: 'This graph is larger than the UI draws: some nodes, edges or fields are left out. Lower the depth or open a node nearer what you look for.' })
      : '');
    canvas.dataset.ready = 'true';
    window.dkGraphReadyAt = performance.now();
  }

  function draw(graph) {
    const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
    const edges = svg('g', {});
    const columns = svg('g', {});
    const boxes = svg('g', {});
    for (const edge of graph.edges) {
      const a = nodes.get(edge.from);
      const b = nodes.get(edge.to);
      const x1 = a.x + a.width; const y1 = a.y + 28; const x2 = b.x; const y2 = b.y + 28;
      const mid = (x1 + x2) / 2;
      edges.append(svg('path', { class: 'edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, 'data-from': edge.from, 'data-to': edge.to, 'marker-end': 'url(#arrow)' }));
    }
    for (const edge of graph.columnEdges) {
      const a = nodes.get(edge.from);
      const b = nodes.get(edge.to);
      if (!a || !b || !(a.expanded || b.expanded)) continue;
      const row = (n, field) => {
        const f = n.expanded && n.fields.find((x) => x.name === field);
        return n.y + (f ? f.y : 28);
      };
      const x1 = a.x + a.width; const y1 = row(a, edge.fromField); const x2 = b.x; const y2 = row(b, edge.toField);
      const mid = (x1 + x2) / 2;
      columns.append(svg('path', { class: 'col-edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, 'data-from': `${edge.from}#${edge.fromField}`, 'data-to': `${edge.to}#${edge.toField}` }));
    }
    for (const node of graph.nodes) {
      const classes = ['node', node.kind];
      if (node.failed) classes.push('failed');
      if (node.id === graph.root) classes.push('root');
      const g = svg('g', { class: classes.join(' '), transform: `translate(${node.x} ${node.y})`, tabindex: 0, role: 'link', 'data-id': node.id, 'aria-label': `${node.kind} ${node.name}${node.failed ? ', latest run failed' : ''}${node.pii ? `, ${node.pii} PII fields` : ''}` });
      g.append(svg('title', {}, `${node.kind}: ${node.namespace} / ${node.name}`));
      g.append(svg('rect', { class: 'box', width: node.width, height: node.height, rx: 8 }));
      // Datasets keep room for their fields toggle.
      g.append(svg('text', { class: 'label', x: 10, y: 20 }, clip(node.label, node.kind === 'dataset' ? 24 : 28)));
      g.append(svg('text', { class: 'sub', x: 10, y: 36 }, clip(node.namespace, 34)));
      let x = 10;
      if (node.failed) x += pill(g, x, 40 - 2, 'fail', node.state === 'ABORT' ? 'ABORTED' : 'FAILED');
      if (node.pii) x += pill(g, x, 38, 'pii', `PII ${node.pii}`);
      if (node.classification) x += pill(g, x, 38, 'cls', node.classification);
      if (node.kind === 'dataset') {
        const toggle = svg('g', { class: 'toggle-fields', role: 'button', tabindex: 0, 'aria-expanded': String(node.expanded), 'aria-label': `${node.expanded ? 'Hide' : 'Show'} the fields of ${node.name}` });
        toggle.append(svg('rect', { class: 'toggle', x: node.width - 30, y: 6, width: 22, height: 18, rx: 4 }));
        toggle.append(svg('text', { x: node.width - 19, y: 19, 'text-anchor': 'middle' }, node.expanded ? '−' : '+'));
        const flip = (event) => {
          event.stopPropagation();
          if (expanded.has(node.id)) expanded.delete(node.id); else expanded.add(node.id);
          load().catch(failed);
        };
        toggle.addEventListener('click', flip);
        toggle.addEventListener('keydown', (event) => { if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); flip(event); } });
        g.append(toggle);
      }
      node.fields.forEach((field) => {
        const top = field.y - 10;
        g.append(svg('line', { class: 'field-sep', x1: 0, x2: node.width, y1: top, y2: top }));
        g.append(svg('text', { class: field.pii ? 'field-row field-pii field' : 'field-row field', x: 10, y: field.y + 4, 'data-field': field.name }, clip(`${field.name}${field.type ? ` : ${field.type}` : ''}${field.pii ? '  · PII' : ''}`, 34)));
      });
      const target = nodePath(node.kind, node.namespace, node.name);
      g.addEventListener('click', () => go(target));
      g.addEventListener('keydown', (event) => { if (event.key === 'Enter') go(target); });
      boxes.append(g);
    }
    const defs = svg('defs', {});
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }));
    defs.append(marker);
    world.replaceChildren(defs, edges, columns, boxes);
  }

  function failed(err) {
    if (err instanceof Unauthorized) signIn(route);
    else status.textContent = `Could not load the graph: ${err.message}`;
  }

  depthInput.addEventListener('change', () => {
    const value = Number.parseInt(depthInput.value, 10);
    if (value >= 1 && value <= 50) { depth = value; load().catch(failed); }
  });
  const toolbar = el('div', { class: 'toolbar' },
    el('label', { for: 'depth', text: 'Depth' }), depthInput,
    el('button', { type: 'button', text: '+', 'aria-label': 'Zoom in', onclick: () => zoom(1.25, canvas.clientWidth / 2, canvas.clientHeight / 2) }),
    el('button', { type: 'button', text: '−', 'aria-label': 'Zoom out', onclick: () => zoom(0.8, canvas.clientWidth / 2, canvas.clientHeight / 2) }),
    el('button', { type: 'button', text: 'Fit', onclick: fit }),
    status);
  const panel = el('section', { 'aria-label': 'Lineage graph' }, toolbar, notice, canvas);
  return { panel, load: () => load().catch(failed) };
}

// ---- Pages --------------------------------------------------------------------------------

function heading(kind, namespace, name) {
  document.title = `${name} · dk lineage`;
  return el('div', {},
    el('p', { class: 'kind', text: kind }),
    el('h1', { text: name }),
    el('p', { class: 'muted', text: namespace }));
}

function meta(pairs) {
  const list = el('dl', { class: 'meta' });
  for (const [key, value] of pairs) {
    list.append(el('dt', { text: key }), el('dd', {}, value === null || value === undefined || value === '' ? '—' : value));
  }
  return list;
}

async function jobPage(namespace, name) {
  const base = `/api/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}`;
  const [job, runs] = await Promise.all([api(base), api(`${base}/runs?limit=50`)]);
  if (!job) { show(el('p', { class: 'error', text: `No recorded job ${name} in namespace ${namespace}.` })); return; }
  const owners = (((job.facets || {}).ownership || {}).owners || []).map((o) => o.name).filter(Boolean);
  const latest = job.latestRun;
  const graph = graphPanel('job', namespace, name);
  const rows = (runs ? runs.runs : []).map((run) => {
    const error = ((run.facets || {}).errorMessage || {}).message;
    return el('tr', { class: run.state === 'FAILED' || run.state === 'ABORTED' ? 'failed run' : 'run' },
      el('td', { class: `state-${run.state}`, text: run.state }),
      el('td', { text: when(run.startedAt) }),
      el('td', { text: duration(run.durationMs) }),
      el('td', { text: when(run.nominalStartTime) }),
      el('td', { class: 'error-message', text: error || '' }));
  });
  show(
    heading('job', namespace, name),
    meta([
      ['Owner', owners.join(', ')],
      ['Description', job.description],
      ['Source', job.location && /^https?:\/\//.test(job.location) ? el('a', { href: job.location, rel: 'noopener noreferrer', text: job.location }) : job.location],
      ['Latest run', latest ? el('span', { class: `state-${latest.state}`, text: latest.state }) : null],
    ]),
    graph.panel,
    el('h2', { text: 'Runs' }),
    rows.length ? table(['State', 'Started', 'Duration', 'Nominal time', 'Error'], rows) : el('p', { class: 'muted', text: 'No runs recorded.' }));
  await graph.load();
}

async function datasetPage(namespace, name) {
  const base = `/api/v1/namespaces/${enc(namespace)}/datasets/${enc(name)}`;
  const query = `/api/v1/ui/graph?kind=dataset&namespace=${enc(namespace)}&name=${enc(name)}&depth=1`;
  const [dataset, versions, around] = await Promise.all([api(base), api(`${base}/versions?limit=20`), api(query)]);
  if (!dataset) { show(el('p', { class: 'error', text: `No recorded dataset ${name} in namespace ${namespace}.` })); return; }
  const classification = (dataset.tags || []).filter((t) => t.startsWith('classification:')).map((t) => t.slice(15));
  const piiCount = (dataset.fields || []).filter((f) => (f.tags || []).includes('pii')).length;
  // The server writes ids (names escaped so that no two nodes share one): the root's is this one.
  const id = around && around.root;
  const jobLink = (nodeId) => {
    const node = around.nodes.find((n) => n.id === nodeId);
    return el('li', {}, link(nodePath('job', node.namespace, node.name), node.name));
  };
  const producers = around ? around.edges.filter((e) => e.to === id).map((e) => jobLink(e.from)) : [];
  const consumers = around ? around.edges.filter((e) => e.from === id).map((e) => jobLink(e.to)) : [];
  const fields = (dataset.fields || []).map((field) => {
    const pii = (field.tags || []).includes('pii');
    return el('tr', { class: pii ? 'field pii' : 'field' },
      el('td', { text: field.name }),
      el('td', { text: field.type || '' }),
      el('td', {}, pii ? badge('pii', 'PII') : ''),
      el('td', { text: field.description || '' }));
  });
  const versionRows = (versions ? versions.versions : []).map((v) => el('tr', {},
    el('td', { text: v.version }),
    el('td', { text: when(v.createdAt) }),
    el('td', { class: v.createdByRun ? `state-${v.createdByRun.state}` : '', text: v.createdByRun ? v.createdByRun.state : '' })));
  const graph = graphPanel('dataset', namespace, name);
  show(
    heading('dataset', namespace, name),
    el('p', {}, ...classification.map((c) => badge('cls', c)), piiCount ? badge('pii', `PII ${piiCount}`) : ''),
    meta([['Description', dataset.description], ['Classification', classification.join(', ')], ['Source', dataset.sourceName]]),
    el('div', { class: 'columns' },
      el('section', {}, el('h2', { text: 'Schema' }), fields.length ? table(['Field', 'Type', 'PII', 'Description'], fields) : el('p', { class: 'muted', text: 'No schema recorded.' })),
      el('section', {},
        el('h2', { text: 'Produced by' }), producers.length ? el('ul', { class: 'producers' }, ...producers) : el('p', { class: 'muted', text: 'No recorded producer.' }),
        el('h2', { text: 'Consumed by' }), consumers.length ? el('ul', { class: 'consumers' }, ...consumers) : el('p', { class: 'muted', text: 'No recorded consumer.' }))),
    graph.panel,
    el('h2', { text: 'Versions' }),
    versionRows.length ? table(['Version', 'Created', 'Run'], versionRows) : el('p', { class: 'muted', text: 'No versions recorded.' }));
  await graph.load();
}

function datasetCell(dataset) {
  if (!dataset) return el('td', { class: 'muted', text: '—' });
  return el('td', {},
    link(nodePath('dataset', dataset.namespace, dataset.name), dataset.alias || dataset.name), ' ',
    dataset.classification ? badge('cls', dataset.classification) : '',
    dataset.piiFields.length ? badge('pii', `PII: ${dataset.piiFields.join(', ')}`) : '');
}

async function governancePage() {
  document.title = 'PII flows · dk lineage';
  const report = await api('/api/v1/ui/governance');
  const rows = report.flows.map((flow) => el('tr', { class: `flow${flow.jobState === 'FAIL' ? ' failed' : ''}` },
    datasetCell(flow.source),
    el('td', {}, flow.job ? link(nodePath('job', flow.job.namespace, flow.job.name), flow.job.name) : el('span', { class: 'muted', text: 'not read' })),
    datasetCell(flow.target)));
  show(
    el('h1', { text: 'PII flows' }),
    el('p', { class: 'muted', text: 'Every dataset with fields marked PII, the jobs that read it and what they write (from the latest tags of each dataset).' }),
    report.truncated ? el('p', { class: 'notice', text: 'More flows exist than are listed here.' }) : '',
    rows.length ? table(['PII dataset', 'Read by', 'Writes'], rows) : el('p', { class: 'muted', text: 'No dataset with PII fields is recorded.' }));
}

async function homePage() {
  document.title = 'dk lineage';
  const found = await api('/api/v1/search?q=&limit=100&sort=UPDATED_AT');
  const rows = (found ? found.results : []).map((hit) => {
    const kind = hit.type === 'JOB' ? 'job' : 'dataset';
    return el('tr', {}, el('td', { class: 'kind', text: kind }), el('td', {}, link(nodePath(kind, hit.namespace, hit.name), hit.name)), el('td', { class: 'muted', text: hit.namespace }), el('td', { text: when(hit.updatedAt) }));
  });
  show(
    el('h1', { text: 'Recorded lineage' }),
    el('p', { class: 'muted', text: 'Search above (press /), or open a job or dataset below. Every page has its own address to share.' }),
    rows.length ? table(['Kind', 'Name', 'Namespace', 'Updated'], rows) : el('p', { class: 'muted', text: 'Nothing recorded yet: `dk run ./my-pipeline` records lineage.' }));
}

document.addEventListener('click', (event) => {
  const anchor = event.target.closest && event.target.closest('a[href^="/"]');
  if (anchor && !event.defaultPrevented && !event.ctrlKey && !event.metaKey && event.button === 0) {
    event.preventDefault();
    go(anchor.getAttribute('href'));
  }
});

route();
