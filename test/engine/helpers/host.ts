import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { ResourceProviderClient } from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as proto from "@pulumi/pulumi/proto/provider_pb";
import { PROJECT_ROOT } from "../../support/paths";

/**
 * Pulumi's own dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`), started as the
 * engine starts it and driven over gRPC with the engine's messages. Properties travel as
 * google.protobuf.Struct and carry the serialized provider under `__provider`.
 */

const HOST_SCRIPT = path.join(PROJECT_ROOT, "node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js");
const MAX_MESSAGE = 256 * 1024 * 1024;

export type Props = Record<string, unknown>;

export interface CheckAnswer {
  readonly inputs: Props;
  readonly failures: { property: string; reason: string }[];
}

export interface DiffAnswer {
  readonly changes: "none" | "some" | "unknown";
  readonly replaces: string[];
  readonly deleteBeforeReplace: boolean;
}

function call<Res>(start: (callback: (error: grpc.ServiceError | null, response: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    start((error, response) => (error ? reject(error) : resolve(response)));
  });
}

function struct(props: Props): Struct {
  return Struct.fromJavaScript(props as Parameters<typeof Struct.fromJavaScript>[0]);
}

/**
 * Where the host runs, when not as a child of the test on this namespace's loopback (the host
 * listens on 127.0.0.1 only): `spawn` starts its command (inside a network namespace, say) and
 * `target` turns the port it printed into a gRPC target the test can reach (a Unix socket
 * bridged to that port).
 */
export interface HostPlacement {
  readonly spawn: (command: readonly string[], cwd: string) => ChildProcess;
  readonly target: (port: number) => Promise<string>;
}

const LOCAL: HostPlacement = {
  spawn: (command, cwd) => spawn(command[0], command.slice(1), { cwd, stdio: ["ignore", "pipe", "pipe"] }),
  target: async (port) => `127.0.0.1:${port}`,
};

export class ProviderHost {
  /** Everything the host wrote to stderr (it logs provider exceptions there). */
  stderr = "";

  private constructor(
    private readonly child: ChildProcess,
    private readonly client: ResourceProviderClient,
  ) {}

  static async start(placement: HostPlacement = LOCAL): Promise<ProviderHost> {
    // The host resolves the serialized provider's `require`s from its working directory.
    const child = placement.spawn([process.execPath, HOST_SCRIPT, "127.0.0.1:1"], PROJECT_ROOT);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`dynamic-provider host printed no port in 20 s; stderr: ${stderr}`)), 20_000);
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const newline = out.indexOf("\n");
        if (newline >= 0) {
          clearTimeout(timer);
          resolve(Number(out.slice(0, newline).trim()));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`dynamic-provider host exited with ${code}; stderr: ${stderr}`));
      });
    });
    const client = new ResourceProviderClient(await placement.target(port), grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": MAX_MESSAGE,
      "grpc.max_send_message_length": MAX_MESSAGE,
    });
    const host = new ProviderHost(child, client);
    child.stderr?.removeAllListeners("data");
    host.stderr = stderr;
    child.stderr?.on("data", (chunk: Buffer) => (host.stderr += chunk.toString()));
    // The engine configures a provider before any other call.
    const configure = new proto.ConfigureRequest();
    configure.setArgs(struct({}));
    configure.setAcceptsecrets(true);
    configure.setAcceptresources(true);
    const answer = await call<proto.ConfigureResponse>((cb) => client.configure(configure, cb));
    if (answer.getAcceptsecrets()) throw new Error("the dynamic-provider host unexpectedly accepts secrets");
    return host;
  }

  async check(urn: string, olds: Props, news: Props): Promise<CheckAnswer> {
    const request = new proto.CheckRequest();
    identify(request, urn);
    request.setOlds(struct(olds));
    request.setNews(struct(news));
    const answer = await call<proto.CheckResponse>((cb) => this.client.check(request, cb));
    return {
      inputs: (answer.getInputs()?.toJavaScript() ?? {}) as Props,
      failures: answer.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  async diff(urn: string, id: string, olds: Props, news: Props, oldInputs: Props = {}): Promise<DiffAnswer> {
    const request = new proto.DiffRequest();
    identify(request, urn);
    request.setId(id);
    request.setOlds(struct(olds));
    request.setNews(struct(news));
    request.setOldInputs(struct(oldInputs));
    const answer = await call<proto.DiffResponse>((cb) => this.client.diff(request, cb));
    const changes = answer.getChanges();
    return {
      changes:
        changes === proto.DiffResponse.DiffChanges.DIFF_NONE ? "none" : changes === proto.DiffResponse.DiffChanges.DIFF_SOME ? "some" : "unknown",
      replaces: answer.getReplacesList(),
      deleteBeforeReplace: answer.getDeletebeforereplace(),
    };
  }

  async create(urn: string, properties: Props): Promise<{ id: string; properties: Props }> {
    const request = new proto.CreateRequest();
    identify(request, urn);
    request.setProperties(struct(properties));
    const answer = await call<proto.CreateResponse>((cb) => this.client.create(request, cb));
    return { id: answer.getId(), properties: (answer.getProperties()?.toJavaScript() ?? {}) as Props };
  }

  async read(urn: string, id: string, properties: Props, inputs: Props): Promise<{ id: string; properties: Props; inputs?: Props }> {
    const request = new proto.ReadRequest();
    identify(request, urn);
    request.setId(id);
    request.setProperties(struct(properties));
    request.setInputs(struct(inputs));
    const answer = await call<proto.ReadResponse>((cb) => this.client.read(request, cb));
    return {
      id: answer.getId(),
      properties: (answer.getProperties()?.toJavaScript() ?? {}) as Props,
      inputs: answer.getInputs()?.toJavaScript() as Props | undefined,
    };
  }

  async update(urn: string, id: string, olds: Props, news: Props, oldInputs: Props = {}): Promise<Props> {
    const request = new proto.UpdateRequest();
    identify(request, urn);
    request.setId(id);
    request.setOlds(struct(olds));
    request.setNews(struct(news));
    request.setOldInputs(struct(oldInputs));
    const answer = await call<proto.UpdateResponse>((cb) => this.client.update(request, cb));
    return (answer.getProperties()?.toJavaScript() ?? {}) as Props;
  }

  async delete(urn: string, id: string, properties: Props, inputs: Props = {}): Promise<void> {
    const request = new proto.DeleteRequest();
    identify(request, urn);
    request.setId(id);
    request.setProperties(struct(properties));
    request.setOldInputs(struct(inputs));
    await call<Empty>((cb) => this.client.delete(request, cb));
  }

  /** The host's process id (for memory figures). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Stops the host (the engine kills its plugins the same way at the end of an operation). Idempotent. */
  async close(): Promise<void> {
    this.client.close();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    await exited;
  }
}

/** `urn:pulumi:stack::project::type::name` -> name. */
export /** Every request after Configure names its resource the way the engine does. */
function identify(request: { setUrn(v: string): unknown; setName(v: string): unknown; setType(v: string): unknown }, urn: string): void {
  request.setUrn(urn);
  request.setName(urnName(urn));
  request.setType(urnType(urn));
}

function urnName(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

export function urnType(urn: string): string {
  const parts = urn.split("::");
  return parts[parts.length - 2] ?? "";
}

export function urnOf(typeName: string, name: string): string {
  return `urn:pulumi:test::dnlb::pulumi-nodejs:dynamic/dnlb:${typeName}::${name}`;
}
