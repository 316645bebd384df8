/**
 * CloudWatch Logs' vended-log delivery, which a state machine's logging uses; AWS documents these
 * for the state machine's role and for whoever creates or updates it, on "*" only.
 */
export const LOG_DELIVERY_ACTIONS = [
  "logs:CreateLogDelivery",
  "logs:GetLogDelivery",
  "logs:UpdateLogDelivery",
  "logs:DeleteLogDelivery",
  "logs:ListLogDeliveries",
  "logs:PutResourcePolicy",
  "logs:DescribeResourcePolicies",
] as const;
