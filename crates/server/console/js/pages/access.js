// Grants and blocks across the fleet: who may reach which port on demand,
// and which sources each host drops.

import { get } from '../api.js';
import { h, hostLink, section, table, tag, until } from '../dom.js';

export async function access() {
  const [grants, blocks] = await Promise.all([get('/grants'), get('/blocks')]);
  return [
    h('header', { class: 'page-head' },
      h('h1', null, 'Grants & blocks'),
      h('p', { class: 'muted' }, 'What each host\u2019s firewall held at its last push; expired ones are left out.')),
    section(`Grants (${grants.length})`, table([
      { label: 'Host', cell: (g) => hostLink(g.host_id, g.host_name) },
      { label: 'Source', cell: (g) => h('code', null, g.source) },
      { label: 'Port', cell: (g) => `${g.port}/${g.protocol}` },
      { label: 'Expires', cell: (g) => until(g.expires) },
      { label: 'Rule', cell: (g) => g.rule ?? '' },
      { label: 'By', cell: (g) => g.actor ?? '' },
      { label: 'Why', cell: (g) => g.reason ?? '' },
    ], grants, 'No grants are held.', { id: 'grants' })),
    section(`Blocks (${blocks.length})`, table([
      { label: 'Host', cell: (b) => hostLink(b.host_id, b.host_name) },
      { label: 'Source', cell: (b) => h('code', null, b.source) },
      { label: 'Kind', cell: (b) => (b.automatic ? tag('automatic', 'warn') : tag('manual', 'muted')) },
      { label: 'Lifted', cell: (b) => until(b.until) },
      { label: 'By', cell: (b) => b.actor ?? '' },
      { label: 'Why', cell: (b) => b.reason ?? '' },
    ], blocks, 'No blocks are held.', { id: 'blocks' })),
  ];
}
