package io.sparkprom;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Properties;
import java.util.concurrent.locks.LockSupport;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkFirehoseListener;
import org.apache.spark.Success$;
import org.apache.spark.TaskState$;
import org.apache.spark.executor.ExecutorMetrics;
import org.apache.spark.executor.TaskMetrics;
import org.apache.spark.scheduler.SparkListenerEvent;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.SparkListenerTaskStart;
import org.apache.spark.scheduler.StageInfo;
import org.apache.spark.scheduler.TaskInfo;
import org.apache.spark.scheduler.TaskLocality$;

/**
 * The listener's queue thread's CPU per event at a fixed event rate, on a real local SparkContext
 * and its real listener bus (tests/bench/listener_cost.py runs it): a thread posts a task's end
 * and the next one's start, as Spark's scheduler does, so many pairs a second, first 20,000 pairs
 * at 5,000 a second for the JIT, then for the measured seconds at the given rate. Modes, each on
 * the listener's own queue: {@code noop} a listener that does nothing (what Spark's dispatch and
 * the thread's wake-ups cost), {@code before} the sink's listener taking events one by one (as
 * before it gathered them), {@code after} the sink's listener as the sink attaches it. Mode
 * {@code clock}: what one read of the calling thread's CPU time costs, which a listener sharing
 * another queue's thread would need twice per event to measure its own CPU.
 *
 * <p>Arguments: mode, pairs a second, seconds. Prints {@code LISTENER_BENCH <us per event>}
 * ({@code <us per read>} for clock).
 */
public final class ListenerBench {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final int WARM_PAIRS = 20_000;
    private static final int WARM_RATE = 5_000;

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        if (mode.equals("clock")) {
            System.out.printf("LISTENER_BENCH %.2f%n", clockReadMicros());
            return;
        }
        int rate = Integer.parseInt(args[1]);
        int seconds = Integer.parseInt(args[2]);
        SparkContext sc = new SparkContext(new SparkConf().setMaster("local[1]").setAppName("listener-bench")
                .set("spark.ui.enabled", "false"));
        try {
            if (mode.equals("noop")) {
                sc.listenerBus().addToQueue(new SparkFirehoseListener() {
                    @Override
                    public void onEvent(SparkListenerEvent event) {}
                }, BusListener.QUEUE);
            } else if (mode.equals("before")) {
                sc.listenerBus().addToQueue(new BusListener(new SparkSignals(100)), BusListener.QUEUE);
            } else if (mode.equals("after")) {
                BusListener listener = new BusListener(new SparkSignals(100));
                if (!listener.attach() || !listener.gathering()) {
                    throw new IllegalStateException("the listener does not gather");
                }
            } else {
                throw new IllegalArgumentException("mode: noop, before or after");
            }
            long thread = queueThread();
            Properties properties = new Properties();
            properties.setProperty("callSite.short", "count at bench.py:1");
            Object none = scala.collection.immutable.Nil$.MODULE$;
            StageInfo stage = new StageInfo(1, 0, "count at bench.py:1", Integer.MAX_VALUE, cast(none), cast(none), "",
                    new TaskMetrics(), cast(none), scala.Option.empty(), 0, false, 0);
            sc.listenerBus().post(new SparkListenerStageSubmitted(stage, properties));
            post(sc, WARM_PAIRS, WARM_RATE, 0);
            sc.listenerBus().waitUntilEmpty(60_000);
            long before = THREADS.getThreadCpuTime(thread);
            int pairs = rate * seconds;
            post(sc, pairs, rate, WARM_PAIRS);
            sc.listenerBus().waitUntilEmpty(60_000);
            long used = THREADS.getThreadCpuTime(thread) - before;
            System.out.printf("LISTENER_BENCH %.2f%n", used / 1e3 / (2.0 * pairs));
        } finally {
            sc.stop();
        }
    }

    /** Posts `pairs` task ends and starts, `rate` pairs a second. */
    private static void post(SparkContext sc, int pairs, int rate, long firstTask) {
        long period = 1_000_000_000L / rate;
        long next = System.nanoTime();
        for (long task = firstTask; task < firstTask + pairs; task++) {
            long wait = next - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
            next += period;
            long now = System.currentTimeMillis();
            TaskInfo ended = new TaskInfo(task, (int) task, 0, (int) task, now - 3, "1", "host",
                    TaskLocality$.MODULE$.PROCESS_LOCAL(), false);
            ended.markFinished(TaskState$.MODULE$.FINISHED(), now);
            sc.listenerBus().post(new SparkListenerTaskEnd(1, 0, "ResultTask", Success$.MODULE$, ended,
                    new ExecutorMetrics(), new TaskMetrics()));
            TaskInfo started = new TaskInfo(task + 1, (int) task + 1, 0, (int) task + 1, now, "1", "host",
                    TaskLocality$.MODULE$.PROCESS_LOCAL(), false);
            sc.listenerBus().post(new SparkListenerTaskStart(1, 0, started));
        }
    }

    /** CPU microseconds of one ThreadMXBean read of the calling thread's CPU time. */
    private static double clockReadMicros() {
        long sum = 0;
        for (int i = 0; i < 100_000; i++) {
            sum += THREADS.getCurrentThreadCpuTime(); // warm-up
        }
        int reads = 200_000;
        long before = THREADS.getCurrentThreadCpuTime();
        for (int i = 0; i < reads; i++) {
            sum += THREADS.getCurrentThreadCpuTime();
        }
        long used = THREADS.getCurrentThreadCpuTime() - before;
        return sum == 0 ? -1 : used / 1e3 / reads;
    }

    /** The id of the listener's queue thread, which Spark names after the queue. */
    private static long queueThread() {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals("spark-listener-group-" + BusListener.QUEUE)) {
                return t.getId();
            }
        }
        throw new IllegalStateException("no queue thread");
    }

    @SuppressWarnings("unchecked")
    private static <T> T cast(Object o) {
        return (T) o;
    }
}
