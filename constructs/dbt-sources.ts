import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { PARTITION_COLUMN } from "./raw-zone-contract";

/** One column of a raw table, as dbt's sources.yml declares it. */
export interface RawColumn {
  /** As the source spells it (the JSON key), e.g. `AlbumId`; Glue stores it lower-case. */
  readonly name: string;
  /** An Athena/Hive DDL type. */
  readonly dataType: string;
  readonly description?: string;
}

/**
 * One raw table: a Glue table and the folder `raw/<folder>/` of the raw bucket, where the folder
 * and the Glue table name are `identifier` (else `name`) in lower case (see {@link glueTableName}).
 */
export interface RawTable {
  /** The dbt source table's name, as the source database spells it (e.g. `InvoiceLine`). */
  readonly name: string;
  /** dbt's `identifier`: the relation's name in the warehouse, when it differs from `name`. */
  readonly identifier?: string;
  readonly description?: string;
  readonly columns: readonly RawColumn[];
}

/** The dbt source whose tables become Glue tables. */
export const RAW_SOURCE = "raw";

// Names unquoted SQL can use on Athena and DuckDB; Glue keeps them lower-case.
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]*$/;
const SNAKE = /^[a-z][a-z0-9_]*$/;

/**
 * The Glue table of a raw table, which is also its folder under `raw/`: the identifier (else the
 * name) in lower case. Glue lower-cases table names and S3 keys are case-sensitive, so the
 * ingestion writes `raw/<lower-case name>/` and both agree.
 */
export function glueTableName(table: Pick<RawTable, "name" | "identifier">): string {
  return (table.identifier ?? table.name).toLowerCase();
}
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

  const seen = new Map<string, string>();
  return raw.tables.map((entry: unknown, index: number): RawTable => {
    const table = (entry ?? {}) as { name?: unknown; identifier?: unknown; description?: unknown; columns?: unknown };
    const name = table.name;
    const tableWhere = typeof name === "string" ? `table "${name}"` : `table #${index + 1}`;
    if (typeof name !== "string" || !IDENTIFIER.test(name)) {
      throw new SourcesError(file, `${tableWhere}, name`, `${JSON.stringify(name)} must be letters, digits and _, starting with a letter`);
    }
    const identifier = table.identifier;
    if (identifier !== undefined && (typeof identifier !== "string" || !SNAKE.test(identifier))) {
      throw new SourcesError(
        file,
        `${tableWhere}, identifier`,
        `${JSON.stringify(identifier)} must be lowercase snake_case (it is the Glue table and the folder raw/<identifier>/)`,
      );
    }
    const glueName = glueTableName({ name, identifier: identifier as string | undefined });
    const twin = seen.get(glueName);
    if (twin !== undefined) {
      throw new SourcesError(
        file,
        `${tableWhere}, name`,
        twin === name ? "declared twice" : `its Glue table "${glueName}" is also table "${twin}"'s (Glue names are lower-case)`,
      );
    }
    seen.set(glueName, name);
    if (!Array.isArray(table.columns) || table.columns.length === 0) {
      throw new SourcesError(file, `${tableWhere}, columns`, "must be a non-empty list (Glue needs the schema)");
    }
    const columnNames = new Map<string, string>();
    const columns = table.columns.map((c: unknown, ci: number): RawColumn => {
      const column = (c ?? {}) as { name?: unknown; data_type?: unknown; description?: unknown };
      const cname = column.name;
      const where = `${tableWhere}, column ${typeof cname === "string" ? `"${cname}"` : `#${ci + 1}`}`;
      if (typeof cname !== "string" || !IDENTIFIER.test(cname)) {
        throw new SourcesError(file, `${where}, name`, `${JSON.stringify(cname)} must be letters, digits and _, starting with a letter`);
      }
      if (cname.toLowerCase() === PARTITION_COLUMN) {
        throw new SourcesError(file, `${where}, name`, `"${PARTITION_COLUMN}" is the partition key the stack adds; do not list it`);
      }
      const sameColumn = columnNames.get(cname.toLowerCase());
      if (sameColumn !== undefined) {
        throw new SourcesError(
          file,
          `${where}, name`,
          sameColumn === cname ? "declared twice" : `same as column "${sameColumn}" once lower-cased (Glue and the JSON SerDe ignore case)`,
        );
      }
      columnNames.set(cname.toLowerCase(), cname);
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
    return {
      name,
      ...(identifier === undefined ? {} : { identifier: identifier as string }),
      description: optionalText(file, `${tableWhere}, description`, table.description),
      columns,
    };
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
