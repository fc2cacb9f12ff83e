import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import * as forge from "node-forge";

/**
 * A private certificate authority for the admin plane and the server certificates it issues to
 * nodes, as PEM text. The provider pins the CA (the connection's `caCertificate`), so these never
 * need a public CA: a node's certificate names the addresses the provider dials (IP SANs, which is
 * what TLS checks for an `https://10.0.0.5:9180` endpoint) and its host names.
 *
 * Keys come from node:crypto (OpenSSL), which is far faster than node-forge's JavaScript keygen;
 * forge only builds and signs the certificates.
 */

export interface CertificateAuthority {
  readonly certificatePem: string;
  /** Secret: whoever holds it can issue certificates every node's client trusts. */
  readonly privateKeyPem: string;
}

export interface NodeCertificate {
  readonly certificatePem: string;
  /** Secret: the node's TLS key. */
  readonly privateKeyPem: string;
}

export interface NodeCertificateRequest {
  readonly commonName: string;
  /** IP literals the node is dialled at (its admin address). */
  readonly ipAddresses?: readonly string[];
  readonly dnsNames?: readonly string[];
  /** Default 825 days (the longest validity TLS clients accept for a server certificate). */
  readonly validDays?: number;
  /** For tests: the start of validity (default: now, minus a minute of clock skew). */
  readonly notBefore?: Date;
}

export const DEFAULT_CA_VALID_DAYS = 3650;
export const DEFAULT_NODE_VALID_DAYS = 825;
/**
 * A node's certificate is issued again by the first `pulumi up` that finds it this close to its
 * end: a stack deployed once a month renews in time, and the node loads the new files without a
 * restart.
 */
export const RENEW_WITHIN_DAYS = 30;
const DAY_MS = 86_400_000;

/** Whether the certificate ends within `days` of `now` (or has ended). */
export function expiresWithin(certificatePem: string, days: number, now: Date = new Date()): boolean {
  return Date.parse(new X509Certificate(certificatePem).validTo) - now.getTime() <= days * DAY_MS;
}
/** Clocks of the provider's host and the nodes' hosts differ a little. */
const CLOCK_SKEW_MS = 60_000;

function newKeyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; privateKeyPem: string } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(privateKeyPem);
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), privateKeyPem };
}

/** A positive 128-bit serial (RFC 5280 4.1.2.2: at most 20 octets, not negative). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  return bytes.toString("hex");
}

function validity(certificate: forge.pki.Certificate, days: number, notBefore?: Date): void {
  if (!Number.isInteger(days) || days < 1 || days > DEFAULT_CA_VALID_DAYS) {
    throw new RangeError(`validDays must be an integer from 1 to ${DEFAULT_CA_VALID_DAYS} (got ${String(days)})`);
  }
  const start = notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  certificate.validity.notBefore = start;
  certificate.validity.notAfter = new Date(start.getTime() + days * DAY_MS);
}

export function makeCertificateAuthority(options: { readonly commonName?: string; readonly validDays?: number } = {}): CertificateAuthority {
  const keys = newKeyPair();
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = keys.publicKey;
  certificate.serialNumber = serialNumber();
  validity(certificate, options.validDays ?? DEFAULT_CA_VALID_DAYS);
  // A name of its own: a client that trusts another dnlb CA then reports "unable to verify" rather
  // than finding a same-named issuer whose signature fails.
  const subject = [{ name: "commonName", value: options.commonName ?? `dnlb admin CA ${randomBytes(4).toString("hex")}` }];
  certificate.setSubject(subject);
  certificate.setIssuer(subject);
  certificate.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  certificate.sign(keys.privateKey, forge.md.sha256.create());
  return { certificatePem: forge.pki.certificateToPem(certificate), privateKeyPem: keys.privateKeyPem };
}

export function issueNodeCertificate(ca: CertificateAuthority, request: NodeCertificateRequest): NodeCertificate {
  const ipAddresses = request.ipAddresses ?? [];
  const dnsNames = request.dnsNames ?? [];
  if (ipAddresses.length + dnsNames.length === 0) {
    throw new RangeError(`the certificate for ${request.commonName} names no address: give ipAddresses or dnsNames (TLS checks the endpoint against them)`);
  }
  const caCertificate = forge.pki.certificateFromPem(ca.certificatePem);
  const caKey = forge.pki.privateKeyFromPem(ca.privateKeyPem);
  const keys = newKeyPair();
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = keys.publicKey;
  certificate.serialNumber = serialNumber();
  validity(certificate, request.validDays ?? DEFAULT_NODE_VALID_DAYS, request.notBefore);
  certificate.setSubject([{ name: "commonName", value: request.commonName }]);
  certificate.setIssuer(caCertificate.subject.attributes);
  certificate.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [...ipAddresses.map((ip) => ({ type: 7, ip })), ...dnsNames.map((value) => ({ type: 2, value }))],
    },
  ]);
  certificate.sign(caKey, forge.md.sha256.create());
  return { certificatePem: forge.pki.certificateToPem(certificate), privateKeyPem: keys.privateKeyPem };
}
