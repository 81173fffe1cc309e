// Checking the server's ledger in the browser: RFC 9162 Merkle tree hashes
// with SHA-256 from WebCrypto, as crates/ledger computes them — a leaf is
// SHA-256(0x00 ‖ the entry's line as UTF-8), an inner node
// SHA-256(0x01 ‖ left ‖ right).

const encoder = new TextEncoder();

/** Whether WebCrypto is here: only in a secure context (HTTPS, or the
 *  loopback address). */
export function available() {
  return Boolean(globalThis.crypto?.subtle);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** The leaf hash of an entry's line. */
export async function leafHash(line) {
  const text = encoder.encode(line);
  const bytes = new Uint8Array(text.length + 1);
  bytes.set(text, 1);
  return sha256(bytes);
}

async function nodeHash(left, right) {
  const bytes = new Uint8Array(65);
  bytes[0] = 1;
  bytes.set(left, 1);
  bytes.set(right, 33);
  return sha256(bytes);
}

export function fromHex(hex) {
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new Error('not hex');
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether `proof` (hashes) shows `leaf` is leaf `index` of the tree of
 *  `size` leaves whose root is `root` (RFC 9162 §2.1.3.2). */
export async function verifyInclusion(leaf, index, size, proof, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(r, root);
}

/** The origin, size and root hash a checkpoint note states (C2SP
 *  tlog-checkpoint: three lines before the blank line and signatures). */
export function parseCheckpoint(text) {
  const [origin, size, root] = text.split('\n');
  return { origin, size: Number(size), root: fromBase64(root ?? '') };
}
