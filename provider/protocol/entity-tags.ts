/**
 * Conditional writes (RFC 9110 section 13): an object's entity tag is its revision in quotes
 * (`"3"`). `If-Match` guards against overwriting a change the writer has not seen;
 * `If-None-Match: *` guards against overwriting an object the writer believes is new.
 */

/** `*` (any current object) or the revisions listed. */
export type EntityTags = "*" | readonly number[];

/** The `If-None-Match` value that refuses to overwrite any existing object. */
export const ANY_ENTITY = "*";

export function entityTag(revision: number): string {
  return `"${revision}"`;
}

/** What an `If-Match`/`If-None-Match` value may be, for the error that refuses another one. */
export const ENTITY_TAGS_EXPECTED = 'must be * or a revision such as "3"';

/**
 * Parses an `If-Match`/`If-None-Match` value: `*`, or a comma-separated list of tags, each
 * `"3"`, `W/"3"` or a bare `3` (accepted because people type it). Undefined when the value is
 * none of these.
 */
export function parseEntityTags(value: string): EntityTags | undefined {
  const text = value.trim();
  if (text === ANY_ENTITY) return ANY_ENTITY;
  const revisions: number[] = [];
  for (const part of text.split(",")) {
    const match = /^(?:W\/)?(?:"(\d{1,15})"|(\d{1,15}))$/.exec(part.trim());
    if (!match) return undefined;
    revisions.push(Number(match[1] ?? match[2]));
  }
  return revisions;
}
