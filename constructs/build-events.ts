import { IGrantable } from "./grants";

/** The `source` of the "dbt build finished" events an env's runner puts on the default bus. */
export const buildEventSource = (env: string) => `dbt-lambda.${env}`;

/** The detail-type of the event a run puts when it ends (issue 18, downstream fan-out). */
export const BUILD_FINISHED_DETAIL_TYPE = "dbt build finished";

/**
 * Put events on the account's default bus, only with `source` = `props.source`: a consumer's rule
 * on that source cannot be fed by this role under another name, nor this role pose as another.
 */
export function grantPutBuildEvents(
  grantee: IGrantable,
  props: { readonly partition: string; readonly region: string; readonly accountId: string; readonly source: string },
): void {
  grantee.grant({
    sid: "PutBuildEvents",
    actions: ["events:PutEvents"],
    resources: [`arn:${props.partition}:events:${props.region}:${props.accountId}:event-bus/default`],
    conditions: [{ test: "StringEquals", variable: "events:source", values: [props.source] }],
  });
}
