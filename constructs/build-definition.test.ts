import { describe, expect, it } from "vitest";
import {
  buildDefinition,
  MAX_QUEUE_HISTORY_EVENTS,
  QUEUE_EVENTS_PER_POLL,
  QUEUE_PAGE_SIZE,
  QUEUE_STATES,
  TRANSIENT_LAMBDA_ERRORS,
} from "./build-definition";

const RUNNER = "arn:aws:lambda:ap-southeast-2:123456789012:function:dev-dbt-runner";
const definition = buildDefinition({ runnerInvokeArn: RUNNER });
const states = definition.States as Record<string, any>;

/** The state names reachable from `from` through Next, Default, Choices and Catch. */
function successors(name: string): string[] {
  const s = states[name];
  return [s.Next, s.Default, ...(s.Choices ?? []).map((c: { Next: string }) => c.Next), ...(s.Catch ?? []).map((c: { Next: string }) => c.Next)].filter(Boolean);
}

describe("buildDefinition: the step contract", () => {
  it("starts with the queue, then Start puts the execution input, unchanged, into $.event", () => {
    expect(definition.StartAt).toBe(QUEUE_STATES[0]);
    expect(states.Start).toEqual({ Type: "Pass", Parameters: { "event.$": "$$.Execution.Input", run: null }, Next: "Step" });
  });

  it("Step invokes the runner with build_step and keeps only its answer", () => {
    expect(states.Step).toMatchObject({
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke",
      Parameters: {
        FunctionName: RUNNER,
        Payload: { build_step: { "event.$": "$.event", "run.$": "$.run", "execution.$": "$$.Execution.Name" } },
      },
      OutputPath: "$.Payload",
      Next: "Done?",
    });
  });

  it("retries a step only on transient Lambda errors, and catches everything else into RecordFailure", () => {
    const retry = [{ ErrorEquals: [...TRANSIENT_LAMBDA_ERRORS], IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2 }];
    expect(TRANSIENT_LAMBDA_ERRORS).toEqual([
      "Lambda.ServiceException",
      "Lambda.AWSLambdaException",
      "Lambda.SdkClientException",
      "Lambda.TooManyRequestsException",
    ]);
    expect(states.Step.Retry).toEqual(retry);
    expect(states.Step.Catch).toEqual([{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "RecordFailure" }]);
    expect(states.RecordFailure.Retry).toEqual(retry);
    expect(states.RecordFailure.Catch).toBeUndefined();
  });

  it("Done? succeeds only on done and success, fails on any other done, and loops otherwise", () => {
    expect(states["Done?"]).toEqual({
      Type: "Choice",
      Choices: [
        { And: [{ Variable: "$.done", BooleanEquals: true }, { Variable: "$.status", StringEquals: "success" }], Next: "Succeeded" },
        { Variable: "$.done", BooleanEquals: true, Next: "BuildFailed" },
      ],
      Default: "Step",
    });
    expect(states.Succeeded).toEqual({ Type: "Succeed" });
    expect(states.BuildFailed).toMatchObject({ Type: "Fail", Error: "DbtBuildFailed" });
  });

  it("RecordFailure invokes the runner with build_step_failed, then fails the execution", () => {
    expect(states.RecordFailure).toMatchObject({
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke",
      Parameters: {
        FunctionName: RUNNER,
        Payload: {
          build_step_failed: { "event.$": "$.event", "run.$": "$.run", "error.$": "$.error", "execution.$": "$$.Execution.Name" },
        },
      },
      OutputPath: "$.Payload",
      Next: "BuildFailed",
    });
  });

  it("invokes whatever ARN it is given (the live alias with SnapStart)", () => {
    const alias = `${RUNNER}:live`;
    const snap = buildDefinition({ runnerInvokeArn: alias }).States as Record<string, any>;
    expect([snap.Step.Parameters.FunctionName, snap.RecordFailure.Parameters.FunctionName]).toEqual([alias, alias]);
  });

  it("has no unreachable or dangling state, and every path ends in Succeeded or BuildFailed", () => {
    const seen = new Set<string>();
    const queue = [definition.StartAt];
    while (queue.length) {
      const name = queue.pop()!;
      if (seen.has(name)) continue;
      expect(states[name], `state ${name}`).toBeDefined();
      seen.add(name);
      queue.push(...successors(name));
    }
    expect([...seen].sort()).toEqual(Object.keys(states).sort());
    const terminal = Object.keys(states).filter((n) => successors(n).length === 0);
    expect(terminal.sort()).toEqual(["BuildFailed", "Succeeded"]);
  });
});

describe("buildDefinition: the queue (one build at a time, FIFO)", () => {
  it("lists the running executions of its own state machine, newest first, and keeps only their ARNs", () => {
    expect(states.ListRunning).toMatchObject({
      Type: "Task",
      Resource: "arn:aws:states:::aws-sdk:sfn:listExecutions",
      Parameters: { "StateMachineArn.$": "$$.StateMachine.Id", StatusFilter: "RUNNING", MaxResults: QUEUE_PAGE_SIZE },
      ResultSelector: { "running.$": "$.Executions[*].ExecutionArn" },
    });
    // ARNs are under 256 bytes each: a full page stays far below the 256 KB payload limit.
    expect(QUEUE_PAGE_SIZE * 256).toBeLessThan(256 * 1024);
  });

  it("builds only when this execution is the oldest one listed, and waits otherwise", () => {
    expect(states.OldestRunning.Parameters).toEqual({
      "oldest.$": "States.ArrayGetItem($.running, States.MathAdd($.count, -1))",
      "self.$": "$$.Execution.Id",
    });
    expect(states["FirstInQueue?"]).toMatchObject({
      Choices: [{ Variable: "$.oldest", StringEqualsPath: "$.self", Next: "Start" }],
      Default: "WaitInQueue",
    });
    // Not even itself listed yet (eventual consistency): wait, never index an empty list.
    expect(states["AnyListed?"]).toMatchObject({ Choices: [{ Variable: "$.count", NumericGreaterThan: 0, Next: "OldestRunning" }], Default: "WaitInQueue" });
    expect(states.WaitInQueue).toMatchObject({ Type: "Wait", Seconds: 60, Next: "ListRunning" });
  });

  it("waits before its first look, so executions started just before it are listed", () => {
    expect(states.Settle).toMatchObject({ Type: "Wait", Seconds: 10, Next: "ListRunning" });
  });

  it("reaches Start only through the queue, and the queue never reads or rewrites the execution input", () => {
    expect(QUEUE_STATES.flatMap(successors).filter((n) => !(QUEUE_STATES as readonly string[]).includes(n))).toEqual(["Start"]);
    const text = JSON.stringify(QUEUE_STATES.map((n) => states[n]));
    expect(text).not.toContain("Execution.Input");
    for (const name of QUEUE_STATES) expect(states[name].ResultPath).toBeUndefined();
  });

  it("limits the whole execution, and takes the poll, settle and timeout settings", () => {
    expect(definition.TimeoutSeconds).toBe(43200);
    const custom = buildDefinition({ runnerInvokeArn: RUNNER, queuePollSeconds: 5, queueSettleSeconds: 0, timeoutSeconds: 3600 });
    expect([custom.TimeoutSeconds, (custom.States.WaitInQueue as any).Seconds, (custom.States.Settle as any).Seconds]).toEqual([3600, 5, 0]);
  });

  it.each([
    [{ queuePollSeconds: 0 }, "queuePollSeconds = 0: must be an integer from 1 to 3600"],
    [{ queueSettleSeconds: 1.5 }, "queueSettleSeconds = 1.5: must be an integer"],
    [{ timeoutSeconds: 10 }, "timeoutSeconds = 10: must be an integer from 60"],
    // 24 hours of polls every 30 s: 43,200 history events, beyond Step Functions' 25,000.
    [{ timeoutSeconds: 86400, queuePollSeconds: 30 }, "would write 43200 history events (at most 15000"],
  ])("rejects %j", (settings, message) => {
    expect(() => buildDefinition({ runnerInvokeArn: RUNNER, ...settings })).toThrow(message);
  });

  it("keeps a queued execution's history within Step Functions' 25,000 events by default", () => {
    const polls = Math.ceil(definition.TimeoutSeconds / (states.WaitInQueue.Seconds as number));
    // One poll: ListRunning (Task: 5 events), CountRunning and OldestRunning (Pass: 2 each),
    // AnyListed? and FirstInQueue? (Choice: 2 each), WaitInQueue (Wait: 2).
    const perPoll = 5 + 2 * 2 + 2 * 2 + 2;
    expect(perPoll).toBe(QUEUE_EVENTS_PER_POLL);
    expect(polls * perPoll).toBeLessThanOrEqual(MAX_QUEUE_HISTORY_EVENTS);
    expect(MAX_QUEUE_HISTORY_EVENTS).toBeLessThan(25_000);
  });

  it("is deterministic", () => {
    expect(JSON.stringify(buildDefinition({ runnerInvokeArn: RUNNER }))).toBe(JSON.stringify(definition));
  });
});
