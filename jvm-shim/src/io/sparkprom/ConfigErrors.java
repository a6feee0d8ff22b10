package io.sparkprom;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How the sink says it is off because of an invalid property: one ERROR in Spark's log, and the
 * same line on stderr, which platforms keep for the driver and each executor even where the
 * log4j configuration sends the sink's logger elsewhere.
 */
final class ConfigErrors {
    private static final Logger LOG = LoggerFactory.getLogger(ConfigErrors.class);

    /** Said already in this JVM: its several sinks (local-cluster's daemons) share one conf. */
    private static final java.util.Set<String> REPORTED =
            java.util.Collections.synchronizedSet(new java.util.HashSet<String>());

    private ConfigErrors() {}

    /**
     * Once per JVM and message.
     *
     * @param message what the native core or the Java side said: the property, the value, what it accepts
     */
    static void report(String message) {
        if (!REPORTED.add(message)) {
            return;
        }
        String line = message + ". The sink is off in this JVM; the job runs on without its metrics. Fix the"
                + " property (or set failOnConfigError=true to make an invalid property fail the job instead).";
        LOG.error(line);
        System.err.println("ERROR " + line);
    }
}
