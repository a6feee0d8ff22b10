package io.sparkprom;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.Meter;
import com.codahale.metrics.Metric;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.Snapshot;
import com.codahale.metrics.Timer;
import com.sun.net.httpserver.HttpServer;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * The JVM side's cost, printed side by side in one run: {@code report()} of the sink with a
 * healthy, a stalled and a dead receiver, next to the floor (a loop that reads every value the
 * sink reads) and Spark's PrometheusServlet rendering the same registry. Registries are shaped
 * like Spark's: mostly gauges and counters, some histograms, timers and meters.
 *
 * <p>Per call it measures wall time, the calling thread's CPU time and the bytes it allocated
 * (ThreadMXBean), and the whole process' CPU time (OperatingSystemMXBean), which includes the
 * native core's threads.
 */
public final class ReportBench {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    private static volatile double sink; // keeps the floor's reads from being optimised away

    public static void main(String[] args) throws Exception {
        try {
            run(args);
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        } finally {
            // The HTTP server's dispatcher is not a daemon thread.
            System.exit(0);
        }
    }

    /** The healthy receiver's JVM: answers every request with 204 and prints its port. */
    private static void receive() throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            exchange.getRequestBody().readAllBytes();
            exchange.sendResponseHeaders(204, -1);
            exchange.close();
        });
        server.start();
        System.out.println(server.getAddress().getPort());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }

    private static void run(String[] args) throws Exception {
        if (args[0].equals("--receiver")) {
            receive();
            return;
        }
        String library = args[0];
        int calls = Integer.parseInt(args.length > 1 ? args[1] : "300");
        int[] sizes = args.length > 2
                ? Arrays.stream(args[2].split(",")).mapToInt(Integer::parseInt).toArray()
                : new int[] {200, 1000, 5000};

        // The healthy receiver runs in its own JVM: its CPU must not count as the sink's.
        Process healthy = new ProcessBuilder(System.getProperty("java.home") + "/bin/java", "-cp",
                System.getProperty("java.class.path"), ReportBench.class.getName(), "--receiver")
                .redirectErrorStream(true).start();
        int healthyPort = Integer.parseInt(new java.io.BufferedReader(
                new java.io.InputStreamReader(healthy.getInputStream())).readLine().trim());
        // Accepts connections (the kernel does) and never answers.
        ServerSocket stalled = new ServerSocket(0, 1000, java.net.InetAddress.getByName("127.0.0.1"));
        int deadPort;
        try (ServerSocket probe = new ServerSocket(0)) {
            deadPort = probe.getLocalPort();
        }
        Map<String, String> receivers = new java.util.LinkedHashMap<String, String>();
        receivers.put("healthy", "http://127.0.0.1:" + healthyPort + "/api/v1/write");
        receivers.put("stalled", "http://127.0.0.1:" + stalled.getLocalPort() + "/api/v1/write");
        receivers.put("dead", "http://127.0.0.1:" + deadPort + "/api/v1/write");

        System.out.printf("%-7s %-20s %8s %8s %8s %9s %7s %9s %7s %10s %8s%n", "metrics", "case", "p50 us",
                "p99 us", "max us", "thread us", "x floor", "proc us", "x floor", "alloc B", "+B");
        for (int size : sizes) {
            MetricRegistry registry = sparkShapedRegistry(size);
            // Round 0 warms the JIT up for every case alike; round 1 is printed.
            for (int round = 0; round < 2; round++) {
                boolean print = round == 1;
                Result floor = measure(calls, () -> readLikeTheSink(registry));
                if (print) {
                    floor.print(size, "floor (read values)", floor);
                }
                Object servlet = prometheusServlet(registry);
                Method render = servlet == null ? null : snapshotMethod(servlet);
                if (render != null) {
                    Result r = measure(calls, () -> invoke(render, servlet));
                    if (print) {
                        r.print(size, "PrometheusServlet", floor);
                    }
                }
                for (Map.Entry<String, String> receiver : receivers.entrySet()) {
                    RemoteWriteSink sink = newSink(registry, library, receiver.getValue());
                    Result r = measure(calls, sink::report);
                    if (print) {
                        r.print(size, "report(), " + receiver.getKey(), floor);
                    }
                    sink.stop();
                }
            }
        }
        healthy.destroy();
        stalled.close();
    }

    static RemoteWriteSink newSink(MetricRegistry registry, String library, String url) {
        Properties p = new Properties();
        p.setProperty("url", url);
        p.setProperty("library", library);
        p.setProperty("timeout", "2s");
        p.setProperty("flushTimeout", "100ms");
        p.setProperty("logLevel", "error");
        final Map<String, String> identity = new HashMap<String, String>();
        identity.put("app_id", "app-bench");
        identity.put("executor_id", "1");
        identity.put("namespace", "app-bench");
        return new RemoteWriteSink(p, registry, () -> identity);
    }

    interface Call {
        void run() throws Exception;
    }

    static final class Result {
        long[] wallNanos;
        double threadCpuMicros;
        double processCpuMicros;
        double allocatedBytes;

        void print(int size, String name, Result floor) {
            long[] sorted = wallNanos.clone();
            Arrays.sort(sorted);
            System.out.printf("%-7d %-20s %8.1f %8.1f %8.1f %9.1f %7.2f %9.1f %7.2f %10.0f %+8.0f%n", size, name,
                    sorted[sorted.length / 2] / 1e3, sorted[(int) (sorted.length * 0.99)] / 1e3,
                    sorted[sorted.length - 1] / 1e3, threadCpuMicros, threadCpuMicros / floor.threadCpuMicros,
                    processCpuMicros, processCpuMicros / floor.processCpuMicros, allocatedBytes,
                    allocatedBytes - floor.allocatedBytes);
        }
    }

    /** Warms up, then times `calls` calls spaced 2 ms apart (a report is periodic, not a loop). */
    static Result measure(int calls, Call call) throws Exception {
        for (int i = 0; i < Math.max(50, calls / 3); i++) {
            call.run();
        }
        Result r = new Result();
        r.wallNanos = new long[calls];
        long thread = Thread.currentThread().getId();
        long cpu = 0, alloc = 0, processCpu = 0;
        for (int i = 0; i < calls; i++) {
            long a0 = THREADS.getThreadAllocatedBytes(thread);
            long c0 = THREADS.getCurrentThreadCpuTime();
            long p0 = OS.getProcessCpuTime();
            long t0 = System.nanoTime();
            call.run();
            long t1 = System.nanoTime();
            long c1 = THREADS.getCurrentThreadCpuTime();
            long a1 = THREADS.getThreadAllocatedBytes(thread);
            TimeUnit.MILLISECONDS.sleep(2);
            // The native threads finish their share of this report during the pause.
            long p1 = OS.getProcessCpuTime();
            r.wallNanos[i] = t1 - t0;
            cpu += c1 - c0;
            alloc += a1 - a0;
            processCpu += p1 - p0;
        }
        r.threadCpuMicros = cpu / 1e3 / calls;
        r.processCpuMicros = processCpu / 1e3 / calls;
        r.allocatedBytes = (double) alloc / calls;
        return r;
    }

    /** Every value the sink reads, read the same way, and nothing else. */
    static void readLikeTheSink(MetricRegistry registry) {
        double acc = 0;
        for (Map.Entry<String, Metric> e : registry.getMetrics().entrySet()) {
            Metric m = e.getValue();
            acc += e.getKey().length();
            if (m instanceof Gauge) {
                Object v = ((Gauge<?>) m).getValue();
                if (v instanceof Number) {
                    acc += ((Number) v).doubleValue();
                }
            } else if (m instanceof Counter) {
                acc += ((Counter) m).getCount();
            } else if (m instanceof Histogram) {
                acc += quantiles(((Histogram) m).getCount(), ((Histogram) m).getSnapshot());
            } else if (m instanceof Timer) {
                acc += quantiles(((Timer) m).getCount(), ((Timer) m).getSnapshot());
            } else if (m instanceof Meter) {
                acc += ((Meter) m).getCount();
            }
        }
        sink = acc;
    }

    private static double quantiles(long count, Snapshot s) {
        return count + s.getMedian() + s.get75thPercentile() + s.get95thPercentile() + s.get98thPercentile()
                + s.get99thPercentile() + s.get999thPercentile();
    }

    private static Object prometheusServlet(MetricRegistry registry) {
        try {
            Class<?> c = Class.forName("org.apache.spark.metrics.sink.PrometheusServlet");
            return c.getConstructor(Properties.class, MetricRegistry.class).newInstance(new Properties(), registry);
        } catch (Throwable t) {
            System.out.println("(PrometheusServlet not measured: " + t + ")");
            return null;
        }
    }

    /** getMetricsSnapshot(HttpServletRequest): the request is not read. */
    private static Method snapshotMethod(Object servlet) {
        for (Method m : servlet.getClass().getMethods()) {
            if (m.getName().equals("getMetricsSnapshot")) {
                return m;
            }
        }
        return null;
    }

    private static void invoke(Method m, Object target) throws Exception {
        sink = ((String) m.invoke(target, new Object[m.getParameterCount()])).length();
    }

    /** Names and types in Spark's proportions: `app-bench.1.<source>.<metric>`. */
    static MetricRegistry sparkShapedRegistry(int size) {
        MetricRegistry r = new MetricRegistry();
        java.util.Random random = new java.util.Random(42);
        for (int i = 0; i < size; i++) {
            String name = "app-bench.1.source" + (i % 17) + ".metric" + i;
            int kind = i % 25;
            if (kind < 14) {
                final long value = random.nextInt(1 << 20);
                r.register(name, (Gauge<Long>) () -> value);
            } else if (kind < 20) {
                r.counter(name).inc(random.nextInt(1000));
            } else if (kind < 22) {
                Histogram h = r.histogram(name);
                for (int j = 0; j < 200; j++) {
                    h.update(random.nextInt(10000));
                }
            } else if (kind < 24) {
                Timer t = r.timer(name);
                for (int j = 0; j < 200; j++) {
                    t.update(random.nextInt(1_000_000), TimeUnit.NANOSECONDS);
                }
            } else {
                r.meter(name).mark(random.nextInt(1000));
            }
        }
        return r;
    }
}
