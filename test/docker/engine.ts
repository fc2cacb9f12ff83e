import { spawn } from "node:child_process";
import { Agent, request } from "undici";
import type { ContainerFile, ContainerSpec } from "../../provider/resources/node-container";

/**
 * Just enough of the Docker Engine API for the end-to-end test, over the daemon's unix socket
 * (DOCKER_HOST, default /var/run/docker.sock). Containers are created through the API rather
 * than `docker run` because the healthcheck is in exec form, which the CLI cannot express.
 */

const API = "/v1.41"; // Docker 20.10, the oldest engine Debian's docker.io offers.

export function dockerSocket(): string {
  const host = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  if (!host.startsWith("unix://")) throw new Error(`the Docker end-to-end test needs a unix socket DOCKER_HOST (got ${host})`);
  return host.slice("unix://".length);
}

export class DockerEngine {
  private readonly agent: Agent;

  constructor(socketPath: string = dockerSocket()) {
    this.agent = new Agent({ connect: { socketPath } });
  }

  async call(method: "GET" | "POST" | "DELETE", path: string, body?: unknown, okStatuses: readonly number[] = []): Promise<unknown> {
    const res = await request(`http://docker${API}${path}`, {
      method,
      dispatcher: this.agent,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300 && !okStatuses.includes(res.statusCode)) {
      throw new Error(`docker ${method} ${path}: ${res.statusCode} ${text.trim()}`);
    }
    return text === "" ? undefined : (JSON.parse(text) as unknown);
  }

  /**
   * Creates a container from the spec the LoadBalancer component also uses, writes its files and
   * starts it (unless the spec says not to), in the order @pulumi/docker does: the files go in one
   * archive extracted at `/`, which Docker refuses for a read-only root unless every file lies in
   * a writable volume. `extraHostConfig`: what a benchmark adds, such as CPU pinning.
   */
  async run(spec: ContainerSpec<string>, extraLabels: Record<string, string>, extraHostConfig: Record<string, unknown> = {}): Promise<string> {
    const body = createBody(spec, extraLabels);
    body.HostConfig = { ...(body.HostConfig as Record<string, unknown>), ...extraHostConfig };
    const created = (await this.call("POST", `/containers/create?name=${encodeURIComponent(spec.name)}`, body)) as {
      Id: string;
    };
    if (spec.files.length > 0) await this.putArchive(created.Id, "/", tarArchive(spec.files));
    if (spec.start) await this.call("POST", `/containers/${created.Id}/start`);
    return created.Id;
  }

  /** An image as the tar archive `docker save` writes. */
  async exportImage(ref: string): Promise<Buffer> {
    const res = await request(`http://docker${API}/images/${encodeURIComponent(ref)}/get`, { dispatcher: this.agent });
    const archive = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode >= 300) throw new Error(`docker GET image ${ref}: ${res.statusCode} ${archive.toString("utf8").slice(0, 500)}`);
    return archive;
  }

  /** What `docker load` does with the archive of `exportImage`. */
  async importImage(archive: Buffer): Promise<void> {
    const res = await request(`http://docker${API}/images/load?quiet=1`, {
      method: "POST",
      dispatcher: this.agent,
      headers: { "content-type": "application/x-tar" },
      body: archive,
    });
    const text = await res.body.text();
    if (res.statusCode >= 300 || text.includes('"error"')) throw new Error(`docker load: ${res.statusCode} ${text.trim().slice(0, 500)}`);
  }

  async putArchive(id: string, path: string, archive: Buffer): Promise<void> {
    const res = await request(`http://docker${API}/containers/${id}/archive?path=${encodeURIComponent(path)}`, {
      method: "PUT",
      dispatcher: this.agent,
      headers: { "content-type": "application/x-tar" },
      body: archive,
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`docker PUT archive ${path} into ${id}: ${res.statusCode} ${text.trim()}`);
  }

  /** The full JSON `docker inspect` prints for a container. */
  async inspectText(id: string): Promise<string> {
    return JSON.stringify(await this.call("GET", `/containers/${id}/json`));
  }

  async stop(id: string, timeoutSeconds = 5): Promise<void> {
    await this.call("POST", `/containers/${id}/stop?t=${timeoutSeconds}`, undefined, [304]);
  }

  async restart(id: string, timeoutSeconds = 10): Promise<void> {
    await this.call("POST", `/containers/${id}/restart?t=${timeoutSeconds}`);
  }

  async inspect(id: string): Promise<ContainerState> {
    return (await this.call("GET", `/containers/${id}/json`)) as ContainerState;
  }

  async containersLabelled(label: string): Promise<{ Id: string; Names: string[]; Mounts: { Name?: string }[] }[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
    return (await this.call("GET", `/containers/json?all=1&filters=${filters}`)) as { Id: string; Names: string[]; Mounts: { Name?: string }[] }[];
  }

  /** With its anonymous volumes: the image's VOLUME gives one to every container mounting none there (the demo backends). */
  async removeContainer(id: string): Promise<void> {
    await this.call("DELETE", `/containers/${id}?force=1&v=1`, undefined, [404]);
  }

  async removeVolume(name: string): Promise<void> {
    await this.call("DELETE", `/volumes/${encodeURIComponent(name)}?force=1`, undefined, [404]);
  }

  async volumeExists(name: string): Promise<boolean> {
    const res = await this.call("GET", `/volumes/${encodeURIComponent(name)}`, undefined, [404]);
    return res !== undefined && (res as { Name?: string }).Name === name;
  }

  async removeImage(ref: string): Promise<void> {
    await this.call("DELETE", `/images/${encodeURIComponent(ref)}?force=1`, undefined, [404]);
  }

  /**
   * Removes an image with every image built on it: the classic builder keeps a build stage's
   * layers as untagged children of its FROM image, which removing the tag alone leaves behind.
   */
  async removeImageTree(ref: string): Promise<void> {
    const root = (await this.call("GET", `/images/${encodeURIComponent(ref)}/json`, undefined, [404])) as { Id?: string } | undefined;
    if (root?.Id === undefined) return;
    const all = (await this.call("GET", "/images/json?all=1")) as { Id: string; ParentId: string }[];
    const descendants = [root.Id];
    for (let i = 0; i < descendants.length; i++) {
      for (const image of all) if (image.ParentId === descendants[i]) descendants.push(image.Id);
    }
    // Children first: an image with children cannot go.
    for (const id of descendants.reverse()) await this.call("DELETE", `/images/${id}?force=1`, undefined, [404, 409]);
  }

  async logs(id: string): Promise<string> {
    const res = await request(`http://docker${API}/containers/${id}/logs?stdout=1&stderr=1&tail=40`, { dispatcher: this.agent });
    // Multiplexed stream: 8-byte frame headers; strip them for reading.
    const raw = Buffer.from(await res.body.arrayBuffer());
    const chunks: string[] = [];
    for (let at = 0; at + 8 <= raw.length; ) {
      const size = raw.readUInt32BE(at + 4);
      chunks.push(raw.subarray(at + 8, at + 8 + size).toString("utf8"));
      at += 8 + size;
    }
    return chunks.join("");
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

export interface ContainerState {
  readonly Id: string;
  readonly RestartCount: number;
  readonly State: { readonly Status: string; readonly Running: boolean; readonly Pid: number; readonly StartedAt: string; readonly Health?: { readonly Status: string } };
  readonly Mounts: readonly { readonly Name?: string; readonly Destination: string }[];
}

const NS_PER_SECOND = 1_000_000_000;

/** The Engine API's container create body for a spec (what `docker.Container` sends, too). */
export function createBody(spec: ContainerSpec<string>, extraLabels: Record<string, string>): Record<string, unknown> {
  const hc = spec.healthcheck;
  return {
    Image: spec.image,
    ...(spec.entrypoint === undefined ? {} : { Entrypoint: [...spec.entrypoint] }),
    Cmd: [...spec.command],
    Env: spec.env.map((e) => `${e.name}=${e.value}`),
    Labels: { ...spec.labels, ...extraLabels },
    StopTimeout: spec.stopTimeoutSeconds,
    ...(spec.user === undefined ? {} : { User: spec.user }),
    ...(hc === undefined
      ? {}
      : {
          Healthcheck: {
            Test: [...hc.test],
            Interval: hc.intervalSeconds * NS_PER_SECOND,
            Timeout: hc.timeoutSeconds * NS_PER_SECOND,
            Retries: hc.retries,
            StartPeriod: hc.startPeriodSeconds * NS_PER_SECOND,
          },
        }),
    HostConfig: {
      NetworkMode: spec.networkMode,
      RestartPolicy: { Name: spec.restart },
      Binds: spec.volumes.map((v) => `${v.volumeName}:${v.containerPath}${v.readOnly ? ":ro" : ""}`),
      ReadonlyRootfs: spec.readOnlyRootFilesystem,
      Tmpfs: { ...spec.tmpfs },
      SecurityOpt: [...spec.securityOptions],
      ...(spec.memoryLimitMiB === undefined ? {} : { Memory: spec.memoryLimitMiB * MIB }),
      LogConfig: { Type: "json-file", Config: { ...spec.logOptions } },
      ...(spec.capabilities === undefined ? {} : { CapDrop: [...spec.capabilities.drop], CapAdd: [...spec.capabilities.add] }),
    },
  };
}

const MIB = 1024 * 1024;
const TAR_BLOCK = 512;

/** A ustar archive of the files (names relative to `/`), as @pulumi/docker builds for its uploads. */
export function tarArchive(files: readonly ContainerFile<string>[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const content = Buffer.from(file.content, "utf8");
    const header = Buffer.alloc(TAR_BLOCK);
    const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0") + "\0";
    header.write(file.path.replace(/^\//, ""), 0, 100, "utf8");
    header.write(octal(file.mode, 8), 100, "ascii");
    header.write(octal(file.uid, 8), 108, "ascii");
    header.write(octal(file.gid, 8), 116, "ascii");
    header.write(octal(content.length, 12), 124, "ascii");
    header.write(octal(Math.floor(Date.now() / 1000), 12), 136, "ascii");
    header.write("        ", 148, "ascii"); // the checksum counts its own field as spaces
    header.write("0", 156, "ascii"); // a regular file
    header.write("ustar\u000000", 257, "binary");
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
    blocks.push(header, content, Buffer.alloc((TAR_BLOCK - (content.length % TAR_BLOCK)) % TAR_BLOCK));
  }
  blocks.push(Buffer.alloc(2 * TAR_BLOCK));
  return Buffer.concat(blocks);
}

/** Runs the docker CLI (for import and build, which stream files), failing with its output. */
export function dockerCli(args: readonly string[], options: { input?: NodeJS.ReadableStream; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("docker", [...args], { env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`docker ${args.join(" ")} exited ${code}: ${(err || out).trim().slice(-2000)}`)),
    );
    if (options.input) options.input.pipe(child.stdin);
    else child.stdin.end();
  });
}
