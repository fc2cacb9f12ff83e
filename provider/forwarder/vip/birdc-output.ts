/** Reading `birdc show protocols`: each protocol's session state, by protocol name. */

/** BGP session states as BIRD prints them in the protocol's info column. */
const BGP_STATES = ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established", "Close"] as const;
export type BgpState = (typeof BGP_STATES)[number] | "Down";

/**
 * Protocol name -> BGP state. A line looks like
 * `peer1      BGP        ---        up     18:01:02.345  Established`; a protocol that is not up
 * and shows no BGP state (disabled, or BIRD just started) is "Down".
 */
export function parseProtocols(output: string): Map<string, BgpState> {
  const states = new Map<string, BgpState>();
  for (const line of output.split("\n")) {
    const words = line.trim().split(/\s+/);
    if (words.length < 4 || words[1] !== "BGP") continue;
    const state = words.slice(4).find((w): w is (typeof BGP_STATES)[number] => (BGP_STATES as readonly string[]).includes(w));
    states.set(words[0], state ?? "Down");
  }
  return states;
}
