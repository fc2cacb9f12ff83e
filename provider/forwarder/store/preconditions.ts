import type { EntityTags } from "../../protocol";
import { ApiError } from "../errors";

/**
 * Conditional writes (RFC 9110 section 13), judged against the object's current revision: the
 * admin API reads the tags from `If-Match`/`If-None-Match` (provider/protocol has their format).
 */

export interface Preconditions {
  readonly ifMatch?: EntityTags;
  readonly ifNoneMatch?: EntityTags;
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
