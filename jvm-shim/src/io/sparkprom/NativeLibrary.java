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
     *     null to search {@code java.library.path} and then the jar
     * @param extractDir the sink's {@code libraryExtractDir} property, or null for java.io.tmpdir
     * @return whether the native methods can be called
     */
    static synchronized boolean load(String explicitPath, String extractDir) {
        if (loaded != null) {
            return loaded;
        }
        loaded = Boolean.FALSE;
        String where;
        String why;
        boolean restricted = NativeAccess.restricted();
        try {
            NativeLoader.Loaded found = NativeLoader.load(explicitPath, extractDir);
            for (String skipped : found.skipped) {
                LOG.warn("sparkprom: skipped the native library {}; loaded {} instead. Put the library of this "
                        + "node's architecture there (the release names them libsparkprom-linux-x86_64.so and "
                        + "libsparkprom-linux-aarch64.so), or remove it from that directory and let the jar's "
                        + "copy load.", skipped, found.where);
            }
            where = found.where;
            why = found.why;
            if (found.jarFailure != null) {
                LOG.warn("sparkprom: cannot load the jar's own native library ({}); loaded {} instead, which may be"
                        + " of another build. Set 'libraryExtractDir' to a directory that allows executables (the"
                        + " temporary directory may be mounted noexec).", found.jarFailure, where);
            }
        } catch (Throwable t) {
            if (NativeAccess.refused(t)) {
                LOG.error("sparkprom: this JVM refuses native access (--illegal-native-access=deny), so the sink's"
                        + " native library cannot load and metrics of this JVM will not be sent: {}. ({})",
                        NativeAccess.ADVICE, t.toString());
                return false;
            }
            LOG.error("sparkprom: cannot load the native library: {}. Metrics of this JVM will not be sent; "
                    + "use the release jar (it carries the library for linux-x86_64 and linux-aarch64), set the sink's 'library' "
                    + "property to the absolute path of this architecture's libsparkprom.so, or add its directory to "
                    + "spark.driver.extraLibraryPath / spark.executor.extraLibraryPath. Where the temporary "
                    + "directory does not allow executables (noexec), set 'libraryExtractDir'.", t.toString());
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
        LOG.info("sparkprom {}: native library loaded from {}{}", nativeVersion, where, why);
        if (restricted) {
            LOG.warn("sparkprom: native access is not enabled for the sink (the JDK's 'restricted method' WARNING"
                    + " above, for it or another library), and a later JDK (or --illegal-native-access=deny) will refuse to load"
                    + " its library; {}.", NativeAccess.ADVICE);
        }
        loaded = Boolean.TRUE;
        return true;
    }
}
