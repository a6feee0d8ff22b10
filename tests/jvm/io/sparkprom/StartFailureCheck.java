package io.sparkprom;

import static io.sparkprom.Checks.check;

import com.codahale.metrics.MetricRegistry;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Properties;

/**
 * A sink that cannot start for a reason other than a property: this JVM moves itself into a pids
 * cgroup whose limit is what it already has, so no thread can start (a container's pids.max
 * reached). Neither creating the sink nor start() may throw, with failOnConfigError or without it:
 * only an invalid property may fail a SparkContext or an executor. Arguments: the native library,
 * a receiver URL, the cgroup directory (made by the caller).
 */
public final class StartFailureCheck {
    public static void main(String[] args) throws Exception {
        String library = args[0];
        String url = args[1];
        File cgroup = new File(args[2]);
        // Everything that needs a thread of its own starts now: the library, logging.
        check("the library loads before the limit", () -> NativeLibrary.load(library, null));
        String pid = java.lang.management.ManagementFactory.getRuntimeMXBean().getName().split("@")[0];
        write(new File(cgroup, "cgroup.procs"), pid);
        String current = read(new File(cgroup, "pids.current"));
        write(new File(cgroup, "pids.max"), current);
        // Where the core starts at once (a driver: the constructor starts its native threads) and
        // where it waits for SparkEnv (an executor: start() schedules the sink's own thread).
        JvmIdentity.Source driverLike = new JvmIdentity.Source() {
            @Override
            public java.util.Map<String, String> get() {
                java.util.Map<String, String> identity = new java.util.HashMap<String, String>();
                identity.put("app_id", "app-1");
                identity.put("executor_id", "driver");
                return identity;
            }
        };
        try {
            for (final String failOnConfigError : new String[] {"false", "true"}) {
                for (final boolean atOnce : new boolean[] {true, false}) {
                    check("no thread can start: the sink is off and nothing throws (failOnConfigError="
                            + failOnConfigError + ", core started " + (atOnce ? "at once" : "later") + ")", () -> {
                        Properties p = new Properties();
                        p.setProperty("url", url);
                        p.setProperty("library", library);
                        p.setProperty("failOnConfigError", failOnConfigError);
                        p.setProperty("node.enabled", "false");
                        RemoteWriteSink sink = atOnce ? new RemoteWriteSink(p, new MetricRegistry(), driverLike)
                                : new RemoteWriteSink(p, new MetricRegistry());
                        sink.start();
                        sink.report();
                        sink.stop();
                        return sink.handleForChecks() == null;
                    });
                }
            }
        } finally {
            write(new File(cgroup, "pids.max"), "max");
        }
        check("the limit reached was real: pids.events counted refused forks", () ->
                !read(new File(cgroup, "pids.events")).trim().endsWith(" 0"));
        Checks.finish("start failure");
    }

    private static void write(File f, String text) throws Exception {
        Files.write(f.toPath(), text.getBytes(StandardCharsets.UTF_8));
    }

    private static String read(File f) throws Exception {
        return new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8).trim();
    }
}
