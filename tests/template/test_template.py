"""Checks of template.yaml that the linters cannot make: the Kafka triggers' property names and
values, the consumer group and starting position conventions of the seed, the connector name
pattern, and agreement between the template's parameters and environment and what each
function reads (functions/sink/src/config.rs, functions/error-handler/src/config.rs).

Also runs cfn-lint and `sam validate --lint` (both pinned in scripts/requirements.txt). Run through scripts/template-check.sh.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Path(os.environ.get("TEMPLATE_FILE", ROOT / "template.yaml"))
CONFIG_RS = ROOT / "functions/sink/src/config.rs"
ERROR_HANDLER_CONFIG_RS = ROOT / "functions/error-handler/src/config.rs"
# The variables both functions read (connection, credentials, partitions) live here.
SETTINGS_RS = ROOT / "shared/lambda-support/src/settings.rs"
ROWS_RS = ROOT / "shared/maxcompute-core/src/rows/mod.rs"
PARTITION_RS = ROOT / "shared/maxcompute-core/src/partition.rs"
BIN = Path(sys.executable).parent


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short intrinsic tags turned into their long forms."""


def _intrinsic(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path=TEMPLATE):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_CfnLoader)


def parameter_default(template, name):
    """A parameter's default; a CommaDelimitedList's as its list."""
    param = template["Parameters"][name]
    value = param.get("Default")
    if param["Type"] == "CommaDelimitedList" and isinstance(value, str):
        return [v.strip() for v in value.split(",")]
    return value


def _substitute(value, identifier, item):
    """One Fn::ForEach iteration: `&{Id}` in keys becomes the item's letters and digits,
    `${Id}` the item, and `{"Ref": Id}` the item itself."""
    alnum = re.sub(r"[^A-Za-z0-9]", "", item)
    if isinstance(value, dict):
        if value == {"Ref": identifier}:
            return item
        return {
            k.replace("&{%s}" % identifier, alnum).replace("${%s}" % identifier, item): _substitute(
                v, identifier, item
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_substitute(v, identifier, item) for v in value]
    if isinstance(value, str):
        return value.replace("${%s}" % identifier, item)
    return value


def expand_foreach(template, overrides=None):
    """The template with AWS::LanguageExtensions' Fn::ForEach loops of its Resources expanded,
    their collections taken from the parameters' defaults or `overrides`."""
    out = dict(template)
    resources = {}
    for name, value in template["Resources"].items():
        if not name.startswith("Fn::ForEach::"):
            resources[name] = value
            continue
        identifier, collection, body = value
        (fn, parameter), = collection.items()
        assert fn == "Ref", f"{name} loops over {collection}, not a parameter"
        items = (overrides or {}).get(parameter) or parameter_default(template, parameter)
        for item in items:
            for key, resource in _substitute(body, identifier, item).items():
                assert key not in resources, f"{name} makes {key} twice"
                resources[key] = resource
    out["Resources"] = resources
    return out


@pytest.fixture(scope="module")
def raw_template():
    """The template as written, Fn::ForEach loops included."""
    return load_template()


@pytest.fixture(scope="module")
def template(raw_template):
    """The template as CloudFormation sees it with the default parameters: loops expanded."""
    return expand_foreach(raw_template)


def _function_config(path):
    """A function's config.rs with the settings it reads through `lambda_support::settings`."""
    return SETTINGS_RS.read_text(encoding="utf-8") + "\n" + path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def config_rs():
    return _function_config(CONFIG_RS)


@pytest.fixture(scope="module")
def error_handler_config_rs():
    return _function_config(ERROR_HANDLER_CONFIG_RS)


def resources_of_type(template, type_name):
    return {
        name: r for name, r in template["Resources"].items() if r["Type"] == type_name
    }


def all_kafka_triggers(template):
    triggers = resources_of_type(template, "AWS::Lambda::EventSourceMapping")
    assert triggers, "the template has no event source mapping"
    return triggers


def kafka_triggers(template, function="SinkFunction"):
    """The event source mappings that feed one function."""
    triggers = {
        name: r
        for name, r in all_kafka_triggers(template).items()
        if r["Properties"]["FunctionName"] == {"Ref": function}
    }
    assert triggers, f"no event source mapping feeds {function}"
    return triggers


def function_environment(template, function):
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert function in functions, f"no {function} in the template"
    return functions[function]["Properties"]["Environment"]["Variables"]


def sink_environment(template):
    return function_environment(template, "SinkFunction")


def sink_variables(config_rs):
    """The `vars` modules (shared and the function's own): constant name -> environment variable."""
    modules = re.findall(r"pub mod vars \{(.*?)\n\}", config_rs, re.S)
    assert len(modules) == 2, "expected the shared and the function's own `pub mod vars`"
    found = {}
    for module in modules:
        found.update(re.findall(r'pub const (\w+): &str = "([A-Z0-9_]+)";', module))
    assert found, "no constants in the vars modules"
    return found


def match_arm_literals(source, header):
    """The string literals before `=>` in the first match after `header` (a FromStr impl or a
    function), up to the end of that item."""
    start = source.index(header)
    end = source.index("\n}\n", start)
    body = source[start:end]
    literals = set()
    for line in body.splitlines():
        if "=>" in line and not line.strip().startswith("_"):
            literals.update(re.findall(r'"([^"]*)"', line.split("=>", 1)[0]))
    return literals


def choices(config_rs, function):
    """The names `choose(vars::<function>, ..., &[("name", ...), ...])` accepts (any case)."""
    found = re.search(rf"choose\(\s*vars::{function},", config_rs)
    assert found, f"no choose(vars::{function}, ...) in the sink's configuration"
    start = found.start()
    end = config_rs.index(")?;", start)
    return set(re.findall(r'\("([^"]+)", ', config_rs[start:end]))


# ---------------------------------------------------------------------------------------------
# Linters


def _tool(name):
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name)


def test_cfn_lint_passes():
    cfn_lint = _tool("cfn-lint")
    assert cfn_lint, "cfn-lint is not installed: bash scripts/venv.sh installs the pinned version"
    result = subprocess.run(
        [cfn_lint, str(TEMPLATE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes():
    sam = _tool("sam")
    assert sam, "aws-sam-cli is not installed: run bash scripts/venv.sh (it pins aws-sam-cli)"
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1")
    result = subprocess.run(
        [sam, "validate", "--lint", "--template", str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# The Kafka triggers

# The properties of AWS::Lambda::EventSourceMapping this project sets for a Kafka source, per
# kind of cluster. Nested mappings list their own allowed keys. cfn-lint knows the resource's
# schema but not which properties belong to which kind of source (a self-managed block on an
# MSK trigger passes it), nor the values the project relies on.
COMMON_PROPERTIES = {
    "FunctionName": None,
    "Topics": None,
    "StartingPosition": None,
    "BatchSize": None,
    "MaximumBatchingWindowInSeconds": None,
    # Provisioned mode, and the partial batch response it makes possible.
    "ProvisionedPollerConfig": {"MinimumPollers": None, "MaximumPollers": None},
    "FunctionResponseTypes": None,
    "MetricsConfig": {"Metrics": None},
    # Bounded retries, provisioned mode only.
    "MaximumRetryAttempts": None,
    "MaximumRecordAgeInSeconds": None,
    "BisectBatchOnFunctionError": None,
    "DestinationConfig": {"OnFailure": {"Destination": None}},
}
# The trigger's schema registry (AWS::Lambda::EventSourceMapping SchemaRegistryConfig), inside
# the cluster kind's config block.
SCHEMA_REGISTRY_PROPERTIES = {
    "SchemaRegistryURI": None,
    "EventRecordFormat": None,
    "AccessConfigs": [{"Type": None, "URI": None}],
    "SchemaValidationConfigs": [{"Attribute": None}],
}
MSK_PROPERTIES = dict(
    COMMON_PROPERTIES,
    EventSourceArn=None,
    AmazonManagedKafkaEventSourceConfig={
        "ConsumerGroupId": None,
        "SchemaRegistryConfig": SCHEMA_REGISTRY_PROPERTIES,
    },
)
SELF_MANAGED_PROPERTIES = dict(
    COMMON_PROPERTIES,
    SelfManagedEventSource={"Endpoints": {"KafkaBootstrapServers": None}},
    SelfManagedKafkaEventSourceConfig={
        "ConsumerGroupId": None,
        "SchemaRegistryConfig": SCHEMA_REGISTRY_PROPERTIES,
    },
    SourceAccessConfigurations=[{"Type": None, "URI": None}],
)
SOURCE_ACCESS_TYPES = {
    "SASL_SCRAM_256_AUTH",
    "SASL_SCRAM_512_AUTH",
    "BASIC_AUTH",
    "CLIENT_CERTIFICATE_TLS_AUTH",
    "SERVER_ROOT_CA_CERTIFICATE",
    "VPC_SUBNET",
    "VPC_SECURITY_GROUP",
}


def unknown_keys(value, allowed, path):
    """Every key in `value` (following Fn::If branches) that `allowed` does not list."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, yes, no = value["Fn::If"]
        return unknown_keys(yes, allowed, path) + unknown_keys(no, allowed, path)
    if allowed is None or value == {"Ref": "AWS::NoValue"}:
        return []
    if isinstance(allowed, list):
        assert isinstance(value, list), f"{path} should be a list"
        return [k for i, item in enumerate(value) for k in unknown_keys(item, allowed[0], f"{path}[{i}]")]
    assert isinstance(value, dict), f"{path} should be a mapping"
    found = []
    for key, inner in value.items():
        if key not in allowed:
            found.append(f"{path}.{key}")
        else:
            found.extend(unknown_keys(inner, allowed[key], f"{path}.{key}"))
    return found


def trigger_kind(props):
    if "SelfManagedEventSource" in props:
        return "self-managed", SELF_MANAGED_PROPERTIES
    return "MSK", MSK_PROPERTIES


def test_kafka_triggers_use_only_known_property_names(template):
    for name, resource in all_kafka_triggers(template).items():
        kind, allowed = trigger_kind(resource["Properties"])
        bad = unknown_keys(resource["Properties"], allowed, name)
        assert not bad, f"{kind} trigger {name} has properties that are misspelt or belong elsewhere: {bad}"


def test_every_trigger_feeds_a_function_of_the_template(template):
    functions = set(resources_of_type(template, "AWS::Serverless::Function"))
    assert functions == {"SinkFunction", "ErrorHandlerFunction"}
    for name, resource in all_kafka_triggers(template).items():
        target = resource["Properties"]["FunctionName"]
        assert target in [{"Ref": f} for f in functions], name


def test_the_error_handler_reads_the_error_topic_from_the_start(template):
    triggers = kafka_triggers(template, "ErrorHandlerFunction")
    assert {r.get("Condition") for r in triggers.values()} == {"IsMsk", "IsSelfManaged"}
    for name, resource in triggers.items():
        props = resource["Properties"]
        assert props["Topics"] == [{"Ref": "ErrorTopic"}], name
        assert props["StartingPosition"] == "TRIM_HORIZON", name
        block = props.get("AmazonManagedKafkaEventSourceConfig") or props.get(
            "SelfManagedKafkaEventSourceConfig"
        )
        assert block["ConsumerGroupId"] == {"Fn::Sub": "connect-${ConnectorName}-errors"}, name
        # An on-failure destination here would send the error handler's failures back to the
        # topic it reads.
        assert "DestinationConfig" not in props, name


def test_there_is_one_trigger_per_kind_of_cluster(template):
    triggers = kafka_triggers(template)
    conditions = {r.get("Condition") for r in triggers.values()}
    assert conditions == {"IsMsk", "IsSelfManaged"}
    assert len(triggers) == 2
    for resource in triggers.values():
        props = resource["Properties"]
        assert props["FunctionName"] == {"Ref": "SinkFunction"}
        assert props["Topics"] == parameter_default(template, "SourceTopics"), "one topic per trigger"
        assert props["BatchSize"] == {"Ref": "BatchSize"}
        assert props["MaximumBatchingWindowInSeconds"] == {"Ref": "MaximumBatchingWindowInSeconds"}
        kind, _ = trigger_kind(props)
        if kind == "MSK":
            assert props["EventSourceArn"] == {"Ref": "MskClusterArn"}
        else:
            assert props["SelfManagedEventSource"]["Endpoints"]["KafkaBootstrapServers"] == {
                "Ref": "KafkaBootstrapServers"
            }
            for access in props["SourceAccessConfigurations"]:
                assert access["Type"] in SOURCE_ACCESS_TYPES


def test_consumer_group_is_connect_dash_connector_name(template):
    # One topic keeps the seed's group; with several each trigger has its own, since Lambda
    # requires a consumer group id to be unique among all Kafka event sources.
    for name, resource in kafka_triggers(template).items():
        props = resource["Properties"]
        block = props.get("AmazonManagedKafkaEventSourceConfig") or props.get(
            "SelfManagedKafkaEventSourceConfig"
        )
        assert block, f"{name} sets no consumer group"
        (topic,) = props["Topics"]
        assert block["ConsumerGroupId"] == {
            "Fn::If": [
                "OneTopic",
                {"Fn::Sub": "connect-${ConnectorName}"},
                {"Fn::Sub": f"connect-${{ConnectorName}}-{topic}"},
            ]
        }, name
        assert resolve(block["ConsumerGroupId"], template) == "connect-kafka-maxcompute-sink"
    assert template["Conditions"]["OneTopic"] == {
        "Fn::Equals": [
            {"Fn::Join": [",", {"Ref": "SourceTopics"}]},
            {"Fn::Select": [0, {"Ref": "SourceTopics"}]},
        ]
    }


def test_consumer_offset_maps_to_starting_position(template):
    offset = template["Parameters"]["ConsumerOffset"]
    assert offset["AllowedValues"] == ["latest", "earliest"]
    assert offset["Default"] == "latest"
    mapping = template["Mappings"]["StartingPositions"]
    assert {k: v["Position"] for k, v in mapping.items()} == {
        "latest": "LATEST",
        "earliest": "TRIM_HORIZON",
    }
    for name, resource in kafka_triggers(template).items():
        assert resource["Properties"]["StartingPosition"] == {
            "Fn::FindInMap": ["StartingPositions", {"Ref": "ConsumerOffset"}, "Position"]
        }, name


def test_batching_limits_are_the_triggers(template):
    params = template["Parameters"]
    assert (params["BatchSize"]["MinValue"], params["BatchSize"]["MaxValue"]) == (1, 10000)
    window = params["MaximumBatchingWindowInSeconds"]
    assert (window["MinValue"], window["MaxValue"]) == (0, 300)


def test_partial_batch_response_only_in_provisioned_mode(template):
    params = template["Parameters"]
    assert params["PartialBatchResponse"]["AllowedValues"] == ["false", "true"]
    assert params["PartialBatchResponse"]["Default"] == "false", "off by default: on-demand mode ignores it"
    assert params["MinimumPollers"]["Default"] == 0, "on-demand mode by default"
    conditions = template["Conditions"]
    assert conditions["IsProvisioned"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MinimumPollers"}, "0"]}]
    }
    assert conditions["ReportsBatchItemFailures"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "PartialBatchResponse"}, "true"]},
            {"Condition": "IsProvisioned"},
        ]
    }
    # The sink answers with batchItemFailures exactly when the trigger reads them.
    assert sink_environment(template)["SINK_PARTIAL_BATCH"] == {
        "Fn::If": ["ReportsBatchItemFailures", "true", "false"]
    }
    for name, resource in kafka_triggers(template).items():
        props = resource["Properties"]
        assert props["FunctionResponseTypes"] == {
            "Fn::If": [
                "ReportsBatchItemFailures",
                ["ReportBatchItemFailures"],
                {"Ref": "AWS::NoValue"},
            ]
        }, name
        assert props["ProvisionedPollerConfig"]["Fn::If"][0] == "IsProvisioned", name
    rule = template["Rules"]["PartialBatchNeedsProvisionedMode"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "PartialBatchResponse"}, "true"]}


# ---------------------------------------------------------------------------------------------
# The connector name


def cfn_pattern_accepts(pattern, value):
    # CloudFormation matches AllowedPattern against the whole value.
    return re.fullmatch(pattern, value) is not None


@pytest.mark.parametrize(
    "value, accepted",
    [
        ("kafka-maxcompute-sink", True),
        ("a", True),
        ("k" * 48, True),
        ("-x", False),
        ("k" * 49, False),
        ("Upper", False),
        ("", False),
        ("under_score", False),
    ],
)
def test_connector_name_pattern(template, value, accepted):
    param = template["Parameters"]["ConnectorName"]
    assert cfn_pattern_accepts(param["AllowedPattern"], value) is accepted
    assert cfn_pattern_accepts(param["AllowedPattern"], param["Default"])


def test_names_derived_from_the_connector_name_fit(template):
    # FunctionName takes at most 64 characters; the consumer group at most 200.
    longest = "k" * 48
    props = template["Resources"]["SinkFunction"]["Properties"]
    assert len(props["FunctionName"]["Fn::Sub"].replace("${ConnectorName}", longest)) <= 64
    assert len("connect-" + longest) <= 200


# ---------------------------------------------------------------------------------------------
# Parameters and environment against the sink's configuration

# What the sink accepts for each setting the template offers as a choice, in the template's
# spelling. config.rs also takes aliases (case-insensitive names; `event`, `event_time`,
# `processing_time` for the partition time; `1`/`0` for booleans); the template offers one
# spelling per choice. Each value is also checked against the Rust source below, so a change on
# either side fails here.
ACCEPTED = {
    # parameter: (environment variable, values)
    "Mode": ("SINK_MODE", ["DEFAULT", "KEY", "VALUE"]),
    "Format": ("SINK_FORMAT", ["TEXT", "BINARY", "CSV", "JSON", "DEBEZIUM"]),
    "Partition": ("SINK_PARTITION", ["HOUR", "DAY", "MINUTE"]),
    "PartitionTime": ("SINK_PARTITION_TIME", ["record", "processing"]),
    "Tunnel": ("SINK_TUNNEL", ["stream", "batch"]),
    "JsonNumber": ("SINK_JSON_NUMBER", ["double", "decimal"]),
    "Evolve": ("SINK_EVOLVE", ["none", "add-columns"]),
}


def rust_accepted(config_rs):
    """What the Rust source accepts, upper-cased where it compares case-insensitively."""
    rows = ROWS_RS.read_text(encoding="utf-8")
    partition = PARTITION_RS.read_text(encoding="utf-8")
    return {
        "Mode": match_arm_literals(rows, "impl FromStr for Mode"),
        "Format": match_arm_literals(rows, "impl FromStr for Format"),
        "Partition": match_arm_literals(partition, "impl FromStr for Granularity"),
        # parse_time_source lower-cases the value first.
        "PartitionTime": match_arm_literals(config_rs, "fn parse_time_source"),
        # `choose` compares case-insensitively.
        "Tunnel": choices(config_rs, "TUNNEL"),
        "JsonNumber": choices(config_rs, "JSON_NUMBER"),
        "Evolve": choices(config_rs, "EVOLVE"),
    }


@pytest.mark.parametrize("parameter", sorted(ACCEPTED))
def test_choices_equal_what_the_sink_accepts(template, config_rs, parameter):
    variable, values = ACCEPTED[parameter]
    param = template["Parameters"][parameter]
    assert sorted(param["AllowedValues"]) == sorted(values)
    assert param["Default"] in values
    assert sink_environment(template)[variable] == {"Ref": parameter}
    source = rust_accepted(config_rs)[parameter]
    assert source, f"found nothing the sink accepts for {parameter}"
    for v in values:
        assert v in source or v.upper() in source or v.lower() in source, (
            f"{parameter}={v} is offered by the template but not accepted by the sink ({sorted(source)})"
        )
    # Every canonical spelling the sink has is offered (aliases aside).
    canonical = {s.upper() for s in source} - {"EVENT", "EVENT_TIME", "PROCESSING_TIME"}
    assert canonical == {v.upper() for v in values}, parameter


# Variables the template sets for the Parameters and Secrets extension's layer, not the functions.
EXTENSION_VARIABLES = {"SECRETS_MANAGER_TTL"}


def test_every_variable_set_is_read_by_the_sink(template, config_rs):
    known = set(sink_variables(config_rs).values()) | EXTENSION_VARIABLES
    unknown = set(sink_environment(template)) - known
    assert not unknown, f"the template sets variables the sink never reads: {sorted(unknown)}"


# The AccessKey variables are required only without ALIBABA_CLOUD_CREDENTIALS_SECRET, which the
# template sets instead (test_no_secret_value_passes_through_the_template).
CREDENTIAL_ALTERNATIVE = {"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"}
# Set by Lambda in every function's environment (the role's credentials and the region).
SET_BY_LAMBDA = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"}


def test_every_required_variable_is_set(template, config_rs):
    consts = sink_variables(config_rs)
    required = {consts[c] for c in re.findall(r"required\(\s*vars::(\w+)", config_rs)}
    assert "MAXCOMPUTE_ENDPOINT" in required, "config.rs changed shape"
    # MAXCOMPUTE_TABLE may be empty only with SINK_TABLE_FIELD, so config.rs checks it itself;
    # the template always sets it.
    assert re.search(r"ConfigError::Missing \{\s*variable: vars::TABLE,", config_rs)
    required.add("MAXCOMPUTE_TABLE")
    required -= CREDENTIAL_ALTERNATIVE | SET_BY_LAMBDA
    env = sink_environment(template)
    missing = required - set(env)
    assert not missing, f"the sink needs these and the template does not set them: {sorted(missing)}"
    for name in required:
        assert isinstance(env[name], dict) and "Ref" in env[name], f"{name} should come from a parameter"


def test_every_variable_set_is_read_by_the_error_handler(template, error_handler_config_rs):
    known = set(sink_variables(error_handler_config_rs).values()) | EXTENSION_VARIABLES
    unknown = set(function_environment(template, "ErrorHandlerFunction")) - known
    assert not unknown, f"the template sets variables the error handler never reads: {sorted(unknown)}"


def test_every_variable_the_error_handler_requires_is_set(template, error_handler_config_rs):
    consts = sink_variables(error_handler_config_rs)
    required = {consts[c] for c in re.findall(r"required\(\s*vars::(\w+)", error_handler_config_rs)}
    assert "MAXCOMPUTE_ENDPOINT" in required, "the error handler's config.rs changed shape"
    required -= CREDENTIAL_ALTERNATIVE | SET_BY_LAMBDA
    missing = required - set(function_environment(template, "ErrorHandlerFunction"))
    assert not missing, f"the error handler needs these and the template does not set them: {sorted(missing)}"


def test_environment_refers_to_declared_parameters(template):
    params = set(template["Parameters"])

    def refs(value):
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "Ref" and isinstance(v, str) and not v.startswith("AWS::"):
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(value, list):
            for v in value:
                yield from refs(v)

    for function in ("SinkFunction", "ErrorHandlerFunction"):
        undeclared = set(refs(function_environment(template, function))) - params
        assert not undeclared, (function, sorted(undeclared))


@pytest.mark.parametrize("function", ["SinkFunction", "ErrorHandlerFunction"])
def test_no_secret_value_passes_through_the_template(template, function):
    # The AccessKey pair is named by its secret's ARN and read at cold start through the
    # extension's layer; no parameter carries a secret value, so none can reach the environment.
    params = template["Parameters"]
    assert not [n for n, p in params.items() if p.get("NoEcho")]
    assert not {"AccessKeyId", "AccessKeySecret"} & set(params)
    env = function_environment(template, function)
    assert env["ALIBABA_CLOUD_CREDENTIALS_SECRET"] == {"Ref": "AccessKeySecretArn"}
    assert not {"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"} & set(env)
    # The function caches the value itself and asks again only after a refusal, which must
    # reach Secrets Manager rather than the extension's cache.
    assert env["SECRETS_MANAGER_TTL"] == "0"
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "SecretsExtensionLayerArn"}]
    assert re.fullmatch(
        params["SecretsExtensionLayerArn"]["AllowedPattern"],
        "arn:aws:lambda:eu-west-1:015030872274:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:12",
    )
    assert "Default" not in params["AccessKeySecretArn"], "a deploy must name its secret"


# ---------------------------------------------------------------------------------------------
# Permissions and network (README, "Permissions"): what AWS documents the trigger needs of the
# function's role, and nothing broader.

# AWSLambdaMSKExecutionRole's network-interface actions, which an MSK trigger needs on "*".
MSK_NETWORK_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
}


def resolve(value, template, extra=None):
    """Evaluates the intrinsics a policy uses (Ref, Sub, Select, Split) with the parameters'
    defaults."""
    params = {k: parameter_default(template, k) for k in template["Parameters"]}
    params.update(extra or {})
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [resolve(v, template, extra) for v in value]
    (fn, arg), = value.items()
    if fn == "Ref":
        return params[arg]
    if fn == "Fn::If":
        name, yes, no = arg
        return resolve(yes if holds(name, template, extra) else no, template, extra)
    if fn == "Fn::Join":
        return arg[0].join(resolve(arg[1], template, extra))
    if fn == "Fn::Split":
        return resolve(arg[1], template, extra).split(arg[0])
    if fn == "Fn::Select":
        return resolve(arg[1], template, extra)[int(arg[0])]
    if fn == "Fn::Sub":
        text, names = arg if isinstance(arg, list) else (arg, {})
        local = {k: resolve(v, template, extra) for k, v in names.items()}
        return re.sub(
            r"\$\{([^}]+)\}", lambda m: local.get(m[1], params.get(m[1])) or "", text
        )
    raise AssertionError(f"cannot resolve {value}")


def holds(condition, template, extra=None):
    """Whether a named condition holds with the parameters' defaults (and `extra`)."""

    def truth(c):
        (fn, arg), = c.items()
        if fn == "Condition":
            return holds(arg, template, extra)
        if fn == "Fn::Not":
            return not truth(arg[0])
        if fn == "Fn::And":
            return all(truth(a) for a in arg)
        if fn == "Fn::Or":
            return any(truth(a) for a in arg)
        if fn == "Fn::Equals":
            a, b = (resolve(x, template, extra) for x in arg)
            return str(a) == str(b)
        raise AssertionError(f"cannot evaluate {c}")

    return truth(template["Conditions"][condition])


# The secret of the error topic's SASL user: its own, or the self-managed trigger's.
ERROR_TOPIC_SASL_SECRET = {
    "Fn::If": [
        "HasErrorTopicSaslSecret",
        {"Ref": "ErrorTopicSaslSecretArn"},
        {"Ref": "KafkaAuthSecretArn"},
    ]
}


def policy_branches(template, function):
    """The function's statements when the source is MSK, when it is self-managed, and when it
    is self-managed in a VPC (on top)."""
    functions = resources_of_type(template, "AWS::Serverless::Function")
    policies = functions[function]["Properties"]["Policies"]
    assert len(policies) == (6 if function == "SinkFunction" else 3), policies
    if function == "SinkFunction":
        # The error topic's SASL secret, read by the sink when SCRAM or PLAIN is chosen.
        assert policies[3] == {
            "Fn::If": [
                "ErrorTopicPassword",
                {
                    "Statement": [
                        {
                            "Sid": "ErrorTopicSaslSecret",
                            "Effect": "Allow",
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": ERROR_TOPIC_SASL_SECRET,
                        }
                    ]
                },
                {"Ref": "AWS::NoValue"},
            ]
        }
    # The AccessKey secret, read by the function itself through the extension, and only it.
    assert policies[2] == {
        "Statement": [
            {
                "Sid": "AccessKeySecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": {"Ref": "AccessKeySecretArn"},
            }
        ]
    }
    condition, msk, self_managed = policies[0]["Fn::If"]
    assert condition == "IsMsk"
    condition, in_vpc, otherwise = policies[1]["Fn::If"]
    assert condition == "SelfManagedInVpc"
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert template["Conditions"]["SelfManagedInVpc"] == {
        "Fn::And": [{"Condition": "IsSelfManaged"}, {"Condition": "InVpc"}]
    }
    return msk["Statement"], self_managed["Statement"], in_vpc["Statement"]


def actions(statement):
    a = statement["Action"]
    return {a} if isinstance(a, str) else set(a)


@pytest.mark.parametrize("function", ["SinkFunction", "ErrorHandlerFunction"])
def test_each_trigger_gets_the_permissions_aws_documents_and_no_more(template, function):
    msk, self_managed, self_managed_in_vpc = policy_branches(template, function)
    (msk_trigger,) = [
        t for t in kafka_triggers(template, function).values() if t.get("Condition") == "IsMsk"
    ]
    (sm_trigger,) = [
        t
        for t in kafka_triggers(template, function).values()
        if t.get("Condition") == "IsSelfManaged"
    ]
    cluster = resolve({"Ref": "MskClusterArn"}, template)
    topic = resolve(msk_trigger["Properties"]["Topics"][0], template)
    group = resolve(
        msk_trigger["Properties"]["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"],
        template,
    )
    prefix, path = cluster.split("cluster/", 1)
    granted = {}
    provisioned_only = [s["Fn::If"] for s in msk if "Fn::If" in s]
    msk = [s for s in msk if "Fn::If" not in s]
    if function == "SinkFunction":
        # The error topic, written with the role's IAM identity by the trigger (on-failure
        # destination, provisioned mode) or by the sink (AWS_MSK_IAM), and only then.
        (condition, statement, otherwise), = provisioned_only
        assert (condition, otherwise) == ("WritesErrorTopicWithIam", {"Ref": "AWS::NoValue"})
        assert template["Conditions"]["WritesErrorTopicWithIam"] == {
            "Fn::Or": [{"Condition": "IsProvisioned"}, {"Condition": "ErrorTopicIam"}]
        }
        error_topic = resolve({"Ref": "ErrorTopic"}, template)
        assert actions(statement) == {"kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"}
        assert resolve(statement["Resource"], template) == f"{prefix}topic/{path}/{error_topic}"
    else:
        assert provisioned_only == [], "the error handler has no on-failure destination"
    if function == "SinkFunction":
        # Each topic's read and consumer-group statements are a role policy of their own, made
        # by the same loop as the topic's trigger.
        topic_policies = resources_of_type(template, "AWS::IAM::RolePolicy")
        assert len(topic_policies) == len(parameter_default(template, "SourceTopics"))
        (policy,) = topic_policies.values()
        assert policy["Condition"] == "IsMsk"
        assert policy["Properties"]["RoleName"] == {"Ref": "SinkFunctionRole"}
        msk = msk + policy["Properties"]["PolicyDocument"]["Statement"]
    for s in msk:
        assert s["Effect"] == "Allow"
        assert not any("*" in a for a in actions(s)), s
        for a in actions(s):
            granted[a] = resolve(s["Resource"], template)
    # AWSLambdaMSKExecutionRole's actions (kafka:DescribeCluster replaced by its V2).
    assert granted["kafka:DescribeClusterV2"] == cluster
    assert granted["kafka:GetBootstrapBrokers"] == cluster
    for a in MSK_NETWORK_ACTIONS:
        assert granted[a] == "*", a
    # IAM access control on the cluster: connect, read the topic, use the group; nothing else.
    assert granted["kafka-cluster:Connect"] == cluster
    assert granted["kafka-cluster:DescribeClusterDynamicConfiguration"] == cluster
    assert granted["kafka-cluster:DescribeTopic"] == f"{prefix}topic/{path}/{topic}"
    assert granted["kafka-cluster:ReadData"] == f"{prefix}topic/{path}/{topic}"
    assert granted["kafka-cluster:DescribeGroup"] == f"{prefix}group/{path}/{group}"
    assert granted["kafka-cluster:AlterGroup"] == f"{prefix}group/{path}/{group}"
    assert len(granted) == 2 + len(MSK_NETWORK_ACTIONS) + 6, sorted(granted)
    # Only the network interfaces are unscoped: EC2 does not scope them by resource.
    unscoped = {a for a, r in granted.items() if r == "*"}
    assert unscoped == MSK_NETWORK_ACTIONS

    # Self-managed: the SASL/SCRAM secret the trigger names, and only it.
    (secret,) = sm_trigger["Properties"]["SourceAccessConfigurations"]
    assert len(self_managed) == 1
    (statement,) = self_managed
    assert actions(statement) == {"secretsmanager:GetSecretValue"}
    assert statement["Resource"] == secret["URI"]
    # A self-managed cluster reached in a VPC: the same network interfaces as for MSK.
    (statement,) = self_managed_in_vpc
    assert actions(statement) == MSK_NETWORK_ACTIONS
    assert statement["Resource"] == "*"


def test_the_functions_run_in_the_given_vpc_or_in_none(template):
    vpc = template["Globals"]["Function"]["VpcConfig"]["Fn::If"]
    assert vpc[0] == "InVpc"
    assert vpc[1] == {
        "SubnetIds": {"Ref": "SubnetIds"},
        "SecurityGroupIds": {"Ref": "SecurityGroupIds"},
    }
    assert vpc[2] == {"Ref": "AWS::NoValue"}
    in_vpc = template["Conditions"]["InVpc"]
    assert in_vpc == {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "SubnetIds"}]}, ""]}]}
    params = template["Parameters"]
    for name in ("SubnetIds", "SecurityGroupIds"):
        assert params[name]["Type"] == "CommaDelimitedList"
        assert params[name]["Default"] == "", f"{name}: empty must mean no VPC"


# ---------------------------------------------------------------------------------------------
# Building and deploying: `sam build` (rust-cargolambda) and samconfig.example.toml.


@pytest.mark.parametrize(
    "function,binary", [("SinkFunction", "sink"), ("ErrorHandlerFunction", "error-handler")]
)
def test_sam_builds_each_function_from_the_workspace(template, function, binary):
    resource = resources_of_type(template, "AWS::Serverless::Function")[function]
    assert resource["Metadata"] == {
        "BuildMethod": "rust-cargolambda",
        "BuildProperties": {"Binary": binary},
    }
    assert resource["Properties"]["CodeUri"] == ".", "the workspace root, where Cargo.toml is"
    manifest = (ROOT / "functions" / binary / "Cargo.toml").read_text(encoding="utf-8")
    assert f'name = "{binary}"' in manifest, f"no package {binary}"


def test_the_samconfig_example_sets_declared_parameters_to_accepted_values(template):
    import shlex
    import tomllib

    with open(ROOT / "samconfig.example.toml", "rb") as f:
        config = tomllib.load(f)
    deploy = config["default"]["deploy"]["parameters"]
    assert "CAPABILITY_IAM" in deploy["capabilities"], "the stack creates the functions' roles"
    overrides = dict(item.split("=", 1) for item in shlex.split(deploy["parameter_overrides"]))
    params = template["Parameters"]
    for name, value in overrides.items():
        assert name in params, f"{name} is not a parameter of template.yaml"
        allowed = params[name].get("AllowedValues")
        assert allowed is None or value in allowed, (name, value, allowed)
        pattern = params[name].get("AllowedPattern")
        assert pattern is None or re.fullmatch(pattern, value), (name, value, pattern)
        assert not params[name].get("NoEcho"), f"{name} is a secret: never in a file"
    required = {n for n, p in params.items() if "Default" not in p and not p.get("NoEcho")}
    assert required <= set(overrides), f"unset: {sorted(required - set(overrides))}"


def test_the_error_topic_protocol_is_one_the_sink_accepts(template, config_rs):
    param = template["Parameters"]["ErrorTopicSecurityProtocol"]
    assert sink_environment(template)["SINK_ERROR_SECURITY_PROTOCOL"] == {
        "Ref": "ErrorTopicSecurityProtocol"
    }
    start = config_rs.index("let protocol = get(vars::ERROR_SECURITY_PROTOCOL)")
    accepted = set(re.findall(r'^\s*"([A-Z_]+)" =>', config_rs[start:], re.M))
    assert {"PLAINTEXT", "SSL", "SASL_SSL"} <= accepted, accepted
    assert set(param["AllowedValues"]) <= accepted
    # MSK's brokers, as the sample MSK event gives them, listen for TLS on 9094.
    assert param["Default"] == "SSL"
    # SASL: the mechanism only with SASL_SSL, a password secret only for SCRAM and PLAIN.
    start = config_rs.index("let mechanism = match mechanism.as_str()")
    mechanisms = set(re.findall(r'^\s*"([A-Z0-9_-]+)" =>', config_rs[start:start + 2500], re.M))
    assert mechanisms == {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "AWS_MSK_IAM"}, mechanisms
    assert set(template["Parameters"]["ErrorTopicSaslMechanism"]["AllowedValues"]) == mechanisms
    env = sink_environment(template)
    assert env["SINK_ERROR_SASL_MECHANISM"] == {
        "Fn::If": ["ErrorTopicSasl", {"Ref": "ErrorTopicSaslMechanism"}, {"Ref": "AWS::NoValue"}]
    }
    assert env["SINK_ERROR_SASL_SECRET"] == {
        "Fn::If": ["ErrorTopicPassword", ERROR_TOPIC_SASL_SECRET, {"Ref": "AWS::NoValue"}]
    }
    assert not {"SINK_ERROR_SASL_USERNAME", "SINK_ERROR_SASL_PASSWORD"} & set(env)
    conditions = template["Conditions"]
    iam = {"Fn::Equals": [{"Ref": "ErrorTopicSaslMechanism"}, "AWS_MSK_IAM"]}
    assert conditions["ErrorTopicSasl"] == {"Fn::Equals": [{"Ref": "ErrorTopicSecurityProtocol"}, "SASL_SSL"]}
    assert conditions["ErrorTopicIam"] == {"Fn::And": [{"Condition": "ErrorTopicSasl"}, iam]}
    assert conditions["ErrorTopicPassword"] == {
        "Fn::And": [{"Condition": "ErrorTopicSasl"}, {"Fn::Not": [iam]}]
    }


def test_every_trigger_reports_its_event_counts(template):
    for name, trigger in all_kafka_triggers(template).items():
        metrics = trigger["Properties"]["MetricsConfig"]["Metrics"]
        assert metrics == ["EventCount"], (name, metrics)


RETRY_SETTINGS = {
    "MaximumRetryAttempts": {"Ref": "MaximumRetryAttempts"},
    "MaximumRecordAgeInSeconds": {"Ref": "MaximumRecordAgeInSeconds"},
    "BisectBatchOnFunctionError": {"Ref": "BisectBatchOnFunctionError"},
    "DestinationConfig": {"OnFailure": {"Destination": {"Fn::Sub": "kafka://${ErrorTopic}"}}},
}


def test_the_sinks_retries_are_bounded_in_provisioned_mode(template):
    for name, trigger in kafka_triggers(template, "SinkFunction").items():
        props = trigger["Properties"]
        for setting, value in RETRY_SETTINGS.items():
            assert props[setting] == {
                "Fn::If": ["IsProvisioned", value, {"Ref": "AWS::NoValue"}]
            }, (name, setting, props.get(setting))
    params = template["Parameters"]
    # AWS's ranges (-1 = unbounded; 10000 attempts; 604800 s) and safe defaults: retries end,
    # records never expire unseen.
    assert (params["MaximumRetryAttempts"]["MinValue"], params["MaximumRetryAttempts"]["MaxValue"]) == (-1, 10000)
    assert 0 <= params["MaximumRetryAttempts"]["Default"] <= 10
    assert (params["MaximumRecordAgeInSeconds"]["MinValue"], params["MaximumRecordAgeInSeconds"]["MaxValue"]) == (-1, 604800)
    assert params["BisectBatchOnFunctionError"]["Default"] == "true"


def test_permanent_write_errors_never_stall_an_on_demand_trigger(template, config_rs):
    # Provisioned mode bounds the retries (above); on demand nothing does, so the sink sends a
    # partition MaxCompute refuses for good to the error topic instead of failing the batch.
    env = sink_environment(template)
    assert env["SINK_PERMANENT_WRITE_ERRORS"] == {"Fn::If": ["IsProvisioned", "fail", "error-topic"]}
    accepted = choices(config_rs, "PERMANENT_WRITE_ERRORS")
    assert accepted == {"fail", "error-topic"}, accepted
    assert "SINK_ERROR_TOPIC" in env


def test_the_error_handler_never_sends_its_failures_back_to_the_error_topic(template):
    for name, trigger in kafka_triggers(template, "ErrorHandlerFunction").items():
        assert not set(RETRY_SETTINGS) & set(trigger["Properties"]), name



@pytest.fixture(scope="module")
def metrics_rs():
    return (ROOT / "functions" / "sink" / "src" / "metrics.rs").read_text(encoding="utf-8")


def test_the_alarms_watch_metrics_the_sink_emits_with_its_dimensions(template, metrics_rs):
    namespace = re.search(r'pub const NAMESPACE: &str = "(\w+)";', metrics_rs)[1]
    emitted = set(re.findall(r'"(\w+)"\.into\(\),\s*"(?:Count|Milliseconds|Bytes)"', metrics_rs))
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    # One pair per source topic, named after the topic's letters and digits.
    assert set(alarms) == {"RejectsAlarmmaxcomputetestinput", "RecordAgeAlarmmaxcomputetestinput"}
    sink = resources_of_type(template, "AWS::Serverless::Function")["SinkFunction"]["Properties"]
    (msk_trigger,) = [
        t for t in kafka_triggers(template, "SinkFunction").values() if t.get("Condition") == "IsMsk"
    ]
    for name, alarm in alarms.items():
        # Only with a topic to tell, and acting on it.
        assert alarm["Condition"] == "HasAlarms", name
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopicArn"}], name
        assert props["Namespace"] == namespace, name
        assert props["MetricName"] in emitted, (name, props["MetricName"], emitted)
        assert props["TreatMissingData"] == "notBreaching", name
        # The dimensions the sink writes: its function name (AWS_LAMBDA_FUNCTION_NAME), the
        # batch's topic and the table.
        dims = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        assert dims == {
            "Function": sink["FunctionName"],
            "Topic": msk_trigger["Properties"]["Topics"][0],
            "Table": {"Ref": "MaxComputeTable"},
        }, name
        assert re.search(r'"Dimensions": \[\["Function", "Topic", "Table"\]\]', metrics_rs)
    assert template["Conditions"]["HasAlarms"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    # RecordAge is in milliseconds; the parameter in seconds.
    assert alarms["RecordAgeAlarmmaxcomputetestinput"]["Properties"]["Threshold"] == {"Fn::Sub": "${RecordAgeAlarmSeconds}000"}


# ---------------------------------------------------------------------------------------------
# Several source topics: one trigger per topic (AWS::LanguageExtensions' Fn::ForEach)

THREE_TOPICS = ["orders", "order-items", "audit.log"]


def _with_defaults(tmp_path, name, **defaults):
    """template.yaml with other parameter defaults, as a deployment's overrides would set them,
    written next to the test for the linters."""
    text = TEMPLATE.read_text(encoding="utf-8")
    for param, value in defaults.items():
        pattern = re.compile(rf"(\n  {param}:\n(?:    .*\n)*?    Default: )(.*)\n")
        assert pattern.search(text), f"no Default line for {param}"
        text = pattern.sub(lambda m: f"{m[1]}{value}\n", text, count=1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _lint(path):
    cfn_lint = _tool("cfn-lint")
    assert cfn_lint, "cfn-lint is not installed: bash scripts/venv.sh installs the pinned version"
    result = subprocess.run([cfn_lint, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_three_topics_pass_cfn_lint_and_sam_validate(tmp_path):
    path = _with_defaults(tmp_path, "three-topics.yaml", SourceTopics=",".join(THREE_TOPICS))
    _lint(path)
    sam = _tool("sam")
    assert sam, "aws-sam-cli is not installed: run bash scripts/venv.sh (it pins aws-sam-cli)"
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1")
    result = subprocess.run(
        [sam, "validate", "--lint", "--template", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_topic_gets_its_trigger_group_permissions_and_alarms(raw_template):
    assert raw_template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
    assert raw_template["Parameters"]["SourceTopics"]["Type"] == "CommaDelimitedList"
    t = expand_foreach(raw_template, {"SourceTopics": THREE_TOPICS})
    triggers = kafka_triggers(t)
    assert sorted(triggers) == sorted(
        f"{kind}Trigger{re.sub('[^A-Za-z0-9]', '', topic)}"
        for kind in ("Msk", "SelfManaged")
        for topic in THREE_TOPICS
    )
    several = {"SourceTopics": THREE_TOPICS}
    assert not holds("OneTopic", t, several)
    assert holds("OneTopic", t, {"SourceTopics": ["orders"]})
    groups = {}
    for name, resource in triggers.items():
        props = resource["Properties"]
        (topic,) = props["Topics"]
        block = props.get("AmazonManagedKafkaEventSourceConfig") or props.get(
            "SelfManagedKafkaEventSourceConfig"
        )
        groups.setdefault(resource["Condition"], set()).add(
            resolve(block["ConsumerGroupId"], t, several)
        )
    # Lambda requires a consumer group id unique among all Kafka event sources.
    for condition, found in groups.items():
        assert found == {f"connect-kafka-maxcompute-sink-{topic}" for topic in THREE_TOPICS}, condition
    cluster = resolve({"Ref": "MskClusterArn"}, t)
    prefix, path = cluster.split("cluster/", 1)
    read = set()
    for policy in resources_of_type(t, "AWS::IAM::RolePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "kafka-cluster:ReadData" in actions(statement):
                read.add(resolve(statement["Resource"], t, several))
    assert read == {f"{prefix}topic/{path}/{topic}" for topic in THREE_TOPICS}
    alarms = resources_of_type(t, "AWS::CloudWatch::Alarm")
    topics = {d["Value"] for a in alarms.values() for d in a["Properties"]["Dimensions"] if d["Name"] == "Topic"}
    assert topics == set(THREE_TOPICS)
    assert len(alarms) == 2 * len(THREE_TOPICS)


# ---------------------------------------------------------------------------------------------
# The trigger's schema registry (SchemaRegistryConfig), provisioned mode only

# AWS's allowed values (AWS::Lambda::EventSourceMapping SchemaRegistryAccessConfig,
# SchemaValidationConfig, SchemaRegistryConfig).
REGISTRY_ACCESS_TYPES = {"BASIC_AUTH", "CLIENT_CERTIFICATE_TLS_AUTH", "SERVER_ROOT_CA_CERTIFICATE"}


def registry_config(props):
    block = props.get("AmazonManagedKafkaEventSourceConfig") or props.get(
        "SelfManagedKafkaEventSourceConfig"
    )
    return block["SchemaRegistryConfig"]


def test_the_schema_registry_is_optional_and_as_aws_documents_it(template):
    params = template["Parameters"]
    assert params["SchemaRegistryURI"]["Default"] == "", "no registry unless one is named"
    assert params["EventRecordFormat"]["AllowedValues"] == ["JSON", "SOURCE"]
    assert set(params["SchemaRegistryAuth"]["AllowedValues"]) <= REGISTRY_ACCESS_TYPES
    assert params["SchemaValidation"]["AllowedValues"] == ["VALUE", "KEY", "KEY_AND_VALUE"]
    for uri in ("arn:aws:glue:us-east-1:123456789012:registry/orders", "https://sr.example.com:8081"):
        assert cfn_pattern_accepts(params["SchemaRegistryURI"]["AllowedPattern"], uri)
    for name, trigger in kafka_triggers(template).items():
        condition, config, otherwise = registry_config(trigger["Properties"])["Fn::If"]
        assert (condition, otherwise) == ("HasSchemaRegistry", {"Ref": "AWS::NoValue"}), name
        assert config["SchemaRegistryURI"] == {"Ref": "SchemaRegistryURI"}
        assert config["EventRecordFormat"] == {"Ref": "EventRecordFormat"}
        validations = config["SchemaValidationConfigs"]
        assert validations == [
            {"Fn::If": ["ValidatesKey", {"Attribute": "KEY"}, {"Ref": "AWS::NoValue"}]},
            {"Fn::If": ["ValidatesValue", {"Attribute": "VALUE"}, {"Ref": "AWS::NoValue"}]},
        ]
        for value, key, val in (("VALUE", False, True), ("KEY", True, False), ("KEY_AND_VALUE", True, True)):
            extra = {"SchemaValidation": value}
            assert (holds("ValidatesKey", template, extra), holds("ValidatesValue", template, extra)) == (key, val)
        condition, accesses, otherwise = config["AccessConfigs"]["Fn::If"]
        assert condition == "HasSchemaRegistrySecret"
        assert [(a["Fn::If"][0], a["Fn::If"][1]) for a in accesses] == [
            ("HasSchemaRegistryAuth", {"Type": {"Ref": "SchemaRegistryAuth"}, "URI": {"Ref": "SchemaRegistryAuthSecretArn"}}),
            ("HasSchemaRegistryRootCa", {"Type": "SERVER_ROOT_CA_CERTIFICATE", "URI": {"Ref": "SchemaRegistryRootCaSecretArn"}}),
        ]
    # The error handler's triggers read the error topic's plain records.
    for name, trigger in kafka_triggers(template, "ErrorHandlerFunction").items():
        block = trigger["Properties"].get("AmazonManagedKafkaEventSourceConfig") or trigger[
            "Properties"
        ].get("SelfManagedKafkaEventSourceConfig")
        assert "SchemaRegistryConfig" not in block, name


def test_a_schema_registry_needs_provisioned_mode(template):
    rule = template["Rules"]["SchemaRegistryNeedsProvisionedMode"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SchemaRegistryURI"}, ""]}]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "MinimumPollers"}, "0"]}]}


def test_the_registry_gets_the_permissions_aws_documents(template):
    policies = resources_of_type(template, "AWS::Serverless::Function")["SinkFunction"]["Properties"]["Policies"]
    glue, secrets = policies[4]["Fn::If"], policies[5]["Fn::If"]
    assert glue[0] == "IsGlueRegistry" and glue[2] == {"Ref": "AWS::NoValue"}
    (statement,) = glue[1]["Statement"]
    assert actions(statement) == {"glue:GetRegistry", "glue:GetSchemaVersion"}
    registry = "arn:aws:glue:eu-west-1:123456789012:registry/orders"
    extra = {"SchemaRegistryURI": registry}
    assert resolve(statement["Resource"], template, extra) == [
        registry,
        "arn:aws:glue:eu-west-1:123456789012:schema/orders/*",
    ]
    assert holds("IsGlueRegistry", template, extra)
    assert not holds("IsGlueRegistry", template, {"SchemaRegistryURI": "https://sr.example.com"})
    assert not holds("IsGlueRegistry", template)
    assert secrets[0] == "HasSchemaRegistrySecret" and secrets[2] == {"Ref": "AWS::NoValue"}
    (statement,) = secrets[1]["Statement"]
    assert actions(statement) == {"secretsmanager:GetSecretValue"}
    assert statement["Resource"] == [
        {"Fn::If": ["HasSchemaRegistryAuth", {"Ref": "SchemaRegistryAuthSecretArn"}, {"Ref": "AWS::NoValue"}]},
        {"Fn::If": ["HasSchemaRegistryRootCa", {"Ref": "SchemaRegistryRootCaSecretArn"}, {"Ref": "AWS::NoValue"}]},
    ]


@pytest.mark.parametrize(
    "defaults",
    [
        {"SchemaRegistryURI": '"arn:aws:glue:us-east-1:123456789012:registry/orders"'},
        {
            "SchemaRegistryURI": '"https://sr.example.com:8081"',
            "SchemaRegistryAuthSecretArn": '"arn:aws:secretsmanager:us-east-1:123456789012:secret:sr"',
            "SchemaRegistryRootCaSecretArn": '"arn:aws:secretsmanager:us-east-1:123456789012:secret:ca"',
            "SchemaValidation": "KEY_AND_VALUE",
            "EventRecordFormat": "SOURCE",
            "KafkaSource": "SelfManagedKafka",
        },
    ],
    ids=["glue", "confluent"],
)
def test_the_template_with_a_registry_passes_cfn_lint(tmp_path, defaults):
    path = _with_defaults(
        tmp_path, "registry.yaml", MinimumPollers="1", SourceTopics="orders,payments", **defaults
    )
    _lint(path)
