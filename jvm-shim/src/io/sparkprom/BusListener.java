package io.sparkprom;

import java.lang.reflect.Field;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkContext$;
import org.apache.spark.SparkFirehoseListener;
import org.apache.spark.scheduler.SparkListenerEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The driver sink's own listener, on its own queue of Spark's listener bus ({@value #QUEUE}): it
 * needs no {@code spark.extraListeners}, nothing else on the bus waits for it, and the events it
 * cannot keep up with are dropped from its queue alone (Spark counts them in
 * {@code queue.sparkprom.numDroppedEvents}, which the sink exports).
 *
 * <p>The sink starts while the SparkContext is being built, before the bus delivers anything: a
 * listener added then gets every event of the application from the first. Spark keeps that
 * context in a private field ({@code contextBeingConstructed}); where it cannot be read, the
 * listener is added as soon as {@code SparkContext.getActive} answers, and says what it missed.
 */
final class BusListener extends SparkFirehoseListener {
    private static final Logger LOG = LoggerFactory.getLogger(BusListener.class);
    static final String QUEUE = "sparkprom";

    private final SparkSignals signals;
    private volatile SparkContext context;
    private volatile boolean failureLogged;

    BusListener(SparkSignals signals) {
        this.signals = signals;
    }

    @Override
    public void onEvent(SparkListenerEvent event) {
        try {
            signals.onEvent(event);
        } catch (Throwable t) {
            // Spark would log and go on; say it once, with what is affected.
            if (!failureLogged) {
                failureLogged = true;
                LOG.warn("sparkprom: the listener failed on " + event.getClass().getSimpleName() + " (" + t
                        + "); that event is left out of the spark_job/stage/task series. Report this line with"
                        + " your Spark version (later failures are not logged).", t);
            }
        }
    }

    /** Whether the listener is on a bus. */
    boolean attached() {
        return context != null;
    }

    /**
     * Adds the listener to the context being built (at the sink's start), else to the active
     * one; false while there is neither (call again later).
     */
    synchronized boolean attach() {
        if (context != null) {
            return true;
        }
        SparkContext sc = contextBeingBuilt();
        boolean early = sc != null;
        if (sc == null) {
            scala.Option<SparkContext> active = SparkContext$.MODULE$.getActive();
            sc = active.isDefined() ? active.get() : null;
        }
        if (sc == null) {
            return false;
        }
        sc.listenerBus().addToQueue(this, QUEUE);
        context = sc;
        if (!early) {
            // The application start event went by before the listener: take the time from Spark.
            signals.applicationStarted(sc.startTime());
            LOG.info("sparkprom: listening to the driver's events from now on; jobs that started before"
                    + " are not in the spark_job/stage series");
        }
        return true;
    }

    /** Takes the listener off the bus (the sink stops). */
    synchronized void detach() {
        SparkContext sc = context;
        if (sc != null) {
            try {
                sc.listenerBus().removeListener(this);
            } catch (Throwable t) {
                // The bus is stopping with the context: nothing left to take off.
            }
        }
    }

    /** The SparkContext whose constructor is running, or null when there is none or it cannot be read. */
    private static SparkContext contextBeingBuilt() {
        try {
            // An instance field on Scala 2.12 (Spark 3), a static one on 2.13 (Spark 4): get()
            // takes the module either way. Spark's jars are on the class path (the unnamed
            // module), so setAccessible is allowed on every JDK.
            Field field = SparkContext$.class.getDeclaredField("contextBeingConstructed");
            field.setAccessible(true);
            Object value = field.get(SparkContext$.MODULE$);
            if (value instanceof scala.Option && ((scala.Option<?>) value).isDefined()) {
                return (SparkContext) ((scala.Option<?>) value).get();
            }
        } catch (Throwable t) {
            LOG.debug("sparkprom: cannot see the SparkContext being built: " + t);
        }
        return null;
    }
}
