/**
 * What `import * as dnlb from "pulumi-dnlb"` gives a user's program, for the examples inside
 * this repository (they run from source). In your own project, import "pulumi-dnlb" instead.
 */
export * from "../../provider";
// Named re-exports take precedence over the star export, so this holds whether or not the
// package index already re-exports the component.
export {
  LoadBalancer,
  type LoadBalancerArgs,
  type LoadBalancerNodeArgs,
} from "../../provider/resources/load-balancer";
