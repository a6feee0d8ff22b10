package io.sparkprom;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.spark.SparkConf;
import org.apache.spark.metrics.MetricsConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Recovers the sink's properties whose own names hold a dot ({@code sigv4.region},
 * {@code basicAuth.passwordFile}, {@code tls.caFile}, {@code node.enabled}).
 *
 * <p>Spark's MetricsSystem splits {@code sink.<name>.<property>} with the greedy regex
 * {@code ^sink\.(.+)\.(.+)}, so {@code sink.prom.sigv4.region} becomes property {@code region} of
 * a sink named {@code prom.sigv4}, which has no class and is silently ignored; the real sink never
 * sees it. This class reads the same sources Spark read (Spark's own MetricsConfig over the
 * SparkConf: {@code spark.metrics.conf.*} and the metrics.properties file), finds the sink whose
 * dot-free properties are exactly the ones Spark handed over, and adds its dotted ones.
 *
 * <p>MetricsConfig is called directly (compiled against Spark 3.4, linking only its constructor,
 * {@code initialize()} and {@code getInstance(String)}), not through reflection, which resolves
 * every public signature of a class and so breaks when any of them names a missing class.
 */
final class SinkProperties {
    /** Spark's metrics instances, the likeliest first once the caller has put its own first. */
    private static final String[] INSTANCES = {"driver", "executor", "master", "worker", "applications",
        "shuffleService", "applicationMaster"};

    /**
     * A standalone daemon's own source (registered before its sinks are made) and the metrics
     * instance that configures it: the prefix of the names in its registry.
     */
    private static final String[][] DAEMON_INSTANCES = {{"master.", "master"}, {"worker.", "worker"},
        {"shuffleService.", "shuffleService"}, {"application.", "applications"}};

    private static final Logger LOG = LoggerFactory.getLogger(SinkProperties.class);
    private SinkProperties() {}

    /**
     * The metrics instance whose properties configured a sink: with a SparkConf, the driver's or an
     * executor's; without one (a standalone daemon's JVM, which has no SparkEnv), the daemon's, told
     * by its registry's names ({@code master.*}, {@code worker.*}, {@code shuffleService.*}), and in a
     * master's JVM a registry without the master's names is the {@code applications} instance's
     * (its sources come with the applications). Null when nothing tells.
     *
     * @param command the JVM's main class and arguments ({@code sun.java.command})
     */
    static String instanceOf(SparkConf conf, Collection<String> registryNames, String command) {
        if (conf != null) {
            return SparkIdentity.metricsInstance(conf);
        }
        for (String name : registryNames) {
            for (String[] daemon : DAEMON_INSTANCES) {
                if (name.startsWith(daemon[0])) {
                    return daemon[1];
                }
            }
        }
        String main = command.trim().split("\\s+")[0];
        return main.equals("org.apache.spark.deploy.master.Master") ? "applications" : null;
    }

    /**
     * {@code own} plus the sink's dotted properties, read as Spark read the sink's configuration:
     * from {@code sparkConf} ({@code spark.metrics.conf.*} and the metrics.properties file it names),
     * or, where this JVM has no SparkEnv (a standalone master, worker or shuffle service, which
     * build their SparkConf from the {@code spark.*} system properties; an executor whose SparkEnv
     * never came), from a SparkConf of the system properties. {@code own} alone, with one WARN,
     * when the sink cannot be found there or told apart: a signed (sigv4.*) or TLS (tls.*) sink
     * would otherwise send unsigned or untrusted requests without a word.
     *
     * @param instance the JVM's metrics instance, tried first; null when it is not known
     */
    static Properties complete(Properties own, SparkConf sparkConf, String instance) {
        try {
            SparkConf conf = sparkConf != null ? sparkConf : new SparkConf(true);
            MetricsConfig config = new MetricsConfig(conf);
            config.initialize();
            List<String> order = new ArrayList<String>();
            if (instance != null) {
                order.add(instance);
            }
            for (String other : INSTANCES) {
                if (!other.equals(instance)) {
                    order.add(other);
                }
            }
            for (String name : order) {
                Map.Entry<String, Map<String, String>> sink = matchingSink(own, config.getInstance(name));
                if (sink != null) {
                    Properties all = new Properties();
                    all.putAll(own);
                    all.putAll(sink.getValue());
                    if (sink.getKey() != null) {
                        // An invalid property's ERROR then names this sink's key, not sink.<name>.
                        all.setProperty(PropertyValues.SINK_NAME, sink.getKey());
                    }
                    return all;
                }
            }
            LOG.warn("sparkprom: this sink's properties were not found " + (sparkConf == null
                    ? "in this JVM's spark.* system properties or the metrics.properties they name (there is no"
                    + " SparkEnv here)" : "in Spark's metrics configuration, or two sinks there look alike")
                    + "; properties with a dot in their name (sigv4.*, tls.*, basicAuth.*, node.*), if you set any,"
                    + " are not applied. Give each sink a distinct name and set them in metrics.properties or"
                    + " spark.metrics.conf.*.");
        } catch (Throwable t) {
            // Spark's MetricsConfig changed shape: the dot-free properties still work, the dotted
            // ones (sigv4.*, tls.*, basicAuth.*, node.*) would be missed without a word.
            LOG.warn("sparkprom: cannot read Spark's metrics configuration (" + t + "); properties with a dot"
                    + " in their name (sigv4.region, tls.caFile, node.enabled, ...) are not applied; upgrade sparkprom"
                    + " or report this line.");
        }
        return own;
    }

    /**
     * In one instance's metrics properties ({@code sink.<name>.<property>} keys), the dotted
     * properties of the sink whose dot-free ones equal {@code own}; null when no sink, or more than
     * one with different dotted properties, matches.
     */
    static Map<String, String> dottedPropertiesOf(Properties own, Properties instance) {
        Map.Entry<String, Map<String, String>> sink = matchingSink(own, instance);
        return sink == null ? null : sink.getValue();
    }

    /**
     * {@link #dottedPropertiesOf}'s answer with the sink's name as its key: null when several
     * sinks with the same properties match (the name cannot be told then).
     */
    private static Map.Entry<String, Map<String, String>> matchingSink(Properties own, Properties instance) {
        Map<String, Map<String, String>> sinks = new LinkedHashMap<String, Map<String, String>>();
        for (String key : instance.stringPropertyNames()) {
            if (!key.startsWith("sink.")) {
                continue;
            }
            String rest = key.substring("sink.".length());
            int dot = rest.indexOf('.');
            if (dot <= 0) {
                continue;
            }
            String sink = rest.substring(0, dot);
            if (!sinks.containsKey(sink)) {
                sinks.put(sink, new LinkedHashMap<String, String>());
            }
            sinks.get(sink).put(rest.substring(dot + 1), instance.getProperty(key));
        }
        Map<String, String> ownView = new LinkedHashMap<String, String>();
        for (String key : own.stringPropertyNames()) {
            ownView.put(key, own.getProperty(key));
        }
        Map<String, String> found = null;
        String foundName = null;
        for (Map.Entry<String, Map<String, String>> sink : sinks.entrySet()) {
            Map<String, String> plain = new LinkedHashMap<String, String>();
            Map<String, String> dotted = new LinkedHashMap<String, String>();
            for (Map.Entry<String, String> e : sink.getValue().entrySet()) {
                (e.getKey().indexOf('.') < 0 ? plain : dotted).put(e.getKey(), e.getValue());
            }
            if (!plain.equals(ownView)) {
                continue;
            }
            if (found != null && !found.equals(dotted)) {
                return null;
            }
            foundName = found == null ? sink.getKey() : null;
            found = dotted;
        }
        return found == null ? null : new java.util.AbstractMap.SimpleEntry<String, Map<String, String>>(foundName, found);
    }

    /**
     * The same sink as {@code otherInstance} sees it: the sink of {@code ownInstance} whose dot-free
     * properties are {@code own}, found by name in {@code otherInstance}'s metrics properties, with
     * all its properties (dotted ones too). The driver checks the executors' sink with it. Null
     * when there is no such sink there, when the sink cannot be told apart, or when Spark's
     * metrics configuration cannot be read.
     */
    static Properties sameSinkFor(Properties own, SparkConf sparkConf, String ownInstance, String otherInstance) {
        if (sparkConf == null) {
            return null;
        }
        try {
            MetricsConfig config = new MetricsConfig(sparkConf);
            config.initialize();
            String name = sinkNameOf(own, config.getInstance(ownInstance));
            if (name == null) {
                return null;
            }
            Properties other = config.getInstance(otherInstance);
            Properties sink = new Properties();
            String prefix = "sink." + name + ".";
            for (String key : other.stringPropertyNames()) {
                if (key.startsWith(prefix)) {
                    sink.setProperty(key.substring(prefix.length()), other.getProperty(key));
                }
            }
            return sink.isEmpty() ? null : sink;
        } catch (Throwable t) {
            return null;
        }
    }

    /** The name of the one sink in {@code instance} whose dot-free properties equal {@code own}. */
    private static String sinkNameOf(Properties own, Properties instance) {
        Map<String, Map<String, String>> plain = new LinkedHashMap<String, Map<String, String>>();
        for (String key : instance.stringPropertyNames()) {
            if (!key.startsWith("sink.")) {
                continue;
            }
            String rest = key.substring("sink.".length());
            int dot = rest.indexOf('.');
            if (dot <= 0 || rest.indexOf('.', dot + 1) >= 0) {
                continue;
            }
            String sink = rest.substring(0, dot);
            if (!plain.containsKey(sink)) {
                plain.put(sink, new LinkedHashMap<String, String>());
            }
            plain.get(sink).put(rest.substring(dot + 1), instance.getProperty(key));
        }
        Map<String, String> ownView = new LinkedHashMap<String, String>();
        for (String key : own.stringPropertyNames()) {
            ownView.put(key, own.getProperty(key));
        }
        String found = null;
        for (Map.Entry<String, Map<String, String>> e : plain.entrySet()) {
            if (e.getValue().equals(ownView)) {
                if (found != null) {
                    return null;
                }
                found = e.getKey();
            }
        }
        return found;
    }
}
