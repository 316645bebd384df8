import * as path from "node:path";
import { Testing, TerraformStack } from "cdktf";

/** The synthesized Terraform JSON of one stack, loosely typed for assertions. */
export type TfJson = Record<string, any>;

export const FIXTURE_SOURCES = path.join(__dirname, "sources.yml");

/** Synthesizes the constructs `build` adds to a fresh test stack. */
export function synthConstructs(build: (stack: TerraformStack) => void): TfJson {
  return JSON.parse(Testing.synthScope((scope) => build(scope as TerraformStack)));
}

/** Synthesizes a whole stack, as cdktf synth would write it. */
export function synthStack(stack: TerraformStack): TfJson {
  return JSON.parse(Testing.synth(stack));
}

/** All resources (or data sources) of one type, keyed by their logical id. */
export function ofType(json: TfJson, type: string, kind: "resource" | "data" = "resource"): Record<string, TfJson> {
  return json[kind]?.[type] ?? {};
}

/** The single resource of a type, failing loudly when there are none or several. */
export function only(json: TfJson, type: string, kind: "resource" | "data" = "resource"): TfJson {
  const all = Object.values(ofType(json, type, kind));
  if (all.length !== 1) throw new Error(`expected exactly one ${type}, found ${all.length}`);
  return all[0];
}

/**
 * Logical ids are the construct path joined by "_" plus an 8-hex hash
 * (`data-lake_raw_bucket_72556160`); match the path's tail (e.g. "raw/bucket").
 */
function matches(logicalId: string, suffix: string): boolean {
  const pathPart = logicalId.replace(/_[0-9A-F]{8}$/, "");
  const tail = suffix.replace(/\//g, "_");
  return pathPart === tail || pathPart.endsWith(`_${tail}`);
}

function entryAt(json: TfJson, type: string, suffix: string, kind: "resource" | "data"): [string, TfJson] {
  const hits = Object.entries(ofType(json, type, kind)).filter(([id]) => matches(id, suffix));
  if (hits.length !== 1) throw new Error(`expected one ${type} at */${suffix}, found ${hits.length}`);
  return hits[0];
}

/** The resource of a type whose construct path ends with `suffix` (e.g. "raw/bucket"). */
export function byPath(json: TfJson, type: string, suffix: string, kind: "resource" | "data" = "resource"): TfJson {
  return entryAt(json, type, suffix, kind)[1];
}

/** `${aws_s3_bucket.<id>.arn}`-style reference to the resource at `suffix`. */
export function ref(json: TfJson, type: string, suffix: string, attribute: string, kind: "resource" | "data" = "resource"): string {
  const [id] = entryAt(json, type, suffix, kind);
  return kind === "data" ? `\${data.${type}.${id}.${attribute}}` : `\${${type}.${id}.${attribute}}`;
}

/** Reference to the single resource of a type. */
export function refOnly(json: TfJson, type: string, attribute: string): string {
  const ids = Object.keys(ofType(json, type));
  if (ids.length !== 1) throw new Error(`expected exactly one ${type}, found ${ids.length}`);
  return `\${${type}.${ids[0]}.${attribute}}`;
}
