// The fleet at a glance: how many hosts, what they expose, their findings
// by severity, and which need a look.

import { get } from '../api.js';
import { SEVERITIES, ago, exposed, h, hostLink, section, severity, table, tag } from '../dom.js';

/** The findings of `counts` as one label per severity that has any. */
export function severityCounts(counts) {
  const present = SEVERITIES.filter((s) => counts[s] > 0);
  if (present.length === 0) return tag('none', 'ok');
  return h('span', { class: 'sev-counts' }, present.map((s) =>
    h('span', { class: `sev sev-${s}`, title: `${counts[s]} ${s}` }, `${counts[s]} ${s}`)));
}

/** A host's standing in words. */
export function hostState(host) {
  const tags = [];
  if (host.revoked) tags.push(tag('revoked', 'muted'));
  if (host.ledger_inconsistent) tags.push(tag('ledger inconsistent', 'bad'));
  if (!host.last_seen) tags.push(tag('never pushed', 'warn'));
  return tags.length ? tags : tag('ok', 'ok');
}

function card(label, value, detail, kind) {
  return h('div', { class: `card ${kind ?? ''}` },
    h('div', { class: 'card-label' }, label),
    h('div', { class: 'card-value' }, value),
    h('div', { class: 'card-detail' }, detail));
}

export async function overview() {
  const hosts = await get('/hosts');
  const totals = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
  let exposedCount = 0;
  for (const host of hosts) {
    for (const s of SEVERITIES) totals[s] += host.findings_by_severity[s];
    exposedCount += host.listeners.filter(exposed).length;
  }
  const live = hosts.filter((x) => !x.revoked).length;
  const flagged = hosts.filter((x) => x.ledger_inconsistent).length;
  const grave = totals.critical + totals.high;
  return [
    h('header', { class: 'page-head' },
      h('h1', null, 'Fleet'),
      h('p', { class: 'muted' }, `${hosts.length} host(s) enrolled`)),
    h('div', { class: 'cards' },
      card('Hosts', String(live), `${hosts.length - live} revoked`),
      card('Exposed listeners', String(exposedCount), 'on addresses other than loopback',
        exposedCount ? 'card-warn' : ''),
      card('Critical & high findings', String(grave),
        h('span', { id: 'severity-totals', class: 'sev-counts' }, SEVERITIES.map((s) =>
          h('a', { href: `#/findings?severity=${s}`, class: `sev sev-${s}` }, `${totals[s]} ${s}`))),
        grave ? 'card-bad' : ''),
      card('Ledgers', flagged ? `${flagged} flagged` : 'consistent',
        'checkpoints checked on arrival', flagged ? 'card-bad' : '')),
    section('Hosts', table([
      { label: 'Host', cell: (x) => hostLink(x.id, x.name) },
      { label: 'Last seen', cell: (x) => ago(x.last_seen) },
      { label: 'Listeners', class: 'num', cell: (x) => String(x.listeners.length) },
      {
        label: 'Exposed',
        cell: (x) => {
          const open = x.listeners.filter(exposed);
          return open.length
            ? h('span', { class: 'ports' }, open.map((l) =>
              h('span', { class: 'port', title: `${l.address} ${l.process ?? ''}` },
                `${l.port}/${l.protocol}`)))
            : h('span', { class: 'muted' }, 'none');
        },
      },
      { label: 'Findings', cell: (x) => severityCounts(x.findings_by_severity) },
      { label: 'State', cell: hostState },
    ], hosts, 'No host has enrolled yet: start an agent with --server and an enroll token.',
    { id: 'hosts' })),
  ];
}
