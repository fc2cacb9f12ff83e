import { UNKNOWN } from "../../../provider/model";
import { unwrapSecrets } from "../../../provider/resources/secrets";
import { ProviderHost, urnOf, type CheckAnswer, type DiffAnswer, type Props } from "./host";

/**
 * The part of the Pulumi engine that drives a dynamic resource, in the engine's order, so tests
 * can run `preview`, `up`, `refresh` and `destroy` steps through the real host:
 *
 * - Check(olds = previous inputs, news = program inputs); failures stop the step.
 * - Diff(olds = previous outputs, news = checked inputs); on a replacement, Check again with no
 *   olds (new defaults and a new id), then create-before-delete, or delete-before-replace.
 * - The host does not accept secrets, so the engine strips secret marks from everything it sends,
 *   and keeps whatever the provider marked secret in what it stores.
 */

export interface Goal {
  readonly type: string;
  readonly name: string;
  readonly provider: string;
  readonly props: Props;
}

export interface ResourceState {
  readonly urn: string;
  readonly id: string;
  readonly inputs: Props;
  readonly outputs: Props;
}

export type Step = "create" | "update" | "replace" | "same";

export class CheckFailedError extends Error {
  constructor(readonly failures: CheckAnswer["failures"]) {
    super(`check failed: ${failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
  }
}

function strip(props: Props): Props {
  return unwrapSecrets(props) as Props;
}

export class MiniEngine {
  readonly state = new Map<string, ResourceState>();
  /** Every message the host sent back, for the secret-leak assertions. */
  readonly answers: unknown[] = [];

  constructor(readonly host: ProviderHost) {}

  private news(goal: Goal): Props {
    return { ...goal.props, __provider: goal.provider, __resourceName: goal.name };
  }

  private async check(urn: string, olds: Props, news: Props): Promise<Props> {
    const answer = await this.host.check(urn, strip(olds), strip(news));
    this.answers.push(answer);
    if (answer.failures.length > 0) throw new CheckFailedError(answer.failures);
    return answer.inputs;
  }

  /** `pulumi preview` for one resource: Check and Diff only, unknowns allowed. */
  async preview(goal: Goal): Promise<{ step: Step; diff?: DiffAnswer; inputs: Props }> {
    const urn = urnOf(goal.type, goal.name);
    const old = this.state.get(urn);
    const inputs = await this.check(urn, old?.inputs ?? {}, this.news(goal));
    if (old === undefined) return { step: "create", inputs };
    const diff = await this.host.diff(urn, old.id, strip(old.outputs), strip(inputs), strip(old.inputs));
    this.answers.push(diff);
    return { step: stepOf(diff), diff, inputs };
  }

  /** `pulumi up` for one resource. */
  async up(goal: Goal): Promise<{ step: Step; state: ResourceState }> {
    const urn = urnOf(goal.type, goal.name);
    const old = this.state.get(urn);
    let inputs = await this.check(urn, old?.inputs ?? {}, this.news(goal));
    if (old === undefined) return { step: "create", state: await this.create(urn, inputs) };
    const diff = await this.host.diff(urn, old.id, strip(old.outputs), strip(inputs), strip(old.inputs));
    const step = stepOf(diff);
    if (step === "same") {
      const same = { ...old, inputs };
      this.state.set(urn, same);
      return { step, state: same };
    }
    if (step === "update") {
      const outputs = await this.host.update(urn, old.id, strip(old.outputs), strip(inputs), strip(old.inputs));
      this.answers.push(outputs);
      const updated = { urn, id: old.id, inputs, outputs };
      this.state.set(urn, updated);
      return { step, state: updated };
    }
    // Replacement: the engine checks again without olds, so defaults (and our id) are made anew.
    inputs = await this.check(urn, {}, this.news(goal));
    if (diff.deleteBeforeReplace) {
      await this.host.delete(urn, old.id, strip(old.outputs), strip(old.inputs));
      this.state.delete(urn);
      return { step, state: await this.create(urn, inputs) };
    }
    const replacement = await this.create(urn, inputs);
    await this.host.delete(urn, old.id, strip(old.outputs), strip(old.inputs));
    return { step, state: replacement };
  }

  private async create(urn: string, inputs: Props): Promise<ResourceState> {
    const answer = await this.host.create(urn, strip(inputs));
    this.answers.push(answer);
    const state = { urn, id: answer.id, inputs, outputs: answer.properties };
    this.state.set(urn, state);
    return state;
  }

  /** `pulumi refresh` of one resource: undefined when the provider says it is gone. */
  async refresh(type: string, name: string): Promise<ResourceState | undefined> {
    const urn = urnOf(type, name);
    const old = this.state.get(urn);
    if (old === undefined) throw new Error(`no state for ${urn}`);
    const answer = await this.host.read(urn, old.id, strip(old.outputs), strip(old.inputs));
    this.answers.push(answer);
    if (answer.id === "") {
      this.state.delete(urn);
      return undefined;
    }
    const state = { urn, id: answer.id, inputs: answer.inputs ?? old.inputs, outputs: answer.properties };
    this.state.set(urn, state);
    return state;
  }

  /** `pulumi destroy` of one resource. */
  async destroy(type: string, name: string): Promise<void> {
    const urn = urnOf(type, name);
    const old = this.state.get(urn);
    if (old === undefined) return;
    await this.host.delete(urn, old.id, strip(old.outputs), strip(old.inputs));
    this.state.delete(urn);
  }
}

function stepOf(diff: DiffAnswer): Step {
  if (diff.changes === "none") return "same";
  return diff.replaces.length > 0 ? "replace" : "update";
}

export { UNKNOWN };
