// The Tesseras node dashboard. Plain JavaScript, no libraries: it reads the
// node's /v1 JSON API (docs/DAEMON.md) with the API token and redraws every
// few seconds. Text from the API is only ever set as text, never as HTML.
'use strict';

const TOKEN_KEY = 'tesseras-api-token';
const REFRESH_MS = 2000;         // node, lists and the open view
// The open tessera's health is checked live (an attestation per holder), so
// less often than the rest.
const STATUS_REFRESH_MS = 10000;
const STATE_RANK = {lost: 0, degraded: 1, replicating: 2, local: 3, restored: 4, healthy: 5};

const state = {
  token: null,
  view: 'overview',
  tessera: null,       // hash of the open tessera
  status: null,        // its last status JSON
  statusAt: 0,
  statusBusy: false,
  ledger: [],
  busy: false,
  stopped: false,
};

// ---- helpers -----------------------------------------------------------------

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'style') e.style.cssText = v;  // CSSOM: allowed by the page's CSP
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function replace(node, ...children) { node.replaceChildren(...children.filter((c) => c !== null)); }

function bytes(n) {
  if (n === null || n === undefined) return '–';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u + 1 < units.length) { v /= 1024; u++; }
  return `${v.toFixed(1)} ${units[u]}`;
}

function signedBytes(n) { return n < 0 ? `−${bytes(-n)}` : `+${bytes(n)}`; }

function duration(secs) {
  if (secs === null || secs === undefined) return '–';
  secs = Math.max(0, Math.round(secs));
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60), s = secs % 60;
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

function ago(ms) {
  if (ms === null || ms === undefined) return 'never';
  return `${duration((Date.now() - ms) / 1000)} ago`;
}

function when(ms) {
  if (ms === null || ms === undefined) return el('span', {text: 'never'});
  return el('time', {datetime: new Date(ms).toISOString(), title: new Date(ms).toLocaleString(),
                     text: ago(ms)});
}

function short(hex) { return hex ? hex.slice(0, 12) : '–'; }

function stateBadge(name) {
  return el('span', {class: `state state-${name}`, 'data-state': name, text: name});
}

// A bar with its numbers; `kind` picks the colour from how full it is.
function bar(value, max, label) {
  const pct = max > 0 ? Math.max(0, Math.min(100, (100 * value) / max)) : 0;
  const cls = pct >= 100 ? 'bar' : pct >= 50 ? 'bar warn' : 'bar bad';
  return el('div', {class: 'barline'},
    el('div', {class: cls, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': max,
               'aria-valuenow': value, 'aria-label': label},
      el('span', {style: `width:${pct}%`})),
    el('span', {class: 'label', text: `${value}/${max}`}));
}

function facts(node, pairs) {
  replace(node, ...pairs.filter((p) => p !== null).map(([k, v]) =>
    el('div', {}, el('dt', {text: k}), el('dd', {}, v))));
}

function indexRanges(list) {
  const v = [...list].sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i < v.length;) {
    let j = i;
    while (j + 1 < v.length && v[j + 1] === v[j] + 1) j++;
    out.push(j > i ? `${v[i]}-${v[j]}` : `${v[i]}`);
    i = j + 1;
  }
  return out.join(',') || '–';
}

// Proven out of the target: fragments for the coded tiers, copies for Small.
function provenOf(h, tier) {
  if (!h) return null;
  if (tier === 'small') return {value: h.holders_proven, max: h.replication_factor, what: 'copies'};
  return {value: h.fragments_verified, max: h.fragments_total, what: 'fragments'};
}

// ---- the API -------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const init = {method, cache: 'no-store', credentials: 'omit',
                headers: {Authorization: `Bearer ${state.token}`}};
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'unavailable', 'the node does not answer (is tesd running?)');
  }
  const text = await res.text();
  if (path === '/metrics') {
    if (!res.ok) throw new ApiError(res.status, 'error', text);
    return text;
  }
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const err = json && json.error ? json.error : {code: 'error', message: `HTTP ${res.status}`};
    if (res.status === 401) needToken(err.message);
    throw new ApiError(res.status, err.code, err.message);
  }
  return json;
}

function needToken(message) {
  state.stopped = true;
  sessionStorage.removeItem(TOKEN_KEY);
  showBanner(message || 'This page needs the API token.');
  $('token-form').hidden = false;
}

function showBanner(text) {
  const b = $('banner');
  b.textContent = text;
  b.hidden = !text;
}

function readToken() {
  const m = location.hash.match(/token=([0-9a-fA-F]{64})/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, m[1]);
    // Keep the token out of the address bar, history and screenshots.
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

// ---- views ---------------------------------------------------------------------

const TABS = ['overview', 'ledger', 'maintenance', 'problems'];

function show(view) {
  state.view = view;
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    const on = t === view || (view === 'tessera' && t === 'overview');
    tab.setAttribute('aria-selected', on ? 'true' : 'false');
    tab.tabIndex = on ? 0 : -1;
    $(`view-${t}`).hidden = t !== view;
  }
  $('view-tessera').hidden = view !== 'tessera';
  refresh();
}

function openTessera(hash) {
  state.tessera = hash;
  state.status = null;
  state.statusAt = 0;
  replace($('tessera-result'));
  $('tessera-hash').textContent = hash;
  replace($('holders-body'));
  replace($('holders-head'));
  replace($('spread-body'));
  replace($('tessera-facts'));
  replace($('tessera-bar'));
  replace($('standing-facts'));
  show('tessera');
  $('tessera-back').focus();
}

function renderNode(n) {
  $('title-node').textContent = short(n.node_id);
  const disk = n.disk || {};
  facts($('node-facts'), [
    ['Node id', el('span', {class: 'mono break', id: 'node-id', text: n.node_id})],
    ['Peer address', el('span', {class: 'mono', text: n.listen})],
    ['Peers', el('span', {id: 'node-peers', text: n.peers})],
    ['Stored here for others', bytes(n.bytes_stored)],
    ['Ledger: we store for others', bytes(n.bytes_stored_for_others)],
    ['Ledger: others store for us', bytes(n.bytes_stored_by_others)],
    ['Disk used by the node', bytes(disk.used_bytes)],
    ['Disk free', bytes(disk.free_bytes)],
    ['Up for', duration(n.uptime_secs)],
    ['Version', n.version],
    ...scrubFacts(n.scrub),
  ]);
  if (disk.total_bytes) {
    const usedPct = Math.round(100 * (disk.total_bytes - disk.free_bytes) / disk.total_bytes);
    replace($('disk-bar'), el('div', {class: 'barline'},
      el('div', {class: usedPct > 90 ? 'bar bad' : usedPct > 75 ? 'bar warn' : 'bar', role: 'meter',
                 'aria-label': 'disk in use', 'aria-valuemin': 0, 'aria-valuemax': 100,
                 'aria-valuenow': usedPct},
        el('span', {style: `width:${usedPct}%`})),
      el('span', {class: 'label',
                  text: `disk ${usedPct}% full (${bytes(disk.free_bytes)} free of ${bytes(disk.total_bytes)})`})));
  }
}

// The background scrub (GET /v1/node "scrub"): where the cycle is, the last full one.
function scrubFacts(s) {
  if (!s) return [];
  const now = s.cycle_started
    ? `${s.cycle_fragments} of ${s.cycle_fragments_total} fragments ` +
      `(${bytes(s.cycle_bytes)} of ${bytes(s.cycle_bytes_total)}), since ${ago(s.cycle_started)}`
    : `idle, next cycle ${s.next_cycle ? new Date(s.next_cycle).toLocaleString() : 'when something is held'}`;
  const last = s.last_cycle_finished
    ? `${ago(s.last_cycle_finished)} (${s.last_cycle_fragments} fragments, ${bytes(s.last_cycle_bytes)})`
    : 'never';
  return [
    ['Scrub', el('span', {id: 'node-scrub', text: now})],
    ['Last full scrub', last],
    ['Scrub found', `${s.corrupt_found} corrupt, ${s.missing_found} missing`],
  ];
}

function tesseraRank(t) {
  const h = t.health;
  const s = h ? h.state : t.state;
  return [STATE_RANK[s] ?? 3, h ? h.margin : 1e9];
}

function renderTesseras(list) {
  const sorted = [...list].sort((a, b) => {
    const [ra, ma] = tesseraRank(a), [rb, mb] = tesseraRank(b);
    return ra - rb || ma - mb || b.created_at - a.created_at;
  });
  $('tesseras-empty').hidden = sorted.length > 0;
  replace($('tesseras-body'), ...sorted.map((t) => {
    const shownState = t.health ? t.health.state : t.state;
    const proven = provenOf(t.health, t.tier);
    return el('tr', {class: 'clickable', 'data-hash': t.hash, 'data-state': shownState,
                     onclick: (e) => { if (e.target.tagName !== 'BUTTON') openTessera(t.hash); }},
      el('td', {}, el('button', {type: 'button', class: 'hash', title: t.hash,
                                 'aria-label': `open tessera ${t.hash}`,
                                 onclick: () => openTessera(t.hash), text: short(t.hash)})),
      el('td', {class: 'hide-narrow', text: t.tier}),
      el('td', {class: 'num', text: bytes(t.size)}),
      el('td', {}, stateBadge(shownState)),
      el('td', {}, proven ? bar(proven.value, proven.max, `${proven.what} proven`)
                          : el('span', {class: 'muted', text: t.state === 'local' ? 'not published' : 'not checked yet'})),
      el('td', {class: 'num hide-narrow', text: t.holders ?? '–'}),
      el('td', {class: 'hide-narrow'}, when(t.last_audit)));
  }));
}

function ledgerFor(peer) { return state.ledger.find((e) => e.peer === peer); }

function renderStatus(s) {
  state.status = s;
  const proven = provenOf(s, s.tier);
  facts($('tessera-facts'), [
    ['State', stateBadge(s.state)],
    ['Tier', `${s.tier} (${s.data_shards} data + ${s.parity_shards} parity)`],
    ['Size', bytes(s.size)],
    ['Fragments proven', `${s.fragments_verified} of ${s.fragments_total} (${s.data_shards} needed)`],
    s.margin !== undefined ? ['Margin', `${s.margin} more ${s.tier === 'small' ? 'copies' : 'fragments'} can be lost`] : null,
    ['Checked', when(s.checked_at ?? Date.now())],
  ]);
  replace($('tessera-bar'), proven && s.state !== 'local' ? bar(proven.value, proven.max, `${proven.what} proven`) : null);
  const holders = s.holders || [];
  $('holders-empty').hidden = holders.length > 0;
  const hasSuspect = holders.some((h) => h.suspect_since !== undefined && h.suspect_since !== null);
  replace($('holders-head'), el('tr', {},
    ...['Node', 'Address', 'Subnet', 'Fragments', 'Proven', 'Status', 'Last proven']
      .concat(hasSuspect ? ['Suspect since'] : []).concat(['Balance'])
      .map((h) => el('th', {scope: 'col', class: h === 'Proven' || h === 'Balance' ? 'num' : null,
                            text: h}))));
  replace($('holders-body'), ...holders.map((h) => {
    const suspect = h.suspect_since !== undefined && h.suspect_since !== null;
    const status = suspect ? 'suspect' : !h.reachable ? 'unreachable'
                 : (h.proven || []).length === (h.fragments || []).length ? 'healthy' : 'degraded';
    const statusText = suspect ? 'suspect' : !h.reachable ? 'unreachable'
                     : status === 'healthy' ? 'proved all' : 'proved some';
    const l = ledgerFor(h.node_id);
    return el('tr', {'data-node': h.node_id, 'data-reachable': String(!!h.reachable),
                     'data-status': status},
      el('td', {class: 'mono', title: h.node_id, text: short(h.node_id)}),
      el('td', {class: 'mono', text: h.addr}),
      el('td', {class: 'mono', text: h.subnet ?? '–'}),
      el('td', {}, `${(h.fragments || []).length} `,
         el('span', {class: 'muted mono', text: `[${indexRanges(h.fragments || [])}]`})),
      el('td', {class: 'num', text: (h.proven || []).length}),
      el('td', {title: h.error || ''}, el('span', {class: `state state-${status}`, text: statusText}),
         h.error ? el('div', {class: 'muted', text: h.error}) : null),
      el('td', {}, when(h.last_attested)),
      hasSuspect ? el('td', {}, suspect ? when(h.suspect_since) : '–') : null,
      el('td', {class: 'num', text: l ? signedBytes(l.balance) : '–'}));
  }));
  replace($('spread-body'), ...(s.subnets || []).map((x) =>
    el('tr', {}, el('td', {class: 'mono', text: x.subnet}), el('td', {class: 'num', text: x.holders}),
       el('td', {class: 'num', text: x.fragments}))));
  let forThem = 0, forUs = 0, known = 0;
  for (const h of holders) {
    const l = ledgerFor(h.node_id);
    if (!l) continue;
    known++;
    forThem += l.bytes_stored_for_them;
    forUs += l.bytes_they_store_for_us;
  }
  facts($('standing-facts'), [
    ['Holders in the ledger', `${known} of ${holders.length}`],
    ['They store for us', bytes(forUs)],
    ['We store for them', bytes(forThem)],
    ['Balance', signedBytes(forUs - forThem)],
  ]);
}

function renderLedger(list) {
  state.ledger = list;
  $('ledger-empty').hidden = list.length > 0;
  const sorted = [...list].sort((a, b) => a.balance - b.balance);
  replace($('ledger-body'), ...sorted.map((e) => el('tr', {'data-peer': e.peer},
    el('td', {class: 'mono', title: e.peer, text: short(e.peer)}),
    el('td', {class: 'num', text: bytes(e.bytes_stored_for_them)}),
    el('td', {class: 'num', text: bytes(e.bytes_they_store_for_us)}),
    el('td', {class: 'num', text: signedBytes(e.balance)}))));
  // The chart: two bars per peer, scaled to the largest value.
  const chart = $('ledger-chart');
  if (!list.length) { replace(chart); return; }
  const NS = 'http://www.w3.org/2000/svg';
  const rowH = 30, labelW = 110, w = 600;
  const max = Math.max(1, ...list.flatMap((e) => [e.bytes_stored_for_them, e.bytes_they_store_for_us]));
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${rowH * sorted.length + 4}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'bytes stored for each peer and by each peer');
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  sorted.forEach((e, i) => {
    const y = i * rowH + 2;
    const scale = (v) => Math.max(v > 0 ? 2 : 0, ((w - labelW - 90) * v) / max);
    add('text', {x: 0, y: y + 17, class: 'mono'}, short(e.peer));
    add('rect', {x: labelW, y, width: scale(e.bytes_stored_for_them), height: 12, class: 'for-them'});
    add('rect', {x: labelW, y: y + 13, width: scale(e.bytes_they_store_for_us), height: 12, class: 'for-us'});
    add('text', {x: labelW + scale(Math.max(e.bytes_stored_for_them, e.bytes_they_store_for_us)) + 6, y: y + 17},
        signedBytes(e.balance));
  });
  replace(chart,
    el('div', {class: 'legend'},
      el('span', {}, el('span', {class: 'swatch', style: 'background:var(--warn)'}), 'we store for them'),
      el('span', {}, el('span', {class: 'swatch', style: 'background:var(--accent)'}), 'they store for us')),
    svg);
}

function renderMaintenance(m) {
  facts($('maintenance-facts'), [
    ['Background pass every', `${duration(m.repair_interval_secs)} (+ up to ${duration(m.repair_jitter_secs)})`],
    ['Passes completed since start', m.passes_completed],
  ]);
  const r = m.running;
  if (r) {
    const parts = [`A pass is running (${r.scope}), started ${ago(r.started_at)}.`];
    const progress = r.total !== undefined && r.done !== undefined
      ? bar(r.done, r.total, 'tesseras done in this pass') : null;
    if (r.eta_secs !== undefined && r.eta_secs !== null) parts.push(`About ${duration(r.eta_secs)} left.`);
    replace($('running-pass'), el('p', {id: 'running-text', text: parts.join(' ')}), progress);
  } else {
    replace($('running-pass'), el('p', {class: 'muted', text: 'No pass is running.'}));
  }
  $('passes-empty').hidden = (m.last_passes || []).length > 0;
  replace($('passes-body'), ...(m.last_passes || []).map((p) => el('tr', {},
    el('td', {}, when(p.started_at)),
    el('td', {text: p.finished_at ? duration((p.finished_at - p.started_at) / 1000) : '–'}),
    el('td', {class: 'mono', text: p.scope === 'all' ? 'all' : short(p.scope)}),
    el('td', {class: 'num', text: p.tesseras ?? '–'}),
    el('td', {class: 'num', text: p.regenerated ?? '–'}),
    el('td', {class: 'num', text: p.mended_local ?? '–'}),
    el('td', {}, p.error ? el('span', {class: 'state state-lost', text: p.error}) : String(p.problems ?? '–')))));
  replace($('queue-body'), ...(m.queue || []).map((q) => el('tr', {class: 'clickable',
      onclick: () => openTessera(q.hash)},
    el('td', {}, el('button', {type: 'button', class: 'hash', onclick: () => openTessera(q.hash),
                               text: short(q.hash)})),
    el('td', {}, stateBadge(q.state)),
    el('td', {class: 'num', text: q.margin ?? 'not checked'}),
    el('td', {text: q.fragments_total !== undefined ? `${q.fragments_verified}/${q.fragments_total}` : '–'}),
    el('td', {}, when(q.checked_at)))));
}

const KIND_TEXT = {
  audit_failed: 'audit failed', peer_refused: 'peer refused', fetch_failed: 'fetch failed',
  repair_problem: 'repair problem', repair_loop: 'repair loop', refused: 'refused',
};

function renderEvents(list) {
  $('events-empty').hidden = list.length > 0;
  const count = $('problem-count');
  count.hidden = list.length === 0;
  count.textContent = list.length;
  replace($('events-body'), ...list.map((e) => el('tr', {'data-kind': e.kind},
    el('td', {}, when(e.at)),
    el('td', {text: KIND_TEXT[e.kind] || e.kind}),
    el('td', {}, e.tessera ? el('button', {type: 'button', class: 'hash', onclick: () => openTessera(e.tessera),
                                           text: short(e.tessera)}) : '–'),
    el('td', {class: 'mono', title: e.peer || ''}, e.peer ? `${short(e.peer)} ${e.addr || ''}` : '–'),
    el('td', {text: e.message}),
    el('td', {class: 'num', text: e.count}))));
}

// Counters worth showing by reason, parsed from the Prometheus text.
const REASON_COUNTERS = ['tesseras_refusals_total', 'tesseras_attestations_total'];

function renderRefusals(text) {
  const rows = [];
  for (const line of text.split('\n')) {
    const m = line.match(/^(\w+)\{([^}]*)\}\s+(\S+)$/);
    if (!m || !REASON_COUNTERS.includes(m[1])) continue;
    const labels = m[2].replace(/"/g, '');
    rows.push(el('tr', {}, el('td', {class: 'mono', text: m[1]}), el('td', {text: labels}),
                 el('td', {class: 'num', text: m[3]})));
  }
  $('refusals-empty').hidden = rows.length > 0;
  replace($('refusals-body'), ...rows);
}

// ---- refreshing ----------------------------------------------------------------

async function refreshStatus(force) {
  if (!state.tessera || state.statusBusy) return;
  if (!force && Date.now() - state.statusAt < STATUS_REFRESH_MS) return;
  state.statusBusy = true;
  const hash = state.tessera;
  try {
    const s = await api('GET', `/v1/tesseras/${hash}/status`);
    if (state.tessera === hash) renderStatus(s);
  } catch (e) {
    if (state.tessera === hash) result('tessera-result', `status: ${e.message}`, true);
  } finally {
    state.statusAt = Date.now();
    state.statusBusy = false;
  }
}

async function refresh() {
  // Nothing is asked while the tab is hidden: no checks for a page nobody sees.
  if (state.stopped || state.busy || !state.token || document.hidden) return;
  state.busy = true;
  try {
    const [node, list, ledger, events] = await Promise.all([
      api('GET', '/v1/node'), api('GET', '/v1/tesseras'), api('GET', '/v1/ledger'),
      api('GET', '/v1/events')]);
    renderNode(node);
    renderTesseras(list);
    renderLedger(ledger);
    // The open tessera's ledger columns follow the ledger between live checks.
    if (state.view === 'tessera' && state.status) renderStatus(state.status);
    renderEvents(events);
    if (state.view === 'maintenance') renderMaintenance(await api('GET', '/v1/maintenance'));
    if (state.view === 'problems') renderRefusals(await api('GET', '/metrics'));
    if (state.view === 'tessera') refreshStatus(false);
    showBanner('');
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (e.status !== 401) showBanner(e.message);
  } finally {
    state.busy = false;
  }
}

function result(id, text, error) {
  const r = $(id);
  r.textContent = text;
  r.classList.toggle('error', !!error);
}

// Runs an action with its button disabled; shows the outcome next to it.
async function act(button, resultId, label, run) {
  button.disabled = true;
  result(resultId, `${label}…`);
  try {
    const text = await run();
    result(resultId, text);
  } catch (e) {
    result(resultId, `${label} failed: ${e.message}`, true);
  } finally {
    button.disabled = false;
    refresh();
  }
}

function wire() {
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('token-input').value.trim();
    if (!/^[0-9a-fA-F]{64}$/.test(t)) { showBanner('A token is 64 hex digits.'); return; }
    sessionStorage.setItem(TOKEN_KEY, t);
    state.token = t;
    state.stopped = false;
    $('token-form').hidden = true;
    refresh();
  });
  const tabs = TABS.map((t) => $(`tab-${t}`));
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => show(TABS[i]));
    tab.addEventListener('keydown', (e) => {
      const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      if (!d) return;
      const next = tabs[(i + d + tabs.length) % tabs.length];
      next.focus();
      show(TABS[tabs.indexOf(next)]);
    });
  });
  $('tessera-back').addEventListener('click', () => { state.tessera = null; show('overview'); });
  $('create-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const paths = $('create-paths').value.split('\n').map((p) => p.trim()).filter((p) => p);
    if (!paths.length) { result('create-result', 'Give at least one absolute path.', true); return; }
    act($('create-button'), 'create-result', 'creating', async () => {
      const c = await api('POST', '/v1/tesseras', {paths});
      $('create-paths').value = '';
      return `created ${c.hash} (${bytes(c.size)}, ${c.files} file${c.files === 1 ? '' : 's'})`;
    });
  });
  $('action-publish').addEventListener('click', (e) => act(e.currentTarget, 'tessera-result', 'publishing', async () => {
    const p = await api('POST', `/v1/tesseras/${state.tessera}/publish`);
    await refreshStatus(true);
    const failed = (p.failures || []).length;
    return `published: ${p.fragments} fragment(s) on ${p.holders} holder(s)` +
           (failed ? `; ${failed} peer(s) refused or failed (see Problems)` : '');
  }));
  $('action-repair').addEventListener('click', (e) => act(e.currentTarget, 'tessera-result', 'repairing', async () => {
    const r = await api('POST', '/v1/repair', {hash: state.tessera});
    await refreshStatus(true);
    const t = (r.tesseras || [])[0] || {};
    const problems = (t.problems || []).join('; ');
    return `repair: ${(t.regenerated || []).length} fragment(s) re-created, ` +
           `${(t.mended_local || []).length} mended here` + (problems ? `; ${problems}` : '');
  }));
  $('action-check').addEventListener('click', (e) => act(e.currentTarget, 'tessera-result', 'checking', async () => {
    await refreshStatus(true);
    return state.status ? `checked: ${state.status.state}` : 'checked';
  }));
  $('fetch-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const out = $('fetch-out').value.trim();
    if (!out.startsWith('/')) { result('tessera-result', 'Give an absolute directory path.', true); return; }
    act($('action-fetch'), 'tessera-result', 'fetching', async () => {
      const f = await api('POST', `/v1/tesseras/${state.tessera}/fetch`, {out});
      return `restored ${f.files} file(s), ${bytes(f.bytes)}, under ${out}`;
    });
  });
  $('action-repair-all').addEventListener('click', (e) => act(e.currentTarget, 'maintenance-result', 'repairing', async () => {
    const r = await api('POST', '/v1/repair', {});
    return `pass done: ${(r.tesseras || []).length} tessera(s) looked at`;
  }));
}

function main() {
  wire();
  state.token = readToken();
  if (!state.token) {
    needToken('This page needs the node\'s API token: run `tes ui` on the node and open the link it prints.');
  } else {
    refresh();
  }
  setInterval(refresh, REFRESH_MS);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
}

main();
