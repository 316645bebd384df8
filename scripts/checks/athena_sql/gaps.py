"""Where Trino 476 on this machine is not Athena engine v3 on Glue and S3: the one list.

Each entry is applied by the harness where it says, and none loosens a comparison: the values and
type families of every staging view and mart are compared in full.
"""

GAPS = [
    ("storage",
     "Buckets are folders under Trino's local file system root: s3://<bucket>/<key> becomes "
     "local:///<bucket>/<key> in Glue locations, projection templates and dbt-athena's "
     "external_location (glue.local_uri). The folder names are the stack's bucket names, the keys "
     "are dbt-athena's own (s3_data_dir/<schema>/<table>)."),
    ("catalog",
     "Glue is the Hive file metastore: each synthesized aws_glue_catalog_table is written as that "
     "metastore's table entry, field for field (glue.metastore_entry). Terraform's random bucket "
     "suffix is a fixed stand-in (glue.RANDOM_HEX)."),
    ("catalog",
     "Trino's file metastore keeps external tables where dbt-athena says (s3_data_dir/<schema>/"
     "<table>) only when the CTAS names external_location, which dbt-athena always does outside an "
     "enforcing workgroup (ours does not enforce); the schema's own folder must exist locally, so "
     "the harness creates it."),
    ("partitions",
     "Absent partition days are skipped (hive.ignore-absent-partitions=true), as Athena's partition "
     "projection does for a projected day with no objects."),
    ("ctas",
     "Athena-only CTAS properties are not passed: table_type='hive' and is_external=true (Trino's "
     "Hive CTAS with external_location is an external Hive table). write_compression is not a "
     "Trino table property: the same codec is set for that statement as the session property "
     "<catalog>.compression_codec (check.write_session)."),
    ("ctas",
     "dbt-athena deletes the table's S3 prefix before a CTAS and renames through a __dbt_tmp table "
     "when the table exists; every run here starts from an empty catalog and bucket, so the CTAS "
     "goes straight to the final name."),
    ("seeds",
     "dbt-athena uploads a seed as CSV and reads it through an OpenCSVSerde table; here the same "
     "CSV is written to the same kind of table (format CSV, header skipped) and cast with "
     "dbt-athena's seed SELECT, column types inferred by dbt-athena's own convert_type."),
    ("timestamps",
     "Athena's Hive tables store milliseconds; the catalog reads and writes timestamps as "
     "timestamp(3) (hive.timestamp-precision=MILLISECONDS)."),
    ("not covered",
     "Glue/Lake Formation permissions, workgroup limits (bytes scanned), S3 consistency and "
     "throttling, Athena's query queue and DDL limits (e.g. 100 partitions per CTAS) are not "
     "exercised here."),
]
