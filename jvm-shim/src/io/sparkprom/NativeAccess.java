package io.sparkprom;

import java.lang.management.ManagementFactory;

/**
 * JDK 24 and later restrict JNI (JEP 472): loading a native library from a module without
 * {@code --enable-native-access} prints a WARNING, and with {@code --illegal-native-access=deny}
 * (a later JDK's default) is refused. Spark 4.1+'s spark-submit passes the flag; Databricks', EMR's
 * and embedded launchers may not. This class tells the two cases apart so the sink says which flag
 * to add instead of a bare exception. Reflection only: the shim is Java 8 bytecode, and uses no
 * Spark or logging class (the jar's command line uses it too).
 */
final class NativeAccess {
    static final String FLAG = "--enable-native-access=ALL-UNNAMED";
    static final String ADVICE = "add " + FLAG + " to spark.driver.extraJavaOptions and"
            + " spark.executor.extraJavaOptions (Spark 4.1 and later's spark-submit adds it itself; Databricks,"
            + " EMR and embedded Spark may not)";

    private NativeAccess() {}

    /** Whether {@code t}, or one of its causes, is the JDK refusing native access. */
    static boolean refused(Throwable t) {
        for (Throwable cause = t; cause != null; cause = cause.getCause()) {
            if (cause.getClass().getName().equals("java.lang.IllegalCallerException")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether this JVM warns about (and a later JDK refuses) the sink's System.load: a JDK 24 or
     * later started without {@code --enable-native-access} for unnamed modules (the classpath) or
     * {@code --illegal-native-access=allow}. Read from the JVM's arguments, not from
     * Module.isNativeAccessEnabled(): the JDK warns once per module and then enables it, so after
     * Hadoop's native loader has warned (it loads first in every Spark JVM) the module reads as
     * enabled although the flag is missing.
     */
    static boolean restricted() {
        if (featureVersion() < 24) {
            return false;
        }
        try {
            for (String argument : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
                if ((argument.startsWith("--enable-native-access") && argument.contains("ALL-UNNAMED"))
                        || argument.equals("--illegal-native-access=allow")) {
                    return false;
                }
            }
            return true;
        } catch (Throwable t) {
            return false;
        }
    }

    /** The JDK's feature release: 8 for "1.8", 25 for "25". */
    static int featureVersion() {
        String spec = System.getProperty("java.specification.version", "8");
        try {
            return spec.startsWith("1.") ? Integer.parseInt(spec.substring(2)) : Integer.parseInt(spec);
        } catch (NumberFormatException e) {
            return 8;
        }
    }
}
