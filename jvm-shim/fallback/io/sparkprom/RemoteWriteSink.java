package io.sparkprom;

import com.codahale.metrics.MetricRegistry;
import java.util.Properties;
import org.apache.spark.SecurityManager;
import org.apache.spark.metrics.sink.Sink;

/**
 * The stand-in the install scripts (the Databricks init script, the EMR bootstrap action) put where
 * sparkprom.jar belongs when they cannot install the real sink (the volume or bucket unreadable,
 * the jar moved, a checksum that does not match): Spark fails the SparkContext when a sink class
 * named in its configuration (a compute policy's Spark conf, an EMR classification) is missing, so
 * without this class a monitoring problem would stop every job of the cluster. It only says,
 * once per JVM on stderr, that this JVM sends no metrics and where the reason is. Not part of
 * sparkprom.jar: release/fallback_jar.sh compiles it and embeds it in the scripts.
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
            System.err.println("ERROR sparkprom: not installed on this node: the install script (Databricks init"
                    + " script, EMR bootstrap action) could not install sparkprom.jar and put this stand-in instead; its"
                    + " log says why. This JVM sends no metrics. Fix what that log names, then restart the cluster.");
        }
    }

    @Override
    public void start() {}

    @Override
    public void stop() {}

    @Override
    public void report() {}
}
