import { readFileSync } from "node:fs";
import { parse } from "yaml";

/** One column of a raw table, as dbt's sources.yml declares it. */
export interface RawColumn {
  readonly name: string;
  /** An Athena/Hive DDL type. */
  readonly dataType: string;
  readonly description?: string;
}

/** One raw table: a Glue table and the folder `raw/<name>/` of the raw bucket. */
export interface RawTable {
  readonly name: string;
  readonly description?: string;
  readonly columns: readonly RawColumn[];
}

/** The partition column the stack adds itself; sources.yml must not list it. */
export const PARTITION_COLUMN = "ingest_date";
/** The dbt source whose tables become Glue tables. */
export const RAW_SOURCE = "raw";

const SNAKE = /^[a-z][a-z0-9_]*$/;
const SIMPLE_TYPES = new Set([
  "string", "bigint", "int", "integer", "smallint", "tinyint", "double", "float", "boolean", "date", "timestamp", "binary",
]);
const PARAM_TYPE = /^(decimal|varchar|char)\((\d+)(?:,\s*(\d+))?\)$/;

/** Athena/Hive types allowed in a raw table column. */
export function isAthenaType(type: string): boolean {
  if (SIMPLE_TYPES.has(type)) return true;
  const m = PARAM_TYPE.exec(type);
  if (!m) return false;
  const [, kind, a, b] = m;
  const first = Number(a);
  if (kind === "decimal") {
    const scale = b === undefined ? 0 : Number(b);
    return first >= 1 && first <= 38 && scale <= first;
  }
  return b === undefined && first >= 1 && first <= (kind === "varchar" ? 65535 : 255);
}

export class SourcesError extends Error {
  constructor(file: string, where: string, rule: string) {
    super(`${file}: ${where}: ${rule}`);
    this.name = "SourcesError";
  }
}

function optionalText(file: string, where: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new SourcesError(file, where, `description must be a string, got ${JSON.stringify(value)}`);
  return value.trim() || undefined;
}

/** Parses the text of a dbt sources.yml and returns the tables of the `raw` source. */
export function parseRawSources(text: string, file = "sources.yml"): RawTable[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new SourcesError(file, "YAML", (err as Error).message.split("\n")[0]);
  }
  const sources = (doc as { sources?: unknown } | null)?.sources;
  if (!Array.isArray(sources)) throw new SourcesError(file, "sources", "must be a list of dbt sources");
  const raw = sources.find((s) => (s as { name?: unknown })?.name === RAW_SOURCE) as { tables?: unknown } | undefined;
  if (!raw) throw new SourcesError(file, "sources", `no source named "${RAW_SOURCE}"`);
  if (!Array.isArray(raw.tables) || raw.tables.length === 0) {
    throw new SourcesError(file, `source "${RAW_SOURCE}", tables`, "must be a non-empty list");
  }

  const seen = new Set<string>();
  return raw.tables.map((entry: unknown, index: number): RawTable => {
    const table = (entry ?? {}) as { name?: unknown; description?: unknown; columns?: unknown };
    const name = table.name;
    const tableWhere = typeof name === "string" ? `table "${name}"` : `table #${index + 1}`;
    if (typeof name !== "string" || !SNAKE.test(name)) {
      throw new SourcesError(file, `${tableWhere}, name`, `${JSON.stringify(name)} must be lowercase snake_case`);
    }
    if (seen.has(name)) throw new SourcesError(file, `${tableWhere}, name`, "declared twice");
    seen.add(name);
    if (!Array.isArray(table.columns) || table.columns.length === 0) {
      throw new SourcesError(file, `${tableWhere}, columns`, "must be a non-empty list (Glue needs the schema)");
    }
    const columnNames = new Set<string>();
    const columns = table.columns.map((c: unknown, ci: number): RawColumn => {
      const column = (c ?? {}) as { name?: unknown; data_type?: unknown; description?: unknown };
      const cname = column.name;
      const where = `${tableWhere}, column ${typeof cname === "string" ? `"${cname}"` : `#${ci + 1}`}`;
      if (typeof cname !== "string" || !SNAKE.test(cname)) {
        throw new SourcesError(file, `${where}, name`, `${JSON.stringify(cname)} must be lowercase snake_case`);
      }
      if (cname === PARTITION_COLUMN) {
        throw new SourcesError(file, `${where}, name`, `"${PARTITION_COLUMN}" is the partition key the stack adds; do not list it`);
      }
      if (columnNames.has(cname)) throw new SourcesError(file, `${where}, name`, "declared twice");
      columnNames.add(cname);
      const type = typeof column.data_type === "string" ? column.data_type.trim().toLowerCase() : column.data_type;
      if (typeof type !== "string" || !isAthenaType(type)) {
        throw new SourcesError(
          file,
          `${where}, data_type`,
          `${JSON.stringify(column.data_type)} is not an Athena DDL type (string, bigint, int, double, boolean, date, timestamp, decimal(p,s), ...)`,
        );
      }
      return { name: cname, dataType: type, description: optionalText(file, `${where}, description`, column.description) };
    });
    return { name, description: optionalText(file, `${tableWhere}, description`, table.description), columns };
  });
}

/** Reads and parses a sources.yml; an unreadable file stops synth with its path. */
export function loadRawSources(file: string): RawTable[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SourcesError(file, "file", `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the raw tables are declared there`);
  }
  return parseRawSources(text, file);
}
