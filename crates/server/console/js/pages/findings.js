// Findings across the fleet, to triage: filter by severity, code and
// host; the filters live in the fragment's query, so a filtered view can
// be bookmarked or passed on.

import { get } from '../api.js';
import { SEVERITIES, h, hostLink, section, severity, table } from '../dom.js';

function select(name, label, options, value) {
  return h('label', { class: 'filter' }, label,
    h('select', {
      name,
      id: `filter-${name}`,
      onchange: (event) => {
        const query = new URLSearchParams(location.hash.split('?')[1] ?? '');
        if (event.target.value) query.set(name, event.target.value);
        else query.delete(name);
        location.hash = `#/findings?${query}`;
      },
    },
    h('option', { value: '' }, 'all'),
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
}

export async function findings(_rest, query) {
  const all = await get('/findings');
  const wanted = {
    severity: query.get('severity') ?? '',
    code: query.get('code') ?? '',
    host: query.get('host') ?? '',
  };
  const shown = all.filter((f) => (!wanted.severity || f.severity === wanted.severity)
    && (!wanted.code || f.code === wanted.code)
    && (!wanted.host || f.host_id === wanted.host))
    // Gravest first, then by host: what to look at first is at the top.
    .sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity)
      || a.host_name.localeCompare(b.host_name) || (a.port ?? 0) - (b.port ?? 0));
  const codes = [...new Set(all.map((f) => f.code))].sort();
  const hosts = [...new Map(all.map((f) => [f.host_id, f.host_name]))].sort((a, b) => a[1].localeCompare(b[1]));
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, shown.filter((f) => f.severity === s).length]));
  return [
    h('header', { class: 'page-head' },
      h('h1', null, 'Findings'),
      h('p', { class: 'muted' }, `${shown.length} of ${all.length} open finding(s) across the fleet, as of each host's last push`)),
    h('div', { class: 'filters' },
      select('severity', 'Severity', SEVERITIES.map((s) => [s, s]), wanted.severity),
      select('code', 'Code', codes.map((c) => [c, c]), wanted.code),
      select('host', 'Host', hosts, wanted.host),
      h('span', { class: 'sev-counts', id: 'finding-counts' }, SEVERITIES.map((s) =>
        h('span', { class: `sev sev-${s}` }, `${counts[s]} ${s}`)))),
    section('Open findings', table([
      { label: 'Severity', cell: (f) => severity(f.severity) },
      { label: 'Host', cell: (f) => hostLink(f.host_id, f.host_name) },
      { label: 'Code', cell: (f) => h('code', null, f.code) },
      { label: 'Port', class: 'num', cell: (f) => (f.port == null ? '–' : String(f.port)) },
      { label: 'Message', cell: (f) => f.message },
    ], shown, 'No findings match.', { id: 'findings' })),
  ];
}
