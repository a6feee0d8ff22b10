package io.sparkprom;

import com.codahale.metrics.Gauge;
import java.lang.reflect.Field;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkContext$;
import org.apache.spark.SparkFirehoseListener;
import org.apache.spark.scheduler.SparkListenerApplicationEnd;
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

    /** The longest the listener waits to gather events (see {@link #gather()}). */
    static final long MAX_GATHER_MILLIS = 50;
    /** Events a second that would fill the queue during one wait of a smaller queue. */
    static final int FILLING_RATE = 200_000;
    /**
     * Events a wait should gather to be worth it: a wait is a wake-up of its own, and events that
     * come one or two at a time cost one wake-up each without it.
     */
    static final int WORTH_WAITING = 4;

    private final SparkSignals signals;
    private volatile SparkContext context;
    private volatile boolean failureLogged;
    /** Spark's gauge of this listener's queue size; null when not gathering. */
    private volatile Gauge<?> queueSize;
    private volatile int capacity;
    private volatile long longestWait;
    /** The queue's thread alone uses these: the wait, events handled, the stretch the rate is judged on. */
    private long wait;
    private long handled;
    private long handledAtStretchStart;
    private long stretchStartNanos;
    private boolean gatherNow;

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
        if (event instanceof SparkListenerApplicationEnd) {
            queueSize = null; // nothing to gather any more: let Spark's stop drain the queue at once
        }
        handled++;
        gather();
    }

    /**
     * When the queue is empty after an event and events have been coming fast enough for a wait
     * to gather a few, waits for them before going back to the queue. Spark's queue thread wakes
     * for every event it takes from an empty queue, and that wake-up, not the listener's work,
     * was most of its CPU: tens of microseconds per event where events are sparse
     * (docs/benchmarks.md). Gathered, they come back to back, one wake-up for the lot, and Spark's
     * scheduler thread, which posts them, wakes no one either. The wait is 50 ms with Spark's
     * default queue capacity of 10,000 events, shorter for a smaller queue (see
     * {@link #gatherMillis}), and halves while a wait gathers an eighth of the queue or more, so
     * the queue never fills while the listener keeps up. It costs no CPU (the listener's own
     * figure is its thread's CPU time) but Spark's listenerProcessingTime timers of this queue
     * and listener, which measure wall time, count it.
     */
    private void gather() {
        Gauge<?> size = queueSize;
        if (size == null) {
            return;
        }
        try {
            if (queued(size) == 0 && worthWaiting()) {
                Thread.sleep(wait);
                wait = queued(size) >= capacity / 8 ? Math.max(1, wait / 2) : Math.min(longestWait, wait * 2);
            }
        } catch (InterruptedException e) {
            // Spark's bus takes an interrupted listener off the bus: leave that to it.
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            queueSize = null;
        }
    }

    /**
     * Whether events come at a rate that fills a wait with {@link #WORTH_WAITING} or more, judged
     * over the last stretch at least as long as a wait that ended with the queue empty (a task's
     * end and the next one's start come together: a shorter stretch would take two events for a
     * rate).
     */
    private boolean worthWaiting() {
        long now = System.nanoTime();
        long elapsed = now - stretchStartNanos;
        if (elapsed >= wait * 1_000_000L) {
            gatherNow = (handled - handledAtStretchStart) * wait * 1_000_000L >= WORTH_WAITING * elapsed;
            handledAtStretchStart = handled;
            stretchStartNanos = now;
        }
        return gatherNow;
    }

    private static int queued(Gauge<?> size) {
        return ((Number) size.getValue()).intValue();
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
        watchQueue(sc);
        if (!early) {
            // The application start event went by before the listener: take the time from Spark.
            signals.applicationStarted(sc.startTime());
            LOG.info("sparkprom: listening to the driver's events from now on; jobs that started before"
                    + " are not in the spark_job/stage series");
        }
        return true;
    }

    /**
     * The longest wait for a queue of this capacity: 50 ms at Spark's default of 10,000 events,
     * shorter for a smaller queue, so that one wait fills it only at {@link #FILLING_RATE} events
     * a second; 0 (no gathering) under 200 events.
     */
    static long gatherMillis(int capacity) {
        return Math.min(MAX_GATHER_MILLIS, capacity * 1000L / FILLING_RATE);
    }

    /** Whether the listener gathers events: it can read its queue's size, and the application runs. */
    boolean gathering() {
        return queueSize != null;
    }

    /** Finds Spark's gauge of the queue's size and sizes the wait to the queue's capacity. */
    private void watchQueue(SparkContext sc) {
        try {
            SparkConf conf = sc.conf();
            int slots = conf.getInt("spark.scheduler.listenerbus.eventqueue." + QUEUE + ".capacity",
                    conf.getInt("spark.scheduler.listenerbus.eventqueue.capacity", 10_000));
            Gauge<?> size = sc.listenerBus().metrics().metricRegistry().getGauges().get("queue." + QUEUE + ".size");
            if (gatherMillis(slots) > 0 && size != null) {
                capacity = slots;
                longestWait = gatherMillis(slots);
                wait = longestWait;
                queueSize = size;
            }
        } catch (RuntimeException | LinkageError e) {
            LOG.info("sparkprom: cannot read the size of the listener's bus queue (" + e + "); it takes events one"
                    + " by one (more CPU per event)");
        }
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
