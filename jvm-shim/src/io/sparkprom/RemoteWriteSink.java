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
 * A Spark metrics sink that pushes the registry as Prometheus remote_write. Configure it like any
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
    private final IdentitySource identitySource;
    /** Fixed for the life of the JVM once Spark has it; null until then. */
    private volatile Map<String, String> identity;
    private final long periodMillis;
    /** {@code identityTimeout}: how long reports wait for the JVM's identity. */
    private final long identityWaitMillis;
    /** The identity learnt without SparkEnv once the wait is over; null until then. */
    private FallbackIdentity fallback;
    private final Properties properties;
    /** False when the native library cannot be loaded: the sink then does nothing at all. */
    private final boolean libraryLoaded;
    /** Null until the native core is created (see {@link #handle()}). */
    private volatile NativeHandle handle;
    /** The core was created, or its creation failed and was logged; not tried again either way. */
    private volatile boolean creationSettled;
    private final AtomicBoolean finished = new AtomicBoolean();
    private final long createdAt = System.currentTimeMillis();
    private ScheduledExecutorService scheduler;
    private Thread shutdownHook;
    private volatile boolean reportFailureLogged;

    /** Where a sink learns which JVM it runs in; benchmarks supply one without a SparkEnv. */
    interface IdentitySource {
        /** The identity, or null while it is not known yet. */
        Map<String, String> get();
    }

    /** The constructor Spark 3.2.0 and later call. */
    public RemoteWriteSink(Properties properties, MetricRegistry registry) {
        this(properties, registry, new SparkIdentitySource());
    }

    RemoteWriteSink(Properties properties, MetricRegistry registry, IdentitySource identitySource) {
        this.registry = registry;
        this.identitySource = identitySource;
        this.periodMillis = SinkProperties.periodMillis(properties);
        this.identityWaitMillis = SinkProperties.durationMillis(properties, "identityTimeout", DEFAULT_IDENTITY_TIMEOUT, 1_000, 3_600_000);
        this.properties = properties;
        this.libraryLoaded = NativeLibrary.load(emptyToNull(properties.getProperty("library")),
                emptyToNull(properties.getProperty("libraryExtractDir")));
        // The driver has its SparkEnv now, so the core starts here and an invalid property fails
        // the sink at once. An executor builds its metrics system before its SparkEnv exists; its
        // core starts with the first report, once the full properties can be read (SinkProperties).
        if (libraryLoaded && (SparkIdentity.sparkConf() != null || !(identitySource instanceof SparkIdentitySource))) {
            creationSettled = true;
            handle = createHandle(completeProperties(), periodMillis);
        } else if (libraryLoaded) {
            // Still fail fast on what can be checked now.
            NativeCore.validate(SinkProperties.toBlob(SinkProperties.withSchedule(properties, periodMillis)));
        }
    }

    /** The public constructors' identity: read from the live SparkEnv. */
    private static final class SparkIdentitySource implements IdentitySource {
        @Override
        public Map<String, String> get() {
            return SparkIdentity.current();
        }
    }

    private Properties completeProperties() {
        org.apache.spark.SparkConf conf = SparkIdentity.sparkConf();
        return conf == null ? properties
                : SinkProperties.complete(properties, conf, SparkIdentity.metricsInstance(conf));
    }

    /**
     * Test seam, null in use: runs inside the creation lock just before a deferred core is
     * created, so BoundaryCheck can hold a report there and race stop() against it.
     */
    static volatile Runnable beforeDeferredCreate;

    /** The core as it is now, for checks. */
    NativeHandle handleForChecks() {
        return handle;
    }

    /** The core, created now if it was deferred; null when it cannot be. */
    private NativeHandle handle() {
        NativeHandle h = handle;
        if (h != null || !libraryLoaded) {
            return h;
        }
        // Creation happens under this lock, so a caller that comes while another thread creates
        // the core (the shutdown hook's finish() during the executor's deferred start) waits for
        // it and gets it, instead of finding "settled" with no handle yet and skipping both the
        // last report and the close (which leaked the core and lost the final values).
        synchronized (this) {
            if (!creationSettled) {
                creationSettled = true;
                Runnable hook = beforeDeferredCreate;
                if (hook != null) {
                    hook.run();
                }
                try {
                    handle = createHandle(completeProperties(), periodMillis);
                } catch (Throwable t) {
                    LOG.error("sparkprom: the sink is off in this JVM: " + t.getMessage());
                }
            }
            return handle;
        }
    }

    /** The constructor Spark 3.0 and 3.1 call (and 3.2.1+ as a fallback); the SecurityManager is not needed. */
    public RemoteWriteSink(Properties properties, MetricRegistry registry, org.apache.spark.SecurityManager securityManager) {
        this(properties, registry);
    }

    private static NativeHandle createHandle(Properties properties, long periodMillis) {
        // An invalid property throws IllegalArgumentException here, naming it.
        return new NativeHandle(NativeCore.create(SinkProperties.toBlob(SinkProperties.withSchedule(properties, periodMillis))));
    }

    @Override
    public void start() {
        if (!libraryLoaded) {
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
        if (handle == null) {
            // An executor: start the core as soon as its SparkEnv appears (milliseconds after
            // this), not at the first report, which may come only as the JVM shuts down.
            scheduler.schedule(new Runnable() {
                @Override
                public void run() {
                    boolean waitedLongEnough = System.currentTimeMillis() - createdAt > identityWaitMillis;
                    if (SparkIdentity.sparkConf() != null || waitedLongEnough) {
                        handle();
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
        if (!libraryLoaded) {
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
            NativeHandle h = handle;
            if (h != null) {
                h.close(-1);
            }
        }
    }

    /** Names whose ids this sink holds (for checks and benchmarks); 0 before the core starts. */
    int definedNames() {
        NativeHandle h = handle;
        return h == null ? 0 : h.definedNames();
    }

    @Override
    public void report() {
        report(false);
    }

    private void report(boolean last) {
        if (!libraryLoaded || (finished.get() && !last)) {
            return;
        }
        try {
            if (identity == null) {
                identity = identitySource.get();
            }
            Map<String, String> sent = identity;
            if (sent == null) {
                boolean early = System.currentTimeMillis() - createdAt < identityWaitMillis;
                if (early && !last) {
                    // An executor's SparkEnv appears moments after its metrics system starts;
                    // series sent before that would lack app_id and executor_id.
                    return;
                }
                sent = fallbackIdentity().identity;
            }
            NativeHandle h = handle();
            if (h != null) {
                h.report(registry, sent);
            }
        } catch (Throwable t) {
            // Spark calls report() on paths that do not expect exceptions (Executor.stop()).
            if (!reportFailureLogged) {
                reportFailureLogged = true;
                LOG.warn("sparkprom: a report failed; later failures are not logged", t);
            }
        }
    }

    /**
     * What can be learnt without SparkEnv, once; the first time, one WARN says what is missing,
     * why, and what the series look like (the core counts it in {@code sparkprom_identity_missing}).
     * Spark's standalone daemons have no app identity and are not warned about.
     */
    private FallbackIdentity fallbackIdentity() {
        if (fallback == null) {
            fallback = FallbackIdentity.learn(registry.getNames());
            if (!fallback.daemon) {
                Throwable cause = SparkIdentity.lookupFailure();
                LOG.warn("sparkprom: no Spark identity for this JVM after " + identityWaitMillis / 1000 + " s ("
                        + (cause == null ? "SparkEnv never appeared" : "SparkEnv could not be read: " + cause)
                        + "); " + fallback.consequence() + ". The sink keeps looking and relabels its series"
                        + " once SparkEnv answers. If this Spark release is newer than sparkprom, upgrade sparkprom;"
                        + " otherwise report this line.");
            }
        }
        return fallback;
    }

    private static String emptyToNull(String s) {
        return s == null || s.trim().isEmpty() ? null : s.trim();
    }
}
