// Generated from the JSDoc types of hooks/json_patch.js by `scripts/gen-client-types`
// (tsc --declaration); do not edit by hand: a test fails when it differs.
/**
 * JSON equality: members in any order, items in order, `1` equal to `1.0`.
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function deepEqual(a: unknown, b: unknown): boolean;
/**
 * Applies RFC 6902 `ops` to `doc` without changing it; returns the new
 * document. All or nothing: when an op does not fit (or is not an op), it
 * throws `PatchError` and `doc` is as it was.
 * @template [T=unknown]
 * @param {unknown} doc
 * @param {ReadonlyArray<JsonPatchOp>} ops
 * @returns {T}
 */
export function applyJsonPatch<T = unknown>(doc: unknown, ops: ReadonlyArray<JsonPatchOp>): T;
/**
 * Thrown when a patch does not fit the document it is applied to, or is not
 * a patch at all (an op without `path`, `add` without `value`): every
 * failure of `applyJsonPatch` is one.
 */
export class PatchError extends Error {
}
/**
 * An object or an array: what a pointer's tokens step into.
 */
export type Container = Record<string, unknown> | unknown[];
/**
 * An op as it arrived: read member by member, as it may not be an op at
 * all.
 */
export type RawOp = Record<string, unknown>;
import type { JsonPatchOp } from './frames';
