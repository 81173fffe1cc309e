// The server's own ledger, checked here rather than taken on trust: each
// entry's leaf hash is recomputed from its line, its inclusion proof is
// walked up to the root with WebCrypto's SHA-256, and that root is
// compared with the signed checkpoint's. Below, each host's ledger as the
// server saw it grow.

import { get, getIfServed } from '../api.js';
import { ago, digest, h, hostLink, section, table, tag } from '../dom.js';
import * as merkle from '../merkle.js';

/** How many of the newest entries the page shows and checks. */
const SHOWN = 50;

/** Whether entry `e` (index, line, leaf_hash) is in the tree the
 *  checkpoint `cp` commits to: 'verified', or why not. */
async function check(e, cp) {
  const leaf = await merkle.leafHash(e.line);
  if (merkle.toHex(leaf) !== e.leaf_hash) return 'its line does not hash to its leaf';
  const proof = await get(`/ledger/proof?index=${e.index}&size=${cp.size}`);
  if (!merkle.equal(merkle.fromHex(proof.root), cp.root)) return 'the proof\u2019s root is not the checkpoint\u2019s';
  const ok = await merkle.verifyInclusion(leaf, e.index, cp.size,
    proof.proof.map(merkle.fromHex), cp.root);
  return ok ? 'verified' : 'the proof does not lead to the root';
}

function proofCell(e, cp) {
  const cell = h('span', { class: 'proof', 'data-index': String(e.index) }, tag('checking…', 'muted'));
  if (!merkle.available()) {
    cell.replaceChildren(tag('no WebCrypto here (needs HTTPS or loopback)', 'warn'));
    return cell;
  }
  check(e, cp).then(
    (result) => cell.replaceChildren(result === 'verified'
      ? tag('\u2713 verified', 'ok') : tag(`\u2717 ${result}`, 'bad')),
    (err) => cell.replaceChildren(tag(`\u2717 ${err.message}`, 'bad')));
  return cell;
}

async function serverLedger() {
  const head = await getIfServed('/ledger?after=0&limit=1');
  if (head === null) {
    return section('The server\u2019s ledger', h('p', { class: 'empty' }, 'This server keeps no ledger of its own.'));
  }
  const after = Math.max(0, head.size - SHOWN);
  const page = await get(`/ledger?after=${after}&limit=${SHOWN}`);
  const cp = merkle.parseCheckpoint(page.checkpoint);
  const entries = [...page.entries].reverse();
  return section('The server\u2019s ledger',
    h('p', { class: 'muted' },
      `${page.size} entr${page.size === 1 ? 'y' : 'ies'}; the newest ${entries.length} shown, each checked against the signed checkpoint in this browser.`),
    h('details', null, h('summary', null, 'Signed checkpoint'),
      h('pre', { id: 'checkpoint' }, page.checkpoint)),
    table([
      { label: '#', class: 'num', cell: (e) => String(e.index) },
      { label: 'When', cell: (e) => ago(e.entry.time) },
      { label: 'Who', cell: (e) => e.entry.actor },
      { label: 'What', cell: (e) => h('code', null, e.entry.action) },
      { label: 'On', cell: (e) => e.entry.object },
      { label: 'Why', cell: (e) => e.entry.reason ?? '' },
      { label: 'Inclusion', cell: (e) => proofCell(e, cp) },
    ], entries, 'The ledger is empty.', { id: 'ledger-entries' }));
}

async function hostLedgers() {
  const hosts = await get('/hosts');
  const details = await Promise.all(hosts.slice(0, 200).map((x) => get(`/hosts/${x.id}`)));
  return section('Hosts\u2019 ledgers', h('p', { class: 'muted' },
    'Each push carries the head of the host\u2019s ledger; the server flags a host whose ledger went backwards or forked.'),
  table([
    { label: 'Host', cell: (d) => hostLink(d.id, d.name) },
    { label: 'Latest index', class: 'num', cell: (d) => (d.checkpoints[0] ? String(d.checkpoints[0].index) : '–') },
    { label: 'Head', cell: (d) => (d.checkpoints[0] ? digest(d.checkpoints[0].head) : '–') },
    { label: 'Received', cell: (d) => ago(d.checkpoints[0]?.received_at) },
    { label: 'Consistency', cell: (d) => (d.ledger_inconsistent ? tag('inconsistent', 'bad') : tag('consistent', 'ok')) },
  ], details, 'No host has enrolled yet.', { id: 'host-ledgers' }));
}

export async function ledger() {
  const [own, hosts] = await Promise.all([serverLedger(), hostLedgers()]);
  return [h('header', { class: 'page-head' }, h('h1', null, 'Ledger')), own, hosts];
}
