/** Where the raw bucket holds what: ingestion writes the table snapshots, then one manifest per ingest. */
export const RAW_PREFIX = "raw/";
export const MANIFEST_PREFIX = "manifests/";
