import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ENTITY_TAGS_EXPECTED, parseEntityTags, type EntityTags } from "../../protocol";
import { ApiError } from "../errors";
import type { Preconditions } from "../store/preconditions";

/** Request bodies larger than this are refused with 413 (a server group of 1000 members is ~80 KiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Before refusing a request whose body it did not read, the node discards what the client still
 * sends, up to this much and this long (see drainBody); past it, the connection is cut.
 */
const DISCARD_BUDGET_BYTES = 16 * MAX_BODY_BYTES;
const DISCARD_BUDGET_MS = 5_000;
const DISCARD_QUIET_MS = 500;

/**
 * Reads the body, refusing more than `limit` bytes: a declared Content-Length over the limit is
 * refused before reading anything, and a chunked body as soon as it passes the limit. Nothing past
 * the limit is buffered.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const tooLarge = () => new ApiError("body_too_large", `the body is over ${limit} bytes (1 MiB): nothing was read past that`);
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

/**
 * Before answering a request whose body was not read to the end (413, 401, a bad header): read and
 * discard (never buffer) the rest. Answering first would let the server close the connection while
 * the client is still sending, and the kernel would then reset it, losing the answer (RFC 9112
 * section 9.6, lingering close). Bounded three ways: a client that goes quiet (it declared more than
 * it sends) is answered after a short pause, one that takes too long is answered anyway, and one
 * that sends more than the budget is cut off.
 */
export function drainBody(req: IncomingMessage): Promise<void> {
  if (req.complete || req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let discarded = 0;
    const done = () => {
      clearTimeout(quiet);
      clearTimeout(overall);
      req.off("data", onData);
      req.off("end", done);
      req.off("close", done);
      resolve();
    };
    let quiet = setTimeout(done, DISCARD_QUIET_MS);
    const overall = setTimeout(done, DISCARD_BUDGET_MS);
    const onData = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > DISCARD_BUDGET_BYTES) {
        req.socket.destroy();
        done();
        return;
      }
      clearTimeout(quiet);
      quiet = setTimeout(done, DISCARD_QUIET_MS);
    };
    req.on("data", onData);
    req.on("end", done);
    req.on("close", done);
    req.resume();
  });
}

/** Parses a JSON body. Throws 415 for a declared non-JSON type, 400 for an empty or malformed body. */
export function parseJsonBody(req: IncomingMessage, body: Buffer): unknown {
  const type = req.headers["content-type"];
  if (type !== undefined) {
    const [mediaType, ...params] = type.split(";").map((p) => p.trim().toLowerCase());
    const json = mediaType === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
    const charset = params.find((p) => p.startsWith("charset="))?.slice("charset=".length).replace(/"/g, "");
    if (!json || (charset !== undefined && charset !== "utf-8" && charset !== "utf8")) {
      throw new ApiError(
        "unsupported_media_type",
        `the body must be JSON (Content-Type: application/json), not ${JSON.stringify(type.slice(0, 80))}`,
      );
    }
  }
  if (body.length === 0) throw new ApiError("invalid_json", "the body is empty: send the spec as a JSON object");
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new ApiError("invalid_json", `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** An `If-Match`/`If-None-Match` value (absent: undefined) as the store compares it; 400 when it is malformed. */
export function readEntityTagsHeader(header: "If-Match" | "If-None-Match", value: string | undefined): EntityTags | undefined {
  if (value === undefined) return undefined;
  const tags = parseEntityTags(value);
  if (tags === undefined) {
    const message = `${ENTITY_TAGS_EXPECTED} (got ${JSON.stringify(value.slice(0, 60))})`;
    throw new ApiError("invalid_input", `${header} ${message}`, [{ path: header, message }]);
  }
  return tags;
}

/** A PUT's conditions, read from its headers before its body so that a bad header costs no upload. */
export function readPreconditions(req: IncomingMessage): Preconditions {
  return {
    ifMatch: readEntityTagsHeader("If-Match", req.headers["if-match"]),
    ifNoneMatch: readEntityTagsHeader("If-None-Match", req.headers["if-none-match"]),
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

export function sendNoContent(res: ServerResponse, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(204, { ...headers, "cache-control": "no-store" });
  res.end();
}

export function sendError(res: ServerResponse, error: ApiError, extraHeaders: Readonly<Record<string, string>> = {}): void {
  sendJson(res, error.status, error.toBody(), { ...error.headers, ...extraHeaders });
}

/**
 * Bearer token check. Both sides are hashed first so that timingSafeEqual compares equal-length
 * digests: the time taken reveals neither the token's content nor its length.
 */
export class TokenCheck {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = createHash("sha256").update(token, "utf8").digest();
  }

  /** Throws 401 unless the request carries `Authorization: Bearer <token>`. */
  verify(req: IncomingMessage): void {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    const given = createHash("sha256")
      .update(match?.[1] ?? "", "utf8")
      .digest();
    // Always compare, even without a header, so both paths cost the same.
    const equal = timingSafeEqual(given, this.expected);
    if (!equal || match === null) {
      throw new ApiError("unauthorized", unauthorizedReason(header), [], { "www-authenticate": 'Bearer realm="dnlb"' });
    }
  }
}

/** Why a request was refused, naming the scheme it used (never its credentials). */
function unauthorizedReason(header: string | undefined): string {
  if (header === undefined) return "this route needs Authorization: Bearer <token>";
  const scheme = /^\s*(\S+)/.exec(header)?.[1] ?? "";
  if (scheme.toLowerCase() === "bearer") return "the bearer token is not valid for this node";
  // An RFC 9110 token of reasonable length is shown; anything else may be a credential pasted alone.
  const shown = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/.test(scheme) && /\s/.test(header.trim()) ? `the ${scheme} scheme` : "no scheme";
  return `the Authorization header uses ${shown}: this node expects Authorization: Bearer <token>`;
}
