import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { ID_PATTERN, KINDS, parseSpec, type Kind } from "../../model";
import { ApiError, isApiError } from "../errors";
import { entityTag, listPath, objectPath, presentObject } from "../../protocol";
import { drainBody, parseJsonBody, readBody, readPreconditions, sendError, sendJson, sendNoContent, TokenCheck } from "./http";
import type { AdminMetrics } from "./metrics";
import type { ConfigWriter } from "../store/writer";
import type { ConfigStore } from "../store/store";
import { KIND_LABEL } from "../store/objects";

/**
 * The admin API's routes (docs/admin-api.md is the contract):
 *
 *   GET /healthz                                 open
 *   GET /metrics                                 open, or bearer token with metricsRequireToken
 *   GET /v1/status                               bearer token
 *   GET /v1/{kind}                               list
 *   GET | PUT | DELETE /v1/{kind}/{id}           one object
 *
 * Every error is an ApiError rendered in the one error shape; anything else thrown is a bug, logged
 * and answered 500 without details. Nothing a client sends reaches the store unless it was parsed
 * with the model's strict schemas and passed the store's rules.
 */

export interface AdminApiOptions {
  readonly store: ConfigStore;
  readonly writer: ConfigWriter;
  /** The runtime's status report (JSON-serializable). */
  readonly status: () => unknown;
  readonly registry: Registry;
  readonly metrics: AdminMetrics;
  readonly token: string;
  /** `/metrics` needs the bearer token too (it names listeners, services and their traffic). */
  readonly metricsRequireToken?: boolean;
  readonly logger: Logger;
  /** False once the node is shutting down: /healthz answers 503 so that nothing new is sent here. */
  readonly isServing: () => boolean;
}

type Route =
  | { readonly name: "healthz" | "metrics" | "status"; readonly template: string }
  | { readonly name: "list"; readonly template: string; readonly kind: Kind }
  | { readonly name: "object"; readonly template: string; readonly kind: Kind; readonly id: string };

const ALLOWED: Record<Route["name"], readonly string[]> = {
  healthz: ["GET", "HEAD"],
  metrics: ["GET", "HEAD"],
  status: ["GET", "HEAD"],
  list: ["GET", "HEAD"],
  object: ["GET", "HEAD", "PUT", "DELETE"],
};

function isKind(segment: string): segment is Kind {
  return (KINDS as readonly string[]).includes(segment);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError("invalid_input", "the path is not valid percent-encoding", [{ path: "path", message: "invalid percent-encoding" }]);
  }
}

/** Maps a path to a route, or throws 404 / 400. `/v1/...` paths are only resolved after auth. */
export function resolveRoute(pathname: string): Route {
  if (pathname === "/healthz") return { name: "healthz", template: "/healthz" };
  if (pathname === "/metrics") return { name: "metrics", template: "/metrics" };
  const segments = pathname.split("/").slice(1);
  // `/v1/listeners/` is the list, as `/v1/listeners` is, not an object with an empty id.
  if (segments.length === 3 && segments[2] === "") segments.pop();
  if (segments[0] === "v1") {
    if (segments.length === 2 && segments[1] === "status") return { name: "status", template: "/v1/status" };
    if (segments.length === 2 || segments.length === 3) {
      const kind = segments[1];
      if (!isKind(kind)) {
        throw new ApiError("not_found", `there is no kind ${JSON.stringify(kind.slice(0, 60))}: the kinds are ${KINDS.join(", ")}`);
      }
      if (segments.length === 2) return { name: "list", template: listPath(kind), kind };
      const id = decodeSegment(segments[2]);
      if (!ID_PATTERN.test(id)) {
        const message = `must be 1-100 characters: letters, digits, '.', '-', '_', starting with a letter or digit (got ${JSON.stringify(id.slice(0, 60))})`;
        throw new ApiError("invalid_input", `the id ${message}`, [{ path: "id", message }]);
      }
      return { name: "object", template: `/v1/${kind}/{id}`, kind, id };
    }
  }
  throw new ApiError("not_found", `there is nothing at ${JSON.stringify(pathname.slice(0, 100))}`);
}

function routeTemplate(pathname: string): string {
  try {
    return resolveRoute(pathname).template;
  } catch {
    return "unmatched";
  }
}

export class AdminApi {
  private readonly tokenCheck: TokenCheck;

  constructor(private readonly options: AdminApiOptions) {
    this.tokenCheck = new TokenCheck(options.token);
  }

  /** The http.Server request listener. Never throws and never rejects. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    const pathname = (req.url ?? "/").split("?")[0];
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.options.metrics.observeRequest(routeTemplate(pathname), req.method ?? "", res.statusCode, seconds);
    });
    // Only a PUT reads its body. Any other request that carries one (a GET or DELETE with a body)
    // has it discarded first, or answering and closing would reset the client mid-upload.
    const carriesBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
    const bodyHandled = req.method === "PUT" || !carriesBody ? Promise.resolve() : drainBody(req);
    bodyHandled
      .then(() => this.serve(req, res, pathname))
      .catch((error: unknown) => this.fail(req, res, error))
      // fail() answers every error it is given; this only guards against it failing itself.
      .catch(() => res.destroy());
  };

  private async serve(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    if (pathname === "/v1" || pathname.startsWith("/v1/")) this.tokenCheck.verify(req);
    if (pathname === "/metrics" && this.options.metricsRequireToken === true) this.tokenCheck.verify(req);
    const route = resolveRoute(pathname);
    const method = req.method ?? "";
    if (!ALLOWED[route.name].includes(method)) {
      throw new ApiError("method_not_allowed", `${method} is not allowed on ${route.template}: use ${ALLOWED[route.name].join(", ")}`, [], {
        allow: ALLOWED[route.name].join(", "),
      });
    }
    switch (route.name) {
      case "healthz":
        return this.options.isServing()
          ? sendJson(res, 200, { ok: true })
          : sendJson(res, 503, { ok: false, reason: "shutting down" });
      case "metrics": {
        const text = await this.options.registry.metrics();
        res.writeHead(200, { "content-type": this.options.registry.contentType, "cache-control": "no-store" });
        res.end(text);
        return;
      }
      case "status":
        return sendJson(res, 200, this.options.status());
      case "list":
        return sendJson(res, 200, { items: this.options.store.list(route.kind).map(presentObject) });
      case "object":
        return this.serveObject(req, res, route.kind, route.id, method);
    }
  }

  private async serveObject(req: IncomingMessage, res: ServerResponse, kind: Kind, id: string, method: string): Promise<void> {
    if (method === "GET" || method === "HEAD") {
      const stored = this.options.store.get(kind, id);
      if (stored === undefined) throw new ApiError("not_found", `${KIND_LABEL[kind].one} ${id} does not exist`);
      return sendJson(res, 200, presentObject(stored), { etag: entityTag(stored.revision) });
    }
    if (method === "DELETE") {
      await this.options.writer.delete(kind, id);
      return sendNoContent(res);
    }
    const pre = readPreconditions(req);
    const body = parseJsonBody(req, await readBody(req));
    const parsed = parseSpec(kind, body);
    if (!parsed.ok) {
      const details = parsed.failures.map((f) => ({ path: f.property, message: f.reason }));
      const summary = parsed.failures.map((f) => f.reason).join("; ");
      throw new ApiError("invalid_input", `invalid ${KIND_LABEL[kind].one} ${id}: ${summary}`, details);
    }
    const outcome = await this.options.writer.put(kind, id, parsed.spec, pre);
    const headers: Record<string, string> = { etag: entityTag(outcome.stored.revision) };
    if (outcome.created) headers.location = objectPath(kind, id);
    return sendJson(res, outcome.created ? 201 : 200, presentObject(outcome.stored), headers);
  }

  private async fail(req: IncomingMessage, res: ServerResponse, error: unknown): Promise<void> {
    const apiError = isApiError(error) ? error : new ApiError("internal", "the node failed to handle the request; see its log");
    if (!isApiError(error) || apiError.status >= 500) {
      this.options.logger.error({ err: error, method: req.method, path: (req.url ?? "").split("?")[0] }, "admin request failed");
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    await drainBody(req);
    if (!res.destroyed) sendError(res, apiError);
  }
}
