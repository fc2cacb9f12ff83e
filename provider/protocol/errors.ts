/**
 * Every condition a node reports to a client, with one stable `code` each, and the one JSON
 * shape every HTTP error has:
 *
 *   { "error": { "code": "in_use", "message": "...", "details": [{ "path": "port", "message": "..." }] } }
 *
 * Clients (the Pulumi provider) branch on `code`, never on `message`; messages are for people
 * and may be reworded. docs/admin-api.md lists the codes; a test pins each status.
 */

export const ERROR_STATUS = {
  /** The body or a path segment failed validation; `details` names each field. */
  invalid_input: 400,
  /** The body is not JSON. */
  invalid_json: 400,
  /** The request is not well-formed HTTP (Node's parser refused it: a control character, a bad chunk). */
  bad_request: 400,
  /** The request did not arrive in time (headers within 15 s, the whole request within 60 s). */
  request_timeout: 408,
  /** The request headers are over 16 KiB. */
  headers_too_large: 431,
  /** No `Authorization: Bearer <token>`, or the wrong token. */
  unauthorized: 401,
  /** No such object, kind or route. */
  not_found: 404,
  /** The route exists but not with this method (`Allow` lists the ones it takes). */
  method_not_allowed: 405,
  /** The object is referenced by another one and cannot be deleted. */
  in_use: 409,
  /** The server group is already bound to another backend service. */
  already_bound: 409,
  /** Another listener of this node has the port. */
  duplicate_port: 409,
  /** A listener and its backend service have different protocols (TCP and UDP). */
  protocol_mismatch: 409,
  /** Two members of a group are one (address, port) once the backend service's port fills in. */
  duplicate_member: 409,
  /** The listener's address and port could not be bound (another program holds it). */
  port_in_use: 409,
  /** The per-load-balancer limit for this kind is reached (LIMITS in the model). */
  limit_reached: 409,
  /** The spec names an object (health check, server group, backend service) that does not exist. */
  missing_reference: 409,
  /** `If-None-Match: *` found an object, or `If-Match` did not match its revision. */
  precondition_failed: 412,
  /** The body is over 1 MiB. */
  body_too_large: 413,
  /** The body is declared as something other than JSON. */
  unsupported_media_type: 415,
  /** The configuration could not be persisted; nothing changed. */
  persist_failed: 500,
  /** The runtime refused the configuration; nothing changed. */
  apply_failed: 500,
  /** Anything else that went wrong inside the node. */
  internal: 500,
  /** The node is shutting down and takes no more writes. */
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorDetail {
  /** The field, in the notation of Pulumi `check` failures (`members[3].weight`); `""` for the whole body. */
  readonly path: string;
  readonly message: string;
}

export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly details: readonly ErrorDetail[];
  };
}

export function errorBody(code: ErrorCode, message: string, details: readonly ErrorDetail[] = []): ErrorBody {
  return { error: { code, message, details } };
}

/** An error body as a client reads it: `code` stays a string, since a newer node may send a code this client does not know. */
export interface ReceivedError {
  readonly code: string;
  readonly message: string;
  readonly details: readonly ErrorDetail[];
}

/** The error in an answer's body, or undefined when the body does not have the error shape (a proxy's page, no body). */
export function readErrorBody(body: unknown): ReceivedError | undefined {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (!error || typeof error !== "object") return undefined;
  const details = Array.isArray(error.details)
    ? error.details
        .filter((d): d is { path?: unknown; message?: unknown } => d !== null && typeof d === "object")
        .map((d) => ({ path: String(d.path ?? ""), message: String(d.message ?? "") }))
    : [];
  return { code: String(error.code ?? ""), message: String(error.message ?? ""), details };
}
