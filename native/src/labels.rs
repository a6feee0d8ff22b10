//! Label assembly, for every series a sink exports alike (Spark metrics, self-metrics, node
//! statistics): the user's static labels, the JVM's identity and platform labels, `role`, the
//! family's own variant labels; then the JVM-wide claim that no other sink of this JVM already
//! pushes the same label set to the same receiver.

use std::sync::Arc;

use crate::claims;
use crate::identity::Identity;
use crate::metadata::FamilyLog;
use crate::proto::Label;
use crate::sample::{Family, Series};
use crate::snapshot::QUANTILES;

impl Series {
    /// A series of `family` with these labels, sorted (remote write requires it) and encoded.
    pub fn new(mut labels: Vec<Label>, family: Arc<Family>) -> Series {
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let encoded_labels = crate::remote_write::encode::encode_labels(&labels);
        Series {
            labels,
            encoded_labels,
            family,
        }
    }
}

/// One series of a family: a suffix to the family name (`_count`) and/or one extra label
/// (`quantile="0.5"`, `reason="queue_full"`).
pub struct Variant {
    pub suffix: &'static str,
    pub labels: Vec<(&'static str, String)>,
}

impl Variant {
    pub const PLAIN: Variant = Variant {
        suffix: "",
        labels: Vec::new(),
    };

    pub fn labelled(name: &'static str, value: impl Into<String>) -> Variant {
        Variant {
            suffix: "",
            labels: vec![(name, value.into())],
        }
    }

    pub fn suffixed(suffix: &'static str) -> Variant {
        Variant {
            suffix,
            labels: Vec::new(),
        }
    }

    /// A summary's series: one per quantile, then `_count`.
    pub fn summary() -> Vec<Variant> {
        let mut list: Vec<Variant> = QUANTILES
            .iter()
            .map(|q| Variant::labelled("quantile", q.to_string()))
            .collect();
        list.push(Variant::suffixed("_count"));
        list
    }
}

/// The labels of one sink's series, and its claims on them.
pub struct Labeler {
    sink_id: u64,
    url: String,
    static_labels: Vec<(String, String)>,
    identity: Identity,
    /// Changes whenever every label set changes (a new identity): holders of series re-make them.
    generation: u64,
    families: FamilyLog,
}

impl Labeler {
    pub fn new(url: &str, static_labels: Vec<(String, String)>) -> Labeler {
        Labeler {
            sink_id: claims::new_sink_id(),
            url: url.to_string(),
            static_labels,
            identity: Identity::default(),
            generation: 0,
            families: FamilyLog::default(),
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The families of every series made so far, for their metadata.
    pub fn families(&self) -> &FamilyLog {
        &self.families
    }

    /// Takes a new identity; when it differs, every label set changes: all claims are given up
    /// and the generation moves on. Returns whether it changed.
    pub fn set_identity(&mut self, identity: Identity) -> bool {
        if identity == self.identity {
            return false;
        }
        self.identity = identity;
        self.generation += 1;
        self.release(None);
        true
    }

    /// The series of one family with this JVM's identity labels, the user's labels and `role`
    /// (None for what belongs to the JVM, not to one of its sinks);
    /// None when another Spark name or sink of this JVM already exports them to this receiver.
    /// `owner` names what exports them, for that check and its log line.
    pub fn series_for(
        &self,
        family: &Arc<Family>,
        role: Option<&str>,
        variants: &[Variant],
        owner: &str,
    ) -> Option<Vec<Arc<Series>>> {
        let mut common: Vec<Label> = self
            .static_labels
            .iter()
            .map(|(k, v)| label(k, v))
            .collect();
        // The user's labels win over detected ones of the same name.
        for (k, v) in &self.identity.platform_labels {
            if !common.iter().any(|l| &l.name == k) {
                common.push(label(k, v));
            }
        }
        if let Some(role) = role {
            common.push(label("role", role));
        }
        for (name, value) in [
            ("app_id", &self.identity.app_id),
            ("app_name", &self.identity.app_name),
            ("executor_id", &self.identity.executor_id),
        ] {
            if !value.is_empty() {
                common.push(label(name, value));
            }
        }
        let list: Vec<Arc<Series>> = variants
            .iter()
            .map(|variant| {
                let mut labels = common.clone();
                labels.push(label(
                    "__name__",
                    &format!("{}{}", family.name, variant.suffix),
                ));
                for (name, value) in &variant.labels {
                    labels.push(label(name, value));
                }
                Arc::new(Series::new(labels, Arc::clone(family)))
            })
            .collect();
        // The first series' label set stands for all: the others differ only in suffix or label.
        let key = (self.url.clone(), list.first()?.encoded_labels.clone());
        match claims::claim(key, self.sink_id, owner) {
            Err((same_sink, other)) => {
                tracing::debug!(
                    "not exporting '{owner}': its series {} is already exported by '{other}'{}",
                    family.name,
                    if same_sink {
                        ""
                    } else {
                        " of another sink of this JVM"
                    }
                );
                None
            }
            Ok(()) => {
                self.families.record(family);
                Some(list)
            }
        }
    }

    /// Gives up this sink's claims: those of one owner (a Spark name), or all of them.
    pub fn release(&self, owner: Option<&str>) {
        claims::release(self.sink_id, owner);
    }
}

impl Drop for Labeler {
    fn drop(&mut self) {
        self.release(None);
    }
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_string(),
        value: value.to_string(),
    }
}
