package io.sparkprom;

import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.Properties;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * What this JVM says about the network, for the native core (native/src/remote_write/proxy.rs and
 * tls.rs): its proxy system properties, the Java way of setting a proxy
 * ({@code -Dhttps.proxyHost}, {@code -Dhttps.proxyPort}, {@code -Dhttp.proxyHost},
 * {@code -Dhttp.proxyPort}, {@code -Dhttp.nonProxyHosts} in {@code spark.*.extraJavaOptions}), and
 * the certificates its default trust accepts (its default TrustManagerFactory: the cacerts a
 * platform added its CA to, or {@code -Djavax.net.ssl.trustStore}), which the core trusts besides
 * its own roots, the OS store and {@code tls.caFile}. Reading a truststore costs a cold JVM a few
 * hundred milliseconds (the security providers, every certificate parsed), so it is read only
 * when it can add something ({@link #trustWorthReading}). Uses no Spark or logging class:
 * {@code check} runs it with the jar alone.
 */
final class JvmNetwork {
    /** The JVM's trusted certificates as PEM, read once per JVM; "" when there are none. */
    private static volatile String trustedPem;

    private JvmNetwork() {}

    /** Adds {@code sparkprom.jvm.*} to a sink's properties (the trust only for an https URL). */
    static void addTo(Properties properties) {
        String https = proxy("https", 443);
        if (https != null) {
            properties.setProperty("sparkprom.jvm.httpsProxy", https);
        }
        String http = proxy("http", 80);
        if (http != null) {
            properties.setProperty("sparkprom.jvm.httpProxy", http);
        }
        String exempt = System.getProperty("http.nonProxyHosts");
        if (exempt != null && !exempt.trim().isEmpty()) {
            properties.setProperty("sparkprom.jvm.nonProxyHosts", exempt.trim());
        }
        if (properties.getProperty("url", "").trim().toLowerCase(java.util.Locale.ROOT).startsWith("https:")
                && trustWorthReading(System.getProperty("javax.net.ssl.trustStore"), System.getProperty("java.home"))) {
            String pem = trustedPem();
            if (!pem.isEmpty()) {
                properties.setProperty("sparkprom.jvm.trust", pem);
            }
        }
    }

    /** {@code host:port} of {@code <scheme>.proxyHost} and {@code <scheme>.proxyPort}; null when unset. */
    private static String proxy(String scheme, int defaultPort) {
        String host = System.getProperty(scheme + ".proxyHost");
        if (host == null || host.trim().isEmpty()) {
            return null;
        }
        String port = System.getProperty(scheme + ".proxyPort");
        return host.trim() + ":" + (port == null || port.trim().isEmpty() ? String.valueOf(defaultPort) : port.trim());
    }

    /**
     * Whether the JVM's default trust can hold what the core does not trust already: a truststore
     * named by {@code javax.net.ssl.trustStore}, or a default store (jssecacerts, else cacerts) that
     * is neither the OS store's Java copy (a file under /etc, as Debian's and Red Hat's JDKs link it)
     * nor the JDK's own list as installed (changed later than the JDK's {@code release} file: a CA
     * was imported). Those two the core covers with the OS store and its bundled public roots.
     */
    static boolean trustWorthReading(String trustStoreProperty, String javaHome) {
        if (trustStoreProperty != null && !trustStoreProperty.trim().isEmpty()
                && !trustStoreProperty.trim().equalsIgnoreCase("NONE")) {
            return true;
        }
        if (javaHome == null) {
            return false;
        }
        try {
            java.nio.file.Path security = java.nio.file.Paths.get(javaHome, "lib", "security");
            java.nio.file.Path store = security.resolve("jssecacerts");
            if (!java.nio.file.Files.exists(store)) {
                store = security.resolve("cacerts");
            }
            java.nio.file.Path real = store.toRealPath();
            if (real.startsWith("/etc")) {
                return false;
            }
            java.nio.file.Path release = java.nio.file.Paths.get(javaHome, "release");
            return !java.nio.file.Files.exists(release) || java.nio.file.Files.getLastModifiedTime(real).toMillis()
                    > java.nio.file.Files.getLastModifiedTime(release).toMillis() + 60_000;
        } catch (Exception e) {
            return false;
        }
    }

    private static String trustedPem() {
        String pem = trustedPem;
        if (pem == null) {
            synchronized (JvmNetwork.class) {
                if (trustedPem == null) {
                    trustedPem = readTrust();
                }
                pem = trustedPem;
            }
        }
        return pem;
    }

    private static String readTrust() {
        try {
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init((KeyStore) null);
            StringBuilder pem = new StringBuilder();
            Base64.Encoder encoder = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII));
            for (TrustManager manager : factory.getTrustManagers()) {
                if (manager instanceof X509TrustManager) {
                    for (X509Certificate certificate : ((X509TrustManager) manager).getAcceptedIssuers()) {
                        pem.append("-----BEGIN CERTIFICATE-----\n")
                                .append(encoder.encodeToString(certificate.getEncoded()))
                                .append("\n-----END CERTIFICATE-----\n");
                    }
                }
            }
            return pem.toString();
        } catch (Throwable t) {
            System.err.println("WARN sparkprom: the JVM's trusted certificates cannot be read (" + t + "); the native core"
                    + " trusts its bundled roots, the OS store and tls.caFile only");
            return "";
        }
    }
}
