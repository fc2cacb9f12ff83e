import type * as pulumi from "@pulumi/pulumi";

/** The value of an output once the (mocked) engine resolves it. */
export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}
