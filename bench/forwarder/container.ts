/**
 * The forwarder as the LoadBalancer component deploys it: a container of the node image, from
 * the component's own container spec (host networking, read-only root, secrets as files, every
 * capability dropped but NET_BIND_SERVICE, --require-native), pinned with the cgroup's cpuset
 * instead of taskset. CPU time and memory are read from /proc of the container's first process
 * and its descendants, as for a host process.
 *
 * The image is either given (`--forwarder-image`, e.g. built from the public Node images) or
 * built here the way the Docker end-to-end test builds it, without a registry: builder and base
 * images made from this machine's compiler and Node, the relay compiled inside the image build.
 * Needs a Docker engine (DOCKER_HOST or /var/run/docker.sock); `bash bench/forwarder/in-container.sh`
 * starts one when none answers.
 */
import { nodeContainerSpec, nodeSecretsSpec } from "../../provider/resources/node-container";
import { stageForwarderContext } from "../../provider/resources/load-balancer-image";
import { buildBaseImage, buildBuilderImage } from "../../test/docker/base-image";
import { dockerCli, DockerEngine } from "../../test/docker/engine";
import { delay } from "../../test/support/wait";
import type { Processes } from "./processes";
import { FORWARDER_ADMIN_PORT, FORWARDER_SECRETS, type ForwarderLauncher } from "./proxies";

const LABEL = "dnlb.bench";
/** Generous: the idle-connections figure must not meet the container's memory limit. */
const MEMORY_LIMIT_MIB = 4096;

export interface ImageBuild {
  readonly image: string;
  /** Seconds to make the builder and base images, and the forwarder image. */
  readonly helperSeconds: number;
  readonly imageSeconds: number;
  readonly imageBytes: number;
}

export class ContainerForwarders {
  private readonly engine = new DockerEngine();
  private readonly run = `${process.pid}-${Date.now().toString(36)}`;
  private readonly containers: string[] = [];
  private readonly volumes: string[] = [];
  private readonly images: string[] = [];
  private launches = 0;

  /** Builds the node image without a registry (test/docker/base-image.ts), and removes it at `close`. */
  async buildImage(log: (line: string) => void): Promise<ImageBuild> {
    const base = `dnlb-bench-base:${this.run}`;
    const builder = `dnlb-bench-builder:${this.run}`;
    const image = `dnlb-bench-forwarder:${this.run}`;
    this.images.push(image, base, builder);
    const started = Date.now();
    log("container: making the builder and base images from this machine's compiler and Node");
    await Promise.all([buildBaseImage(base), buildBuilderImage(builder)]);
    const helpersDone = Date.now();
    log("container: building the forwarder image (the relay compiled inside it)");
    const context = stageForwarderContext();
    await dockerCli(["build", "--quiet", "--build-arg", `BUILDER_IMAGE=${builder}`, "--build-arg", `BASE_IMAGE=${base}`, "--tag", image, context.dir], {
      env: { DOCKER_BUILDKIT: "0" },
    });
    const imageSeconds = (Date.now() - helpersDone) / 1000;
    const { Size } = (await this.engine.call("GET", `/images/${encodeURIComponent(image)}/json`)) as { Size: number };
    return { image, helperSeconds: (helpersDone - started) / 1000, imageSeconds, imageBytes: Size };
  }

  /** Runs each forwarder as a container of `image`; its output is `docker logs --follow`. */
  launcher(image: string): ForwarderLauncher {
    return async (procs: Processes, _dir, launch) => {
      const n = ++this.launches;
      const containerName = `dnlb-bench-${this.run}-${n}`;
      const stateVolume = `${containerName}-state`;
      const secretsVolume = `${containerName}-secrets`;
      this.volumes.push(stateVolume, secretsVolume);
      const labels = { [LABEL]: this.run };
      this.containers.push(await this.engine.run(nodeSecretsSpec({ nodeContainerName: containerName, image, secretsVolume, ...FORWARDER_SECRETS }), labels));
      const spec = nodeContainerSpec({
        containerName,
        image,
        listenAddress: launch.host,
        adminAddress: launch.host,
        adminPort: FORWARDER_ADMIN_PORT,
        stateVolume,
        secretsVolume,
        tls: false,
        memoryLimitMiB: MEMORY_LIMIT_MIB,
      });
      const id = await this.engine.run(
        { ...spec, command: [...spec.command, ...launch.flags], restart: "no" },
        labels,
        launch.cpus === undefined ? {} : { CpusetCpus: launch.cpus },
      );
      this.containers.push(id);
      const logs = procs.start(`${launch.name} (container)`, "docker", ["logs", "--follow", id]);
      return procs.retarget(logs, await this.firstProcess(id));
    };
  }

  /** Removes every container, volume and image this run made. */
  async close(): Promise<void> {
    for (const id of this.containers.reverse()) await this.engine.removeContainer(id).catch(() => undefined);
    for (const volume of this.volumes) await this.engine.removeVolume(volume).catch(() => undefined);
    for (const image of this.images) await this.engine.removeImageTree(image).catch(() => undefined);
    await this.engine.close();
  }

  private async firstProcess(id: string): Promise<number> {
    for (let i = 0; i < 100; i++) {
      const state = await this.engine.inspect(id);
      if (state.State.Pid > 0) return state.State.Pid;
      if (!state.State.Running && state.State.Status === "exited") break;
      await delay(100);
    }
    throw new Error(`the forwarder container ${id.slice(0, 12)} did not start: ${await this.engine.logs(id)}`);
  }
}
