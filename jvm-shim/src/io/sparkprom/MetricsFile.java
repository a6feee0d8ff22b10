package io.sparkprom;

import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The sparkprom sinks a configuration file sets up, as each metrics instance (driver, executor,
 * ...) would get them. It reads the files users have: a metrics.properties file
 * ({@code *.sink.prom.url=...}); lines as spark-defaults.conf or spark-submit {@code --conf} carry
 * them ({@code spark.metrics.conf.*.sink.prom.url}); and, from JSON and YAML, only the Spark conf
 * entries and sink keys: a Databricks compute policy ({@code spark_conf.} keys, their
 * {@code value} or {@code defaultValue}), an EMR start-job-run request or configuration list
 * (classifications' properties, {@code --conf} in {@code sparkSubmitParameters}), a Spark
 * Operator SparkApplication ({@code sparkConf}). Like Spark, {@code spark.metrics.conf.*} entries
 * win over a metrics file's, and an instance's own properties over {@code *}'s. Uses no Spark
 * class: {@code java -jar sparkprom.jar check} reads files with the jar alone.
 */
final class MetricsFile {
    static final String SINK_CLASS = "io.sparkprom.RemoteWriteSink";
    /** {@code <instance>.sink.<name>.<property>}; the property may hold dots (sigv4.region). */
    private static final Pattern SINK_KEY = Pattern.compile("^([^.]+)\\.sink\\.([^.]+)\\.(.+)$");
    private static final String CONF_PREFIX = "spark.metrics.conf.";
    /** A Databricks compute policy's (and cluster JSON's) prefix of Spark conf keys. */
    private static final String POLICY_PREFIX = "spark_conf.";
    /** {@code key: value} of a Spark conf entry or sink key in YAML (the key may be quoted). */
    private static final Pattern YAML_ENTRY = Pattern.compile(
            "^\\s*(?:-\\s+)?([\"']?)((?:spark_conf\\.)?spark\\.[^\\s\"':]+|[^\\s\"'.:]+\\.sink\\.[^\\s\"':]+)\\1\\s*:\\s+(.*)$");
    private static final Pattern SUBMIT_CONF = Pattern.compile("--conf\\s+([\"']?)([^=\\s\"']+)=(\\S*?)\\1(?=\\s|$)");

    /** One sink's properties and the instances that get exactly these. */
    static final class Sink {
        final String name;
        final List<String> instances = new ArrayList<String>();
        final Properties properties;

        Sink(String name, String instance, Properties properties) {
            this.name = name;
            this.instances.add(instance);
            this.properties = properties;
        }
    }

    private MetricsFile() {}

    /**
     * The Spark conf entries and sink keys of a file, whatever its format.
     *
     * @throws IOException when the file cannot be read
     * @throws IllegalArgumentException when a JSON file is not valid JSON
     */
    static Properties read(String path) throws IOException {
        String text = new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.UTF_8);
        String start = text.trim();
        Properties entries = new Properties();
        if (start.startsWith("{") || start.startsWith("[")) {
            collectJson(null, Json.parse(text), entries);
        } else if (path.endsWith(".yaml") || path.endsWith(".yml") || Pattern.compile("(?m)^apiVersion:").matcher(text).find()) {
            for (String line : text.split("\n")) {
                Matcher m = YAML_ENTRY.matcher(line);
                if (m.matches()) {
                    entries.setProperty(m.group(2), yamlScalar(m.group(3)));
                }
            }
        } else {
            entries.load(new StringReader(text));
        }
        return entries;
    }

    /** Every conf-like member of a JSON value, depth first. */
    private static void collectJson(String name, Object value, Properties entries) {
        if (value instanceof Map) {
            Map<?, ?> members = (Map<?, ?>) value;
            // A policy rule: {"type": "fixed", "value": ...} or {"defaultValue": ...}.
            if (name != null && isConfKey(name)) {
                Object rule = members.containsKey("value") ? members.get("value") : members.get("defaultValue");
                if (rule != null) {
                    entries.setProperty(name, String.valueOf(rule));
                }
                return;
            }
            for (Map.Entry<?, ?> member : members.entrySet()) {
                collectJson(String.valueOf(member.getKey()), member.getValue(), entries);
            }
        } else if (value instanceof List) {
            for (Object item : (List<?>) value) {
                collectJson(null, item, entries);
            }
        } else if (name != null && value != null && isConfKey(name)) {
            entries.setProperty(name, String.valueOf(value));
        } else if ("sparkSubmitParameters".equals(name) && value instanceof String) {
            Matcher m = SUBMIT_CONF.matcher((String) value);
            while (m.find()) {
                entries.setProperty(m.group(2), m.group(3));
            }
        }
    }

    private static boolean isConfKey(String key) {
        String bare = key.startsWith(POLICY_PREFIX) ? key.substring(POLICY_PREFIX.length()) : key;
        return bare.startsWith("spark.") || SINK_KEY.matcher(bare).matches();
    }

    /** A YAML scalar as written after {@code key:}: quoted ("10", '10') or plain up to a comment. */
    private static String yamlScalar(String raw) {
        String value = raw.trim();
        if (value.length() >= 2 && value.charAt(0) == '"' && value.indexOf('"', 1) > 0) {
            return value.substring(1, value.indexOf('"', 1)).replace("\\\"", "\"");
        }
        if (value.length() >= 2 && value.charAt(0) == '\'' && value.lastIndexOf('\'') > 0) {
            return value.substring(1, value.lastIndexOf('\'')).replace("''", "'");
        }
        int comment = value.indexOf(" #");
        return comment >= 0 ? value.substring(0, comment).trim() : value;
    }

    /** Every sparkprom sink in the file's entries, once per distinct set of properties. */
    static List<Sink> sparkpromSinks(Properties file) {
        // instance -> sink name -> properties; a metrics file's keys first, so Spark conf's win.
        Map<String, Map<String, Properties>> byInstance = new TreeMap<String, Map<String, Properties>>();
        for (boolean sparkConf : new boolean[] {false, true}) {
            for (String key : new TreeMap<Object, Object>(file).keySet().toArray(new String[0])) {
                String bare = key.trim();
                if (bare.startsWith(POLICY_PREFIX)) {
                    bare = bare.substring(POLICY_PREFIX.length());
                }
                if (bare.startsWith(CONF_PREFIX) != sparkConf) {
                    continue;
                }
                Matcher m = SINK_KEY.matcher(sparkConf ? bare.substring(CONF_PREFIX.length()) : bare);
                if (!m.matches()) {
                    continue;
                }
                Map<String, Properties> sinks = byInstance.get(m.group(1));
                if (sinks == null) {
                    sinks = new LinkedHashMap<String, Properties>();
                    byInstance.put(m.group(1), sinks);
                }
                Properties properties = sinks.get(m.group(2));
                if (properties == null) {
                    properties = new Properties();
                    sinks.put(m.group(2), properties);
                }
                properties.setProperty(m.group(3), file.getProperty(key).trim());
            }
        }
        Map<String, Properties> defaults = byInstance.containsKey("*")
                ? byInstance.get("*") : new LinkedHashMap<String, Properties>();
        List<Sink> found = new ArrayList<Sink>();
        for (Map.Entry<String, Map<String, Properties>> instance : byInstance.entrySet()) {
            for (Map.Entry<String, Properties> sink : instance.getValue().entrySet()) {
                Properties merged = new Properties();
                if (defaults.containsKey(sink.getKey())) {
                    merged.putAll(defaults.get(sink.getKey()));
                }
                merged.putAll(sink.getValue());
                if (SINK_CLASS.equals(merged.getProperty("class"))) {
                    add(found, sink.getKey(), instance.getKey(), merged);
                }
            }
        }
        return found;
    }

    private static void add(List<Sink> found, String name, String instance, Properties properties) {
        for (Sink sink : found) {
            if (sink.name.equals(name) && sink.properties.equals(properties)) {
                sink.instances.add(instance);
                return;
            }
        }
        found.add(new Sink(name, instance, properties));
    }
}
