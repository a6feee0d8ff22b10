package io.sparkprom;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.runtime.AbstractFunction0;
import scala.runtime.BoxedUnit;

/**
 * The sink's last report at JVM exit, after Spark's own shutdown work. A plain JVM hook runs at
 * the same time as Spark's: an application that ends without {@code spark.stop()} (a PySpark
 * script that just ends, a Scala main that returns) has its SparkContext stopped by Spark's hook,
 * which posts the application's end only then, and a sink that flushed from its own hook had
 * already gone, so the end never arrived and the "did not finish" alert paged for a normal end.
 * Spark's ShutdownHookManager runs its hooks one after another by priority: this one comes after
 * the SparkContext's ({@value #PRIORITY} &lt; 50) and the executor's stop (100). Where that manager
 * cannot be used, a JVM hook does what it can.
 */
final class ShutdownHooks {
    private static final Logger LOG = LoggerFactory.getLogger(ShutdownHooks.class);

    /**
     * Below SPARK_CONTEXT_SHUTDOWN_PRIORITY (50) and the default (100), where the executor stops:
     * after both. Above TEMP_DIR_SHUTDOWN_PRIORITY (25): the sink needs no temp dir, but nothing is
     * gained by waiting for their deletion.
     */
    static final int PRIORITY = 40;

    private ShutdownHooks() {}

    /** Registers {@code hook}; returns what {@link #remove} takes, or null when none could be added. */
    static Object add(final Runnable hook) {
        try {
            return org.apache.spark.util.ShutdownHookManager.addShutdownHook(PRIORITY, new AbstractFunction0<BoxedUnit>() {
                @Override
                public BoxedUnit apply() {
                    hook.run();
                    return BoxedUnit.UNIT;
                }
            });
        } catch (Throwable t) {
            LOG.debug("sparkprom: Spark's shutdown hooks cannot be used (" + t + "); using a JVM hook");
        }
        Thread thread = new Thread(hook, "sparkprom-shutdown");
        try {
            Runtime.getRuntime().addShutdownHook(thread);
            return thread;
        } catch (IllegalStateException alreadyShuttingDown) {
            return null;
        }
    }

    /** Takes a hook off (the sink stopped on its own); nothing when it is running or ran. */
    static void remove(Object handle) {
        try {
            if (handle instanceof Thread) {
                Runtime.getRuntime().removeShutdownHook((Thread) handle);
            } else if (handle != null) {
                org.apache.spark.util.ShutdownHookManager.removeShutdownHook(handle);
            }
        } catch (Throwable shuttingDown) {
            // the hook is running or ran: nothing left to do
        }
    }
}
