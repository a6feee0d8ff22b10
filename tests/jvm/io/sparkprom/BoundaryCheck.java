package io.sparkprom;

import static io.sparkprom.Checks.check;

import com.codahale.metrics.MetricRegistry;
import java.nio.ByteBuffer;
import java.util.Properties;

/**
 * The JNI boundary from the JVM's side, without Spark: every misuse or bad input comes back as a
 * Java exception or a status, never as a crash, and the sink's public methods never throw.
 * Prints one line per check and exits non-zero if any failed.
 */
public final class BoundaryCheck {
    public static void main(String[] args) throws Exception {
        String library = args[0];
        String url = args[1];
        check("with failOnConfigError, an invalid property fails fast naming it", () -> {
            Properties p = props(library, url);
            p.setProperty("failOnConfigError", "true");
            p.setProperty("maxBackoff", "forever");
            try {
                new RemoteWriteSink(p, new MetricRegistry());
                return false;
            } catch (IllegalArgumentException e) {
                return e.getMessage().contains("'maxBackoff'") && e.getMessage().contains("duration");
            }
        });
        check("with failOnConfigError, a missing url fails fast naming it", () -> {
            Properties p = props(library, url);
            p.setProperty("failOnConfigError", "true");
            p.remove("url");
            try {
                new RemoteWriteSink(p, new MetricRegistry());
                return false;
            } catch (IllegalArgumentException e) {
                return e.getMessage().contains("'url'");
            }
        });
        check("with failOnConfigError, a period below one second is refused", () -> {
            Properties p = props(library, url);
            p.setProperty("failOnConfigError", "true");
            p.setProperty("period", "500");
            p.setProperty("unit", "MILLISECONDS");
            try {
                new RemoteWriteSink(p, new MetricRegistry());
                return false;
            } catch (IllegalArgumentException e) {
                return e.getMessage().contains("'period'");
            }
        });
        check("by default an invalid property turns the sink off instead of failing its creation", () -> {
            Properties p = props(library, url);
            p.setProperty("maxBackoff", "forever");
            RemoteWriteSink sink = new RemoteWriteSink(p, new MetricRegistry());
            sink.start();
            sink.report();
            sink.stop();
            return sink.handleForChecks() == null;
        });
        // The JVM's first sink: its warning about a misspelt property must reach the log
        // (test_jni_boundary.py reads stderr), although logging starts with this very sink.
        Properties misspelt = props(library, url);
        misspelt.setProperty("maxSampelsPerSend", "500");
        long handle = NativeCore.create(PropertyValues.toBlob(misspelt));
        check("a length beyond the buffer is an exception", () -> {
            try {
                NativeCore.report(handle, ByteBuffer.allocateDirect(16), 1000);
                return false;
            } catch (RuntimeException e) {
                return e.getMessage().contains("exceeds");
            }
        });
        check("a heap buffer is an exception, not a crash", () -> {
            try {
                NativeCore.report(handle, ByteBuffer.allocate(16), 8);
                return false;
            } catch (RuntimeException e) {
                return true;
            }
        });
        check("garbage bytes are accepted and dropped by the core", () -> {
            ByteBuffer junk = ByteBuffer.allocateDirect(64);
            junk.put(new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
            return NativeCore.report(handle, junk, 8) == NativeCore.ACCEPTED;
        });
        check("a released handle reports closed", () -> NativeCore.report(0, ByteBuffer.allocateDirect(8), 0)
                == NativeCore.CLOSED);
        NativeCore.close(handle, 100);
        check("stop() during an executor's deferred start waits for the core, reports and closes it", () -> {
            Properties p = props(library, url);
            p.setProperty("identityTimeout", "1s");
            MetricRegistry registry = new MetricRegistry();
            registry.counter("app-1.3.executor.succeededTasks").inc();
            // The public constructor in a JVM without a SparkEnv: the core waits for a report.
            RemoteWriteSink sink = new RemoteWriteSink(p, registry);
            Thread.sleep(1_100); // past identityTimeout: a report goes on with the fallback identity
            java.util.concurrent.CountDownLatch inside = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            SinkCore.beforeDeferredCreate = () -> {
                inside.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
            Thread reporter = new Thread(sink::report);
            reporter.start();
            inside.await();
            Thread stopper = new Thread(sink::stop);
            stopper.start();
            stopper.join(300);
            boolean stopWaited = stopper.isAlive();
            release.countDown();
            reporter.join(10_000);
            stopper.join(10_000);
            SinkCore.beforeDeferredCreate = null;
            NativeHandle h = sink.handleForChecks();
            return stopWaited && h != null && !h.isOpen();
        });
        check("stop() and the shutdown hook at once: neither returns before the final flush is done", () -> {
            // A receiver that accepts connections and never answers: the flush takes its whole time.
            try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50,
                    java.net.InetAddress.getByName("127.0.0.1"))) {
                Properties p = props(library, "http://127.0.0.1:" + silent.getLocalPort() + "/api/v1/write");
                p.setProperty("flushTimeout", "1500ms");
                MetricRegistry registry = new MetricRegistry();
                registry.counter("app.1.src.count").inc();
                RemoteWriteSink sink = new RemoteWriteSink(p, registry, BoundaryCheck::executorIdentity);
                sink.start();
                long[] returnedAfter = new long[2];
                long started = System.nanoTime();
                Thread[] stoppers = new Thread[2];
                for (int i = 0; i < 2; i++) {
                    final int which = i;
                    stoppers[i] = new Thread(() -> {
                        sink.stop();
                        returnedAfter[which] = (System.nanoTime() - started) / 1_000_000;
                    });
                    stoppers[i].start();
                }
                for (Thread t : stoppers) {
                    t.join(10_000);
                }
                System.out.println("  stop() calls returned after " + returnedAfter[0] + " and " + returnedAfter[1] + " ms");
                return returnedAfter[0] >= 1_000 && returnedAfter[1] >= 1_000;
            }
        });
        check("a metric whose read throws is skipped and counted; every report goes on", () -> {
            MetricRegistry registry = new MetricRegistry();
            registry.register("app.1.src.brokenGauge", (com.codahale.metrics.Gauge<Long>) () -> {
                throw new IllegalStateException("a gauge that throws");
            });
            registry.register("app.1.src.brokenCounter", new com.codahale.metrics.Counter() {
                @Override
                public long getCount() {
                    throw new IllegalStateException("a counter that throws");
                }
            });
            registry.register("app.1.src.brokenHistogram", new com.codahale.metrics.Histogram(
                    new com.codahale.metrics.UniformReservoir()) {
                @Override
                public com.codahale.metrics.Snapshot getSnapshot() {
                    throw new IllegalStateException("a histogram that throws");
                }
            });
            registry.counter("app.1.src.count").inc(5);
            java.nio.file.Path textfile = java.nio.file.Files.createTempFile("sparkprom-boundary", ".prom");
            Properties p = props(library, url);
            p.setProperty("textfile", textfile.toString());
            RemoteWriteSink sink = new RemoteWriteSink(p, registry, BoundaryCheck::executorIdentity);
            sink.start();
            sink.report();
            sink.stop();
            sink.stop();
            sink.report();
            String text = new String(java.nio.file.Files.readAllBytes(textfile), java.nio.charset.StandardCharsets.UTF_8);
            java.nio.file.Files.deleteIfExists(textfile);
            // Two reports (report() and stop()'s last one), two failed reads each.
            return text.contains("spark_src_count_total{") && text.matches("(?s).*\\nspark_src_count_total\\{[^}]*\\} 5\\n.*")
                    && text.matches("(?s).*\\nsparkprom_metric_reads_failed_total\\{[^}]*\\} 4\\n.*")
                    && text.matches("(?s).*\\nsparkprom_gauges_skipped_total\\{[^}]*\\} 2\\n.*");
        });
        Checks.finish("boundary");
    }

    /** Executor 1 of app "app", as SparkEnv would tell it. */
    private static java.util.Map<String, String> executorIdentity() {
        java.util.Map<String, String> identity = new java.util.HashMap<String, String>();
        identity.put("app_id", "app");
        identity.put("executor_id", "1");
        identity.put("namespace", "app");
        return identity;
    }

    private static Properties props(String library, String url) {
        Properties p = new Properties();
        p.setProperty("url", url);
        p.setProperty("library", library);
        p.setProperty("flushTimeout", "200ms");
        p.setProperty("node.enabled", "false");
        return p;
    }
}
