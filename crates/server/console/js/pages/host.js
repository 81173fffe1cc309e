// One host: its listeners, findings, ports' lifecycle, drift, grants and
// blocks, ledger checkpoints, and fleet policy, as of its last push.

import { get, getIfServed } from '../api.js';
import { ago, digest, exposed, h, section, severity, table, tag, until } from '../dom.js';
import { hostState, severityCounts } from './overview.js';

function policyStatus(policy) {
  if (!policy) return null;
  const assigned = policy.assigned
    ? `${policy.assigned.name} v${policy.assigned.version}` : 'none';
  const applied = policy.applied;
  return section('Fleet policy', h('dl', { class: 'facts', id: 'host-policy' },
    h('dt', null, 'Assigned'), h('dd', null, assigned),
    h('dt', null, 'Applied'), h('dd', null, applied
      ? [`${applied.name} v${applied.version} `,
        tag(applied.state, applied.state === 'confirmed' || applied.state === 'applied' ? 'ok' : 'bad'),
        applied.generation != null ? ` · generation ${applied.generation}` : '',
        applied.message ? h('span', { class: 'muted' }, ` — ${applied.message}`) : '',
        ' · ', ago(applied.at)]
      : h('span', { class: 'muted' }, 'nothing reported'))));
}

export async function host([id]) {
  const [detail, lifecycle, grants, blocks] = await Promise.all([
    get(`/hosts/${encodeURIComponent(id ?? '')}`),
    get('/lifecycle'),
    getIfServed('/grants'),
    getIfServed('/blocks'),
  ]);
  const mine = (rows) => (rows ?? []).filter((r) => r.host_id === detail.id);
  return [
    h('header', { class: 'page-head' },
      h('p', { class: 'crumbs' }, h('a', { href: '#/overview' }, 'Fleet'), ' / host'),
      h('h1', { id: 'host-name' }, detail.name),
      h('p', { class: 'muted' }, h('code', null, detail.id), ' · enrolled ', ago(detail.enrolled_at),
        ' · last seen ', ago(detail.last_seen), ' · ', hostState(detail)),
      h('p', null, 'Findings: ', severityCounts(detail.findings_by_severity))),
    h('div', { class: 'grid-2' },
      section('Listeners', table([
        { label: 'Port', class: 'num', cell: (l) => String(l.port) },
        { label: 'Proto', cell: (l) => l.protocol },
        { label: 'Address', cell: (l) => h('code', null, l.address) },
        { label: 'Process', cell: (l) => l.process ?? h('span', { class: 'muted' }, 'unknown') },
        { label: 'Exposure', cell: (l) => (exposed(l) ? tag('exposed', 'warn') : tag('loopback', 'ok')) },
      ], detail.listeners, 'No listeners.', { id: 'listeners' })),
      section('Findings', table([
        { label: 'Severity', cell: (f) => severity(f.severity) },
        { label: 'Code', cell: (f) => h('code', null, f.code) },
        { label: 'Port', class: 'num', cell: (f) => (f.port == null ? '–' : String(f.port)) },
        { label: 'Message', cell: (f) => f.message },
      ], detail.findings, 'No findings.', { id: 'host-findings' }))),
    policyStatus(detail.policy),
    h('div', { class: 'grid-2' },
      section('Lifecycle', table([
        { label: 'Port', class: 'num', cell: (p) => `${p.port}/${p.protocol}` },
        { label: 'State', cell: (p) => tag(p.state, p.state === 'active' ? 'ok' : p.state === 'dormant' ? 'warn' : 'bad') },
        { label: 'Last used', cell: (p) => ago(p.last_used) },
      ], mine(lifecycle), 'No lifecycle plan pushed yet.')),
      section('Drift', table([
        { label: 'When', cell: (d) => ago(d.at) },
        { label: 'What', cell: (d) => d.kind.replaceAll('_', ' ') },
        { label: 'Listener', cell: (d) => h('code', null, `${d.address} ${d.port}/${d.protocol}`) },
        { label: 'Process', cell: (d) => d.process ?? '' },
      ], detail.drift, 'No drift recorded.', { id: 'drift' }))),
    h('div', { class: 'grid-2' },
      section('Grants', table([
        { label: 'Source', cell: (g) => h('code', null, g.source) },
        { label: 'Port', cell: (g) => `${g.port}/${g.protocol}` },
        { label: 'Expires', cell: (g) => until(g.expires) },
        { label: 'By', cell: (g) => g.actor ?? '' },
      ], mine(grants), 'No grants held.')),
      section('Blocks', table([
        { label: 'Source', cell: (b) => h('code', null, b.source) },
        { label: 'Kind', cell: (b) => (b.automatic ? 'automatic' : 'manual') },
        { label: 'Lifted', cell: (b) => until(b.until) },
        { label: 'Why', cell: (b) => b.reason ?? '' },
      ], mine(blocks), 'No blocks held.'))),
    section('Ledger checkpoints',
      h('p', null, detail.ledger_inconsistent
        ? tag('this host\u2019s ledger went backwards or forked: someone should look', 'bad')
        : tag('every checkpoint follows the one before', 'ok')),
      table([
        { label: 'Index', class: 'num', cell: (c) => String(c.index) },
        { label: 'Head', cell: (c) => digest(c.head) },
        { label: 'Received', cell: (c) => ago(c.received_at) },
        { label: 'Consistent', cell: (c) => (c.consistent ? tag('yes', 'ok') : tag('no', 'bad')) },
      ], detail.checkpoints, 'No checkpoints pushed yet.', { id: 'checkpoints' })),
  ];
}
