package io.sparkprom;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.util.Properties;

/**
 * A sink in a JVM whose SparkEnv cannot be read: the test starts it on a classpath without
 * scala-library, so SparkEnv fails to link (NoClassDefFoundError), as 4.3.0's SparkEnv did under
 * reflection. The registry is named the way Spark names a driver's or an executor's metrics.
 * Arguments: library, url, the names' prefix ({@code <namespace>.<executorId>.}), then what an
 * executor's command line carries ({@code --app-id ... --executor-id ...}), which the sink reads
 * from the JVM's command.
 */
public final class IdentityFallbackCheck {
    public static void main(String[] args) throws Exception {
        String library = args[0];
        String url = args[1];
        String prefix = args[2];
        MetricRegistry registry = new MetricRegistry();
        registry.counter(prefix + "executor.succeededTasks").inc(5);
        registry.register(prefix + "BlockManager.memory.maxMem_MB", (Gauge<Long>) () -> 512L);
        Properties p = new Properties();
        p.setProperty("url", url);
        p.setProperty("library", library);
        p.setProperty("period", "1");
        p.setProperty("identityTimeout", "2s");
        p.setProperty("flushTimeout", "5s");
        p.setProperty("node.enabled", "false");
        RemoteWriteSink sink = new RemoteWriteSink(p, registry);
        sink.start();
        Thread.sleep(5_000);
        sink.report();
        sink.stop();
        System.out.println("fallback: done");
    }
}
