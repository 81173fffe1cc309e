// Fleet policies: every version with its approvals, and what is assigned
// where. Read-only: proposing and approving stay with the API and CLI.

import { get, getIfServed } from '../api.js';
import { ago, digest, h, hostLink, section, table, tag } from '../dom.js';

export async function policies() {
  const [versions, assignments, hosts] = await Promise.all([
    getIfServed('/policies'), getIfServed('/assignments'), get('/hosts')]);
  const names = new Map(hosts.map((x) => [x.id, x.name]));
  // A host assignment names the host by id: shown by its name.
  const target = (a) => (a.target_kind === 'host' && names.has(a.target)
    ? hostLink(a.target, names.get(a.target)) : a.target);
  const head = h('header', { class: 'page-head' }, h('h1', null, 'Policies'));
  if (versions === null) {
    return [head, section('Fleet policy', h('p', { class: 'empty' }, 'This server does not keep fleet policies.'))];
  }
  return [
    head,
    section('Versions', table([
      { label: 'Policy', cell: (v) => h('strong', null, v.name) },
      { label: 'Version', class: 'num', cell: (v) => String(v.version) },
      { label: 'Digest', cell: (v) => digest(v.sha256.replace(/^sha256:/, '')) },
      { label: 'Proposed', cell: (v) => [v.proposer, ' ', ago(v.created_at)] },
      { label: 'Approvals', cell: (v) => (v.approvals.length ? v.approvals.map((a) => a.by).join(', ') : h('span', { class: 'muted' }, 'none')) },
      { label: 'State', cell: (v) => (v.approved ? tag('approved', 'ok') : tag('awaiting approval', 'warn')) },
      { label: 'Why', cell: (v) => v.reason },
    ], versions, 'No policy has been proposed yet.', { id: 'policy-versions' })),
    section('Assignments', table([
      { label: 'Target', cell: (a) => [tag(a.target_kind, 'muted'), ' ', target(a)] },
      { label: 'Policy', cell: (a) => `${a.policy} ${a.version == null ? '(latest approved)' : `v${a.version}`}` },
      { label: 'By', cell: (a) => a.assigned_by },
      { label: 'When', cell: (a) => ago(a.assigned_at) },
    ], assignments ?? [], 'Nothing is assigned.', { id: 'assignments' })),
  ];
}
