package io.sparkprom;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * Months of a streaming driver in a few seconds: every report, 50 uniquely named gauges join the
 * registry and the 50 oldest leave (as queries start and stop), with maxSeries 1,000, for
 * thousands of reports. Prints the Java side's live ids, heap and the process's resident memory
 * at checkpoints; the test reads the last report's textfile for the newest metric and
 * sparkprom_series. Arguments: library, url, textfile, reports.
 */
public final class ChurnCheck {
    private static final String PREFIX = "app-churn.driver.spark.streaming.";

    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.setProperty("url", args[1]);
        p.setProperty("library", args[0]);
        p.setProperty("textfile", args[2]);
        p.setProperty("maxSeries", "1000");
        p.setProperty("node.enabled", "false");
        p.setProperty("flushTimeout", "1s");
        // The smallest queue that holds a send: nobody listens, so the queue stays full, and a full
        // queue of 100,000 samples of series that all ended keeps their label sets (about 1 KB
        // each) until dropped; how malloc lays out those 100 MB moved resident memory by tens of
        // MB from run to run and hid what this measures (memory that grows with the names seen).
        p.setProperty("capacity", "2000");
        int reports = Integer.parseInt(args[3]);
        MetricRegistry registry = new MetricRegistry();
        Deque<String> live = new ArrayDeque<String>();
        int next = 0;
        for (; next < 500; next++) {
            live.add(register(registry, next));
        }
        Map<String, String> identity = new LinkedHashMap<String, String>();
        identity.put("app_id", "app-churn");
        identity.put("executor_id", "driver");
        identity.put("namespace", "app-churn");
        RemoteWriteSink sink = new RemoteWriteSink(p, registry, () -> identity);
        for (int r = 1; r <= reports; r++) {
            for (int i = 0; i < 50; i++) {
                registry.remove(live.removeFirst());
                live.add(register(registry, next++));
            }
            sink.report();
            // Let the core keep up, as a real period would.
            Thread.sleep(1);
            if (r == reports / 3 || r == reports) {
                // A report the core took whole (one that found it busy makes the encoder start
                // its ids afresh), then the figures.
                Thread.sleep(300);
                sink.report();
                Thread.sleep(300);
                System.gc();
                Runtime rt = Runtime.getRuntime();
                System.out.println("churn: report " + r + " live_ids=" + sink.definedNames()
                        + " heap_bytes=" + (rt.totalMemory() - rt.freeMemory()) + " rss_kib=" + rssKib());
            }
        }
        Thread.sleep(500);
        sink.stop();
        System.out.println("churn: newest=" + live.getLast() + " registered=" + next);
    }

    private static String register(MetricRegistry registry, int n) {
        final int value = n;
        String name = PREFIX + "query" + n + ".latency";
        registry.register(name, (Gauge<Integer>) () -> value);
        return name;
    }

    private static long rssKib() throws Exception {
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }
}
