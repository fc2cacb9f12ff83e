import { ApiError } from "../errors";

/**
 * Conditional writes (RFC 9110 section 13): an object's entity tag is its revision in quotes
 * (`"3"`). `If-Match` guards against overwriting a change the writer has not seen;
 * `If-None-Match: *` guards against overwriting an object the writer believes is new.
 */

/** `*` (any current object) or the revisions listed. */
export type EntityTags = "*" | readonly number[];

export interface Preconditions {
  readonly ifMatch?: EntityTags;
  readonly ifNoneMatch?: EntityTags;
}

export function entityTag(revision: number): string {
  return `"${revision}"`;
}

/**
 * Parses an `If-Match`/`If-None-Match` value: `*`, or a comma-separated list of tags, each
 * `"3"`, `W/"3"` or a bare `3` (accepted because people type it). Throws 400 on anything else.
 */
export function parseEntityTags(header: string, value: string | undefined): EntityTags | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === "*") return "*";
  const revisions: number[] = [];
  for (const part of text.split(",")) {
    const match = /^(?:W\/)?(?:"(\d{1,15})"|(\d{1,15}))$/.exec(part.trim());
    if (!match) {
      const message = `must be * or a revision such as "3" (got ${JSON.stringify(value.slice(0, 60))})`;
      throw new ApiError("invalid_input", `${header} ${message}`, [{ path: header, message }]);
    }
    revisions.push(Number(match[1] ?? match[2]));
  }
  return revisions;
}

function matches(tags: EntityTags, revision: number | undefined): boolean {
  if (revision === undefined) return false;
  return tags === "*" || tags.includes(revision);
}

/**
 * Throws 412 when a write that would change `what` must not happen. `revision` is the object's
 * current revision, undefined when it does not exist. Evaluated in RFC order: If-Match first.
 */
export function checkPreconditions(what: string, revision: number | undefined, pre: Preconditions): void {
  if (pre.ifMatch !== undefined && !matches(pre.ifMatch, revision)) {
    const message =
      revision === undefined
        ? `${what} does not exist, and If-Match requires it to`
        : `${what} is at revision ${revision}, not ${describeTags(pre.ifMatch)} (If-Match): read it again before writing`;
    throw new ApiError("precondition_failed", message, [{ path: "If-Match", message }]);
  }
  if (pre.ifNoneMatch !== undefined && matches(pre.ifNoneMatch, revision)) {
    const message =
      pre.ifNoneMatch === "*"
        ? `${what} already exists (revision ${revision}), and If-None-Match: * refuses to overwrite it`
        : `${what} is at revision ${revision}, which If-None-Match excludes`;
    throw new ApiError("precondition_failed", message, [{ path: "If-None-Match", message }]);
  }
}

function describeTags(tags: EntityTags): string {
  return tags === "*" ? "*" : tags.join(" or ");
}
