import { Pool } from "undici";
import { setTimeout as sleep } from "node:timers/promises";
import type { Kind } from "../model";
import { ANY_ENTITY, entityTag, listPath, objectPath, readErrorBody, readObject, readObjectList, type StoredObject } from "../protocol";
import { nodeHttpError, nodeTlsError, nodeUnreachableError, tlsFailure, type NodeHttpError } from "./errors";
import { backoffDelayMs, DEFAULT_RETRY, isRetryableStatus, isTransientError, type RetryPolicy } from "./retry";

/**
 * The node admin API client (docs/admin-api.md): one undici Pool per endpoint and CA, created on
 * first use and kept alive across calls, with connect and request timeouts and bounded retries.
 * An `https://` endpoint is verified against the connection's CA when one is given (else the
 * host's trusted CAs); a certificate that does not verify is reported at once, never retried.
 *
 * Pools are created inside methods, never at module level: Pulumi serializes the providers with
 * their closures, and a live Pool does not survive that (see provider/resources/README in
 * docs/providers.md).
 */

export interface AdminClientOptions {
  /** Time to establish the TCP connection. */
  readonly connectTimeoutMs?: number;
  /** Time for the node to send the response headers, and between body chunks. */
  readonly requestTimeoutMs?: number;
  readonly retry?: RetryPolicy;
  /** Jitter source for the backoff; injectable so tests are exact. */
  readonly random?: () => number;
}

/**
 * How to authenticate to a node, and how to authenticate the node: the bearer token, and the CA
 * its certificate must chain to. A string is a token alone (loopback `http://` nodes need no CA).
 */
export type NodeCredentials = string | { readonly token: string; readonly caCertificate?: string };

/** `create`: refuse to overwrite (`If-None-Match: *`); `revision`: refuse a stale write (`If-Match`). */
export type Precondition = { readonly create: true } | { readonly revision: number } | undefined;

export interface PutResult {
  /** 201 (true) or 200 (false). */
  readonly created: boolean;
  readonly stored: StoredObject;
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: unknown;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 15000;

export class AdminClient {
  // Assigned in the constructor, not as field initialisers: Pulumi's closure serializer keeps a
  // class's constructor body but drops ES2022 field initialisers.
  private readonly pools: Map<string, Pool>;
  private closed: boolean;

  constructor(private readonly options: AdminClientOptions = {}) {
    this.pools = new Map();
    this.closed = false;
  }

  async put(endpoint: string, credentials: NodeCredentials, kind: Kind, id: string, spec: unknown, precondition?: Precondition): Promise<PutResult> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (precondition && "create" in precondition) headers["if-none-match"] = ANY_ENTITY;
    if (precondition && "revision" in precondition) headers["if-match"] = entityTag(precondition.revision);
    const answer = await this.send(endpoint, credentials, "PUT", objectPath(kind, id), headers, JSON.stringify(spec));
    if (answer.status !== 200 && answer.status !== 201) throw httpError(endpoint, answer);
    return { created: answer.status === 201, stored: readObject(answer.body, id) };
  }

  /** The stored object, or undefined when the node has none with this id (404). */
  async get(endpoint: string, credentials: NodeCredentials, kind: Kind, id: string): Promise<StoredObject | undefined> {
    const answer = await this.send(endpoint, credentials, "GET", objectPath(kind, id), {}, undefined);
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) throw httpError(endpoint, answer);
    return readObject(answer.body, id);
  }

  /** "deleted" (204) or "absent" (404, which a delete counts as success). */
  async remove(endpoint: string, credentials: NodeCredentials, kind: Kind, id: string): Promise<"deleted" | "absent"> {
    const answer = await this.send(endpoint, credentials, "DELETE", objectPath(kind, id), {}, undefined);
    if (answer.status === 404) return "absent";
    if (answer.status !== 204 && answer.status !== 200) throw httpError(endpoint, answer);
    return "deleted";
  }

  async list(endpoint: string, credentials: NodeCredentials, kind: Kind): Promise<StoredObject[]> {
    const answer = await this.send(endpoint, credentials, "GET", listPath(kind), {}, undefined);
    if (answer.status !== 200) throw httpError(endpoint, answer);
    return readObjectList(answer.body);
  }

  /**
   * One request with retries: connection errors and 5xx are tried again after a backoff, up to
   * the policy's attempts; 4xx and other answers come back at once.
   */
  async send(
    endpoint: string,
    credentials: NodeCredentials,
    method: "GET" | "PUT" | "DELETE",
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<HttpAnswer> {
    const policy = this.options.retry ?? DEFAULT_RETRY;
    const random = this.options.random ?? Math.random;
    const base = new URL(endpoint);
    const fullPath = `${base.pathname.replace(/\/+$/, "")}${path}`;
    const { token, caCertificate } = typeof credentials === "string" ? { token: credentials, caCertificate: undefined } : credentials;
    let lastError: unknown;
    for (let attempt = 1; attempt <= policy.attempts; attempt++) {
      try {
        const answer = await this.once(this.pool(base.origin, caCertificate), token, method, fullPath, headers, body);
        if (!isRetryableStatus(answer.status) || attempt === policy.attempts) return answer;
        lastError = httpError(endpoint, answer);
      } catch (error) {
        // The same certificate fails the same way on every attempt.
        const tls = tlsFailure(error);
        if (tls !== undefined) throw nodeTlsError(endpoint, error, tls, caCertificate !== undefined);
        if (!isTransientError(error)) throw nodeUnreachableError(endpoint, error, attempt);
        lastError = error;
        if (attempt === policy.attempts) throw nodeUnreachableError(endpoint, error, attempt);
      }
      await sleep(backoffDelayMs(attempt, policy, random));
    }
    // Unreachable: the loop returns or throws on its last attempt.
    throw nodeUnreachableError(endpoint, lastError, policy.attempts);
  }

  private async once(
    pool: Pool,
    token: string,
    method: "GET" | "PUT" | "DELETE",
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<HttpAnswer> {
    const timeout = this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const response = await pool.request({
      method,
      path,
      headers: { ...headers, authorization: `Bearer ${token}`, accept: "application/json" },
      body,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: parseJson(text) };
  }

  /** One pool per origin and CA: a connection verified against one CA proves nothing for another. */
  private pool(origin: string, caCertificate: string | undefined): Pool {
    if (this.closed) throw new Error("the admin API client is closed");
    const key = caCertificate === undefined ? origin : `${origin}\n${caCertificate}`;
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: 8,
        connectTimeout: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        keepAliveTimeout: 10_000,
        ...(caCertificate === undefined ? {} : { connect: { ca: caCertificate } }),
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Closes every pool; idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
  }
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function httpError(endpoint: string, answer: HttpAnswer): NodeHttpError {
  const error = readErrorBody(answer.body);
  if (error !== undefined) return nodeHttpError(endpoint, answer.status, error.code, error.message, error.details);
  const text = typeof answer.body === "string" ? answer.body.slice(0, 200) : "no error body";
  return nodeHttpError(endpoint, answer.status, "", text);
}
