/**
 * Gathers the programs a node with a VIP runs besides Node (bird and birdc from BIRD 2, ip from
 * iproute2, setpriv from util-linux) into SPEAKER_DIR, for the Dockerfile's `speaker` stage:
 *
 *   SPEAKER_DIR/libexec/<name>  the program itself
 *   SPEAKER_DIR/lib/            every library it loads and the dynamic loader, as the builder has them
 *   SPEAKER_DIR/bin/<name>      launcher.c, statically linked: runs libexec/<name> with that loader
 *                               and those libraries only
 *
 * The node image's runtime stage copies SPEAKER_DIR and lists SPEAKER_DIR/bin first on PATH, so
 * the node finds the programs by name and they never load the image's own libraries (nor Node
 * theirs). Missing programs are installed with apt-get when the builder image has it (the public
 * node:22-bookworm); the tests' builder image carries them already. No shell: the libraries come
 * from the dynamic loader's own trace (LD_TRACE_LOADED_OBJECTS, what ldd reads).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const SPEAKER_DIR = "/opt/dnlb/speaker";
/** Program name and the Debian package that ships it. */
export const SPEAKER_PROGRAMS: readonly (readonly [string, string])[] = [
  ["bird", "bird2"],
  ["birdc", "bird2"],
  ["ip", "iproute2"],
  ["setpriv", "util-linux"],
];
const SEARCH_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

function locate(name: string): string | undefined {
  return SEARCH_DIRS.map((dir) => path.join(dir, name)).find((file) => fs.existsSync(file));
}

/** The loader and the libraries `program` loads, as absolute paths, from the loader's own trace. */
export function loadedObjects(program: string): { loader: string; libraries: string[] } {
  const trace = execFileSync(program, [], { encoding: "utf8", env: { LD_TRACE_LOADED_OBJECTS: "1" } });
  let loader: string | undefined;
  const libraries: string[] = [];
  for (const line of trace.split("\n")) {
    const resolved = /=>\s+(\/\S+)\s+\(0x/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (resolved) libraries.push(resolved[1]);
    else if (bare) loader = bare[1];
    else if (/=>\s+not found/.test(line)) throw new Error(`${program} needs a library the builder image lacks: ${line.trim()}`);
  }
  if (loader === undefined) throw new Error(`${program} is not a dynamically linked program of this system's C library (no loader in its trace:\n${trace})`);
  return { loader, libraries };
}

function installMissing(): void {
  const missing = SPEAKER_PROGRAMS.filter(([name]) => locate(name) === undefined);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  const aptGet = locate("apt-get");
  if (aptGet === undefined) {
    throw new Error(`the builder image lacks ${missing.map(([name]) => name).join(", ")} (Debian ${packages.join(", ")}) and has no apt-get to install them; looked in ${SEARCH_DIRS.join(", ")}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync(aptGet, ["update"], { stdio: "inherit", env });
  execFileSync(aptGet, ["install", "-y", "--no-install-recommends", ...packages], { stdio: "inherit", env });
}

function copyExecutable(source: string, target: string): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(fs.realpathSync(source), target);
  fs.chmodSync(target, 0o755);
}

export function gather(out: string = SPEAKER_DIR, launcherSource: string = defaultLauncherSource()): void {
  installMissing();
  const loaders = new Set<string>();
  for (const [name] of SPEAKER_PROGRAMS) {
    const program = locate(name);
    if (program === undefined) throw new Error(`${name} is still missing after installing it`);
    copyExecutable(program, path.join(out, "libexec", name));
    const { loader, libraries } = loadedObjects(program);
    loaders.add(path.basename(loader));
    for (const file of [loader, ...libraries]) copyExecutable(file, path.join(out, "lib", path.basename(file)));
  }
  if (loaders.size !== 1) throw new Error(`the programs use different dynamic loaders (${[...loaders].join(", ")}): one launcher cannot run them all`);
  const launcher = path.join(out, "launcher");
  const compiler = process.env.CC ?? "cc";
  execFileSync(
    compiler,
    ["-O2", "-static", "-Wall", "-Wextra", "-Werror", `-DSPEAKER_DIR="${out}"`, `-DSPEAKER_LOADER="${[...loaders][0]}"`, "-o", launcher, launcherSource],
    { stdio: "inherit" },
  );
  for (const [name] of SPEAKER_PROGRAMS) copyExecutable(launcher, path.join(out, "bin", name));
  fs.rmSync(launcher);
}

/** launcher.c in the source tree (or the build context): this file runs from dist/provider/forwarder/speaker. */
function defaultLauncherSource(): string {
  return path.join(path.resolve(__dirname, "..", "..", "..", ".."), "provider", "forwarder", "speaker", "launcher.c");
}

if (require.main === module) {
  try {
    gather(process.argv[2]);
  } catch (error) {
    process.stderr.write(`cannot gather the VIP's programs for the node image: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
