package io.sparkprom;

import com.codahale.metrics.MetricRegistry;
import java.util.Properties;
import org.apache.spark.SecurityManager;
import org.apache.spark.metrics.sink.Sink;

/**
 * The stand-in the Databricks init script installs, as {@code /databricks/jars/sparkprom.jar},
 * when it cannot install the real sink (the volume unreadable, the jar moved): Spark fails the
 * SparkContext when a sink class named in its configuration (a compute policy's Spark conf) is
 * missing, so without this class a monitoring problem would stop every job of the cluster. It
 * only says, once per JVM on stderr, that this JVM sends no metrics and where the reason is.
 * Not part of sparkprom.jar: release/fallback_jar.sh compiles it and embeds it in the script.
 */
public final class RemoteWriteSink implements Sink {
    private static boolean said;

    public RemoteWriteSink(Properties properties, MetricRegistry registry) {
        say();
    }

    public RemoteWriteSink(Properties properties, MetricRegistry registry, SecurityManager securityManager) {
        say();
    }

    private static synchronized void say() {
        if (!said) {
            said = true;
            System.err.println("ERROR sparkprom: not installed on this node: the init script could not install"
                    + " sparkprom.jar (its reason is in /tmp/sparkprom-init.log and the cluster's init script logs);"
                    + " this JVM sends no metrics. Fix the volume or the SOURCE path, then restart the cluster.");
        }
    }

    @Override
    public void start() {}

    @Override
    public void stop() {}

    @Override
    public void report() {}
}
