import { isDeepStrictEqual } from "node:util";

/** The parts of the IAM policy grammar this bootstrap writes. */
export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: "Allow" | "Deny";
  readonly Principal?: "*" | Readonly<Record<string, string | readonly string[]>>;
  readonly Action: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface PolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly PolicyStatement[];
}

/** Parses a policy as AWS returns it (IAM URL-encodes documents, S3 does not). */
export function parsePolicy(text: string | undefined): { Version?: string; Statement: unknown[] } | undefined {
  if (!text) return undefined;
  const json = text.trimStart().startsWith("%7B") ? decodeURIComponent(text) : text;
  const doc = JSON.parse(json) as { Version?: string; Statement?: unknown };
  const statements = doc.Statement === undefined ? [] : Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  return { Version: doc.Version, Statement: statements };
}

/**
 * Compares two statements the way IAM evaluates them: a single value equals a one-element list,
 * list order does not matter, and `"*"` equals `{"AWS": "*"}`.
 */
export function sameStatement(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(normalise(a, undefined), normalise(b, undefined));
}

export function samePolicy(a: { Statement: readonly unknown[] } | undefined, b: PolicyDocument): boolean {
  if (!a || a.Statement.length !== b.Statement.length) return false;
  return b.Statement.every((want) => a.Statement.some((have) => sameStatement(have, want)));
}

function normalise(value: unknown, key: string | undefined): unknown {
  if (key === "Principal" && value === "*") return { AWS: ["*"] };
  if (typeof value === "string") return key === "Effect" || key === "Sid" || key === "Version" ? value : [value];
  if (Array.isArray(value)) {
    return value.map((v) => (typeof v === "string" ? v : JSON.stringify(normalise(v, undefined)))).sort();
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = normalise((value as Record<string, unknown>)[k], k);
    return out;
  }
  return value;
}
