import * as pulumi from "@pulumi/pulumi";
import { randomBytes } from "node:crypto";
import { canonicalAddress, isUnknown } from "../model";
import { expiresWithin, issueNodeCertificate, makeCertificateAuthority, RENEW_WITHIN_DAYS, type CertificateAuthority } from "./admin-certificates";

/**
 * The admin plane's private CA and one server certificate per node, kept in the Pulumi state.
 *
 * The CA is made once, on create, and kept for the resource's life: the connection pins it, so a new
 * one would mean every node's certificate at once. A node's certificate is issued again when its
 * admin address or host names change (TLS checks them against the endpoint), or when it comes
 * within RENEW_WITHIN_DAYS of its end, and only then; a node that leaves drops its certificate.
 */

export interface AdminCertificateNode {
  /** The node's name: the key of its certificate and key in the outputs. */
  readonly name: string;
  /** The address the provider dials (an IP literal or a host name), put in the certificate's subjectAltName. */
  readonly adminAddress: string;
  /** Other names the node is reached by. */
  readonly hostNames?: readonly string[];
}

export interface AdminCertificatesInputs {
  readonly nodes: readonly AdminCertificateNode[];
}

export interface AdminCertificatesOutputs extends AdminCertificatesInputs {
  readonly caCertificate: string;
  /** Secret. */
  readonly caPrivateKey: string;
  /** PEM certificate per node name. */
  readonly certificates: Record<string, string>;
  /** Secret: PEM private key per node name. */
  readonly privateKeys: Record<string, string>;
}

type Failure = { property: string; reason: string };

/** At preview, any part may be unknown: only what is known is checked. */
function checkNodes(raw: unknown): Failure[] {
  if (isUnknown(raw)) return [];
  if (!Array.isArray(raw) || raw.length === 0) {
    return [{ property: "nodes", reason: "nodes must be a list of at least one { name, adminAddress, hostNames? }" }];
  }
  const failures: Failure[] = [];
  const seen = new Set<string>();
  raw.forEach((node: Partial<AdminCertificateNode> | null, i) => {
    const at = `nodes[${i}]`;
    if (isUnknown(node)) return;
    if (node === null || typeof node !== "object") {
      failures.push({ property: at, reason: `${at} must be an object { name, adminAddress, hostNames? }` });
      return;
    }
    if (!isUnknown(node.name)) {
      if (typeof node.name !== "string" || node.name === "") failures.push({ property: `${at}.name`, reason: `${at}.name must be a non-empty string` });
      else if (seen.has(node.name)) failures.push({ property: `${at}.name`, reason: `${at}.name repeats ${JSON.stringify(node.name)}: each node is listed once` });
      else seen.add(node.name);
    }
    if (!isUnknown(node.adminAddress) && (typeof node.adminAddress !== "string" || !/^[A-Za-z0-9.:-]+$/.test(node.adminAddress))) {
      failures.push({ property: `${at}.adminAddress`, reason: `${at}.adminAddress must be an IP address or a host name (got ${JSON.stringify(node.adminAddress)})` });
    }
    const names = node.hostNames ?? [];
    if (!isUnknown(names) && (!Array.isArray(names) || names.some((n) => !isUnknown(n) && (typeof n !== "string" || !/^[A-Za-z0-9.-]+$/.test(n))))) {
      failures.push({ property: `${at}.hostNames`, reason: `${at}.hostNames must be a list of host names (letters, digits, '.', '-')` });
    }
  });
  return failures;
}

/** What a node's certificate names: it is issued again exactly when this changes. */
function subjectKey(node: AdminCertificateNode): string {
  return JSON.stringify([canonicalAddress(node.adminAddress) ?? node.adminAddress.toLowerCase(), [...(node.hostNames ?? [])].sort()]);
}

function issue(ca: CertificateAuthority, node: AdminCertificateNode): { certificatePem: string; privateKeyPem: string } {
  const ip = canonicalAddress(node.adminAddress);
  return issueNodeCertificate(ca, {
    commonName: node.name,
    ipAddresses: ip === undefined ? [] : [ip],
    dnsNames: [...(ip === undefined ? [node.adminAddress] : []), ...(node.hostNames ?? [])],
  });
}

/** The certificate and key of `previous` still good for `node`: same addresses, not near its end. */
function reusable(node: AdminCertificateNode, previous: AdminCertificatesOutputs | undefined): { certificatePem: string; privateKeyPem: string } | undefined {
  const before = previous?.nodes.find((n) => n.name === node.name);
  if (before === undefined || subjectKey(before) !== subjectKey(node)) return undefined;
  const certificatePem = previous?.certificates[node.name];
  const privateKeyPem = previous?.privateKeys[node.name];
  if (certificatePem === undefined || privateKeyPem === undefined || expiresWithin(certificatePem, RENEW_WITHIN_DAYS)) return undefined;
  return { certificatePem, privateKeyPem };
}

/** Certificates for `nodes`, reusing those of `previous` that are still good for their node. */
function certificatesFor(ca: CertificateAuthority, nodes: readonly AdminCertificateNode[], previous?: AdminCertificatesOutputs): AdminCertificatesOutputs {
  const certificates: Record<string, string> = {};
  const privateKeys: Record<string, string> = {};
  for (const node of nodes) {
    const kept = reusable(node, previous);
    if (kept !== undefined) {
      certificates[node.name] = kept.certificatePem;
      privateKeys[node.name] = kept.privateKeyPem;
    } else {
      const issued = issue(ca, node);
      certificates[node.name] = issued.certificatePem;
      privateKeys[node.name] = issued.privateKeyPem;
    }
  }
  return { nodes: nodes.map((n) => ({ ...n })), caCertificate: ca.certificatePem, caPrivateKey: ca.privateKeyPem, certificates, privateKeys };
}

export const adminCertificatesProvider: pulumi.dynamic.ResourceProvider<AdminCertificatesInputs, AdminCertificatesOutputs> = {
  async check(_olds, news) {
    const failures = checkNodes(news.nodes);
    return { inputs: news, failures };
  },
  async diff(_id, olds, news) {
    if (!Array.isArray(news.nodes)) return { changes: true };
    const key = (nodes: readonly AdminCertificateNode[]) => JSON.stringify(nodes.map((n) => [n.name, subjectKey(n)]).sort());
    // Never a replacement: the CA outlives every change of nodes.
    if (key(olds.nodes) !== key(news.nodes)) return { changes: true };
    const renewing = news.nodes.filter((n) => !isUnknown(n) && reusable(n, olds) === undefined);
    return renewing.length === 0 ? { changes: false } : { changes: true, diffs: ["certificates"] };
  },
  async create(inputs) {
    const outs = certificatesFor(makeCertificateAuthority(), inputs.nodes);
    return { id: `dnlb-admin-ca-${randomBytes(8).toString("hex")}`, outs };
  },
  async update(_id, olds, news) {
    const ca = { certificatePem: olds.caCertificate, privateKeyPem: olds.caPrivateKey };
    return { outs: certificatesFor(ca, news.nodes, olds) };
  },
  async read(id, props) {
    // The keys exist only in the state: a refresh keeps them.
    return { id, props };
  },
};

export interface AdminCertificatesArgs {
  readonly nodes: pulumi.Input<pulumi.Input<AdminCertificateNode>[]>;
}

export class AdminCertificates extends pulumi.dynamic.Resource {
  // `declare`: with ES2022 class fields a plain declaration would reset the outputs the base constructor set.
  declare public readonly caCertificate: pulumi.Output<string>;
  declare public readonly certificates: pulumi.Output<Record<string, string>>;
  declare public readonly privateKeys: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: AdminCertificatesArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      adminCertificatesProvider,
      name,
      { nodes: args.nodes, caCertificate: undefined, caPrivateKey: undefined, certificates: undefined, privateKeys: undefined },
      { ...opts, additionalSecretOutputs: ["caPrivateKey", "privateKeys"] },
      "dnlb",
      "AdminCertificates",
    );
  }
}
