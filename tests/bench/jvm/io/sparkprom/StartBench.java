package io.sparkprom;

import com.codahale.metrics.MetricRegistry;
import java.lang.management.ManagementFactory;

/**
 * One sample of what the sink adds to a JVM's start (tests/bench/start_cpu.py alternates fresh
 * JVMs of both modes): the process' CPU time, every thread's (the caller's, the class loader's,
 * the JIT compiling the sink's code, the core's threads), from just before the sink is created
 * until its first report has been pushed and the node thread has made its first collection,
 * against the same idle wait without a sink ("none"). Class loading, the library's load and the
 * first compilations happen once per JVM, hence one sample per JVM.
 *
 * <p>Arguments: none|sink, the library, the receiver's URL, the registry's size. Prints
 * {@code START_CPU_MS <ms>}.
 */
public final class StartBench {
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    /** Long enough for the first push to a local receiver and the node thread's first collection. */
    private static final long SETTLE_MS = 2_000;

    /** The process' CPU since `before` at one step: where the start-up time goes. */
    private static void mark(String step, long before) {
        System.out.printf("STEP %s %.1f%n", step, (OS.getProcessCpuTime() - before) / 1e6);
    }

    public static void main(String[] args) throws Exception {
        boolean withSink = args[0].equals("sink");
        // What a Spark JVM has loaded and done before it creates a sink: Spark, Scala, logging,
        // and its metrics system reading the metrics configuration (which the sink reads again);
        // otherwise the sink would be billed for loading and initialising them.
        org.apache.spark.SparkEnv.get();
        org.slf4j.LoggerFactory.getLogger(StartBench.class).info("logging is up, as in Spark");
        new org.apache.spark.metrics.MetricsConfig(new org.apache.spark.SparkConf(true)).initialize();
        MetricRegistry registry = ReportBench.sparkShapedRegistry(Integer.parseInt(args[3]));
        ReportBench.readLikeTheSink(registry);
        Thread.sleep(1_000); // the JVM's own start-up compilations settle in both modes
        long before = OS.getProcessCpuTime();
        RemoteWriteSink sink = null;
        if (withSink) {
            sink = ReportBench.newSink(registry, args[1], args[2]);
            mark("created", before);
            sink.start();
            mark("started", before);
            sink.report();
            mark("reported", before);
        }
        Thread.sleep(SETTLE_MS);
        long after = OS.getProcessCpuTime();
        System.out.printf("START_CPU_MS %.1f%n", (after - before) / 1e6);
        System.out.flush();
        if (sink != null) {
            sink.stop();
        }
        System.exit(0);
    }
}
