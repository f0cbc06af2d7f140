//! The mapping's schema registry (`SchemaRegistryConfig`): the key and value the mapping
//! validates are read as the Confluent wire format (magic byte 0, the schema id as 4 bytes big
//! endian, for Protobuf the message indexes, then the Avro datum or Protobuf message), their
//! schema fetched by id from the registry (`GET /schemas/ids/{id}`, cached for the trigger's
//! life) and decoded; the record is then
//! delivered as AWS documents it: with `EventRecordFormat: JSON` the decoded record as JSON text
//! (base64 in the event, like any key or value), with `SOURCE` the original datum without the
//! framing, and in both cases `keySchemaMetadata`/`valueSchemaMetadata` with the `dataFormat`
//! of what is delivered (`JSON` for JSON, `AVRO` for the source datum: AWS's Powertools refuses
//! a JSON value whose metadata says otherwise) and the `schemaId` (as a string). A record that cannot be decoded is not delivered: the
//! trigger sends it to the on-failure destination.
//!
//! AWS offers a schema registry to provisioned mappings only; [`RegistryConfig::new`] refuses
//! it otherwise, as creating such a mapping fails.
//!
//! A registry that cannot be read is tried again by the trigger a few times (about 6 s) before
//! the record is given up; AWS's behaviour then is not documented.
//!
//! A Protobuf schema is read as the stock serializers register it (the base64 of a serialized
//! `FileDescriptorProto`) or as `.proto` text (what Confluent's registry serves), and may import
//! the well-known types; the message is the one its indexes name. With `EventRecordFormat: JSON`
//! it is delivered in Protobuf's JSON mapping with two choices of ours, since AWS documents
//! neither: fields keep their `.proto` names (so that they match column names), and 64-bit
//! integers are JSON numbers rather than strings. With `SOURCE`, the message bytes without the
//! framing and indexes, `dataFormat` `PROTOBUF`.
//!
//! It does not do: Glue registries, authentication to the registry (`AccessConfigs`), JSON
//! Schema (such a record is not decoded and goes to the on-failure destination), schema
//! references, or HTTPS (the client is a small HTTP/1.1 GET for a local registry).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::batch::SourceRecord;
use super::template::SchemaRegistrySettings;

/// What Lambda answers when a mapping in on-demand mode names a schema registry.
pub const ON_DEMAND_REFUSED: &str = "InvalidParameterValueException: SchemaRegistryConfig is supported only for event source mappings in provisioned mode (set ProvisionedPollerConfig, e.g. MinimumPollers=1)";

/// The on-failure record's `condition` for a record the registry cannot decode. AWS's
/// documentation names no value for it; this one says what happened.
pub const UNDELIVERABLE: &str = "SchemaRegistryValidationFailed";

/// The Confluent wire format's first byte.
const MAGIC: u8 = 0;
/// How long one request to the registry may take.
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(5);

/// How a validated key or value reaches the function (`EventRecordFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// The decoded record as JSON text.
    Json,
    /// The original bytes without the registry's framing.
    Source,
}

/// A checked `SchemaRegistryConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `http://host:port`, without a trailing slash.
    pub uri: String,
    pub format: RecordFormat,
    pub validate_key: bool,
    pub validate_value: bool,
}

impl RegistryConfig {
    /// The template's settings, refused as AWS refuses them (on-demand mode) or where the local
    /// trigger cannot do what AWS would (a Glue registry, authentication).
    pub fn new(s: &SchemaRegistrySettings, provisioned: bool) -> Result<Self, String> {
        if !provisioned {
            return Err(ON_DEMAND_REFUSED.to_owned());
        }
        if s.uri.starts_with("arn:") {
            return Err(format!(
                "SchemaRegistryURI {} is a Glue registry: the local trigger reads Confluent registries (http://host:port) only",
                s.uri
            ));
        }
        if !s.uri.starts_with("http://") {
            return Err(format!(
                "SchemaRegistryURI {} is not http://host:port: the local trigger reads a Confluent registry over plain HTTP",
                s.uri
            ));
        }
        if !s.access_types.is_empty() {
            return Err(format!(
                "AccessConfigs {:?}: the local trigger does not sign in to a registry; leave the registry's secrets unset",
                s.access_types
            ));
        }
        let format = match s.event_record_format.as_deref() {
            Some("JSON") => RecordFormat::Json,
            Some("SOURCE") => RecordFormat::Source,
            other => {
                return Err(format!(
                    "EventRecordFormat must be JSON or SOURCE, got {other:?}"
                ));
            }
        };
        let mut config = Self {
            uri: s.uri.trim_end_matches('/').to_owned(),
            format,
            validate_key: false,
            validate_value: false,
        };
        for attribute in &s.validate {
            match attribute.as_str() {
                "KEY" => config.validate_key = true,
                "VALUE" => config.validate_value = true,
                other => {
                    return Err(format!(
                        "SchemaValidationConfigs Attribute must be KEY or VALUE, got {other}"
                    ));
                }
            }
        }
        if !config.validate_key && !config.validate_value {
            return Err("SchemaValidationConfigs names neither KEY nor VALUE".to_owned());
        }
        Ok(config)
    }
}

/// `keySchemaMetadata` / `valueSchemaMetadata` of a record in the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaMetadata {
    pub data_format: &'static str,
    pub schema_id: String,
}

/// A record as the function receives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivered {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub key_schema: Option<SchemaMetadata>,
    pub value_schema: Option<SchemaMetadata>,
}

/// Why a key or value cannot be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{part} has no schema registry framing: {len} bytes")]
    TooShort { part: &'static str, len: usize },
    #[error("{part} starts with byte {byte:#04x}, not the magic byte 0")]
    Magic { part: &'static str, byte: u8 },
    #[error("{part}: schema id {id} is not in the registry")]
    UnknownSchema { part: &'static str, id: u32 },
    #[error("{part}: schema id {id} is {kind}, which the local trigger does not decode")]
    Unsupported {
        part: &'static str,
        id: u32,
        kind: String,
    },
    #[error("{part}: schema id {id}: {reason}")]
    Invalid {
        part: &'static str,
        id: u32,
        reason: String,
    },
    #[error("{part}: the registry cannot be read: {reason}")]
    Registry { part: &'static str, reason: String },
}

/// A schema as the registry gave it: an Avro schema, or the kind it is instead.
#[derive(Debug)]
enum Known {
    Avro(Schema),
    Protobuf(prost_reflect::FileDescriptor),
    Other(String),
    Missing,
}

/// The decoder of one mapping: its config, and the schemas fetched so far.
#[derive(Debug)]
pub struct Decoder {
    config: RegistryConfig,
    schemas: HashMap<u32, Arc<Known>>,
}

impl Decoder {
    pub fn new(config: RegistryConfig) -> Self {
        Self {
            config,
            schemas: HashMap::new(),
        }
    }

    /// The record as the function receives it, or why it cannot be delivered.
    pub async fn deliver(&mut self, record: &SourceRecord) -> Result<Delivered, DecodeError> {
        let mut out = Delivered {
            key: record.key.clone(),
            value: record.value.clone(),
            ..Delivered::default()
        };
        if self.config.validate_key
            && let Some(key) = &record.key
        {
            let (bytes, meta) = self.decode("key", key).await?;
            out.key = Some(bytes);
            out.key_schema = Some(meta);
        }
        if self.config.validate_value
            && let Some(value) = &record.value
        {
            let (bytes, meta) = self.decode("value", value).await?;
            out.value = Some(bytes);
            out.value_schema = Some(meta);
        }
        Ok(out)
    }

    async fn decode(
        &mut self,
        part: &'static str,
        bytes: &[u8],
    ) -> Result<(Vec<u8>, SchemaMetadata), DecodeError> {
        let (id, datum) = split_frame(part, bytes)?;
        let schema = self.schema(part, id).await?;
        let invalid = |reason| DecodeError::Invalid { part, id, reason };
        // The decoded record as JSON, and what SOURCE delivers: the datum or message without
        // the framing, and its format's name.
        let (json, source, source_format) = match schema.as_ref() {
            Known::Avro(s) => (decode_avro(s, datum).map_err(invalid)?, datum, "AVRO"),
            Known::Protobuf(file) => {
                let (json, message) = decode_protobuf(file, datum).map_err(invalid)?;
                (json, message, "PROTOBUF")
            }
            Known::Other(kind) => {
                return Err(DecodeError::Unsupported {
                    part,
                    id,
                    kind: kind.clone(),
                });
            }
            Known::Missing => return Err(DecodeError::UnknownSchema { part, id }),
        };
        let (delivered, data_format) = match self.config.format {
            RecordFormat::Json => (json.into_bytes(), "JSON"),
            RecordFormat::Source => (source.to_vec(), source_format),
        };
        Ok((
            delivered,
            SchemaMetadata {
                data_format,
                schema_id: id.to_string(),
            },
        ))
    }

    async fn schema(&mut self, part: &'static str, id: u32) -> Result<Arc<Known>, DecodeError> {
        if let Some(known) = self.schemas.get(&id) {
            return Ok(known.clone());
        }
        let url = format!("{}/schemas/ids/{id}", self.config.uri);
        let (status, body) = tokio::time::timeout(REGISTRY_TIMEOUT, http_get(&url))
            .await
            .map_err(|_| DecodeError::Registry {
                part,
                reason: format!("GET {url} took over {} s", REGISTRY_TIMEOUT.as_secs()),
            })?
            .map_err(|reason| DecodeError::Registry { part, reason })?;
        let known = match status {
            200 => known_schema(&body),
            404 => Known::Missing,
            other => {
                return Err(DecodeError::Registry {
                    part,
                    reason: format!("GET {url} answered {other}"),
                });
            }
        };
        let known = Arc::new(known);
        self.schemas.insert(id, known.clone());
        Ok(known)
    }
}

/// The schema id and the datum of a framed key or value.
pub fn split_frame<'b>(
    part: &'static str,
    bytes: &'b [u8],
) -> Result<(u32, &'b [u8]), DecodeError> {
    let Some((header, datum)) = bytes.split_first_chunk::<5>() else {
        return Err(DecodeError::TooShort {
            part,
            len: bytes.len(),
        });
    };
    let [magic, id @ ..] = *header;
    if magic != MAGIC {
        return Err(DecodeError::Magic { part, byte: magic });
    }
    Ok((u32::from_be_bytes(id), datum))
}

/// `GET /schemas/ids/{id}`'s answer: `{"schema": "...", "schemaType": "AVRO"|"PROTOBUF"|"JSON"}`,
/// the type left out for Avro.
fn known_schema(body: &[u8]) -> Known {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        schema: String,
        schema_type: Option<String>,
    }
    let Ok(answer) = serde_json::from_slice::<Answer>(body) else {
        return Known::Other("an answer without a schema".to_owned());
    };
    match answer.schema_type.as_deref() {
        None | Some("AVRO") => match Schema::parse_str(&answer.schema) {
            Ok(s) => Known::Avro(s),
            Err(e) => Known::Other(format!("an Avro schema that does not parse ({e})")),
        },
        Some("PROTOBUF") => match protobuf_file(&answer.schema) {
            Ok(file) => Known::Protobuf(file),
            Err(e) => Known::Other(format!("a Protobuf schema that does not load ({e})")),
        },
        Some(other) => Known::Other(other.to_owned()),
    }
}

/// The datum as JSON text; every byte must belong to it.
pub fn decode_avro(schema: &Schema, datum: &[u8]) -> Result<String, String> {
    let mut reader = datum;
    let value = GenericDatumReader::builder(schema)
        .build()
        .and_then(|r| r.read_value(&mut reader))
        .map_err(|e| format!("not an Avro datum of its schema: {e}"))?;
    if !reader.is_empty() {
        return Err(format!("{} bytes left after the Avro datum", reader.len()));
    }
    let json = serde_json::Value::try_from(value).map_err(|e| format!("not JSON: {e}"))?;
    serde_json::to_string(&json).map_err(|e| e.to_string())
}

/// The file a registered Protobuf schema describes: the base64 of a serialized
/// `FileDescriptorProto` (what the stock serializers register) or `.proto` text (what
/// Confluent's registry serves), compiled by protox with the well-known types importable.
fn protobuf_file(text: &str) -> Result<prost_reflect::FileDescriptor, String> {
    use base64::Engine;
    use protox::file::{ChainFileResolver, File, GoogleFileResolver};

    /// The one registered file, by its name.
    struct Registered(File);
    impl protox::file::FileResolver for Registered {
        fn open_file(&self, name: &str) -> Result<File, protox::Error> {
            if name == self.0.name() {
                Ok(self.0.clone())
            } else {
                Err(protox::Error::file_not_found(name))
            }
        }
    }

    let file = match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
        Ok(bytes) => File::decode_file_descriptor_proto(bytes.as_slice())
            .map_err(|e| format!("not a FileDescriptorProto: {e}"))?,
        Err(_) => File::from_source("registered.proto", text).map_err(|e| e.to_string())?,
    };
    let name = file.name().to_owned();
    if name.is_empty() {
        return Err("a FileDescriptorProto without a file name".to_owned());
    }
    let mut resolver = ChainFileResolver::new();
    resolver.add(Registered(file));
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.open_file(&name).map_err(|e| e.to_string())?;
    compiler
        .descriptor_pool()
        .get_file_by_name(&name)
        .ok_or_else(|| format!("{name} is not in its own descriptor pool"))
}

/// Reads the message indexes that follow the schema id in a Protobuf frame (zig-zag varints: a
/// count, then that many indexes; a lone 0 is the first message) and the message they name,
/// decoded as JSON; also the message's own bytes.
pub fn decode_protobuf<'d>(
    file: &prost_reflect::FileDescriptor,
    datum: &'d [u8],
) -> Result<(String, &'d [u8]), String> {
    let mut rest = datum;
    // Zig-zag over prost's varint decoding.
    let mut varint = || -> Result<i64, String> {
        let v = prost_reflect::prost::encoding::decode_varint(&mut rest)
            .map_err(|e| format!("the message indexes: {e}"))?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    };
    let count = varint()?;
    let indexes: Vec<i64> = if count == 0 {
        vec![0]
    } else {
        (0..count).map(|_| varint()).collect::<Result<_, _>>()?
    };
    let mut message: Option<prost_reflect::MessageDescriptor> = None;
    for &index in &indexes {
        let found = usize::try_from(index).ok().and_then(|i| match &message {
            None => file.messages().nth(i),
            Some(parent) => parent.child_messages().nth(i),
        });
        message = Some(found.ok_or_else(|| {
            format!(
                "message indexes {indexes:?} name no message of {}",
                file.name()
            )
        })?);
    }
    let message = message.ok_or("no message indexes")?;
    let decoded = prost_reflect::DynamicMessage::decode(message.clone(), rest)
        .map_err(|e| format!("not a {} message: {e}", message.full_name()))?;
    let options = prost_reflect::SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false);
    let mut json = serde_json::Serializer::new(Vec::new());
    decoded
        .serialize_with_options(&mut json, &options)
        .map_err(|e| format!("not JSON: {e}"))?;
    let json = String::from_utf8(json.into_inner()).map_err(|e| e.to_string())?;
    Ok((json, rest))
}

/// A plain HTTP/1.1 GET: the status and the body (the connection is closed after it).
async fn http_get(url: &str) -> Result<(u16, Vec<u8>), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url} is not http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/vnd.schemaregistry.v1+json, application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send to {authority}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("cannot read from {authority}: {e}"))?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{authority} answered without headers"))?;
    let head = String::from_utf8_lossy(answer.get(..split).unwrap_or_default()).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "{authority} answered `{}`",
                head.lines().next().unwrap_or("")
            )
        })?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(format!(
            "{authority} answered in chunks, which this client does not read"
        ));
    }
    Ok((status, answer.get(split + 4..).unwrap_or_default().to_vec()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const USER: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":["null","string"],"default":null}]}"#;

    fn settings(format: &str, validate: &[&str]) -> SchemaRegistrySettings {
        SchemaRegistrySettings {
            uri: "http://127.0.0.1:8081/".to_owned(),
            event_record_format: Some(format.to_owned()),
            validate: validate.iter().map(|s| (*s).to_owned()).collect(),
            access_types: vec![],
        }
    }

    #[test]
    fn the_config_is_refused_on_demand_and_where_the_trigger_cannot_follow() {
        let s = settings("JSON", &["VALUE"]);
        assert_eq!(
            RegistryConfig::new(&s, false).unwrap_err(),
            ON_DEMAND_REFUSED
        );
        let c = RegistryConfig::new(&s, true).unwrap();
        assert_eq!(c.uri, "http://127.0.0.1:8081");
        assert_eq!(
            (c.format, c.validate_key, c.validate_value),
            (RecordFormat::Json, false, true)
        );
        let glue = SchemaRegistrySettings {
            uri: "arn:aws:glue:us-east-1:1:registry/r".to_owned(),
            ..s.clone()
        };
        assert!(
            RegistryConfig::new(&glue, true)
                .unwrap_err()
                .contains("Glue")
        );
        let auth = SchemaRegistrySettings {
            access_types: vec!["BASIC_AUTH".to_owned()],
            ..s.clone()
        };
        assert!(
            RegistryConfig::new(&auth, true)
                .unwrap_err()
                .contains("AccessConfigs")
        );
        assert!(
            RegistryConfig::new(&settings("XML", &["VALUE"]), true)
                .unwrap_err()
                .contains("JSON or SOURCE")
        );
        assert!(
            RegistryConfig::new(&settings("SOURCE", &[]), true)
                .unwrap_err()
                .contains("neither")
        );
        let both = RegistryConfig::new(&settings("SOURCE", &["KEY", "VALUE"]), true).unwrap();
        assert_eq!(
            (both.format, both.validate_key, both.validate_value),
            (RecordFormat::Source, true, true)
        );
    }

    #[test]
    fn protobuf_text_schemas_decode_the_message_their_indexes_name() {
        let text = r#"syntax = "proto3"; package t; import "google/protobuf/timestamp.proto";
            message A { string x = 1; message B { int64 n = 1; google.protobuf.Timestamp at = 2; } }"#;
        let file = protobuf_file(text).unwrap();
        // A.B is [0, 0]: the count 2 and both indexes as zig-zag varints; then n = 300.
        let (json, message) = decode_protobuf(&file, &[4, 0, 0, 0x08, 0xac, 0x02]).unwrap();
        assert_eq!(
            (json.as_str(), message),
            (r#"{"n":300}"#, &[0x08, 0xac, 0x02][..])
        );
        // A lone 0 is the first message.
        let (json, _) = decode_protobuf(&file, &[0, 0x0a, 1, b'q']).unwrap();
        assert_eq!(json, r#"{"x":"q"}"#);
        let past = decode_protobuf(&file, &[2, 4]).unwrap_err();
        assert!(past.contains("name no message"), "{past}");
        let bad = decode_protobuf(&file, &[0, 0xff]).unwrap_err();
        assert!(bad.contains("not a t.A message"), "{bad}");
        assert!(protobuf_file("message {").is_err());
        assert!(matches!(
            known_schema(br#"{"schema":"message {","schemaType":"PROTOBUF"}"#),
            Known::Other(kind) if kind.starts_with("a Protobuf schema that does not load")
        ));
    }

    #[test]
    fn the_frame_is_the_magic_byte_and_a_big_endian_id() {
        assert_eq!(
            split_frame("value", &[0, 0, 0, 1, 2, 9, 8]).unwrap(),
            (258, &[9u8, 8][..])
        );
        assert_eq!(
            split_frame("value", &[0, 0, 0, 0, 7]).unwrap(),
            (7, &[][..])
        );
        assert_eq!(
            split_frame("key", &[0, 0, 0, 1]).unwrap_err(),
            DecodeError::TooShort {
                part: "key",
                len: 4
            }
        );
        assert_eq!(
            split_frame("value", &[1, 0, 0, 0, 1, 2]).unwrap_err(),
            DecodeError::Magic {
                part: "value",
                byte: 1
            }
        );
    }

    #[test]
    fn avro_decodes_to_json_and_leftover_bytes_are_refused() {
        let schema = Schema::parse_str(USER).unwrap();
        // name "ab" (length 2 zig-zag = 4), age 30 (60), email union branch 1 (2) "x" (2, 'x').
        let datum = [4, b'a', b'b', 60, 2, 2, b'x'];
        assert_eq!(
            decode_avro(&schema, &datum).unwrap(),
            r#"{"age":30,"email":"x","name":"ab"}"#
        );
        let null_email = [4, b'a', b'b', 60, 0];
        assert_eq!(
            decode_avro(&schema, &null_email).unwrap(),
            r#"{"age":30,"email":null,"name":"ab"}"#
        );
        let mut longer = datum.to_vec();
        longer.push(0);
        assert_eq!(
            decode_avro(&schema, &longer).unwrap_err(),
            "1 bytes left after the Avro datum"
        );
        // A union branch that does not exist.
        assert!(decode_avro(&schema, &[4, b'a', b'b', 60, 8]).is_err());
        assert!(decode_avro(&schema, &[]).is_err());
    }

    #[test]
    fn registry_answers_are_read_by_type() {
        assert!(matches!(
            known_schema(
                format!(r#"{{"schema":{}}}"#, serde_json::to_string(USER).unwrap()).as_bytes()
            ),
            Known::Avro(_)
        ));
        assert!(matches!(
            known_schema(br#"{"schema":"syntax = \"proto3\";","schemaType":"PROTOBUF"}"#),
            Known::Protobuf(_)
        ));
        assert!(matches!(
            known_schema(br#"{"schema":"{}","schemaType":"JSON"}"#),
            Known::Other(k) if k == "JSON"
        ));
        assert!(matches!(known_schema(b"{}"), Known::Other(_)));
        assert!(matches!(
            known_schema(br#"{"schema":"{"}"#),
            Known::Other(_)
        ));
    }

    fn framed(id: u32, datum: &[u8]) -> Vec<u8> {
        [&[0][..], &id.to_be_bytes(), datum].concat()
    }

    #[tokio::test]
    async fn keys_and_values_are_decoded_through_the_registry() {
        let registry = schema_registry::SchemaRegistry::start("127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let stored = |s: &str| schema_registry::Stored {
            schema: s.to_owned(),
            schema_type: "AVRO".to_owned(),
        };
        let (user, _) = registry.register("t-value", stored(USER)).unwrap();
        let (long, _) = registry.register("t-key", stored("\"long\"")).unwrap();
        let (proto, _) = registry
            .register(
                "p-value",
                schema_registry::Stored {
                    schema: "syntax = \"proto3\"; message M { int64 n = 1; }".to_owned(),
                    schema_type: "PROTOBUF".to_owned(),
                },
            )
            .unwrap();
        let config = |format: &str| {
            let mut s = settings(format, &["KEY", "VALUE"]);
            s.uri = registry.url();
            RegistryConfig::new(&s, true).unwrap()
        };
        let datum = [4, b'a', b'b', 60, 0];
        let record = SourceRecord {
            topic: "t".to_owned(),
            partition: 0,
            offset: 3,
            timestamp_ms: 1,
            timestamp_type: "CREATE_TIME",
            // The long 21 is zig-zag 42.
            key: Some(framed(long, &[42])),
            value: Some(framed(user, &datum)),
            headers: vec![],
        };
        let mut json = Decoder::new(config("JSON"));
        let d = json.deliver(&record).await.unwrap();
        assert_eq!(d.key.as_deref(), Some(&b"21"[..]));
        assert_eq!(
            d.value.as_deref(),
            Some(&br#"{"age":30,"email":null,"name":"ab"}"#[..])
        );
        let meta = |format, id: u32| SchemaMetadata {
            data_format: format,
            schema_id: id.to_string(),
        };
        assert_eq!(d.key_schema, Some(meta("JSON", long)));
        assert_eq!(d.value_schema, Some(meta("JSON", user)));
        // The event's record carries both, in AWS's names.
        let delivered = SourceRecord {
            key: d.key.clone(),
            value: d.value.clone(),
            ..record.clone()
        };
        let event: serde_json::Value =
            serde_json::from_str(&super::super::batch::record_json_with(
                &delivered,
                d.key_schema.as_ref(),
                d.value_schema.as_ref(),
            ))
            .unwrap();
        assert_eq!(
            event["valueSchemaMetadata"],
            serde_json::json!({"dataFormat": "JSON", "schemaId": user.to_string()})
        );
        assert_eq!(event["keySchemaMetadata"]["schemaId"], long.to_string());

        let mut source = Decoder::new(config("SOURCE"));
        let d = source.deliver(&record).await.unwrap();
        assert_eq!(d.value.as_deref(), Some(&datum[..]));
        assert_eq!(d.value_schema, Some(meta("AVRO", user)));
        // A tombstone has nothing to validate.
        let tombstone = SourceRecord {
            value: None,
            ..record.clone()
        };
        assert_eq!(source.deliver(&tombstone).await.unwrap().value, None);

        let unknown = SourceRecord {
            value: Some(framed(999, &datum)),
            ..record.clone()
        };
        assert_eq!(
            json.deliver(&unknown).await.unwrap_err(),
            DecodeError::UnknownSchema {
                part: "value",
                id: 999
            }
        );
        // The first message (a lone 0 for its indexes) with n = 1.
        let protobuf = SourceRecord {
            key: None,
            value: Some(framed(proto, &[0, 8, 1])),
            ..record.clone()
        };
        let d = json.deliver(&protobuf).await.unwrap();
        assert_eq!(d.value.as_deref(), Some(&br#"{"n":1}"#[..]));
        assert_eq!(d.value_schema, Some(meta("JSON", proto)));
        let d = source.deliver(&protobuf).await.unwrap();
        assert_eq!(d.value.as_deref(), Some(&[8u8, 1][..]));
        assert_eq!(d.value_schema, Some(meta("PROTOBUF", proto)));
        let garbage = SourceRecord {
            key: Some(framed(long, &[0xff, 0xff])),
            ..record.clone()
        };
        assert!(matches!(
            json.deliver(&garbage).await.unwrap_err(),
            DecodeError::Invalid { part: "key", .. }
        ));
        // A registry that is gone is an error of its own, not a missing schema.
        let url = registry.url();
        drop(registry);
        let mut s = settings("JSON", &["VALUE"]);
        s.uri = url;
        let mut cold = Decoder::new(RegistryConfig::new(&s, true).unwrap());
        assert!(matches!(
            cold.deliver(&record).await.unwrap_err(),
            DecodeError::Registry { part: "value", .. }
        ));
    }
}
