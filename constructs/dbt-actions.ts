/**
 * The AWS actions dbt-athena needs, in one place: the data lake grants them to the runner, and
 * bootstrap's permissions boundary (scripts/bootstrap/boundary-policy.ts) caps every stack role
 * at them. Plain data with no imports, so bootstrap loads it without the provider classes.
 */

/** Read the catalog: databases, tables, their versions and partitions. */
export const GLUE_READ_ACTIONS = [
  "glue:GetDatabase",
  "glue:GetDatabases",
  "glue:GetTable",
  "glue:GetTables",
  "glue:GetTableVersion",
  "glue:GetTableVersions",
  "glue:GetPartition",
  "glue:GetPartitions",
  "glue:BatchGetPartition",
] as const;

/** Create and replace tables and their partitions (and dbt's custom-schema databases). */
export const GLUE_WRITE_ACTIONS = [
  "glue:CreateDatabase",
  "glue:CreateTable",
  "glue:UpdateTable",
  "glue:DeleteTable",
  "glue:BatchDeleteTable",
  "glue:DeleteTableVersion",
  "glue:BatchDeleteTableVersion",
  "glue:CreatePartition",
  "glue:BatchCreatePartition",
  "glue:UpdatePartition",
  "glue:BatchUpdatePartition",
  "glue:DeletePartition",
  "glue:BatchDeletePartition",
] as const;

/** Run and read queries in a workgroup. */
export const ATHENA_QUERY_ACTIONS = [
  "athena:GetWorkGroup",
  "athena:StartQueryExecution",
  "athena:StopQueryExecution",
  "athena:GetQueryExecution",
  "athena:BatchGetQueryExecution",
  "athena:GetQueryResults",
  "athena:GetQueryRuntimeStatistics",
] as const;
