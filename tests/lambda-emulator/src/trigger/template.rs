//! The trigger settings that `template.yaml` also holds, read from it so that the local trigger
//! runs with what gets deployed: BatchSize, MaximumBatchingWindowInSeconds, StartingPosition,
//! the consumer group, the source topic, FunctionResponseTypes, the provisioned-mode error
//! handling (MaximumRetryAttempts, MaximumRecordAgeInSeconds, BisectBatchOnFunctionError,
//! DestinationConfig.OnFailure), and the function's Timeout, MemorySize and name.
//!
//! A function may have several mappings, one per topic: `AWS::LanguageExtensions`'
//! `Fn::ForEach` loops in `Resources` are expanded first (over a `CommaDelimitedList`
//! parameter, `&{Id}` in logical ids, `${Id}` in strings and `!Ref Id` in values), and
//! [`read`] gives one [`TemplateSettings`] per mapping. Each mapping's `SchemaRegistryConfig`
//! and whether it is in provisioned mode (`ProvisionedPollerConfig`) are read too.
//!
//! CloudFormation is not evaluated in general: parameters take their `Default` unless the
//! caller overrides them (as `sam deploy --parameter-overrides` does), and only the intrinsics
//! these settings use are resolved (`Ref`, `Sub`, `FindInMap`, `Join`, `Select`, `Split`, `If`
//! with `AWS::NoValue`, and `Equals`/`Not`/`And`/`Or` in `Condition`s to pick the mapping a
//! deployment creates), in short (`!Ref`) and long (`Fn::Sub`) form. Anything else leaves the
//! setting unset, and the caller's default applies. `Rules` are not checked. This module reads
//! no environment and does no I/O besides reading the file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_yaml_ng::Value;

/// What the template says; `None` where it says nothing this module can read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateSettings {
    /// The logical id of the function the mapping feeds, e.g. `SinkFunction`.
    pub function_id: String,
    pub function_name: Option<String>,
    pub timeout: Option<Duration>,
    pub memory_mb: Option<u32>,
    pub topic: Option<String>,
    pub batch_size: Option<usize>,
    pub window: Option<Duration>,
    /// `LATEST`, `TRIM_HORIZON` or `AT_TIMESTAMP`.
    pub starting_position: Option<String>,
    pub consumer_group: Option<String>,
    /// `aws:kafka` or `SelfManagedKafka`, from the mapping's kind.
    pub event_source: Option<String>,
    pub event_source_arn: Option<String>,
    pub report_batch_item_failures: bool,
    /// -1 (infinite) or 0..=10000; only provisioned-mode mappings carry it.
    pub maximum_retry_attempts: Option<i64>,
    /// -1 (infinite) or 60..=604800 seconds.
    pub maximum_record_age_s: Option<i64>,
    pub bisect_batch_on_function_error: Option<bool>,
    /// `DestinationConfig.OnFailure.Destination`, e.g. `kafka://errors` or an SQS queue ARN.
    pub on_failure_destination: Option<String>,
    /// Whether the mapping has a `ProvisionedPollerConfig` (provisioned mode).
    pub provisioned: bool,
    /// The cluster config block's `SchemaRegistryConfig`, when the mapping has one.
    pub schema_registry: Option<SchemaRegistrySettings>,
}

/// A mapping's `SchemaRegistryConfig`, as written (the trigger checks it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaRegistrySettings {
    pub uri: String,
    /// `JSON` or `SOURCE`; `None` when the template leaves it out.
    pub event_record_format: Option<String>,
    /// The `Attribute` of each `SchemaValidationConfigs` entry (`KEY`, `VALUE`).
    pub validate: Vec<String>,
    /// The `Type` of each `AccessConfigs` entry.
    pub access_types: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not YAML: {source}")]
    Yaml {
        path: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("{path} has no Kafka event source mapping for {function}")]
    NoMapping { path: String, function: String },
    #[error("{path} has no parameter {name} (overridden as {name}={value})")]
    NoParameter {
        path: String,
        name: String,
        value: String,
    },
}

/// Reads the settings of the Kafka triggers of `function_id` (a logical id) from a SAM template,
/// with `overrides` (`NAME`, `VALUE`) in place of those parameters' defaults: one per mapping a
/// deployment creates, in the template's order, at least one.
pub fn read(
    path: &Path,
    function_id: &str,
    overrides: &[(String, String)],
) -> Result<Vec<TemplateSettings>, TemplateError> {
    let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, function_id, overrides).map_err(|e| match e {
        TemplateError::Yaml { source, .. } => TemplateError::Yaml {
            path: path.display().to_string(),
            source,
        },
        TemplateError::NoMapping { function, .. } => TemplateError::NoMapping {
            path: path.display().to_string(),
            function,
        },
        TemplateError::NoParameter { name, value, .. } => TemplateError::NoParameter {
            path: path.display().to_string(),
            name,
            value,
        },
        other => other,
    })
}

/// [`read`] on the template's text.
pub fn parse(
    text: &str,
    function_id: &str,
    overrides: &[(String, String)],
) -> Result<Vec<TemplateSettings>, TemplateError> {
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|source| TemplateError::Yaml {
        path: String::new(),
        source,
    })?;
    let mut ctx = Ctx::new(&doc);
    for (name, value) in overrides {
        if !ctx.params.contains_key(name) {
            return Err(TemplateError::NoParameter {
                path: String::new(),
                name: name.clone(),
                value: value.clone(),
            });
        }
        let value = if ctx.lists.contains(name) {
            list_value(value)
        } else {
            Value::String(value.clone())
        };
        ctx.params.insert(name.clone(), value);
    }
    let ctx = ctx;
    let expanded = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .map(|r| expand_for_each(r, &ctx));
    let resources = expanded.as_ref();
    let function = resources
        .and_then(|r| r.get(function_id))
        .and_then(|f| f.get("Properties"));
    let globals = doc.get("Globals").and_then(|g| g.get("Function"));
    let function_prop = |name: &str| {
        function
            .and_then(|p| p.get(name))
            .or_else(|| globals.and_then(|g| g.get(name)))
            .and_then(|v| ctx.eval(v))
    };

    let base = TemplateSettings {
        function_id: function_id.to_owned(),
        function_name: function_prop("FunctionName").and_then(|v| scalar(&v)),
        timeout: function_prop("Timeout")
            .and_then(|v| number(&v))
            .map(|s| Duration::from_secs_f64(s.clamp(1.0, 900.0))),
        memory_mb: function_prop("MemorySize")
            .and_then(|v| number(&v))
            .map(|m| m.clamp(128.0, 10_240.0) as u32),
        ..TemplateSettings::default()
    };

    let mappings = find_mappings(resources, function_id, &ctx);
    if mappings.is_empty() {
        return Err(TemplateError::NoMapping {
            path: String::new(),
            function: function_id.to_owned(),
        });
    }
    Ok(mappings
        .into_iter()
        .map(|(props, kind)| {
            let mut settings = base.clone();
            apply_mapping(&mut settings, props, kind, &ctx);
            settings
        })
        .collect())
}

/// A `CommaDelimitedList` value as CloudFormation splits it.
fn list_value(text: &str) -> Value {
    Value::Sequence(
        text.split(',')
            .map(|item| Value::String(item.trim().to_owned()))
            .collect(),
    )
}

/// `Resources` with each `Fn::ForEach::<Name>: [Id, Collection, {LogicalId: Resource}]` loop
/// replaced by its resources; a loop whose collection cannot be resolved makes none.
fn expand_for_each(resources: &serde_yaml_ng::Mapping, ctx: &Ctx<'_>) -> serde_yaml_ng::Mapping {
    let mut out = serde_yaml_ng::Mapping::new();
    for (key, value) in resources {
        let is_loop = key.as_str().is_some_and(|k| k.starts_with("Fn::ForEach::"));
        if !is_loop {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let Some([id, collection, body]) = value.as_sequence().map(Vec::as_slice) else {
            continue;
        };
        let (Some(id), Some(Value::Sequence(items))) = (id.as_str(), ctx.eval(collection)) else {
            continue;
        };
        for item in items.iter().filter_map(scalar) {
            if let Value::Mapping(made) = substitute(body, id, &item) {
                out.extend(made);
            }
        }
    }
    out
}

/// One `Fn::ForEach` iteration: `&{id}` in keys becomes the item's letters and digits, `${id}`
/// in any string the item, and `Ref: id` the item itself.
fn substitute(v: &Value, id: &str, item: &str) -> Value {
    let alnum: String = item.chars().filter(char::is_ascii_alphanumeric).collect();
    let text = |s: &str| {
        s.replace(&format!("&{{{id}}}"), &alnum)
            .replace(&format!("${{{id}}}"), item)
    };
    if ref_target(v).is_some_and(|t| t == id) {
        return Value::String(item.to_owned());
    }
    match v {
        Value::String(s) => Value::String(text(s)),
        Value::Sequence(items) => {
            Value::Sequence(items.iter().map(|i| substitute(i, id, item)).collect())
        }
        Value::Mapping(m) => Value::Mapping(
            m.iter()
                .map(|(k, v)| {
                    let k = match k {
                        Value::String(s) => Value::String(text(s)),
                        other => other.clone(),
                    };
                    (k, substitute(v, id, item))
                })
                .collect(),
        ),
        Value::Tagged(t) => Value::Tagged(Box::new(serde_yaml_ng::value::TaggedValue {
            tag: t.tag.clone(),
            value: substitute(&t.value, id, item),
        })),
        other => other.clone(),
    }
}

/// The function's mappings and their event sources: each `AWS::Lambda::EventSourceMapping`
/// whose `FunctionName` refers to the function and whose condition holds, or else the first
/// Kafka entry in the function's own `Events`.
fn find_mappings<'d>(
    resources: Option<&'d serde_yaml_ng::Mapping>,
    function_id: &str,
    ctx: &Ctx<'_>,
) -> Vec<(&'d Value, Option<String>)> {
    let mut mappings: Vec<(&Value, Option<String>)> = Vec::new();
    for (_, resource) in resources.into_iter().flatten() {
        let is_esm =
            resource.get("Type").and_then(Value::as_str) == Some("AWS::Lambda::EventSourceMapping");
        let props = resource.get("Properties");
        let refers = props
            .and_then(|p| p.get("FunctionName"))
            .and_then(ref_target)
            .is_some_and(|t| t == function_id);
        let active = resource
            .get("Condition")
            .and_then(Value::as_str)
            .is_none_or(|c| ctx.condition(c));
        if is_esm && refers && active {
            let kind = props.and_then(|p| {
                if p.get("SelfManagedEventSource").is_some() {
                    Some("SelfManagedKafka".to_owned())
                } else if p.get("EventSourceArn").is_some() {
                    Some("aws:kafka".to_owned())
                } else {
                    None
                }
            });
            mappings.extend(props.map(|p| (p, kind)));
        }
    }
    if !mappings.is_empty() {
        return mappings;
    }
    if let Some(events) = resources
        .and_then(|r| r.get(function_id))
        .and_then(|f| f.get("Properties"))
        .and_then(|p| p.get("Events"))
        .and_then(Value::as_mapping)
    {
        for (_, event) in events {
            let kind = match event.get("Type").and_then(Value::as_str) {
                Some("MSK") => "aws:kafka",
                Some("SelfManagedKafka") => "SelfManagedKafka",
                _ => continue,
            };
            if let Some(p) = event.get("Properties") {
                mappings.push((p, Some(kind.to_owned())));
                break;
            }
        }
    }
    mappings
}

/// The trigger's settings from the mapping's properties.
fn apply_mapping(
    settings: &mut TemplateSettings,
    props: &Value,
    kind: Option<String>,
    ctx: &Ctx<'_>,
) {
    let prop = |name: &str| props.get(name).and_then(|v| ctx.eval(v));
    settings.event_source = kind;
    if settings.event_source.as_deref() == Some("aws:kafka") {
        settings.event_source_arn = prop("EventSourceArn")
            .or_else(|| prop("Stream"))
            .and_then(|v| scalar(&v));
    }
    settings.topic = prop("Topics").and_then(|v| match v {
        Value::Sequence(items) => items.first().and_then(scalar),
        other => scalar(&other),
    });
    settings.batch_size = prop("BatchSize")
        .and_then(|v| number(&v))
        .map(|n| n as usize);
    settings.window = prop("MaximumBatchingWindowInSeconds")
        .and_then(|v| number(&v))
        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 300.0)));
    settings.starting_position = prop("StartingPosition").and_then(|v| scalar(&v));
    settings.consumer_group = [
        "AmazonManagedKafkaEventSourceConfig",
        "SelfManagedKafkaEventSourceConfig",
    ]
    .iter()
    .find_map(|c| props.get(*c))
    .and_then(|c| c.get("ConsumerGroupId"))
    .or_else(|| props.get("ConsumerGroupId"))
    .and_then(|v| ctx.eval(v))
    .and_then(|v| scalar(&v));
    settings.report_batch_item_failures = prop("FunctionResponseTypes").is_some_and(|v| {
        v.as_sequence().is_some_and(|items| {
            items
                .iter()
                .any(|i| i.as_str() == Some("ReportBatchItemFailures"))
        })
    });
    settings.maximum_retry_attempts = prop("MaximumRetryAttempts")
        .and_then(|v| number(&v))
        .map(|n| n as i64);
    settings.maximum_record_age_s = prop("MaximumRecordAgeInSeconds")
        .and_then(|v| number(&v))
        .map(|n| n as i64);
    settings.bisect_batch_on_function_error = prop("BisectBatchOnFunctionError")
        .and_then(|v| scalar(&v))
        .and_then(|b| match b.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
    settings.on_failure_destination = prop("DestinationConfig")
        .and_then(|d| d.get("OnFailure")?.get("Destination").and_then(scalar));
    settings.provisioned = prop("ProvisionedPollerConfig").is_some();
    settings.schema_registry = [
        "AmazonManagedKafkaEventSourceConfig",
        "SelfManagedKafkaEventSourceConfig",
    ]
    .iter()
    .find_map(|c| props.get(*c))
    .and_then(|c| c.get("SchemaRegistryConfig"))
    .or_else(|| props.get("SchemaRegistryConfig"))
    .and_then(|v| ctx.eval(v))
    .and_then(|c| schema_registry(&c));
}

/// A resolved `SchemaRegistryConfig`; `None` without a `SchemaRegistryURI`.
fn schema_registry(config: &Value) -> Option<SchemaRegistrySettings> {
    let list = |name: &str, field: &str| -> Vec<String> {
        config
            .get(name)
            .and_then(Value::as_sequence)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.get(field).and_then(scalar))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(SchemaRegistrySettings {
        uri: config.get("SchemaRegistryURI").and_then(scalar)?,
        event_record_format: config.get("EventRecordFormat").and_then(scalar),
        validate: list("SchemaValidationConfigs", "Attribute"),
        access_types: list("AccessConfigs", "Type"),
    })
}

/// A scalar as text (strings, numbers, booleans).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The intrinsic function of a value, short (`!Ref x`) or long (`{Ref: x}`, `{Fn::Sub: ..}`).
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_owned(),
            &t.value,
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next()?;
            let k = k.as_str()?;
            let name = k.strip_prefix("Fn::").unwrap_or(k);
            (k == "Ref" || k.starts_with("Fn::")).then(|| (name.to_owned(), arg))
        }
        _ => None,
    }
}

/// The logical id a `Ref` names.
fn ref_target(v: &Value) -> Option<String> {
    match intrinsic(v)? {
        (name, arg) if name == "Ref" => arg.as_str().map(str::to_owned),
        _ => None,
    }
}

struct Ctx<'a> {
    params: BTreeMap<String, Value>,
    /// The `CommaDelimitedList` parameters, whose values are lists.
    lists: std::collections::BTreeSet<String>,
    doc: &'a Value,
}

impl<'a> Ctx<'a> {
    fn new(doc: &'a Value) -> Self {
        let mut params = BTreeMap::new();
        let mut lists = std::collections::BTreeSet::new();
        if let Some(p) = doc.get("Parameters").and_then(Value::as_mapping) {
            for (name, spec) in p {
                let Some(name) = name.as_str() else { continue };
                let is_list =
                    spec.get("Type").and_then(Value::as_str) == Some("CommaDelimitedList");
                if is_list {
                    lists.insert(name.to_owned());
                }
                if let Some(default) = spec.get("Default") {
                    let value = match (is_list, scalar(default)) {
                        (true, Some(text)) => list_value(&text),
                        _ => default.clone(),
                    };
                    params.insert(name.to_owned(), value);
                }
            }
        }
        Self { params, lists, doc }
    }

    /// The value with the intrinsics it uses resolved; `None` when one cannot be.
    fn eval(&self, v: &Value) -> Option<Value> {
        let Some((name, arg)) = intrinsic(v) else {
            return match v {
                // An item that is `AWS::NoValue` (or cannot be resolved) is left out.
                Value::Sequence(items) => Some(Value::Sequence(
                    items.iter().filter_map(|i| self.eval(i)).collect(),
                )),
                // A key whose value is `AWS::NoValue` (or cannot be resolved) is left out.
                Value::Mapping(m) => Some(Value::Mapping(
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), self.eval(v)?)))
                        .collect(),
                )),
                other => Some(other.clone()),
            };
        };
        match name.as_str() {
            "Ref" => self.params.get(arg.as_str()?).cloned(),
            "If" => {
                let args = arg.as_sequence()?;
                let [condition, then, otherwise] = args.as_slice() else {
                    return None;
                };
                let chosen = if self.condition(condition.as_str()?) {
                    then
                } else {
                    otherwise
                };
                // `!Ref AWS::NoValue` removes the property: unset.
                self.eval(chosen)
            }
            "Sub" => {
                let template = arg.as_str()?;
                let mut out = String::new();
                let mut rest = template;
                while let Some(start) = rest.find("${") {
                    out.push_str(rest.get(..start)?);
                    let after = rest.get(start + 2..)?;
                    let end = after.find('}')?;
                    let var = after.get(..end)?;
                    out.push_str(&scalar(self.params.get(var)?)?);
                    rest = after.get(end + 1..)?;
                }
                out.push_str(rest);
                Some(Value::String(out))
            }
            "Join" => {
                let args = arg.as_sequence()?;
                let [sep, list] = args.as_slice() else {
                    return None;
                };
                let Value::Sequence(items) = self.eval(list)? else {
                    return None;
                };
                let parts: Vec<String> = items.iter().map(scalar).collect::<Option<_>>()?;
                Some(Value::String(parts.join(sep.as_str()?)))
            }
            "Select" => {
                let args = arg.as_sequence()?;
                let [index, list] = args.as_slice() else {
                    return None;
                };
                let index: usize = scalar(&self.eval(index)?)?.parse().ok()?;
                let Value::Sequence(items) = self.eval(list)? else {
                    return None;
                };
                items.get(index).cloned()
            }
            "Split" => {
                let args = arg.as_sequence()?;
                let [sep, text] = args.as_slice() else {
                    return None;
                };
                let text = scalar(&self.eval(text)?)?;
                Some(Value::Sequence(
                    text.split(sep.as_str()?)
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                ))
            }
            "FindInMap" => {
                let args = arg.as_sequence()?;
                let keys: Vec<String> = args
                    .iter()
                    .map(|a| self.eval(a).and_then(|v| scalar(&v)))
                    .collect::<Option<_>>()?;
                let [map, top, second] = keys.as_slice() else {
                    return None;
                };
                self.doc
                    .get("Mappings")?
                    .get(map.as_str())?
                    .get(top.as_str())?
                    .get(second.as_str())
                    .cloned()
            }
            _ => None,
        }
    }

    /// Whether a named condition holds with the parameters' defaults; unknown forms hold.
    fn condition(&self, name: &str) -> bool {
        let Some(c) = self.doc.get("Conditions").and_then(|c| c.get(name)) else {
            return true;
        };
        self.truth(c).unwrap_or(true)
    }

    fn truth(&self, v: &Value) -> Option<bool> {
        let (name, arg) = intrinsic(v)?;
        match name.as_str() {
            "Equals" => {
                let args = arg.as_sequence()?;
                let [a, b] = args.as_slice() else {
                    return None;
                };
                Some(scalar(&self.eval(a)?)? == scalar(&self.eval(b)?)?)
            }
            "Not" => {
                let args = arg.as_sequence()?;
                Some(!self.truth(args.first()?)?)
            }
            "And" => {
                let args = arg.as_sequence()?;
                let all: Option<Vec<bool>> = args.iter().map(|a| self.truth(a)).collect();
                Some(all?.into_iter().all(|b| b))
            }
            "Or" => {
                let args = arg.as_sequence()?;
                let all: Option<Vec<bool>> = args.iter().map(|a| self.truth(a)).collect();
                Some(all?.into_iter().any(|b| b))
            }
            "Condition" => Some(self.condition(arg.as_str()?)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The one mapping of a template that has one.
    fn only(v: Vec<TemplateSettings>) -> TemplateSettings {
        assert_eq!(v.len(), 1, "{v:?}");
        v.into_iter().next().unwrap()
    }

    #[test]
    fn the_project_template_gives_the_deployed_settings() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let s = only(read(&path, "SinkFunction", &[]).unwrap());
        assert_eq!(
            s.function_name.as_deref(),
            Some("kafka-maxcompute-sink-sink")
        );
        assert_eq!(s.timeout, Some(Duration::from_secs(120)));
        assert_eq!(s.memory_mb, Some(256));
        assert_eq!(s.topic.as_deref(), Some("maxcompute-test-input"));
        assert_eq!(s.batch_size, Some(500));
        assert_eq!(s.window, Some(Duration::from_secs(1)));
        assert_eq!(s.starting_position.as_deref(), Some("LATEST"));
        assert_eq!(
            s.consumer_group.as_deref(),
            Some("connect-kafka-maxcompute-sink")
        );
        assert_eq!(s.event_source.as_deref(), Some("aws:kafka"));
        assert!(s.event_source_arn.is_some());
        assert!(!s.report_batch_item_failures);
        // On-demand mode (MinimumPollers 0): no error-handling settings at all.
        assert_eq!(s.maximum_retry_attempts, None);
        assert_eq!(s.maximum_record_age_s, None);
        assert_eq!(s.bisect_batch_on_function_error, None);
        assert_eq!(s.on_failure_destination, None);
    }

    #[test]
    fn provisioned_mode_brings_the_retry_settings_and_the_error_topic() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let overrides = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        for source in ["MSK", "SelfManagedKafka"] {
            let s = only(
                read(
                    &path,
                    "SinkFunction",
                    &overrides(&[("MinimumPollers", "1"), ("KafkaSource", source)]),
                )
                .unwrap(),
            );
            assert_eq!(s.maximum_retry_attempts, Some(10), "{source}");
            assert_eq!(s.maximum_record_age_s, Some(-1));
            assert_eq!(s.bisect_batch_on_function_error, Some(true));
            assert_eq!(
                s.on_failure_destination.as_deref(),
                Some("kafka://connect-error-kafka-maxcompute-sink")
            );
            assert!(!s.report_batch_item_failures);
        }
        let s = only(
            read(
                &path,
                "SinkFunction",
                &overrides(&[
                    ("MinimumPollers", "2"),
                    ("MaximumRetryAttempts", "3"),
                    ("MaximumRecordAgeInSeconds", "60"),
                    ("BisectBatchOnFunctionError", "false"),
                    ("ErrorTopic", "errs"),
                    ("PartialBatchResponse", "true"),
                ]),
            )
            .unwrap(),
        );
        assert_eq!(s.maximum_retry_attempts, Some(3));
        assert_eq!(s.maximum_record_age_s, Some(60));
        assert_eq!(s.bisect_batch_on_function_error, Some(false));
        assert_eq!(s.on_failure_destination.as_deref(), Some("kafka://errs"));
        assert!(s.report_batch_item_failures);
        // The error handler's trigger has no destination, in any mode.
        let s = only(
            read(
                &path,
                "ErrorHandlerFunction",
                &overrides(&[("MinimumPollers", "1")]),
            )
            .unwrap(),
        );
        assert_eq!(s.on_failure_destination, None);
        let e = read(&path, "SinkFunction", &overrides(&[("MinimumPoller", "1")])).unwrap_err();
        assert!(
            e.to_string().contains("has no parameter MinimumPoller"),
            "{e}"
        );
    }

    #[test]
    fn long_forms_sam_events_and_response_types_are_read() {
        let text = r#"
Parameters:
  Offset: {Type: String, Default: earliest}
  Name: {Type: String, Default: demo}
Mappings:
  P: {earliest: {Position: TRIM_HORIZON}}
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 30
      Events:
        K:
          Type: SelfManagedKafka
          Properties:
            Topics: [t]
            BatchSize: 7
            MaximumBatchingWindowInSeconds: 0.25
            StartingPosition: {"Fn::FindInMap": [P, {Ref: Offset}, Position]}
            ConsumerGroupId: {"Fn::Sub": "connect-${Name}"}
            FunctionResponseTypes: [ReportBatchItemFailures]
"#;
        let s = only(parse(text, "F", &[]).unwrap());
        assert_eq!(s.batch_size, Some(7));
        assert_eq!(s.window, Some(Duration::from_millis(250)));
        assert_eq!(s.starting_position.as_deref(), Some("TRIM_HORIZON"));
        assert_eq!(s.consumer_group.as_deref(), Some("connect-demo"));
        assert_eq!(s.event_source.as_deref(), Some("SelfManagedKafka"));
        assert_eq!(s.timeout, Some(Duration::from_secs(30)));
        assert!(s.report_batch_item_failures);
        assert!(matches!(
            parse(text, "Other", &[]),
            Err(TemplateError::NoMapping { .. })
        ));
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn each_topic_of_the_list_is_a_mapping_with_its_own_group() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        for source in ["MSK", "SelfManagedKafka"] {
            let all = read(
                &path,
                "SinkFunction",
                &pairs(&[
                    ("SourceTopics", "orders, order-items,audit.log"),
                    ("KafkaSource", source),
                ]),
            )
            .unwrap();
            let topics: Vec<_> = all.iter().map(|s| s.topic.clone().unwrap()).collect();
            assert_eq!(topics, ["orders", "order-items", "audit.log"], "{source}");
            let groups: Vec<_> = all
                .iter()
                .map(|s| s.consumer_group.clone().unwrap())
                .collect();
            assert_eq!(
                groups,
                [
                    "connect-kafka-maxcompute-sink-orders",
                    "connect-kafka-maxcompute-sink-order-items",
                    "connect-kafka-maxcompute-sink-audit.log"
                ]
            );
            assert!(all.iter().all(|s| s.batch_size == Some(500)));
        }
        // One topic keeps the seed's group.
        let s = only(read(&path, "SinkFunction", &pairs(&[("SourceTopics", "t")])).unwrap());
        assert_eq!(
            s.consumer_group.as_deref(),
            Some("connect-kafka-maxcompute-sink")
        );
        assert_eq!(s.schema_registry, None);
        assert!(!s.provisioned);
    }

    #[test]
    fn the_schema_registry_config_is_read_with_the_mode() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let s = only(
            read(
                &path,
                "SinkFunction",
                &pairs(&[
                    ("SchemaRegistryURI", "http://127.0.0.1:8081"),
                    ("SchemaValidation", "KEY_AND_VALUE"),
                    ("EventRecordFormat", "SOURCE"),
                    ("MinimumPollers", "1"),
                    (
                        "SchemaRegistryAuthSecretArn",
                        "arn:aws:secretsmanager:us-east-1:1:secret:s",
                    ),
                ]),
            )
            .unwrap(),
        );
        assert!(s.provisioned);
        assert_eq!(
            s.schema_registry,
            Some(SchemaRegistrySettings {
                uri: "http://127.0.0.1:8081".to_owned(),
                event_record_format: Some("SOURCE".to_owned()),
                validate: vec!["KEY".to_owned(), "VALUE".to_owned()],
                access_types: vec!["BASIC_AUTH".to_owned()],
            })
        );
        // On demand the template still names the registry: the trigger refuses it, as AWS does.
        let s = only(
            read(
                &path,
                "SinkFunction",
                &pairs(&[("SchemaRegistryURI", "http://127.0.0.1:8081")]),
            )
            .unwrap(),
        );
        assert!(!s.provisioned);
        let r = s.schema_registry.unwrap();
        assert_eq!(r.validate, ["VALUE"]);
        assert_eq!(r.event_record_format.as_deref(), Some("JSON"));
        assert!(r.access_types.is_empty());
    }
}
