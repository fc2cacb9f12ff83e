import { ERROR_STATUS, errorBody, type ErrorBody, type ErrorCode, type ErrorDetail } from "../protocol";

/**
 * The node's throwables. `ApiError` carries one of the protocol's codes (provider/protocol) and
 * is rendered in the protocol's one error shape; the others stop the node from starting.
 */

/** An error meant for the client: thrown anywhere in request handling, rendered by the admin API. */
export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
    /** Extra response headers, e.g. `Allow` for 405 or `WWW-Authenticate` for 401. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = ERROR_STATUS[code];
  }

  toBody(): ErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}

export function isApiError(value: unknown): value is ApiError {
  return value instanceof ApiError;
}

/**
 * A state file the node will not use: corrupt, from another program, or from a newer version.
 * The node refuses to start rather than replace it (the operator decides).
 */
export class StateFileError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`state file ${file} ${reason}; the node does not replace it: fix it or move it away, then start again`);
    this.name = "StateFileError";
  }
}

/** A command line or environment the node cannot start with; main prints the message and exits 2. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}
