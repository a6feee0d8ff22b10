//! The sink's properties: defaults, then the user's values, then one validation step. Every
//! error names the property and says what it accepts, because the user reads it in a Spark log
//! far from where the property was set.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Properties that the Java side consumes itself; accepted here so they are not reported as
/// unknown.
const JAVA_PROPERTIES: &[&str] = &[
    "class",
    "period",
    "unit",
    "library",
    "libraryExtractDir",
    "identityTimeout",
    "failOnConfigError",
    "listener.enabled",
    "listener.maxKeys",
];

/// Every property the core reads itself: the keys of `from_properties`' match (a test keeps the
/// two equal), for "did you mean" when a property is misspelt.
const CORE_PROPERTIES: &[&str] = &[
    "url",
    "protocol",
    "labels",
    "include",
    "exclude",
    "maxSeries",
    "capacity",
    "maxSamplesPerSend",
    "batchDeadline",
    "timeout",
    "minBackoff",
    "maxBackoff",
    "flushTimeout",
    "retryTimeout",
    "logLevel",
    "textfile",
    "node.enabled",
    "node.hostWide",
    "mallocTrim",
    "node.period",
    "node.instance",
    "sigv4.region",
    "sigv4.service",
    "sigv4.roleArn",
    "bearerTokenFile",
    "basicAuth.username",
    "basicAuth.passwordFile",
    "headers",
    "tls.caFile",
    "tls.certFile",
    "tls.keyFile",
];

/// Every property a user may set, on either side.
pub fn user_properties() -> impl Iterator<Item = &'static str> {
    CORE_PROPERTIES.iter().chain(JAVA_PROPERTIES).copied()
}

/// A property that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub property: String,
    pub message: String,
    /// The sink's name (`sink.<name>.`) when the Java side knew it: with two sinks in one
    /// configuration the key must say which.
    pub sink: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sparkprom: invalid sink property '{}' (spark.metrics.conf.*.sink.{}.{}): {}",
            self.property,
            self.sink.as_deref().unwrap_or("<name>"),
            self.property,
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn new(property: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            property: property.to_string(),
            message: message.into(),
            sink: None,
        }
    }

    /// The same error naming the sink it belongs to (when known).
    pub fn of_sink(mut self, sink: Option<&str>) -> ConfigError {
        self.sink = sink.map(str::to_string);
        self
    }
}

/// Which metrics to export: `include` and `exclude` are regexes searched in both the Spark name
/// (after `<namespace>.<executorId>.`, e.g. `executor.cpuTime`) and the exported name
/// (`spark_executor_cpu_time_seconds_total`).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub include: Option<regex::Regex>,
    pub exclude: Option<regex::Regex>,
}

impl Filters {
    /// Kept when `include` (if set) matches either name and `exclude` matches neither.
    pub fn keeps(&self, spark_name: &str, exported: &str) -> bool {
        let hit = |r: &regex::Regex| r.is_match(spark_name) || r.is_match(exported);
        self.include.as_ref().is_none_or(hit) && !self.exclude.as_ref().is_some_and(hit)
    }
}

/// Everything the core needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The remote_write endpoint, e.g. `http://127.0.0.1:9090/api/v1/write`.
    pub url: String,
    /// Which remote-write message the sink sends (`protocol=1.0|2.0|auto`).
    pub protocol: Protocol,
    /// Labels the user adds to every series (`labels=cluster=prod,team=etl`).
    pub static_labels: Vec<(String, String)>,
    pub filters: Filters,
    /// Most series this sink exports; names beyond it are not exported (a cardinality guard).
    pub max_series: usize,
    /// Most samples held in memory; beyond it the oldest are dropped (and counted).
    pub capacity: usize,
    /// Most samples in one request.
    pub max_samples_per_send: usize,
    /// How long a sample may wait for a batch to fill before it is sent anyway.
    pub batch_deadline: Duration,
    /// One request's timeout.
    pub timeout: Duration,
    /// First retry delay; doubles per attempt up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// How long `stop()` may spend pushing what is still queued.
    pub flush_timeout: Duration,
    /// How long one batch is retried before it is given up (and counted) so the next can go.
    pub retry_timeout: Duration,
    /// The core's log level (error, warn, info, debug, trace).
    pub log_level: String,
    /// How often Spark reports, as the Java side scheduled it (`period` x `unit`).
    pub report_period: Duration,
    /// Node, container and process statistics: on unless `node.enabled=false`.
    pub node_enabled: bool,
    /// The node's host-wide statistics among them: off with `node.hostWide=false`, where a
    /// node_exporter DaemonSet already sends the node's figures.
    pub node_host_wide: bool,
    /// `mallocTrim`: whether this sink asks for the JVM's periodic `malloc_trim` (trim.rs).
    pub malloc_trim: bool,
    /// Their period; the report period when not set.
    pub node_period: Option<Duration>,
    /// `instance` label of node statistics; the host name when not set.
    pub node_instance: Option<String>,
    /// Where to write each report in text exposition format; `{app_id}`, `{executor_id}`,
    /// `{role}` and `{pid}` are filled in.
    pub textfile: Option<String>,
    /// How requests prove who sends them, and extra headers.
    pub auth: AuthConfig,
    /// Trust and client identity for https:// receivers.
    pub tls: TlsConfig,
    /// Properties given that nothing reads (logged as a warning; a typo is not fatal).
    pub unknown_properties: Vec<String>,
    /// The sink's name, when the Java side knew it (`sparkprom.sinkName`): for error messages.
    pub sink_name: Option<String>,
    /// What the JVM says about the network (`sparkprom.jvm.*`, set by the Java side).
    pub jvm: JvmNetwork,
}

/// `protocol`: the remote-write message to send. 1.0 is the default because Amazon Managed
/// Service for Prometheus, and Prometheus before 3.0, take only 1.0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    #[default]
    V1,
    V2,
    /// 2.0 until the receiver shows it takes only 1.0 (remote_write/negotiate.rs).
    Auto,
    /// Not remote write: OTLP/HTTP metrics (protobuf, gzip) to an OTLP endpoint.
    Otlp,
}

/// What the JVM the sink runs in says about the network, handed over by the Java side: its
/// proxy system properties (as `spark.*.extraJavaOptions` set them) and the certificates its
/// default trust accepts. Empty outside a JVM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JvmNetwork {
    /// `host:port` of `-Dhttps.proxyHost` and `-Dhttps.proxyPort`.
    pub https_proxy: Option<String>,
    /// `host:port` of `-Dhttp.proxyHost` and `-Dhttp.proxyPort`.
    pub http_proxy: Option<String>,
    /// `-Dhttp.nonProxyHosts`.
    pub non_proxy_hosts: Option<String>,
    /// The JVM's trusted certificates, PEM.
    pub trusted_pem: Option<String>,
}

/// SigV4 signing, for Amazon Managed Service for Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Config {
    /// `sigv4.region`; None: from AWS_REGION / AWS_DEFAULT_REGION, then from an AMP URL.
    pub region: Option<String>,
    /// `sigv4.service`: `aps` for AMP.
    pub service: String,
    /// `sigv4.roleArn`: a role to assume with the resolved credentials (cross-account).
    pub role_arn: Option<String>,
}

/// Authentication properties. Secrets are only ever named by file, so the values Spark shows
/// (and logs) are paths; the property names contain "token" or "password" so Spark's default
/// `spark.redaction.regex` hides even those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub sigv4: Option<SigV4Config>,
    /// `bearerTokenFile`: re-read whenever the file changes (Kubernetes rotates mounted tokens).
    pub bearer_token_file: Option<String>,
    /// `basicAuth.username` and `basicAuth.passwordFile`.
    pub basic_auth: Option<(String, String)>,
    /// `headers=k=v,k2=v2`: e.g. Mimir's X-Scope-OrgID.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// `tls.caFile`: PEM certificates trusted in addition to the public roots.
    pub ca_file: Option<String>,
    /// `tls.certFile` and `tls.keyFile`: a client certificate (PEM) and its key.
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

/// Headers the sink sets itself (or that authentication sets): `headers` cannot replace them.
/// Headers that carry a secret: refused in `headers`, whose value Spark shows in its UI and event
/// log (secrets come from files: bearerTokenFile, basicAuth.passwordFile).
/// Words in a header name that say its value is a secret (`Authorization`, `Cookie`,
/// `X-Amz-Security-Token`, `DD-API-KEY`, `X-Goog-Api-Key`, `X-Session-Id`, ...). Such headers
/// are refused in `headers`: Spark shows sink properties in its UI and event log, so a secret
/// must come from a file (bearerTokenFile, basicAuth.passwordFile).
const SECRET_HEADER_WORDS: &[&str] = &[
    "auth",
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "credential",
    "cookie",
    "session",
    "signature",
];

const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-length",
    "host",
    "user-agent",
    "x-prometheus-remote-write-version",
];

impl Default for Config {
    fn default() -> Self {
        Config {
            url: String::new(),
            protocol: Protocol::default(),
            static_labels: Vec::new(),
            filters: Filters::default(),
            // A Spark 3.5/4.x executor exports about 300 series and a driver about 400; this
            // leaves room for many streaming queries and still stops a runaway source.
            max_series: 10_000,
            // Measured 32-50 bytes a sample when full (tests/bench/native_memory.py): under
            // 5 MB, or about half an hour of a busy executor's samples at a 10 s period while
            // the receiver is down.
            capacity: 100_000,
            // Prometheus' own default: large enough to amortise a request, small enough
            // for every receiver's body limit.
            max_samples_per_send: 2_000,
            // Prometheus' default too; a report is normally sent at once because one
            // snapshot fills most batches, and stop() flushes regardless.
            batch_deadline: Duration::from_secs(5),
            // Prometheus' remote_timeout default.
            timeout: Duration::from_secs(30),
            // Prometheus' defaults: retry fast once, never wait more than 5 s.
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            // Spark waits for stop() on its shutdown path: keep it short.
            flush_timeout: Duration::from_secs(10),
            // Longer than an ordinary receiver outage or restart (minutes: a 6-minute outage
            // loses nothing), short enough that a batch the receiver keeps refusing with 5xx
            // (a bad label, a server-side bug) does not hold back everything queued after it;
            // the queue holds about half an hour at the default capacity meanwhile.
            retry_timeout: Duration::from_secs(600),
            log_level: "info".to_string(),
            textfile: None,
            report_period: Duration::from_secs(10),
            node_enabled: true,
            node_host_wide: true,
            malloc_trim: true,
            node_period: None,
            node_instance: None,
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            unknown_properties: Vec::new(),
            sink_name: None,
            jvm: JvmNetwork::default(),
        }
    }
}

impl Config {
    /// Parses the blob the Java side sends: UTF-8 `key \0 value \0` pairs.
    pub fn from_blob(blob: &[u8]) -> Result<Config, ConfigError> {
        let text = std::str::from_utf8(blob)
            .map_err(|_| ConfigError::new("*", "properties are not UTF-8"))?;
        let mut parts = text.split('\0');
        let mut props = BTreeMap::new();
        while let Some(key) = parts.next() {
            if key.is_empty() {
                continue;
            }
            let value = parts.next().unwrap_or_default();
            props.insert(key.to_string(), value.to_string());
        }
        Config::from_properties(&props)
    }

    /// Defaults, then the user's values, then validation; an error names the sink when the
    /// Java side said which it is.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let sink = props.get("sparkprom.sinkName").map(|name| name.trim());
        Config::parse(props).map_err(|e| e.of_sink(sink))
    }

    fn parse(props: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for (key, raw) in props {
            let value = raw.trim();
            match key.as_str() {
                "url" => config.url = value.to_string(),
                "protocol" => config.protocol = parse_protocol(key, value)?,
                "labels" => config.static_labels = parse_labels(key, value)?,
                "include" => config.filters.include = Some(parse_regex(key, value)?),
                "exclude" => config.filters.exclude = Some(parse_regex(key, value)?),
                "maxSeries" => config.max_series = parse_count(key, value)?,
                "capacity" => config.capacity = parse_count(key, value)?,
                "maxSamplesPerSend" => config.max_samples_per_send = parse_count(key, value)?,
                "batchDeadline" => config.batch_deadline = parse_duration(key, value)?,
                "timeout" => config.timeout = parse_duration(key, value)?,
                "minBackoff" => config.min_backoff = parse_duration(key, value)?,
                "maxBackoff" => config.max_backoff = parse_duration(key, value)?,
                "flushTimeout" => config.flush_timeout = parse_duration(key, value)?,
                "retryTimeout" => config.retry_timeout = parse_duration(key, value)?,
                "logLevel" => config.log_level = parse_log_level(key, value)?,
                // Empty means unset, as for every optional path: a template's `textfile=` stays off.
                "textfile" => config.textfile = non_empty(value),
                "node.enabled" => config.node_enabled = parse_bool(key, value)?,
                "node.hostWide" => config.node_host_wide = parse_bool(key, value)?,
                "mallocTrim" => config.malloc_trim = parse_bool(key, value)?,
                "node.period" => config.node_period = Some(parse_duration(key, value)?),
                "node.instance" => config.node_instance = non_empty(value),
                "sigv4.region" => sigv4(&mut config).region = non_empty(value),
                "sigv4.service" => sigv4(&mut config).service = value.to_string(),
                "sigv4.roleArn" => sigv4(&mut config).role_arn = non_empty(value),
                "bearerTokenFile" => config.auth.bearer_token_file = non_empty(value),
                "basicAuth.username" => basic_auth(&mut config).0 = value.to_string(),
                "basicAuth.passwordFile" => basic_auth(&mut config).1 = value.to_string(),
                "headers" => config.auth.headers = parse_headers(key, value)?,
                "tls.caFile" => config.tls.ca_file = non_empty(value),
                "tls.certFile" => config.tls.cert_file = non_empty(value),
                "tls.keyFile" => config.tls.key_file = non_empty(value),
                // Added by the Java side: the schedule it derived from period and unit, and the
                // sink's name where it knows it.
                "sparkprom.periodMillis" => {
                    config.report_period = Duration::from_millis(parse_count(key, value)? as u64)
                }
                "sparkprom.sinkName" => config.sink_name = non_empty(value),
                "sparkprom.jvm.httpsProxy" => config.jvm.https_proxy = non_empty(value),
                "sparkprom.jvm.httpProxy" => config.jvm.http_proxy = non_empty(value),
                "sparkprom.jvm.nonProxyHosts" => config.jvm.non_proxy_hosts = non_empty(value),
                "sparkprom.jvm.trust" => config.jvm.trusted_pem = non_empty(value),
                other if JAVA_PROPERTIES.contains(&other) => {}
                // Warned about by `Sink::start`: parsing runs before the first sink has
                // started logging, and `validate` parses too.
                other => config.unknown_properties.push(other.to_string()),
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.url.is_empty() {
            return Err(ConfigError::new(
                "url",
                "is required: the remote_write endpoint, e.g. http://prometheus:9090/api/v1/write",
            ));
        }
        if !self.url.contains("://") {
            return Err(ConfigError::new(
                "url",
                format!(
                    "'{}' has no scheme: add https:// (or http://), e.g. https://{}",
                    crate::http::redact_url(&self.url),
                    crate::http::redact_url(self.url.trim_start_matches('/'))
                ),
            ));
        }
        // The URL is logged with every delivery problem, so it must not carry a password.
        let parsed = reqwest::Url::parse(&self.url).map_err(|e| {
            ConfigError::new(
                "url",
                format!(
                    "'{}' is not a URL ({e})",
                    crate::http::redact_url(&self.url)
                ),
            )
        })?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(ConfigError::new(
                "url",
                "must not contain a user or password; use basicAuth.username and basicAuth.passwordFile",
            ));
        }
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ConfigError::new(
                "url",
                format!(
                    "'{}' must start with http:// or https://",
                    crate::http::redact_url(&self.url)
                ),
            ));
        }
        // Each number on its own first, then how they relate.
        self.validate_ranges()?;
        if self.max_samples_per_send > self.capacity {
            return Err(ConfigError::new(
                "maxSamplesPerSend",
                format!(
                    "{} is larger than capacity ({}); accepted: 1 to capacity",
                    self.max_samples_per_send, self.capacity
                ),
            ));
        }
        if self.min_backoff > self.max_backoff {
            return Err(ConfigError::new(
                "minBackoff",
                "must not be longer than maxBackoff".to_string(),
            ));
        }
        self.validate_auth()
    }

    /// Every number within a range that works; each bound says why it is there.
    fn validate_ranges(&self) -> Result<(), ConfigError> {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        count_within("maxSeries", self.max_series)?;
        count_within("capacity", self.capacity)?;
        count_within("maxSamplesPerSend", self.max_samples_per_send)?;
        // 0 would retry in a hot loop and burn a core per executor while the receiver is down;
        // an hour between tries is no longer a retry.
        duration_within("minBackoff", self.min_backoff, ms(1), s(3600))?;
        duration_within("maxBackoff", self.max_backoff, ms(1), s(3600))?;
        // A request needs some time to be answered at all; ten minutes is already a hang.
        duration_within("timeout", self.timeout, ms(100), s(600))?;
        duration_within("batchDeadline", self.batch_deadline, ms(1), s(3600))?;
        // Spark's shutdown waits for stop(): a flush longer than ten minutes holds an
        // executor's slot (and its pod) for nothing. 0 skips the flush.
        duration_within("flushTimeout", self.flush_timeout, Duration::ZERO, s(600))?;
        // Under a minute a receiver restart loses data; past a day a refused batch holds the
        // queue longer than it can hold anything.
        duration_within("retryTimeout", self.retry_timeout, s(60), s(86_400))?;
        // Reading /proc more than once a second costs CPU and shows nothing a dashboard uses,
        // the same floor as Spark's own sink period.
        if let Some(period) = self.node_period {
            duration_within("node.period", period, s(1), s(3600))?;
        }
        Ok(())
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        let auth = &self.auth;
        let schemes = [
            auth.sigv4.as_ref().map(|_| "sigv4.*"),
            auth.bearer_token_file.as_ref().map(|_| "bearerTokenFile"),
            auth.basic_auth.as_ref().map(|_| "basicAuth.*"),
        ];
        let chosen: Vec<&str> = schemes.into_iter().flatten().collect();
        if chosen.len() > 1 {
            return Err(ConfigError::new(
                chosen[1],
                format!(
                    "cannot be combined with {}: choose one way to authenticate",
                    chosen[0]
                ),
            ));
        }
        if let Some(sigv4) = &auth.sigv4 {
            if sigv4.service.is_empty() {
                return Err(ConfigError::new(
                    "sigv4.service",
                    "must not be empty (AMP's is aps)",
                ));
            }
        }
        if let Some((username, password_file)) = &auth.basic_auth {
            if username.is_empty() {
                return Err(ConfigError::new(
                    "basicAuth.username",
                    "is required with basicAuth.passwordFile",
                ));
            }
            if password_file.is_empty() {
                return Err(ConfigError::new(
                    "basicAuth.passwordFile",
                    "is required with basicAuth.username",
                ));
            }
        }
        if !chosen.is_empty()
            && auth
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        {
            return Err(ConfigError::new(
                "headers",
                format!("must not set Authorization when {} is used", chosen[0]),
            ));
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), None) => Err(ConfigError::new(
                "tls.keyFile",
                "is required with tls.certFile",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                "tls.certFile",
                "is required with tls.keyFile",
            )),
            _ => Ok(()),
        }
    }
}

fn sigv4(config: &mut Config) -> &mut SigV4Config {
    config.auth.sigv4.get_or_insert_with(|| SigV4Config {
        region: None,
        service: "aps".to_string(),
        role_arn: None,
    })
}

fn basic_auth(config: &mut Config) -> &mut (String, String) {
    config.auth.basic_auth.get_or_insert_with(Default::default)
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

/// `Name=value,Name2=value2`. Values are never echoed in errors: a header may carry a secret.
fn parse_headers(key: &str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut headers = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, header_value)) = pair.split_once('=') else {
            return Err(ConfigError::new(
                key,
                "an entry is not Name=value; expected e.g. headers=X-Scope-OrgID=team-a",
            ));
        };
        let name = name.trim();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ConfigError::new(
                key,
                format!("'{name}' is not an HTTP header name"),
            ));
        }
        if reqwest::header::HeaderValue::from_str(header_value.trim()).is_err() {
            return Err(ConfigError::new(
                key,
                format!("the value of '{name}' is not a valid header value"),
            ));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(ConfigError::new(
                key,
                format!("'{name}' is set by sparkprom itself"),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if SECRET_HEADER_WORDS.iter().any(|word| lower.contains(word)) {
            return Err(ConfigError::new(
                key,
                format!(
                    "'{name}' looks like it carries a secret (its name says auth, token, key, secret, password, \
                     credential, cookie, session or signature), and Spark's UI and event log show sink \
                     properties: use bearerTokenFile or basicAuth.passwordFile, which are read from files"
                ),
            ));
        }
        headers.push((name.to_string(), header_value.trim().to_string()));
    }
    Ok(headers)
}

fn parse_regex(key: &str, value: &str) -> Result<regex::Regex, ConfigError> {
    regex::Regex::new(value).map_err(|e| {
        ConfigError::new(
            key,
            format!("'{value}' is not a regular expression (Rust regex syntax): {e}"),
        )
    })
}

/// The accepted range of each whole-number property, read when it is parsed and validated.
const COUNT_RANGES: &[(&str, usize, usize)] = &[
    // One JVM with more series than this is a runaway source; receivers limit a tenant's
    // series far below what thousands of such JVMs would send.
    ("maxSeries", 1, 1_000_000),
    // Below a thousand, one busy report would push itself out; above ten million the queue
    // could hold about 500 MB (50 bytes a sample, tests/bench/native_memory.py) of a JVM's
    // memory that nobody planned for. Queued samples of series that have ended keep their
    // label sets (about 1 KB each) alive until sent or dropped.
    ("capacity", 1_000, 10_000_000),
    // Receivers cap a request's body (Prometheus' default limit is 32 MB uncompressed, AMP's
    // 1 MB compressed): 100,000 samples is well past any batch worth sending.
    ("maxSamplesPerSend", 1, 100_000),
];

/// `key`'s range in COUNT_RANGES; whole numbers from 1 for the rest.
fn count_range(key: &str) -> (usize, usize) {
    COUNT_RANGES
        .iter()
        .find(|(name, _, _)| *name == key)
        .map_or((1, usize::MAX), |&(_, min, max)| (min, max))
}

fn count_within(key: &str, value: usize) -> Result<(), ConfigError> {
    let (min, max) = count_range(key);
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(ConfigError::new(
        key,
        format!("{value} is outside the accepted range {min} to {max}"),
    ))
}

fn duration_within(
    key: &str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(ConfigError::new(
        key,
        format!("{value:?} is outside the accepted range {min:?} to {max:?}"),
    ))
}

fn parse_count(key: &str, value: &str) -> Result<usize, ConfigError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::new(
            key,
            match count_range(key) {
                (min, usize::MAX) => {
                    format!("'{value}' is not accepted; expected a whole number from {min}")
                }
                (min, max) => format!(
                    "'{value}' is not accepted; expected a whole number from {min} to {max}"
                ),
            },
        )),
    }
}

/// A duration as Spark writes them: `500ms`, `30s`, `2m`, `1h`; a bare number is seconds.
pub fn parse_duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let bad = || {
        ConfigError::new(
            key,
            format!("'{value}' is not a duration; expected e.g. 500ms, 30s, 2m or 1h"),
        )
    };
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    // try_from: a number too large for a Duration is an error here, not a panic.
    Duration::try_from_secs_f64(number * seconds_per_unit).map_err(|_| bad())
}

/// `name=value,name2=value2`, with Prometheus' rules for label names.
fn parse_labels(key: &str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut labels = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, label_value)) = pair.split_once('=') else {
            return Err(ConfigError::new(
                key,
                format!("'{pair}' is not name=value; expected e.g. labels=cluster=prod,team=etl"),
            ));
        };
        let name = name.trim();
        if crate::label_names::is_ours(name) {
            // A series may not carry one label name twice: the receiver refuses the whole request.
            return Err(ConfigError::new(
                key,
                format!(
                    "'{name}' is a label sparkprom's own series carry (one of: {}), and a series \
                     may not have one label twice: choose another name (job, cluster, team and env \
                     are free)",
                    crate::label_names::ALL
                        .iter()
                        .map(|l| l.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if label_value.trim().is_empty() {
            return Err(ConfigError::new(
                key,
                format!("'{name}' has no value; remote write forbids empty label values"),
            ));
        }
        if !crate::naming::is_valid_label_name(name) || name.starts_with("__") {
            return Err(ConfigError::new(
                key,
                format!(
                    "'{name}' is not a label name; expected [a-zA-Z_][a-zA-Z0-9_]* not starting with __"
                ),
            ));
        }
        if let Some((_, first)) = labels.iter().find(|(n, _)| n == name) {
            // Remote write refuses a series with one label name twice: every request would fail.
            return Err(ConfigError::new(
                key,
                format!(
                    "'{name}' is given twice ('{name}={first}' and '{pair}'); give each label once"
                ),
            ));
        }
        labels.push((name.to_string(), label_value.trim().to_string()));
    }
    Ok(labels)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::new(
            key,
            format!("'{value}' is not accepted; expected true or false"),
        )),
    }
}

fn parse_protocol(key: &str, value: &str) -> Result<Protocol, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1.0" => Ok(Protocol::V1),
        "2.0" => Ok(Protocol::V2),
        "auto" => Ok(Protocol::Auto),
        "otlp" => Ok(Protocol::Otlp),
        _ => Err(ConfigError::new(
            key,
            format!(
                "'{value}' is not accepted; expected 1.0 (remote write 1.0, the default), 2.0 or \
                 auto (2.0, falling back to 1.0 when the receiver takes only 1.0), or otlp (OTLP/HTTP \
                 metrics to an OTLP endpoint such as VictoriaMetrics' /opentelemetry/v1/metrics)"
            ),
        )),
    }
}

fn parse_log_level(key: &str, value: &str) -> Result<String, ConfigError> {
    let level = value.to_ascii_lowercase();
    match level.as_str() {
        "error" | "warn" | "info" | "debug" | "trace" | "off" => Ok(level),
        _ => Err(ConfigError::new(
            key,
            format!("'{value}' is not a level; accepted: error, warn, info, debug, trace, off"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_when_only_url_is_given() {
        let config =
            Config::from_properties(&props(&[("url", "http://127.0.0.1:9090/api/v1/write")]))
                .unwrap();
        assert_eq!(config.capacity, 100_000);
        assert_eq!(config.timeout, Duration::from_secs(30));
    }

    #[test]
    fn protocol_is_1_0_unless_2_0_auto_or_otlp_is_given_and_anything_else_is_named() {
        let with = |value: &str| {
            Config::from_properties(&props(&[("url", "http://h/"), ("protocol", value)]))
        };
        assert_eq!(Config::default().protocol, Protocol::V1);
        assert_eq!(with("1.0").unwrap().protocol, Protocol::V1);
        assert_eq!(with("2.0").unwrap().protocol, Protocol::V2);
        assert_eq!(with(" AUTO ").unwrap().protocol, Protocol::Auto);
        assert_eq!(with("OTLP").unwrap().protocol, Protocol::Otlp);
        for bad in ["2", "v2", "otel", ""] {
            let err = with(bad).unwrap_err();
            assert_eq!(err.property, "protocol", "{bad}");
            assert!(err.message.contains("expected 1.0"), "{err}");
        }
    }

    /// `textfile=` or `node.instance=` left empty (a template, an init script's unset variable)
    /// is the property unset, not an unknown one.
    #[test]
    fn an_empty_textfile_or_node_instance_is_unset_not_unknown() {
        let config = Config::from_properties(&props(&[
            ("url", "http://127.0.0.1:9090/api/v1/write"),
            ("textfile", ""),
            ("node.instance", " "),
        ]))
        .unwrap();
        assert_eq!(config.unknown_properties, Vec::<String>::new());
        assert_eq!((config.textfile, config.node_instance), (None, None));
    }

    #[test]
    fn missing_url_names_the_property() {
        let err = Config::from_properties(&props(&[])).unwrap_err();
        assert_eq!(err.property, "url");
        assert!(err.to_string().contains("'url'"), "{err}");
    }

    #[test]
    fn bad_number_names_property_and_accepted_values() {
        let err = Config::from_properties(&props(&[
            ("url", "http://localhost/x"),
            ("capacity", "lots"),
        ]))
        .unwrap_err();
        assert_eq!(err.property, "capacity");
        assert!(err.message.contains("whole number"), "{err}");
    }

    #[test]
    fn blob_round_trip_with_labels_and_durations() {
        let blob = [
            "url",
            "https://aps.example/api/v1/remote_write",
            "labels",
            "cluster=prod, team=etl",
            "timeout",
            "500ms",
            "period",
            "5",
            "",
        ]
        .join("\0");
        let config = Config::from_blob(blob.as_bytes()).unwrap();
        assert_eq!(
            config.static_labels,
            vec![
                ("cluster".to_string(), "prod".to_string()),
                ("team".to_string(), "etl".to_string())
            ]
        );
        assert_eq!(config.timeout, Duration::from_millis(500));
    }

    /// The Databricks init script builds `cluster=...,$SPARKPROM_LABELS`: a user's `cluster` would
    /// repeat a label, and every request would be refused.
    #[test]
    fn a_label_given_twice_is_refused_naming_both() {
        let e = parse_labels("labels", "cluster=etl,team=a, cluster=prod").unwrap_err();
        assert_eq!(e.property, "labels");
        assert!(
            e.message.contains("'cluster=etl' and 'cluster=prod'"),
            "{}",
            e.message
        );
        assert!(parse_labels("labels", "cluster=etl,team=a").is_ok());
    }

    /// tests/durations.tsv: the notation both sides accept (SinkPropertiesCheck reads it too).
    #[test]
    fn durations_match_the_shared_table_of_cases() {
        let table = include_str!("../../tests/durations.tsv");
        let mut cases = 0;
        for line in table.lines().filter(|l| !l.starts_with('#')) {
            let (value, expected) = line.split_once('\t').expect("value<TAB>expected");
            let parsed =
                parse_duration("t", value).map(|d| (d.as_secs_f64() * 1000.0).round() as u64);
            match expected {
                "error" => assert!(
                    parsed.is_err(),
                    "'{value}' must be refused, gave {parsed:?}"
                ),
                ms => assert_eq!(
                    parsed.ok(),
                    Some(ms.parse().expect("milliseconds")),
                    "'{value}'"
                ),
            }
            cases += 1;
        }
        assert!(cases > 20, "{cases} cases");
    }

    #[test]
    fn durations_follow_spark_notation() {
        assert_eq!(parse_duration("t", "2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("t", "7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("t", "7 parsecs").is_err());
        assert!(parse_duration("t", "").is_err());
    }

    /// Every numeric property has both ends; a value past either is an error naming it, never
    /// a panic or an allocation the size of the number.
    #[test]
    fn numbers_outside_their_range_are_refused_naming_the_property() {
        for (property, too_low, too_high) in [
            ("maxSeries", "0", "1000001"),
            ("capacity", "999", "10000000000"),
            ("maxSamplesPerSend", "0", "100001"),
            ("minBackoff", "0", "2h"),
            ("maxBackoff", "0ms", "2h"),
            ("timeout", "10ms", "11m"),
            ("batchDeadline", "0", "2h"),
            ("flushTimeout", "-1", "11m"),
            ("node.period", "500ms", "2h"),
        ] {
            for value in [too_low, too_high] {
                let mut given = props(&[("url", "http://h/"), (property, value)]);
                // minBackoff may not pass maxBackoff: keep that rule out of the way.
                given
                    .entry("maxBackoff".into())
                    .or_insert_with(|| "1h".into());
                let err = Config::from_properties(&given).unwrap_err();
                assert_eq!(err.property, property, "{property}={value}: {err}");
            }
        }
        // Durations too large for a Duration at all.
        for value in ["99999999999999999999999h", "1e400"] {
            let err = Config::from_properties(&props(&[("url", "http://h/"), ("timeout", value)]))
                .unwrap_err();
            assert_eq!(err.property, "timeout", "{value}");
        }
    }

    #[test]
    fn credentials_in_headers_are_refused_pointing_to_the_files() {
        for bad in [
            "Authorization=Bearer abc",
            "x-amz-security-token=t",
            "Cookie=s=1",
            "DD-API-KEY=abc",
            "X-Goog-Api-Key=abc",
            "X-Auth-Token=abc",
            "Private-Token=abc",
        ] {
            let err = Config::from_properties(&props(&[("url", "http://h/"), ("headers", bad)]))
                .unwrap_err();
            assert_eq!(err.property, "headers", "{bad}");
            assert!(err.message.contains("bearerTokenFile"), "{err}");
            assert!(
                !err.to_string().contains("abc"),
                "the secret is not repeated: {err}"
            );
        }
        for tenant in ["X-Scope-OrgID=team-a", "X-Prometheus-Tenant=etl"] {
            assert!(
                Config::from_properties(&props(&[("url", "http://h/"), ("headers", tenant)]))
                    .is_ok()
            );
        }
    }

    /// A label the user gives must not be one a series of sparkprom's already has (a repeated
    /// name is refused by receivers), nor empty (forbidden by the spec).
    #[test]
    fn labels_that_would_repeat_or_be_empty_are_refused() {
        for bad in ["queue=etl", "instance=a", "cpu=0", "team=", "team= "] {
            let err = Config::from_properties(&props(&[("url", "http://h/"), ("labels", bad)]))
                .unwrap_err();
            assert_eq!(err.property, "labels", "{bad}");
        }
    }

    #[test]
    fn reserved_or_malformed_label_names_are_refused() {
        for bad in ["__name__=x", "1abc=x", "a-b=x", "novalue", "app_id=x"] {
            let err = Config::from_properties(&props(&[("url", "http://h/"), ("labels", bad)]))
                .unwrap_err();
            assert_eq!(err.property, "labels", "{bad}");
        }
    }

    /// Every label name one of our series can carry is refused in `labels` (the listener's, the
    /// node statistics', the self-metrics', Spark names' parts), so a user's label never repeats
    /// one; Prometheus' own conventions (`job`) and the usual routing labels are the user's.
    #[test]
    fn the_users_labels_never_meet_ours_and_job_is_theirs() {
        for ours in crate::label_names::ALL {
            let pair = format!("team=etl,{ours}=x");
            let err = Config::from_properties(&props(&[("url", "http://h/"), ("labels", &pair)]))
                .unwrap_err();
            assert_eq!(err.property, "labels", "{pair}");
            assert!(
                err.message.contains("job, cluster, team and env are free"),
                "{err}"
            );
        }
        let config = Config::from_properties(&props(&[
            ("url", "http://h/"),
            ("labels", "job=nightly-etl,cluster=prod,team=data,env=prod"),
        ]))
        .unwrap();
        assert_eq!(
            config.static_labels[0],
            ("job".into(), "nightly-etl".into())
        );
    }

    #[test]
    fn filters_search_both_names() {
        let config = Config::from_properties(&props(&[
            ("url", "http://h/"),
            ("include", "^executor\\.|^spark_jvm"),
            ("exclude", "shuffle"),
        ]))
        .unwrap();
        let f = &config.filters;
        assert!(f.keeps("executor.cpuTime", "spark_executor_cpu_time_seconds_total"));
        assert!(f.keeps(
            "JVMCPU.jvmCpuTime",
            "spark_jvmcpu_jvm_cpu_time_seconds_total"
        ));
        assert!(!f.keeps(
            "DAGScheduler.job.allJobs",
            "spark_dag_scheduler_job_all_jobs"
        ));
        assert!(!f.keeps(
            "executor.shuffleBytesWritten",
            "spark_executor_shuffle_bytes_written_total"
        ));
        let bad =
            Config::from_properties(&props(&[("url", "http://h/"), ("include", "(")])).unwrap_err();
        assert_eq!(bad.property, "include");
    }

    #[test]
    fn auth_properties_are_parsed_and_combinations_checked() {
        let config = Config::from_properties(&props(&[
            ("url", "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"),
            ("sigv4.region", "eu-west-1"),
            ("sigv4.roleArn", "arn:aws:iam::111122223333:role/push"),
            ("headers", "X-Scope-OrgID=team-a, X-Extra=1"),
        ]))
        .unwrap();
        let sigv4 = config.auth.sigv4.as_ref().unwrap();
        assert_eq!(sigv4.region.as_deref(), Some("eu-west-1"));
        assert_eq!(sigv4.service, "aps");
        assert_eq!(config.auth.headers.len(), 2);

        let refused = |pairs: &[(&str, &str)]| {
            let mut all = vec![("url", "https://h/")];
            all.extend_from_slice(pairs);
            Config::from_properties(&props(&all)).unwrap_err().property
        };
        assert_eq!(
            refused(&[("sigv4.region", "x"), ("bearerTokenFile", "/t")]),
            "bearerTokenFile"
        );
        assert_eq!(
            refused(&[("basicAuth.username", "u")]),
            "basicAuth.passwordFile"
        );
        assert_eq!(
            refused(&[("basicAuth.passwordFile", "/p")]),
            "basicAuth.username"
        );
        assert_eq!(refused(&[("tls.certFile", "/c")]), "tls.keyFile");
        assert_eq!(
            refused(&[("headers", "Content-Type=text/plain")]),
            "headers"
        );
        assert_eq!(refused(&[("headers", "bad header=1")]), "headers");
        assert_eq!(
            refused(&[("bearerTokenFile", "/t"), ("headers", "Authorization=x")]),
            "headers"
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_being_repeated() {
        let err =
            Config::from_properties(&props(&[("url", "https://me:hunter2@h/write")])).unwrap_err();
        assert_eq!(err.property, "url");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err =
            Config::from_properties(&props(&[("url", "https://me:hunter2@[/write")])).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn non_http_url_is_refused() {
        let err = Config::from_properties(&props(&[("url", "ftp://h/")])).unwrap_err();
        assert_eq!(err.property, "url");
    }

    /// The keys of `from_properties`' match: what the core reads (the Java side's `sparkprom.*`
    /// left out).
    fn parsed_properties() -> Vec<String> {
        let source = include_str!("config.rs");
        let parser =
            &source[source.find("fn parse(props").unwrap()..source.find("fn validate(").unwrap()];
        let arm = regex::Regex::new(r#"(?m)^\s*"([A-Za-z][A-Za-z0-9.]*)"( if [^=]*)? =>"#).unwrap();
        let mut read: Vec<String> = arm
            .captures_iter(parser)
            .map(|c| c[1].to_string())
            .filter(|key| !key.starts_with("sparkprom."))
            .collect();
        read.sort();
        read
    }

    #[test]
    fn the_list_of_properties_is_what_the_parser_reads() {
        let mut listed: Vec<String> = CORE_PROPERTIES.iter().map(|p| p.to_string()).collect();
        listed.sort();
        assert_eq!(
            listed,
            parsed_properties(),
            "CORE_PROPERTIES and from_properties differ"
        );
    }

    #[test]
    fn errors_name_the_sink_when_it_is_known_and_counts_their_range() {
        let err = Config::from_properties(&props(&[
            ("url", "http://h/"),
            ("capacity", "lots"),
            ("sparkprom.sinkName", "amp"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("(spark.metrics.conf.*.sink.amp.capacity)"),
            "{err}"
        );
        assert!(err.message.contains("from 1000 to 10000000"), "{err}");
        let unnamed = Config::from_properties(&props(&[("url", "http://h/"), ("maxSeries", "0")]))
            .unwrap_err();
        assert!(unnamed.message.contains("from 1 to 1000000"), "{unnamed}");
    }

    #[test]
    fn a_url_without_a_scheme_is_told_to_add_https() {
        let err = Config::from_properties(&props(&[(
            "url",
            "aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
        )]))
        .unwrap_err();
        assert_eq!(err.property, "url");
        assert!(
            err.message
                .contains("add https:// (or http://), e.g. https://aps-workspaces.us-east-1"),
            "{err}"
        );
    }

    /// The property table of docs/configuration.md, read as a user reads it: every property the
    /// sink reads has a row, and each row's example value is accepted as it stands.
    #[test]
    fn the_configuration_reference_lists_every_property_with_an_example_that_is_accepted() {
        let reference = include_str!("../../docs/configuration.md");
        let table = reference
            .split("| property | default | example | meaning |\n|---|---|---|---|\n")
            .nth(1)
            .expect("docs/configuration.md has the property table");
        let backticked = regex::Regex::new(r"`([^`]+)`").unwrap();
        let mut documented = Vec::new();
        for row in table.lines().take_while(|line| line.starts_with('|')) {
            // A cell may hold `\|` (a regex alternative): not a column boundary.
            let cells: Vec<String> = row
                .replace("\\|", "\u{0}")
                .split('|')
                .map(|cell| cell.replace('\u{0}', "|"))
                .collect();
            let names: Vec<String> = backticked
                .captures_iter(&cells[1])
                .map(|c| c[1].to_string())
                .collect();
            let values: Vec<String> = backticked
                .captures_iter(&cells[3])
                .map(|c| c[1].to_string())
                .collect();
            assert!(
                !names.is_empty() && names.len() == values.len(),
                "one example per property in row {row}"
            );
            // The properties of one row go together (a certificate and its key).
            let mut given = props(&[("url", "http://127.0.0.1:9090/api/v1/write")]);
            given.extend(names.into_iter().zip(values));
            let config = Config::from_properties(&given)
                .unwrap_or_else(|e| panic!("the reference's example {given:?}: {e}"));
            assert!(
                config.unknown_properties.is_empty(),
                "docs/configuration.md documents {:?}, which nothing reads",
                config.unknown_properties
            );
            documented.extend(given.into_keys());
        }

        // What the core reads, and the Java side's own.
        let mut read: Vec<String> = parsed_properties()
            .into_iter()
            .chain(JAVA_PROPERTIES.iter().map(|key| key.to_string()))
            .collect();
        read.sort();
        documented.sort();
        documented.dedup(); // url: the row's own example and every row's base
        assert_eq!(
            documented, read,
            "docs/configuration.md's property table and the properties the sink reads differ"
        );
    }
}
