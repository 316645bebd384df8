/**
 * The Amazon States Language definition of `<env>-dbt-build`, as a typed object. Pure: no
 * construct, no token other than the ARN strings it is given, so tests (and the local ASL
 * interpreter, which reads the synthesized JSON) see exactly what AWS runs.
 *
 * The contract with the runner (issue 18, fixed on both sides):
 * - `Start` puts the execution input, the EventBridge event as delivered, into `$.event`;
 * - `Step` calls the runner with `{"build_step": {event, run, execution}}` until it answers
 *   `done`; the runner never raises for a failed dbt node (that is `status`), only for bad input
 *   or an internal error, which `Catch` turns into `RecordFailure` (`build_step_failed`);
 * - `Done?` ends in `Succeeded` only for `done` with `status` "success", else in `BuildFailed`.
 *
 * Before `Start`, the queue states make one build at a time per env (see `QUEUE_STATES`).
 */

/** The states this definition uses, typed as far as the definition needs. */
export type Retrier = {
  readonly ErrorEquals: readonly string[];
  readonly IntervalSeconds: number;
  readonly MaxAttempts: number;
  readonly BackoffRate: number;
};
export type Catcher = { readonly ErrorEquals: readonly string[]; readonly ResultPath: string; readonly Next: string };
type Transition = { readonly Next: string } | { readonly End: true };
type Common = { readonly Comment?: string };

export type PassState = Common & Transition & { readonly Type: "Pass"; readonly Parameters?: Readonly<Record<string, unknown>> };
export type TaskState = Common &
  Transition & {
    readonly Type: "Task";
    readonly Resource: string;
    readonly Parameters: Readonly<Record<string, unknown>>;
    readonly ResultSelector?: Readonly<Record<string, unknown>>;
    readonly ResultPath?: string;
    readonly OutputPath?: string;
    readonly Retry?: readonly Retrier[];
    readonly Catch?: readonly Catcher[];
  };
export type ChoiceRule = Readonly<Record<string, unknown>> & { readonly Next: string };
export type ChoiceState = Common & { readonly Type: "Choice"; readonly Choices: readonly ChoiceRule[]; readonly Default: string };
export type WaitState = Common & Transition & { readonly Type: "Wait"; readonly Seconds: number };
export type SucceedState = Common & { readonly Type: "Succeed" };
export type FailState = Common & { readonly Type: "Fail"; readonly Error: string; readonly Cause?: string };
export type State = PassState | TaskState | ChoiceState | WaitState | SucceedState | FailState;

export interface StateMachineDefinition {
  readonly Comment: string;
  readonly StartAt: string;
  /** The execution fails with States.Timeout after this long (queue time included). */
  readonly TimeoutSeconds: number;
  readonly States: Readonly<Record<string, State>>;
}

export interface BuildDefinitionProps {
  /** What `Step` and `RecordFailure` invoke: the runner's `live` alias with SnapStart, else the function. */
  readonly runnerInvokeArn: string;
  /** Seconds between two looks at the queue while an older build runs. Default 60. */
  readonly queuePollSeconds?: number;
  /**
   * Seconds an execution waits before its first look at the queue, so that executions started
   * just before it are listed (ListExecutions is eventually consistent). Default 10.
   */
  readonly queueSettleSeconds?: number;
  /** The whole execution's limit, queue time included. Default 43200 (12 hours). */
  readonly timeoutSeconds?: number;
}

/**
 * Step Functions keeps at most 25,000 events in an execution's history and fails the execution
 * beyond that. One look at the queue writes 15 (a Task's 5, two Pass states', two Choice states'
 * and a Wait's 2 each); waiting out the whole timeout may use at most this many, which leaves
 * 10,000 events for the steps (7 per step: about 1,400 steps).
 */
export const QUEUE_EVENTS_PER_POLL = 15;
export const MAX_QUEUE_HISTORY_EVENTS = 15_000;

/** The Lambda errors a step is retried on: transient service errors and throttling, never a dbt failure. */
export const TRANSIENT_LAMBDA_ERRORS = [
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
  "Lambda.TooManyRequestsException",
] as const;

const LAMBDA_RETRY: readonly Retrier[] = [{ ErrorEquals: [...TRANSIENT_LAMBDA_ERRORS], IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2 }];

/**
 * How many running executions one look at the queue lists. ListExecutions sorts the newest
 * first; an execution is first in the queue when it is the last one listed. 500 ARNs keep the
 * task's result far below Step Functions' 256 KB payload limit.
 */
export const QUEUE_PAGE_SIZE = 500;

/** The states before `Start` (in order), for tests and the README. */
export const QUEUE_STATES = ["Settle", "ListRunning", "CountRunning", "AnyListed?", "OldestRunning", "FirstInQueue?", "WaitInQueue"] as const;

/**
 * The definition of the build state machine.
 *
 * Queue (FIFO, one build at a time per env): an execution lists the RUNNING executions of its
 * own state machine and starts building only when it is the oldest of them; otherwise it waits
 * `queuePollSeconds` and looks again. ListExecutions is eventually consistent: a new execution
 * may not be listed at once, itself included, so it first waits `queueSettleSeconds`, and an
 * empty list or a list whose oldest entry is another execution both mean "wait". The queue
 * states keep `$$.Execution.Input` untouched; `Start` reads the event from it.
 */
export function buildDefinition(props: BuildDefinitionProps): StateMachineDefinition {
  const poll = props.queuePollSeconds ?? 60;
  const settle = props.queueSettleSeconds ?? 10;
  const timeout = props.timeoutSeconds ?? 43200;
  for (const [name, value, min, max] of [
    ["queuePollSeconds", poll, 1, 3600],
    ["queueSettleSeconds", settle, 0, 3600],
    ["timeoutSeconds", timeout, 60, 31536000],
  ] as const) {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`buildDefinition: ${name} = ${value}: must be an integer from ${min} to ${max}`);
    }
  }
  const queueEvents = Math.ceil(timeout / poll) * QUEUE_EVENTS_PER_POLL;
  if (queueEvents > MAX_QUEUE_HISTORY_EVENTS) {
    throw new Error(
      `buildDefinition: timeoutSeconds = ${timeout} with queuePollSeconds = ${poll}: an execution that waits in the queue until ` +
        `its timeout would write ${queueEvents} history events (at most ${MAX_QUEUE_HISTORY_EVENTS}, so its steps fit in ` +
        "Step Functions' 25,000): poll less often or shorten the timeout",
    );
  }
  const invoke = "arn:aws:states:::lambda:invoke";

  return {
    Comment: "One dbt build in Lambda-sized steps, one build at a time (README: Long builds)",
    StartAt: "Settle",
    TimeoutSeconds: timeout,
    States: {
      Settle: {
        Type: "Wait",
        Comment: "Lets executions started just before this one be listed (ListExecutions is eventually consistent)",
        Seconds: settle,
        Next: "ListRunning",
      },
      ListRunning: {
        Type: "Task",
        Comment: "The RUNNING executions of this state machine, newest first",
        Resource: "arn:aws:states:::aws-sdk:sfn:listExecutions",
        Parameters: { "StateMachineArn.$": "$$.StateMachine.Id", StatusFilter: "RUNNING", MaxResults: QUEUE_PAGE_SIZE },
        ResultSelector: { "running.$": "$.Executions[*].ExecutionArn" },
        // A read: retrying any failure is safe (throttling above all).
        Retry: [{ ErrorEquals: ["States.TaskFailed"], IntervalSeconds: 5, MaxAttempts: 5, BackoffRate: 2 }],
        Next: "CountRunning",
      },
      CountRunning: {
        Type: "Pass",
        Parameters: { "running.$": "$.running", "count.$": "States.ArrayLength($.running)" },
        Next: "AnyListed?",
      },
      "AnyListed?": {
        Type: "Choice",
        Comment: "Nothing listed yet, not even this execution: look again later",
        Choices: [{ Variable: "$.count", NumericGreaterThan: 0, Next: "OldestRunning" }],
        Default: "WaitInQueue",
      },
      OldestRunning: {
        Type: "Pass",
        Parameters: {
          "oldest.$": "States.ArrayGetItem($.running, States.MathAdd($.count, -1))",
          "self.$": "$$.Execution.Id",
        },
        Next: "FirstInQueue?",
      },
      "FirstInQueue?": {
        Type: "Choice",
        Comment: "Build only when no older execution is running",
        Choices: [{ Variable: "$.oldest", StringEqualsPath: "$.self", Next: "Start" }],
        Default: "WaitInQueue",
      },
      WaitInQueue: { Type: "Wait", Comment: "An older build runs (or this execution is not listed yet)", Seconds: poll, Next: "ListRunning" },
      Start: {
        Type: "Pass",
        Parameters: { "event.$": "$$.Execution.Input", run: null },
        Next: "Step",
      },
      Step: {
        Type: "Task",
        Comment: "Builds what fits before the invocation's deadline; returns what is left in run",
        Resource: invoke,
        Parameters: {
          FunctionName: props.runnerInvokeArn,
          Payload: { build_step: { "event.$": "$.event", "run.$": "$.run", "execution.$": "$$.Execution.Name" } },
        },
        OutputPath: "$.Payload",
        Retry: LAMBDA_RETRY,
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "RecordFailure" }],
        Next: "Done?",
      },
      "Done?": {
        Type: "Choice",
        Choices: [
          {
            And: [
              { Variable: "$.done", BooleanEquals: true },
              { Variable: "$.status", StringEquals: "success" },
            ],
            Next: "Succeeded",
          },
          { Variable: "$.done", BooleanEquals: true, Next: "BuildFailed" },
        ],
        Default: "Step",
      },
      RecordFailure: {
        Type: "Task",
        Comment: "Records the run as failed or timed out and sends one alert",
        Resource: invoke,
        Parameters: {
          FunctionName: props.runnerInvokeArn,
          Payload: {
            build_step_failed: { "event.$": "$.event", "run.$": "$.run", "error.$": "$.error", "execution.$": "$$.Execution.Name" },
          },
        },
        OutputPath: "$.Payload",
        Retry: LAMBDA_RETRY,
        Next: "BuildFailed",
      },
      Succeeded: { Type: "Succeed" },
      BuildFailed: { Type: "Fail", Error: "DbtBuildFailed", Cause: "The dbt build failed or timed out: see the run's record and alert" },
    },
  };
}
