// The model's class names in the ONNX file: ModelProto.metadata_props, the free-form key/value strings ONNX
// keeps for "arbitrary metadata" (onnx.proto, field 14), which ONNX Runtime exposes as custom metadata and
// otherwise ignores. Key CLASSES_KEY holds a JSON array of strings, one per output class, in output order.

/** metadata_props key of the class names: a JSON array of strings */
export const CLASSES_KEY = 'edgegrad.classes';

/** The metadata_props entries for these class names (none when there are none). */
export function classNamesProps(classNames: readonly string[] | undefined): Array<{ key: string; value: string }> {
  return classNames?.length ? [{ key: CLASSES_KEY, value: JSON.stringify(classNames) }] : [];
}

/**
 * The class names stored in a file's metadata_props, or undefined when it has none. A value that is not a JSON
 * array of strings is an error naming the key (a file edited by hand, or another tool's use of the key).
 */
export function readClassNames(props: Array<{ key?: string | null; value?: string | null }> | null | undefined): string[] | undefined {
  const entry = props?.find((p) => p.key === CLASSES_KEY);
  if (!entry) return undefined;
  let v: unknown;
  try { v = JSON.parse(entry.value ?? ''); } catch (e) { throw new Error(`edgegrad.loadModel: metadata '${CLASSES_KEY}' is not valid JSON (${(e as Error).message})`); }
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new Error(`edgegrad.loadModel: metadata '${CLASSES_KEY}' must be a JSON array of strings, got ${entry.value!.slice(0, 80)}`);
  return v as string[];
}

/** The summary's line for a model's class names (none without them). */
export function classesLine(classNames: readonly string[] | undefined): string[] {
  return classNames?.length ? [`Classes (${classNames.length}): ${classNames.join(', ')}`] : [];
}

/**
 * Class names set on a model, checked: an array of strings, one per output class where the output's class
 * count is known (`classes`). Returns a copy (the caller's array may change later).
 */
export function checkClassNames(v: unknown, classes: number | undefined, where: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new Error(`edgegrad: ${where}.classNames must be an array of strings (or undefined), got ${JSON.stringify(v)?.slice(0, 80)}`);
  if (classes !== undefined && v.length !== classes) throw new Error(`edgegrad: ${where}.classNames has ${v.length} names for an output of ${classes} classes`);
  return v.slice();
}
