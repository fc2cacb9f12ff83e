/**
 * Which data-plane engine a node runs, and why. Status and metrics report both, so a node that
 * fell back to Node's sockets (several times the CPU per connection, docs/BENCHMARKS.md) is seen.
 */
import { defaultEngine, type DataPlaneEngine } from "../options";
import { StartupError } from "../errors";
import { NATIVE_RELAY_FILE, nativeRelayUnavailable } from "../native/relay";

export interface EngineChoice {
  readonly name: DataPlaneEngine;
  readonly reason: string;
}

/** What to do when the relay does not load, for the message a required native engine fails with. */
const FIX =
  "rebuild the forwarder image for the Docker host's platform (the LoadBalancer's platform argument, or docker build --platform; " +
  "the image compiles the relay itself), or, outside a container, run npm run build where a C compiler and Node's headers are installed; " +
  "to run without the relay on purpose, start the node with --engine streams";

/**
 * `--engine` when given, else native where the relay loads and streams elsewhere. A native engine
 * that cannot load is a StartupError (exit code 2) when asked for with `--engine native`, or
 * when `requireNative` (`--require-native`) forbids falling back.
 */
export function chooseEngine(asked: DataPlaneEngine | undefined, requireNative: boolean): EngineChoice {
  if (asked === "streams") return { name: "streams", reason: "asked for with --engine streams" };
  if (defaultEngine() === "native") {
    return { name: "native", reason: asked === "native" ? "asked for with --engine native" : `the native relay loads (${NATIVE_RELAY_FILE})` };
  }
  const why = nativeRelayUnavailable() ?? "unknown reason";
  if (asked === "native" || requireNative) {
    const flag = asked === "native" ? "--engine native" : "--require-native";
    throw new StartupError(`${flag}: the native relay does not load here (${why}), and ${flag} forbids falling back to Node's sockets. Fix: ${FIX}`);
  }
  return { name: "streams", reason: `the native relay does not load here: ${why}` };
}
