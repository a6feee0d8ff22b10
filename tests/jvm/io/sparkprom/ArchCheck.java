package io.sparkprom;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.util.Properties;

/**
 * A sink in a JVM of either architecture (this machine's, or the aarch64 JRE under qemu-user) with
 * no {@code library} property and, on java.library.path, a loose library (the other architecture's,
 * or one of another build): the loader must load the jar's copy for this JVM's {@code os.arch},
 * which comes before any loose one. Pushes an executor-shaped registry and node statistics for a few
 * reports. The executor's identity comes from this JVM's command line ({@code --executor-id},
 * {@code --app-id} after the arguments below), as there is no SparkEnv.
 * Arguments: url, the names' prefix ({@code <appId>.<executorId>.}), seconds to run.
 */
public final class ArchCheck {
    public static void main(String[] args) throws Exception {
        MetricRegistry registry = new MetricRegistry();
        registry.counter(args[1] + "executor.succeededTasks").inc(7);
        registry.register(args[1] + "JVMCPU.jvmCpuTime", (Gauge<Long>) () -> 2_000_000_000L);
        Properties p = new Properties();
        p.setProperty("url", args[0]);
        p.setProperty("period", "1");
        p.setProperty("identityTimeout", "1s");
        p.setProperty("flushTimeout", "20s");
        RemoteWriteSink sink = new RemoteWriteSink(p, registry);
        sink.start();
        Thread.sleep(Long.parseLong(args[2]) * 1000);
        sink.stop();
        System.out.println("arch: done on " + NativeLoader.platform());
    }
}
