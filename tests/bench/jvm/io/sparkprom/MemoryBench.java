package io.sparkprom;

import com.codahale.metrics.MetricRegistry;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

/**
 * One side of the memory benchmark (tests/bench/memory.py runs both in turn with the same flags,
 * heap pinned): reads a Spark-shaped registry every 20 ms, either as the sink's report() does
 * ("sink") or with a bare read of the same values ("bare"), for the given seconds. Prints
 * "ready" once the registry exists (before any sink) and "running" once the sink is created, so
 * the driver can read this JVM's memory at each point; then runs and prints "done".
 */
public final class MemoryBench {
    public static void main(String[] args) throws Exception {
        String mode = args[0];
        String library = args[1];
        String url = args[2];
        int size = Integer.parseInt(args[3]);
        long seconds = Long.parseLong(args[4]);
        // An executor has Spark, Scala and logging (log4j 2 behind SLF4J) loaded before any sink
        // exists; so do both sides here, or the sink's first SparkEnv call and first log line
        // would be billed for loading them (about 1,400 classes).
        org.apache.spark.SparkEnv.get();
        org.slf4j.LoggerFactory.getLogger(MemoryBench.class).info("logging is up, as in Spark");
        new org.apache.spark.SparkConf(false).getAll();
        MetricRegistry registry = ReportBench.sparkShapedRegistry(size);
        for (int i = 0; i < 50; i++) {
            ReportBench.readLikeTheSink(registry);
        }
        System.out.println("ready");
        System.out.flush();
        pause();
        RemoteWriteSink sink = null;
        if (mode.equals("sink")) {
            Properties p = new Properties();
            p.setProperty("url", url);
            p.setProperty("library", library);
            p.setProperty("logLevel", "warn");
            final Map<String, String> identity = new HashMap<String, String>();
            identity.put("app_id", "app-bench");
            identity.put("executor_id", "1");
            identity.put("namespace", "app-bench");
            sink = new RemoteWriteSink(p, registry, () -> identity);
        }
        System.out.println("created");
        System.out.flush();
        pause();
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        while (System.nanoTime() < end) {
            if (sink != null) {
                sink.report();
            } else {
                ReportBench.readLikeTheSink(registry);
            }
            Thread.sleep(20);
        }
        System.out.println("done");
        System.out.flush();
        pause();
        if (sink != null) {
            sink.stop();
        }
        System.exit(0);
    }

    /** Waits for a line on stdin: the driver reads /proc meanwhile. */
    private static void pause() throws Exception {
        while (System.in.read() != '\n') {
            // one line
        }
    }
}
