/**
 * Where the raw bucket holds what: the ingest function writes the table snapshots under `raw/`, then
 * one ingest manifest per ingest under `manifests/`. The values are the ones the Lambdas use
 * (handler/raw_zone/contract.json), read here so the stack and the code cannot disagree.
 */
import contract from "../handler/raw_zone/contract.json";

export const RAW_PREFIX: string = contract.rawPrefix;
export const INGEST_MANIFEST_PREFIX: string = contract.ingestManifestPrefix;
/** The SQLite database the ingest function reads when its event names none. */
export const DEFAULT_SOURCE_KEY: string = contract.defaultSourceKey;
/** The partition column of every raw table; the stack adds it, sources.yml must not list it. */
export const PARTITION_COLUMN: string = contract.partitionColumn;
