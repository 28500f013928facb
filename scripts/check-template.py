#!/usr/bin/env python3
"""Security rules for template.yaml, beyond what cfn-lint checks.

- IAM statements name their actions: no "*" or "service:*", no NotAction or NotResource.
- Resource "*" only for actions AWS does not let a policy scope (listed below, each with why).
- Every Lambda permission names the one source that may invoke (SourceArn).
- The HTTP API requires IAM (SigV4) auth by default, and no route opts out of it unless it is a
  read-only GET outside the routes that change policies, scaling or the cost controls.
- No AWS managed policy by name (they grant far more than a function needs).
- Every function an EventBridge rule invokes has an on-failure destination for its own errors,
  and an event's retries (the rule's maximum age plus the function's) end within the hour the
  functions remember a scheduled event's id (`SCHEDULED_EVENT_MEMORY` in shared/src/lambda.rs),
  so no retry runs an event twice.
- The stack watches itself: every function has an alarm on its Errors and on its Throttles,
  every queue one on its depth, every scheduled run (tick, sweep, warm) one that goes off when no
  run succeeded (missing data breaches), and each of them tells the operations topic.

Usage: check-template.py [TEMPLATE]       check a template (default: template.yaml)
       check-template.py --self-test       show that each rule catches what it is for
Reads templates with cfn-lint's decoder (installed by scripts/test), so intrinsic functions keep
their structure.
"""

import copy
import sys

from cfnlint.decode import decode

# Actions that take no resource-level permissions, per the AWS Service Authorization Reference.
UNSCOPABLE = {
    "cloudwatch:GetMetricData": "CloudWatch GetMetricData supports only Resource *",
    "cloudwatch:PutMetricData": "CloudWatch PutMetricData supports only Resource *",
}

# How long a scheduled event's id is remembered (shared/src/lambda.rs, SCHEDULED_EVENT_MEMORY).
EVENT_MEMORY_S = 3600

# Paths (prefixes) whose routes change state that matters: they never go without auth.
SENSITIVE = ("/policies", "/scaling", "/cost", "/replicas", "/lambda", "/usage", "/models", "/local")


def statements(node):
    """Every IAM statement under node, through Fn::If branches."""
    if isinstance(node, dict):
        if "Fn::If" in node:
            for branch in node["Fn::If"][1:]:
                yield from statements(branch)
        elif "Effect" in node:
            yield node
        elif "Statement" in node:
            yield from statements(node["Statement"])
    elif isinstance(node, list):
        for item in node:
            yield from statements(item)


def policy_documents(name, resource):
    kind = resource.get("Type")
    props = resource.get("Properties", {})
    if kind == "AWS::Serverless::Function":
        for policy in props.get("Policies", []) or []:
            if isinstance(policy, str):
                yield f"{name}: managed policy {policy!r} by name"
            else:
                yield policy
    elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
        yield props.get("PolicyDocument", {})
    elif kind == "AWS::IAM::Role":
        for policy in props.get("Policies", []) or []:
            yield policy.get("PolicyDocument", {})
        for arn in props.get("ManagedPolicyArns", []) or []:
            yield f"{name}: managed policy {arn!r}"


def as_list(value):
    return value if isinstance(value, list) else [value]


def check(template):
    problems = []
    resources = template.get("Resources", {})
    for name, resource in resources.items():
        for document in policy_documents(name, resource):
            if isinstance(document, str):
                problems.append(document)
                continue
            for st in statements(document):
                sid = f"{name}/{st.get('Sid', '?')}"
                for key in ("NotAction", "NotResource", "NotPrincipal"):
                    if key in st:
                        problems.append(f"{sid}: uses {key}")
                actions = [a for a in as_list(st.get("Action", [])) if isinstance(a, str)]
                for action in actions:
                    if action == "*" or action.endswith(":*") or "*" in action.split(":")[-1]:
                        problems.append(f"{sid}: wildcard action {action!r}")
                if "*" in as_list(st.get("Resource", [])):
                    loose = [a for a in actions if a not in UNSCOPABLE]
                    if loose or not actions:
                        problems.append(f"{sid}: Resource '*' for {loose or 'unnamed actions'}")
        if resource.get("Type") == "AWS::Lambda::Permission":
            props = resource.get("Properties", {})
            if "SourceArn" not in props:
                problems.append(f"{name}: a Lambda permission without SourceArn lets any {props.get('Principal')} invoke")
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        auth = resource.get("Properties", {}).get("Auth", {})
        if auth.get("DefaultAuthorizer") != "AWS_IAM" or auth.get("EnableIamAuthorizer") is not True:
            problems.append(f"{name}: the API's default authorizer must be AWS_IAM")
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (resource.get("Properties", {}).get("Events", {}) or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties", {})
            authorizer = (props.get("Auth") or {}).get("Authorizer", "AWS_IAM")
            if authorizer != "NONE":
                continue
            method, path = str(props.get("Method", "ANY")).upper(), str(props.get("Path", "/"))
            if method != "GET" or "{proxy+}" in path or path.startswith(SENSITIVE):
                problems.append(f"{name}/{event_name}: {method} {path} opts out of IAM auth")
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Events::Rule":
            continue
        for target in resource.get("Properties", {}).get("Targets", []) or []:
            arn = target.get("Arn")
            function = None
            if isinstance(arn, dict):
                # The function itself, or its alias (`!Ref Function.Alias` under AutoPublishAlias).
                function = arn.get("Fn::GetAtt", [None])[0] or str(arn.get("Ref", "")).split(".")[0] or None
            if resources.get(function, {}).get("Type") != "AWS::Serverless::Function":
                continue
            invoke = resources[function].get("Properties", {}).get("EventInvokeConfig") or {}
            if not (invoke.get("DestinationConfig") or {}).get("OnFailure"):
                problems.append(f"{function}: invoked by {name} without an on-failure destination for its errors")
            rule_age = (target.get("RetryPolicy") or {}).get("MaximumEventAgeInSeconds", 86400)
            function_age = invoke.get("MaximumEventAgeInSeconds", 21600)
            if rule_age + function_age > EVENT_MEMORY_S:
                problems.append(
                    f"{name}->{function}: retries for {rule_age}+{function_age} s outlast the {EVENT_MEMORY_S} s an event id is remembered"
                )
    problems += watch_problems(resources)
    return problems


# The scheduled runs, as the functions name them in ScheduledRunSucceeded's `Run` dimension
# (shared/src/lambda.rs, RUNS).
RUNS = ("tick", "sweep", "warm")


def watch_problems(resources):
    """Every function, queue and scheduled run has an alarm that tells the operations topic."""
    problems = []
    alarms = [r.get("Properties", {}) for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Alarm"]
    telling = [a for a in alarms if {"Ref": "OpsTopic"} in as_list(a.get("AlarmActions", []))]
    for a in alarms:
        if a not in telling:
            problems.append(f"alarm {a.get('AlarmDescription', '?')[:40]!r} tells nobody")

    def watched(namespace, metric, name, value):
        return any(
            a.get("Namespace") == namespace
            and a.get("MetricName") == metric
            and {"Name": name, "Value": value} in as_list(a.get("Dimensions", []))
            for a in telling
        )

    for name, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Function":
            for metric in ("Errors", "Throttles"):
                if not watched("AWS/Lambda", metric, "FunctionName", {"Ref": name}):
                    problems.append(f"{name}: no alarm on its {metric}")
        if resource.get("Type") == "AWS::SQS::Queue":
            queue = {"Fn::GetAtt": [name, "QueueName"]}
            if not watched("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue):
                problems.append(f"{name}: no alarm on its depth")
    for run in RUNS:
        silent = [
            a
            for a in telling
            if a.get("MetricName") == "ScheduledRunSucceeded"
            and {"Name": "Run", "Value": run} in as_list(a.get("Dimensions", []))
            and a.get("TreatMissingData") == "breaching"
        ]
        if not silent:
            problems.append(f"no alarm goes off when no {run} run succeeds")
    return problems


def self_test(template):
    """Each rule catches a template broken the way it guards against."""
    def broken(change):
        t = copy.deepcopy(template)
        change(t)
        return check(t)

    api = lambda t: t["Resources"]["ApiFunction"]["Properties"]  # noqa: E731
    first = lambda t: api(t)["Policies"][0]["Statement"][0]  # noqa: E731
    cases = {
        "wildcard action": lambda t: first(t).update(Action=["dynamodb:*"]),
        "star resource": lambda t: first(t).update(Resource="*"),
        "NotAction": lambda t: first(t).update(NotAction=["iam:*"]),
        "managed policy": lambda t: api(t)["Policies"].append("AmazonDynamoDBFullAccess"),
        "unscoped permission": lambda t: t["Resources"]["WarmPermission"]["Properties"].pop("SourceArn"),
        "no default IAM auth": lambda t: t["Resources"]["HttpApi"]["Properties"]["Auth"].update(DefaultAuthorizer="NONE"),
        "no on-failure destination": lambda t: t["Resources"]["CostSweeperFunction"]["Properties"].pop("EventInvokeConfig"),
        "no on-failure destination behind an alias": lambda t: t["Resources"]["ScalerFunction"]["Properties"].pop(
            "EventInvokeConfig"
        ),
        "retries outlast the event memory": lambda t: t["Resources"]["CostSweepRule"]["Properties"]["Targets"][0]["RetryPolicy"].update(
            MaximumEventAgeInSeconds=86400
        ),
        "a function without an errors alarm": lambda t: t["Resources"].pop("ApiErrorsAlarm"),
        "a queue without a depth alarm": lambda t: t["Resources"].pop("WarmerFailureQueueAlarm"),
        "a schedule nobody watches": lambda t: t["Resources"].pop("SweepSilenceAlarm"),
        "a silence that never breaches": lambda t: t["Resources"]["TickSilenceAlarm"]["Properties"].update(
            TreatMissingData="notBreaching"
        ),
        "an alarm that tells nobody": lambda t: t["Resources"]["TableThrottleAlarm"]["Properties"].update(AlarmActions=[]),
        "open policy route": lambda t: api(t)["Events"].update(
            OpenPolicies={"Type": "HttpApi", "Properties": {"Path": "/policies/{agent_type}", "Method": "PUT", "Auth": {"Authorizer": "NONE"}}}
        ),
    }
    failed = [name for name, change in cases.items() if not broken(change)]
    open_health = lambda t: api(t)["Events"].update(  # noqa: E731
        Health={"Type": "HttpApi", "Properties": {"Path": "/health", "Method": "GET", "Auth": {"Authorizer": "NONE"}}}
    )
    if broken(open_health):
        failed.append("an open GET /health was refused")
    return failed


def main(argv):
    self_testing = "--self-test" in argv
    paths = [a for a in argv[1:] if a != "--self-test"] or ["template.yaml"]
    template, matches = decode(paths[0])
    if matches or template is None:
        print(f"{paths[0]}: cannot read: {matches}", file=sys.stderr)
        return 2
    problems = check(template)
    for p in problems:
        print(f"{paths[0]}: {p}", file=sys.stderr)
    if self_testing:
        failed = self_test(template)
        for f in failed:
            print(f"self-test: the rule for {f} did not catch it", file=sys.stderr)
        problems += failed
    if not problems:
        print(f"{paths[0]}: the security rules hold" + (" (and each catches what it is for)" if self_testing else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
