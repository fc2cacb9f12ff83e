import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { demoBackendContainerSpec } from "../../provider/resources/node-container";
import { containerArgs } from "../../provider/resources/load-balancer";

export interface DemoBackend {
  /** Said in every reply ("hello from b1"), so a client sees which member answered. */
  readonly label: string;
  readonly address: string;
  readonly port: number;
}

/**
 * Small HTTP servers standing in for real members: containers from the forwarder image (it has
 * Node.js), each bound to its own loopback address with host networking.
 */
export function demoBackends(
  prefix: string,
  image: pulumi.Input<string>,
  backends: readonly DemoBackend[],
  opts?: pulumi.CustomResourceOptions,
): docker.Container[] {
  return backends.map(
    (b) =>
      new docker.Container(
        `${prefix}-${b.label}`,
        containerArgs(
          demoBackendContainerSpec({
            containerName: `${prefix}-${b.label}`,
            image,
            address: b.address,
            port: b.port,
            label: b.label,
            labels: { "dnlb.example": prefix },
          }),
        ),
        // Host networking: a replacement must free the address before the new container binds it.
        { ...opts, deleteBeforeReplace: true },
      ),
  );
}
