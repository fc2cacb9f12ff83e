import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { dockerCli } from "./engine";

/**
 * A BASE_IMAGE made without any registry: a root filesystem holding this machine's Node.js
 * binary and the shared libraries `ldd` lists for it, imported with `docker import`. It has no
 * shell and no package manager, which also proves the Dockerfile needs neither.
 */

/** The libraries the dynamic loader needs for `binary`, as absolute paths. */
export function sharedLibraries(binary: string): string[] {
  const out = execFileSync("ldd", [binary], { encoding: "utf8" });
  const libs = new Set<string>();
  for (const line of out.split("\n")) {
    const match = /(\/\S+)\s+\(0x/.exec(line);
    if (match) libs.add(match[1]);
  }
  return [...libs];
}

export async function buildBaseImage(tag: string, nodeBinary: string = process.execPath): Promise<void> {
  const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), "dnlb-e2e-rootfs-"));
  try {
    const put = (source: string, target: string) => {
      fs.mkdirSync(path.dirname(path.join(rootfs, target)), { recursive: true });
      fs.copyFileSync(fs.realpathSync(source), path.join(rootfs, target));
    };
    put(nodeBinary, "/usr/local/bin/node");
    fs.chmodSync(path.join(rootfs, "usr/local/bin/node"), 0o755);
    for (const lib of sharedLibraries(nodeBinary)) put(lib, lib);
    fs.mkdirSync(path.join(rootfs, "etc"), { recursive: true });
    fs.writeFileSync(path.join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/sbin/nologin\ndnlb:x:10001:10001:dnlb:/var/lib/dnlb:/sbin/nologin\n");
    fs.writeFileSync(path.join(rootfs, "etc/group"), "root:x:0:\ndnlb:x:10001:\n");
    fs.mkdirSync(path.join(rootfs, "tmp"), { mode: 0o1777 });
    fs.chmodSync(path.join(rootfs, "tmp"), 0o1777);
    const tar = spawn("tar", ["-C", rootfs, "-c", "."], { stdio: ["ignore", "pipe", "inherit"] });
    await dockerCli(["import", "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin", "-", tag], { input: tar.stdout });
  } finally {
    fs.rmSync(rootfs, { recursive: true, force: true });
  }
}
