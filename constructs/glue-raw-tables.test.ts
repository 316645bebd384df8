import { describe, expect, it } from "vitest";
import { RawTables } from "./glue-raw-tables";
import { loadRawSources } from "./dbt-sources";
import { FIXTURE_SOURCES, ofType, synthConstructs } from "./__fixtures__/synth";

const tables = loadRawSources(FIXTURE_SOURCES);
const json = synthConstructs((stack) => {
  new RawTables(stack, "raw-tables", { databaseName: "acme_dev", bucketName: "acme-dev-raw-0a1b2c3d", tables });
});
const glue = Object.values(ofType(json, "aws_glue_catalog_table"));
const byName = (name: string) => glue.find((t) => t.name === name)!;

describe("RawTables", () => {
  it("creates one Glue table per table of the raw source, and none for other sources", () => {
    expect(glue.map((t) => t.name).sort()).toEqual(["artists", "invoices"]);
    for (const t of glue) expect(t.database_name).toBe("acme_dev");
  });

  it("declares the columns and types of sources.yml, with descriptions as comments", () => {
    expect(byName("invoices").storage_descriptor.columns).toEqual([
      { name: "invoice_id", type: "bigint" },
      { name: "invoice_date", type: "timestamp" },
      { name: "total", type: "decimal(10,2)" },
    ]);
    expect(byName("artists").storage_descriptor.columns[0]).toEqual({ name: "artist_id", type: "bigint", comment: "Primary key." });
    expect(byName("artists").description).toBe("Recording artists.");
  });

  it("reads JSON lines from s3://<raw>/raw/<table>/", () => {
    const sd = byName("artists").storage_descriptor;
    expect(sd.location).toBe("s3://acme-dev-raw-0a1b2c3d/raw/artists/");
    expect(sd.input_format).toBe("org.apache.hadoop.mapred.TextInputFormat");
    expect(sd.output_format).toBe("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat");
    expect(sd.ser_de_info.serialization_library).toBe("org.openx.data.jsonserde.JsonSerDe");
    expect(byName("artists").table_type).toBe("EXTERNAL_TABLE");
  });

  it("partitions by ingest_date with date projection (yyyy-MM-dd)", () => {
    const t = byName("artists");
    expect(t.partition_keys).toEqual([expect.objectContaining({ name: "ingest_date", type: "string" })]);
    expect(t.parameters).toMatchObject({
      "projection.enabled": "true",
      "projection.ingest_date.type": "date",
      "projection.ingest_date.format": "yyyy-MM-dd",
      "projection.ingest_date.range": "2020-01-01,NOW",
      "projection.ingest_date.interval": "1",
      "projection.ingest_date.interval.unit": "DAYS",
    });
    // "$${" is Terraform JSON's escape: Athena, not Terraform, fills ${ingest_date}.
    expect(t.parameters["storage.location.template"]).toBe("s3://acme-dev-raw-0a1b2c3d/raw/artists/ingest_date=$${ingest_date}/");
  });

  it("lower-cases the source's PascalCase names for Glue: table, folder and columns", () => {
    const pascal = synthConstructs((stack) => {
      new RawTables(stack, "t", {
        databaseName: "d",
        bucketName: "acme-raw",
        tables: [
          { name: "InvoiceLine", columns: [{ name: "InvoiceLineId", dataType: "bigint" }, { name: "UnitPrice", dataType: "decimal(10,2)" }] },
          { name: "Album", identifier: "album", columns: [{ name: "AlbumId", dataType: "bigint" }] },
        ],
      });
    });
    const made = Object.values(ofType(pascal, "aws_glue_catalog_table"));
    const line = made.find((t) => t.name === "invoiceline")!;
    const album = made.find((t) => t.storage_descriptor.location === "s3://acme-raw/raw/album/")!;
    expect(line.name).toBe("invoiceline");
    expect(line.storage_descriptor.location).toBe("s3://acme-raw/raw/invoiceline/");
    expect(line.parameters["storage.location.template"]).toBe("s3://acme-raw/raw/invoiceline/ingest_date=$${ingest_date}/");
    expect(line.storage_descriptor.columns.map((c: { name: string }) => c.name)).toEqual(["invoicelineid", "unitprice"]);
    // The JSON keys stay PascalCase (AlbumId): the SerDe must match them case-insensitively.
    expect(line.storage_descriptor.ser_de_info.parameters["case.insensitive"]).toBe("TRUE");
    expect(album.name).toBe("album");
  });

  it("clips column comments to Glue's 255 characters", () => {
    const long = synthConstructs((stack) => {
      new RawTables(stack, "t", {
        databaseName: "d",
        bucketName: "b",
        tables: [{ name: "x", columns: [{ name: "c", dataType: "int", description: "y".repeat(300) }] }],
      });
    });
    const comment = Object.values(ofType(long, "aws_glue_catalog_table"))[0].storage_descriptor.columns[0].comment;
    expect(comment).toHaveLength(255);
  });
});
