package io.sparkprom;

import com.codahale.metrics.MetricRegistry;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
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
 * loaded, or an invalid property, leaves a sink that logs one error and does nothing (with
 * {@code failOnConfigError=true} an invalid property fails fast, like Spark's own sinks).
 */
public class RemoteWriteSink implements Sink {
    private static final Logger LOG = LoggerFactory.getLogger(RemoteWriteSink.class);

    /** How often a deferred core looks for the executor's SparkEnv. */
    static final long CORE_START_POLL_MILLIS = 100;

    private final MetricRegistry registry;
    private final JvmIdentity identity;
    private final long periodMillis;
    /** Null when the native library cannot be loaded: the sink then does nothing at all. */
    private final SinkCore core;
    private final AtomicBoolean finished = new AtomicBoolean();
    /** Open once the last report and the final flush are done, whoever made them. */
    private final CountDownLatch flushed = new CountDownLatch(1);
    /** How long a second caller of finish() waits for the first one's flush: flushTimeout and a margin. */
    private final long flushWaitMillis;
    /** The sink's own properties (dotted ones, such as listener.enabled, come from SparkConf). */
    private final Properties properties;
    /** The driver's listener; null on executors, daemons, and with listener.enabled=false. */
    private volatile BusListener busListener;
    private volatile SparkSignals signals;
    private ScheduledExecutorService scheduler;
    /** What {@link ShutdownHooks#add} gave, to take the hook off at stop(). */
    private Object shutdownHook;
    private volatile boolean reportFailureLogged;
    private static volatile boolean driverUnknownLogged;

    /** The constructor Spark 3.2.0 and later call. */
    public RemoteWriteSink(Properties properties, MetricRegistry registry) {
        this(properties, registry, JvmIdentity.SPARK_ENV);
    }

    /** The constructor Spark 3.0 and 3.1 call (and 3.2.1+ as a fallback); the SecurityManager is not needed. */
    public RemoteWriteSink(Properties properties, MetricRegistry registry, org.apache.spark.SecurityManager securityManager) {
        this(properties, registry);
    }

    /**
     * An invalid property turns the sink off in this JVM with one ERROR naming it (the job runs
     * on without metrics) unless {@code failOnConfigError=true}, which makes it fail the sink's
     * creation, and so the SparkContext or the executor, as Spark's own sinks do: for teams that
     * test their configuration before it reaches a cluster.
     */
    RemoteWriteSink(Properties properties, MetricRegistry registry, JvmIdentity.Source identitySource) {
        this.registry = registry;
        long period = PropertyValues.DEFAULT_PERIOD * 1000L;
        long flushWait = 15_000;
        JvmIdentity learnt = null;
        SinkCore started = null;
        try {
            period = PropertyValues.periodMillis(properties);
            flushWait = PropertyValues.flushWaitMillis(properties);
            learnt = new JvmIdentity(identitySource, registry,
                    PropertyValues.identityTimeoutMillis(properties));
            if (NativeLibrary.load(emptyToNull(properties.getProperty("library")),
                    emptyToNull(properties.getProperty("libraryExtractDir")))) {
                // The driver has its SparkEnv now, so the core starts here and an invalid property
                // is found at once. An executor builds its metrics system before its SparkEnv
                // exists; its core starts as soon as that appears, once the full properties can be
                // read (SinkProperties), and what can be checked before is checked now.
                boolean complete = !learnt.fromSparkEnv() || learnt.daemonJvm() || SparkIdentity.sparkConf() != null;
                started = new SinkCore(properties, period, complete, registry);
                if (learnt.fromSparkEnv() && isDriverSink(learnt, registry)) {
                    checkExecutorsProperties(properties);
                }
            }
        } catch (IllegalArgumentException invalid) {
            started = closeQuietly(started);
            if (failOnConfigError(properties)) {
                throw invalid;
            }
            ConfigErrors.report(invalid.getMessage());
        } catch (Throwable t) {
            // Anything else (a thread that cannot start under the container's pids.max, a
            // library that fails inside): only failOnConfigError may fail the job, and only for a
            // property. The SparkContext or the executor starts without the sink.
            LOG.error("sparkprom: the sink is off in this JVM: it could not start (" + t + "). The job runs on"
                    + " without its metrics. Report this line if the cause is not the machine's (threads, memory).");
            started = closeQuietly(started);
        }
        this.periodMillis = period;
        this.properties = properties;
        this.flushWaitMillis = flushWait;
        this.identity = learnt;
        this.core = learnt == null ? null : started;
    }

    /**
     * On the driver, the executors' sink properties (the same sink as the executor instance
     * sees it in Spark's metrics configuration, dotted properties included) are checked as the
     * executors will check them, so an invalid one is found where failOnConfigError can fail the
     * application, not only in every executor's log. Without failOnConfigError it is one ERROR
     * here, and the driver's sink goes on.
     *
     * @throws IllegalArgumentException naming the property, with failOnConfigError=true
     */
    private static void checkExecutorsProperties(Properties driverProperties) {
        Properties executors = SinkProperties.sameSinkFor(driverProperties, SparkIdentity.sparkConf(), "driver",
                "executor");
        if (executors == null) {
            return;
        }
        try {
            NativeCore.validate(PropertyValues.toBlob(executors));
            PropertyValues.checkJvmProperties(executors);
        } catch (IllegalArgumentException invalid) {
            String problem = invalid.getMessage() + " (in the executors' sink: each executor will turn its sink off)";
            if (failOnConfigError(driverProperties)) {
                throw new IllegalArgumentException(problem, invalid);
            }
            LOG.error(problem + ". The driver's sink sends; fix the property (failOnConfigError=true makes this"
                    + " fail the application instead).");
        }
    }

    private static SinkCore closeQuietly(SinkCore core) {
        if (core != null) {
            try {
                core.close();
            } catch (Throwable ignored) {
                // it was never used
            }
        }
        return null;
    }

    /** {@code failOnConfigError}: whether an invalid property fails the sink's creation. */
    static boolean failOnConfigError(Properties properties) {
        return "true".equalsIgnoreCase(properties.getProperty("failOnConfigError", "false").trim());
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
        try {
            startReporting();
        } catch (Throwable t) {
            // A thread that cannot be created (the container's pids.max), or worse: the sink
            // turns itself off; Spark must not see an exception from start().
            LOG.error("sparkprom: the sink is off in this JVM: it could not start its schedule (" + t + "). The job"
                    + " runs on without its metrics.");
            finished.set(true);
            if (scheduler != null) {
                scheduler.shutdownNow();
            }
            core.close();
        }
    }

    private void startReporting() {
        startListening();
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
        shutdownHook = ShutdownHooks.add(new Runnable() {
            @Override
            public void run() {
                finish();
            }
        });
    }

    /**
     * On the driver's sink, puts the listener on the bus: now, while the SparkContext is being
     * built, so it sees every event. A standalone master's or worker's sink in the driver's JVM
     * (local-cluster) sees the driver's SparkEnv too; its registry has no driver names.
     */
    private void startListening() {
        if (!isDriverSink(identity, registry)) {
            return;
        }
        boolean enabled;
        int maxKeys;
        try {
            // Spark hands a sink no property with a dot in its name: read them as SinkCore does.
            org.apache.spark.SparkConf conf = SparkIdentity.sparkConf();
            Properties complete = SinkProperties.complete(properties, conf, "driver");
            enabled = PropertyValues.listenerEnabled(complete);
            maxKeys = PropertyValues.listenerMaxKeys(complete);
        } catch (IllegalArgumentException invalid) {
            LOG.error(invalid.getMessage() + ". The driver's listener is off (no job, stage, task or streaming"
                    + " series); the registry's metrics are still sent. Fix the property.");
            return;
        }
        if (!enabled) {
            return;
        }
        try {
            signals = new SparkSignals(maxKeys);
            busListener = new BusListener(signals);
            busListener.attach();
        } catch (Throwable t) {
            busListener = null;
            signals = null;
            LOG.warn("sparkprom: cannot listen to the driver's events (" + t + "); the spark_job, spark_stage and"
                    + " spark_task series are not sent, the registry's metrics are. Report this line with your"
                    + " Spark version, or set listener.enabled=false to silence it.");
        }
    }

    /**
     * Whether this sink is the driver's own: this JVM's SparkEnv is the driver's, and the
     * registry is its metrics system's (not that of a standalone master or worker in the same JVM,
     * as local-cluster runs them). Decided from what Spark says, not from the registry's names,
     * which are empty when the sink starts with spark.metrics.staticSources.enabled=false.
     */
    private static boolean isDriverSink(JvmIdentity identity, MetricRegistry registry) {
        org.apache.spark.SparkConf conf = SparkIdentity.sparkConf();
        if (conf == null || !"driver".equals(conf.get("spark.executor.id", "")) || identity.daemonJvm()) {
            return false;
        }
        Boolean own = SparkIdentity.isSparkEnvRegistry(registry);
        if (own != null) {
            return own;
        }
        // Spark's MetricsSystem changed shape: fall back to the names (the static sources'
        // prefix, there unless spark.metrics.staticSources.enabled=false).
        for (String name : registry.getNames()) {
            if (name.contains(".driver.")) {
                return true;
            }
        }
        if (!driverUnknownLogged) {
            driverUnknownLogged = true;
            LOG.warn("sparkprom: cannot tell whether this sink is the driver's (Spark's metrics system has no"
                    + " readable registry); the listener is off: no spark_job, spark_stage or spark_task series."
                    + " Report this line with your Spark version.");
        }
        return false;
    }

    /** The driver's listener series, for checks; null where there is no listener. */
    SparkSignals signalsForChecks() {
        return signals;
    }

    @Override
    public void stop() {
        if (core == null) {
            return;
        }
        finish();
        ShutdownHooks.remove(shutdownHook);
    }

    /**
     * Last report, then the final flush. A second caller (stop() and the shutdown hook race at
     * JVM exit) waits until the first one has flushed, for at most flushTimeout and a margin: if it
     * returned at once, the JVM could halt in the middle of the flush.
     */
    private void finish() {
        if (scheduler != null) {
            scheduler.shutdown();
        }
        if (finished.compareAndSet(false, true)) {
            try {
                report(true);
                core.close();
            } finally {
                flushed.countDown();
                BusListener listener = busListener;
                if (listener != null) {
                    listener.detach();
                }
            }
            return;
        }
        try {
            flushed.await(flushWaitMillis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
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
                core.report(registry, sent, listenerSignals());
            }
        } catch (Throwable t) {
            // Spark calls report() on paths that do not expect exceptions (Executor.stop()).
            if (!reportFailureLogged) {
                reportFailureLogged = true;
                LOG.warn("sparkprom: a report failed; later failures are not logged", t);
            }
        }
    }

    /** The listener's series once it is on the bus (attached late if it could not be at start). */
    private SparkSignals listenerSignals() {
        BusListener listener = busListener;
        if (listener == null) {
            return null;
        }
        try {
            return listener.attached() || listener.attach() ? signals : null;
        } catch (Throwable t) {
            busListener = null;
            LOG.warn("sparkprom: cannot listen to the driver's events (" + t + "); the spark_job, spark_stage and"
                    + " spark_task series are not sent. Report this line with your Spark version.");
            return null;
        }
    }

    private static String emptyToNull(String s) {
        return s == null || s.trim().isEmpty() ? null : s.trim();
    }
}
