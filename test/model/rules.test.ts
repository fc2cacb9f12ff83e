import { strict as assert } from "node:assert";
import {
  CheckResult,
  checkBackendService,
  checkHealthCheck,
  checkHighAvailabilityGroup,
  checkListener,
  checkLoadBalancerArgs,
  checkVirtualServerGroup,
  UNKNOWN,
} from "../../provider/model";

/** Enumerations, names, addresses and the cross-field rules of docs/DESIGN.md. */

type Raw = Record<string, unknown>;

function accepted(result: CheckResult): Raw {
  assert.deepEqual(result.failures, [], "expected no failures");
  return result.inputs;
}

/** Exactly one failure, at `property`, whose reason contains each of `words`. */
function refused(result: CheckResult, property: string, ...words: string[]): string {
  assert.deepEqual(
    result.failures.map((f) => f.property),
    [property],
    `expected one failure at ${property}, got ${JSON.stringify(result.failures)}`,
  );
  const reason = result.failures[0].reason;
  for (const word of words) assert.ok(reason.includes(word), `${JSON.stringify(reason)} should contain ${JSON.stringify(word)}`);
  return reason;
}

const hc = (raw: Raw) => checkHealthCheck(raw, { defaultName: "hc" });
const bs = (raw: Raw) => checkBackendService({ port: 80, ...raw }, { defaultName: "bs" });
const ln = (raw: Raw) => checkListener({ port: 80, backendService: "bs-1", ...raw }, { defaultName: "ln" });
const vsg = (members: unknown, subnets?: readonly string[]) => checkVirtualServerGroup({ members }, { defaultName: "vsg", subnets });
const ha = (members: unknown, subnets?: readonly string[]) => checkHighAvailabilityGroup({ members }, { defaultName: "ha", subnets });

describe("model: protocols and choices", () => {
  it('health checks are "TCP" (default) or "UDP"', () => {
    assert.equal(accepted(hc({})).protocol, "TCP");
    assert.equal(accepted(hc({ protocol: "TCP" })).protocol, "TCP");
    assert.equal(accepted(hc({ protocol: "UDP" })).protocol, "UDP");
    for (const protocol of ["HTTP", "tcp", "udp"]) {
      refused(hc({ protocol }), "protocol", 'one of "TCP", "UDP"', `(got "${protocol}")`);
    }
  });

  it('backend services and listeners are "TCP" (default) or "UDP"', () => {
    assert.equal(accepted(bs({})).protocol, "TCP");
    assert.equal(accepted(ln({})).protocol, "TCP");
    assert.equal(accepted(bs({ protocol: "UDP" })).protocol, "UDP");
    assert.equal(accepted(ln({ protocol: "UDP" })).protocol, "UDP");
    refused(bs({ protocol: "SCTP" }), "protocol", 'one of "TCP", "UDP"', '(got "SCTP")');
    refused(ln({ protocol: "QUIC" }), "protocol", 'one of "TCP", "UDP"', '(got "QUIC")');
  });

  it("udpRequest and udpExpectedResponse belong to UDP health checks, and an expected answer needs a request", () => {
    const udp = accepted(hc({ protocol: "UDP", udpRequest: "ping", udpExpectedResponse: "pong" }));
    assert.deepEqual([udp.udpRequest, udp.udpExpectedResponse], ["ping", "pong"]);
    assert.equal(accepted(hc({ protocol: "UDP", udpRequest: "ping" })).udpRequest, "ping");
    assert.ok(!("udpRequest" in accepted(hc({ protocol: "UDP" }))), "unset payloads stay unset");
    refused(hc({ udpRequest: "ping" }), "udpRequest", "only for UDP health checks", '(protocol is "TCP")');
    const both = hc({ protocol: "TCP", udpRequest: "ping", udpExpectedResponse: "pong" }).failures.map((f) => f.property);
    assert.deepEqual(both, ["udpRequest", "udpExpectedResponse"]);
    refused(hc({ protocol: "UDP", udpExpectedResponse: "pong" }), "udpExpectedResponse", "needs udpRequest");
  });

  it("UDP payloads count UTF-8 bytes, not characters: 250 two-byte characters fit, 251 do not", () => {
    assert.equal(accepted(hc({ protocol: "UDP", udpRequest: "é".repeat(250) })).udpRequest, "é".repeat(250));
    refused(hc({ protocol: "UDP", udpRequest: "é".repeat(251) }), "udpRequest", "1 to 500 bytes (UTF-8)");
    refused(hc({ protocol: "UDP", udpRequest: "ping", udpExpectedResponse: "负".repeat(167) }), "udpExpectedResponse", "500 bytes");
  });

  it("PROXY protocol is TCP only: a UDP service that asks for it fails at proxyProtocol", () => {
    assert.equal(accepted(bs({ protocol: "UDP" })).proxyProtocol, "off");
    assert.equal(accepted(bs({ protocol: "UDP", proxyProtocol: "off" })).proxyProtocol, "off");
    for (const proxyProtocol of ["v1", "v2"]) {
      refused(bs({ protocol: "UDP", proxyProtocol }), "proxyProtocol", 'must be "off" for a UDP backend service', "TCP only", `(got "${proxyProtocol}")`);
    }
  });

  it("udpSessionTimeoutSeconds is for UDP services only, and stays unset unless given", () => {
    assert.equal(accepted(bs({ protocol: "UDP", udpSessionTimeoutSeconds: 30 })).udpSessionTimeoutSeconds, 30);
    assert.ok(!("udpSessionTimeoutSeconds" in accepted(bs({ protocol: "UDP" }))), "the node applies its default");
    assert.ok(!("udpSessionTimeoutSeconds" in accepted(bs({}))), "a TCP service's normalized inputs do not change");
    refused(bs({ udpSessionTimeoutSeconds: 30 }), "udpSessionTimeoutSeconds", "only for UDP backend services", "idleTimeoutSeconds");
  });

  it("protocol rules wait for unknown values at preview", () => {
    const unknown = UNKNOWN;
    accepted(hc({ protocol: unknown, udpRequest: "ping" }));
    accepted(bs({ protocol: unknown, proxyProtocol: "v2", udpSessionTimeoutSeconds: 30 }));
    accepted(bs({ protocol: "UDP", proxyProtocol: unknown }));
  });

  it("algorithm is IpHash (default) or QuintupleHash", () => {
    assert.equal(accepted(bs({})).algorithm, "IpHash");
    assert.equal(accepted(bs({ algorithm: "IpHash" })).algorithm, "IpHash");
    assert.equal(accepted(bs({ algorithm: "QuintupleHash" })).algorithm, "QuintupleHash");
    for (const algorithm of ["RoundRobin", "iphash", "", 1]) {
      refused(bs({ algorithm }), "algorithm", '"IpHash", "QuintupleHash"', `(got ${JSON.stringify(algorithm)})`);
    }
  });

  it('proxyProtocol is "off" (default), "v1" or "v2"', () => {
    assert.equal(accepted(bs({})).proxyProtocol, "off");
    for (const proxyProtocol of ["off", "v1", "v2"]) assert.equal(accepted(bs({ proxyProtocol })).proxyProtocol, proxyProtocol);
    for (const proxyProtocol of ["v3", "on", true]) {
      refused(bs({ proxyProtocol }), "proxyProtocol", '"off", "v1", "v2"', `(got ${JSON.stringify(proxyProtocol)})`);
    }
  });

  it("the other backend service defaults follow docs/reference.md", () => {
    const inputs = accepted(bs({}));
    assert.equal(inputs.healthCheckEnabled, true);
    assert.equal(inputs.idleTimeoutSeconds, 900);
    assert.equal(inputs.drainingTimeoutSeconds, 300);
    assert.ok(!("healthCheck" in inputs) && !("serverGroup" in inputs), "unset references stay unset");
    refused(bs({ healthCheckEnabled: "yes" }), "healthCheckEnabled", "true or false", '(got "yes")');
    refused(bs({ serverGroup: "a b" }), "serverGroup", "the id of a VirtualServerGroup or HighAvailabilityGroup", '(got "a b")');
  });
});

describe("model: names", () => {
  const checks = [hc, bs, ln, (raw: Raw) => checkVirtualServerGroup({ members: [{ address: "10.0.0.1" }], ...raw }, { defaultName: "g" })];

  it("accepts Chinese characters, letters, digits, '-' and '_' on every resource", () => {
    for (const check of checks) {
      for (const name of ["负载均衡-1", "lb_01-A", "后端服务", "9", "𠀀"]) assert.equal(accepted(check({ name })).name, name);
    }
  });

  it("counts characters, not UTF-16 units: 32 Chinese characters fit, 33 do not", () => {
    assert.equal(accepted(hc({ name: "负".repeat(32) })).name, "负".repeat(32));
    assert.equal(accepted(hc({ name: "𠀀".repeat(32) })).name, "𠀀".repeat(32), "a supplementary-plane character counts once");
    refused(hc({ name: "负".repeat(33) }), "name", "1-32 characters");
  });

  it("refuses spaces, dots and other characters", () => {
    for (const name of ["a b", "lb.1", "lb/1", "名字!", "😀", "ロード", " lb", "lb\n"]) {
      refused(hc({ name }), "name", "1-32 characters of Chinese characters, letters, digits, '-' and '_'", `(got ${JSON.stringify(name)})`);
    }
  });

  it("defaults to the Pulumi resource name and keeps an explicit one", () => {
    assert.equal(accepted(hc({})).name, "hc");
    assert.equal(accepted(hc({ name: "explicit" })).name, "explicit");
  });

  it("description counts characters too: 256 Chinese characters fit", () => {
    assert.equal(accepted(hc({ description: "𠀀".repeat(256) })).description, "𠀀".repeat(256));
    refused(hc({ description: "负".repeat(257) }), "description", "at most 256 characters");
  });
});

describe("model: member addresses", () => {
  const canonical: [string, string][] = [
    ["10.0.0.1", "10.0.0.1"],
    ["::ffff:10.0.0.1", "10.0.0.1"],
    ["::ffff:0a00:0001", "10.0.0.1"],
    ["fd00::5", "fd00::5"],
    ["2001:0db8:0::1", "2001:db8::1"],
    ["2001:DB8::1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
  ];

  for (const [given, stored] of canonical) {
    it(`stores ${given} as ${stored} (virtual and high-availability groups, load balancer nodes)`, () => {
      const group = accepted(vsg([{ address: given }])).members as { address: string }[];
      assert.equal(group[0].address, stored);
      const haGroup = accepted(ha([{ address: given }])).members as { address: string }[];
      assert.equal(haGroup[0].address, stored);
      const nodes = accepted(checkLoadBalancerArgs({ nodes: [{ listenAddress: given }] })).nodes as { listenAddress: string }[];
      assert.equal(nodes[0].listenAddress, stored);
    });
  }

  it("refuses hostnames with a message saying so", () => {
    for (const address of ["example.com", "localhost", "db-1.internal"]) {
      refused(vsg([{ address }]), "members[0].address", "not a hostname", `(got "${address}")`);
      refused(ha([{ address }]), "members[0].address", "not a hostname", `(got "${address}")`);
    }
  });

  it("refuses a host name as a node's listenAddress with the node's own reason, not the members'", () => {
    const reason = refused(checkLoadBalancerArgs({ nodes: [{ listenAddress: "lb-1.internal" }] }), "nodes[0].listenAddress", "not a hostname", '(got "lb-1.internal")', "the node binds this address on its Docker host");
    assert.ok(!reason.includes("members"), `a node's address is no member's: ${reason}`);
  });

  it("states a list over its size by its count, not by a truncated copy of it", () => {
    const members = Array.from({ length: 1001 }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}` }));
    const reason = refused(vsg(members), "members", "members must be a list of 1 to 1000 entries (got 1001 entries)");
    assert.ok(!reason.includes("..."), reason);
  });

  it("refuses addresses that name no single host, and keeps loopback", () => {
    for (const [address, why] of [["0.0.0.0", "unspecified"], ["::", "unspecified"], ["224.0.0.1", "multicast"], ["ff02::1", "multicast"], ["255.255.255.255", "broadcast"]]) {
      refused(vsg([{ address }]), "members[0].address", "must be a unicast address", `(got ${JSON.stringify(address)})`, why);
      refused(ha([{ address }]), "members[0].address", "must be a unicast address", why);
    }
    assert.deepEqual(checkVirtualServerGroup({ members: [{ address: "127.0.0.1" }, { address: "::1" }] }, { defaultName: "g" }).failures, []);
  });

  it("refuses what is not an IP literal, naming the value", () => {
    for (const address of ["10.0.0.256", "10.0.0", "010.0.0.1", "1.2.3.4.5", "10.0.0.1/32", "fe80::1%eth0", "ffff::g", "", " 10.0.0.1"]) {
      const reason = refused(vsg([{ address }]), "members[0].address", "an IPv4 or IPv6 address", `(got ${JSON.stringify(address)})`);
      assert.ok(!reason.includes("hostname"), `${address} is no hostname: ${reason}`);
    }
    refused(vsg([{ address: 10 }]), "members[0].address", "an IPv4 or IPv6 address", "(got 10)");
    refused(vsg([{ port: 80 }]), "members[0].address", "is required");
  });
});

describe("model: members are unique by (address, port)", () => {
  it("refuses the same address and port twice, naming both entries", () => {
    refused(
      vsg([{ address: "10.0.0.1", port: 80 }, { address: "10.0.0.2", port: 80 }, { address: "10.0.0.1", port: 80 }]),
      "members[2]",
      "repeats members[0]",
      "10.0.0.1 port 80",
      "unique by address and port",
    );
  });

  it("catches duplicates written differently (canonical forms)", () => {
    refused(vsg([{ address: "10.0.0.1" }, { address: "::ffff:10.0.0.1" }]), "members[1]", "repeats members[0]", "(10.0.0.1)");
    refused(
      vsg([{ address: "2001:db8::1", port: 443 }, { address: "2001:0db8:0::1", port: 443 }]),
      "members[1]",
      "repeats members[0]",
      "2001:db8::1 port 443",
    );
    refused(ha([{ address: "fd00::1" }, { address: "FD00:0::1" }]), "members[1]", "repeats members[0]");
  });

  it("allows one address on several ports", () => {
    accepted(vsg([{ address: "10.0.0.1", port: 80 }, { address: "10.0.0.1", port: 81 }, { address: "10.0.0.1" }]));
  });

  it("reports each repeat, not only the first", () => {
    const result = vsg([{ address: "10.0.0.1" }, { address: "10.0.0.1" }, { address: "10.0.0.1" }]);
    assert.deepEqual(
      result.failures.map((f) => f.property),
      ["members[1]", "members[2]"],
    );
    assert.ok(result.failures.every((f) => f.reason.includes("repeats members[0]")));
  });
});

describe("model: high-availability members", () => {
  // Copied from docs/DESIGN.md, not imported: the message is part of the contract.
  const MESSAGE =
    "members of a high-availability group take no weight/port: all weigh the same and use the backend service port";

  it("refuses a weight and a port, each at its own path, with docs/DESIGN.md's message", () => {
    refused(ha([{ address: "10.0.0.1" }, { address: "10.0.0.2", weight: 5 }]), "members[1].weight", MESSAGE);
    refused(ha([{ address: "10.0.0.1", port: 80 }]), "members[0].port", MESSAGE);
    const both = ha([{ address: "10.0.0.1", weight: 5, port: 80 }]);
    assert.deepEqual(both.failures.map((f) => f.property).sort(), ["members[0].port", "members[0].weight"]);
  });

  it("fills enabled (true) and nothing else", () => {
    assert.deepEqual(accepted(ha([{ address: "10.0.0.1" }, { address: "10.0.0.2", enabled: false }])).members, [
      { address: "10.0.0.1", enabled: true },
      { address: "10.0.0.2", enabled: false },
    ]);
  });

  it("virtual members get weight 10 and enabled true", () => {
    assert.deepEqual(accepted(vsg([{ address: "10.0.0.1" }])).members, [{ address: "10.0.0.1", weight: 10, enabled: true }]);
  });
});

describe("model: the subnets rule", () => {
  const subnets = ["10.0.0.0/16"];

  it("refuses a member outside the load balancer's subnets, naming the member and the subnets", () => {
    const result = checkVirtualServerGroup(
      { members: [{ address: "10.0.0.1" }, { address: "10.1.0.1", port: 80 }] },
      { defaultName: "vsg", subnets },
    );
    const reason = refused(result, "members[1].address", '"10.1.0.1"', "10.0.0.0/16", "every member must lie in one of the subnets the LoadBalancer declares");
    assert.ok(!reason.includes("region"), `a load balancer has no region: ${reason}`);
  });

  it("judges canonical addresses: ::ffff:10.0.0.9 is inside 10.0.0.0/16, an IPv6 address is not", () => {
    accepted(vsg([{ address: "::ffff:10.0.0.9" }], subnets));
    refused(vsg([{ address: "fd00::1" }], subnets), "members[0].address", "outside the load balancer's subnets");
  });

  it("accepts a member inside any one of several subnets", () => {
    accepted(vsg([{ address: "10.0.0.1" }, { address: "fd00::1" }, { address: "192.168.1.1" }], ["10.0.0.0/16", "fd00::/8", "192.168.0.0/16"]));
  });

  it("applies to high-availability groups too", () => {
    refused(ha([{ address: "172.16.0.1" }], subnets), "members[0].address", '"172.16.0.1"', "10.0.0.0/16");
  });

  it("does not apply when the load balancer declares no subnets", () => {
    accepted(vsg([{ address: "203.0.113.7" }]));
    accepted(vsg([{ address: "203.0.113.7" }], []));
  });
});

describe("model: unknown fields are named", () => {
  it("names a typo (timeoutSecond) and lists the fields allowed", () => {
    refused(hc({ timeoutSecond: 5 }), "timeoutSecond", "is not a field of a HealthCheck", "timeoutSeconds");
  });

  it("names a typo inside a member", () => {
    refused(vsg([{ address: "10.0.0.1" }, { address: "10.0.0.2", wieght: 5 }]), "members[1].wieght", "is not a field", "weight");
  });

  it("names every unknown field, on every resource", () => {
    const result = bs({ healthcheck: "hc-1", idleTimeout: 5 });
    assert.deepEqual(result.failures.map((f) => f.property).sort(), ["healthcheck", "idleTimeout"]);
    refused(ln({ backend: "bs-1" }), "backend", "is not a field of a Listener", "backendService");
    refused(checkLoadBalancerArgs({ node: 3 }), "node", "is not a field of LoadBalancer arguments", "nodes");
    refused(checkLoadBalancerArgs({ nodes: [{ adminport: 9180 }] }), "nodes[0].adminport", "is not a field", "adminPort");
  });
});

describe("model: failures quote what was given", () => {
  it("shows NaN and Infinity as such, not as null", () => {
    refused(hc({ timeoutSeconds: Number.NaN }), "timeoutSeconds", "(got NaN)");
    refused(hc({ intervalSeconds: Number.POSITIVE_INFINITY }), "intervalSeconds", "(got Infinity)");
  });

  it("never quotes a secret: the admin token and the hash seed", () => {
    const token = "short-secret-x";
    const tokenReason = refused(checkLoadBalancerArgs({ adminToken: token }), "adminToken", "at least 16 characters");
    assert.ok(!tokenReason.includes(token), tokenReason);
    const seed = "not-hex-but-32-characters-long!!";
    const seedReason = refused(checkLoadBalancerArgs({ hashSeed: seed }), "hashSeed", "32 hex characters");
    assert.ok(!seedReason.includes(seed), seedReason);
    accepted(checkLoadBalancerArgs({ adminToken: "a".repeat(16), hashSeed: "0123456789abcdef0123456789abcdef" }));
  });

  it("hands the raw input back on failure, so Pulumi shows what the user wrote", () => {
    const raw = { name: "hc", timeoutSeconds: 61 };
    assert.deepEqual(hc(raw).inputs, raw);
  });

  it("refuses an input that is not an object without throwing", () => {
    const result = checkHealthCheck(null as unknown as Raw, { defaultName: "hc" });
    assert.deepEqual(result.failures, [{ property: "", reason: "must be an object (a HealthCheck) (got null)" }]);
  });
});
