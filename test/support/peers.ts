/**
 * A test that needs a program this machine may lack (a real peer such as nginx or NSD, BIRD, root
 * for network namespaces): skipped with the reason, or failed when DNLB_REQUIRE_PEERS=1 (as
 * `.ci/run` sets it), so that CI never passes by skipping.
 */
export function skipUnlessPresent(ctx: Mocha.Context, missing: string | undefined): void {
  if (missing === undefined) return;
  if (process.env.DNLB_REQUIRE_PEERS === "1") throw new Error(`${missing} (DNLB_REQUIRE_PEERS=1)`);
  console.log(`      skipped: ${missing}`);
  ctx.skip();
}
