// The audit explorer's page. Log entries are attacker-influenced data: everything from the server is rendered with
// textContent and attribute setters, never parsed as markup, and the Content-Security-Policy forbids inline
// script and style.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const state = { logs: [], entries: [], version: 0, selected: null };

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key === 'title') node.title = String(value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }

  const badgeText = {
    verified: 'Verified: checkpoint signatures valid, signers trusted, consistency proven',
    unchecked: 'Signatures valid, consistency proven; signers not checked (no --bundle)',
    unsigned: 'No signed checkpoint yet: nothing vouches for these entries',
    failed: 'FAILED',
  };

  function renderLogs() {
    const cards = $('log-cards');
    cards.replaceChildren();
    for (const log of state.logs) {
      let where = null;
      if (log.badge === 'failed' && log.firstBadIndex !== undefined) {
        where = log.badRangeEnd !== undefined && log.badRangeEnd > log.firstBadIndex + 1 && log.problem === 'CheckpointMismatch'
          ? `bad entry range: ${log.firstBadIndex}–${log.badRangeEnd - 1}`
          : `first altered entry: ${log.firstBadIndex}`;
      }
      cards.append(el('div', { class: 'card', dataset: { log: log.id, badge: log.badge } },
        el('div', { class: 'path', text: log.path }),
        el('div', { class: 'origin', text: `${log.issuerLog ? 'issuer control-plane log · ' : ''}${log.origin || 'no checkpoint'}` }),
        el('div', { class: 'badge', dataset: { state: log.badge }, text: log.badge === 'failed' ? `FAILED (${log.problem})` : badgeText[log.badge] }),
        where ? el('div', { class: 'where', text: where }) : null,
        el('div', { class: 'message', text: log.message }),
        el('div', { class: 'muted', text: `${log.entries} entries · ${log.checkpoints} checkpoint(s) verified · ${log.signedEntries} covered by a signature${log.latestCheckpointTime ? ' · latest ' + log.latestCheckpointTime : ''}` }),
        log.signers.length ? el('div', { class: 'muted', text: `signed by ${log.signers.join(', ')}` }) : null));
    }
  }

  function fillSelect(select, values, label) {
    const keep = select.value;
    select.replaceChildren(el('option', { value: '', text: 'all' }));
    for (const value of values) select.append(el('option', { value: String(value), text: label ? label(value) : String(value) }));
    select.value = keep;
  }

  function query() {
    const params = new URLSearchParams();
    const add = (name, value) => { if (value) params.set(name, value); };
    add('log', $('f-log').value);
    add('agent', $('f-agent').value);
    add('tool', $('f-tool').value);
    add('outcome', $('f-outcome').value);
    add('from', $('f-from').value ? $('f-from').value + 'Z' : '');
    add('to', $('f-to').value ? $('f-to').value + 'Z' : '');
    params.set('limit', '1000');
    return params.toString();
  }

  async function loadEntries() {
    const q = query();
    const page = await getJson(`api/entries?${q}`);
    state.entries = page.entries;
    renderEntries(page);
    renderTimeline();
    const table = $('entries-table');
    table.dataset.query = q;
    table.dataset.version = String(++state.version);
  }

  function logPath(id) {
    const log = state.logs.find((l) => l.id === id);
    return log ? log.path : String(id);
  }

  function renderEntries(page) {
    const body = $('entries-table').tBodies[0];
    body.replaceChildren();
    for (const e of page.entries) {
      const row = el('tr', { class: `status-${e.status}`, dataset: { log: e.log, index: e.index, tool: e.tool || '', outcome: e.outcome, status: e.status }, onclick: () => select(e.log, e.index) },
        el('td', { text: logPath(e.log) }),
        el('td', { text: e.index }),
        el('td', { text: e.time || '' }),
        el('td', { text: e.agent }),
        el('td', { text: e.kind }),
        el('td', { class: 'tool', text: e.tool || e.action || '' }),
        el('td', { class: `outcome-${e.outcome}`, text: e.outcome }),
        el('td', { class: 'reason', text: e.reason || '' }),
        el('td', { class: 'status', text: e.status + (e.damage ? ` (${e.damage})` : '') }));
      body.append(row);
    }
    $('entries-count').textContent = page.total > page.entries.length
      ? `(${page.entries.length} of ${page.total} shown)`
      : `(${page.total})`;
  }

  function renderTimeline() {
    const lanes = $('lanes');
    lanes.replaceChildren();
    const times = state.entries.map((e) => Date.parse(e.time)).filter((t) => !Number.isNaN(t));
    if (times.length === 0) return;
    const min = Math.min(...times);
    const span = Math.max(Math.max(...times) - min, 1);
    const byAgent = new Map();
    for (const e of state.entries) {
      if (!byAgent.has(e.agent)) byAgent.set(e.agent, []);
      byAgent.get(e.agent).push(e);
    }
    for (const [agent, entries] of [...byAgent.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      const track = el('div', { class: 'lane-track' });
      for (const e of entries) {
        const t = Date.parse(e.time);
        if (Number.isNaN(t)) continue;
        const dot = el('button', {
          class: `dot outcome-${e.outcome} status-${e.status}`, type: 'button',
          title: `${e.time} · ${e.tool || e.action || e.kind} · ${e.outcome}${e.reason ? ' · ' + e.reason : ''}`,
          onclick: () => select(e.log, e.index),
        });
        dot.style.left = `${((t - min) / span) * 100}%`; // CSSOM, allowed by style-src 'self'
        track.append(dot);
      }
      lanes.append(el('div', { class: 'lane', dataset: { agent } }, el('div', { class: 'lane-name', text: agent }), track));
    }
  }

  function renderTree(nodes) {
    const root = $('tree-root');
    const list = (items) => el('ul', {}, ...items.map((n) => el('li', { dataset: { agent: n.id } },
      el('span', { class: `node-name${n.isTask ? ' task' : ''}`, text: n.id, onclick: () => { $('f-agent').value = n.id; loadEntries().catch(showError); } }),
      ' ',
      el('span', { class: 'counts', text: `${n.allowed} allowed · ${n.denied} denied · ${n.failed} failed` }),
      n.calls.length ? el('ul', { class: 'calls' }, ...n.calls.map((c) => el('li', {
        class: `call outcome-${c.outcome}`, onclick: () => select(c.log, c.index),
        text: `${c.name || c.kind} → ${c.outcome}${c.reason ? ' (' + c.reason + ')' : ''}`,
      })), n.total > n.calls.length ? el('li', { class: 'muted', text: `… ${n.total - n.calls.length} more` }) : null) : null,
      n.children.length ? list(n.children) : null)));
    root.replaceChildren(list(nodes));
  }

  async function select(log, index) {
    state.selected = { log, index };
    for (const row of $('entries-table').tBodies[0].rows) {
      row.classList.toggle('selected', row.dataset.log === String(log) && row.dataset.index === String(index));
    }
    const detail = $('detail');
    detail.hidden = false;
    const proof = $('proof');
    proof.dataset.state = 'loading';
    proof.replaceChildren(el('p', { class: 'muted', text: 'Loading the proof…' }));
    const entry = await getJson(`api/logs/${log}/entries/${index}`);
    const fields = $('detail-fields');
    fields.replaceChildren();
    const field = (name, value) => { if (value !== undefined && value !== null && value !== '') fields.append(el('dt', { text: name }), el('dd', { text: value })); };
    field('log', logPath(entry.log));
    field('index', entry.index);
    field('integrity', entry.status + (entry.damage ? ` (${entry.damage})` : ''));
    field('time', entry.time);
    field('agent', entry.agent);
    field('delegated by', entry.chain.join(' → '));
    field('kind', entry.kind);
    field('tool', entry.tool);
    field('action', entry.action);
    field('target', entry.target);
    field('outcome', entry.outcome);
    field('reason', entry.reason);
    field('request id', entry.requestId);
    field('serial', entry.serial);
    $('detail-json').textContent = entry.json;
    detail.dataset.log = String(log);
    detail.dataset.index = String(index);
    await showProof(log, index);
  }

  async function showProof(log, index) {
    const proof = $('proof');
    let p;
    try {
      p = await getJson(`api/logs/${log}/entries/${index}/proof`);
    } catch (error) {
      proof.dataset.state = 'error';
      proof.replaceChildren(el('p', { class: 'verdict', text: error.message }));
      return;
    }
    const browser = await verifyInBrowser(p).catch((error) => ({ ok: false, why: error.message }));
    const ok = p.proofValid && p.signatureValid && browser.ok;
    proof.dataset.state = ok ? 'valid' : 'invalid';
    proof.dataset.index = String(index);
    const fields = el('dl', {});
    const field = (name, value, cls) => fields.append(el('dt', { text: name }), el('dd', { class: cls, text: value }));
    field('checkpoint', `${p.origin} · size ${p.treeSize} · ${p.time}`);
    field('signed by', p.signer || '?');
    field('leaf hash', p.leafHash, 'hash');
    field('root hash', p.rootHash, 'hash');
    field('audit path', p.path.length ? '' : '(empty: the tree has one entry)');
    const path = el('ol', { class: 'hash' }, ...p.path.map((h) => el('li', { text: h })));
    proof.replaceChildren(
      el('p', { class: 'verdict', text: ok
        ? `Entry ${p.index} is included in the checkpoint of size ${p.treeSize}, and the checkpoint's signature verifies.`
        : `The proof does NOT verify: ${!p.proofValid ? 'the audit path does not lead to the checkpoint root' : !p.signatureValid ? 'checkpoint signature: ' + (p.signatureError || 'invalid') : 'in this browser: ' + browser.why}.` }),
      el('p', { class: 'browser-verdict', dataset: { state: browser.ok ? 'valid' : 'invalid' }, text: browser.ok
        ? 'Checked in this browser too: SHA-256 of the entry gives the leaf hash, and the audit path leads to the signed root (RFC 9162 §2.1.3.2).'
        : `Browser check failed: ${browser.why}` }),
      fields, path,
      el('details', {}, el('summary', { text: 'Signed checkpoint' }), el('pre', { text: p.checkpoint })));
  }

  // RFC 9162 §2.1.3.2, computed here with Web Crypto so that the page does not only take the server's word for it.
  async function verifyInBrowser(p) {
    const sha = async (...parts) => {
      const total = parts.reduce((n, x) => n + x.length, 0);
      const data = new Uint8Array(total);
      let at = 0;
      for (const part of parts) { data.set(part, at); at += part.length; }
      return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
    };
    const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    const unhex = (text) => new Uint8Array(text.match(/../g).map((h) => parseInt(h, 16)));
    const entry = Uint8Array.from(atob(p.entry), (c) => c.charCodeAt(0));
    let r = await sha(new Uint8Array([0]), entry);
    if (hex(r) !== p.leafHash) return { ok: false, why: 'the entry does not hash to the leaf hash' };
    let fn = p.index;
    let sn = p.treeSize - 1;
    if (fn > sn) return { ok: false, why: 'the index is outside the tree' };
    for (const node of p.path.map(unhex)) {
      if (sn === 0) return { ok: false, why: 'the audit path is too long' };
      if (fn % 2 === 1 || fn === sn) {
        r = await sha(new Uint8Array([1]), node, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await sha(new Uint8Array([1]), r, node);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) return { ok: false, why: 'the audit path is too short' };
    return hex(r) === p.rootHash ? { ok: true } : { ok: false, why: 'the recomputed root differs from the checkpoint root' };
  }

  function showError(error) {
    document.body.dataset.error = error.message;
    $('entries-count').textContent = `(error: ${error.message})`;
  }

  async function start() {
    const [logs, facets, tree] = await Promise.all([getJson('api/logs'), getJson('api/facets'), getJson('api/tree')]);
    state.logs = logs;
    renderLogs();
    fillSelect($('f-log'), logs.map((l) => l.id), logPath);
    fillSelect($('f-agent'), facets.agents);
    fillSelect($('f-tool'), facets.tools);
    fillSelect($('f-outcome'), facets.outcomes);
    renderTree(tree);
    for (const id of ['f-log', 'f-agent', 'f-tool', 'f-outcome', 'f-from', 'f-to']) {
      $(id).addEventListener('change', () => loadEntries().catch(showError));
    }
    $('f-clear').addEventListener('click', () => {
      for (const id of ['f-log', 'f-agent', 'f-tool', 'f-outcome', 'f-from', 'f-to']) $(id).value = '';
      loadEntries().catch(showError);
    });
    await loadEntries();
    document.body.dataset.state = 'ready';
  }

  start().catch((error) => { showError(error); document.body.dataset.state = 'error'; });
})();
