import { Construct } from "constructs";
import { GlueCatalogTable } from "@cdktf/provider-aws/lib/glue-catalog-table";
import { glueTableName, RawTable } from "./dbt-sources";
import { PARTITION_COLUMN } from "./raw-zone-contract";

export interface RawTablesProps {
  readonly databaseName: string;
  /** Name of the raw bucket; each table lives under `raw/<table>/`. */
  readonly bucketName: string;
  readonly tables: readonly RawTable[];
  /** First `ingest_date` partition projection enumerates (yyyy-MM-dd). Default 2020-01-01. */
  readonly projectionStartDate?: string;
}

// Glue limits column comments to 255 characters and table descriptions to 2048.
const clip = (text: string | undefined, max: number) =>
  text === undefined ? undefined : text.length <= max ? text : `${text.slice(0, max - 1)}…`;

/**
 * One Glue table per raw table of dbt's `raw` source: JSON lines under
 * `s3://<raw>/raw/<folder>/ingest_date=YYYY-MM-DD/`, partitioned by `ingest_date`
 * with partition projection, so new days need no crawler and no MSCK REPAIR.
 *
 * Table, folder and column names are lower-case (Glue stores them so; giving them otherwise
 * would show a change on every plan). The JSON SerDe matches the source's PascalCase keys
 * (`AlbumId`) to them case-insensitively.
 */
export class RawTables extends Construct {
  readonly tables: Record<string, GlueCatalogTable> = {};

  constructor(scope: Construct, id: string, props: RawTablesProps) {
    super(scope, id);
    const start = props.projectionStartDate ?? "2020-01-01";
    for (const table of props.tables) {
      const name = glueTableName(table);
      const location = `s3://${props.bucketName}/raw/${name}/`;
      this.tables[name] = new GlueCatalogTable(this, name, {
        name,
        databaseName: props.databaseName,
        description: clip(table.description, 2048),
        tableType: "EXTERNAL_TABLE",
        parameters: {
          EXTERNAL: "TRUE",
          classification: "json",
          "projection.enabled": "true",
          [`projection.${PARTITION_COLUMN}.type`]: "date",
          [`projection.${PARTITION_COLUMN}.format`]: "yyyy-MM-dd",
          [`projection.${PARTITION_COLUMN}.range`]: `${start},NOW`,
          [`projection.${PARTITION_COLUMN}.interval`]: "1",
          [`projection.${PARTITION_COLUMN}.interval.unit`]: "DAYS",
          // "$${" is Terraform's escape for a literal "${": Athena fills the placeholder, not Terraform.
          "storage.location.template": `${location}${PARTITION_COLUMN}=$\${${PARTITION_COLUMN}}/`,
        },
        partitionKeys: [{ name: PARTITION_COLUMN, type: "string", comment: "Day the rows were ingested (yyyy-MM-dd)" }],
        storageDescriptor: {
          location,
          inputFormat: "org.apache.hadoop.mapred.TextInputFormat",
          outputFormat: "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
          serDeInfo: {
            name: "json",
            serializationLibrary: "org.openx.data.jsonserde.JsonSerDe",
            parameters: { "ignore.malformed.json": "FALSE", "case.insensitive": "TRUE" },
          },
          columns: table.columns.map((c) => ({ name: c.name.toLowerCase(), type: c.dataType, comment: clip(c.description, 255) })),
        },
      });
    }
  }
}
