//! Who this JVM is in Spark's terms (app id, app name, executor id, metrics namespace, where it
//! runs), as the Java side sends it, and what that makes of a sink's role and of Spark's names.

/// Spark's standalone daemons register their metrics without the `<namespace>.<executorId>.`
/// prefix; their sources' names say which daemon a sink serves. FallbackIdentity.java lists the
/// same prefixes (a test here checks that the two agree).
const DAEMON_SOURCES: &[(&str, &str)] = &[
    ("master.", "master"),
    ("worker.", "worker"),
    ("application.", "applications"),
    ("shuffleService.", "shuffle_service"),
    ("applicationMaster.", "application_master"),
];

/// The role of a sink whose registry holds `spark_name`, when the name is a daemon's.
pub fn daemon_role(spark_name: &str) -> Option<&'static str> {
    DAEMON_SOURCES
        .iter()
        .find(|(prefix, _)| spark_name.starts_with(prefix))
        .map(|(_, role)| *role)
}

/// Who this JVM is, as the Java side read it from Spark.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Identity {
    pub app_id: String,
    pub app_name: String,
    pub executor_id: String,
    /// `spark.metrics.namespace`, resolved; Spark's default is the app id.
    pub namespace: String,
    /// Where the JVM runs (`databricks_cluster_name`, `namespace`, `pod`, ...), as the Java side
    /// detected it; sent as `label.<name>` pairs.
    pub platform_labels: Vec<(String, String)>,
    /// A standalone daemon's JVM (the Java side saw its main class): it has no app identity to
    /// miss, even in a sink whose registry names do not tell (the master's empty `applications`).
    pub daemon: bool,
}

/// The identity fields a driver or executor needs, in the order `Identity::missing` reports them.
pub const IDENTITY_FIELDS: [&str; 4] = ["app_id", "app_name", "executor_id", "namespace"];

impl Identity {
    /// Which of `IDENTITY_FIELDS` are unknown (the Java side could not read SparkEnv and sent
    /// what it learnt without it).
    pub fn missing(&self) -> [bool; 4] {
        [
            self.app_id.is_empty(),
            self.app_name.is_empty(),
            self.executor_id.is_empty(),
            self.namespace.is_empty(),
        ]
    }

    pub fn from_pairs(pairs: &[(String, String)]) -> Identity {
        let mut identity = Identity::default();
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "app_id" => &mut identity.app_id,
                "app_name" => &mut identity.app_name,
                "executor_id" => &mut identity.executor_id,
                "namespace" => &mut identity.namespace,
                "daemon" => {
                    identity.daemon = value == "true";
                    continue;
                }
                other => {
                    if let Some(name) = other.strip_prefix("label.") {
                        // A platform label named like one of ours would repeat it in a series.
                        if crate::naming::is_valid_label_name(name)
                            && !crate::label_names::is_ours(name)
                        {
                            identity
                                .platform_labels
                                .push((name.to_string(), value.clone()));
                        }
                    }
                    continue;
                }
            };
            *slot = value.clone();
        }
        identity
    }

    /// Splits `<namespace>.<executorId>.<source>.<metric>` into its role and the part after the
    /// ids. The prefix is compared whole: namespaces and sources contain dots themselves.
    pub fn split_name<'a>(&self, spark_name: &'a str) -> Option<(&'static str, &'a str)> {
        if self.namespace.is_empty() || self.executor_id.is_empty() {
            return None;
        }
        let rest = spark_name
            .strip_prefix(self.namespace.as_str())?
            .strip_prefix('.')?
            .strip_prefix(self.executor_id.as_str())?
            .strip_prefix('.')?;
        let role = if self.executor_id == "driver" {
            "driver"
        } else {
            "executor"
        };
        Some((role, rest))
    }

    /// Whether `other` gives every series the labels this one gives: the same fields that become
    /// labels (app id and name, executor id, the platform's). The namespace is no label: it only
    /// says how Spark's names split, so an identity that corrects only the namespace changes no
    /// series but those of Spark's names.
    pub fn same_labels(&self, other: &Identity) -> bool {
        self.app_id == other.app_id
            && self.app_name == other.app_name
            && self.executor_id == other.executor_id
            && self.platform_labels == other.platform_labels
            && self.daemon == other.daemon
    }

    /// The role of a sink's own series: the daemon it serves (`daemon_role`, "other" for none),
    /// else the driver or an executor.
    pub fn sink_role(&self, daemon_role: &'static str) -> &'static str {
        match (daemon_role, self.executor_id.as_str()) {
            (daemon, _) if daemon != "other" => daemon,
            (_, "driver") => "driver",
            (_, "") => "other",
            _ => "executor",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pairs_give_the_fields_and_valid_platform_labels_only() {
        let identity = Identity::from_pairs(&pairs(&[
            ("app_id", "app-1"),
            ("executor_id", "driver"),
            ("namespace", "etl.daily"),
            ("label.pod", "driver-pod"),
            ("label.bad-name", "x"),
            ("label.role", "stolen"),
            ("unknown", "ignored"),
        ]));
        assert_eq!(identity.app_id, "app-1");
        assert_eq!(identity.platform_labels, pairs(&[("pod", "driver-pod")]));
        assert_eq!(identity.missing(), [false, true, false, false]);
    }

    #[test]
    fn names_split_after_the_whole_namespace_and_executor_id() {
        let identity =
            Identity::from_pairs(&pairs(&[("executor_id", "7"), ("namespace", "etl.daily")]));
        assert_eq!(
            identity.split_name("etl.daily.7.executor.cpuTime"),
            Some(("executor", "executor.cpuTime"))
        );
        assert_eq!(identity.split_name("etl.daily.70.executor.cpuTime"), None);
        assert_eq!(identity.split_name("etl.7.executor.cpuTime"), None);
        assert_eq!(Identity::default().split_name("a.7.b"), None);
    }

    /// The Java side's fallback identity tells daemons (which have no app) by the same prefixes:
    /// FallbackIdentity.DAEMON_SOURCES and DAEMON_SOURCES here must list the same ones.
    #[test]
    fn the_java_side_knows_the_same_daemon_sources() {
        let java = include_str!("../../jvm-shim/src/io/sparkprom/FallbackIdentity.java");
        let list = java
            .split("DAEMON_SOURCES = {")
            .nth(1)
            .and_then(|rest| rest.split("};").next())
            .expect("FallbackIdentity.java declares DAEMON_SOURCES = {...};");
        let mut theirs: Vec<&str> = list.split('"').skip(1).step_by(2).collect();
        let mut ours: Vec<&str> = DAEMON_SOURCES.iter().map(|(prefix, _)| *prefix).collect();
        theirs.sort_unstable();
        ours.sort_unstable();
        assert_eq!(theirs, ours);
    }

    #[test]
    fn roles_of_sinks_and_daemons() {
        let executor = Identity::from_pairs(&pairs(&[("executor_id", "3")]));
        assert_eq!(executor.sink_role("other"), "executor");
        assert_eq!(executor.sink_role("worker"), "worker");
        assert_eq!(Identity::default().sink_role("other"), "other");
        assert_eq!(
            daemon_role("shuffleService.registeredExecutorsSize"),
            Some("shuffle_service")
        );
        assert_eq!(
            daemon_role("app-1.driver.DAGScheduler.job.activeJobs"),
            None
        );
    }
}
