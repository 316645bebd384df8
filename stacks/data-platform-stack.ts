import { Construct } from "constructs";
import { TerraformOutput, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { RandomProvider } from "@cdktf/provider-random/lib/provider";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition";
import { EnvironmentConfig } from "../envs";
import { DataLake } from "../constructs/data-lake";
import { DbtRunner } from "../constructs/dbt-runner";
import { PlatformKey } from "../constructs/platform-key";
import { RawTable } from "../constructs/dbt-sources";
import { RawTables } from "../constructs/glue-raw-tables";
import { Triggers } from "../constructs/triggers";
import { BuildStateMachine } from "../constructs/build-state-machine";
import { buildEventSource, grantPutBuildEvents } from "../constructs/build-events";
import { RunArtifacts } from "../constructs/run-artifacts";
import { Alerts } from "../constructs/alerts";
import { IngestFunction } from "../constructs/ingest-function";
import { CiBuildRole, grantPrTeardown } from "../constructs/ci-build-role";
import { PartialS3Backend } from "./partial-s3-backend";

export interface DataPlatformStackProps {
  readonly config: EnvironmentConfig;
  /** The raw tables, from dbt/models/sources.yml. */
  readonly rawTables: readonly RawTable[];
  /** Overrides of the artifact paths (default: build/function.zip and build/dbt-layer.zip). */
  readonly functionZip?: string;
  readonly layerZip?: string;
  /** The state bucket bootstrap recorded (see PartialS3Backend); omit for CI's partial backend. */
  readonly stateBucket?: { readonly name: string; readonly region: string };
}

/** use_lockfile (S3-native state locking) needs Terraform 1.10 or later. */
export const REQUIRED_TERRAFORM = ">= 1.10";

/** State key of an environment inside the state bucket. */
export const stateKey = (env: string) => `dbt-lambda-platform/${env}/terraform.tfstate`;

/** One environment: the data lake, its raw tables, the dbt runner and its triggers. */
export class DataPlatformStack extends TerraformStack {
  readonly lake: DataLake;
  readonly runner: DbtRunner;
  readonly triggers: Triggers;
  /** `<env>-dbt-build`: the triggers' builds, in Lambda-sized steps, one at a time. */
  readonly build: BuildStateMachine;
  readonly artifacts: RunArtifacts;
  readonly alerts: Alerts;
  /** The seed pipeline's ingestion function (unless `ingestFunction` is off). */
  readonly ingest?: IngestFunction;
  /** The role pull-request builds run as (`ciBuilds` envs only). */
  readonly ciBuildRole?: CiBuildRole;

  /** The synthesized JSON, with Terraform's required_version (an override would also add metadata). */
  override toTerraform(): any {
    const tf = super.toTerraform();
    tf.terraform = { ...tf.terraform, required_version: REQUIRED_TERRAFORM };
    return tf;
  }

  constructor(scope: Construct, id: string, props: DataPlatformStackProps) {
    super(scope, id);
    const { config } = props;
    const env = config.environment;

    new PartialS3Backend(this, { key: stateKey(env), bucket: props.stateBucket });
    new AwsProvider(this, "aws", { region: config.region, defaultTags: [{ tags: { ...config.tags } }] });
    new RandomProvider(this, "random");
    // The function zip comes from `make package` (reproducible, shared with its tests), so the
    // archive provider is not needed.

    const accountId = new DataAwsCallerIdentity(this, "account").accountId;
    const partition = new DataAwsPartition(this, "partition").partition;
    const aws = { accountId, partition, region: config.region };
    // A bare policy name (the default, made by scripts/bootstrap/bootstrap.ts) lives in the deploying account.
    const permissionsBoundary = config.permissionsBoundary.startsWith("arn:")
      ? config.permissionsBoundary
      : `arn:${partition}:iam::${accountId}:policy/${config.permissionsBoundary}`;

    const functionName = `${env}-dbt-runner`;
    const ciBuildRoleName = `${env}-dbt-ci-build`;
    const ingestName = `${env}-ingest`;
    const buildName = `${env}-dbt-build`;
    const key = new PlatformKey(this, "platform-key", {
      ...aws,
      alias: `${env}-dbt-platform`,
      logGroupNames: [
        `/aws/lambda/${functionName}`,
        ...(config.ingestFunction ? [`/aws/lambda/${ingestName}`] : []),
        BuildStateMachine.logGroupName(buildName),
      ],
      encryptsAlarmTopics: true,
    });

    this.lake = new DataLake(this, "data-lake", {
      ...aws,
      bucketPrefix: config.bucketPrefix,
      athenaWorkgroupName: `${env}-dbt`,
      bytesScannedCutoffPerQuery: config.athenaBytesScannedCutoff,
      protectBuckets: config.protectDataBuckets,
      extraLoggedBucketKinds: ["artifacts"],
    });
    this.artifacts = new RunArtifacts(this, "run-artifacts", {
      bucketName: this.lake.bucketNameFor("artifacts"),
      runRetentionDays: config.artifactRetentionDays,
      accessLogBucket: this.lake.accessLogs,
      preventDestroy: config.protectDataBuckets,
      forceDestroy: !config.protectDataBuckets,
    });
    this.alerts = new Alerts(this, "alerts", {
      ...aws,
      topicName: `${env}-dbt-alerts`,
      alarmPrefix: `${env}-`,
      kmsKeyArn: key.keyArn,
      emails: config.alertEmails,
    });

    new RawTables(this, "raw-tables", {
      databaseName: this.lake.database.name,
      bucketName: this.lake.raw.bucketName,
      tables: props.rawTables,
    });

    this.runner = new DbtRunner(this, "dbt-runner", {
      ...aws,
      functionName,
      memorySize: config.lambdaMemoryMb,
      timeout: config.lambdaTimeoutSeconds,
      reservedConcurrency: config.reservedConcurrency,
      logRetentionDays: config.logRetentionDays,
      kmsKeyArn: key.keyArn,
      functionZip: props.functionZip,
      layerZip: props.layerZip,
      permissionsBoundary,
      snapStart: config.snapStart,
      environment: {
        RAW_BUCKET_NAME: this.lake.raw.bucketName,
        PROCESSED_BUCKET_NAME: this.lake.processed.bucketName,
        GLUE_DATABASE_NAME: this.lake.database.name,
        ATHENA_RESULTS_BUCKET: this.lake.athenaResults.bucketName,
        ATHENA_WORKGROUP: this.lake.workgroupName,
        ENVIRONMENT: env,
        ARTIFACTS_BUCKET_NAME: this.artifacts.bucketName,
        ALERT_TOPIC_ARN: this.alerts.topicArn,
        // The time a build step keeps before its deadline (the state machine's steps).
        DBT_STEP_MARGIN_SECONDS: String(config.stepMarginSeconds),
        // The role is created below (its trust names the runner's role); the name fixes its ARN.
        ...(config.ciBuilds ? { CI_BUILD_ROLE_ARN: `arn:${partition}:iam::${accountId}:role/${ciBuildRoleName}` } : {}),
      },
    });
    this.lake.raw.grantRead(this.runner);
    this.lake.processed.grantReadWrite(this.runner);
    this.lake.athenaResults.grantReadWrite(this.runner);
    this.lake.grantGlueForDbt(this.runner);
    this.lake.grantAthenaQuery(this.runner);
    key.grantDecrypt(this.runner);
    this.artifacts.grantRunner(this.runner);
    this.alerts.grantPublish(this.runner);
    key.grantGenerateDataKey(this.runner); // messages to the encrypted alert topic
    // One entry per function: errors, throttles and duration over 80% of its timeout.
    this.alerts.alarmFunctions([{ name: functionName, timeoutSeconds: config.lambdaTimeoutSeconds }]);
    this.alerts.alarmDeadLetterQueues([{ name: `${functionName}-dlq` }]);

    if (config.ciBuilds) {
      const buckets = {
        processedBucketArn: this.lake.processed.bucketArn,
        athenaResultsBucketArn: this.lake.athenaResults.bucketArn,
      };
      const ciBuildRole = new CiBuildRole(this, "ci-build", {
        ...aws,
        ...buckets,
        roleName: ciBuildRoleName,
        env,
        runnerRoleArn: this.runner.role.arn,
        permissionsBoundary,
        databaseName: this.lake.databaseName,
      });
      this.ciBuildRole = ciBuildRole;
      this.lake.raw.grantRead(ciBuildRole);
      this.lake.processed.grantRead(ciBuildRole); // the env's marts a deferred build reads
      this.lake.grantAthenaQuery(ciBuildRole);
      key.grantDecrypt(ciBuildRole);
      key.grantGenerateDataKey(ciBuildRole);
      ciBuildRole.grantAssume(this.runner);
      // Teardown and the sweeper run with the runner's own credentials (ci_teardown.py).
      grantPrTeardown(this.runner, { ...aws, ...buckets, env, databaseName: this.lake.databaseName, artifactsBucketArn: this.artifacts.bucketArn });
      new TerraformOutput(this, "ci_build_role_arn", { description: "The role pull-request builds run as", value: ciBuildRole.roleArn });
    }

    if (config.ingestFunction) {
      this.ingest = new IngestFunction(this, "ingest", {
        functionName: ingestName,
        accountId,
        rawBucket: this.lake.raw,
        sourceKey: config.ingestSourceKey,
        reservedConcurrency: config.reservations[ingestName],
        scheduleExpression: config.ingestSchedule,
        logRetentionDays: config.logRetentionDays,
        kmsKeyArn: key.keyArn,
        permissionsBoundary,
        functionZip: props.functionZip,
      });
      key.grantDecrypt(this.ingest);
      this.alerts.alarmFunctions([{ name: ingestName, timeoutSeconds: this.ingest.timeoutSeconds }]);
      this.alerts.alarmDeadLetterQueues([{ name: `${ingestName}-dlq` }]);
    }

    // Downstream consumers subscribe to "dbt build finished" events of this env's source only.
    grantPutBuildEvents(this.runner, { ...aws, source: buildEventSource(env) });

    this.build = new BuildStateMachine(this, "build", {
      ...aws,
      stateMachineName: buildName,
      runner: this.runner,
      kmsKeyArn: key.keyArn,
      permissionsBoundary,
      logRetentionDays: config.logRetentionDays,
    });
    this.alerts.alarmStateMachines([{ name: buildName, arn: this.build.stateMachineArn }]);

    this.triggers = new Triggers(this, "triggers", {
      build: this.build,
      namePrefix: buildName,
      accountId,
      permissionsBoundary,
      scheduleExpression: config.scheduleExpression,
      rawBucket: config.s3EventTrigger ? this.lake.raw : undefined,
      rawTrigger: config.rawTrigger,
    });

    new TerraformOutput(this, "data_buckets", {
      description: "Names of the data buckets",
      value: {
        raw: this.lake.raw.bucketName,
        processed: this.lake.processed.bucketName,
        athena_results: this.lake.athenaResults.bucketName,
      },
    });
    new TerraformOutput(this, "function_name", { value: this.runner.functionName });
    new TerraformOutput(this, "function_arn", { value: this.runner.functionArn });
    new TerraformOutput(this, "state_machine_arn", {
      description: "The build state machine the schedule and the raw trigger start",
      value: this.build.stateMachineArn,
    });
    new TerraformOutput(this, "glue_database", { value: this.lake.database.name });
    new TerraformOutput(this, "athena_workgroup", { value: this.lake.workgroupName });
    new TerraformOutput(this, "log_group", { value: this.runner.logGroup.name });
    new TerraformOutput(this, "dead_letter_queue", { value: this.runner.deadLetterQueue.url });
    new TerraformOutput(this, "artifacts_bucket", {
      description: "Run artifacts: runs/<date>/<invocation_id>/, latest/ (the last good build), docs/index.html",
      value: this.artifacts.bucketName,
    });
    if (this.ingest) {
      new TerraformOutput(this, "ingest_function_name", {
        description: `Ingests s3://<raw>/${this.ingest.sourceKey} into the raw zone (invoke with {})`,
        value: this.ingest.functionName,
      });
    }
    new TerraformOutput(this, "alert_topic_arn", { description: "SNS topic of dbt failures and alarms", value: this.alerts.topicArn });
  }
}
