import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { glueTableName, isAthenaType, loadRawSources, parseRawSources, SourcesError } from "./dbt-sources";
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

  it("keeps the source's own PascalCase names and reads the identifier", () => {
    const [album, line] = parseRawSources(
      withTables(
        "      - name: Album\n        identifier: album\n        columns:\n          - { name: AlbumId, data_type: bigint }\n          - { name: Title, data_type: string }\n" +
          "      - name: InvoiceLine\n        columns: [{ name: UnitPrice, data_type: 'decimal(10,2)' }]\n",
      ),
    );
    expect(album).toMatchObject({ name: "Album", identifier: "album" });
    expect(album.columns.map((c) => c.name)).toEqual(["AlbumId", "Title"]);
    expect(glueTableName(album)).toBe("album");
    expect(line.identifier).toBeUndefined();
    expect(glueTableName(line)).toBe("invoiceline");
  });

  it("reads the project's own sources.yml: the eleven public Chinook tables, lower-case folders", () => {
    const tables = loadRawSources(path.join(__dirname, "..", "dbt", "models", "sources.yml"));
    expect(tables.map((t) => t.name)).toEqual([
      "Album", "Artist", "Customer", "Employee", "Genre", "Invoice", "InvoiceLine", "MediaType", "Playlist", "PlaylistTrack", "Track",
    ]);
    for (const t of tables) expect(t.identifier).toBe(t.name.toLowerCase());
    const track = tables.find((t) => t.name === "Track")!;
    expect(track.columns.map((c) => `${c.name}:${c.dataType}`)).toEqual([
      "TrackId:bigint", "Name:string", "AlbumId:bigint", "MediaTypeId:bigint", "GenreId:bigint", "Composer:string",
      "Milliseconds:bigint", "Bytes:bigint", "UnitPrice:decimal(10,2)",
    ]);
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
    [withTables("      - name: My Artists\n        columns: [{ name: a, data_type: int }]\n"), 'table "My Artists", name: "My Artists" must be letters, digits and _'],
    [withTables("      - description: no name\n        columns: [{ name: a, data_type: int }]\n"), "table #1, name: undefined must be letters, digits and _"],
    [withTables("      - name: Album\n        identifier: Album\n        columns: [{ name: a, data_type: int }]\n"), 'table "Album", identifier: "Album" must be lowercase snake_case'],
    [
      withTables("      - name: Album\n        columns: [{ name: a, data_type: int }]\n      - name: album\n        columns: [{ name: a, data_type: int }]\n"),
      'table "album", name: its Glue table "album" is also table "Album"\'s',
    ],
    [withTables("      - name: t\n"), 'table "t", columns: must be a non-empty list'],
    [
      withTables("      - name: t\n        columns: [{ name: a, data_type: int }]\n      - name: t\n        columns: [{ name: a, data_type: int }]\n"),
      'table "t", name: declared twice',
    ],
    [withTables("      - name: t\n        columns: [{ name: a, data_type: text }]\n"), 'table "t", column "a", data_type: "text" is not an Athena DDL type'],
    [withTables("      - name: t\n        columns: [{ name: a }]\n"), 'table "t", column "a", data_type: undefined is not an Athena DDL type'],
    [withTables("      - name: t\n        columns: [{ name: Artist-Id, data_type: int }]\n"), 'column "Artist-Id", name: "Artist-Id" must be letters, digits and _'],
    [withTables("      - name: t\n        columns: [{ name: ArtistId, data_type: int }, { name: artistid, data_type: int }]\n"), 'column "artistid", name: same as column "ArtistId" once lower-cased'],
    [withTables("      - name: t\n        columns: [{ name: Ingest_Date, data_type: string }]\n"), '"ingest_date" is the partition key the stack adds'],
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
