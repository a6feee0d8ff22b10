package io.sparkprom;

import com.codahale.metrics.MetricRegistry;
import java.util.Map;
import java.util.Properties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The native core of one sink: started at once where Spark's configuration is there (a driver),
 * or deferred until it is (an executor builds its metrics system before its SparkEnv), then
 * reported into and closed once. Knows nothing of the JVM's identity: {@link JvmIdentity} does.
 */
final class SinkCore {
    private static final Logger LOG = LoggerFactory.getLogger(SinkCore.class);

    /**
     * Test seam, null in use: runs inside the creation lock just before a deferred core is
     * created, so BoundaryCheck can hold a report there and race stop() against it.
     */
    static volatile Runnable beforeDeferredCreate;

    private final Properties properties;
    private final long periodMillis;
    /** The sink's registry: its names tell a standalone daemon's metrics instance. */
    private final MetricRegistry registry;
    /** Null until the native core is created (see {@link #handle()}). */
    private volatile NativeHandle handle;
    /** The core was created, or its creation failed and was logged; not tried again either way. */
    private volatile boolean creationSettled;

    /**
     * @param startNow whether the properties are complete now (Spark's configuration is there, or
     *     the caller has none to wait for); else the core starts at the first {@link #handle()}
     * @param registry the sink's registry, whose names tell a standalone daemon's metrics instance
     * @throws IllegalArgumentException naming the property when one is invalid
     */
    SinkCore(Properties properties, long periodMillis, boolean startNow, MetricRegistry registry) {
        this.properties = properties;
        this.periodMillis = periodMillis;
        this.registry = registry;
        if (startNow) {
            creationSettled = true;
            handle = create();
        } else {
            // Still fail fast on what can be checked now.
            NativeCore.validate(PropertyValues.toBlob(PropertyValues.withSchedule(properties, periodMillis)));
        }
    }

    /** Whether the core exists (it may be deferred). */
    boolean started() {
        return handle != null;
    }

    /** The core as it is now, for checks. */
    NativeHandle handleForChecks() {
        return handle;
    }

    /** The core, created now if it was deferred; null when it cannot be. */
    NativeHandle handle() {
        NativeHandle h = handle;
        if (h != null) {
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
                    handle = create();
                } catch (IllegalArgumentException invalid) {
                    ConfigErrors.report(invalid.getMessage());
                } catch (Throwable t) {
                    LOG.error("sparkprom: the sink is off in this JVM: " + t);
                }
            }
            return handle;
        }
    }

    /** Packs the registry with this identity and hands it to the core (created if deferred). */
    void report(MetricRegistry registry, Map<String, String> identity, SparkSignals signals) {
        NativeHandle h = handle();
        if (h != null) {
            h.report(registry, identity, signals);
        }
    }

    /** The final flush and release; a deferred core that never started has nothing to close. */
    void close() {
        NativeHandle h = handle;
        if (h != null) {
            h.close(-1);
        }
    }

    /** Names whose ids this sink holds (for checks and benchmarks); 0 before the core starts. */
    int definedNames() {
        NativeHandle h = handle;
        return h == null ? 0 : h.definedNames();
    }

    /**
     * Creates the core with the properties as Spark's configuration completes them (the dotted
     * ones): from SparkEnv's SparkConf, or where there is none from the system properties.
     */
    private NativeHandle create() {
        org.apache.spark.SparkConf conf = SparkIdentity.sparkConf();
        Properties complete = SinkProperties.complete(properties, conf, SinkProperties.instanceOf(conf,
                registry.getNames(), System.getProperty("sun.java.command", "")));
        // An invalid property throws IllegalArgumentException here, naming it.
        return new NativeHandle(NativeCore.create(PropertyValues.toBlob(PropertyValues.forCore(complete, periodMillis))));
    }
}
