package io.sparkprom;

import com.codahale.metrics.MetricRegistry;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.metrics.sink.Sink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Spark metrics sink that pushes the registry as Prometheus remote_write: Spark's side of the
 * sink (constructors, the report schedule, the shutdown hook), with the native core in
 * {@link SinkCore} and the JVM's identity in {@link JvmIdentity}. Configure it like any
 * Spark sink, e.g. {@code spark.metrics.conf.*.sink.prom.class=io.sparkprom.RemoteWriteSink} and
 * {@code ...sink.prom.url=http://prometheus:9090/api/v1/write}.
 *
 * <p>It never harms the job: {@link #report()} only packs the registry and queues it (the native
 * core does the network work on its own threads) and never throws; a native library that cannot be
 * loaded leaves a sink that logs one error and does nothing. Invalid properties fail fast, like
 * Spark's own sinks, with a message that names the property.
 */
public class RemoteWriteSink implements Sink {
    private static final Logger LOG = LoggerFactory.getLogger(RemoteWriteSink.class);

    /** How long reports wait for a SparkEnv before they go out with what {@link FallbackIdentity} learns. */
    static final String DEFAULT_IDENTITY_TIMEOUT = "60s";
    /** How often a deferred core looks for the executor's SparkEnv. */
    static final long CORE_START_POLL_MILLIS = 100;

    private final MetricRegistry registry;
    private final JvmIdentity identity;
    private final long periodMillis;
    /** Null when the native library cannot be loaded: the sink then does nothing at all. */
    private final SinkCore core;
    private final AtomicBoolean finished = new AtomicBoolean();
    private ScheduledExecutorService scheduler;
    private Thread shutdownHook;
    private volatile boolean reportFailureLogged;

    /** The constructor Spark 3.2.0 and later call. */
    public RemoteWriteSink(Properties properties, MetricRegistry registry) {
        this(properties, registry, JvmIdentity.SPARK_ENV);
    }

    /** The constructor Spark 3.0 and 3.1 call (and 3.2.1+ as a fallback); the SecurityManager is not needed. */
    public RemoteWriteSink(Properties properties, MetricRegistry registry, org.apache.spark.SecurityManager securityManager) {
        this(properties, registry);
    }

    RemoteWriteSink(Properties properties, MetricRegistry registry, JvmIdentity.Source identitySource) {
        this.registry = registry;
        this.periodMillis = SinkProperties.periodMillis(properties);
        this.identity = new JvmIdentity(identitySource, registry,
                SinkProperties.durationMillis(properties, "identityTimeout", DEFAULT_IDENTITY_TIMEOUT, 1_000, 3_600_000));
        boolean loaded = NativeLibrary.load(emptyToNull(properties.getProperty("library")),
                emptyToNull(properties.getProperty("libraryExtractDir")));
        // The driver has its SparkEnv now, so the core starts here and an invalid property fails
        // the sink at once. An executor builds its metrics system before its SparkEnv exists; its
        // core starts as soon as that appears, once the full properties can be read (SinkProperties).
        boolean complete = !identity.fromSparkEnv() || SparkIdentity.sparkConf() != null;
        this.core = loaded ? new SinkCore(properties, periodMillis, complete) : null;
    }

    /** The core as it is now, for checks; null before a deferred start or without the library. */
    NativeHandle handleForChecks() {
        return core == null ? null : core.handleForChecks();
    }

    @Override
    public void start() {
        if (core == null) {
            return;
        }
        scheduler = Executors.newSingleThreadScheduledExecutor(new ThreadFactory() {
            @Override
            public Thread newThread(Runnable r) {
                Thread t = new Thread(r, "sparkprom-reporter");
                t.setDaemon(true);
                return t;
            }
        });
        scheduler.scheduleAtFixedRate(new Runnable() {
            @Override
            public void run() {
                report();
            }
        }, periodMillis, periodMillis, TimeUnit.MILLISECONDS);
        if (!core.started()) {
            // An executor: start the core as soon as its SparkEnv appears (milliseconds after
            // this), not at the first report, which may come only as the JVM shuts down.
            scheduler.schedule(new Runnable() {
                @Override
                public void run() {
                    if (SparkIdentity.sparkConf() != null || identity.waitedLongEnough()) {
                        core.handle();
                    } else if (!finished.get()) {
                        scheduler.schedule(this, CORE_START_POLL_MILLIS, TimeUnit.MILLISECONDS);
                    }
                }
            }, CORE_START_POLL_MILLIS, TimeUnit.MILLISECONDS);
        }
        // Spark does not call stop() on every path out of an executor; the hook still sends
        // the last values.
        shutdownHook = new Thread(new Runnable() {
            @Override
            public void run() {
                finish();
            }
        }, "sparkprom-shutdown");
        try {
            Runtime.getRuntime().addShutdownHook(shutdownHook);
        } catch (IllegalStateException alreadyShuttingDown) {
            shutdownHook = null;
        }
    }

    @Override
    public void stop() {
        if (core == null) {
            return;
        }
        finish();
        if (shutdownHook != null) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException alreadyShuttingDown) {
                // the hook is running or ran: nothing left to do
            }
        }
    }

    /** Last report, then the final flush; the second caller finds the handle closed. */
    private void finish() {
        if (scheduler != null) {
            scheduler.shutdown();
        }
        if (finished.compareAndSet(false, true)) {
            report(true);
            core.close();
        }
    }

    /** Names whose ids this sink holds (for checks and benchmarks); 0 before the core starts. */
    int definedNames() {
        return core == null ? 0 : core.definedNames();
    }

    @Override
    public void report() {
        report(false);
    }

    private void report(boolean last) {
        if (core == null || (finished.get() && !last)) {
            return;
        }
        try {
            Map<String, String> sent = identity.forReport(last);
            if (sent != null) {
                core.report(registry, sent);
            }
        } catch (Throwable t) {
            // Spark calls report() on paths that do not expect exceptions (Executor.stop()).
            if (!reportFailureLogged) {
                reportFailureLogged = true;
                LOG.warn("sparkprom: a report failed; later failures are not logged", t);
            }
        }
    }

    private static String emptyToNull(String s) {
        return s == null || s.trim().isEmpty() ? null : s.trim();
    }
}
