import { strict as assert } from "node:assert";
import { freePort, freePorts } from "../support/net";
import { LIMITS } from "../../provider/model";
import { call, samples, startNode, type TestNode } from "./admin-fixture";
import { assertRefused } from "./admin-assert";

describe("admin API: conditional writes, references and limits", function () {
  let t: TestNode;
  const put = (kind: string, id: string, body: unknown, headers?: Record<string, string>) =>
    call(t.url, "PUT", `/v1/${kind}/${id}`, { body, headers });
  const del = (kind: string, id: string) => call(t.url, "DELETE", `/v1/${kind}/${id}`);

  /** hc <- web (group g) <- listener web-80 on port `webPort`. */
  let webPort = 0;
  async function chain(): Promise<void> {
    webPort = await freePort("127.0.5.2");
    assert.equal((await put("health-checks", "hc", samples.healthCheck())).status, 201);
    assert.equal((await put("server-groups", "g", samples.serverGroup())).status, 201);
    assert.equal((await put("backend-services", "web", samples.backendService("web", { healthCheck: "hc", serverGroup: "g" }))).status, 201);
    assert.equal((await put("listeners", "web-80", samples.listener("web-80", webPort))).status, 201);
  }

  beforeEach(async () => {
    t = await startNode({ label: "rules" });
  });
  afterEach(async () => {
    await t.node.close({ graceMs: 0 });
  });

  describe("conditional headers", () => {
    it("If-None-Match: * creates, and refuses to overwrite a different spec (412)", async () => {
      const created = await put("health-checks", "hc", samples.healthCheck(), { "if-none-match": "*" });
      assert.equal(created.status, 201);
      const refused = await assertRefused(
        t.stateDir,
        () => put("health-checks", "hc", { ...samples.healthCheck(), timeoutSeconds: 9 }, { "if-none-match": "*" }),
        412,
        "precondition_failed",
      );
      assert.match(refused.json.error.message, /health check hc already exists \(revision 1\)/);
      // The identical spec is a retry of the same create: 200, nothing overwritten.
      const retry = await put("health-checks", "hc", samples.healthCheck(), { "if-none-match": "*" });
      assert.equal(retry.status, 200);
      assert.equal(retry.json.revision, 1);
    });

    it("If-Match: <revision> refuses a stale write (412) and accepts the current one", async () => {
      await put("health-checks", "hc", samples.healthCheck());
      await put("health-checks", "hc", { ...samples.healthCheck(), timeoutSeconds: 4 });
      const stale = await assertRefused(
        t.stateDir,
        () => put("health-checks", "hc", { ...samples.healthCheck(), timeoutSeconds: 5 }, { "if-match": '"1"' }),
        412,
        "precondition_failed",
      );
      assert.match(stale.json.error.message, /revision 2, not 1/);
      const current = await put("health-checks", "hc", { ...samples.healthCheck(), timeoutSeconds: 5 }, { "if-match": '"2"' });
      assert.equal(current.status, 200);
      assert.equal(current.json.revision, 3);
      assert.equal(current.headers.etag, '"3"');
      // Bare numbers, weak tags and lists are read too; * means "must exist".
      assert.equal((await put("health-checks", "hc", { ...samples.healthCheck(), timeoutSeconds: 6 }, { "if-match": "3" })).status, 200);
      assert.equal((await put("health-checks", "hc", { ...samples.healthCheck(), timeoutSeconds: 7 }, { "if-match": 'W/"9", "4"' })).status, 200);
      assert.equal((await put("health-checks", "hc", { ...samples.healthCheck(), timeoutSeconds: 8 }, { "if-match": "*" })).status, 200);
      await assertRefused(t.stateDir, () => put("health-checks", "new", samples.healthCheck(), { "if-match": "*" }), 412, "precondition_failed");
      await assertRefused(t.stateDir, () => put("health-checks", "new", samples.healthCheck(), { "if-match": '"1"' }), 412, "precondition_failed");
      const malformed = await assertRefused(
        t.stateDir,
        () => put("health-checks", "hc", samples.healthCheck(), { "if-match": "revision-two" }),
        400,
        "invalid_input",
      );
      assert.equal(malformed.json.error.details[0].path, "If-Match");
    });
  });

  describe("references", () => {
    it("refuses a reference to a missing object with 409 missing_reference naming the id", async () => {
      const noService = await assertRefused(t.stateDir, () => put("listeners", "l", samples.listener("l", 23011, "ghost")), 409, "missing_reference");
      assert.match(noService.json.error.message, /backend service ghost/);
      assert.deepEqual(noService.json.error.details.map((d: { path: string }) => d.path), ["backendService"]);
      const noCheck = await assertRefused(
        t.stateDir,
        () => put("backend-services", "web", samples.backendService("web", { healthCheck: "hc-gone" })),
        409,
        "missing_reference",
      );
      assert.match(noCheck.json.error.message, /health check hc-gone/);
      const noGroup = await assertRefused(
        t.stateDir,
        () => put("backend-services", "web", samples.backendService("web", { serverGroup: "g-gone" })),
        409,
        "missing_reference",
      );
      assert.match(noGroup.json.error.message, /server group g-gone/);
    });

    it("refuses to delete what is in use (409 naming the holder), then deletes in dependency order", async () => {
      await chain();
      const service = await assertRefused(t.stateDir, () => del("backend-services", "web"), 409, "in_use");
      assert.match(service.json.error.message, /^backend service web is used by listener web-80/);
      const check = await assertRefused(t.stateDir, () => del("health-checks", "hc"), 409, "in_use");
      assert.match(check.json.error.message, /^health check hc is used by backend service web/);
      const group = await assertRefused(t.stateDir, () => del("server-groups", "g"), 409, "in_use");
      assert.match(group.json.error.message, /^server group g is bound to backend service web/);

      assert.equal((await del("listeners", "web-80")).status, 204);
      assert.equal((await del("backend-services", "web")).status, 204);
      // Deleting the service unbound its group: the group stays and is free to bind again.
      assert.equal((await call(t.url, "GET", "/v1/server-groups/g")).status, 200);
      assert.equal((await put("backend-services", "api", samples.backendService("api", { serverGroup: "g" }))).status, 201);
      assert.equal((await del("health-checks", "hc")).status, 204);
    });

    it("binds a server group to one backend service (409 already_bound naming the first)", async () => {
      await chain();
      const second = await assertRefused(
        t.stateDir,
        () => put("backend-services", "api", samples.backendService("api", { serverGroup: "g" })),
        409,
        "already_bound",
      );
      assert.match(second.json.error.message, /server group g is already bound to backend service web/);
      // The service that holds it may be rewritten with the same group.
      const same = await put("backend-services", "web", samples.backendService("web", { healthCheck: "hc", serverGroup: "g", port: 23902 }));
      assert.equal(same.status, 200);
      // Moving the group away from web frees it.
      assert.equal((await put("backend-services", "web", samples.backendService("web"))).status, 200);
      assert.equal((await put("backend-services", "api", samples.backendService("api", { serverGroup: "g" }))).status, 201);
    });

    it("refuses a member twice once the service port fills in (409 duplicate_member), on either write", async () => {
      const twice = { type: "virtual", name: "twice", members: [{ address: "127.0.2.1" }, { address: "127.0.2.2" }, { address: "127.0.2.1", port: 8080 }] };
      assert.equal((await put("server-groups", "twice", twice)).status, 201, "unbound, the group is valid");
      // Binding it to a service on port 8080 makes members[0] and members[2] one member.
      const bind = await assertRefused(t.stateDir, () => put("backend-services", "web", samples.backendService("web", { serverGroup: "twice", port: 8080 })), 409, "duplicate_member");
      assert.match(bind.json.error.message, /members\[0\] \(127\.0\.2\.1\) and members\[2\] \(127\.0\.2\.1 port 8080\) of server group twice are one member under backend service web's port 8080/);
      // On another port they are two members; then changing the bound group is refused the same way.
      assert.equal((await put("backend-services", "web", samples.backendService("web", { serverGroup: "twice", port: 8081 }))).status, 201);
      const clash = { ...twice, members: [{ address: "127.0.2.1", port: 8081 }, { address: "127.0.2.1" }] };
      const update = await assertRefused(t.stateDir, () => put("server-groups", "twice", clash), 409, "duplicate_member");
      assert.equal(update.json.error.details[0].path, "members[1]");
    });

    it("keeps listener ports unique per node (409 duplicate_port naming the other listener)", async () => {
      await chain();
      const clash = await assertRefused(t.stateDir, () => put("listeners", "web-80b", samples.listener("web-80b", webPort)), 409, "duplicate_port");
      assert.match(clash.json.error.message, new RegExp(`port ${webPort} is already used by listener web-80`));
      assert.equal((await put("listeners", "web-80", { ...samples.listener("web-80", webPort), name: "renamed" })).status, 200);
    });

    it("lets a TCP and a UDP listener share a port, and keeps (protocol, port) unique", async () => {
      await chain();
      assert.equal((await put("backend-services", "dns", samples.backendService("dns", { protocol: "UDP", port: 53 }))).status, 201);
      const udp = await put("listeners", "dns-udp", { ...samples.listener("dns-udp", webPort, "dns"), protocol: "UDP" });
      assert.equal(udp.status, 201, udp.text);
      assert.equal(udp.json.protocol, "UDP");
      const clash = await assertRefused(
        t.stateDir,
        () => put("listeners", "dns-udp-2", { ...samples.listener("dns-udp-2", webPort, "dns"), protocol: "UDP" }),
        409,
        "duplicate_port",
      );
      assert.match(clash.json.error.message, new RegExp(`^UDP port ${webPort} is already used by listener dns-udp:`));
      // The TCP listener on that port still listens: the UDP one was not bound as TCP beside it.
      const status = (await call(t.url, "GET", "/v1/status")).json;
      const tcp = status.listeners.find((l: { id: string }) => l.id === "web-80");
      assert.equal(tcp.state, "Listening", JSON.stringify(status.listeners));
    });

    it("binds a listener only to a backend service of its protocol (409 protocol_mismatch naming both)", async () => {
      await chain();
      const udpOnTcp = await assertRefused(
        t.stateDir,
        () => put("listeners", "dns", { ...samples.listener("dns", webPort, "web"), protocol: "UDP" }),
        409,
        "protocol_mismatch",
      );
      assert.match(udpOnTcp.json.error.message, /^listener dns is UDP but backend service web is TCP: a listener binds a backend service of its own protocol/);
      assert.deepEqual(udpOnTcp.json.error.details.map((d: { path: string }) => d.path), ["backendService"]);
      // Flipping the service's protocol under its TCP listener is refused the same way, naming the listener.
      const flip = await assertRefused(
        t.stateDir,
        () => put("backend-services", "web", samples.backendService("web", { healthCheck: "hc", serverGroup: "g", protocol: "UDP" })),
        409,
        "protocol_mismatch",
      );
      assert.match(flip.json.error.message, /^listener web-80 is TCP but backend service web is UDP/);
      assert.deepEqual(flip.json.error.details.map((d: { path: string }) => d.path), ["protocol"]);
    });

    it("accepts the UDP fields and refuses their misuse with the model's messages (400)", async () => {
      const udpCheck = { ...samples.healthCheck("udp"), protocol: "UDP", udpRequest: "ping", udpExpectedResponse: "pong" };
      const created = await put("health-checks", "udp", udpCheck);
      assert.equal(created.status, 201, created.text);
      assert.deepEqual([created.json.udpRequest, created.json.udpExpectedResponse], ["ping", "pong"]);
      const service = samples.backendService("dns", { protocol: "UDP", port: 53, healthCheck: "udp", udpSessionTimeoutSeconds: 30 });
      const svc = await put("backend-services", "dns", service);
      assert.equal(svc.status, 201, svc.text);
      assert.equal(svc.json.udpSessionTimeoutSeconds, 30);
      // A UDP service may use a TCP check.
      assert.equal((await put("health-checks", "tcp", samples.healthCheck("tcp"))).status, 201);
      assert.equal((await put("backend-services", "dns", { ...service, healthCheck: "tcp" })).status, 200);

      const proxy = await assertRefused(t.stateDir, () => put("backend-services", "dns", { ...service, proxyProtocol: "v2" }), 400, "invalid_input");
      assert.deepEqual(proxy.json.error.details.map((d: { path: string }) => d.path), ["proxyProtocol"]);
      assert.match(proxy.json.error.details[0].message, /PROXY protocol is TCP only/);
      const tcpSession = await assertRefused(
        t.stateDir,
        () => put("backend-services", "web", samples.backendService("web", { udpSessionTimeoutSeconds: 30 })),
        400,
        "invalid_input",
      );
      assert.deepEqual(tcpSession.json.error.details.map((d: { path: string }) => d.path), ["udpSessionTimeoutSeconds"]);
      const long = await assertRefused(t.stateDir, () => put("health-checks", "udp", { ...udpCheck, udpRequest: "x".repeat(501) }), 400, "invalid_input");
      assert.match(long.json.error.details[0].message, /^udpRequest must be text of 1 to 500 bytes/);
      const tcpPayload = await assertRefused(t.stateDir, () => put("health-checks", "tcp", { ...samples.healthCheck("tcp"), udpRequest: "ping" }), 400, "invalid_input");
      assert.match(tcpPayload.json.error.details[0].message, /^udpRequest is only for UDP health checks/);
    });
  });

  describe("limits", () => {
    it(`accepts ${LIMITS.perKind} listeners and refuses the next with 409 limit_reached`, async function () {
      this.timeout(60_000);
      await put("backend-services", "web", samples.backendService());
      const ports = await freePorts("127.0.5.2", LIMITS.perKind + 1);
      for (let i = 0; i < LIMITS.perKind; i++) {
        const reply = await put("listeners", `l-${i}`, samples.listener(`l-${i}`, ports[i]));
        assert.equal(reply.status, 201, reply.text);
      }
      const over = await assertRefused(
        t.stateDir,
        () => put("listeners", "l-50", samples.listener("l-50", ports[LIMITS.perKind])),
        409,
        "limit_reached",
      );
      assert.match(over.json.error.message, /at most 50 listeners/);
      // Replacing one of the 50 is still allowed; freeing one makes room.
      assert.equal((await put("listeners", "l-0", { ...samples.listener("l-0", ports[0]), name: "zero" })).status, 200);
      assert.equal((await del("listeners", "l-0")).status, 204);
      assert.equal((await put("listeners", "l-50", samples.listener("l-50", ports[LIMITS.perKind]))).status, 201);
    });

    it(`refuses the ${LIMITS.healthChecks + 1}th health check, server group and backend service`, async function () {
      this.timeout(60_000);
      const bodies: [string, (i: number) => unknown][] = [
        ["health-checks", (i) => samples.healthCheck(`hc${i}`)],
        ["server-groups", (i) => samples.serverGroup(`g${i}`)],
        ["backend-services", (i) => samples.backendService(`s${i}`)],
      ];
      for (const [kind, body] of bodies) {
        for (let i = 0; i < 50; i++) assert.equal((await put(kind, `o-${i}`, body(i))).status, 201);
        await assertRefused(t.stateDir, () => put(kind, "o-50", body(50)), 409, "limit_reached");
      }
    });
  });

  it("serializes concurrent writes: every change gets its own revision", async () => {
    await put("health-checks", "hc", samples.healthCheck());
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => put("health-checks", "hc", { ...samples.healthCheck(), description: `write ${i}` })),
    );
    const revisions = replies.map((r) => r.json.revision as number).sort((a, b) => a - b);
    assert.deepEqual(revisions, Array.from({ length: 20 }, (_, i) => i + 2));
    const stored = (await call(t.url, "GET", "/v1/health-checks/hc")).json;
    assert.equal(stored.revision, 21);
  });
});
