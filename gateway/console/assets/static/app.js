// Leadgate console: a small single-page app over /ui/api. No framework and
// no build step; every value from the server is written with textContent
// (through h()), never as HTML.
'use strict';
(function () {
  const main = document.getElementById('main');
  const toast = document.getElementById('toast');
  let meta = { sources: [], destinations: [] };
  let samples = [];
  let timer = null;
  let firstRoute = true;
  // The events page remembers its last search while the console is open.
  let lastSearch = { by: 'auto', q: '' };

  // h builds an element: h('a', {href: '#'}, 'text', child, ...).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  async function api(method, path, body) {
    const opts = { method, headers: { 'X-Leadgate-Console': '1' }, credentials: 'same-origin' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const res = await fetch('/ui/api' + path, opts);
    if (res.status === 401) {
      location.reload(); // the sign-in form again
      throw new Error('signed out');
    }
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const details = data && data.details && data.details.length ? ' (' + data.details.join('; ') + ')' : '';
      throw new Error(((data && data.error) || res.statusText) + details);
    }
    return data;
  }

  function say(text) {
    toast.textContent = text;
    clearTimeout(say.t);
    say.t = setTimeout(() => { toast.textContent = ''; }, 6000);
  }

  function when(s) {
    if (!s) return '';
    const d = new Date(s);
    if (isNaN(d)) return s;
    return d.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }

  function rate(n) { return (Math.round(n * 10) / 10).toFixed(1); }

  // table builds a captioned table in a keyboard-scrollable wrapper.
  function table(label, head, rows, numeric) {
    const num = new Set(numeric || []);
    return h('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: 0 },
      h('table', {},
        h('thead', {}, h('tr', {}, head.map((c, i) => h('th', { scope: 'col', class: num.has(i) ? 'num' : null }, c)))),
        h('tbody', {}, rows.map(r => h('tr', {}, r.map((c, i) => h('td', { class: num.has(i) ? 'num' : null }, c)))))));
  }

  // put appends to main, flattening lists and dropping empty parts as h does.
  function put(...kids) {
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      main.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
  }

  function badge(text, kind) { return h('span', { class: 'badge ' + kind }, text); }

  function statusBadge(status) {
    const kind = { delivered: 'ok', dead: 'bad', retrying: 'warn', pending: 'info' }[status] || 'info';
    return badge(status, kind);
  }

  const dialog = document.getElementById('confirm');
  function confirmDialog(title, text, ok) {
    return new Promise(resolve => {
      document.getElementById('confirm-title').textContent = title;
      document.getElementById('confirm-text').textContent = text;
      document.getElementById('confirm-ok').textContent = ok;
      dialog.returnValue = '';
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.showModal();
    });
  }

  // ---------------------------------------------------------------- overview

  // A chart is an SVG drawn here, no library: one polyline of the per-minute
  // values, oldest left, with the peak marked; its aria-label and <title>
  // say in words what it shows.
  const SVG = 'http://www.w3.org/2000/svg';
  function svgEl(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const kid of kids) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return el;
  }

  function hhmm(d) { return d.toISOString().slice(11, 16); }

  function num(n) { return Number.isInteger(n) ? String(n) : (Math.round(n * 100) / 100).toString(); }

  // secs writes a duration in seconds the way a person reads it.
  function secs(n) {
    if (n < 1) return Math.round(n * 1000) + ' ms';
    if (n < 120) return (Math.round(n * 10) / 10) + ' s';
    return (Math.round(n / 6) / 10) + ' min';
  }

  // chart draws values (one a minute from start) as a small line chart;
  // what says what they count, fmt how to write a value, kind ('warn',
  // 'bad') colours it.
  function chart(what, values, start, fmt, kind) {
    const W = 120, H = 32, pad = 3;
    const n = values.length;
    const max = Math.max(0, ...values);
    const peak = values.indexOf(max);
    const at = i => new Date(new Date(start).getTime() + i * 60000);
    const x = i => (n > 1 ? i * (W - 2 * pad) / (n - 1) : 0) + pad;
    const y = v => H - pad - (max > 0 ? v / max * (H - 2 * pad) : 0);
    const pts = values.map((v, i) => x(i).toFixed(1) + ',' + y(v).toFixed(1)).join(' ');
    fmt = fmt || num;
    const label = what + ', last ' + n + ' minutes (' + hhmm(at(0)) + '–' + hhmm(at(n - 1)) + ' UTC): ' +
      (max > 0 ? 'peak ' + fmt(max) + ' at ' + hhmm(at(peak)) + ', min ' + fmt(Math.min(...values)) + ', this minute ' + fmt(values[n - 1])
        : 'none');
    const svg = svgEl('svg', { class: 'chart' + (kind ? ' ' + kind : ''), role: 'img', 'aria-label': label, viewBox: '0 0 ' + W + ' ' + H,
      width: W, height: H, 'data-peak': max > 0 ? peak : -1 },
    svgEl('title', {}, label),
    svgEl('line', { class: 'base', x1: pad, x2: W - pad, y1: H - pad, y2: H - pad }),
    svgEl('polygon', { class: 'area', points: x(0).toFixed(1) + ',' + (H - pad) + ' ' + pts + ' ' + x(n - 1).toFixed(1) + ',' + (H - pad) }),
    svgEl('polyline', { class: 'line', points: pts }));
    if (max > 0) svg.append(svgEl('circle', { class: 'peak', cx: x(peak).toFixed(1), cy: y(max).toFixed(1), r: 2.5 }));
    return svg;
  }

  // withChart is a table cell's number with the chart that explains it.
  function withChart(text, chartEl) {
    return h('span', { class: 'with-chart' }, h('span', { class: 'value' }, text), chartEl);
  }

  async function overview() {
    put(h('h1', {}, 'Overview'),
      h('p', { class: 'muted', id: 'ov-window' }, ''));
    const box = h('div', { id: 'ov' });
    put(box);
    const draw = async () => {
      const [d, hist] = await Promise.all([api('GET', '/overview'), api('GET', '/overview/history')]);
      const win = d.window_seconds >= 10
        ? 'Rates are per minute over the last ' + Math.round(d.window_seconds) + ' s. Updated ' + when(d.at) + '; refreshes every 5 s.'
        : 'Rates appear once the gateway has been sampled for a few seconds. Updated ' + when(d.at) + '; refreshes every 5 s.';
      document.getElementById('ov-window').textContent = win + ' Charts: per minute over the last hour as this replica counted it, oldest left; the dot marks the peak.';
      const srcHist = Object.fromEntries(hist.sources.map(x => [x.name, x]));
      const dstHist = Object.fromEntries(hist.destinations.map(x => [x.name, x]));
      const none = new Array(hist.minutes).fill(0);
      const q = d.queue || {};
      const lag = hist.delivery_lag_seconds;
      const cards = h('dl', { class: 'cards', 'aria-label': 'Queue depth' },
        [['Due now', q.due], ['Scheduled', q.scheduled], ['In flight', q.in_flight], ['Dead letters', q.dead]]
          .map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, String(v || 0)))),
        h('div', { class: 'lag' }, h('dt', {}, 'Delivery lag'),
          h('dd', {}, secs(lag[lag.length - 1])),
          h('dd', { class: 'chart-dd' }, chart('Mean delivery lag per minute, all destinations', lag, hist.start, secs))));
      const sources = table('Sources', ['Source', 'Requests/min', 'Accepted/min', 'Rejected/min', 'Events/min'],
        d.sources.map(x => {
          const hs = srcHist[x.name] || { requests: none, accepted: none };
          return [x.name,
            withChart(rate(x.requests_per_min), chart(x.name + ' requests per minute', hs.requests, hist.start)),
            withChart(rate(x.accepted_per_min), chart(x.name + ' accepted requests per minute', hs.accepted, hist.start)),
            rate(x.rejected_per_min), rate(x.events_per_min)];
        }),
        [1, 2, 3, 4]);
      const dests = table('Destinations', ['Destination', 'State', 'Delivered/min', 'Retries/min', 'Dead/min', 'Dead letters'],
        d.destinations.map(x => {
          const hd = dstHist[x.name] || { delivered: none, retried: none, dead: none };
          return [
            x.name,
            !x.enabled ? badge('disabled', 'bad') : x.failing ? badge('failing', 'warn') : badge('ok', 'ok'),
            withChart(rate(x.delivered_per_min), chart(x.name + ' deliveries per minute', hd.delivered, hist.start)),
            withChart(rate(x.retried_per_min), chart(x.name + ' retries per minute', hd.retried, hist.start, null, 'warn')),
            withChart(rate(x.dead_per_min), chart(x.name + ' dead letters per minute', hd.dead, hist.start, null, 'bad')),
            x.dead_letters > 0
              ? h('a', { href: '#/dead-letters/' + encodeURIComponent(x.name) }, String(x.dead_letters) + (x.dead_letters_more ? '+' : ''))
              : '0',
          ];
        }), [2, 3, 4, 5]);
      box.replaceChildren(
        h('h2', {}, 'Queue'), cards,
        h('h2', {}, 'Sources'), d.sources.length ? sources : h('p', {}, 'No source is loaded.'),
        h('h2', {}, 'Destinations'), d.destinations.length ? dests : h('p', {}, 'No destination is configured.'));
    };
    await draw();
    timer = setInterval(() => draw().catch(e => say('Overview not refreshed: ' + e.message)), 5000);
  }

  // -------------------------------------------------------------- playground

  async function playground() {
    if (!samples.length) {
      const res = await fetch('/ui/assets/samples.json', { credentials: 'same-origin' });
      samples = await res.json();
    }
    const source = h('select', { id: 'pg-source', name: 'source' },
      meta.sources.map(s => h('option', { value: s }, s)));
    const body = h('textarea', { id: 'pg-body', name: 'body', class: 'code', rows: 14, spellcheck: 'false', 'aria-describedby': 'pg-body-hint' });
    const query = h('input', { id: 'pg-query', name: 'query', type: 'text', spellcheck: 'false', placeholder: 'customUserId=user123456' });
    const headers = h('textarea', { id: 'pg-headers', name: 'headers', class: 'code', rows: 3, spellcheck: 'false', 'aria-describedby': 'pg-headers-hint' });
    headers.value = 'Content-Type: application/json';
    const mapping = h('textarea', { id: 'pg-mapping', name: 'mapping', class: 'code', rows: 8, spellcheck: 'false', 'aria-describedby': 'pg-mapping-hint' });
    const summary = h('p', { id: 'pg-summary', role: 'status', 'aria-live': 'polite', class: 'muted' }, 'Paste a payload or load a sample.');
    const result = h('div', { id: 'pg-result' });

    const run = async () => {
      if (!body.value.trim()) {
        summary.textContent = 'Paste a payload or load a sample.';
        result.replaceChildren();
        return;
      }
      const hdrs = {};
      for (const line of headers.value.split('\n')) {
        const i = line.indexOf(':');
        if (i > 0) hdrs[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      try {
        const d = await api('POST', '/preview', { source: source.value, mapping: mapping.value, query: query.value, headers: hdrs, body: body.value });
        renderPreview(d, summary, result);
      } catch (e) {
        summary.textContent = 'Preview failed: ' + e.message;
      }
    };
    let debounce = null;
    const soon = () => { clearTimeout(debounce); debounce = setTimeout(run, 250); };
    for (const el of [body, query, headers, mapping]) el.addEventListener('input', soon);
    source.addEventListener('change', run);

    const sampleButtons = samples.map(s => h('button', {
      type: 'button', class: 'small', 'data-sample': s.id,
      onclick: () => {
        source.value = s.source; body.value = s.body; query.value = s.query; headers.value = s.headers; mapping.value = '';
        run();
      },
    }, s.name));

    put(
      h('h1', {}, 'Mapping playground'),
      h('p', { class: 'muted' }, 'See what a payload becomes, as ', h('code', {}, 'gateway map'), ' prints it: the events a first-seen lead would produce and which path filled each field. Nothing is stored or delivered.'),
      h('div', { class: 'cols' },
        h('form', { id: 'pg-form', onsubmit: e => { e.preventDefault(); run(); } },
          h('fieldset', { class: 'panel' }, h('legend', {}, 'Load a sample'), h('div', { class: 'row' }, sampleButtons)),
          h('div', { class: 'field' }, h('label', { for: 'pg-source' }, 'Source'), source),
          h('div', { class: 'field' }, h('label', { for: 'pg-body' }, 'Payload'),
            h('p', { class: 'hint', id: 'pg-body-hint' }, 'JSON, or a form body when Content-Type says so.'), body),
          h('div', { class: 'field' }, h('label', { for: 'pg-query' }, 'Query string'), query),
          h('div', { class: 'field' }, h('label', { for: 'pg-headers' }, 'Headers'),
            h('p', { class: 'hint', id: 'pg-headers-hint' }, 'One "Name: value" a line.'), headers),
          h('div', { class: 'field' }, h('label', { for: 'pg-mapping' }, 'Mapping YAML (optional)'),
            h('p', { class: 'hint', id: 'pg-mapping-hint' }, 'Paste a mapping to try it in place of the source\'s file; its errors show with their line.'), mapping),
          h('button', { type: 'submit', class: 'primary' }, 'Preview')),
        h('section', { 'aria-labelledby': 'pg-result-title' },
          h('h2', { id: 'pg-result-title' }, 'Result'), summary, result)));
  }

  function leadValue(lead, field) {
    let v = lead;
    for (const part of field.split('.')) {
      if (v === null || v === undefined) return '';
      v = v[part];
    }
    if (v === undefined || v === null) return '';
    if (Array.isArray(v)) return v.length + (v.length === 1 ? ' item' : ' items') + ' (see the canonical event)';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  function renderPreview(d, summary, result) {
    if (!d.ok) {
      summary.textContent = d.problems.length + (d.problems.length === 1 ? ' problem' : ' problems') + '.';
      result.replaceChildren(
        h('h3', {}, 'Problems'),
        h('ul', { class: 'problems alert', id: 'pg-problems' }, d.problems.map(p =>
          h('li', {}, p.line ? 'Line ' + p.line + ': ' + p.message : p.field ? p.field + ': ' + p.message : p.message))));
      return;
    }
    const r = d.result;
    const lead = r.events.length ? r.events[0].lead : {};
    const filled = r.trace.filter(t => t.from !== 'empty').length;
    const empty = r.trace.length - filled;
    summary.textContent = r.events.length + (r.events.length === 1 ? ' event, ' : ' events, ') + filled + ' mapped fields' +
      (empty ? ', ' + empty + ' empty.' : '.');
    result.replaceChildren(
      h('h3', {}, 'Events'),
      h('ul', { class: 'event-list', id: 'pg-events' }, r.events.map(e => h('li', {}, badge(e.event, 'info')))),
      h('p', {}, 'Identity: ', r.identity.map((k, i) => [i ? ', ' : '', h('code', {}, k)])),
      ...(r.respond ? [h('p', { id: 'pg-respond' }, 'Answer: ', r.respond.says)] : []),
      h('h3', {}, 'Fields and where they came from'),
      table('Mapped fields', ['Field', 'Value', 'Path', 'From'],
        r.trace.map(t => [h('code', {}, t.field), leadValue(lead, t.field),
          t.path ? h('code', {}, t.path) : t.tried ? ['tried ', t.tried.map((p, i) => [i ? ', ' : '', h('code', {}, p)])] : '', t.from])),
      h('h3', {}, 'Canonical event'),
      h('pre', { tabindex: 0, 'aria-label': 'Canonical event JSON' }, JSON.stringify(r.events[0] || {}, null, 2)));
  }

  // ------------------------------------------------------------------ events

  function searchKind(q) {
    if (/^evt_/.test(q)) return 'event_id';
    if (q.includes('@')) return 'email';
    if (/^[0-9a-f]{24}$/i.test(q)) return 'lead_id';
    if (/^\+?[\d\s().-]{6,}$/.test(q)) return 'phone';
    return 'lead_id';
  }

  async function events(args) {
    if (args.length) return eventDetail(args[0]);
    const by = h('select', { id: 'ev-by', name: 'by' },
      [['auto', 'Anything (guess)'], ['email', 'Email'], ['phone', 'Phone'], ['lead_id', 'Lead id'], ['event_id', 'Event id']]
        .map(([v, t]) => h('option', { value: v, selected: v === lastSearch.by }, t)));
    const q = h('input', { id: 'ev-q', name: 'q', type: 'search', spellcheck: 'false', placeholder: 'johndoe@example.com' });
    q.value = lastSearch.q;
    const out = h('div', { id: 'ev-results' });
    const status = h('p', { id: 'ev-status', role: 'status', class: 'muted' });
    let items = [];

    const load = async (cursor) => {
      const params = new URLSearchParams();
      const text = q.value.trim();
      if (text) params.set(by.value === 'auto' ? searchKind(text) : by.value, text);
      if (cursor) params.set('cursor', cursor);
      lastSearch = { by: by.value, q: q.value };
      const d = await api('GET', '/events?' + params.toString());
      items = cursor ? items.concat(d.items) : d.items;
      status.textContent = items.length ? items.length + (items.length === 1 ? ' event' : ' events') + (text ? ' found.' : ', newest first.') : (text ? 'No event matches.' : 'No event yet.');
      const rows = items.map(e => [
        when(e.received_at),
        h('a', { href: '#/events/' + encodeURIComponent(e.id), class: 'mono' }, e.id),
        e.event, e.source,
        h('span', { class: 'mono' }, e.lead_id),
        (e.lead && (e.lead.email || e.lead.phone)) || '',
      ]);
      out.replaceChildren(
        items.length ? table('Events', ['Received', 'Event id', 'Event', 'Source', 'Lead id', 'Email or phone'], rows) : '',
        d.next ? h('p', {}, h('button', { type: 'button', id: 'ev-more', onclick: () => load(d.next).catch(e => say(e.message)) }, 'Load older events')) : '');
    };

    put(
      h('h1', {}, 'Events'),
      h('form', { class: 'row', role: 'search', onsubmit: e => { e.preventDefault(); load().catch(err => say(err.message)); } },
        h('div', { class: 'field' }, h('label', { for: 'ev-by' }, 'Search by'), by),
        h('div', { class: 'field grow' }, h('label', { for: 'ev-q' }, 'Email, phone, lead id or event id'), q),
        h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary', id: 'ev-search' }, 'Search'))),
      exportLeads(),
      status, out);
    await load();
  }

  // exportLeads is the Events page's lead export: the leads last seen in
  // a window, of one source or all, as the CSV of GET /admin/leads.csv,
  // through a plain link so the browser saves it to disk as it arrives.
  // The window is typed in the browser's own time zone and sent in UTC.
  // The search above narrows the list of events, not the export.
  function exportLeads() {
    const since = h('input', { id: 'ex-since', name: 'since', type: 'datetime-local', step: 1, 'aria-describedby': 'ex-hint' });
    const until = h('input', { id: 'ex-until', name: 'until', type: 'datetime-local', step: 1, 'aria-describedby': 'ex-hint' });
    const source = h('select', { id: 'ex-source', name: 'source' },
      h('option', { value: '' }, 'All sources'),
      meta.sources.map(n => h('option', { value: n }, n)));
    const link = h('a', { id: 'ev-export', class: 'button', href: '/ui/export/leads.csv' }, 'Export leads (CSV)');
    const utc = v => {
      const d = v ? new Date(v) : null;
      return d && !isNaN(d) ? d.toISOString() : '';
    };
    const update = () => {
      const p = new URLSearchParams();
      if (utc(since.value)) p.set('since', utc(since.value));
      if (utc(until.value)) p.set('until', utc(until.value));
      if (source.value) p.set('source', source.value);
      const qs = p.toString();
      link.href = '/ui/export/leads.csv' + (qs ? '?' + qs : '');
    };
    for (const el of [since, until, source]) {
      el.addEventListener('input', update);
      el.addEventListener('change', update);
    }
    link.addEventListener('click', e => {
      const s = utc(since.value), u = utc(until.value);
      if (s && u && u <= s) {
        e.preventDefault();
        say('Until must be after since.');
      }
    });
    return h('section', { class: 'panel export', 'aria-labelledby': 'ex-title' },
      h('h2', { id: 'ex-title' }, 'Export leads'),
      h('p', { class: 'hint', id: 'ex-hint' }, 'The leads last seen in this window (your local time; leave a side empty to leave it open), one row each, as a CSV file a spreadsheet opens.'),
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'ex-since' }, 'Last seen from'), since),
        h('div', { class: 'field' }, h('label', { for: 'ex-until' }, 'Until'), until),
        h('div', { class: 'field' }, h('label', { for: 'ex-source' }, 'Source'), source),
        h('div', { class: 'field' }, link)));
  }

  async function eventDetail(id) {
    const d = await api('GET', '/events/' + encodeURIComponent(id));
    const e = d.event;
    put(
      h('p', {}, h('a', { href: '#/events' }, '← Back to events')),
      h('h1', {}, 'Event ', h('span', { class: 'mono' }, e.id)),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Event'), h('dd', {}, e.event),
        h('dt', {}, 'Source'), h('dd', {}, e.source),
        h('dt', {}, 'Lead id'), h('dd', { class: 'mono' }, e.lead_id),
        h('dt', {}, 'Received'), h('dd', {}, when(e.received_at)),
        e.changed && e.changed.length ? [h('dt', {}, 'Changed'), h('dd', {}, e.changed.join(', '))] : null),
      h('h2', {}, 'Deliveries'),
      d.deliveries.length ? null : h('p', {}, 'No destination wanted this event.'),
      d.deliveries.map(dl => h('section', { class: 'delivery', 'aria-label': 'Delivery to ' + dl.destination },
        h('h3', {}, dl.destination, ' ', statusBadge(dl.status)),
        dl.config ? h('p', { class: 'muted' },
          dl.config.method + ' ' + dl.config.url + ' · ' + dl.config.format +
          (dl.config.signed ? ' · signed' : '') +
          (dl.config.headers.length ? ' · headers ' + dl.config.headers.join(', ') + ' (values hidden)' : '') +
          (dl.config.enabled ? '' : ' · disabled')) : null,
        dl.attempts.length
          ? table('Attempts to ' + dl.destination, ['#', 'Time', 'Status code', 'Duration', 'Error'],
            dl.attempts.map((a, i) => [String(i + 1), when(a.at), a.code ? String(a.code) : '—', a.duration_ms + ' ms', a.error || '']), [0, 2, 3])
          : h('p', {}, 'No attempt yet.'),
        dl.status === 'dead' ? h('p', {}, h('a', { href: '#/dead-letters/' + encodeURIComponent(dl.destination) }, 'Dead letters of ' + dl.destination)) : null)),
      h('h2', {}, 'Canonical body'),
      h('p', { class: 'hint' }, 'The event as stored. Signatures, the destinations\' secrets and custom header values are not shown.'),
      h('pre', { tabindex: 0, 'aria-label': 'Canonical event JSON', id: 'ev-body' }, JSON.stringify(e, null, 2)));
  }

  // ------------------------------------------------------------ dead letters

  async function deadLetters(args) {
    const chosen = args[0] || '';
    const dest = h('select', { id: 'dl-dest', name: 'destination' },
      h('option', { value: '' }, 'All destinations'),
      meta.destinations.map(n => h('option', { value: n, selected: n === chosen }, n)));
    const notice = h('div', { id: 'dl-notice', role: 'status' });
    const out = h('div', { id: 'dl-results' });
    const replayAll = h('button', { type: 'button', class: 'danger', id: 'dl-replay-all', disabled: !chosen },
      chosen ? 'Replay all of ' + chosen : 'Replay all (choose a destination)');
    let items = [];

    const show = (text, ok) => {
      notice.replaceChildren(h('p', { class: ok ? 'notice' : 'alert' }, text));
      say(text);
    };

    const load = async (cursor) => {
      const params = new URLSearchParams();
      if (dest.value) params.set('destination', dest.value);
      if (cursor) params.set('cursor', cursor);
      const d = await api('GET', '/dead-letters?' + params.toString());
      items = cursor ? items.concat(d.items) : d.items;
      const rows = items.map(x => [
        when(x.dead_at), x.destination,
        h('a', { href: '#/events/' + encodeURIComponent(x.event_id), class: 'mono' }, x.event_id),
        String(x.attempts),
        h('span', { class: 'wrap' }, x.last_error),
        h('button', {
          type: 'button', class: 'small', 'data-replay': x.id, 'aria-label': 'Replay the dead letter of ' + x.event_id + ' to ' + x.destination,
          onclick: async () => {
            if (!await confirmDialog('Replay this dead letter?', 'Event ' + x.event_id + ' is queued again for ' + x.destination + ' with a fresh retry schedule.', 'Replay')) return;
            try {
              const r = await api('POST', '/dead-letters/' + encodeURIComponent(x.id) + '/replay');
              show('Replayed ' + r.replayed + ' dead letter of ' + x.destination + '.', true);
              await load();
            } catch (e) { show('Replay failed: ' + e.message, false); }
          },
        }, 'Replay'),
      ]);
      out.replaceChildren(
        items.length ? table('Dead letters', ['Dead at', 'Destination', 'Event', 'Attempts', 'Last error', 'Action'], rows, [3])
          : h('p', { id: 'dl-empty' }, 'No dead letters' + (dest.value ? ' for ' + dest.value : '') + '.'),
        d.next ? h('p', {}, h('button', { type: 'button', onclick: () => load(d.next).catch(e => say(e.message)) }, 'Load more')) : '');
    };

    dest.addEventListener('change', () => { location.hash = '#/dead-letters/' + encodeURIComponent(dest.value); });
    replayAll.addEventListener('click', async () => {
      const name = dest.value;
      if (!name) return;
      if (!await confirmDialog('Replay every dead letter of ' + name + '?', 'Each is queued again for ' + name + ' with a fresh retry schedule.', 'Replay all')) return;
      try {
        const r = await api('POST', '/dead-letters/replay?destination=' + encodeURIComponent(name));
        show('Replayed ' + r.replayed + ' dead ' + (r.replayed === 1 ? 'letter' : 'letters') + ' of ' + name + '.', true);
        await load();
      } catch (e) { show('Replay failed: ' + e.message, false); }
    });

    put(
      h('h1', {}, 'Dead letters'),
      h('p', { class: 'muted' }, 'Deliveries that will not be retried until replayed. A replay keeps the event id, so receivers can drop repeats.'),
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'dl-dest' }, 'Destination'), dest),
        h('div', { class: 'field' }, replayAll)),
      notice, out);
    await load();
  }

  // ----------------------------------------------------------- subscriptions

  async function subscriptions() {
    const out = h('div', { id: 'sub-results' });
    const notice = h('div', { id: 'sub-notice', role: 'status' });
    const load = async () => {
      const d = await api('GET', '/subscriptions');
      const rows = d.items.map(s => [
        h('span', { class: 'mono' }, s.id), s.event, h('span', { class: 'wrap' }, s.url), s.method, s.content_type,
        s.description, when(s.created_at),
        h('button', {
          type: 'button', class: 'small danger', 'data-delete': s.id, 'aria-label': 'Delete subscription ' + s.id,
          onclick: async () => {
            if (!await confirmDialog('Delete this subscription?', s.event + ' to ' + s.url + ' stops at once on every replica.', 'Delete')) return;
            try {
              await api('DELETE', '/subscriptions/' + encodeURIComponent(s.id));
              notice.replaceChildren(h('p', { class: 'notice' }, 'Deleted subscription ' + s.id + '.'));
              await load();
            } catch (e) { notice.replaceChildren(h('p', { class: 'alert' }, 'Delete failed: ' + e.message)); }
          },
        }, 'Delete'),
      ]);
      out.replaceChildren(d.items.length
        ? table('Subscriptions', ['Id', 'Event', 'URL', 'Method', 'Content type', 'Description', 'Created', 'Action'], rows)
        : h('p', {}, 'No subscription yet. Tools create them with POST /v2/Webhook.svc/Create.'));
    };
    put(
      h('h1', {}, 'Subscriptions'),
      h('p', { class: 'muted' }, 'Made through the LeadSquared-compatible API; each acts as a destination named lsq-<id>. URLs are shown as scheme, host and first path segment only (the rest may hold a secret), custom headers not at all.'),
      notice, out);
    await load();
  }

  // ------------------------------------------------------------------ router

  const pages = { overview, playground, events, 'dead-letters': deadLetters, subscriptions };

  async function route() {
    // Only "#/…" hashes are pages. Any other (the skip link's "#main", an
    // in-page anchor) leaves the page as it is, except on the first load.
    if (!firstRoute && location.hash !== '' && !location.hash.startsWith('#/')) return;
    clearInterval(timer);
    timer = null;
    const path = location.hash.replace(/^#\/?/, '') || 'overview';
    const [page, ...rest] = path.split('/');
    const fn = pages[page] || overview;
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.page === (pages[page] ? page : 'overview')) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    main.replaceChildren();
    try {
      await fn(rest.filter(Boolean).map(decodeURIComponent));
    } catch (e) {
      put(h('p', { class: 'alert', role: 'alert' }, 'Could not load this page: ' + e.message));
    }
    const title = main.querySelector('h1');
    document.title = (title ? title.textContent + ' · ' : '') + 'Leadgate console';
    if (!firstRoute && title) {
      title.tabIndex = -1; // move focus for keyboard and screen-reader users
      title.focus();
    }
    firstRoute = false;
    main.dataset.ready = page;
  }

  document.getElementById('signout').addEventListener('click', async () => {
    try { await api('POST', '/logout'); } finally { location.replace('/ui/'); }
  });

  // The skip link moves focus into the page without touching the address,
  // so the page's own "#/…" stays bookmarkable.
  document.querySelector('a.skip').addEventListener('click', e => {
    e.preventDefault();
    main.focus();
  });
  window.addEventListener('hashchange', route);
  api('GET', '/meta').then(m => { meta = m; }).catch(e => say(e.message)).finally(route);
})();
