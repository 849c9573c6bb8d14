/**
 * What a newsletter remembers of the backend list cursors it has read, to refuse a
 * `next_cursor` that leads back to one of them (a backend bug that would otherwise send the
 * same pages again and again, each time as new batches with new idempotency keys). Kept
 * small at any list size: the list's first FIRST_KEPT cursors (a list that starts over) and
 * its last RECENT_KEPT (a loop of up to that many pages), as 53-bit hashes. Pure: the
 * workflow bundle imports it.
 */

/** FIRST_KEPT and RECENT_KEPT bound what is remembered (a few KB in the workflow's state). */
export const FIRST_KEPT = 16;
export const RECENT_KEPT = 256;

/** CursorsRead are hashes of the cursors read so far: the list's first ones and its latest ones. */
export interface CursorsRead {
  first: number[];
  recent: number[];
}

/** cursorHash is a 53-bit hash of a cursor (cyrb53: a collision among a list's cursors is vanishingly rare). */
export function cursorHash(cursor: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < cursor.length; i++) {
    const ch = cursor.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** rememberCursors adds cursors (in the order read) to what was read. */
export function rememberCursors(read: CursorsRead | undefined, cursors: string[]): CursorsRead {
  const next: CursorsRead = { first: [...(read?.first ?? [])], recent: [...(read?.recent ?? [])] };
  for (const cursor of cursors) {
    const hash = cursorHash(cursor);
    if (next.first.length < FIRST_KEPT) next.first.push(hash);
    else next.recent.push(hash);
  }
  if (next.recent.length > RECENT_KEPT) next.recent.splice(0, next.recent.length - RECENT_KEPT);
  return next;
}

/** cursorsReadBefore lists every remembered hash (what a read must not lead back to). */
export const cursorsReadBefore = (read: CursorsRead | undefined): number[] =>
  read ? [...read.first, ...read.recent] : [];
