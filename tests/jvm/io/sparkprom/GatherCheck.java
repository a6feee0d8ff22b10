package io.sparkprom;

import static io.sparkprom.Checks.check;

import com.codahale.metrics.Gauge;
import java.lang.reflect.Constructor;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListenerApplicationEnd;
import org.apache.spark.scheduler.SparkListenerEvent;

/**
 * The listener's gathering on a real SparkContext (local mode) and its real listener bus: an
 * event that finds the listener's queue empty waits while the listener gathers, a queue that
 * holds events is not waited on, events that come one at a time are not either, and after the
 * application's end nothing is (Spark's stop drains the queue at once). Runs on either Scala line (it reads Spark's own gauge of the queue).
 */
public final class GatherCheck {
    /** An event the listener knows nothing of: it counts it and does nothing else. */
    static final class Ping implements SparkListenerEvent {
        @Override
        public boolean logEvent() {
            return false;
        }
    }

    public static void main(String[] args) throws Exception {
        check("the longest wait follows the queue's capacity", () ->
                BusListener.gatherMillis(10_000) == 50 && BusListener.gatherMillis(100_000) == 50
                        && BusListener.gatherMillis(2_000) == 10 && BusListener.gatherMillis(199) == 0);
        SparkContext sc = new SparkContext(new SparkConf().setMaster("local[1]").setAppName("gather-check")
                .set("spark.ui.enabled", "false"));
        BusListener listener = new BusListener(new SparkSignals(10));
        try {
            check("the listener is on its queue and gathers", () -> listener.attach() && listener.gathering());
            Gauge<?> queue =
                    sc.listenerBus().metrics().metricRegistry().getGauges().get("queue." + BusListener.QUEUE + ".size");
            check("events that find the queue empty wait while the listener gathers", () -> {
                sc.listenerBus().waitUntilEmpty(10_000);
                // An event every 5 ms for half a second: taken one by one they would hardly
                // queue; each 50 ms wait of the listener lets several queue up.
                int most = 0;
                for (int i = 0; i < 100; i++) {
                    sc.listenerBus().post(new Ping());
                    most = Math.max(most, ((Number) queue.getValue()).intValue());
                    Thread.sleep(5);
                }
                System.out.println("  most events queued at once: " + most);
                return most >= 3;
            });
            check("a queue that holds events is not waited on", () -> {
                // Events every 5 ms first, so that the listener gathers; then 40 at once.
                for (int i = 0; i < 30; i++) {
                    sc.listenerBus().post(new Ping());
                    Thread.sleep(5);
                }
                long started = System.nanoTime();
                for (int i = 0; i < 40; i++) {
                    sc.listenerBus().post(new Ping());
                }
                sc.listenerBus().waitUntilEmpty(10_000);
                long millis = (System.nanoTime() - started) / 1_000_000;
                // A wait or two, not one per event (40 x 50 ms).
                System.out.println("  40 events taken in " + millis + " ms");
                return millis < 1_000;
            });
            check("events that come one at a time are not waited for", () -> {
                // Ten a second would fill a 50 ms wait with less than one: each is taken as it
                // comes (the bus is empty again within its 10 ms polling), not 50 ms later.
                long[] millis = new long[7];
                for (int i = 0; i < millis.length; i++) {
                    Thread.sleep(100);
                    long posted = System.nanoTime();
                    sc.listenerBus().post(new Ping());
                    sc.listenerBus().waitUntilEmpty(10_000);
                    millis[i] = (System.nanoTime() - posted) / 1_000_000;
                }
                java.util.Arrays.sort(millis);
                System.out.println("  each event taken within (sorted, ms): " + java.util.Arrays.toString(millis));
                return millis[millis.length / 2] < 40;
            });
            check("after the application's end the listener gathers no more", () -> {
                sc.listenerBus().post(applicationEnd());
                sc.listenerBus().waitUntilEmpty(10_000);
                return !listener.gathering();
            });
        } finally {
            sc.stop();
        }
        Checks.finish("listener gathering");
    }

    /** SparkListenerApplicationEnd(time), or (time, exitCode) on Spark 4. */
    private static SparkListenerEvent applicationEnd() throws ReflectiveOperationException {
        Constructor<?> c = SparkListenerApplicationEnd.class.getConstructors()[0];
        Object[] values = c.getParameterCount() == 1 ? new Object[] {System.currentTimeMillis()}
                : new Object[] {System.currentTimeMillis(), scala.Option.empty()};
        return (SparkListenerEvent) c.newInstance(values);
    }
}
