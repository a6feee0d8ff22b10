//! Prometheus naming rules: turning Spark's dotted camelCase names into snake_case metric names
//! made only of `[a-zA-Z0-9_:]`, and checking label names.

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Spark's `appStatus.tasks.completedTasks` -> `app_status_tasks_completed_tasks`.
///
/// A word boundary is a lower-case letter or digit followed by an upper-case one
/// (`completedTasks`), or the last capital of an acronym before a lower-case letter
/// (`JVMCpu` -> `jvm_cpu`). Anything outside `[a-zA-Z0-9]` becomes `_`, runs of `_` collapse
/// and none is left at either end.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && i > 0 {
                let prev = chars[i - 1];
                let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
                let boundary = prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next_is_lower);
                if boundary {
                    push_separator(&mut out);
                }
            }
            out.push(c.to_ascii_lowercase());
        } else {
            push_separator(&mut out);
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

fn push_separator(out: &mut String) {
    if !out.is_empty() && !out.ends_with('_') {
        out.push('_');
    }
}

/// A whole metric name: a prefix plus the snake_case of Spark's name, never starting with a
/// digit.
pub fn metric_name(prefix: &str, spark_name: &str) -> String {
    let body = snake_case(spark_name);
    let mut name = String::with_capacity(prefix.len() + body.len() + 1);
    name.push_str(prefix);
    if !body.is_empty() {
        if !name.is_empty() && !name.ends_with('_') {
            name.push('_');
        }
        name.push_str(&body);
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_names_become_snake_case() {
        assert_eq!(
            snake_case("appStatus.tasks.completedTasks"),
            "app_status_tasks_completed_tasks"
        );
        assert_eq!(snake_case("JVMCPU.jvmCpuTime"), "jvmcpu_jvm_cpu_time");
        assert_eq!(
            snake_case("BlockManager.memory.maxMem_MB"),
            "block_manager_memory_max_mem_mb"
        );
        assert_eq!(
            snake_case("jvm.pools.CodeHeap-'non-nmethods'.used"),
            "jvm_pools_code_heap_non_nmethods_used"
        );
        assert_eq!(
            snake_case("executor.threadpool.activeTasks"),
            "executor_threadpool_active_tasks"
        );
        assert_eq!(
            snake_case("HiveExternalCatalog.fileCacheHits"),
            "hive_external_catalog_file_cache_hits"
        );
        assert_eq!(
            snake_case("G1-Young-Generation.count"),
            "g1_young_generation_count"
        );
    }

    #[test]
    fn metric_names_only_use_prometheus_characters() {
        let name = metric_name("spark", "weird name/with:chars.äöü.x");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
        assert_eq!(metric_name("", "1st.metric"), "_1st_metric");
    }

    #[test]
    fn label_names_follow_prometheus_rules() {
        assert!(is_valid_label_name("app_id"));
        assert!(is_valid_label_name("_x1"));
        assert!(!is_valid_label_name("1x"));
        assert!(!is_valid_label_name("a.b"));
        assert!(!is_valid_label_name(""));
    }
}
