/** A position in a JSON value: field names and list indexes from the root. */
export type JsonPath = readonly (string | number)[];

type Container = Record<string | number, unknown>;

export function valueAt(root: unknown, path: JsonPath): unknown {
  let node = root;
  for (const key of path) node = (node as Container | undefined)?.[key];
  return node;
}

/** The object or list that holds the last step of `path` (it must exist). */
export function parentOf(root: unknown, path: JsonPath): Container {
  return valueAt(root, path.slice(0, -1)) as Container;
}

/** A copy of `root` with `value` at `path`. */
export function withValue<T>(root: T, path: JsonPath, value: unknown): T {
  const copy = structuredClone(root);
  parentOf(copy, path)[path[path.length - 1]] = value;
  return copy;
}

/** A copy of `root` without the field at `path`. */
export function without<T>(root: T, path: JsonPath): T {
  const copy = structuredClone(root);
  delete parentOf(copy, path)[path[path.length - 1]];
  return copy;
}
