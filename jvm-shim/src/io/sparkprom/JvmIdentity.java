package io.sparkprom;

import com.codahale.metrics.MetricRegistry;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who this JVM is, for each report: Spark's identity (app id, app name, executor id, namespace)
 * once its SparkEnv answers, fixed from then on; before that, nothing (reports wait) until
 * {@code identityTimeout}, then what {@link FallbackIdentity} learns without SparkEnv, with one
 * WARN. Knows nothing of the native core: {@link SinkCore} does.
 */
final class JvmIdentity {
    private static final Logger LOG = LoggerFactory.getLogger(JvmIdentity.class);

    /** Where a sink learns which JVM it runs in; benchmarks and checks supply one without a SparkEnv. */
    interface Source {
        /** The identity, or null while it is not known yet. */
        Map<String, String> get();
    }

    /** The public constructors' source: the live SparkEnv. */
    static final Source SPARK_ENV = new Source() {
        @Override
        public Map<String, String> get() {
            return SparkIdentity.current();
        }
    };

    private final Source source;
    private final MetricRegistry registry;
    /** {@code identityTimeout}: how long reports wait for the JVM's identity. */
    private final long waitMillis;
    private final long createdAt = System.currentTimeMillis();
    /** A standalone master, worker, shuffle service or history server. */
    private final boolean daemonJvm = FallbackIdentity.thisJvmIsADaemon();
    /** Fixed for the life of the JVM once Spark has it; null until then. */
    private volatile Map<String, String> known;
    /** The identity learnt without SparkEnv once the wait is over; null until then. */
    private FallbackIdentity fallback;
    /** Whether a registry name was seen to start with the known identity's namespace. */
    private boolean namespaceConfirmed;
    /** When the fallback was taken, as its WARN says it; null until then. */
    private String gaveUp;

    JvmIdentity(Source source, MetricRegistry registry, long waitMillis) {
        this.source = source;
        this.registry = registry;
        this.waitMillis = waitMillis;
    }

    /** Whether Spark's configuration, which completes the sink's properties, can be waited for. */
    boolean fromSparkEnv() {
        return source == SPARK_ENV;
    }

    /** Whether this JVM is a standalone daemon: it has no SparkEnv to wait for. */
    boolean daemonJvm() {
        return daemonJvm;
    }

    /** Whether {@code identityTimeout} has passed since the sink was made. */
    boolean waitedLongEnough() {
        return sinceCreated() > waitMillis;
    }

    private long sinceCreated() {
        return System.currentTimeMillis() - createdAt;
    }

    /**
     * The identity to send with a report, or null when the report should wait for it: an
     * executor's SparkEnv appears moments after its metrics system starts, and series sent before
     * that would lack app_id and executor_id. The last report never waits.
     */
    Map<String, String> forReport(boolean last) {
        if (known == null) {
            known = source.get();
        }
        if (known != null) {
            if (!namespaceConfirmed) {
                known = withNamespaceOfTheNames(known);
            }
            return known;
        }
        // A standalone daemon never gets a SparkEnv: nothing to wait for.
        if (!waitedLongEnough() && !last && !daemonJvm) {
            return null;
        }
        return fallback().identity;
    }

    /** When the fallback identity was taken, as the WARN said it (for checks); null before. */
    synchronized String gaveUp() {
        return gaveUp;
    }

    /**
     * The identity whose namespace the registry's names really start with. Spark expands
     * {@code spark.metrics.namespace} itself ({@code ${spark.app.name}}, {@code ${env:X}}, ...);
     * should our reading of it differ from Spark's, every name would keep its ids and go out with
     * role "other". The names are the truth: once one starts with {@code <namespace>.<executorId>.}
     * the namespace is confirmed; otherwise the most common prefix before {@code .<executorId>.}
     * is taken.
     */
    private Map<String, String> withNamespaceOfTheNames(Map<String, String> identity) {
        String executorId = identity.get("executor_id");
        String namespace = identity.get("namespace");
        String prefix = namespace + "." + executorId + ".";
        for (String name : registry.getNames()) {
            if (name.startsWith(prefix)) {
                namespaceConfirmed = true;
                return identity;
            }
        }
        String learnt = FallbackIdentity.prefixBefore(registry.getNames(), executorId);
        if (learnt.isEmpty()) {
            return identity; // no name of this JVM yet: look again at the next report
        }
        namespaceConfirmed = true;
        LOG.info("sparkprom: the metric names start with '" + learnt + "." + executorId + ".', not with the"
                + " namespace read from spark.metrics.namespace ('" + namespace + "'); using '" + learnt + "'");
        Map<String, String> corrected = new java.util.LinkedHashMap<String, String>(identity);
        corrected.put("namespace", learnt);
        return corrected;
    }

    /**
     * What can be learnt without SparkEnv, once; the first time, one WARN says what is missing,
     * why, and what the series look like (the core counts it in {@code sparkprom_identity_missing}).
     * Spark's standalone daemons have no app identity and are not warned about.
     */
    private synchronized FallbackIdentity fallback() {
        if (fallback == null) {
            fallback = FallbackIdentity.learn(registry.getNames());
            // The last report does not wait out identityTimeout: say which it was.
            long waited = sinceCreated();
            gaveUp = waited > waitMillis ? "after " + seconds(waitMillis) + " (identityTimeout)"
                    : "at the sink's last report, " + seconds(waited) + " after it started (before identityTimeout, "
                    + seconds(waitMillis) + ": the last report does not wait)";
            if (!fallback.daemon) {
                Throwable cause = SparkIdentity.lookupFailure();
                LOG.warn("sparkprom: no Spark identity for this JVM " + gaveUp + ": "
                        + (cause == null ? "SparkEnv never appeared" : "SparkEnv could not be read: " + cause)
                        + "; " + fallback.consequence() + ". The sink keeps looking and relabels its series"
                        + " once SparkEnv answers. If this Spark release is newer than sparkprom, upgrade sparkprom;"
                        + " otherwise report this line.");
            }
        }
        return fallback;
    }

    /** {@code 60 s}, {@code 0.4 s}. */
    private static String seconds(long millis) {
        return millis % 1000 == 0 ? millis / 1000 + " s"
                : String.format(java.util.Locale.ROOT, "%.1f s", millis / 1000.0);
    }
}
