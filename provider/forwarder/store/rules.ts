import { KINDS, LIMITS, type Kind, type SpecOf } from "../../model";
import type { ConfigSnapshot } from "./snapshot";
import { ApiError } from "../errors";
import { KIND_LABEL, objectsOf, withoutObject } from "./objects";

/**
 * The rules that tie objects together, checked before a write reaches the runtime:
 * references must exist, a server group binds to one backend service, a listener's (protocol,
 * port) is unique per node, a listener binds a service of its protocol, an object in use cannot be
 * deleted, and each kind has a limit. Every refusal names
 * the other object, so the Pulumi provider can tell the user which resource holds it.
 *
 * Pure: (snapshot, write) -> nothing or an ApiError. The same rules check a restored state file.
 */

export function limitOf(kind: Kind): number {
  return kind === "health-checks" ? LIMITS.healthChecks : LIMITS.perKind;
}

function idList(ids: readonly string[]): string {
  return ids.join(", ");
}

function referrers<K extends Kind>(
  config: ConfigSnapshot,
  kind: K,
  refers: (spec: SpecOf[K]) => boolean,
  except?: string,
): string[] {
  const found: string[] = [];
  for (const [id, stored] of objectsOf(config, kind)) {
    if (id !== except && refers(stored.spec)) found.push(id);
  }
  return found.sort();
}

function missing(owner: string, path: string, kind: Kind, id: string): ApiError {
  const message = `${owner} refers to ${KIND_LABEL[kind].one} ${id}, which does not exist: create it first`;
  return new ApiError("missing_reference", message, [{ path, message: `${KIND_LABEL[kind].one} ${id} does not exist` }]);
}

/** Checks a PUT of `spec` as `kind`/`id` against the snapshot it would change. Throws ApiError. */
export function checkPut<K extends Kind>(config: ConfigSnapshot, kind: K, id: string, spec: SpecOf[K]): void {
  const existing = objectsOf(config, kind);
  if (!existing.has(id) && existing.size >= limitOf(kind)) {
    throw new ApiError(
      "limit_reached",
      `a load balancer has at most ${limitOf(kind)} ${KIND_LABEL[kind].many}: delete one before creating ${KIND_LABEL[kind].one} ${id}`,
    );
  }
  checkLinks(config, kind, id, spec);
}

/**
 * The model checks members unique by (address, port) within a group, but a member without a port
 * takes the service's: `{10.0.0.1}` and `{10.0.0.1, port: 80}` are one member once the group is
 * bound to a service on port 80, which only the node, seeing both, can tell.
 */
function duplicateMember(group: string, spec: SpecOf["server-groups"], service: string, servicePort: number): ApiError | undefined {
  if (spec.type !== "virtual") return undefined;
  const seen = new Map<string, number>();
  for (const [index, member] of spec.members.entries()) {
    const key = `${member.address}|${member.port ?? servicePort}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, index);
      continue;
    }
    const show = (i: number) => {
      const m = spec.members[i];
      return `members[${i}] (${m.address}${m.port === undefined ? "" : ` port ${m.port}`})`;
    };
    const message = `${show(first)} and ${show(index)} of server group ${group} are one member under backend service ${service}'s port ${servicePort}`;
    return new ApiError("duplicate_member", message, [{ path: `members[${index}]`, message }]);
  }
  return undefined;
}

function protocolMismatch(listener: string, listenerProtocol: string, service: string, serviceProtocol: string, path: string): ApiError {
  const message = `listener ${listener} is ${listenerProtocol} but backend service ${service} is ${serviceProtocol}: a listener binds a backend service of its own protocol`;
  return new ApiError("protocol_mismatch", message, [{ path, message }]);
}

/** References exist, a group binds to one service, ports are unique: everything but the limit. */
function checkLinks<K extends Kind>(config: ConfigSnapshot, kind: K, id: string, spec: SpecOf[K]): void {
  const owner = `${KIND_LABEL[kind].one} ${id}`;
  if (kind === "backend-services") {
    const service = spec as SpecOf["backend-services"];
    if (service.healthCheck !== undefined && !config.healthChecks.has(service.healthCheck)) {
      throw missing(owner, "healthCheck", "health-checks", service.healthCheck);
    }
    if (service.serverGroup !== undefined) {
      const group = service.serverGroup;
      if (!config.serverGroups.has(group)) throw missing(owner, "serverGroup", "server-groups", group);
      const bound = referrers(config, "backend-services", (s) => s.serverGroup === group, id);
      if (bound.length > 0) {
        const message = `server group ${group} is already bound to backend service ${bound[0]}: a server group serves one backend service`;
        throw new ApiError("already_bound", message, [{ path: "serverGroup", message }]);
      }
      const duplicate = duplicateMember(group, config.serverGroups.get(group)!.spec, id, service.port);
      if (duplicate !== undefined) throw duplicate;
    }
    // The provider replaces a service whose protocol changes, but a direct PUT could still flip it under its listeners.
    for (const listenerId of referrers(config, "listeners", (l) => l.backendService === id && l.protocol !== service.protocol)) {
      const listener = config.listeners.get(listenerId)!.spec;
      throw protocolMismatch(listenerId, listener.protocol, id, service.protocol, "protocol");
    }
  } else if (kind === "server-groups") {
    for (const [serviceId, service] of config.backendServices) {
      if (service.spec.serverGroup !== id) continue;
      const duplicate = duplicateMember(id, spec as SpecOf["server-groups"], serviceId, service.spec.port);
      if (duplicate !== undefined) throw duplicate;
    }
  } else if (kind === "listeners") {
    const listener = spec as SpecOf["listeners"];
    if (!config.backendServices.has(listener.backendService)) {
      throw missing(owner, "backendService", "backend-services", listener.backendService);
    }
    const service = config.backendServices.get(listener.backendService)!.spec;
    if (service.protocol !== listener.protocol) {
      throw protocolMismatch(id, listener.protocol, listener.backendService, service.protocol, "backendService");
    }
    const sharing = referrers(config, "listeners", (l) => l.port === listener.port && l.protocol === listener.protocol, id);
    if (sharing.length > 0) {
      const message = `${listener.protocol} port ${listener.port} is already used by listener ${sharing[0]}: a listener's protocol and port are unique per load balancer`;
      throw new ApiError("duplicate_port", message, [{ path: "port", message }]);
    }
  }
}

/** The objects that keep `kind`/`id` from being deleted, as a sentence, or undefined when it is free. */
export function heldBy(config: ConfigSnapshot, kind: Kind, id: string): string | undefined {
  const self = `${KIND_LABEL[kind].one} ${id}`;
  switch (kind) {
    case "health-checks": {
      const services = referrers(config, "backend-services", (s) => s.healthCheck === id);
      return services.length === 0
        ? undefined
        : `${self} is used by ${services.length === 1 ? "backend service" : "backend services"} ${idList(services)}`;
    }
    case "server-groups": {
      const services = referrers(config, "backend-services", (s) => s.serverGroup === id);
      return services.length === 0 ? undefined : `${self} is bound to backend service ${idList(services)}`;
    }
    case "backend-services": {
      const listeners = referrers(config, "listeners", (l) => l.backendService === id);
      return listeners.length === 0
        ? undefined
        : `${self} is used by ${listeners.length === 1 ? "listener" : "listeners"} ${idList(listeners)}`;
    }
    case "listeners":
      return undefined;
  }
}

/** Checks a DELETE of `kind`/`id`. Throws ApiError (404 when absent, 409 when in use). */
export function checkDelete(config: ConfigSnapshot, kind: Kind, id: string): void {
  if (!objectsOf(config, kind).has(id)) {
    throw new ApiError("not_found", `${KIND_LABEL[kind].one} ${id} does not exist`);
  }
  const holder = heldBy(config, kind, id);
  if (holder !== undefined) {
    throw new ApiError("in_use", `${holder}: delete or change that first`);
  }
}

/**
 * Every rule broken by a whole snapshot (a restored state file), as sentences. A snapshot built by
 * accepted writes breaks none; one that does was edited by hand or written by something else.
 */
export function snapshotProblems(config: ConfigSnapshot): string[] {
  const problems: string[] = [];
  for (const kind of KINDS) {
    const objects = objectsOf(config, kind);
    if (objects.size > limitOf(kind)) {
      problems.push(`${objects.size} ${KIND_LABEL[kind].many}, over the limit of ${limitOf(kind)}`);
    }
    // Each object is checked against the others, as if it were the last one written.
    for (const [id, stored] of objects) {
      try {
        checkLinks(withoutObject(config, kind, id), kind, id, stored.spec);
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
  }
  return problems;
}
