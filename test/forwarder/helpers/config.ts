/**
 * Builds ConfigSnapshots for runtime tests from the same zod schemas the admin API uses, so every
 * default (weights 10, draining 300 s, ...) is the real one.
 */
import {
  modelSchemas,
  type BackendServiceInput,
  type HealthCheckInput,
  type HighAvailabilityGroupInput,
  type ListenerInput,
  type VirtualServerGroupInput,
} from "../../../provider/model";
import type { ConfigSnapshot, Stored } from "../../../provider/forwarder/store/snapshot";
import type { BackendServiceSpec, HealthCheckSpec, ListenerSpec, ServerGroupSpec } from "../../../provider/model";

type Omit2<T, K extends PropertyKey> = Omit<T, K & keyof T>;

export class ConfigBuilder {
  private readonly schemas = modelSchemas({ allowUnknown: false });
  private readonly healthChecks = new Map<string, Stored<HealthCheckSpec>>();
  private readonly serverGroups = new Map<string, Stored<ServerGroupSpec>>();
  private readonly backendServices = new Map<string, Stored<BackendServiceSpec>>();
  private readonly listeners = new Map<string, Stored<ListenerSpec>>();

  static from(config: ConfigSnapshot): ConfigBuilder {
    const b = new ConfigBuilder();
    for (const [k, v] of config.healthChecks) b.healthChecks.set(k, v);
    for (const [k, v] of config.serverGroups) b.serverGroups.set(k, v);
    for (const [k, v] of config.backendServices) b.backendServices.set(k, v);
    for (const [k, v] of config.listeners) b.listeners.set(k, v);
    return b;
  }

  healthCheck(id: string, input: Omit2<HealthCheckInput, "name"> & { name?: string }): this {
    const spec = this.schemas.healthCheck.parse({ name: id, ...input }) as HealthCheckSpec;
    this.healthChecks.set(id, stored(id, spec, this.healthChecks.get(id)));
    return this;
  }

  virtualGroup(id: string, input: Omit2<VirtualServerGroupInput, "name"> & { name?: string }): this {
    const spec = this.schemas.serverGroup.parse({ type: "virtual", name: id, ...input }) as ServerGroupSpec;
    this.serverGroups.set(id, stored(id, spec, this.serverGroups.get(id)));
    return this;
  }

  haGroup(id: string, input: Omit2<HighAvailabilityGroupInput, "name"> & { name?: string }): this {
    const spec = this.schemas.serverGroup.parse({ type: "high-availability", name: id, ...input }) as ServerGroupSpec;
    this.serverGroups.set(id, stored(id, spec, this.serverGroups.get(id)));
    return this;
  }

  service(id: string, input: Omit2<BackendServiceInput, "name"> & { name?: string }): this {
    const spec = this.schemas.backendService.parse({ name: id, ...input }) as BackendServiceSpec;
    this.backendServices.set(id, stored(id, spec, this.backendServices.get(id)));
    return this;
  }

  listener(id: string, input: Omit2<ListenerInput, "name"> & { name?: string }): this {
    const spec = this.schemas.listener.parse({ name: id, ...input }) as ListenerSpec;
    this.listeners.set(id, stored(id, spec, this.listeners.get(id)));
    return this;
  }

  remove(kind: "healthChecks" | "serverGroups" | "backendServices" | "listeners", id: string): this {
    this[kind].delete(id);
    return this;
  }

  build(): ConfigSnapshot {
    return {
      healthChecks: new Map(this.healthChecks),
      serverGroups: new Map(this.serverGroups),
      backendServices: new Map(this.backendServices),
      listeners: new Map(this.listeners),
    };
  }
}

function stored<T>(id: string, spec: T, previous: Stored<unknown> | undefined): Stored<T> {
  return { id, revision: (previous?.revision ?? 0) + 1, spec };
}
