import { Maglev, memberKey, movedFraction, type HashMember } from "../hashing";
import { containsUnknown } from "../model";

/**
 * What a server group means for traffic, computed with the same hashing core the nodes use:
 * each member's expected share (all members healthy), and how many flows a change moves.
 *
 * A member without a port uses its backend service's port, which the group does not know.
 * Such members are hashed with a stand-in port, the same one for the old and the new group, so
 * shares and moved flows are exact up to that stand-in; they are labelled by address alone.
 */

export interface GroupMember {
  readonly address: string;
  readonly port?: number;
  readonly weight?: number;
  readonly enabled?: boolean;
}

interface LabelledMember extends HashMember {
  readonly label: string;
}

/** Members as the hashing core sees them: enabled only, HA members all weigh the same. */
function hashMembers(members: readonly GroupMember[], weighted: boolean): { eligible: LabelledMember[]; labels: string[] } {
  const explicitPorts = new Map<string, Set<number>>();
  for (const m of members) {
    if (m.port !== undefined) {
      const ports = explicitPorts.get(m.address) ?? new Set<number>();
      ports.add(m.port);
      explicitPorts.set(m.address, ports);
    }
  }
  const eligible: LabelledMember[] = [];
  const labels: string[] = [];
  for (const m of members) {
    const label = m.port === undefined ? m.address : memberKey({ address: m.address, port: m.port });
    labels.push(label);
    if (m.enabled === false) continue;
    eligible.push({
      address: m.address,
      port: m.port ?? standInPort(explicitPorts.get(m.address)),
      weight: weighted ? (m.weight ?? 10) : 1,
      label,
    });
  }
  return { eligible, labels };
}

/** The lowest port this address does not use explicitly (1 unless the group lists port 1 for it). */
function standInPort(used: Set<number> | undefined): number {
  let port = 1;
  while (used?.has(port)) port++;
  return port;
}

function isKnownMemberList(members: unknown): members is GroupMember[] {
  return (
    Array.isArray(members) &&
    !containsUnknown(members) &&
    members.every((m) => m !== null && typeof m === "object" && typeof (m as GroupMember).address === "string")
  );
}

/**
 * Each member's expected share of new flows (0-1, 4 decimals), keyed `address:port` (or the
 * address alone for a member that uses the service port). Disabled members show 0.
 */
export function expectedTrafficShares(members: unknown, weighted: boolean): Record<string, number> | undefined {
  if (!isKnownMemberList(members)) return undefined;
  const { eligible, labels } = hashMembers(members, weighted);
  const shares: Record<string, number> = {};
  for (const label of labels) shares[label] = 0;
  if (eligible.length === 0) return shares;
  let byKey: Map<string, number>;
  try {
    byKey = Maglev.build(eligible).slotShares();
  } catch {
    return undefined; // invalid members: check reports them
  }
  for (const m of eligible) shares[m.label] = Math.round((byKey.get(memberKey(m)) ?? 0) * 10000) / 10000;
  return shares;
}

/** The fraction of flows (0-1) that land on another member after the change, or undefined when not computable. */
export function flowsMovedFraction(oldMembers: unknown, newMembers: unknown, weighted: boolean): number | undefined {
  if (!isKnownMemberList(oldMembers) || !isKnownMemberList(newMembers)) return undefined;
  const oldEligible = hashMembers(oldMembers, weighted).eligible;
  const newEligible = hashMembers(newMembers, weighted).eligible;
  // The common case, an unchanged group, needs no table: same members and weights, same table.
  if (tableInput(oldEligible) === tableInput(newEligible)) return 0;
  try {
    return movedFraction(Maglev.build(oldEligible), Maglev.build(newEligible));
  } catch {
    // Invalid members (check reports them); nothing to say about traffic.
    return undefined;
  }
}

/** What decides the table: each eligible member's key and weight, in canonical order. */
function tableInput(members: readonly LabelledMember[]): string {
  return members
    .map((m) => `${memberKey(m)}/${m.weight}`)
    .sort()
    .join(",");
}

/** "this change moves 12.5% of flows" as `pulumi preview --diff` shows it next to the member changes. */
export function flowsMovedMessage(fraction: number): string {
  if (fraction === 0) return "this change moves no flows";
  const percent = fraction * 100;
  const text = percent < 0.1 ? "less than 0.1%" : `${percent.toFixed(1)}%`;
  return `this change moves ${text} of flows`;
}
