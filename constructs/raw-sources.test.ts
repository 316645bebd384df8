import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { isAthenaType, loadRawSources, parseRawSources, SourcesError } from "./raw-sources";
import { FIXTURE_SOURCES } from "./__fixtures__/synth";

/** A sources.yml whose raw source has the given tables. */
const withTables = (tables: string) => `version: 2\nsources:\n  - name: raw\n    tables:\n${tables}`;

function errorOf(text: string): string {
  try {
    parseRawSources(text, "sources.yml");
  } catch (err) {
    expect(err).toBeInstanceOf(SourcesError);
    return (err as Error).message;
  }
  throw new Error("sources were accepted");
}

describe("parseRawSources", () => {
  it("reads only the raw source's tables, columns and descriptions", () => {
    const tables = loadRawSources(FIXTURE_SOURCES);
    expect(tables.map((t) => t.name)).toEqual(["artists", "invoices"]);
    expect(tables[0]).toEqual({
      name: "artists",
      description: "Recording artists.",
      columns: [
        { name: "artist_id", dataType: "bigint", description: "Primary key." },
        { name: "name", dataType: "string", description: undefined },
      ],
    });
    expect(tables[1].columns.map((c) => c.dataType)).toEqual(["bigint", "timestamp", "decimal(10,2)"]);
  });

  it("normalises the case of data types", () => {
    const [t] = parseRawSources(withTables("      - name: t\n        columns:\n          - { name: a, data_type: BIGINT }\n"));
    expect(t.columns[0].dataType).toBe("bigint");
  });

  it.each([
    ["not yaml: [", "sources.yml: YAML:"],
    ["version: 2\n", "sources.yml: sources: must be a list of dbt sources"],
    ["sources:\n  - name: other\n    tables: []\n", 'no source named "raw"'],
    ["sources:\n  - name: raw\n", 'source "raw", tables: must be a non-empty list'],
    [withTables("      - name: Artists\n        columns: [{ name: a, data_type: int }]\n"), 'table "Artists", name: "Artists" must be lowercase snake_case'],
    [withTables("      - description: no name\n        columns: [{ name: a, data_type: int }]\n"), "table #1, name: undefined must be lowercase snake_case"],
    [withTables("      - name: t\n"), 'table "t", columns: must be a non-empty list'],
    [
      withTables("      - name: t\n        columns: [{ name: a, data_type: int }]\n      - name: t\n        columns: [{ name: a, data_type: int }]\n"),
      'table "t", name: declared twice',
    ],
    [withTables("      - name: t\n        columns: [{ name: a, data_type: text }]\n"), 'table "t", column "a", data_type: "text" is not an Athena DDL type'],
    [withTables("      - name: t\n        columns: [{ name: a }]\n"), 'table "t", column "a", data_type: undefined is not an Athena DDL type'],
    [withTables("      - name: t\n        columns: [{ name: ArtistId, data_type: int }]\n"), 'column "ArtistId", name: "ArtistId" must be lowercase snake_case'],
    [withTables("      - name: t\n        columns: [{ name: a, data_type: int }, { name: a, data_type: int }]\n"), 'column "a", name: declared twice'],
    [withTables("      - name: t\n        columns: [{ name: ingest_date, data_type: string }]\n"), '"ingest_date" is the partition key the stack adds'],
    [withTables("      - name: t\n        description: [1]\n        columns: [{ name: a, data_type: int }]\n"), 'table "t", description: description must be a string'],
  ])("rejects %j", (text, message) => {
    expect(errorOf(text)).toContain(message);
  });

  it("stops with the path when the file cannot be read", () => {
    const missing = path.join(mkdtempSync(path.join(tmpdir(), "sources-")), "sources.yml");
    expect(() => loadRawSources(missing)).toThrow(`${missing}: file: cannot be read (ENOENT)`);
  });

  it("names the file in parse errors", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "sources-")), "sources.yml");
    writeFileSync(file, withTables("      - name: t\n        columns: [{ name: a, data_type: varchar }]\n"));
    expect(() => loadRawSources(file)).toThrow(`${file}: table "t", column "a", data_type`);
  });
});

describe("isAthenaType", () => {
  it.each(["string", "bigint", "int", "double", "boolean", "date", "timestamp", "decimal(38,0)", "decimal(10, 2)", "varchar(20)", "char(1)"])(
    "accepts %s",
    (t) => expect(isAthenaType(t)).toBe(true),
  );
  it.each(["text", "number", "decimal(39,2)", "decimal(5,6)", "decimal(0)", "varchar", "varchar(1,2)", "array<int>", "timestamp with time zone"])(
    "rejects %s",
    (t) => expect(isAthenaType(t)).toBe(false),
  );
});
