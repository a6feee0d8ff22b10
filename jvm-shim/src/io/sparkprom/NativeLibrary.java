package io.sparkprom;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads libsparkprom.so once per JVM, however many sinks the JVM has. A library that cannot be
 * loaded, or that belongs to another build, is one ERROR line and sinks that do nothing: the
 * metrics are lost, the Spark job is not.
 */
final class NativeLibrary {
    private static final Logger LOG = LoggerFactory.getLogger(NativeLibrary.class);

    /** Null until the first attempt; then whether it worked. */
    private static Boolean loaded;

    private NativeLibrary() {}

    /**
     * @param explicitPath the sink's {@code library} property (an absolute path to the .so), or
     *     null to search {@code java.library.path}
     * @return whether the native methods can be called
     */
    static synchronized boolean load(String explicitPath) {
        if (loaded != null) {
            return loaded;
        }
        loaded = Boolean.FALSE;
        String where = explicitPath != null
                ? explicitPath
                : "libsparkprom.so on java.library.path (" + System.getProperty("java.library.path") + ")";
        try {
            if (explicitPath != null) {
                System.load(explicitPath);
            } else {
                System.loadLibrary("sparkprom");
            }
        } catch (Throwable t) {
            LOG.error("sparkprom: cannot load the native library from {}: {}. Metrics of this JVM will not be sent; "
                    + "set the sink's 'library' property to the absolute path of libsparkprom.so, or add its "
                    + "directory to spark.driver.extraLibraryPath / spark.executor.extraLibraryPath.", where, t.toString());
            return false;
        }
        String nativeVersion;
        try {
            nativeVersion = NativeCore.version();
        } catch (Throwable t) {
            LOG.error("sparkprom: the native library at {} does not answer version(): {}", where, t.toString());
            return false;
        }
        if (!BuildInfo.VERSION.equals(nativeVersion)) {
            LOG.error("sparkprom: jar version {} and native library version {} (from {}) do not match; "
                    + "metrics of this JVM will not be sent. Deploy the jar and the .so of one build.",
                    BuildInfo.VERSION, nativeVersion, where);
            return false;
        }
        LOG.info("sparkprom {}: native library loaded from {}", nativeVersion, where);
        loaded = Boolean.TRUE;
        return true;
    }
}
