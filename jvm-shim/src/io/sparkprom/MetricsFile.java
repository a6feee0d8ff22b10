package io.sparkprom;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The sparkprom sinks a configuration file sets up, as each metrics instance (driver, executor,
 * ...) would get them: a metrics.properties file ({@code *.sink.prom.url=...}), or lines as a
 * spark-defaults.conf, spark-submit {@code --conf}, EMR classification or Databricks compute
 * policy carries them ({@code spark.metrics.conf.*.sink.prom.url}, optionally after
 * {@code spark_conf.}). Like Spark, an instance's own properties win over {@code *}'s. Uses no
 * Spark class: {@code java -jar sparkprom.jar check} reads files with the jar alone.
 */
final class MetricsFile {
    static final String SINK_CLASS = "io.sparkprom.RemoteWriteSink";
    /** {@code <instance>.sink.<name>.<property>}; the property may hold dots (sigv4.region). */
    private static final Pattern SINK_KEY = Pattern.compile("^([^.]+)\\.sink\\.([^.]+)\\.(.+)$");
    private static final String[] PREFIXES = {"spark_conf.", "spark.metrics.conf."};

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

    /** Every sparkprom sink in the file, once per distinct set of properties. */
    static List<Sink> sparkpromSinks(Properties file) {
        // instance -> sink name -> properties
        Map<String, Map<String, Properties>> byInstance = new LinkedHashMap<String, Map<String, Properties>>();
        for (String key : file.stringPropertyNames()) {
            String bare = key.trim();
            for (String prefix : PREFIXES) {
                if (bare.startsWith(prefix)) {
                    bare = bare.substring(prefix.length());
                }
            }
            Matcher m = SINK_KEY.matcher(bare);
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
