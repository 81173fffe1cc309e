// Building the page from API data without ever parsing it as HTML: every
// value becomes a text node or an attribute set through the DOM, so a host
// name or finding message holding markup shows as the characters it is.

/** An element `tag` with `attrs` (class, on<event> handlers, others as
 *  attributes) and `children` (nodes, or anything else as text). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A table of `rows` under `columns` ({label, cell(row), class}); `empty`
 *  in words when there are none. */
export function table(columns, rows, empty, attrs) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      h('thead', null, h('tr', null, columns.map((c) => h('th', { class: c.class }, c.label)))),
      h('tbody', null, rows.map((row) =>
        h('tr', null, columns.map((c) => h('td', { class: c.class }, c.cell(row))))))));
}

/** A titled section of a page. */
export function section(title, ...body) {
  return h('section', { class: 'panel' }, h('h2', null, title), body);
}

/** The severities, gravest first. */
export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];

/** A severity as a coloured label. */
export function severity(name) {
  return h('span', { class: `sev sev-${SEVERITIES.includes(name) ? name : 'info'}` }, name);
}

/** A small label: `kind` is ok, warn, bad or muted. */
export function tag(text, kind) {
  return h('span', { class: `tag tag-${kind}` }, text);
}

/** An RFC 3339 time as "5 min ago", the exact time on hover. */
export function ago(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  const then = Date.parse(iso);
  const seconds = Math.round((Date.now() - then) / 1000);
  const words = relative(seconds);
  return h('time', { datetime: iso, title: iso }, words);
}

/** A future RFC 3339 time as "in 5 min". */
export function until(iso) {
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return h('time', { datetime: iso, title: iso }, seconds <= 0 ? 'now' : `in ${span(seconds)}`);
}

function relative(seconds) {
  if (seconds < 5) return 'just now';
  return `${span(seconds)} ago`;
}

function span(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}

/** A listener's address is reachable from off the host unless it is a
 *  loopback address. */
export function exposed(listener) {
  const a = listener.address;
  return !(a.startsWith('127.') || a === '::1' || a === '::ffff:127.0.0.1' || a === 'localhost');
}

/** A link to a host's page. */
export function hostLink(id, name) {
  return h('a', { href: `#/host/${encodeURIComponent(id)}` }, name);
}

/** A long hex digest shortened, whole on hover. */
export function digest(hex) {
  return h('code', { title: hex }, hex.length > 16 ? `${hex.slice(0, 12)}…` : hex);
}
